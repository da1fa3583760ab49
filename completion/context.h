// Editor context for one completion: documents with their tree-sitter trees,
// the prompt built around the cursor, and where the completion should end.
// Torch-free and engine-free: the completer (completion/completer.h) turns
// a CompletionPlan into a GenerationRequest and the result into a completion.
//
// All offsets are UTF-8 byte offsets into the document text. Converting
// editor positions (utf-16 or utf-8 code units) to bytes is the front end's
// job (lsp/text.h).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtpc::completion {

enum class Language { kPlain, kPython, kJavaScript, kTypeScript, kTsx, kC, kCpp, kGo, kRust, kJava };
const char* language_name(Language language);
// From an LSP languageId ("python", "typescriptreact", "cpp", ...); unknown
// ids give kPlain (plain-text windows, no tree).
Language language_from_id(std::string_view language_id);
// From a file name's extension (.py, .tsx, .h, ...), for `mtpc complete`.
Language language_from_path(std::string_view path);

// One open document: its text and, for languages with a grammar, its syntax
// tree, reparsed incrementally on every edit. Owns its TSParser and TSTree;
// one thread at a time (the server's document store). Never throws on bad
// text: invalid UTF-8 parses with error nodes, a parse that fails or times
// out leaves has_tree() false and the document works as plain text.
class Document {
 public:
  // `name` (a path or URI) labels this document's snippets in other
  // documents' prompts; it may be empty. A moved-from Document may only be
  // assigned to or destroyed.
  Document(Language language, std::string text, std::string name = {});
  ~Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;

  Language language() const;
  const std::string& text() const;
  bool has_tree() const;  // false for kPlain or when parsing failed
  const std::string& name() const;
  // The tree as an S-expression (ts_node_string of the root); empty without
  // a tree. For tests and debugging: an incremental reparse must give the
  // same string as a fresh parse.
  std::string tree_string() const;

  // Replaces bytes [start, end) with `replacement` (clamped to the text) and
  // reparses incrementally.
  void edit(size_t start, size_t end, std::string_view replacement);
  // Replaces the whole text (full sync) and reparses.
  void set_text(std::string text);

  struct Impl;  // completion/context_syntax.h: the TSParser and TSTree
  const Impl& impl() const { return *impl_; }  // for completion/context_*.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

struct ContextOptions {
  size_t token_budget = 1536;   // prompt tokens (bytes: the model is byte-level)
  double suffix_share = 0.25;   // share of the budget for the suffix (FIM)
  bool fim = true;              // use fill-in-the-middle when the model has it
  int max_lines = 8;            // longest multi-line completion, in lines
  // When the prefix window is cut: the most of the prefix budget that the
  // kept imports and enclosing signatures may take (the window near the
  // cursor matters more).
  double header_share = 0.4;
  // Snippets from other documents are added only when at least this much
  // prefix budget is left, each at most snippet_max_bytes.
  size_t snippet_min_bytes = 64;
  size_t snippet_max_bytes = 512;
};

// Where a completion ends (see the issue): kLine, the rest of the current
// line; kBlock, a multi-line body that stops where the block ends.
enum class CompletionScope { kLine, kBlock };

struct CompletionPlan {
  // The prompt: prefix is the text the model continues (imports, enclosing
  // signature and snippets from other documents kept at its start when the
  // window is cut); suffix is the text after the cursor, non-empty only in
  // FIM mode. The completer lays them out in the model's fill-in-the-middle
  // template (model/tokenizer/fim_template.h); plain: the prefix alone.
  std::string prefix;
  std::string suffix;
  bool fim = false;
  CompletionScope scope = CompletionScope::kLine;
  // Nothing sensible to complete: the cursor is in the middle of a word
  // (anything inserted would split it). finalize_completion then gives "".
  bool skip = false;
};

// Builds the prompt and scope for a completion at byte `cursor` of `doc`
// (clamped to the text, moved back to the start of a UTF-8 sequence).
// `others` are the other open documents (snippets while budget remains; null
// entries and `doc` itself are ignored). The prompt never exceeds
// options.token_budget bytes in all and never splits a UTF-8 sequence.
//
// Scope: kLine when the cursor is mid-line (text after it on the line other
// than closing brackets, ';' or ',') or after code on its line; kBlock after
// a block opener (Python ':' outside brackets, '{' elsewhere) or on a blank
// line inside a block (Python: an indented blank line; brace languages: the
// tree puts the cursor inside a '{...}' node). kPlain is always kLine.
CompletionPlan plan_completion(const Document& doc, size_t cursor,
                               const std::vector<const Document*>& others,
                               const ContextOptions& options);

// The stop rule, run inside the decoding loop as the engine's predicate:
// called with the completion text decoded so far, it returns the number of
// bytes to keep once the completion should end (end of line in kLine scope;
// end of block in kBlock scope, judged with tree-sitter on the document with
// the text inserted at the cursor; max_lines), nullopt to go on.
//
// Cheap per call: kLine looks for a newline; kBlock judges only the lines
// completed since the last call (Python: a non-blank line indented below the
// block that is no string or bracket continuation ends it, the newline
// before it is the end; brace languages: the document with the completion
// inserted is reparsed incrementally and the block ends at the '}' that
// closes the node opened by the block's '{', by bracket counting when there
// is no tree). Calls must pass ever longer texts of one completion; a text
// that does not extend the last one starts over. Copies what it needs from
// the document (the document may change afterwards). One thread at a time.
class StopRule {
 public:
  StopRule(const Document& doc, size_t cursor, const CompletionPlan& plan,
           const ContextOptions& options);
  ~StopRule();
  StopRule(StopRule&&) noexcept;
  std::optional<size_t> operator()(std::string_view completion) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// How a completion leaves the syntax around it: the tree-sitter error nodes
// (ERROR and MISSING) of the document with the completion inserted at the
// cursor, counted from the start of the cursor's line to the end of the
// first non-blank line after the inserted text; for Python also the
// indentation errors there that its grammar lets pass (a block opener with
// no indented line after it, an indent that opens no block, a dedent to no
// enclosing column; an opener on a line the user had begun may stay
// without a body, as while typing one), and each distinct name the
// completion reads that the document's code never uses (its strings and
// comments do not count) and that is no builtin
// nor bound by the completion itself (`np` without numpy imported, a
// variable the model made up; not checked inside strings and comments, nor
// when the document imports `*`). The completer uses it to
// replace a greedy completion that breaks the code there (a Python line
// that opens a block where the next line is not indented, an indented line
// where it cannot be) with an alternative that does not. Copies what it
// needs from the document (which may change afterwards); reparses
// incrementally from the document's tree. One thread at a time.
class SyntaxCheck {
 public:
  SyntaxCheck(const Document& doc, size_t cursor);
  ~SyntaxCheck();
  SyntaxCheck(SyntaxCheck&&) noexcept;
  // False without a tree (kPlain, a document too large or that failed to
  // parse): errors_near() then gives nullopt.
  bool available() const;
  std::optional<int> errors_near(std::string_view completion) const;
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Post-processing of the final text: drops what the suffix already has
// (never repeat the rest of the line or the next lines), trims trailing
// whitespace-only lines, and keeps brackets balanced against the suffix:
// unmatched closers at the end that the suffix also has are dropped; in
// kLine scope an opener the completion leaves open is closed when the
// suffix starts with a closer (else it would take the suffix's). A partial
// UTF-8 sequence at the end is dropped. kLine keeps the first line only;
// a skipped plan gives "".
std::string finalize_completion(const Document& doc, size_t cursor, const CompletionPlan& plan,
                                std::string completion);

}  // namespace mtpc::completion
