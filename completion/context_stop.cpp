// Where a completion ends (StopRule, called after every decoded token) and
// the clean-up of the final text (finalize_completion).
#include <algorithm>
#include <cctype>
#include <cstring>

#include "completion/context.h"
#include "completion/context_syntax.h"

namespace mtpc::completion {
namespace {

using detail::CursorSite;

bool type_is(TSNode node, const char* type) { return std::strcmp(ts_node_type(node), type) == 0; }

// Python node types inside which a line may start at any indentation
// without ending a block (string bodies, bracketed continuation lines).
bool continues_python_line(TSNode node) {
  static const char* const kTypes[] = {"string",
                                       "string_content",
                                       "concatenated_string",
                                       "comment",
                                       "argument_list",
                                       "parameters",
                                       "list",
                                       "dictionary",
                                       "set",
                                       "tuple",
                                       "parenthesized_expression",
                                       "subscript",
                                       "generator_expression",
                                       "list_comprehension",
                                       "dictionary_comprehension",
                                       "set_comprehension"};
  for (; !ts_node_is_null(node); node = ts_node_parent(node)) {
    for (const char* t : kTypes) {
      if (type_is(node, t)) return true;
    }
  }
  return false;
}

}  // namespace

struct StopRule::Impl {
  Language language = Language::kPlain;
  CompletionScope scope = CompletionScope::kLine;
  bool skip = false;
  int max_lines = 8;
  size_t cursor = 0;
  size_t indent_threshold = 0;
  size_t brace_open = std::string_view::npos;
  std::string text;  // the document when the rule was made
  detail::ParserHandle parser;
  detail::TreeHandle base_tree;  // a copy of the document's tree

  // Incremental state: the decoding loop calls with ever longer completions,
  // so complete lines are judged once. Reset when a call does not extend the
  // text already judged.
  std::string judged;  // completion bytes up to the last judged newline
  size_t lines = 0;    // completed lines so far
  bool first_blank = false;
  std::optional<size_t> stop;

  void reset() {
    judged.clear();
    lines = 0;
    first_blank = false;
    stop.reset();
  }

  // The document with `completion` inserted at the cursor, parsed
  // incrementally from the document's tree. Null when there is no tree.
  detail::TreeHandle parse_with(std::string_view completion, std::string& buffer) {
    if (!parser || !base_tree) return nullptr;
    return detail::parse_with_insertion(parser.get(), base_tree.get(), text, cursor, completion, buffer);
  }

  // Python: does the completed line starting at `line_begin` of `completion`
  // end the block (indented below it, and not a string or bracket
  // continuation according to the tree)?
  bool python_dedent(std::string_view completion, size_t line_begin, size_t line_end) {
    std::string_view line = completion.substr(line_begin, line_end - line_begin);
    if (detail::is_blank(line)) return false;
    size_t indent = detail::indent_width(line);
    if (indent >= indent_threshold) return false;
    if (detail::python_continues(completion.substr(0, line_begin))) return false;
    std::string buffer;
    detail::TreeHandle tree = parse_with(completion.substr(0, line_end), buffer);
    if (!tree) return true;  // indentation alone decides
    uint32_t pos = static_cast<uint32_t>(cursor + line_begin + indent);
    TSNode node = ts_node_descendant_for_byte_range(ts_tree_root_node(tree.get()), pos, pos);
    return !continues_python_line(node);
  }

  // Brace languages: the bytes of `completion` (through a completed line)
  // that end the block, or nullopt while it is open. The tree of the
  // document with the completion inserted decides; without a usable tree,
  // bracket counting does.
  std::optional<size_t> brace_block_end(std::string_view completion) {
    if (brace_open != std::string_view::npos) {
      std::string buffer;
      if (detail::TreeHandle tree = parse_with(completion, buffer)) {
        uint32_t open = static_cast<uint32_t>(brace_open);
        TSNode node =
            ts_node_descendant_for_byte_range(ts_tree_root_node(tree.get()), open, open + 1);
        for (; !ts_node_is_null(node); node = ts_node_parent(node)) {
          if (ts_node_start_byte(node) == open && ts_node_end_byte(node) > open + 1) break;
        }
        if (!ts_node_is_null(node) && !type_is(node, "ERROR")) {
          uint32_t count = ts_node_child_count(node);
          TSNode last = count ? ts_node_child(node, count - 1) : TSNode{};
          size_t end = ts_node_end_byte(node);
          bool closed = count && !ts_node_is_missing(last) && type_is(last, "}");
          if (closed && end > cursor && end <= cursor + completion.size()) return end - cursor;
          if (closed || end > cursor + completion.size()) return std::nullopt;
        }
      }
    }
    int depth = 0;
    std::optional<size_t> end;
    detail::scan_brackets(language, completion, [&](size_t pos, char c) {
      if (end) return;
      if (c == '{') ++depth;
      if (c == '}' && --depth < 0) end = pos + 1;
    });
    return end;
  }

