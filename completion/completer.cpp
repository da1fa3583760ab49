#include "completion/completer.h"

#include <algorithm>

namespace mtpc::completion {

std::optional<std::string> typed_ahead(const ShownCompletion& shown, const std::string& text, size_t cursor) {
  if (cursor < shown.cursor) return std::nullopt;
  size_t typed = cursor - shown.cursor;
  if (typed == 0 || typed >= shown.completion.size()) return std::nullopt;
  if (text.size() != shown.text_then.size() + typed) return std::nullopt;
  if (text.compare(0, shown.cursor, shown.text_then, 0, shown.cursor) != 0) return std::nullopt;
  if (text.compare(shown.cursor, typed, shown.completion, 0, typed) != 0) return std::nullopt;
  if (text.compare(cursor, std::string::npos, shown.text_then, shown.cursor, std::string::npos) != 0)
    return std::nullopt;
  return shown.completion.substr(typed);
}

std::optional<size_t> offset_at(std::string_view text, int64_t line, int64_t byte_column) {
  if (line < 0 || byte_column < 0) return std::nullopt;
  size_t start = 0;
  for (int64_t l = 0; l < line; ++l) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return std::nullopt;
    start = nl + 1;
  }
  size_t end = text.find('\n', start);
  if (end == std::string_view::npos) end = text.size();
  size_t at = start + static_cast<size_t>(std::min<int64_t>(byte_column, static_cast<int64_t>(end - start)));
  while (at > start && at < end && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
  return at;
}

std::optional<Location> parse_location(const std::string& spec) {
  const size_t c2 = spec.rfind(':');
  if (c2 == std::string::npos || c2 == 0) return std::nullopt;
  const size_t c1 = spec.rfind(':', c2 - 1);
  if (c1 == std::string::npos || c1 == 0) return std::nullopt;
  Location at;
  try {
    size_t used = 0;
    at.line = std::stoll(spec.substr(c1 + 1, c2 - c1 - 1), &used);
    if (used != c2 - c1 - 1) return std::nullopt;
    at.column = std::stoll(spec.substr(c2 + 1), &used);
    if (used != spec.size() - c2 - 1) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (at.line < 1 || at.column < 1) return std::nullopt;
  at.path = spec.substr(0, c1);
  return at;
}

OpenDocument::OpenDocument(Language language, std::string text, std::string name)
    : document_(language, std::move(text), std::move(name)) {}

Completer::Completer(CompletionModel* model, CompleterOptions options) : model_(model), options_(options) {}

std::vector<int32_t> Completer::prompt_ids(const Tokenizer& tokenizer, const CompletionPlan& plan) {
  const FimTemplate fim = tokenizer.fim_template();
  const bool use_fim = plan.fim && fim.available();
  return fim.layout(tokenizer.encode(plan.prefix), use_fim ? tokenizer.encode_continuation(plan.suffix) : std::vector<int32_t>{},
                    use_fim);
}

Completion Completer::complete(OpenDocument& open, const CompletionRequest& request) {
  Pending pending = begin(open, request);
  if (pending.answer) return std::move(*pending.answer);
  for (;;) {
    if (std::optional<Completion> c = step(&open, pending, model_->generate(*pending.sequence, pending.request)))
      return std::move(*c);
  }
}

Completer::Pending Completer::begin(OpenDocument& open, const CompletionRequest& request) {
  Pending p;
  Completion c;
  c.start = c.end = request.cursor;
  auto fail = [&c, &p](Completion::Outcome outcome, std::string message) {
    c.outcome = outcome;
    c.error = std::move(message);
    p.answer = std::move(c);
    return std::move(p);
  };
  if (request.cancel && request.cancel->cancelled()) return fail(Completion::Outcome::kCancelled, "");
  const std::string& text = open.text();
  if (request.cursor > text.size())
    return fail(Completion::Outcome::kInvalidInput, "offset " + std::to_string(request.cursor) +
                                                        " is outside the document (" +
                                                        std::to_string(text.size()) + " bytes)");
  const size_t cursor = request.cursor;
  const Settings& settings = request.settings;

  if (open.shown_) {
    if (auto rest = typed_ahead(*open.shown_, text, cursor)) {
      c.from_typeahead = true;
      c.text = std::move(*rest);
      p.answer = std::move(c);
      return p;
    }
  }
  if (!model_) return fail(Completion::Outcome::kFailed, "no model loaded");

  const Tokenizer& tokenizer = model_->tokenizer();
  const FimTemplate fim = tokenizer.fim_template();
  ContextOptions ctx;
  ctx.fim = settings.fim && fim.available();
  ctx.max_lines = settings.max_lines;
  // What the engine keeps whole (it cuts longer prompts from the left,
  // markers first), less the template's own tokens.
  const int room = model_->max_prompt_tokens(settings.max_tokens) - static_cast<int>(fim.overhead_tokens());
  ctx.token_budget = std::min(options_.max_prompt_tokens,
                              static_cast<size_t>(std::max<int>(room, static_cast<int>(options_.min_prompt_tokens))));
  CompletionPlan plan = plan_completion(open.document(), cursor, request.others, ctx);
  if (settings.scope) {
    plan.scope = *settings.scope;
    plan.skip = false;
  }
  if (plan.skip) {
    p.answer = std::move(c);
    return p;
  }

  GenerationRequest& r = p.request;
  r.prompt = prompt_ids(tokenizer, plan);
  r.max_new_tokens = settings.max_tokens;
  r.mode = DecodeMode::kSpeculative;
  r.draft_length = settings.draft_length;
  auto stop = std::make_shared<StopRule>(open.document(), cursor, plan, ctx);
  r.stop_predicate = [stop](std::string_view completion) { return (*stop)(completion); };
  r.deadline = request.received + std::chrono::milliseconds(settings.deadline_ms);
  r.cancel = request.cancel;

  if (!open.sequence_) {
    auto seq = model_->new_sequence();
    if (!seq.ok()) return fail(Completion::Outcome::kFailed, seq.status().message());
    open.sequence_ = std::move(*seq);
  }
  p.sequence = open.sequence_.get();
  p.plan = std::move(plan);
  p.cursor = cursor;
  p.text_then = text;
  p.language = open.language();
  // Only where the completion writes the line from its start: on a line
  // the user has begun, the code around the cursor is usually mid-edit and
  // broken whatever follows, and there the sampled alternatives matched the
  // held-out lines worse than the greedy text (next-line benchmark: edit
  // similarity 20.62 -> 19.39 inside lines, 17.74 -> 18.16 at line starts).
  const size_t line = text.rfind('\n', cursor == 0 ? 0 : cursor - 1);
  const size_t line_begin = cursor == 0 || line == std::string::npos ? 0 : line + 1;
  const bool whole_line = text.find_first_not_of(" \t", line_begin) >= cursor;
  if (whole_line && settings.syntax_retries > 0 && settings.retry_temperature > 0) {
    auto check = std::make_shared<const SyntaxCheck>(open.document(), cursor);
    if (check->available()) {
      p.check = std::move(check);
      p.retries_allowed = settings.syntax_retries;
      p.retry_temperature = settings.retry_temperature;
    }
  }
  return p;
}

Completion Completer::finish(OpenDocument* open, const Pending& pending, Result<GenerationResult> result) {
  Pending last = pending;
  last.retries_allowed = 0;
  return *step(open, last, std::move(result));
}

std::optional<Completion> Completer::step(OpenDocument* open, Pending& p, Result<GenerationResult> result) {
  Completion c;
  c.start = c.end = p.cursor;
  const bool unchanged = open != nullptr && open->text() == p.text_then;
  // The completion to propose: remembered as shown (for typed-ahead
  // requests) in a document still unchanged.
  auto done = [&](Completion answer) -> std::optional<Completion> {
    answer.retries = p.retries;
    if (answer.ok() && unchanged && !answer.text.empty())
      open->shown_ = ShownCompletion{p.cursor, p.text_then, answer.text};
    return answer;
  };
  if (!result.ok() || result->reason == StopReason::kCancelled) {
    if (result.ok()) {
      c.outcome = Completion::Outcome::kCancelled;
      return done(std::move(c));
    }
    // A failed alternative leaves the greedy completion standing.
    if (p.best) return done(std::move(*p.best));
    c.outcome = Completion::Outcome::kFailed;
    c.error = result.status().message();
    return done(std::move(c));
  }
  c.hit_deadline = result->reason == StopReason::kDeadline;
  c.stats = result->stats;
  c.prompt_truncated = result->prompt_truncated;
  // The predicate here is the scope's end (of line or block).
  c.stop_reason = result->reason == StopReason::kPredicate ? "end_of_scope" : stop_reason_name(result->reason);
  if (unchanged) {
    c.text = finalize_completion(open->document(), p.cursor, p.plan, std::move(result->text));
  } else {
    // Edited or closed while decoding: the text the request was made on.
    const Document then(p.language, p.text_then);
    c.text = finalize_completion(then, p.cursor, p.plan, std::move(result->text));
  }
  if (!p.check) return done(std::move(c));

  const std::optional<int> errors = p.check->errors_near(c.text);
  if (!p.best) {
    // An alternative is sampled one token per pass: as long as the greedy
    // text, it takes about that many of the greedy decode's passes.
    if (c.stats && c.stats->forward_passes > 1 && c.stats->tokens > 0) {
      const double pass_ms = c.stats->decode_ms / static_cast<double>(c.stats->forward_passes - 1);
      p.greedy_decode_ms = pass_ms * static_cast<double>(c.stats->tokens);
    } else {
      p.greedy_decode_ms = c.stats ? c.stats->decode_ms : 0;
    }
    p.best = std::move(c);
    p.best_errors = errors.value_or(0);
  } else if (errors && *errors < p.best_errors && !c.hit_deadline && !c.text.empty()) {
    // An alternative that breaks less: its text, the greedy decode's account.
    p.best->text = std::move(c.text);
    p.best->stop_reason = std::move(c.stop_reason);
    p.best->from_retry = true;
    p.best_errors = *errors;
  }
  const bool time_left =
      !p.request.deadline ||
      std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(p.greedy_decode_ms) <
          *p.request.deadline;
  const bool cancelled = p.request.cancel && p.request.cancel->cancelled();
  if (p.best_errors == 0 || p.retries >= p.retries_allowed || p.best->hit_deadline || !time_left || cancelled)
    return done(std::move(*p.best));
  ++p.retries;
  p.request.mode = DecodeMode::kSampling;
  p.request.draft_length = 0;
  p.request.sampling.temperature = p.retry_temperature;
  p.request.sampling.top_k = 0;
  p.request.sampling.top_p = 0.95;
  p.request.sampling.seed = static_cast<uint64_t>(p.retries);
  return std::nullopt;
}

}  // namespace mtpc::completion
