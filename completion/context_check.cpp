// SyntaxCheck (context.h): error nodes near a completion, judged on the
// document with the completion inserted.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_set>
#include <optional>
#include <string>
#include <vector>

#include "completion/context.h"
#include "completion/context_syntax.h"

namespace mtpc::completion {
namespace {

// Error and missing nodes under `root` that overlap [begin, end]
// (iteratively: a tree may be nested deeper than the stack allows).
int count_errors(TSNode root, uint32_t begin, uint32_t end) {
  int n = 0;
  std::vector<TSNode> stack{root};
  while (!stack.empty()) {
    TSNode node = stack.back();
    stack.pop_back();
    const uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
    if (e < begin || (e == begin && s < e) || s > end) continue;
    if (!ts_node_has_error(node)) continue;
    if (ts_node_is_missing(node) || std::string_view(ts_node_type(node)) == "ERROR") ++n;
    const uint32_t children = ts_node_child_count(node);
    for (uint32_t i = 0; i < children; ++i) stack.push_back(ts_node_child(node, i));
  }
  return n;
}

// Python's indentation rules, which tree-sitter's Python grammar does not
// enforce (it accepts an empty block and ignores an indent that opens none).
// Logical lines (brackets, strings and backslashes join physical lines;
// blank and comment-only lines do not count) are scanned from `from`, a line
// start outside any string or bracket; a logical line that starts inside
// [begin, end] is an error when:
//   - the line before it ends with ':' (opens a block) and it is not
//     indented deeper (IndentationError: expected an indented block);
//   - it is indented deeper although the line before opens no block
//     (unexpected indent);
//   - it dedents to a column no enclosing block is at (unindent does not
//     match any outer indentation level).
// A last logical line that opens a block with nothing after it, inside the
// range, counts too. A block opener that starts at `typed_line` (the
// cursor's line, when the user had written some of it) may stay without a
// body: while typing `for x in xs` a completion ":" is right, and the body
// comes next.
int python_indentation_errors(std::string_view text, size_t from, size_t begin, size_t end, size_t typed_line) {
  struct Logical {
    size_t indent = 0;
    bool opens_block = false;
    size_t start = 0;
  };
  std::optional<Logical> previous;
  std::vector<size_t> levels{0};
  int errors = 0;
  size_t pos = from;
  int depth = 0;
  char quote = 0;
  bool triple = false;
  bool continued = false;  // the physical line continues a logical line
  bool last_opens_in_range = false;
  while (pos < text.size()) {
    const size_t eol = detail::line_end(text, pos);
    std::string_view line = text.substr(pos, eol - pos);
    if (pos > end && !continued) break;
    bool starts_logical = false;
    if (!continued) {
      const size_t indent = detail::indent_width(line);
      const bool blank = indent == line.size() || line[indent] == '#' || line[indent] == '\r';
      if (!blank) {
        starts_logical = true;
        const bool judged = pos >= begin && pos <= end;
        if (previous) {
          bool bad = false;
          if (previous->opens_block) {
            bad = indent <= previous->indent && previous->start != typed_line;
            if (indent > previous->indent) levels.push_back(indent);
          } else if (indent > previous->indent) {
            bad = true;
          }
          if (!bad && indent < previous->indent) {
            while (levels.size() > 1 && levels.back() > indent) levels.pop_back();
            bad = levels.back() != indent;
          }
          if (bad && judged) ++errors;
          if (bad) {  // carry on from this line's indentation
            while (levels.size() > 1 && levels.back() > indent) levels.pop_back();
            if (levels.back() != indent) levels.push_back(indent);
          }
        }
        previous = Logical{indent, false, pos};
        last_opens_in_range = false;
        (void)judged;
      }
    }
    // Lex the physical line: strings, comments, brackets, the last
    // significant character.
    char last = 0;
    for (size_t i = pos; i < eol; ++i) {
      const char c = text[i];
      if (quote) {
        if (c == '\\') {
          ++i;
        } else if (c == quote && (!triple || text.compare(i, 3, std::string(3, quote)) == 0)) {
          if (triple) i += 2;
          quote = 0;
          last = c;
        }
        continue;
      }
      if (c == '#') break;
      if (c == '"' || c == '\'') {
        quote = c;
        triple = text.compare(i, 3, std::string(3, c)) == 0;
        if (triple) i += 2;
        continue;
      }
      if (detail::is_opener(c)) ++depth;
      if (detail::is_closer(c) && depth > 0) --depth;
      if (c != ' ' && c != '\t' && c != '\r') last = c;
    }
    if (quote && !triple) quote = 0;  // an unclosed one-line string ends with its line
    const bool backslash = eol > pos && text[eol - 1] == '\\';
    continued = quote != 0 || depth > 0 || backslash;
    if (!continued && previous && (starts_logical || last != 0)) {
      previous->opens_block = last == ':';
      last_opens_in_range =
          previous->opens_block && previous->start != typed_line && pos >= begin && pos <= end;
    }
    if (eol >= text.size()) {
      pos = text.size();
      break;
    }
    pos = eol + 1;
  }
  // The file ends after a line that opens a block.
  if (pos >= text.size() && last_opens_in_range) ++errors;
  return errors;
}

bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
bool is_word(char c) { return is_word_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Python's keywords, soft keywords and builtins (3.12): names a completion
// may use that no document defines.
const std::unordered_set<std::string_view>& python_known_names() {
  static const std::unordered_set<std::string_view> names = {
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
      "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
      "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match", "case",
      "type", "_", "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "breakpoint", "bytearray",
      "bytes", "callable", "chr", "classmethod", "compile", "complex", "copyright", "credits", "delattr", "dict",
      "dir", "divmod", "enumerate", "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr",
      "globals", "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance", "issubclass", "iter",
      "len", "license", "list", "locals", "map", "max", "memoryview", "min", "next", "object", "oct", "open",
      "ord", "pow", "print", "property", "quit", "range", "repr", "reversed", "round", "set", "setattr",
      "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "vars", "zip", "__import__",
      "__name__", "__file__", "__doc__", "__debug__", "__builtins__", "__spec__", "__loader__", "__package__",
      "NotImplemented", "Ellipsis", "BaseException", "BaseExceptionGroup", "Exception", "ExceptionGroup",
      "ArithmeticError", "AssertionError", "AttributeError", "BufferError", "EOFError", "FloatingPointError",
      "GeneratorExit", "ImportError", "ModuleNotFoundError", "IndexError", "KeyError", "KeyboardInterrupt",
      "LookupError", "MemoryError", "NameError", "NotImplementedError", "OSError", "OverflowError",
      "RecursionError", "ReferenceError", "RuntimeError", "StopIteration", "StopAsyncIteration", "SyntaxError",
      "IndentationError", "TabError", "SystemError", "SystemExit", "TypeError", "UnboundLocalError",
      "UnicodeError", "UnicodeEncodeError", "UnicodeDecodeError", "UnicodeTranslateError", "ValueError",
      "ZeroDivisionError", "EnvironmentError", "IOError", "Warning", "UserWarning", "DeprecationWarning",
      "PendingDeprecationWarning", "SyntaxWarning", "RuntimeWarning", "FutureWarning", "ImportWarning",
      "UnicodeWarning", "BytesWarning", "ResourceWarning", "EncodingWarning", "ConnectionError",
      "BlockingIOError", "BrokenPipeError", "ChildProcessError", "ConnectionAbortedError",
      "ConnectionRefusedError", "ConnectionResetError", "FileExistsError", "FileNotFoundError",
      "InterruptedError", "IsADirectoryError", "NotADirectoryError", "PermissionError", "ProcessLookupError",
      "TimeoutError"};
  return names;
}

// The identifiers of a Python tree's code: every `identifier` node outside
// strings (but inside f-string interpolations) and comments. A word that
// only a docstring or a comment uses is no name the code has.
std::unordered_set<std::string> code_names(TSNode root, std::string_view text) {
  std::unordered_set<std::string> out;
  std::vector<std::pair<TSNode, bool>> stack{{root, false}};  // (node, inside a string)
  while (!stack.empty()) {
    auto [node, in_string] = stack.back();
    stack.pop_back();
    const std::string_view type = ts_node_type(node);
    if (type == "comment") continue;
    if (type == "string") in_string = true;
    if (type == "interpolation") in_string = false;
    if (!in_string && type == "identifier") {
      const size_t b = ts_node_start_byte(node), e = ts_node_end_byte(node);
      if (b < e && e <= text.size()) out.emplace(text.substr(b, e - b));
      continue;
    }
    const uint32_t n = ts_node_child_count(node);
    for (uint32_t i = 0; i < n; ++i) stack.emplace_back(ts_node_child(node, i), in_string);
  }
  return out;
}

// Python: the distinct names `code` reads from its byte `from` on that are
// neither in `known` (the document's words) nor builtins, nor bound by
// `code` itself (assignment targets, for/as/def/class/import/lambda/global
// names, parameters). Attributes (after '.') and keyword arguments are not
// reads. Strings and comments are skipped.
int python_unknown_names(std::string_view code, size_t from, const std::unordered_set<std::string>& known) {
  struct Token {
    std::string_view word;  // empty: punctuation in `punct`
    char punct = 0;
    size_t end = 0;
    int depth = 0;
  };
  std::vector<Token> tokens;
  int depth = 0;
  for (size_t i = 0; i < code.size();) {
    const char c = code[i];
    if (c == '#') {
      while (i < code.size() && code[i] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      const bool triple = code.compare(i, 3, std::string(3, c)) == 0;
      i += triple ? 3 : 1;
      while (i < code.size()) {
        if (code[i] == '\\') {
          i += 2;
        } else if (triple ? code.compare(i, 3, std::string(3, c)) == 0 : (code[i] == c || code[i] == '\n')) {
          i += triple ? 3 : 1;
          break;
        } else {
          ++i;
        }
      }
      tokens.push_back({{}, '"', i, depth});
      continue;
    }
    if (is_word_start(c)) {
      size_t j = i;
      while (j < code.size() && is_word(code[j])) ++j;
      // A string prefix (f"...", rb'...') belongs to its string.
      if (j < code.size() && (code[j] == '"' || code[j] == '\'') && j - i <= 2) {
        i = j;
        continue;
      }
      tokens.push_back({code.substr(i, j - i), 0, j, depth});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (i < code.size() && (is_word(code[i]) || code[i] == '.')) ++i;
      tokens.push_back({{}, '0', i, depth});
      continue;
    }
    if (detail::is_opener(c)) ++depth;
    if (detail::is_closer(c) && depth > 0) --depth;
    if (c == '\n') {
      tokens.push_back({{}, '\n', i + 1, depth});
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\\') {
      // '=' alone (not ==, <=, >=, !=, :=, +=, ...) marks an assignment or a
      // keyword argument; ':=' binds too.
      char p = c;
      if (c == '=' && i + 1 < code.size() && code[i + 1] == '=') p = 'E';
      else if (c == '=' && i > 0 && std::strchr("=<>!:+-*/%&|^@", code[i - 1])) p = 'A';
      tokens.push_back({{}, p, i + 1, depth});
    }
    ++i;
  }
  std::unordered_set<std::string_view> bound;
  // Bindings: a statement's words before its top-level '=' (or an augmented
  // one), words after for (up to in), as, def, class, import, global,
  // nonlocal, lambda (up to ':'), a def's parameters, before ':='.
  size_t stmt = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Token& k = tokens[t];
    if (k.punct == '\n' && k.depth == 0) stmt = t + 1;
    if (!k.word.empty()) {
      const std::string_view w = k.word;
      auto bind_until = [&](auto stop) {
        for (size_t u = t + 1; u < tokens.size() && !stop(tokens[u]); ++u)
          if (!tokens[u].word.empty() && (u == 0 || tokens[u - 1].punct != '.')) bound.insert(tokens[u].word);
      };
      if (w == "for") bind_until([](const Token& x) { return x.word == "in" || x.punct == '\n'; });
      if (w == "as" || w == "class" || w == "global" || w == "nonlocal")
        bind_until([](const Token& x) { return x.punct == ':' || x.punct == '\n' || x.punct == '(' || x.punct == ')'; });
      if (w == "import") bind_until([](const Token& x) { return x.punct == '\n' || x.punct == ';'; });
      if (w == "lambda") bind_until([](const Token& x) { return x.punct == ':' || x.punct == '\n'; });
      if (w == "def") {
        const int d = k.depth;
        bind_until([d](const Token& x) { return (x.punct == ':' && x.depth == d) || x.punct == '\n'; });
      }
    }
    if ((k.punct == '=' && k.depth == 0) || k.punct == 'A') {
      for (size_t u = stmt; u < t; ++u)
        if (!tokens[u].word.empty() && (u == 0 || tokens[u - 1].punct != '.')) bound.insert(tokens[u].word);
    }
    if (k.punct == ':' && t + 1 < tokens.size() && tokens[t + 1].punct == 'A' && t > 0) bound.insert(tokens[t - 1].word);
  }
  const auto& builtins = python_known_names();
  std::unordered_set<std::string_view> unknown;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Token& k = tokens[t];
    if (k.word.empty() || k.end <= from) continue;
    if (t > 0 && tokens[t - 1].punct == '.') continue;                     // an attribute
    if (t + 1 < tokens.size() && tokens[t + 1].punct == '=' && k.depth > 0) continue;  // a keyword argument
    if (t > 0 && !tokens[t - 1].word.empty() && tokens[t - 1].word == "from") continue;  // from MODULE import
    if (builtins.count(k.word) || bound.count(k.word) || known.count(std::string(k.word))) continue;
    unknown.insert(k.word);
  }
  return static_cast<int>(unknown.size());
}

}  // namespace

struct SyntaxCheck::Impl {
  Language language = Language::kPlain;
  bool typed_line = false;  // the cursor's line has text before the cursor
  // Python: names are checked unless the cursor is in a string or comment
  // or the document imports `*` (any name may be defined then).
  bool check_names = false;
  // The names the document's code uses: built at the first check, so a
  // request whose greedy text is never checked does not walk the tree.
  mutable std::optional<std::unordered_set<std::string>> words;
  std::string text;
  size_t cursor = 0;
  detail::ParserHandle parser;
  detail::TreeHandle base_tree;
};

SyntaxCheck::SyntaxCheck(const Document& doc, size_t cursor) : impl_(std::make_unique<Impl>()) {
  const TSTree* tree = detail::document_tree(doc);
  if (!tree) return;
  impl_->language = doc.language();
  impl_->text = doc.text();
  impl_->cursor = detail::utf8_floor(impl_->text, std::min(cursor, impl_->text.size()));
  const size_t line = detail::line_start(impl_->text, impl_->cursor);
  impl_->typed_line = !detail::is_blank(std::string_view(impl_->text).substr(line, impl_->cursor - line));
  impl_->parser = detail::make_parser(doc.language());
  if (impl_->parser) impl_->base_tree.reset(ts_tree_copy(tree));
  if (detail::uses_indent_blocks(doc.language()) && impl_->text.find("import *") == std::string::npos) {
    bool in_text = false;
    const uint32_t at = static_cast<uint32_t>(impl_->cursor);
    for (TSNode n = ts_node_descendant_for_byte_range(ts_tree_root_node(tree), at, at); !ts_node_is_null(n);
         n = ts_node_parent(n)) {
      const std::string_view type = ts_node_type(n);
      if ((type == "string" || type == "comment" || type == "string_content") && ts_node_start_byte(n) < at &&
          (ts_node_end_byte(n) > at || type == "comment")) {
        in_text = true;
        break;
      }
    }
    impl_->check_names = !in_text;
  }
}

SyntaxCheck::~SyntaxCheck() = default;
SyntaxCheck::SyntaxCheck(SyntaxCheck&&) noexcept = default;

bool SyntaxCheck::available() const { return impl_->parser && impl_->base_tree; }

std::optional<int> SyntaxCheck::errors_near(std::string_view completion) const {
  if (!available()) return std::nullopt;
  const std::string& text = impl_->text;
  const size_t cursor = impl_->cursor;
  if (text.size() + completion.size() > detail::kMaxTreeBytes) return std::nullopt;
  std::string buffer;
  detail::TreeHandle tree =
      detail::parse_with_insertion(impl_->parser.get(), impl_->base_tree.get(), text, cursor, completion, buffer);
  if (!tree) return std::nullopt;

  // From the cursor's line to the end of the first non-blank line after the
  // inserted text (the line whose indentation or start the completion must
  // agree with).
  const std::string_view b(buffer);
  const size_t begin = detail::line_start(b, cursor);
  size_t end = detail::line_end(b, cursor + completion.size());
  while (end < b.size()) {
    const size_t next = detail::line_end(b, end + 1);
    end = next;
    if (!detail::is_blank(b.substr(detail::line_start(b, next), next - detail::line_start(b, next)))) break;
  }
  const TSNode root = ts_tree_root_node(tree.get());
  int errors = count_errors(root, static_cast<uint32_t>(begin), static_cast<uint32_t>(end));
  if (detail::uses_indent_blocks(impl_->language)) {
    // From the start of the top-level statement that holds the cursor: a
    // line at column 0 outside any string or bracket.
    size_t from = 0;
    const uint32_t children = ts_node_child_count(root);
    for (uint32_t i = 0; i < children; ++i) {
      const TSNode child = ts_node_child(root, i);
      const size_t start = ts_node_start_byte(child);
      if (start > begin) break;
      if (detail::line_start(b, start) == start && !ts_node_has_error(child)) from = start;
    }
    errors += python_indentation_errors(b, from, begin, end, impl_->typed_line ? begin : std::string_view::npos);
    if (impl_->check_names) {
      // The cursor's line around the completion: whole words and what
      // precedes and follows them ('.', '=').
      const size_t line = detail::line_start(text, cursor);
      std::string code(text, line, cursor - line);
      const size_t completion_from = code.size();
      code.append(completion);
      code.append(text, cursor, detail::line_end(text, cursor) - cursor);
      if (!impl_->words) impl_->words = code_names(ts_tree_root_node(impl_->base_tree.get()), impl_->text);
      errors += python_unknown_names(code, completion_from, *impl_->words);
    }
  }
  return errors;
}

}  // namespace mtpc::completion
