#include "model/corpus/overlap_index.h"

#include "base/gzip_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

namespace mtpc {
namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_ident_char(unsigned char c) { return is_ident_start(c) || is_digit(c); }

// Identifiers of one byte (i, x, a) are too common to carry evidence.
bool is_word(std::string_view tok) {
  return tok.size() >= 2 && is_ident_start(static_cast<unsigned char>(tok[0]));
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64 finalizer over the running value: order-sensitive, well mixed.
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Result<std::string> read_maybe_gz(const std::string& path) {
  auto text = read_file_maybe_gz(path);
  if (!text.ok()) return text.status().wrap("exclude file");
  return text;
}

}  // namespace

std::vector<std::string_view> code_tokens(std::string_view text) {
  std::vector<std::string_view> toks;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (is_space(c)) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (is_ident_start(c)) {
      while (j < n && is_ident_char(static_cast<unsigned char>(text[j]))) ++j;
    } else if (is_digit(c)) {
      while (j < n && (is_ident_char(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    }
    toks.push_back(text.substr(i, j - i));
    i = j;
  }
  return toks;
}

template <class Fn>
void OverlapIndex::for_each_ngram(std::string_view text, Fn&& fn) const {
  std::vector<std::string_view> toks = code_tokens(text);
  const size_t n = static_cast<size_t>(ngram_);
  if (toks.size() < n) return;
  std::vector<uint64_t> hashes(toks.size());
  std::vector<int> words_before(toks.size() + 1, 0);  // prefix count of words
  for (size_t i = 0; i < toks.size(); ++i) {
    hashes[i] = fnv1a(toks[i]);
    words_before[i + 1] = words_before[i] + (is_word(toks[i]) ? 1 : 0);
  }
  for (size_t start = 0; start + n <= toks.size(); ++start) {
    if (words_before[start + n] - words_before[start] < min_words_) continue;
    uint64_t h = static_cast<uint64_t>(n);
    for (size_t k = start; k < start + n; ++k) h = mix(h, hashes[k]);
    fn(h);
  }
}

Result<OverlapIndex> OverlapIndex::load(const std::vector<std::string>& files, int ngram,
                                        int min_words) {
  if (ngram < 1) return Status::Error("ngram must be >= 1, got " + std::to_string(ngram));
  if (min_words < 0 || min_words > ngram)
    return Status::Error("ngram_min_words must be in 0.." + std::to_string(ngram) + ", got " +
                         std::to_string(min_words));
  OverlapIndex index;
  index.ngram_ = ngram;
  index.min_words_ = min_words;
  for (const std::string& path : files) {
    Result<std::string> content = read_maybe_gz(path);
    if (!content.ok()) return content.status();
    const uint32_t bench = static_cast<uint32_t>(index.benchmarks_.size());
    index.benchmarks_.push_back(path);
    std::string_view rest = content.value();
    int64_t line_no = 0;
    while (!rest.empty()) {
      size_t eol = rest.find('\n');
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      nlohmann::json rec = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      if (rec.is_discarded() || !rec.is_object())
        return Status::Error("exclude file " + path + ": line " + std::to_string(line_no) +
                             ": not a JSON object");
      Record record;
      record.benchmark = bench;
      auto id = rec.find("task_id");
      if (id == rec.end())
        record.task_id = path + ":" + std::to_string(line_no);
      else
        record.task_id = id->is_string() ? id->get<std::string>() : id->dump();
      const uint32_t rec_index = static_cast<uint32_t>(index.records_.size());
      index.records_.push_back(std::move(record));
      auto add = [&](const std::string& text) {
        index.for_each_ngram(text, [&](uint64_t h) { index.first_record_.emplace(h, rec_index); });
      };
      for (auto it = rec.begin(); it != rec.end(); ++it) {
        if (it.key() == "task_id" || it.key() == "entry_point") continue;
        if (it->is_string()) {
          add(it->get_ref<const std::string&>());
        } else if (it->is_array()) {
          for (const auto& v : *it)
            if (v.is_string()) add(v.get_ref<const std::string&>());
        }
      }
    }
  }
  return index;
}

void OverlapIndex::add(const std::string& name, const std::string& source, std::string_view text) {
  auto b = std::find(benchmarks_.begin(), benchmarks_.end(), source);
  const uint32_t bench = static_cast<uint32_t>(b - benchmarks_.begin());
  if (b == benchmarks_.end()) benchmarks_.push_back(source);
  const uint32_t rec_index = static_cast<uint32_t>(records_.size());
  records_.push_back(Record{name, bench});
  for_each_ngram(text, [&](uint64_t h) { first_record_.emplace(h, rec_index); });
}

std::optional<OverlapMatch> OverlapIndex::find(std::string_view text) const {
  if (first_record_.empty()) return std::nullopt;
  std::unordered_map<uint32_t, int64_t> hits;
  for_each_ngram(text, [&](uint64_t h) {
    auto it = first_record_.find(h);
    if (it != first_record_.end()) ++hits[it->second];
  });
  if (hits.empty()) return std::nullopt;
  // Most hits wins; ties go to the record loaded first, for determinism.
  uint32_t best = 0;
  int64_t best_hits = -1;
  for (const auto& [rec, n] : hits) {
    if (n > best_hits || (n == best_hits && rec < best)) {
      best = rec;
      best_hits = n;
    }
  }
  const Record& r = records_[best];
  return OverlapMatch{r.task_id, benchmarks_[r.benchmark], best_hits};
}

}  // namespace mtpc
