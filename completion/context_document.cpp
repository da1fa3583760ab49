// Languages, grammars and Document: one tree per document, reparsed
// incrementally on every edit.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "completion/context.h"
#include "completion/context_syntax.h"

extern "C" {
const TSLanguage* tree_sitter_python(void);
const TSLanguage* tree_sitter_javascript(void);
const TSLanguage* tree_sitter_typescript(void);
const TSLanguage* tree_sitter_tsx(void);
const TSLanguage* tree_sitter_c(void);
const TSLanguage* tree_sitter_cpp(void);
const TSLanguage* tree_sitter_go(void);
const TSLanguage* tree_sitter_rust(void);
const TSLanguage* tree_sitter_java(void);
}

namespace mtpc::completion {

const char* language_name(Language language) {
  switch (language) {
    case Language::kPlain:
      return "plaintext";
    case Language::kPython:
      return "python";
    case Language::kJavaScript:
      return "javascript";
    case Language::kTypeScript:
      return "typescript";
    case Language::kTsx:
      return "typescriptreact";
    case Language::kC:
      return "c";
    case Language::kCpp:
      return "cpp";
    case Language::kGo:
      return "go";
    case Language::kRust:
      return "rust";
    case Language::kJava:
      return "java";
  }
  return "plaintext";
}

Language language_from_id(std::string_view id) {
  struct Entry {
    const char* id;
    Language language;
  };
  // LSP languageIds as VS Code and Neovim send them.
  static const Entry kIds[] = {
      {"python", Language::kPython},
      {"javascript", Language::kJavaScript},
      {"javascriptreact", Language::kJavaScript},
      {"jsx", Language::kJavaScript},
      {"typescript", Language::kTypeScript},
      {"typescriptreact", Language::kTsx},
      {"tsx", Language::kTsx},
      {"c", Language::kC},
      {"cpp", Language::kCpp},
      {"cuda-cpp", Language::kCpp},
      {"objective-cpp", Language::kCpp},
      {"go", Language::kGo},
      {"rust", Language::kRust},
      {"java", Language::kJava},
  };
  for (const auto& e : kIds) {
    if (id == e.id) return e.language;
  }
  return Language::kPlain;
}

Language language_from_path(std::string_view path) {
  size_t slash = path.find_last_of("/\\");
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return Language::kPlain;
  std::string ext(base.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == "py" || ext == "pyi" || ext == "pyw") return Language::kPython;
  if (ext == "js" || ext == "mjs" || ext == "cjs" || ext == "jsx") return Language::kJavaScript;
  if (ext == "ts" || ext == "mts" || ext == "cts") return Language::kTypeScript;
  if (ext == "tsx") return Language::kTsx;
  if (ext == "c") return Language::kC;
  // .h goes to C++: its grammar also parses C headers, the C grammar does not
  // parse C++ ones.
  if (ext == "h" || ext == "cc" || ext == "cpp" || ext == "cxx" || ext == "c++" || ext == "hpp" ||
      ext == "hh" || ext == "hxx" || ext == "cu" || ext == "ipp" || ext == "inl")
    return Language::kCpp;
  if (ext == "go") return Language::kGo;
  if (ext == "rs") return Language::kRust;
  if (ext == "java") return Language::kJava;
  return Language::kPlain;
}

namespace detail {

const TSLanguage* grammar_for(Language language) {
  switch (language) {
    case Language::kPlain:
      return nullptr;
    case Language::kPython:
      return tree_sitter_python();
    case Language::kJavaScript:
      return tree_sitter_javascript();
    case Language::kTypeScript:
      return tree_sitter_typescript();
    case Language::kTsx:
      return tree_sitter_tsx();
    case Language::kC:
      return tree_sitter_c();
    case Language::kCpp:
      return tree_sitter_cpp();
    case Language::kGo:
      return tree_sitter_go();
    case Language::kRust:
      return tree_sitter_rust();
    case Language::kJava:
      return tree_sitter_java();
  }
  return nullptr;
}

ParserHandle make_parser(Language language) {
  const TSLanguage* grammar = grammar_for(language);
  if (!grammar) return nullptr;
  ParserHandle parser(ts_parser_new());
  if (!parser) return nullptr;
  // Fails when the grammar's ABI is outside what the runtime accepts.
  if (!ts_parser_set_language(parser.get(), grammar)) return nullptr;
  ts_parser_set_timeout_micros(parser.get(), kParseTimeoutMicros);
  return parser;
}

TreeHandle parse(TSParser* parser, const TSTree* old_tree, std::string_view text) {
  if (!parser || text.size() > kMaxTreeBytes) return nullptr;
  TSTree* tree =
      ts_parser_parse_string(parser, old_tree, text.data(), static_cast<uint32_t>(text.size()));
  if (!tree) {
    // A timed-out parse leaves state behind for resumption; we do not resume.
    ts_parser_reset(parser);
    return nullptr;
  }
  return TreeHandle(tree);
}

TSPoint point_at(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  TSPoint p{0, 0};
  size_t last_line = 0;
  const char* data = text.data();
  for (const char* nl = static_cast<const char*>(std::memchr(data, '\n', offset)); nl;
       nl = static_cast<const char*>(std::memchr(nl + 1, '\n', offset - (nl + 1 - data)))) {
    ++p.row;
    last_line = static_cast<size_t>(nl - data) + 1;
    if (last_line >= offset) break;
  }
  p.column = static_cast<uint32_t>(offset - last_line);
  return p;
}

TSPoint advance_point(TSPoint start, std::string_view inserted) {
  size_t nl = inserted.rfind('\n');
  if (nl == std::string_view::npos) {
    start.column += static_cast<uint32_t>(inserted.size());
    return start;
  }
  start.row += static_cast<uint32_t>(std::count(inserted.begin(), inserted.end(), '\n'));
  start.column = static_cast<uint32_t>(inserted.size() - nl - 1);
  return start;
}

TreeHandle parse_with_insertion(TSParser* parser, const TSTree* base_tree, std::string_view text, size_t at,
                                std::string_view inserted, std::string& buffer) {
  buffer.assign(text.substr(0, at));
  buffer.append(inserted);
  buffer.append(text.substr(at));
  TreeHandle edited(ts_tree_copy(base_tree));
  if (!edited) return nullptr;
  TSInputEdit e;
  e.start_byte = e.old_end_byte = static_cast<uint32_t>(at);
  e.new_end_byte = static_cast<uint32_t>(at + inserted.size());
  e.start_point = e.old_end_point = point_at(text, at);
  e.new_end_point = advance_point(e.start_point, inserted);
  ts_tree_edit(edited.get(), &e);
  return parse(parser, edited.get(), buffer);
}

}  // namespace detail

Document::Document(Language language, std::string text, std::string name)
    : impl_(std::make_unique<Impl>()) {
  impl_->language = language;
  impl_->name = std::move(name);
  impl_->parser = detail::make_parser(language);
  set_text(std::move(text));
}

Document::~Document() = default;
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;

Language Document::language() const { return impl_->language; }
const std::string& Document::text() const { return impl_->text; }
bool Document::has_tree() const { return impl_->tree != nullptr; }
const std::string& Document::name() const { return impl_->name; }

std::string Document::tree_string() const {
  if (!impl_->tree) return {};
  char* s = ts_node_string(ts_tree_root_node(impl_->tree.get()));
  if (!s) return {};
  std::string out(s);
  std::free(s);
  return out;
}

void Document::set_text(std::string text) {
  impl_->text = std::move(text);
  impl_->tree = detail::parse(impl_->parser.get(), nullptr, impl_->text);
}

void Document::edit(size_t start, size_t end, std::string_view replacement) {
  std::string& text = impl_->text;
  start = std::min(start, text.size());
  end = std::clamp(end, start, text.size());
  if (!impl_->tree) {
    // No old tree to reuse (plain text, or the last parse failed): splice and
    // try a fresh parse.
    text.replace(start, end - start, replacement);
    impl_->tree = detail::parse(impl_->parser.get(), nullptr, text);
    return;
  }
  TSInputEdit e;
  e.start_byte = static_cast<uint32_t>(start);
  e.old_end_byte = static_cast<uint32_t>(end);
  e.new_end_byte = static_cast<uint32_t>(start + replacement.size());
  e.start_point = detail::point_at(text, start);
  // The old end's point is counted from the start's, not from the top again.
  e.old_end_point =
      detail::advance_point(e.start_point, std::string_view(text).substr(start, end - start));
  e.new_end_point = detail::advance_point(e.start_point, replacement);
  text.replace(start, end - start, replacement);
  if (text.size() > detail::kMaxTreeBytes) {
    impl_->tree.reset();
    return;
  }
  ts_tree_edit(impl_->tree.get(), &e);
  impl_->tree = detail::parse(impl_->parser.get(), impl_->tree.get(), text);
}

}  // namespace mtpc::completion
