#include "eval/nextline.h"

#include <algorithm>
#include <set>

#include "base/gzip_file.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

// The string field `key` of `rec`, or an error naming it.
Result<std::string> string_field(const json& rec, const char* key) {
  auto it = rec.find(key);
  if (it == rec.end()) return Status::Error(std::string("missing field \"") + key + "\"");
  if (!it->is_string()) return Status::Error(std::string("field \"") + key + "\" is not a string");
  return it->get<std::string>();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

}  // namespace

json to_json(const NextlineFile& f) {
  return {{"type", "file"}, {"path", f.path}, {"language", f.language}, {"sha256", f.sha256}, {"text", f.text}};
}

json to_json(const NextlineHole& h) {
  return {{"type", "hole"}, {"id", h.id}, {"file", h.file}, {"offset", h.offset}, {"position", h.position},
          {"truth", h.truth}};
}

Result<NextlineBenchmark> load_nextline(const std::string& path) {
  Result<std::string> content = read_file_maybe_gz(path);
  if (!content.ok()) return content.status();
  NextlineBenchmark b;
  std::set<std::string> ids;
  std::string_view rest = content.value();
  int64_t line_no = 0;
  bool header_seen = false;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    ++line_no;
    auto bad = [&](const std::string& what) {
      return Status::Error(path + ":" + std::to_string(line_no) + ": " + what);
    };
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json rec = json::parse(line.begin(), line.end(), nullptr, false);
    if (rec.is_discarded() || !rec.is_object()) return bad("not a JSON object");
    if (!header_seen) {
      auto v = rec.find("mtpc_nextline");
      if (v == rec.end() || !v->is_number_integer())
        return bad("the first line must be the header {\"mtpc_nextline\": " +
                   std::to_string(kNextlineFormatVersion) + ", ...} (is this a next-line benchmark file?)");
      if (v->get<int>() != kNextlineFormatVersion)
        return bad("format version " + v->dump() + ", this mtpc reads " + std::to_string(kNextlineFormatVersion));
      b.header = std::move(rec);
      header_seen = true;
      continue;
    }
    Result<std::string> type = string_field(rec, "type");
    if (!type.ok()) return bad(type.status().message());
    if (*type == "file") {
      NextlineFile f;
      for (auto [key, field] : {std::pair{"path", &f.path}, {"language", &f.language}, {"sha256", &f.sha256},
                                {"text", &f.text}}) {
        Result<std::string> v = string_field(rec, key);
        if (!v.ok()) return bad(v.status().message());
        *field = std::move(v.value());
      }
      if (b.files.count(f.path)) return bad("file \"" + f.path + "\" given twice");
      std::string key = f.path;
      b.files.emplace(std::move(key), std::move(f));
    } else if (*type == "hole") {
      NextlineHole h;
      for (auto [key, field] : {std::pair{"id", &h.id}, {"file", &h.file}, {"position", &h.position},
                                {"truth", &h.truth}}) {
        Result<std::string> v = string_field(rec, key);
        if (!v.ok()) return bad(v.status().message());
        *field = std::move(v.value());
      }
      auto off = rec.find("offset");
      if (off == rec.end()) return bad("missing field \"offset\"");
      if (!off->is_number_integer()) return bad("field \"offset\" is not an integer");
      h.offset = off->get<int64_t>();
      if (h.position != "line_start" && h.position != "inside_line")
        return bad("hole " + h.id + ": position must be \"line_start\" or \"inside_line\", not \"" + h.position +
                   "\"");
      if (!ids.insert(h.id).second) return bad("duplicate hole id " + h.id);
      auto f = b.files.find(h.file);
      if (f == b.files.end()) return bad("hole " + h.id + ": file \"" + h.file + "\" is not given before it");
      const std::string& text = f->second.text;
      if (h.offset < 0 || static_cast<size_t>(h.offset) > text.size())
        return bad("hole " + h.id + ": offset " + std::to_string(h.offset) + " is past the end of " + h.file +
                   " (" + std::to_string(text.size()) + " bytes)");
      const size_t start = static_cast<size_t>(h.offset);
      const size_t end = std::min(text.find('\n', start), text.size());
      if (text.compare(start, end - start, h.truth) != 0)
        return bad("hole " + h.id + ": truth is not the rest of the line at offset " + std::to_string(h.offset) +
                   " of " + h.file);
      b.holes.push_back(std::move(h));
    } else {
      return bad("unknown record type \"" + *type + "\" (file or hole)");
    }
  }
  if (!header_seen) return Status::Error(path + ": empty: no header line");
  return b;
}

std::string_view strip_line(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

size_t levenshtein(std::string_view a, std::string_view b) {
  if (a.size() < b.size()) std::swap(a, b);
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool nextline_exact_match(std::string_view truth, std::string_view completion) {
  return strip_line(truth) == strip_line(completion);
}

double nextline_edit_similarity(std::string_view truth, std::string_view completion) {
  const std::string_view t = strip_line(truth), c = strip_line(completion);
  const size_t longest = std::max(t.size(), c.size());
  if (longest == 0) return 100.0;
  return 100.0 * (1.0 - static_cast<double>(levenshtein(t, c)) / static_cast<double>(longest));
}

std::string_view first_line(std::string_view completion) {
  return completion.substr(0, completion.find('\n'));
}

}  // namespace mtpc::eval
