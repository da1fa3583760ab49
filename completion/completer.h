// The completion core: from a document and a cursor to a finished completion,
// protocol-free. The LSP server, `mtpc complete`, the HTTP API and the
// infilling benchmark all call it, so a benchmark measures exactly what an
// editor gets.
//
//   OpenDocument + CompletionRequest (byte offset, settings, deadline,
//   cancellation) -> typed-ahead check -> context window and scope
//   (context.h) -> prompt in the model's fill-in-the-middle template ->
//   engine with the scope's stop rule and the deadline -> finalize
//   -> Completion (text, byte range, stop reason, statistics)
//
// Threads: a Completer, its model and the OpenDocuments it completes are used
// by one thread at a time (the thread that owns the model). The cancellation
// token may be set from any thread. Never throws: failures come back as a
// Completion whose outcome says what went wrong.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "completion/context.h"
#include "completion/model.h"
#include "inference/engine.h"

namespace mtpc::completion {

// What one completion may do: the editor's settings.
struct Settings {
  int max_lines = 8;       // longest multi-line completion
  int max_tokens = 64;     // tokens decoded per completion
  int deadline_ms = 300;   // answer with what was decoded by then
  bool fim = true;         // fill-in-the-middle prompts when the model has them
  int draft_length = 0;    // drafted tokens per pass; 0: the model's most
  // Where the completion ends. Unset (editors): decided by the cursor
  // (context.h's plan_completion), and nothing is proposed in the middle of
  // a word. Set (the infilling benchmark, whose holes the dataset fixes):
  // this scope, and a hole inside a word is completed too.
  std::optional<CompletionScope> scope;
  // When the greedy completion leaves syntax errors around the cursor
  // (context.h's SyntaxCheck: a line that opens a block the next line does
  // not indent, an indentation the next line contradicts, an unclosed
  // string, a Python name the document never mentions), up to this many
  // alternatives are sampled (seeds 1, 2, ...; each only while the deadline
  // leaves the time the greedy text's tokens take one pass each),
  // and the first that leaves none is proposed instead; when none does, the
  // greedy completion stays. Only when the cursor's line is blank up to the
  // cursor (the completion writes the line): on a line the user began, the
  // alternatives did worse than greedy. 0: greedy alone. Languages without
  // a grammar never retry.
  int syntax_retries = 4;
  double retry_temperature = 0.8;  // the alternatives' sampling temperature (> 0)
};

struct CompleterOptions {
  // Prompt budget when the model's context allows more (context.h's default).
  size_t max_prompt_tokens = 1536;
  // The smallest prompt budget, however small the model's context.
  size_t min_prompt_tokens = 16;
};

// The completion last shown for a document, kept to answer typed-ahead
// requests: while the user types the characters it proposed, the rest of it
// is still the answer and the model need not run.
struct ShownCompletion {
  size_t cursor = 0;       // where it was shown
  std::string text_then;   // the document when it was shown
  std::string completion;
};

// The rest of `shown` when `text` is the shown document with the first
// (cursor - shown.cursor) bytes of the completion typed at its cursor.
std::optional<std::string> typed_ahead(const ShownCompletion& shown, const std::string& text, size_t cursor);

// Byte offset of (line, byte column), both from 0, in `text` (compilers'
// FILE:LINE:COL, less one): a column past the end of its line means the
// line's end, one inside a multi-byte character that character's start; a
// negative number or a line past the last one gives nullopt.
std::optional<size_t> offset_at(std::string_view text, int64_t line, int64_t byte_column);

// A place in a file as compilers print it: FILE:LINE:COL, LINE and COL from 1,
// COL in bytes. The file name may itself hold colons (the last two split).
struct Location {
  std::string path;
  int64_t line = 0;
  int64_t column = 0;
};
// nullopt unless LINE and COL are whole numbers >= 1 and FILE is not empty.
std::optional<Location> parse_location(const std::string& spec);

// An open document (its text and syntax tree) with what the completer keeps
// for it between requests: the model's sequence (KV cache, made at the first
// completion) and the completion last shown. Movable, not copyable.
class OpenDocument {
 public:
  OpenDocument(Language language, std::string text, std::string name = {});

  const Document& document() const { return document_; }
  const std::string& text() const { return document_.text(); }
  Language language() const { return document_.language(); }
  // Replaces bytes [start, end) (clamped) and reparses incrementally.
  void edit(size_t start, size_t end, std::string_view replacement) { document_.edit(start, end, replacement); }
  void set_text(std::string text) { document_.set_text(std::move(text)); }

