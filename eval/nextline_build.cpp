#include "eval/nextline_build.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/gzip_file.h"
#include "completion/context.h"
#include "eval/nextline.h"
#include "model/corpus/corpus.h"
#include "model/corpus/overlap_index.h"

namespace mtpc::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// splitmix64: the same sequence everywhere, unlike std:: distributions.
class HoleRng {
 public:
  explicit HoleRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // 0..n-1; n > 0 (the modulo bias is below 2^-40 for our n).
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

bool has_extension(const fs::path& p, const std::vector<std::string>& exts) {
  const std::string ext = p.extension().string();
  return std::any_of(exts.begin(), exts.end(), [&](const std::string& e) {
    return e == ext || (!e.empty() && e[0] != '.' && "." + e == ext);
  });
}

// Regular files with a listed extension under root, sorted; symlinked
// directories not followed.
Result<std::vector<fs::path>> walk(const std::string& root, const std::vector<std::string>& exts) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::Error(root + ": not a directory");
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return Status::Error(root + ": cannot read: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::Error(root + ": cannot read: " + ec.message());
    if (it->is_regular_file(ec) && has_extension(it->path(), exts)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Adds every corpus file of `root` to the index.
Status index_corpus(const std::string& root, const NextlineBuildOptions& o, OverlapIndex& index, int64_t& records) {
  std::error_code ec;
  if (fs::exists(fs::path(root) / "manifest.json", ec)) {
    for (const char* split : {"train.bin", "val.bin"}) {
      const fs::path bin = fs::path(root) / split;
      if (!fs::exists(bin, ec) || fs::file_size(bin, ec) == 0) continue;  // val.bin of a small corpus is empty
      Result<std::vector<uint16_t>> tokens = read_token_file(bin.string());
      if (!tokens.ok()) return tokens.status();
      std::string text;
      int64_t n = 0;
      for (uint16_t t : tokens.value()) {
        if (t == kCorpusEosId) {
          index.add(bin.string() + "#" + std::to_string(n++), root, text);
          ++records;
          text.clear();
        } else if (t < 256) {
          text += static_cast<char>(t);
        }
      }
      if (!text.empty()) {
        index.add(bin.string() + "#" + std::to_string(n), root, text);
        ++records;
      }
    }
    return Status::Ok();
  }
  Result<std::vector<fs::path>> files = walk(root, o.extensions);
  if (!files.ok()) return Status::Error("corpus " + files.status().message());
  for (const fs::path& p : files.value()) {
    Result<std::string> text = read_file(p.string());
    if (!text.ok()) continue;  // an unreadable corpus file cannot leak into the benchmark
    index.add(p.string(), root, text.value());
    ++records;
  }
  return Status::Ok();
}

struct Line {
  size_t start = 0, end = 0;  // [start, end), without the newline
};

// Lines with non-blank text no longer than max_bytes.
std::vector<Line> eligible_lines(const std::string& text, int max_bytes) {
  std::vector<Line> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, end - start);
    if (!strip_line(line).empty() && line.size() <= static_cast<size_t>(max_bytes)) lines.push_back({start, end});
    start = end + 1;
  }
  return lines;
}

struct Candidate {
  std::string path;  // as written
  std::string language;
  std::string text;
  std::vector<Line> lines;
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// A hole in `c` at a random line, or nullopt when the drawn line has no room
// for the drawn position (the caller draws again).
std::optional<NextlineHole> draw_hole(const Candidate& c, HoleRng& rng) {
  const Line l = c.lines[rng.below(c.lines.size())];
  const bool at_start = rng.below(2) == 0;
  NextlineHole h;
  h.file = c.path;
  if (at_start) {
    h.offset = static_cast<int64_t>(l.start);
    h.position = "line_start";
  } else {
    size_t first = l.start;
    while (first < l.end && is_blank(c.text[first])) ++first;
    size_t last = l.end;
    while (last > first && is_blank(c.text[last - 1])) --last;
    // A cursor after the first non-blank byte and before the last one.
    if (last - first < 2) return std::nullopt;
    size_t at = first + 1 + rng.below(last - first - 1);
    while (at > first + 1 && (static_cast<unsigned char>(c.text[at]) & 0xC0) == 0x80) --at;
    if ((static_cast<unsigned char>(c.text[at]) & 0xC0) == 0x80) return std::nullopt;
    h.offset = static_cast<int64_t>(at);
    h.position = "inside_line";
  }
  h.truth = c.text.substr(static_cast<size_t>(h.offset), l.end - static_cast<size_t>(h.offset));
  return h;
}

}  // namespace

Result<NextlineBuildReport> build_nextline(const NextlineBuildOptions& o) {
  if (o.sources.empty()) return Status::Error("give at least one --sources directory");
  if (o.holes < 1) return Status::Error("--holes must be at least 1");
  if (o.max_holes_per_file < 1) return Status::Error("--max-holes-per-file must be at least 1");
  if (o.max_file_bytes < 1) return Status::Error("--max-file-bytes must be at least 1");
  if (o.max_line_bytes < 2) return Status::Error("--max-line-bytes must be at least 2");
  if (o.overlap_min_ngrams < 1) return Status::Error("--overlap-min-ngrams must be at least 1");
  if (o.out.empty()) return Status::Error("give --out FILE");
  auto progress = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };

