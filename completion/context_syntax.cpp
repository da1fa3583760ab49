// Text helpers, language traits and the tree queries behind the prompt:
// imports, enclosing definitions and their signatures, file outlines.
#include "completion/context_syntax.h"

#include <algorithm>
#include <cstring>

namespace mtpc::completion::detail {
namespace {

bool type_in(const char* type, std::initializer_list<const char*> types) {
  for (const char* t : types) {
    if (std::strcmp(type, t) == 0) return true;
  }
  return false;
}

// Node types of the eight grammars that define something with a signature
// worth keeping: functions, methods, classes and their kin.
bool is_definition(TSNode node) {
  return type_in(
      ts_node_type(node),
      {// Python
       "function_definition", "class_definition",
       // JavaScript / TypeScript
       "function_declaration", "function_expression", "function", "generator_function_declaration",
       "method_definition", "class_declaration", "abstract_class_declaration", "class",
       "interface_declaration", "arrow_function",
       // C / C++
       "class_specifier", "struct_specifier", "union_specifier", "namespace_definition",
       // Go
       "method_declaration", "func_literal", "type_declaration",
       // Rust
       "function_item", "impl_item", "trait_item", "struct_item", "enum_item", "mod_item",
       // Java
       "enum_declaration", "constructor_declaration", "record_declaration"});
}

// Nodes that wrap a definition without being one (decorators, export,
// templates); the outline looks through them.
bool is_definition_wrapper(TSNode node) {
  return type_in(ts_node_type(node), {"decorated_definition", "export_statement",
                                      "template_declaration", "linkage_specification"});
}

bool is_import(TSNode node) {
  return type_in(ts_node_type(node),
                 {"import_statement", "import_from_statement", "future_import_statement",
                  "preproc_include", "using_declaration", "import_declaration", "package_clause",
                  "package_declaration", "use_declaration", "extern_crate_declaration"});
}

// Preprocessor conditionals (header guards) hold a header's includes.
bool is_preproc_container(TSNode node) {
  return type_in(ts_node_type(node), {"preproc_ifdef", "preproc_if", "preproc_else"});
}

// Calls `fn` on each named child. A tree cursor, not ts_node_named_child(i):
// that one walks from the first child on every call, quadratic over a file
// with thousands of top-level items.
template <typename Fn>
void for_each_named_child(TSNode parent, Fn&& fn) {
  TSTreeCursor cursor = ts_tree_cursor_new(parent);
  if (ts_tree_cursor_goto_first_child(&cursor)) {
    do {
      TSNode child = ts_tree_cursor_current_node(&cursor);
      if (ts_node_is_named(child)) fn(child);
    } while (ts_tree_cursor_goto_next_sibling(&cursor));
  }
  ts_tree_cursor_delete(&cursor);
}

void collect_imports(TSNode parent, int depth, std::vector<std::pair<size_t, size_t>>& out) {
  for_each_named_child(parent, [&](TSNode child) {
    if (is_import(child)) {
      out.emplace_back(ts_node_start_byte(child), ts_node_end_byte(child));
    } else if (depth > 0 && is_preproc_container(child)) {
      collect_imports(child, depth - 1, out);
    }
  });
}

void collect_outline(TSNode parent, int depth, std::vector<TSNode>& out) {
  for_each_named_child(parent, [&](TSNode child) {
    if (is_definition_wrapper(child) || is_preproc_container(child)) {
      collect_outline(child, depth, out);
      return;
    }
    if (!is_definition(child)) return;
    out.push_back(child);
    if (depth > 0) {
      TSNode body = ts_node_child_by_field_name(child, "body", 4);
      if (!ts_node_is_null(body)) collect_outline(body, depth - 1, out);
    }
  });
}

}  // namespace

size_t line_start(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  size_t nl = pos == 0 ? std::string_view::npos : text.rfind('\n', pos - 1);
  return nl == std::string_view::npos ? 0 : nl + 1;
}

size_t line_end(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  size_t nl = text.find('\n', pos);
  return nl == std::string_view::npos ? text.size() : nl;
}

static bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t utf8_floor(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  for (int i = 0; i < 3 && pos > 0 && pos < text.size() && is_continuation(text[pos]); ++i) --pos;
  return pos;
}

size_t utf8_ceil(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  for (int i = 0; i < 3 && pos < text.size() && is_continuation(text[pos]); ++i) ++pos;
  return pos;
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  return s;
}

size_t indent_width(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i;
}

bool is_closer(char c) { return c == ')' || c == ']' || c == '}'; }
bool is_opener(char c) { return c == '(' || c == '[' || c == '{'; }
char closer_for(char opener) {
  switch (opener) {
    case '(':
      return ')';
    case '[':
      return ']';
    case '{':
      return '}';
    default:
      return '\0';
  }
}

bool uses_indent_blocks(Language language) { return language == Language::kPython; }

bool uses_brace_blocks(Language language) {
  return language != Language::kPlain && language != Language::kPython;
}

const char* line_comment(Language language) {
  switch (language) {
    case Language::kPlain:
      return "";
    case Language::kPython:
      return "# ";
    default:
      return "// ";
  }
}

bool is_quote(Language language, char quote) {
  if (quote == '"') return true;
  if (quote == '\'') return language != Language::kRust;
  if (quote == '`')
    return language == Language::kJavaScript || language == Language::kTypeScript ||
           language == Language::kTsx || language == Language::kGo;
  return false;
}

// Calls `on_bracket(pos, c)` for every bracket of `text` outside string
// literals and line comments. A heuristic for fragments (completions) that
// tree-sitter cannot judge on their own: strings end at the line's end.
void scan_brackets(Language lang, std::string_view text,
                   const std::function<void(size_t, char)>& on_bracket) {
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (c == quote || (c == '\n' && quote != '`')) {
        quote = 0;
      }
      continue;
    }
    bool comment =
        (lang == Language::kPython && c == '#') ||
        (uses_brace_blocks(lang) && c == '/' && i + 1 < text.size() && text[i + 1] == '/');
    if (comment) {
      size_t nl = text.find('\n', i);
      if (nl == std::string_view::npos) return;
      i = nl;
      continue;
    }
    if (is_quote(lang, c)) {
      quote = c;
    } else if (is_opener(c) || is_closer(c)) {
      on_bracket(i, c);
    }
  }
}

