// The prompt around the cursor: where the completion should end (scope),
// prefix and suffix windows within the token budget, the imports and the
// enclosing signatures kept when the window is cut, and snippets from other
// open documents while budget remains.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "completion/context.h"
#include "completion/context_syntax.h"

namespace mtpc::completion {
namespace detail {
namespace {

bool is_word_byte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) || c == '_';
}

// The rest of the line only closes what the line opened: the completion can
// still run to the end of the line (or open a block) in front of it.
bool only_closers(std::string_view after) {
  return std::all_of(after.begin(), after.end(), [](char c) {
    return is_closer(c) || c == ' ' || c == '\t' || c == '\r' || c == ';' || c == ',';
  });
}

// Python: the indentation a body line under the cursor must keep. Without
// indentation on the cursor's line, the previous non-blank line decides.
size_t python_block_indent(std::string_view text, size_t line_begin, std::string_view before) {
  if (!before.empty()) return before.size();
  size_t pos = line_begin;
  while (pos > 0) {
    size_t prev_begin = line_start(text, pos - 1);
    std::string_view prev = text.substr(prev_begin, pos - 1 - prev_begin);
    if (!is_blank(prev)) {
      size_t indent = indent_width(prev);
      return trim_right(prev).back() == ':' ? indent + 1 : indent;
    }
    pos = prev_begin;
  }
  return 0;
}

}  // namespace

const TSTree* document_tree(const Document& doc) { return doc.impl().tree.get(); }

CursorSite analyze_cursor(const Document& doc, size_t cursor) {
  std::string_view text = doc.text();
  CursorSite site;
  site.cursor = utf8_floor(text, std::min(cursor, text.size()));
  size_t begin = line_start(text, site.cursor);
  size_t end = line_end(text, site.cursor);
  site.before = text.substr(begin, site.cursor - begin);
  site.after = text.substr(site.cursor, end - site.cursor);

  // In the middle of a word there is nothing to insert that would not split it.
  if (!site.before.empty() && !site.after.empty() && is_word_byte(site.before.back()) &&
      is_word_byte(site.after.front())) {
    site.skip = true;
    return site;
  }
  if (!only_closers(site.after)) return site;  // mid-line: kLine

  Language lang = doc.language();
  std::string_view head = trim_right(site.before);
  const TSTree* tree = document_tree(doc);
  if (uses_indent_blocks(lang)) {
    // A ':' inside brackets is a dict entry, slice or annotation, no block.
    if (!head.empty() && head.back() == ':' &&
        !python_continues(text.substr(begin, site.cursor - begin))) {
      site.scope = CompletionScope::kBlock;
      site.indent_threshold = indent_width(site.before) + 1;
    } else if (head.empty()) {
      size_t indent = python_block_indent(text, begin, site.before);
      if (indent > 0) {
        site.scope = CompletionScope::kBlock;
        site.indent_threshold = indent;
      }
    }
  } else if (uses_brace_blocks(lang)) {
    if (!head.empty() && head.back() == '{') {
      site.scope = CompletionScope::kBlock;
      site.brace_open = begin + head.size() - 1;
    } else if (head.empty() && tree) {
      size_t open = enclosing_brace_open(text, ts_tree_root_node(tree), site.cursor);
      if (open != std::string_view::npos) {
        site.scope = CompletionScope::kBlock;
        site.brace_open = open;
      }
    }
  }
  return site;
}

}  // namespace detail

namespace {

using detail::line_end;
using detail::line_start;

// The definitions around the cursor, outermost first. Python's definition
// nodes end at their last statement, so a blank line below it (where the
// body continues) is looked up from the code above it, and indentation says
// which definitions the cursor is still in.
std::vector<TSNode> enclosing_at_cursor(const Document& doc, TSNode root,
                                        const detail::CursorSite& site) {
  std::string_view text = doc.text();
  if (!detail::uses_indent_blocks(doc.language()))
    return detail::enclosing_definitions(root, site.cursor);
  size_t pos = site.cursor;
  while (pos > 0 && (text[pos - 1] == ' ' || text[pos - 1] == '\t' || text[pos - 1] == '\n' ||
                     text[pos - 1] == '\r'))
    --pos;
  size_t indent = detail::indent_width(text.substr(line_start(text, site.cursor)));
  std::vector<TSNode> out;
  for (TSNode def : detail::enclosing_definitions(root, pos > 0 ? pos - 1 : 0)) {
    size_t start = ts_node_start_byte(def);
    if (detail::indent_width(text.substr(line_start(text, start))) < indent) out.push_back(def);
  }
  return out;
}

// The suffix window: at most `cap` bytes after the cursor, ending at a line
// end when one is in reach, never inside a UTF-8 sequence.
std::string_view suffix_window(std::string_view rest, size_t cap) {
  if (rest.size() <= cap) return rest;
  size_t nl = cap == 0 ? std::string_view::npos : rest.rfind('\n', cap - 1);
  size_t end = nl == std::string_view::npos ? detail::utf8_floor(rest, cap) : nl + 1;
  return rest.substr(0, end);
}

// A comment block showing another document's outline (its signatures), or
// its first lines when it has no tree, at most `cap` bytes, whole lines only.
std::string snippet_of(const Document& other, Language target, size_t cap) {
  const std::string& text = other.text();
  std::string marker = detail::line_comment(target);
  std::string out = marker + "from " +
                    (other.name().empty() ? std::string("another open file") : other.name()) +
                    ":\n";
  if (out.size() >= cap) return {};
  std::vector<TSNode> outline;
  if (const TSTree* tree = detail::document_tree(other))
    outline = detail::outline_definitions(ts_tree_root_node(tree));
  bool any = false;
  // Signatures, made only while they fit; the top of the file without any.
  for (size_t i = 0; i < std::max<size_t>(outline.size(), 1); ++i) {
    std::string piece = outline.empty() ? std::string() : detail::signature_text(text, outline[i]);
    std::string_view rest = outline.empty() ? std::string_view(text) : std::string_view(piece);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      line = detail::trim_right(line);
      if (line.empty()) continue;
      if (out.size() + marker.size() + line.size() + 1 > cap) return any ? out : std::string();
      out += marker;
      out += line;
      out += '\n';
      any = true;
    }
  }
  return any ? out : std::string();
}