  std::optional<size_t> judge(std::string_view completion) {
    if (skip) return 0;
    if (scope == CompletionScope::kLine) {
      size_t nl = completion.find('\n');
      if (nl == std::string_view::npos) return std::nullopt;
      return nl;
    }
    if (completion.size() < judged.size() || completion.compare(0, judged.size(), judged) != 0)
      reset();
    if (stop) return stop;
    // Fast path: nothing to judge until a line completes.
    size_t from = judged.size();
    size_t nl = completion.find('\n', from);
    while (nl != std::string_view::npos && !stop) {
      size_t begin = from;
      ++lines;
      // The first line is the rest of the cursor's line: it counts only when
      // the model wrote something there.
      if (lines == 1) first_blank = detail::is_blank(completion.substr(begin, nl - begin));
      size_t body_lines = lines - (first_blank ? 1 : 0);
      if (lines > 1 && detail::uses_indent_blocks(language) &&
          python_dedent(completion, begin, nl)) {
        // Keep up to the newline before the dedented line.
        stop = begin > 0 ? begin - 1 : 0;
      } else if (detail::uses_brace_blocks(language)) {
        if (auto end = brace_block_end(completion.substr(0, nl))) stop = end;
      }
      if (!stop && max_lines > 0 && static_cast<int>(body_lines) >= max_lines) stop = nl;
      from = nl + 1;
      nl = completion.find('\n', from);
    }
    judged.assign(completion.substr(0, from));
    return stop;
  }
};

StopRule::StopRule(const Document& doc, size_t cursor, const CompletionPlan& plan,
                   const ContextOptions& options)
    : impl_(std::make_unique<Impl>()) {
  CursorSite site = detail::analyze_cursor(doc, cursor);
  impl_->language = doc.language();
  impl_->scope = plan.scope;
  impl_->skip = plan.skip;
  impl_->max_lines = options.max_lines;
  impl_->cursor = site.cursor;
  impl_->indent_threshold = site.indent_threshold;
  impl_->brace_open = site.brace_open;
  if (plan.scope != CompletionScope::kBlock) return;
  // A block scope the caller chose where the cursor gave a line (a hole in
  // the middle of a line): the block is the one the cursor's line is in, so
  // a line indented less than the cursor's line ends it.
  if (site.scope == CompletionScope::kLine && detail::uses_indent_blocks(doc.language())) {
    const std::string& t = doc.text();
    impl_->indent_threshold = detail::indent_width(std::string_view(t).substr(detail::line_start(t, site.cursor)));
  }
  const std::string& text = doc.text();
  const TSTree* tree = detail::document_tree(doc);
  // Brace blocks are judged on the top-level item that holds the block's '{'
  // (a function, a class), parsed on its own: reparsing a whole large file
  // on every completed line would cost the decoding loop milliseconds.
  if (tree && site.brace_open != std::string_view::npos) {
    TSNode item = ts_node_first_child_for_byte(ts_tree_root_node(tree),
                                               static_cast<uint32_t>(site.brace_open));
    if (!ts_node_is_null(item) && ts_node_start_byte(item) <= site.brace_open &&
        ts_node_end_byte(item) >= site.cursor && !ts_node_has_error(item)) {
      size_t begin = detail::line_start(text, ts_node_start_byte(item));
      size_t end = detail::line_end(text, ts_node_end_byte(item));
      impl_->text = text.substr(begin, end - begin);
      impl_->cursor -= begin;
      impl_->brace_open -= begin;
      impl_->parser = detail::make_parser(doc.language());
      impl_->base_tree = detail::parse(impl_->parser.get(), nullptr, impl_->text);
      return;
    }
  }
  impl_->text = text;
  if (tree) {
    impl_->parser = detail::make_parser(doc.language());
    impl_->base_tree.reset(ts_tree_copy(tree));
  }
}

StopRule::~StopRule() = default;
StopRule::StopRule(StopRule&&) noexcept = default;

std::optional<size_t> StopRule::operator()(std::string_view completion) const {
  return impl_->judge(completion);
}

}  // namespace mtpc::completion
