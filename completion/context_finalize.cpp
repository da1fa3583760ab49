// The final text of a completion: never repeat what the suffix already has,
// keep brackets balanced against the suffix, no trailing blank lines.
#include <algorithm>
#include <cctype>

#include "completion/context.h"
#include "completion/context_syntax.h"

namespace mtpc::completion {
namespace {

using detail::is_blank;
using detail::trim_left;
using detail::trim_right;

bool is_trailing_punct(char c) {
  return detail::is_closer(c) || c == ';' || c == ',' || c == ' ' || c == '\t' || c == '\r' ||
         c == '\n';
}

bool has_alnum(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

// A byte-level model may stop inside a multi-byte character: drop the
// incomplete sequence at the end so the reply stays valid UTF-8.
void drop_partial_utf8(std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation: look further back
    size_t need = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 1;
    if (need > back) s.resize(n - back);
    return;
  }
}

// The closers the suffix starts with (skipping whitespace): the brackets it
// already closes for whatever the prefix opened.
std::string leading_closers(std::string_view suffix) {
  std::string out;
  for (char c : suffix) {
    if (detail::is_closer(c)) {
      out += c;
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      break;
    }
  }
  return out;
}

// Cuts the completion where it starts repeating the next non-blank line of
// the document after the cursor's line (only lines with a word on them:
// bare closers are left to the bracket rules).
void cut_repeated_next_line(std::string& completion, std::string_view text, size_t cursor) {
  size_t pos = detail::line_end(text, cursor);
  std::string_view next;
  while (pos < text.size()) {
    size_t b = pos + 1;
    size_t e = detail::line_end(text, b);
    std::string_view line = text.substr(b, e - b);
    if (!is_blank(line)) {
      next = trim_left(trim_right(line));
      break;
    }
    pos = e;
  }
  if (next.empty() || !has_alnum(next)) return;
  size_t begin = completion.find('\n');
  while (begin != std::string::npos) {
    size_t b = begin + 1;
    size_t e = completion.find('\n', b);
    std::string_view line =
        std::string_view(completion).substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (trim_left(trim_right(line)) == next) {
      completion.resize(begin);
      return;
    }
    begin = e;
  }
}

}  // namespace

std::string finalize_completion(const Document& doc, size_t cursor, const CompletionPlan& plan,
                                std::string completion) {
  if (plan.skip) return {};
  detail::CursorSite site = detail::analyze_cursor(doc, cursor);
  std::string_view text = doc.text();
  std::string_view suffix = text.substr(site.cursor);
  Language lang = doc.language();
  drop_partial_utf8(completion);

  if (plan.scope == CompletionScope::kLine) {
    size_t nl = completion.find('\n');
    if (nl != std::string::npos) completion.resize(nl);
  } else {
    cut_repeated_next_line(completion, text, site.cursor);
  }

  // Brackets: find the completion's unmatched closers and unclosed openers.
  std::vector<size_t> open_stack;
  std::vector<size_t> unmatched;
  detail::scan_brackets(lang, completion, [&](size_t pos, char c) {
    if (detail::is_opener(c)) {
      open_stack.push_back(pos);
    } else if (!open_stack.empty() && detail::closer_for(completion[open_stack.back()]) == c) {
      open_stack.pop_back();
    } else {
      unmatched.push_back(pos);
    }
  });
  std::string provided = leading_closers(suffix);
  // Unmatched closers in the completion's tail that the suffix also has are
  // repeats: drop them (and the ; or , the model put after them).
  size_t tail = completion.size();
  while (tail > 0 && is_trailing_punct(completion[tail - 1])) --tail;
  size_t next_provided = 0;
  size_t cut_after = std::string::npos;
  std::string kept;
  for (size_t i = 0; i < completion.size(); ++i) {
    bool drop = false;
    if (i >= tail && std::binary_search(unmatched.begin(), unmatched.end(), i) &&
        next_provided < provided.size() && provided[next_provided] == completion[i]) {
      ++next_provided;
      drop = true;
      cut_after = kept.size();
    }
    if (!drop) kept += completion[i];
  }
  if (cut_after != std::string::npos) {
    // What followed the last dropped closer belongs after the suffix's.
    size_t end = cut_after;
    while (end < kept.size() && (kept[end] == ';' || kept[end] == ',' || kept[end] == ' ')) ++end;
    if (end == kept.size()) kept.resize(cut_after);
    completion = std::move(kept);
  }

  if (plan.scope == CompletionScope::kLine) {
    // Never repeat the rest of the line: when the completion ends with it
    // (the closers alone were handled above), drop that ending.
    std::string_view rest = trim_right(site.after);
    bool only_brackets =
        std::all_of(rest.begin(), rest.end(), [](char c) { return detail::is_closer(c); });
    bool repeated = false;
    if (!rest.empty() && !only_brackets) {
      std::string_view body = trim_right(completion);
      if (body.size() >= rest.size() && body.substr(body.size() - rest.size()) == rest) {
        completion.resize(body.size() - rest.size());
        repeated = true;
      }
    }
    // An opener left open would take the suffix's closer away from the
    // prefix's opener: close it here.
    if (cut_after == std::string::npos && !repeated && !open_stack.empty() && !provided.empty() &&
        provided.front() == detail::closer_for(completion[open_stack.back()])) {
      completion.resize(trim_right(completion).size());
      for (auto it = open_stack.rbegin(); it != open_stack.rend(); ++it)
        completion += detail::closer_for(completion[*it]);
    }
  }

  // Trailing whitespace-only lines (and trailing blanks) go, unless the
  // cursor's line continues after the completion: then the last line break
  // and indentation put the suffix where it belongs.
  if (is_blank(site.after)) {
    completion.resize(trim_right(completion).size());
  } else {
    size_t last_nl = completion.rfind('\n');
    if (last_nl != std::string::npos && is_blank(std::string_view(completion).substr(last_nl))) {
      std::string_view body = trim_right(std::string_view(completion).substr(0, last_nl));
      size_t body_end = body.size();
      completion.erase(body_end, last_nl - body_end);
    }
  }
  return completion;
}

}  // namespace mtpc::completion
