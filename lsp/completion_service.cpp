#include "lsp/completion_service.h"

#include <algorithm>
#include <future>

#include "model/tokenizer/tokenizer.h"

namespace mtpc::lsp {

namespace {

struct OpenDocument {
  std::string language_id;  // the client's, for the `languages` setting
  completion::OpenDocument doc;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

completion::Settings core_settings(const Settings& s) {
  completion::Settings c;
  c.max_lines = s.max_lines;
  c.max_tokens = s.max_tokens;
  c.deadline_ms = s.deadline_ms;
  c.fim = s.fim;
  c.draft_length = s.draft_length;
  c.syntax_retries = s.syntax_retries;
  return c;
}

}  // namespace

struct CompletionService::ClientState {
  std::map<std::string, OpenDocument> documents;
};

CompletionService::CompletionService(ModelLoader loader, Logger& log, ServiceOptions options)
    : loader_(std::move(loader)), log_(log), completer_(nullptr, options), thread_([this] { run(); }) {}

CompletionService::~CompletionService() {
  // Requests still decoding answer (into this queue) before it stops.
  if (model_) model_->drain(std::chrono::milliseconds(0));
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CompletionService::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void CompletionService::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, queue drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

bool CompletionService::drain(std::chrono::milliseconds grace) {
  std::promise<completion::CompletionModel*> model;
  post([this, &model] { model.set_value(model_.get()); });
  completion::CompletionModel* m = model.get_future().get();
  const bool clean = m == nullptr || m->drain(grace);
  // The scheduler's answers were posted here; once this marker runs, every
  // one of them has reached its callback.
  std::promise<void> flushed;
  post([&flushed] { flushed.set_value(); });
  flushed.get_future().wait();
  return clean;
}

ServiceStats CompletionService::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CompletionService::ensure_model(const std::string& dir, std::function<void(Status)> done) {
  post([this, dir, done = std::move(done)] {
    if (model_) {
      done(Status::Ok());
      return;
    }
    if (dir.empty()) {
      done(Status::Error("no model: give --model DIR or the \"model\" setting"));
      return;
    }
    log_.line("loading model " + dir);
    auto model = loader_(dir);
    if (!model.ok()) {
      log_.line("model load failed: " + model.status().message());
      done(model.status());
      return;
    }
    model_ = std::move(*model);
    if (metrics_)
      model_->observe_load([metrics = metrics_](int running, int queued) { metrics->scheduler_load(running, queued); });
    completer_.set_model(model_.get());
    model_loaded_ = true;
    const Tokenizer& tokenizer = model_->tokenizer();
    log_.line("model loaded, context " + std::to_string(model_->max_seq_len()) + " tokens, tokenizer " +
              tokenizer.kind());
    // Once per model: without markers every completion drops the suffix.
    if (!tokenizer.fim_template().available())
      log_.line("the model has no fill-in-the-middle tokens: completions see only the code before the cursor");
    done(Status::Ok());
  });
}

Status CompletionService::load_model(const std::string& dir) {
  std::promise<Status> loaded;
  ensure_model(dir, [&loaded](Status s) { loaded.set_value(std::move(s)); });
  return loaded.get_future().get();
}

int CompletionService::add_client() {
  int id = next_client_++;
  post([this, id] { clients_[id] = std::make_unique<ClientState>(); });
  return id;
}

void CompletionService::remove_client(int client) {
  post([this, client] { clients_.erase(client); });
}

void CompletionService::open(int client, TextDocumentItem item,
                             std::optional<completion::Language> language_override) {
  post([this, client, item = std::move(item), language_override]() mutable {
    auto c = clients_.find(client);
    if (c == clients_.end()) return;
    completion::Language language =
        language_override ? *language_override : completion::language_from_id(item.language_id);
    // A reopened document replaces the old one (its sequence goes too).
    c->second->documents.erase(item.uri);
    c->second->documents.emplace(
        item.uri, OpenDocument{item.language_id, completion::OpenDocument(language, std::move(item.text), item.uri)});
  });
}

void CompletionService::change(int client, DidChangeParams params, PositionEncoding encoding) {
  post([this, client, params = std::move(params), encoding] {
    auto c = clients_.find(client);
    if (c == clients_.end()) return;
    auto d = c->second->documents.find(params.uri);
    if (d == c->second->documents.end()) {
      log_.line("didChange for a document never opened: " + params.uri);
      return;
    }
    completion::OpenDocument& doc = d->second.doc;
    for (const ContentChange& change : params.changes) {
      if (!change.range) {
        doc.set_text(change.text);
        continue;
      }
      auto start = offset_of(doc.text(), change.range->start, encoding);
      auto end = offset_of(doc.text(), change.range->end, encoding);
      if (!start || !end || *end < *start) {
        // The client's view and ours differ; later edits would land in the
        // wrong place, so the rest of this change is dropped too.
        log_.line("didChange range outside " + params.uri + "; change ignored");
        return;
      }
      doc.edit(*start, *end, change.text);
    }
  });
}

void CompletionService::close(int client, std::string uri) {
  post([this, client, uri = std::move(uri)] {
    auto c = clients_.find(client);
    if (c == clients_.end()) return;
    if (c->second->documents.erase(uri) == 0) log_.line("didClose for a document never opened: " + uri);
  });
}

void CompletionService::complete(int client, CompletionQuery query,
                                 std::shared_ptr<const CancellationToken> cancel,
                                 std::function<void(CompletionAnswer)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.requests;
  }
  post([this, client, query = std::move(query), cancel = std::move(cancel), done = std::move(done),
        posted = std::chrono::steady_clock::now()]() mutable {
    start_completion(client, query, cancel, posted, std::move(done));
  });
}

void CompletionService::generate(completion::TextRequest request, std::string endpoint,
                                 std::function<void(completion::TextGeneration)> done) {
  const auto received = std::chrono::steady_clock::now();
  post([this, request = std::move(request), endpoint = std::move(endpoint), done = std::move(done),
        received]() mutable {
    if (metrics_ && request.on_chunk) {
      // Called on the scheduler's thread while it decodes: captures by value.
      request.on_chunk = [metrics = metrics_, endpoint, received, first = true,
                          inner = std::move(request.on_chunk)](std::string_view chunk) mutable {
        if (first && !chunk.empty()) {
          first = false;
          metrics->first_token(endpoint, std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
        }
        inner(chunk);
      };
    }
    auto finish = [this, endpoint, done = std::move(done)](completion::TextGeneration g) {
      if (metrics_) {
        if (g.stats) metrics_->generation(*g.stats);
        if (g.outcome == completion::TextGeneration::Outcome::kCancelled) metrics_->cancellation(endpoint);
      }
      done(std::move(g));
    };
    completion::TextGeneration g;
    if (!model_) {
      g.outcome = completion::TextGeneration::Outcome::kFailed;
      g.error = "no model loaded";
      return finish(std::move(g));
    }
    auto prepared = std::make_shared<completion::PreparedText>(completion::prepare_text(*model_, request));
    if (prepared->answer) {
      if (metrics_) metrics_->queue_wait(seconds_since(received));
      return finish(std::move(*prepared->answer));
    }
    // A sequence of the pool (HTTP requests share no document): its cache
    // keeps the longest prefix shared with earlier requests.
    Result<TextSequencePool::Sequence*> chosen = text_sequences_.acquire([this] { return model_->new_sequence(); });
    if (!chosen.ok()) {
      g.outcome = completion::TextGeneration::Outcome::kFailed;
      g.error = chosen.status().message();
      return finish(std::move(g));
    }
    completion::CompletionModel::Sequence* sequence = chosen.value();
    const double service_wait = seconds_since(received);
    model_->generate_async(
        *sequence, prepared->request, "http",
        [this, sequence, prepared, service_wait, finish = std::move(finish)](ScheduledResult r) mutable {
          auto answer = [this, sequence, prepared, service_wait, finish = std::move(finish),
                         r = std::move(r)]() mutable {
            text_sequences_.release(sequence);
            if (metrics_) metrics_->queue_wait(service_wait + r.queue_ms / 1000.0);
            if (metrics_ && r.batch_size > 0) metrics_->batched(r.batch_size);
            if (r.outcome != ScheduleOutcome::kDone) {
              completion::TextGeneration busy;
              busy.outcome = completion::TextGeneration::Outcome::kBusy;
              busy.error = std::string("server busy (") + schedule_outcome_name(r.outcome) +
                           "): " + r.result.status().message();
              return finish(std::move(busy));
            }
            finish(completion::finish_text(*prepared, std::move(r.result)));
          };
          if (std::this_thread::get_id() == thread_.get_id()) answer();
          else post(std::move(answer));
        });
  });
}

void CompletionService::answer(CompletionAnswer a, std::chrono::steady_clock::time_point received,
                               const std::function<void(CompletionAnswer)>& done) {
  if (metrics_) {
    if (a.stats) metrics_->generation(*a.stats);
    if (a.from_typeahead) metrics_->typeahead_hit();
    if (a.cancelled) metrics_->cancellation("lsp");
    const char* outcome = a.cancelled ? "cancelled" : !a.ok ? "error" : a.hit_deadline ? "timeout" : "ok";
    metrics_->request_done("lsp", outcome, seconds_since(received));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (a.cancelled) ++stats_.cancelled;
    else if (!a.ok) ++stats_.errors;
    else ++stats_.answered;
    if (a.from_typeahead) ++stats_.from_typeahead;
    if (a.hit_deadline) ++stats_.deadline;
    if (!a.ok && a.error == ErrorCode::kServerBusy) ++stats_.busy;
    if (a.stats) stats_.tokens += a.stats->tokens;
    if (a.syntax_retries > 0) ++stats_.syntax_retried;
    if (a.from_retry) ++stats_.syntax_replaced;
  }
  done(std::move(a));
}

namespace {

CompletionAnswer failed(ErrorCode code, std::string message) {
  CompletionAnswer a;
  a.ok = false;
  a.error = code;
  a.message = std::move(message);
  return a;
}

}  // namespace

CompletionAnswer CompletionService::to_answer(completion::Completion done, const Position& at) const {
  CompletionAnswer a;
  switch (done.outcome) {
    case completion::Completion::Outcome::kOk: break;
    case completion::Completion::Outcome::kCancelled: a.cancelled = true; return a;
    case completion::Completion::Outcome::kInvalidInput: return failed(ErrorCode::kInvalidParams, done.error);
    case completion::Completion::Outcome::kFailed:
      return failed(ErrorCode::kInternalError,
                    model_ ? done.error : "no model loaded: give --model DIR or the \"model\" setting");
  }
  a.from_typeahead = done.from_typeahead;
  a.hit_deadline = done.hit_deadline;
  a.stats = done.stats;
  a.stop_reason = done.stop_reason;
  a.syntax_retries = done.retries;
  a.from_retry = done.from_retry;
  if (!done.text.empty()) a.items.push_back({std::move(done.text), Range{at, at}});
  return a;
}

// On the engine thread: everything up to decoding, then the model decodes
// (through the scheduler, with other clients' requests) and the rest runs
// back on this thread as a task of its own.
void CompletionService::start_completion(int client, const CompletionQuery& query,
                                         const std::shared_ptr<const CancellationToken>& cancel,
                                         std::chrono::steady_clock::time_point posted,
                                         std::function<void(CompletionAnswer)> done) {
  const auto received = query.received;
  const double service_wait = seconds_since(posted);
  // Answered without decoding: its wait was the engine thread's queue alone.
  auto now = [&](CompletionAnswer a) {
    if (metrics_) metrics_->queue_wait(service_wait);
    answer(std::move(a), received, done);
  };
  if (cancel && cancel->cancelled()) {
    CompletionAnswer a;
    a.cancelled = true;
    return now(std::move(a));
  }
  auto c = clients_.find(client);
  if (c == clients_.end()) return now(failed(ErrorCode::kInternalError, "unknown client"));
  auto d = c->second->documents.find(query.uri);
  if (d == c->second->documents.end()) return now(failed(ErrorCode::kInvalidParams, "document not open: " + query.uri));
  OpenDocument& open = d->second;
  const std::string& text = open.doc.text();
  auto cursor = offset_of(text, query.position, query.encoding);
  if (!cursor)
    return now(failed(ErrorCode::kInvalidParams, "position (" + std::to_string(query.position.line) + ", " +
                                                     std::to_string(query.position.character) +
                                                     ") is outside the document"));
  const auto& langs = query.settings.languages;
  if (!langs.empty() && std::find(langs.begin(), langs.end(), open.language_id) == langs.end())
    return now(CompletionAnswer{});  // completions are off for this language: no items
  const Position at = position_of(text, *cursor, query.encoding);

  completion::CompletionRequest request;
  request.cursor = *cursor;
  request.settings = core_settings(query.settings);
  for (const auto& [uri, other] : c->second->documents)
    if (uri != query.uri) request.others.push_back(&other.doc.document());
  request.received = query.received;
  request.cancel = cancel;
  auto pending = std::make_shared<completion::Completer::Pending>(completer_.begin(open.doc, request));
  if (pending->answer) return now(to_answer(std::move(*pending->answer), at));
  decode_completion(client, query.uri, at, std::move(pending), received, service_wait, std::move(done));
}

void CompletionService::decode_completion(int client, std::string uri, Position at,
                                          std::shared_ptr<completion::Completer::Pending> pending,
                                          std::chrono::steady_clock::time_point received, double service_wait,
                                          std::function<void(CompletionAnswer)> done) {
  completion::Completer::Pending& p = *pending;
  // The user is the fairness key: a token's user over TCP, else the client.
  model_->generate_async(
      *p.sequence, p.request, "client " + std::to_string(client),
      [this, client, uri = std::move(uri), at, pending, received, service_wait,
       done = std::move(done)](ScheduledResult r) mutable {
        auto finish = [this, client, uri = std::move(uri), at, pending, received, service_wait,
                       done = std::move(done), r = std::move(r)]() mutable {
          // Counted once per request: at its first (greedy) decode.
          const bool first = !pending->best;
          if (metrics_ && first) metrics_->queue_wait(service_wait + r.queue_ms / 1000.0);
          if (metrics_ && first && r.batch_size > 0) metrics_->batched(r.batch_size);
          // A refused alternative leaves the greedy completion standing.
          if (r.outcome != ScheduleOutcome::kDone && first)
            return answer(failed(ErrorCode::kServerBusy, std::string("server busy (") +
                                                             schedule_outcome_name(r.outcome) + "): " +
                                                             r.result.status().message()),
                          received, done);
          completion::OpenDocument* open = nullptr;
          if (auto c = clients_.find(client); c != clients_.end())
            if (auto d = c->second->documents.find(uri); d != c->second->documents.end()) open = &d->second.doc;
          Result<GenerationResult> result = std::move(r.result);
          if (r.outcome != ScheduleOutcome::kDone && result.ok())
            result = Status::Error(std::string("not decoded: ") + schedule_outcome_name(r.outcome));
          std::optional<completion::Completion> c = completer_.step(open, *pending, std::move(result));
          if (c) return answer(to_answer(std::move(*c), at), received, done);
          decode_completion(client, std::move(uri), at, pending, received, service_wait, std::move(done));
        };
        // Decoded (or refused) at once on this thread: finish in the same
        // task, as before there was a scheduler; else as a task of its own.
        if (std::this_thread::get_id() == thread_.get_id()) finish();
        else post(std::move(finish));
      });
}

}  // namespace mtpc::lsp
