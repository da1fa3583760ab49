// The LSP server for one connection (one editor): lifecycle, JSON-RPC
// dispatch, settings, cancellation. Knows the protocol, not the transport:
// bytes come in through on_bytes(), framed replies go out through `send`.
// Completions go to the shared CompletionService (engine thread); their
// answers hop back to the I/O thread through `post`.
//
// Threads: every method runs on the connection's I/O thread. Construct with
// LspServer::create (callbacks from the engine thread hold weak pointers, so
// a server destroyed while a completion runs is never touched).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "inference/engine.h"
#include "lsp/access.h"
#include "lsp/completion_service.h"
#include "lsp/framing.h"
#include "lsp/log.h"
#include "lsp/protocol.h"

namespace mtpc::lsp {

struct ServerOptions {
  std::string model_dir;      // --model; empty: the client's "model" setting
  FramingOptions framing;
  Settings defaults;          // before the client's settings apply
  // TCP: tokens and limits shared by every connection; null (stdio): none.
  std::shared_ptr<AccessControl> access;
};

class LspServer : public std::enable_shared_from_this<LspServer> {
 public:
  using Send = std::function<void(std::string framed)>;
  using Post = std::function<void(std::function<void()>)>;

  static std::shared_ptr<LspServer> create(CompletionService& service, Logger& log,
                                           const ServerOptions& options, Send send, Post post,
                                           std::string peer);
  ~LspServer();

  void on_bytes(std::string_view bytes);
  // The client went away: pending requests are cancelled, its documents dropped.
  void on_disconnect();
  // After the `exit` notification: the connection should close with this code
  // (0 when shutdown came first, 1 otherwise, as LSP says).
  bool exit_requested() const { return exit_code_ >= 0; }
  int exit_code() const { return exit_code_; }
  // Refused access (token, limit): the connection should close once the
  // error reply is written.
  bool close_requested() const { return close_requested_; }
  // Part of a message has arrived, not all of it (slow-client timeouts).
  bool mid_message() const { return reader_.mid_message(); }
  // The server wants a token and has not had a valid one yet.
  bool awaiting_token() const { return options_.access && options_.access->requires_token() && !identity_; }

  class Reply;

 private:
  LspServer(CompletionService& service, Logger& log, const ServerOptions& options, Send send, Post post,
            std::string peer);
  void on_message(std::string body);
  void send_json(const nlohmann::json& message);
  void send_error(const nlohmann::json& id, ErrorCode code, const std::string& message,
                  const nlohmann::json& data = nullptr);
  // Access checks (options_.access): false when the message must not be
  // handled (the reply is sent and the connection asked to close).
  bool admit_message(const std::string& method, const nlohmann::json& id, bool has_id);
  bool authenticate(const nlohmann::json& params, Reply& reply);
  void refuse(const nlohmann::json& id, bool has_id, ErrorCode code, const std::string& why);
  void touch_document(const std::string& uri, bool opening);

  // Handlers, bound by name in server.cpp's tables.
  void on_initialize(const nlohmann::json& params, Reply reply);
  void on_shutdown(const nlohmann::json& params, Reply reply);
  void on_inline_completion(const nlohmann::json& params, Reply reply);
  void on_completion(const nlohmann::json& params, Reply reply);
  void on_stats(const nlohmann::json& params, Reply reply);
  void on_initialized(const nlohmann::json& params);
  void on_exit(const nlohmann::json& params);
  void on_did_open(const nlohmann::json& params);
  void on_did_change(const nlohmann::json& params);
  void on_did_close(const nlohmann::json& params);
  void on_cancel(const nlohmann::json& params);
  void on_configuration(const nlohmann::json& params);

  enum class CompletionKind { kInline, kList };
  void start_completion(const nlohmann::json& params, Reply reply, CompletionKind kind);
  void cancel_pending(const std::string& key, ErrorCode code, const std::string& why);

  struct Pending;
  CompletionService& service_;
  Logger& log_;
  ServerOptions options_;
  Send send_;
  Post post_;
  std::string peer_;
  FrameReader reader_;
  int client_ = 0;
  enum class State { kUninitialized, kRunning, kShutdown } state_ = State::kUninitialized;
  int exit_code_ = -1;
  PositionEncoding encoding_ = PositionEncoding::kUtf16;
  Settings settings_;
  std::map<std::string, std::unique_ptr<Pending>> pending_;  // by request id (its JSON)
  bool disconnected_ = false;
  bool close_requested_ = false;
  // Access: the user this connection proved (or, without tokens, its own
  // anonymous name) and whether it holds a per-user connection slot.
  std::optional<Identity> identity_;
  std::string user_;
  bool holds_user_slot_ = false;
};

}  // namespace mtpc::lsp