  NextlineBuildReport r;
  Result<OverlapIndex> index = OverlapIndex::load({}, o.ngram, o.ngram_min_words);
  if (!index.ok()) return index.status();
  for (const std::string& c : o.corpus) {
    if (Status s = index_corpus(c, o, index.value(), r.corpus_records); !s.ok()) return s;
  }
  if (!o.corpus.empty())
    progress("build-nextline: indexed " + std::to_string(index->ngrams()) + " n-grams of " +
             std::to_string(r.corpus_records) + " corpus files");

  std::vector<Candidate> candidates;
  json dropped = json::array();
  for (const std::string& root : o.sources) {
    Result<std::vector<fs::path>> files = walk(root, o.extensions);
    if (!files.ok()) return Status::Error("source " + files.status().message());
    // Paths are written from the root's own name down ("dist-packages/click/core.py").
    fs::path norm = fs::path(root).lexically_normal();
    if (norm.filename().empty()) norm = norm.parent_path();
    const fs::path base = norm.parent_path();
    for (const fs::path& p : files.value()) {
      ++r.files_seen;
      const std::string rel =
          (base.empty() ? p.lexically_normal() : p.lexically_normal().lexically_relative(base)).generic_string();
      std::error_code ec;
      const auto size = fs::file_size(p, ec);
      if (ec) {
        ++r.skipped_unreadable;
        continue;
      }
      if (static_cast<int64_t>(size) > o.max_file_bytes) {
        ++r.skipped_huge;
        continue;
      }
      Result<std::string> text = read_file(p.string());
      if (!text.ok()) {
        ++r.skipped_unreadable;
        continue;
      }
      if (text->find('\0') != std::string::npos || !valid_utf8(text.value())) {
        ++r.skipped_binary;
        continue;
      }
      if (std::optional<OverlapMatch> m = index->find(text.value());
          m && m->matched_ngrams >= o.overlap_min_ngrams) {
        ++r.dropped_overlap;
        dropped.push_back({{"path", rel}, {"corpus_file", m->task_id}, {"shared_ngrams", m->matched_ngrams}});
        continue;
      }
      Candidate c;
      c.path = rel;
      c.language = completion::language_name(completion::language_from_path(p.string()));
      c.lines = eligible_lines(text.value(), o.max_line_bytes);
      if (c.lines.empty()) continue;
      c.text = std::move(text.value());
      candidates.push_back(std::move(c));
    }
  }
  r.eligible = static_cast<int64_t>(candidates.size());
  if (candidates.empty()) return Status::Error("no file left to draw holes from (see the counts: " +
                                               std::to_string(r.files_seen) + " seen)");
  progress("build-nextline: " + std::to_string(r.files_seen) + " files seen, " + std::to_string(r.eligible) +
           " eligible; drawing " + std::to_string(o.holes) + " holes");