std::string snippets_for(const Document& doc, const std::vector<const Document*>& others,
                         size_t budget, const ContextOptions& options) {
  std::string out;
  if (doc.language() == Language::kPlain) return out;  // no comment syntax to mark them
  std::vector<const Document*> order;
  for (const Document* o : others) {
    if (o && o != &doc && !detail::is_blank(o->text())) order.push_back(o);
  }
  std::stable_partition(order.begin(), order.end(),
                        [&](const Document* o) { return o->language() == doc.language(); });
  for (const Document* o : order) {
    size_t left = budget - out.size();
    if (left < options.snippet_min_bytes) break;
    out += snippet_of(*o, doc.language(), std::min(left, options.snippet_max_bytes));
  }
  return out;
}

}  // namespace

CompletionPlan plan_completion(const Document& doc, size_t cursor,
                               const std::vector<const Document*>& others,
                               const ContextOptions& options) {
  CompletionPlan plan;
  detail::CursorSite site = detail::analyze_cursor(doc, cursor);
  plan.scope = site.scope;
  plan.skip = site.skip;
  std::string_view text = doc.text();
  size_t budget = options.token_budget;

  plan.fim = options.fim;
  if (options.fim) {
    double share = std::clamp(options.suffix_share, 0.0, 1.0);
    auto cap = static_cast<size_t>(std::floor(static_cast<double>(budget) * share));
    plan.suffix = std::string(suffix_window(text.substr(site.cursor), cap));
  }
  // The suffix's unused share goes to the prefix.
  size_t prefix_budget = budget - plan.suffix.size();
  std::string_view raw = text.substr(0, site.cursor);

  std::string header;
  std::string_view window = raw;
  if (raw.size() > prefix_budget) {
    auto header_cap = static_cast<size_t>(std::floor(static_cast<double>(prefix_budget) *
                                                     std::clamp(options.header_share, 0.0, 1.0)));
    // Items kept only when the window no longer shows them: their start lies
    // before where the window (shrunk by the header so far) begins.
    auto outside_window = [&](size_t start, size_t header_size) {
      return start < site.cursor - (prefix_budget - header_size);
    };
    std::vector<std::string> signatures;  // outermost first
    std::string imports;
    if (const TSTree* tree = detail::document_tree(doc)) {
      TSNode root = ts_tree_root_node(tree);
      size_t used = 0;
      // Innermost signature first: it says most about the code at the cursor.
      auto defs = enclosing_at_cursor(doc, root, site);
      std::vector<std::string> kept;
      for (auto it = defs.rbegin(); it != defs.rend(); ++it) {
        std::string sig = detail::signature_text(text, *it) + "\n";
        size_t start = line_start(text, ts_node_start_byte(*it));
        if (used + sig.size() > header_cap || !outside_window(start, used + sig.size())) continue;
        used += sig.size();
        kept.push_back(std::move(sig));
      }
      signatures.assign(kept.rbegin(), kept.rend());
      for (auto [start, end] : detail::import_ranges(root)) {
        std::string line = std::string(detail::trim_right(text.substr(start, end - start))) + "\n";
        if (used + line.size() > header_cap || !outside_window(start, used + line.size())) continue;
        used += line.size();
        imports += line;
      }
    }
    header = imports;
    for (const auto& s : signatures) header += s;
    size_t window_len = prefix_budget - header.size();
    size_t start = detail::utf8_ceil(raw, raw.size() - window_len);
    // Start the window on a whole line when the cut line is not the cursor's.
    size_t nl = raw.find('\n', start == 0 ? 0 : start - 1);
    if (start > 0 && nl != std::string_view::npos && nl + 1 <= line_start(raw, raw.size()))
      start = nl + 1;
    window = raw.substr(start);
  }
  size_t left = prefix_budget - header.size() - window.size();
  std::string snippets = snippets_for(doc, others, left, options);
  plan.prefix.reserve(snippets.size() + header.size() + window.size());
  plan.prefix += snippets;
  plan.prefix += header;
  plan.prefix += window;
  return plan;
}

}  // namespace mtpc::completion