 private:
  friend class Completer;
  Document document_;
  std::unique_ptr<CompletionModel::Sequence> sequence_;
  std::optional<ShownCompletion> shown_;
};

struct CompletionRequest {
  size_t cursor = 0;  // byte offset into the document's text
  Settings settings;
  // Other open documents: snippets from them fill leftover prompt budget.
  std::vector<const Document*> others;
  // The deadline counts from here (when the editor's request arrived).
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
  std::shared_ptr<const CancellationToken> cancel;  // may be null
};

struct Completion {
  enum class Outcome {
    kOk,            // text may still be empty: nothing sensible to propose
    kCancelled,     // the token was set before or while decoding
    kInvalidInput,  // the request does not fit the document (error says how)
    kFailed,        // no model, or the engine failed (error says why)
  };
  Outcome outcome = Outcome::kOk;
  std::string error;
  std::string text;
  // The bytes of the document the text replaces: [start, end). Today every
  // completion inserts at the cursor (start == end == cursor).
  size_t start = 0, end = 0;
  bool from_typeahead = false;  // answered from the completion last shown; no model ran
  bool hit_deadline = false;    // the text is what was decoded by the deadline
  // Why decoding stopped (inference's stop_reason_name, "end_of_scope" for
  // the scope's stop rule); empty when no model ran.
  std::string stop_reason;
  std::optional<GenerationStats> stats;  // the engine's account; absent when no model ran
  bool prompt_truncated = false;
  // Alternatives decoded because the greedy completion broke the syntax
  // (Settings::syntax_retries), and whether `text` is one of them. `stats`
  // stays the greedy decode's.
  int retries = 0;
  bool from_retry = false;

  bool ok() const { return outcome == Outcome::kOk; }
};

class Completer {
 public:
  // `model` may be null: requests that need it then fail with kFailed (a
  // typed-ahead answer still works). The model must outlive the completer.
  explicit Completer(CompletionModel* model, CompleterOptions options = {});

  void set_model(CompletionModel* model) { model_ = model; }
  CompletionModel* model() const { return model_; }

  Completion complete(OpenDocument& document, const CompletionRequest& request);

  // complete() in two halves around decoding, for a caller that decodes
  // elsewhere (the language server, through the scheduler:
  // inference/scheduler.h). begin() either answers at once (`answer` set:
  // typed-ahead, nothing to complete, a failure) or gives the request to
  // decode on `sequence` (the document's, kept alive by the model). The
  // document may change or close meanwhile: finish() works from the text
  // as it was, and remembers the shown completion only in a document
  // still unchanged (pass null for a closed one).
  struct Pending {
    std::optional<Completion> answer;
    GenerationRequest request;
    CompletionModel::Sequence* sequence = nullptr;
    CompletionPlan plan;
    size_t cursor = 0;
    std::string text_then;
    Language language = Language::kPlain;
    // Syntax retries (Settings::syntax_retries): the check (null when the
    // language has none or retries are off), the retries allowed and run,
    // and the best completion so far with its error count.
    std::shared_ptr<const SyntaxCheck> check;
    int retries_allowed = 0;
    double retry_temperature = 0.8;
    int retries = 0;
    std::optional<Completion> best;
    int best_errors = 0;
    double greedy_decode_ms = 0;  // what an alternative is expected to take
  };
  Pending begin(OpenDocument& document, const CompletionRequest& request);
  // After each decode of `pending.request` on `pending.sequence`: the
  // completion, or nullopt when an alternative is wanted (the greedy text
  // broke the syntax and retries and time remain). `pending.request` then
  // asks for it: decode it on the same sequence and call step() again.
  std::optional<Completion> step(OpenDocument* document, Pending& pending, Result<GenerationResult> result);
  // step() that asks for no further decode: the best completion so far.
  Completion finish(OpenDocument* document, const Pending& pending, Result<GenerationResult> result);

  // The prompt ids for `plan` in the model's fill-in-the-middle template
  // (the suffix dropped when the plan or the model has no FIM).
  static std::vector<int32_t> prompt_ids(const Tokenizer& tokenizer, const CompletionPlan& plan);

 private:
  CompletionModel* model_;
  CompleterOptions options_;
};

}  // namespace mtpc::completion
