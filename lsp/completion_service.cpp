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

completion::Settings core_settings(const Settings& s) {
  completion::Settings c;
  c.max_lines = s.max_lines;
  c.max_tokens = s.max_tokens;
  c.deadline_ms = s.deadline_ms;
  c.fim = s.fim;
  c.draft_length = s.draft_length;
  return c;
}

}  // namespace

struct CompletionService::ClientState {
  std::map<std::string, OpenDocument> documents;
};

CompletionService::CompletionService(ModelLoader loader, Logger& log, ServiceOptions options)
    : loader_(std::move(loader)), log_(log), completer_(nullptr, options), thread_([this] { run(); }) {}

CompletionService::~CompletionService() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CompletionService::post(std::function<void()> task) {
  size_t depth;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (metrics_) {
      // Queue wait is measured from here to the task's start.
      task = [this, task = std::move(task), posted = std::chrono::steady_clock::now()] {
        metrics_->queue_wait(std::chrono::duration<double>(std::chrono::steady_clock::now() - posted).count());
        task();
      };
    }
    tasks_.push_back(std::move(task));
    depth = tasks_.size();
  }
  if (metrics_) metrics_->queue_depth(static_cast<int64_t>(depth));
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
      if (metrics_) metrics_->queue_depth(static_cast<int64_t>(tasks_.size()));
    }
    task();
  }
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
  post([this, client, query = std::move(query), cancel = std::move(cancel), done = std::move(done)] {
    if (metrics_) metrics_->running_add(1);
    CompletionAnswer a = complete_now(client, query, cancel);
    if (metrics_) {
      metrics_->running_add(-1);
      if (a.stats) metrics_->generation(*a.stats);
      if (a.from_typeahead) metrics_->typeahead_hit();
      if (a.cancelled) metrics_->cancellation("lsp");
      const char* outcome = a.cancelled ? "cancelled" : !a.ok ? "error" : a.hit_deadline ? "timeout" : "ok";
      metrics_->request_done("lsp", outcome,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - query.received).count());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (a.cancelled) ++stats_.cancelled;
      else if (!a.ok) ++stats_.errors;
      else ++stats_.answered;
      if (a.from_typeahead) ++stats_.from_typeahead;
      if (a.hit_deadline) ++stats_.deadline;
    }
    done(std::move(a));
  });
}

void CompletionService::generate(completion::TextRequest request, std::string endpoint,
                                 std::function<void(completion::TextGeneration)> done) {
  const auto received = std::chrono::steady_clock::now();
  post([this, request = std::move(request), endpoint = std::move(endpoint), done = std::move(done),
        received]() mutable {
    if (metrics_ && request.on_chunk) {
      request.on_chunk = [this, &endpoint, received, first = true,
                          inner = std::move(request.on_chunk)](std::string_view chunk) mutable {
        if (first && !chunk.empty()) {
          first = false;
          metrics_->first_token(endpoint, std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
        }
        inner(chunk);
      };
    }
    completion::TextGeneration g;
    if (!model_) {
      g.outcome = completion::TextGeneration::Outcome::kFailed;
      g.error = "no model loaded";
    } else {
      if (!text_sequence_) {
        auto seq = model_->new_sequence();
        if (seq.ok()) text_sequence_ = std::move(*seq);
        else g.outcome = completion::TextGeneration::Outcome::kFailed, g.error = seq.status().message();
      }
      if (text_sequence_) {
        if (metrics_) metrics_->running_add(1);
        g = completion::generate_text(*model_, *text_sequence_, request);
        if (metrics_) metrics_->running_add(-1);
      }
    }
    if (metrics_) {
      if (g.stats) metrics_->generation(*g.stats);
      if (g.outcome == completion::TextGeneration::Outcome::kCancelled) metrics_->cancellation(endpoint);
    }
    done(std::move(g));
  });
}

CompletionAnswer CompletionService::complete_now(int client, const CompletionQuery& query,
                                                 const std::shared_ptr<const CancellationToken>& cancel) {
  CompletionAnswer a;
  auto fail = [&a](ErrorCode code, std::string message) {
    a.ok = false;
    a.error = code;
    a.message = std::move(message);
    return a;
  };
  if (cancel && cancel->cancelled()) {
    a.cancelled = true;
    return a;
  }
  auto c = clients_.find(client);
  if (c == clients_.end()) return fail(ErrorCode::kInternalError, "unknown client");
  auto d = c->second->documents.find(query.uri);
  if (d == c->second->documents.end())
    return fail(ErrorCode::kInvalidParams, "document not open: " + query.uri);
  OpenDocument& open = d->second;
  const std::string& text = open.doc.text();
  auto cursor = offset_of(text, query.position, query.encoding);
  if (!cursor)
    return fail(ErrorCode::kInvalidParams, "position (" + std::to_string(query.position.line) + ", " +
                                               std::to_string(query.position.character) +
                                               ") is outside the document");
  const auto& langs = query.settings.languages;
  if (!langs.empty() && std::find(langs.begin(), langs.end(), open.language_id) == langs.end())
    return a;  // completions are off for this language: no items
  const Position at = position_of(text, *cursor, query.encoding);

  completion::CompletionRequest request;
  request.cursor = *cursor;
  request.settings = core_settings(query.settings);
  for (const auto& [uri, other] : c->second->documents)
    if (uri != query.uri) request.others.push_back(&other.doc.document());
  request.received = query.received;
  request.cancel = cancel;
  completion::Completion done = completer_.complete(open.doc, request);
  switch (done.outcome) {
    case completion::Completion::Outcome::kOk: break;
    case completion::Completion::Outcome::kCancelled: a.cancelled = true; return a;
    case completion::Completion::Outcome::kInvalidInput: return fail(ErrorCode::kInvalidParams, done.error);
    case completion::Completion::Outcome::kFailed:
      return fail(ErrorCode::kInternalError,
                  model_ ? done.error : "no model loaded: give --model DIR or the \"model\" setting");
  }
  a.from_typeahead = done.from_typeahead;
  a.hit_deadline = done.hit_deadline;
  a.stats = done.stats;
  a.stop_reason = done.stop_reason;
  if (!done.text.empty()) a.items.push_back({std::move(done.text), Range{at, at}});
  return a;
}

}  // namespace mtpc::lsp
