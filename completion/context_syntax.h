// Internal to completion/context_*.cpp: RAII handles over the tree-sitter C API, the
// compiled-in grammars, the Document's state, and the text and syntax
// helpers that the prompt builder and the stop rule share.
#pragma once

#include <tree_sitter/api.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "completion/context.h"

namespace mtpc::completion::detail {

struct ParserDeleter {
  void operator()(TSParser* p) const { ts_parser_delete(p); }
};
struct TreeDeleter {
  void operator()(TSTree* t) const { ts_tree_delete(t); }
};
using ParserHandle = std::unique_ptr<TSParser, ParserDeleter>;
using TreeHandle = std::unique_ptr<TSTree, TreeDeleter>;

// The grammar compiled in for `language`; nullptr for kPlain.
const TSLanguage* grammar_for(Language language);

// Texts above this size get no tree: parsing them on every keystroke would
// cost more than the context is worth, and tree-sitter offsets are 32-bit.
constexpr size_t kMaxTreeBytes = size_t{16} << 20;
// A parse that takes longer than this is abandoned (the document works as
// plain text until the next edit) so a pathological input cannot stall.
constexpr uint64_t kParseTimeoutMicros = 2'000'000;

// A parser for `language` with the timeout set; null without a grammar.
ParserHandle make_parser(Language language);
// Parses `text`, reusing `old_tree` (already edited) when given. Null when the
// text is too large or the parse failed or timed out (the parser is reset).
TreeHandle parse(TSParser* parser, const TSTree* old_tree, std::string_view text);

// `text` with `inserted` put at byte `at` (written into `buffer`), parsed
// incrementally from `base_tree` (the tree of `text`). Null when the parse
// fails or times out.
TreeHandle parse_with_insertion(TSParser* parser, const TSTree* base_tree, std::string_view text, size_t at,
                                std::string_view inserted, std::string& buffer);

// The row/column point of byte `offset` (clamped) in `text`.
TSPoint point_at(std::string_view text, size_t offset);
// The point reached from `start` after the bytes of `inserted`.
TSPoint advance_point(TSPoint start, std::string_view inserted);

}  // namespace mtpc::completion::detail

namespace mtpc::completion {

struct Document::Impl {
  Language language = Language::kPlain;
  std::string text;
  std::string name;
  detail::ParserHandle parser;
  detail::TreeHandle tree;
};

}  // namespace mtpc::completion

namespace mtpc::completion::detail {

// ---- text helpers (byte offsets, all clamped) ----
size_t line_start(std::string_view text, size_t pos);
size_t line_end(std::string_view text, size_t pos);
// Moves `pos` back (floor) or forward (ceil) to the start of a UTF-8
// sequence; at most 3 steps, so runs of stray continuation bytes in invalid
// text cannot move it far.
size_t utf8_floor(std::string_view text, size_t pos);
size_t utf8_ceil(std::string_view text, size_t pos);
bool is_blank(std::string_view s);
std::string_view trim_right(std::string_view s);
std::string_view trim_left(std::string_view s);
size_t indent_width(std::string_view line);  // leading spaces/tabs, in bytes
bool is_closer(char c);
bool is_opener(char c);
char closer_for(char opener);

// ---- language traits ----
bool uses_indent_blocks(Language language);   // Python
bool uses_brace_blocks(Language language);    // C-family, Go, Rust, Java, JS/TS
const char* line_comment(Language language);  // "# ", "// "; "" for kPlain
// Whether `quote` starts a string in this language's bracket scanning (Rust's
// ' is also a lifetime, so it is not treated as a quote there).
bool is_quote(Language language, char quote);

// Calls `on_bracket(pos, c)` for every bracket of `text` outside string
// literals and line comments. A heuristic for fragments (completions) that
// tree-sitter cannot judge on their own: strings end at the line's end.
void scan_brackets(Language lang, std::string_view text,
                   const std::function<void(size_t, char)>& on_bracket);

// Python: whether a line starting right after `before` continues a
// statement (open brackets, a triple-quoted string, a backslash), so its
// indentation says nothing about blocks.
bool python_continues(std::string_view before);

// ---- syntax queries over a tree ----
// Top-level import-like statements (imports, includes, use, package), in
// order, as [start, end) byte ranges.
std::vector<std::pair<size_t, size_t>> import_ranges(TSNode root);
// The enclosing definitions (functions, classes, impls, ...) around `pos`,
// outermost first.
std::vector<TSNode> enclosing_definitions(TSNode root, size_t pos);
// The header of a definition: from the start of its first line up to its
// body (for brace bodies including the '{'), trailing blanks trimmed.
std::string signature_text(std::string_view text, TSNode definition);
// Top-level and one-level-nested definitions of a tree, for snippets.
std::vector<TSNode> outline_definitions(TSNode root);
// The '{' position of the innermost brace-delimited node around `pos`
// (strictly inside it), or npos.
size_t enclosing_brace_open(std::string_view text, TSNode root, size_t pos);

// ---- the cursor's place: shared by plan_completion and StopRule ----
struct CursorSite {
  size_t cursor = 0;        // clamped to the text and to a UTF-8 boundary
  std::string_view before;  // the line up to the cursor
  std::string_view after;   // the line from the cursor
  CompletionScope scope = CompletionScope::kLine;
  bool skip = false;
  // kBlock, Python: a completed line indented less than this ends the block.
  size_t indent_threshold = 0;
  // kBlock, brace languages: the '{' that opens the block, npos if unknown.
  size_t brace_open = std::string_view::npos;
};
// Views into doc.text(): valid while the document is unchanged.
CursorSite analyze_cursor(const Document& doc, size_t cursor);
// The tree of a document (null without one), for the stop rule's reparses.
const TSTree* document_tree(const Document& doc);

}  // namespace mtpc::completion::detail