  HoleRng rng(o.seed);
  std::map<std::pair<size_t, int64_t>, NextlineHole> holes;  // (candidate, offset)
  std::vector<int> per_file(candidates.size(), 0);
  // Bounded: each draw either adds a hole or is one of at most 100 misses per hole asked.
  const int64_t max_draws = static_cast<int64_t>(o.holes) * 100;
  for (int64_t draw = 0; draw < max_draws && static_cast<int>(holes.size()) < o.holes; ++draw) {
    const size_t f = rng.below(candidates.size());
    if (per_file[f] >= o.max_holes_per_file) continue;
    std::optional<NextlineHole> h = draw_hole(candidates[f], rng);
    if (!h) continue;
    if (holes.emplace(std::pair{f, h->offset}, std::move(*h)).second) ++per_file[f];
  }

  // Output order: files by path, holes by offset.
  std::vector<size_t> used;
  for (size_t f = 0; f < candidates.size(); ++f)
    if (per_file[f] > 0) used.push_back(f);
  std::sort(used.begin(), used.end(), [&](size_t a, size_t b) { return candidates[a].path < candidates[b].path; });
  int64_t line_start = 0;
  for (const auto& [key, h] : holes) line_start += h.position == "line_start";
  json header = {{"mtpc_nextline", kNextlineFormatVersion},
                 {"seed", o.seed},
                 {"holes_requested", o.holes},
                 {"holes", holes.size()},
                 {"positions", {{"line_start", line_start}, {"inside_line", holes.size() - line_start}}},
                 {"sources", o.sources},
                 {"corpus", o.corpus},
                 {"extensions", o.extensions},
                 {"max_holes_per_file", o.max_holes_per_file},
                 {"max_file_bytes", o.max_file_bytes},
                 {"max_line_bytes", o.max_line_bytes},
                 {"decontamination",
                  {{"ngram", o.ngram},
                   {"ngram_min_words", o.ngram_min_words},
                   {"overlap_min_ngrams", o.overlap_min_ngrams},
                   {"corpus_files", r.corpus_records}}},
                 {"files_seen", r.files_seen},
                 {"skipped_binary", r.skipped_binary},
                 {"skipped_huge", r.skipped_huge},
                 {"skipped_unreadable", r.skipped_unreadable},
                 {"dropped_overlap", r.dropped_overlap},
                 {"dropped", dropped},
                 {"files_eligible", r.eligible},
                 {"files_used", used.size()}};
  std::string out = header.dump() + "\n";
  int64_t n = 0;
  for (size_t f : used) {
    const Candidate& c = candidates[f];
    out += to_json(NextlineFile{c.path, c.language, sha256_hex(c.text), c.text}).dump() + "\n";
    for (auto it = holes.lower_bound({f, INT64_MIN}); it != holes.end() && it->first.first == f; ++it) {
      NextlineHole h = it->second;
      h.id = "nextline/" + std::to_string(n++);
      out += to_json(h).dump() + "\n";
    }
  }
  if (Status s = write_file_atomic(o.out, out); !s.ok()) return s;
  r.files_used = static_cast<int64_t>(used.size());
  r.holes = n;
  r.out = o.out;
  return r;
}

std::string nextline_build_summary(const NextlineBuildReport& r) {
  return "build-nextline: " + std::to_string(r.holes) + " holes in " + std::to_string(r.files_used) + " files of " +
         std::to_string(r.eligible) + " eligible; " + std::to_string(r.files_seen) + " seen: " +
         std::to_string(r.skipped_binary) + " binary, " + std::to_string(r.skipped_huge) + " huge, " +
         std::to_string(r.skipped_unreadable) + " unreadable, " + std::to_string(r.dropped_overlap) +
         " overlapping the corpus (" + std::to_string(r.corpus_records) + " corpus files); wrote " + r.out;
}

}  // namespace mtpc::eval
