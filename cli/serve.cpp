// mtpc serve: the language server over stdio or TCP.
#include <cstdio>
#include <future>

#include "cli/commands.h"
#include "lsp/completion_model.h"
#include "lsp/completion_service.h"
#include "lsp/transport.h"

namespace mtpc::cli {

void add_serve_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("serve", "run the language server (stdio, or TCP with --listen)");
  struct Args {
    std::string model, listen, log, dtype = "fp32";
    int deadline_ms = 300, max_tokens = 64;
    size_t max_message_bytes = 64u << 20;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory (else the client's \"model\" setting)");
  cmd->add_option("--listen", a->listen, "HOST:PORT to serve over TCP (port 0: any free port)");
  cmd->add_option("--log", a->log, "append the log to this file instead of stderr");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--deadline-ms", a->deadline_ms, "default per-completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "default tokens per completion")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-message-bytes", a->max_message_bytes, "largest JSON-RPC message accepted")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->callback([a, &global] {
    lsp::Logger log;
    if (!a->log.empty()) {
      Status s = log.open_file(a->log);
      if (!s.ok()) throw CLI::RuntimeError("mtpc serve: " + s.message(), 2);
    }
    std::string host;
    uint16_t port = 0;
    if (!a->listen.empty()) {
      size_t colon = a->listen.rfind(':');
      int p = -1;
      if (colon != std::string::npos) {
        try {
          p = std::stoi(a->listen.substr(colon + 1));
        } catch (const std::exception&) {
        }
      }
      if (p < 0 || p > 65535) throw CLI::RuntimeError("mtpc serve: --listen wants HOST:PORT, got " + a->listen, 2);
      host = a->listen.substr(0, colon);
      port = static_cast<uint16_t>(p);
    }
    EngineOptions engine{global.device, a->dtype};
    lsp::CompletionService service(
        [engine](const std::string& dir) { return lsp::load_engine_model(dir, engine); }, log);
    lsp::ServerOptions options;
    options.model_dir = a->model;
    options.framing.max_message_bytes = a->max_message_bytes;
    options.defaults.deadline_ms = a->deadline_ms;
    options.defaults.max_tokens = a->max_tokens;
    if (!a->model.empty()) {
      // Load once, up front: a bad --model fails the command, not the first completion.
      std::promise<Status> loaded;
      service.ensure_model(a->model, [&loaded](Status s) { loaded.set_value(s); });
      Status s = loaded.get_future().get();
      if (!s.ok()) throw CLI::RuntimeError("mtpc serve: " + s.message(), 1);
    }
    int code = a->listen.empty() ? lsp::serve_stdio(service, log, options)
                                 : lsp::serve_tcp(service, log, options, host, port);
    throw CLI::RuntimeError("", code);
  });
}

}  // namespace mtpc::cli
