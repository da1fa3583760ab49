#include "lsp/completion_service.h"

#include <algorithm>

#include "lsp/context.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::lsp {

namespace {
// The fuzzer links this file without mtpc_inference (where stop_reason_name
// lives), so the names are spelled here.
const char* stop_reason_text(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kEos: return "eos";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kPredicate: return "end_of_scope";
    case StopReason::kDeadline: return "deadline";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kContextFull: return "context_full";
  }
  return "unknown";
}
}  // namespace

namespace {

// The completion last shown for a document, kept to answer typed-ahead
// requests: while the user types the characters it proposed, the rest of it
// is still the answer and the model need not run.
struct ShownCompletion {
  bool valid = false;
  size_t cursor = 0;         // where it was shown
  std::string text_then;     // the document when it was shown
  std::string completion;
};

struct OpenDocument {
  std::string language_id;
  Document doc;
  std::unique_ptr<CompletionModel::Sequence> sequence;  // made at the first completion
  ShownCompletion shown;
};

// The rest of `shown` when `text` is the shown document with the first
// (cursor - shown.cursor) bytes of the completion typed at its cursor.
std::optional<std::string> typed_ahead(const ShownCompletion& shown, const std::string& text, size_t cursor) {
  if (!shown.valid || cursor < shown.cursor) return std::nullopt;
  size_t typed = cursor - shown.cursor;
  if (typed == 0 || typed >= shown.completion.size()) return std::nullopt;
  if (text.size() != shown.text_then.size() + typed) return std::nullopt;
  if (text.compare(0, shown.cursor, shown.text_then, 0, shown.cursor) != 0) return std::nullopt;
  if (text.compare(shown.cursor, typed, shown.completion, 0, typed) != 0) return std::nullopt;
  if (text.compare(cursor, std::string::npos, shown.text_then, shown.cursor, std::string::npos) != 0)
    return std::nullopt;
  return shown.completion.substr(typed);
}

}  // namespace

struct CompletionService::ClientState {
  std::map<std::string, OpenDocument> documents;
};

CompletionService::CompletionService(ModelLoader loader, Logger& log, ServiceOptions options)
    : loader_(std::move(loader)), log_(log), options_(options), thread_([this] { run(); }) {}

CompletionService::~CompletionService() {
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
    log_.line("model loaded, context " + std::to_string(model_->max_seq_len()) + " tokens");
    done(Status::Ok());
  });
}

int CompletionService::add_client() {
  int id = next_client_++;
  post([this, id] { clients_[id] = std::make_unique<ClientState>(); });
  return id;
}

void CompletionService::remove_client(int client) {
  post([this, client] { clients_.erase(client); });
}

void CompletionService::open(int client, TextDocumentItem item, std::optional<Language> language_override) {
  post([this, client, item = std::move(item), language_override]() mutable {
    auto c = clients_.find(client);
    if (c == clients_.end()) return;
    Language language = language_override ? *language_override : language_from_id(item.language_id);
    // A reopened document replaces the old one (its sequence goes too).
    c->second->documents.erase(item.uri);
    c->second->documents.emplace(
        item.uri, OpenDocument{item.language_id, Document(language, std::move(item.text), item.uri), nullptr, {}});
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
    Document& doc = d->second.doc;
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
    CompletionAnswer a = complete_now(client, query, cancel);
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
  Range at{position_of(text, *cursor, query.encoding), position_of(text, *cursor, query.encoding)};

  if (auto rest = typed_ahead(open.shown, text, *cursor)) {
    a.from_typeahead = true;
    a.items.push_back({*rest, at});
    return a;
  }
  if (!model_) return fail(ErrorCode::kInternalError, "no model loaded: give --model DIR or the \"model\" setting");

  ContextOptions ctx;
  ctx.fim = query.settings.fim;
  ctx.max_lines = query.settings.max_lines;
  int room = model_->max_seq_len() - query.settings.max_tokens - options_.fim_marker_tokens;
  ctx.token_budget = std::min(options_.max_prompt_tokens, static_cast<size_t>(std::max(room, 16)));
  std::vector<const Document*> others;
  for (const auto& [uri, other] : c->second->documents)
    if (uri != query.uri) others.push_back(&other.doc);
  CompletionPlan plan = plan_completion(open.doc, *cursor, others, ctx);
  if (plan.skip) return a;

  GenerationRequest r;
  if (plan.fim) {
    r.prompt.push_back(ByteTokenizer::kFimPrefix);
    auto p = model_->encode(plan.prefix);
    r.prompt.insert(r.prompt.end(), p.begin(), p.end());
    r.prompt.push_back(ByteTokenizer::kFimSuffix);
    auto s = model_->encode(plan.suffix);
    r.prompt.insert(r.prompt.end(), s.begin(), s.end());
    r.prompt.push_back(ByteTokenizer::kFimMiddle);
  } else {
    r.prompt = model_->encode(plan.prefix);
  }
  r.max_new_tokens = query.settings.max_tokens;
  r.mode = DecodeMode::kSpeculative;
  r.draft_length = query.settings.draft_length;
  auto stop = std::make_shared<StopRule>(open.doc, *cursor, plan, ctx);
  r.stop_predicate = [stop](std::string_view completion) { return (*stop)(completion); };
  r.deadline = query.received + std::chrono::milliseconds(query.settings.deadline_ms);
  r.cancel = cancel;

  if (!open.sequence) {
    auto seq = model_->new_sequence();
    if (!seq.ok()) return fail(ErrorCode::kInternalError, seq.status().message());
    open.sequence = std::move(*seq);
  }
  auto result = model_->generate(*open.sequence, r);
  if (!result.ok()) return fail(ErrorCode::kInternalError, result.status().message());
  if (result->reason == StopReason::kCancelled) {
    a.cancelled = true;
    return a;
  }
  a.hit_deadline = result->reason == StopReason::kDeadline;
  a.stats = result->stats;
  a.stop_reason = stop_reason_text(result->reason);
  std::string completion = finalize_completion(open.doc, *cursor, plan, std::move(result->text));
  if (completion.empty()) return a;
  open.shown = ShownCompletion{true, *cursor, text, completion};
  a.items.push_back({std::move(completion), at});
  return a;
}

}  // namespace mtpc::lsp