// Python: whether the line starting at the end of `before` continues a
// statement (inside brackets, a triple-quoted string, or after a
// backslash), so its indentation says nothing about blocks. The completion
// is unfinished text the tree cannot judge yet; this scan can.
bool python_continues(std::string_view before) {
  int depth = 0;
  char quote = 0;
  bool triple = false;
  for (size_t i = 0; i < before.size(); ++i) {
    char c = before[i];
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (triple && c == quote && before.compare(i, 3, std::string(3, quote)) == 0) {
        quote = 0;
        i += 2;
      } else if (!triple && (c == quote || c == '\n')) {
        quote = 0;
      }
      continue;
    }
    if (c == '#') {
      size_t nl = before.find('\n', i);
      if (nl == std::string_view::npos) break;
      i = nl;
    } else if (c == '"' || c == '\'') {
      quote = c;
      triple = before.compare(i, 3, std::string(3, c)) == 0;
      if (triple) i += 2;
    } else if (is_opener(c)) {
      ++depth;
    } else if (is_closer(c) && depth > 0) {
      --depth;
    }
  }
  bool backslash = before.size() >= 2 && before[before.size() - 2] == '\\';
  return quote != 0 || depth > 0 || backslash;
}

std::vector<std::pair<size_t, size_t>> import_ranges(TSNode root) {
  std::vector<std::pair<size_t, size_t>> out;
  // Two levels of #if nesting cover header guards plus one feature test.
  collect_imports(root, 2, out);
  return out;
}

std::vector<TSNode> enclosing_definitions(TSNode root, size_t pos) {
  std::vector<TSNode> out;
  uint32_t p = static_cast<uint32_t>(pos);
  TSNode node = ts_node_descendant_for_byte_range(root, p, p);
  for (; !ts_node_is_null(node); node = ts_node_parent(node)) {
    if (is_definition(node) && ts_node_start_byte(node) < p) out.push_back(node);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string signature_text(std::string_view text, TSNode definition) {
  size_t start = std::min<size_t>(ts_node_start_byte(definition), text.size());
  size_t begin = line_start(text, start);
  TSNode body = ts_node_child_by_field_name(definition, "body", 4);
  size_t end;
  if (ts_node_is_null(body) || ts_node_start_byte(body) <= start) {
    end = line_end(text, start);
  } else {
    end = std::min<size_t>(ts_node_start_byte(body), text.size());
    if (end < text.size() && text[end] == '{') ++end;
  }
  return std::string(trim_right(text.substr(begin, end - begin)));
}

std::vector<TSNode> outline_definitions(TSNode root) {
  std::vector<TSNode> out;
  collect_outline(root, 1, out);
  return out;
}

size_t enclosing_brace_open(std::string_view text, TSNode root, size_t pos) {
  uint32_t p = static_cast<uint32_t>(std::min(pos, text.size()));
  for (TSNode node = ts_node_descendant_for_byte_range(root, p, p); !ts_node_is_null(node);
       node = ts_node_parent(node)) {
    size_t s = ts_node_start_byte(node);
    size_t e = ts_node_end_byte(node);
    if (s < text.size() && text[s] == '{' && s < p && (p < e || ts_node_has_error(node))) return s;
  }
  return std::string_view::npos;
}

}  // namespace mtpc::completion::detail
