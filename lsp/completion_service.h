// The LSP front end's engine thread: it owns the model, the completion core
// (completion/completer.h) and each client's open documents, and translates
// LSP's terms (URIs, positions in utf-16/utf-8 code units, content changes,
// error codes, languageIds) into the core's (documents, byte offsets). Every
// public method posts a task to that thread and returns at once; tasks run
// in the order posted, so an edit posted after a request is applied after
// the request's prompt was taken. Decoding itself runs on the model's
// scheduler when it has one (load_engine_model with SchedulerOptions:
// requests of every client decode together, inference/scheduler.h); the
// completion is then finished by a task of its own, from the text the
// prompt was taken from. A request the scheduler refuses (deadline, full
// queue, draining) is answered ErrorCode::kServerBusy. Results come back by
// callback, called on the engine thread (callers hop back to their own
// thread).
//
// Each client (an editor connection) has its own documents and sequences;
// all clients share the one model.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "completion/completer.h"
#include "completion/model.h"
#include "completion/text_generation.h"
#include "inference/engine.h"
#include "lsp/log.h"
#include "lsp/protocol.h"
#include "lsp/server_metrics.h"
#include "lsp/text_sequence_pool.h"

namespace mtpc::lsp {

struct CompletionQuery {
  std::string uri;
  Position position;
  PositionEncoding encoding = PositionEncoding::kUtf16;
  Settings settings;
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

struct CompletionAnswer {
  bool ok = true;
  ErrorCode error = ErrorCode::kInternalError;  // when !ok
  std::string message;                          // when !ok
  std::vector<CompletionItem> items;
  bool from_typeahead = false;
  bool cancelled = false;      // the token was set: the caller picks the code
  bool hit_deadline = false;   // answered with what was decoded by the deadline
  // The engine's account of the generation (absent when no model ran, e.g.
  // answered from the typed-ahead completion) and why it stopped.
  std::optional<GenerationStats> stats;
  std::string stop_reason;
  // Alternatives decoded because the greedy text broke the syntax, and
  // whether the answer is one (completion::Completion's).
  int syntax_retries = 0;
  bool from_retry = false;
};

// Counters over the service's life (all clients).
struct ServiceStats {
  int64_t requests = 0, answered = 0, from_typeahead = 0, cancelled = 0, deadline = 0, errors = 0;
  int64_t busy = 0;    // refused by the scheduler (ErrorCode::kServerBusy), counted in errors too
  int64_t tokens = 0;  // tokens the model decoded for answered completions
  // Completions whose greedy text broke the syntax and that decoded
  // alternatives, and those answered with one.
  int64_t syntax_retried = 0, syntax_replaced = 0;
};

using ServiceOptions = completion::CompleterOptions;

class CompletionService {
 public:
  using ModelLoader =
      std::function<Result<std::unique_ptr<completion::CompletionModel>>(const std::string& dir)>;

  CompletionService(ModelLoader loader, Logger& log, ServiceOptions options = {});
  ~CompletionService();  // finishes the queued tasks, then joins

  // Loads the model unless one is loaded (the model is loaded once); `done`
  // gets the outcome. An empty dir with no model loaded is an error.
  void ensure_model(const std::string& dir, std::function<void(Status)> done);
  // The same, waiting for the outcome (not from the engine thread).
  Status load_model(const std::string& dir);

  int add_client();
  void remove_client(int client);

  // `language` overrides the one named by document.language_id.
  void open(int client, TextDocumentItem document, std::optional<completion::Language> language = std::nullopt);
  void change(int client, DidChangeParams params, PositionEncoding encoding);
  void close(int client, std::string uri);

  void complete(int client, CompletionQuery query, std::shared_ptr<const CancellationToken> cancel,
                std::function<void(CompletionAnswer)> done);

  // Plain text generation (the HTTP API), through the scheduler like
  // complete(): request.on_chunk, if set, is called on the thread that
  // decodes (the scheduler's), `done` on the engine thread; a request the
  // scheduler refuses is answered TextGeneration::Outcome::kBusy. Counted in the metrics as
  // `endpoint`. A request whose deadline passed while it waited is answered
  // with what was decoded by then (nothing).
  void generate(completion::TextRequest request, std::string endpoint,
                std::function<void(completion::TextGeneration)> done);

  // Where requests are counted (null: nowhere). Set before the first request;
  // the metrics must outlive the service.
  void set_metrics(ServerMetrics* metrics) { metrics_ = metrics; }
  bool model_loaded() const { return model_loaded_.load(); }

  ServiceStats stats() const;

  // Graceful stop (not from the engine thread): the model's scheduler stops
  // admitting (later completions are answered kServerBusy), what it admitted
  // decodes for up to `grace` (then is cancelled), and every answer is
  // handed to its callback before this returns. True when all finished in
  // time.
  bool drain(std::chrono::milliseconds grace);

  struct ClientState;

 private:
  void post(std::function<void()> task);
  void run();
  void start_completion(int client, const CompletionQuery& query,
                        const std::shared_ptr<const CancellationToken>& cancel,
                        std::chrono::steady_clock::time_point posted, std::function<void(CompletionAnswer)> done);
  // Decodes `pending` through the scheduler and answers; again while the
  // completer asks for an alternative (a syntax retry).
  void decode_completion(int client, std::string uri, Position at,
                         std::shared_ptr<completion::Completer::Pending> pending,
                         std::chrono::steady_clock::time_point received, double service_wait,
                         std::function<void(CompletionAnswer)> done);
  CompletionAnswer to_answer(completion::Completion done, const Position& at) const;
  void answer(CompletionAnswer a, std::chrono::steady_clock::time_point received,
              const std::function<void(CompletionAnswer)>& done);

  ModelLoader loader_;
  Logger& log_;
  std::unique_ptr<completion::CompletionModel> model_;  // engine thread only
  completion::Completer completer_;                     // engine thread only
  std::map<int, std::unique_ptr<ClientState>> clients_;  // engine thread only
  std::atomic<int> next_client_{1};
  // generate()'s sequences (engine thread only), kept for reuse: their
  // caches keep shared prefixes.
  TextSequencePool text_sequences_;
  ServerMetrics* metrics_ = nullptr;
  std::atomic<bool> model_loaded_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  ServiceStats stats_;  // under mu_
  std::thread thread_;
};

}  // namespace mtpc::lsp
