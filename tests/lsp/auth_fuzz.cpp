// libFuzzer target over the access path: the tokens file parser and the
// authenticator on arbitrary text, and initialize with an arbitrary token
// and initializationOptions followed by arbitrary bytes, through the real
// LspServer with a tokens table and small limits. No model is needed: the
// loader fails, which the server reports as it would for a bad --model.
#include <cstddef>
#include <cstdint>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lsp/access.h"
#include "lsp/auth.h"
#include "lsp/completion_service.h"
#include "lsp/framing.h"
#include "lsp/server.h"

namespace {

using namespace mtpc::lsp;

struct Harness {
  Logger log;
  CompletionService service;
  std::shared_ptr<AccessControl> access;
  Harness()
      : service([](const std::string&) -> mtpc::Result<std::unique_ptr<mtpc::completion::CompletionModel>> {
          return mtpc::Status::Error("no model in the auth fuzzer");
        }, log) {
    log.open_file("/dev/null");
    AccessLimits limits;
    limits.max_connections_per_user = 2;
    limits.requests_per_minute = 5;
    limits.max_documents_per_user = 2;
    access = std::make_shared<AccessControl>(
        limits, std::make_shared<Authenticator>(std::vector<TokenEntry>{{"alice", sha256("mtpc_fuzz")}}));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness();
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 1) {
    // The tokens file: parse, and if it parses, authenticate the same text.
    auto entries = parse_tokens_file(rest, "fuzz");
    if (entries.ok()) {
      Authenticator auth(*entries);
      auto id = auth.authenticate(rest);
      if (id && !auth.still_valid(*id)) __builtin_trap();
      (void)format_tokens_file(*entries);
    }
    return 0;
  }
  // token \0 initializationOptions \0 further bytes
  size_t a = rest.find('\0');
  std::string_view token = rest.substr(0, a);
  std::string_view after = a == std::string_view::npos ? std::string_view() : rest.substr(a + 1);
  size_t b = after.find('\0');
  std::string_view options_text = after.substr(0, b);
  std::string_view more = b == std::string_view::npos ? std::string_view() : after.substr(b + 1);

  nlohmann::json options = nlohmann::json::parse(options_text, nullptr, false);
  if (options.is_discarded()) options = std::string(options_text.begin(), options_text.end());
  if (mode & 2) {
    if (!options.is_object()) options = nlohmann::json::object();
    if (!options["mtpc"].is_object()) options["mtpc"] = nlohmann::json::object();
    options["mtpc"]["token"] = std::string(token.begin(), token.end());
  }
  nlohmann::json init = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                         {"params", {{"capabilities", nlohmann::json::object()}, {"initializationOptions", options}}}};

  ServerOptions server_options;
  server_options.access = h->access;
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  auto server = LspServer::create(
      h->service, h->log, server_options, [](std::string) {},
      [&mu, &posted](std::function<void()> f) {
        std::lock_guard<std::mutex> lock(mu);
        posted.push_back(std::move(f));
      },
      "fuzz");
  server->on_bytes(frame_message(init.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  for (size_t i = 0; i < more.size() && !server->close_requested() && !server->exit_requested(); i += 97)
    server->on_bytes(more.substr(i, 97));
  server->on_disconnect();
  server.reset();
  // Tasks run in order on the engine thread: once this one is done, nothing
  // of this input can still post into `posted`.
  std::promise<void> barrier;
  h->service.ensure_model("barrier", [&barrier](mtpc::Status) { barrier.set_value(); });
  barrier.get_future().wait();
  std::lock_guard<std::mutex> lock(mu);
  posted.clear();  // answers for a gone server: dropped, as the transport does
  return 0;
}
