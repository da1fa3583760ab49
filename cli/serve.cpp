// mtpc serve: the language server over stdio or TCP, and/or the HTTP API.
#include "cli/commands.h"
#include "completion/model.h"
#include "hub/model_cache.h"
#include "lsp/completion_service.h"
#include "lsp/http_api.h"
#include "lsp/http_server.h"
#include "lsp/access.h"
#include "lsp/auth.h"
#include "lsp/tls.h"
#include "lsp/transport.h"

#include <chrono>
#include <thread>

namespace mtpc::cli {

void add_serve_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("serve", "run the language server (stdio, or TCP with --listen) and/or the HTTP API (--http)");
  struct Args {
    std::string model, listen, log, dtype = "fp32";
    lsp::ServerOptions server;
    std::string http;
    bool stdio = false;
    lsp::HttpServerOptions http_server;
    lsp::HttpApiOptions http_api;
    std::string tokens, tls_cert, tls_key;
    bool insecure_no_auth = false;
    bool http_plain = false;
    lsp::AccessLimits limits;
    SchedulerOptions scheduling;
    bool no_batching = false;
    double drain_grace_s = 10;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory (else the client's \"model\" setting)");
  cmd->add_option("--listen", a->listen, "HOST:PORT to serve over TCP (port 0: any free port)");
  cmd->add_option("--log", a->log, "append the log to this file instead of stderr");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--deadline-ms", a->server.defaults.deadline_ms, "default per-completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--syntax-retries", a->server.defaults.syntax_retries,
                  "default alternatives sampled when the greedy completion breaks the syntax (0: none)")
      ->check(CLI::Range(0, 16))->capture_default_str();
  cmd->add_option("--max-tokens", a->server.defaults.max_tokens, "default tokens per completion")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-message-bytes", a->server.framing.max_message_bytes, "largest JSON-RPC message accepted")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--http", a->http, "HOST:PORT to serve the HTTP API on (/v1/completions, /infill, /health, "
                                     "/metrics; port 0: any free port); alone or with --listen or stdio")
      ->check([](const std::string& v) { return lsp::parse_listen_address(v).ok() ? "" : "--http wants HOST:PORT"; });
  cmd->add_flag("--stdio", a->stdio, "with --http: serve LSP on stdin/stdout too (without --http stdio is the default)");
  cmd->add_option("--max-body-bytes", a->http_server.max_body_bytes, "largest HTTP request body (larger: 413)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--http-deadline-ms", a->http_api.deadline_ms, "per HTTP request deadline, arrival to last token")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--http-read-timeout-ms", a->http_server.read_timeout_ms,
                  "an HTTP request must arrive whole within this (idle keep-alive and slow clients)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--tokens", a->tokens, "TCP and HTTP: users' token hashes (mtpc token add; HTTP: Authorization: Bearer); SIGHUP reloads it");
  cmd->add_flag("--insecure-no-auth", a->insecure_no_auth, "TCP and HTTP: allow a non-loopback --listen/--http without --tokens");
  cmd->add_option("--tls-cert", a->tls_cert, "TCP and HTTP: PEM certificate chain (with --tls-key: --listen serves TLS, --http HTTPS)");
  cmd->add_option("--tls-key", a->tls_key, "TCP and HTTP: PEM private key of --tls-cert");
  cmd->add_flag("--http-plain", a->http_plain,
                "with --tls-cert: keep --http plain HTTP (behind a proxy that health-checks and scrapes it over HTTP)");
  cmd->add_option("--max-connections", a->limits.max_connections, "TCP and HTTP: open connections in all, both ports together (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-user", a->limits.max_connections_per_user,
                  "TCP and HTTP: open connections of one user, both ports together (0: unlimited)")->capture_default_str();
  cmd->add_option("--requests-per-minute", a->limits.requests_per_minute,
                  "TCP and HTTP: requests of one user per minute, one token bucket for both ports (HTTP: 429) (0: unlimited)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--max-documents-per-user", a->limits.max_documents_per_user,
                  "TCP: open documents of one user; the least recently used is closed (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout-s", a->limits.idle_timeout_s, "TCP: close a connection silent this long (0: never)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--read-timeout-s", a->limits.read_timeout_s,
                  "TCP: a started message or TLS handshake must complete within this (0: no limit)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--max-batch", a->scheduling.max_batch, "completions decoded together (continuous batching)")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--max-queue", a->scheduling.max_queue,
                  "completions waiting for a place in the batch; more are answered ServerBusy (-32020)")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_flag("--no-batching", a->no_batching, "decode one completion at a time (the baseline)");
  cmd->add_option("--drain-grace-s", a->drain_grace_s,
                  "on SIGTERM/SIGINT: seconds admitted completions may still decode before exit 0")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->callback([a, &global] {
    lsp::Logger log;
    if (!a->log.empty())
      if (Status s = log.open_file(a->log); !s.ok()) throw CLI::RuntimeError("mtpc serve: " + s.message(), 2);
    lsp::ListenAddress address;
    if (!a->listen.empty()) {
      auto parsed = lsp::parse_listen_address(a->listen);
      if (!parsed.ok()) throw CLI::RuntimeError("mtpc serve: " + parsed.status().message(), 2);
      address = *parsed;
    }
    // Access rules, checked before anything is loaded.
    lsp::TransportOptions transport;
    if (a->tls_cert.empty() != a->tls_key.empty())
      throw CLI::RuntimeError("mtpc serve: --tls-cert and --tls-key go together", 2);
    if (!a->tls_cert.empty() && a->listen.empty() && a->http.empty())
      throw CLI::RuntimeError("mtpc serve: --tls-cert/--tls-key need --listen or --http (stdio has one trusted client)", 2);
    std::shared_ptr<lsp::TlsContext> tls;  // one certificate for the LSP and the HTTP port
    if (!a->tls_cert.empty()) {
      auto loaded = lsp::TlsContext::load_server(a->tls_cert, a->tls_key);
      if (!loaded.ok()) throw CLI::RuntimeError("mtpc serve: " + loaded.status().message(), 2);
      tls = *loaded;
    }
    if (!a->listen.empty()) {
      auto access = lsp::access_for_listen(address.host, a->tokens, a->insecure_no_auth, a->limits);
      if (!access.ok()) throw CLI::RuntimeError("mtpc serve: " + access.status().message(), 2);
      a->server.access = *access;
      transport.tls = tls;
      if (!a->server.access->requires_token())
        log.line(lsp::is_loopback_host(address.host) ? "no --tokens: serving loopback only, without authentication"
                                                     : "--insecure-no-auth: serving " + address.host + " WITHOUT authentication");
    } else if (!a->tokens.empty() && a->http.empty()) {
      throw CLI::RuntimeError("mtpc serve: --tokens needs --listen or --http (stdio has one trusted client)", 2);
    }
    const EngineOptions engine{global.device, a->dtype};
    // One registry for LSP and HTTP (the LSP server's completions count in it
    // too); declared first, so it outlives the service's last callbacks.
    lsp::ServerMetrics metrics;
    SchedulerOptions scheduling = a->scheduling;
    scheduling.batching = !a->no_batching;
    lsp::CompletionService service(
        [engine, scheduling](const std::string& name) -> Result<std::unique_ptr<completion::CompletionModel>> {
          // The client's "model" setting may name a pulled model too.
          Result<std::string> dir = hub::resolve_model_dir(name);
          if (!dir.ok()) return dir.status();
          return completion::load_engine_model(*dir, engine, scheduling);
        },
        log);
    service.set_metrics(&metrics);
    if (!a->http.empty()) {
      // The HTTP API follows --listen's rules: tokens (Authorization: Bearer),
      // else loopback only unless --insecure-no-auth. One AccessControl for both.
      auto at = lsp::parse_listen_address(a->http);
      if (!at.ok()) throw CLI::RuntimeError("mtpc serve: " + at.status().message(), 2);
      std::shared_ptr<lsp::AccessControl> access = a->server.access;
      if (!access) {
        auto made = lsp::access_for_listen(at->host, a->tokens, a->insecure_no_auth, a->limits);
        if (!made.ok()) throw CLI::RuntimeError("mtpc serve: " + made.status().message(), 2);
        access = *made;
      } else if (!access->requires_token() && !lsp::is_loopback_host(at->host) && !a->insecure_no_auth) {
        throw CLI::RuntimeError("mtpc serve: --http " + a->http + " is not loopback: give --tokens or --insecure-no-auth", 2);
      }
      if (access->requires_token())
        a->http_api.authenticate = [access](const std::string& authorization) -> lsp::AuthDecision {
          static const std::string kBearer = "Bearer ";
          // HttpApi counts each refusal in mtpc_auth_failures_total.
          if (authorization.compare(0, kBearer.size(), kBearer) != 0)
            return {false, "an Authorization: Bearer token is required", ""};
          const std::string token = authorization.substr(kBearer.size());
          auto identity = access->authenticate(&token, lsp::kHttp);
          if (!identity) return {false, "invalid token", ""};
          return {true, "", identity->user};
        };
      // The same limits as LSP's: connections (in all and per user) and the
      // per-user request bucket are shared between the two ports.
      a->http_api.access = access;
      a->http_server.access = access;
      if (!a->http_plain) a->http_server.tls = tls;
      metrics.watch_access(access);
    } else if (a->server.access) {
      metrics.watch_access(a->server.access);
    }
    lsp::HttpApi http_api(service, metrics, a->http_api);
    lsp::HttpServer http_server(http_api, log, a->http_server);
    if (!a->http.empty()) {
      // Before the model loads: /health answers 503 until it has.
      auto at = lsp::parse_listen_address(a->http);
      Status s = at.ok() ? http_server.start(at->host, at->port) : at.status();
      if (!s.ok()) throw CLI::RuntimeError("mtpc serve: " + s.message(), 1);
    }
    if (!a->model.empty()) a->model = resolve_model_flag(a->model, "serve");
    a->server.model_dir = a->model;
    // Load once, up front: a bad --model fails the command, not the first completion.
    if (!a->model.empty())
      if (Status s = service.load_model(a->model); !s.ok()) throw CLI::RuntimeError("mtpc serve: " + s.message(), 1);
    const auto grace = std::chrono::milliseconds(static_cast<int64_t>(a->drain_grace_s * 1000));
    transport.drain_grace = grace;
    if (!a->http.empty() && a->listen.empty() && !a->stdio) {
      // HTTP alone. SIGHUP re-reads the tokens file, as serve_tcp does.
      lsp::wait_for_stop_signal([&log, access = a->http_api.access] {
        if (!access || !access->requires_token()) return log.line("SIGHUP: no --tokens file to reload");
        Status s = access->reload();
        log.line(s.ok() ? "SIGHUP: tokens file reloaded" : "SIGHUP: tokens file not reloaded, old one kept: " + s.message());
      });
      // Drain: no new connections, what was admitted finishes within the
      // grace (the rest is answered busy or cancelled), then exit 0.
      log.line("signal: draining (grace " + std::to_string(grace.count()) + " ms)");
      http_server.stop_accepting();
      const bool clean = service.drain(grace);
      log.line(clean ? "drained: every admitted request answered" : "drain grace ran out: the rest were cancelled");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last answers' writes
      throw CLI::RuntimeError("", 0);
    }
    if (!a->http.empty()) transport.on_drain = [&http_server] { http_server.stop_accepting(); };
    int code = a->listen.empty() ? lsp::serve_stdio(service, log, a->server, transport)
                                 : lsp::serve_tcp(service, log, a->server, address.host, address.port, transport);
    throw CLI::RuntimeError("", code);
  });
}

}  // namespace mtpc::cli
