#include "model/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/gzip_file.h"
#include "model/tokenizer/pcre2_regex.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {

namespace {

using nlohmann::json;

// The pattern ByteLevel splits with when use_regex is true (GPT-2's).
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Pieces longer than this are not cached (long runs are rare and would
// crowd out the short words that repeat).
constexpr size_t kMaxCachedPieceBytes = 64;
// The cache is cleared when it holds this many pieces (bounded memory).
constexpr size_t kMaxCachedPieces = 1 << 17;

// How a Split keeps its matches (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel } kind = Kind::kSplit;
  std::shared_ptr<const Pcre2Regex> regex;  // null: ByteLevel without use_regex
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
};

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

struct Merge {
  int32_t rank;
  int32_t merged;
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Splits [0, n) by `matches` into (range, is_match) parts as tokenizers'
// Split does, then applies `behavior`. Returns the kept ranges.
std::vector<std::pair<size_t, size_t>> apply_split(size_t n, const std::vector<std::pair<size_t, size_t>>& matches,
                                                   SplitBehavior behavior, bool invert) {
  struct Part {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (b > prev) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < n) parts.push_back({prev, n, invert});

  std::vector<std::pair<size_t, size_t>> out;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Part& p : parts) out.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts)
        if (!p.is_match) out.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !out.empty()) out.back().second = p.end;
        else out.emplace_back(p.begin, p.end);
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) out.back().first = it->begin;
        else out.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.is_match == previous_match && !out.empty()) out.back().second = p.end;
        else out.emplace_back(p.begin, p.end);
        previous_match = p.is_match;
      }
      break;
    }
  }
  return out;
}

class BpeTokenizer final : public Tokenizer {
 public:
  std::string kind() const override { return "bpe"; }
  int vocab_size() const override { return static_cast<int>(token_bytes_.size()); }
  SpecialTokens specials() const override { return special_tokens(ends_); }
  std::vector<int32_t> encode(std::string_view text) const override;
  Result<std::string> decode(const std::vector<int32_t>& ids) const override;
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
  }
  int32_t token_id(std::string_view piece) const override;
  std::vector<int32_t> stop_ids() const override { return ends_.stops; }
  FimTemplate fim_template() const override { return ends_.fim; }

  // Filled by the loader below, then never changed.
  std::unordered_map<std::string, int32_t> vocab;  // byte-level spelling -> id
  std::unordered_map<uint64_t, Merge> merges;
  bool ignore_merges = false;
  bool nfc = false;
  std::vector<PreTokenizerStep> steps;
  std::vector<AddedToken> added;                       // longest first
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  std::vector<std::string> token_bytes_;               // id -> raw bytes ("" for unused ids)
  std::vector<bool> special_;
  int32_t byte_ids_[256] = {};
  TokenizerEnds ends_;

 private:
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void merge_piece(std::string_view piece, std::vector<int32_t>& out) const;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  // Added tokens first, on the raw text: leftmost match, longest at a
  // position (`added` is sorted longest first).
  size_t done = 0, i = 0;
  while (i < text.size() && !added.empty()) {
    const AddedToken* hit = nullptr;
    for (const AddedToken& t : added) {
      if (t.content.empty() || t.content[0] != text[i]) continue;
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        size_t end = i + t.content.size();
        if ((i > 0 && is_word_byte(text[i - 1])) || (end < text.size() && is_word_byte(text[end]))) continue;
      }
      hit = &t;
      break;
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t begin = i, end = i + hit->content.size();
    if (hit->lstrip)
      while (begin > done && is_ascii_space(text[begin - 1])) --begin;
    if (hit->rstrip)
      while (end < text.size() && is_ascii_space(text[end])) ++end;
    encode_text(text.substr(done, begin - done), out);
    out.push_back(hit->id);
    done = i = end;
  }
  encode_text(text.substr(done), out);
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  if (nfc) normalized = nfc_valid_runs(text);
  std::string_view subject = nfc ? std::string_view(normalized) : text;

  // Each step splits every piece further; pieces are ranges of `subject`
  // until a ByteLevel step with add_prefix_space makes them new strings.
  std::vector<std::string> pieces{std::string(subject)};
  for (const PreTokenizerStep& step : steps) {
    std::vector<std::string> next;
    next.reserve(pieces.size() * 2);
    for (std::string& piece : pieces) {
      if (step.kind == PreTokenizerStep::Kind::kByteLevel && step.add_prefix_space && piece[0] != ' ')
        piece.insert(piece.begin(), ' ');
      if (!step.regex) {
        next.push_back(std::move(piece));
        continue;
      }
      auto ranges = apply_split(piece.size(), step.regex->find_all(piece), step.behavior, step.invert);
      for (const auto& [b, e] : ranges)
        if (e > b) next.emplace_back(piece, b, e - b);
    }
    pieces.swap(next);
  }
  for (const std::string& piece : pieces) encode_piece(piece, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (ignore_merges) {
    auto it = vocab.find(byte_level_spelling(piece));
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(piece));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_piece(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedPieces) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
  }
}

// Byte symbols merged by rank, lowest first and leftmost among equals (as
// tokenizers' BPE does), on a linked list with a heap: O(n log n) in the
// piece's length, so a long run of one character is not quadratic.
void BpeTokenizer::merge_piece(std::string_view piece, std::vector<int32_t>& out) const {
  const int n = static_cast<int>(piece.size());
  std::vector<int32_t> id(n);
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges.find(pair_key(id[pos], id[next[pos]]));
    if (it != merges.end()) heap.push({it->second.rank, pos, id[pos], id[next[pos]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    // Stale: the left symbol was merged away or changed, or its right
    // neighbour is no longer the one this pair was made with.
    if (id[c.pos] != c.left || next[c.pos] < 0 || id[next[c.pos]] != c.right) continue;
    int right = next[c.pos];
    id[c.pos] = merges.at(pair_key(c.left, c.right)).merged;
    id[right] = -1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
}

Result<std::string> BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    if (id < 0 || static_cast<size_t>(id) >= token_bytes_.size())
      return Status::Error("token id " + std::to_string(id) + " at position " + std::to_string(i) +
                           " is outside the vocabulary [0, " + std::to_string(token_bytes_.size()) + ")");
    if (!special_[id]) out += token_bytes_[id];
  }
  return out;
}

int32_t BpeTokenizer::token_id(std::string_view piece) const {
  auto a = added_ids.find(std::string(piece));
  if (a != added_ids.end()) return a->second;
  auto v = vocab.find(byte_level_spelling(piece));
  return v != vocab.end() ? v->second : -1;
}

// ---- loading ----

Result<std::vector<PreTokenizerStep>> read_pre_tokenizer(const json& node, const std::string& field) {
  std::vector<PreTokenizerStep> steps;
  if (node.is_null()) return steps;
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string())
    return Status::Error(field + ": not an object with a \"type\"");
  const std::string type = node["type"].get<std::string>();
  auto flag = [&](const char* key, bool fallback) -> Result<bool> {
    if (!node.contains(key) || node[key].is_null()) return fallback;
    if (!node[key].is_boolean()) return Status::Error(field + "." + key + ": not a boolean");
    return node[key].get<bool>();
  };
  if (type == "Sequence") {
    const json& list = node.contains("pretokenizers") ? node["pretokenizers"] : json();
    if (!list.is_array()) return Status::Error(field + ".pretokenizers: missing or not an array");
    for (size_t i = 0; i < list.size(); ++i) {
      auto inner = read_pre_tokenizer(list[i], field + ".pretokenizers[" + std::to_string(i) + "]");
      if (!inner.ok()) return inner.status();
      steps.insert(steps.end(), inner->begin(), inner->end());
    }
    return steps;
  }
  PreTokenizerStep step;
  if (type == "ByteLevel") {
    // tokenizers' defaults when the keys are absent: both true.
    auto prefix = flag("add_prefix_space", true);
    auto use_regex = flag("use_regex", true);
    if (!prefix.ok()) return prefix.status();
    if (!use_regex.ok()) return use_regex.status();
    step.kind = PreTokenizerStep::Kind::kByteLevel;
    step.add_prefix_space = *prefix;
    if (*use_regex) {
      auto regex = Pcre2Regex::compile(kGpt2Pattern, false);
      if (!regex.ok()) return regex.status().wrap(field);
      step.regex = *regex;
    }
  } else if (type == "Digits") {
    auto individual = flag("individual_digits", false);
    if (!individual.ok()) return individual.status();
    auto regex = Pcre2Regex::compile("\\p{N}", false);
    if (!regex.ok()) return regex.status().wrap(field);
    step.regex = *regex;
    step.behavior = *individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (type == "Split") {
    const json& pattern = node.contains("pattern") ? node["pattern"] : json();
    bool literal;
    std::string text;
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      literal = false;
      text = pattern["Regex"].get<std::string>();
    } else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
      literal = true;
      text = pattern["String"].get<std::string>();
    } else {
      return Status::Error(field + ".pattern: missing, or neither {\"Regex\": ...} nor {\"String\": ...}");
    }
    auto regex = Pcre2Regex::compile(text, literal);
    if (!regex.ok()) return regex.status().wrap(field + ".pattern");
    step.regex = *regex;
    const std::string behavior = node.contains("behavior") && node["behavior"].is_string()
                                     ? node["behavior"].get<std::string>() : "";
    static const std::pair<const char*, SplitBehavior> kBehaviors[] = {
        {"Removed", SplitBehavior::kRemoved},
        {"Isolated", SplitBehavior::kIsolated},
        {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
        {"MergedWithNext", SplitBehavior::kMergedWithNext},
        {"Contiguous", SplitBehavior::kContiguous}};
    bool known = false;
    for (const auto& [name, b] : kBehaviors)
      if (behavior == name) step.behavior = b, known = true;
    if (!known) return Status::Error(field + ".behavior: unknown split behavior '" + behavior + "'");
    auto invert = flag("invert", false);
    if (!invert.ok()) return invert.status();
    step.invert = *invert;
  } else {
    return Status::Error(field + ".type: unsupported pre-tokenizer type '" + type +
                         "' (supported: ByteLevel, Split, Digits, Sequence)");
  }
  steps.push_back(std::move(step));
  return steps;
}

// True for NFC; false for none. Anything else is an error.
Result<bool> read_normalizer(const json& node, const std::string& field) {
  if (node.is_null()) return false;
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string())
    return Status::Error(field + ": not an object with a \"type\"");
  const std::string type = node["type"].get<std::string>();
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const json& list = node.contains("normalizers") ? node["normalizers"] : json();
    if (!list.is_array()) return Status::Error(field + ".normalizers: missing or not an array");
    bool nfc = false;
    for (size_t i = 0; i < list.size(); ++i) {
      auto inner = read_normalizer(list[i], field + ".normalizers[" + std::to_string(i) + "]");
      if (!inner.ok()) return inner.status();
      nfc = nfc || *inner;
    }
    return nfc;
  }
  return Status::Error(field + ".type: unsupported normalizer type '" + type + "' (supported: NFC, Sequence)");
}

bool has_byte_level(const json& node) {
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) return false;
  const std::string type = node["type"].get<std::string>();
  if (type == "ByteLevel") return true;
  if (type == "Sequence" && node.contains("pretokenizers") && node["pretokenizers"].is_array())
    for (const json& inner : node["pretokenizers"])
      if (has_byte_level(inner)) return true;
  return false;
}

Status read_model(const json& model, BpeTokenizer& t) {
  if (!model.is_object()) return Status::Error("model: missing or not an object");
  const std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "";
  if (type != "BPE")
    return Status::Error("model.type: '" + type + "' is not a BPE model (WordPiece, Unigram and WordLevel are not supported)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
      return Status::Error(std::string("model.") + key + ": not supported in a byte-level BPE");
  if (model.contains("byte_fallback") && model["byte_fallback"].is_boolean() && model["byte_fallback"].get<bool>())
    return Status::Error("model.byte_fallback: true is a SentencePiece-style BPE, not byte-level");
  if (model.contains("ignore_merges") && model["ignore_merges"].is_boolean())
    t.ignore_merges = model["ignore_merges"].get<bool>();

  if (!model.contains("vocab") || !model["vocab"].is_object())
    return Status::Error("model.vocab: missing or not an object");
  for (const auto& [piece, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      return Status::Error("model.vocab[\"" + piece + "\"]: not a non-negative integer id");
    t.vocab[piece] = static_cast<int32_t>(id.get<int64_t>());
  }

  if (!model.contains("merges") || !model["merges"].is_array())
    return Status::Error("model.merges: missing or not an array");
  const json& merges = model["merges"];
  t.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (merges[i].is_string()) {
      const std::string s = merges[i].get<std::string>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        return Status::Error(field + ": '" + s + "' is not two tokens separated by one space");
      a = s.substr(0, space), b = s.substr(space + 1);
    } else if (merges[i].is_array() && merges[i].size() == 2 && merges[i][0].is_string() && merges[i][1].is_string()) {
      a = merges[i][0].get<std::string>(), b = merges[i][1].get<std::string>();
    } else {
      return Status::Error(field + ": neither \"a b\" nor [\"a\", \"b\"]");
    }
    auto ia = t.vocab.find(a), ib = t.vocab.find(b), im = t.vocab.find(a + b);
    if (ia == t.vocab.end()) return Status::Error(field + ": token '" + a + "' is not in model.vocab");
    if (ib == t.vocab.end()) return Status::Error(field + ": token '" + b + "' is not in model.vocab");
    if (im == t.vocab.end()) return Status::Error(field + ": the merged token '" + a + b + "' is not in model.vocab");
    // A repeated pair keeps its first (best) rank, as tokenizers does.
    t.merges.emplace(pair_key(ia->second, ib->second), Merge{static_cast<int32_t>(i), im->second});
  }
  return Status::Ok();
}

Status read_added_tokens(const json& list, BpeTokenizer& t) {
  if (list.is_null()) return Status::Ok();
  if (!list.is_array()) return Status::Error("added_tokens: not an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const json& node = list[i];
    if (!node.is_object()) return Status::Error(field + ": not an object");
    if (!node.contains("id") || !node["id"].is_number_integer() || node["id"].get<int64_t>() < 0 ||
        node["id"].get<int64_t>() > INT32_MAX)
      return Status::Error(field + ".id: missing or not a non-negative integer");
    if (!node.contains("content") || !node["content"].is_string() || node["content"].get<std::string>().empty())
      return Status::Error(field + ".content: missing, empty or not a string");
    AddedToken a;
    a.id = static_cast<int32_t>(node["id"].get<int64_t>());
    a.content = node["content"].get<std::string>();
    auto flag = [&](const char* key) { return node.contains(key) && node[key].is_boolean() && node[key].get<bool>(); };
    a.special = flag("special");
    a.lstrip = flag("lstrip");
    a.rstrip = flag("rstrip");
    a.single_word = flag("single_word");
    t.added_ids[a.content] = a.id;
    t.added.push_back(std::move(a));
  }
  std::stable_sort(t.added.begin(), t.added.end(),
                   [](const AddedToken& x, const AddedToken& y) { return x.content.size() > y.content.size(); });
  return Status::Ok();
}

// id -> raw bytes and special flags; every byte must have its symbol.
Status index_tokens(BpeTokenizer& t) {
  int32_t top = -1;
  for (const auto& [piece, id] : t.vocab) top = std::max(top, id);
  for (const AddedToken& a : t.added) top = std::max(top, a.id);
  t.token_bytes_.assign(static_cast<size_t>(top + 1), std::string());
  t.special_.assign(static_cast<size_t>(top + 1), false);
  for (const auto& [piece, id] : t.vocab) t.token_bytes_[id] = byte_level_bytes(piece);
  for (const AddedToken& a : t.added) {
    t.token_bytes_[a.id] = a.content;
    t.special_[a.id] = a.special;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = t.vocab.find(byte_level_spelling(std::string(1, static_cast<char>(b))));
    if (it == t.vocab.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      return Status::Error("model.vocab: no token for byte " + std::string(hex) +
                           " (a byte-level vocabulary has all 256)");
    }
    t.byte_ids_[b] = it->second;
  }
  return Status::Ok();
}

}  // namespace

bool is_byte_level_bpe(const json& doc) {
  return doc.is_object() && doc.contains("model") && doc["model"].is_object() && doc["model"].contains("type") &&
         doc["model"]["type"] == "BPE" && doc.contains("pre_tokenizer") && has_byte_level(doc["pre_tokenizer"]);
}

Result<std::shared_ptr<const Tokenizer>> make_bpe_tokenizer(const json& doc, const std::string& path,
                                                            const TokenizerFileOptions& options) {
  try {
    if (!doc.is_object()) return Status::Error(path + ": not a JSON object");
    auto t = std::make_shared<BpeTokenizer>();
    Status s = read_model(doc.contains("model") ? doc["model"] : json(), *t);
    if (!s.ok()) return s.wrap(path);
    if (!doc.contains("pre_tokenizer") || !has_byte_level(doc["pre_tokenizer"]))
      return Status::Error(path + ": pre_tokenizer: no ByteLevel step, so this is not a byte-level BPE");
    auto steps = read_pre_tokenizer(doc["pre_tokenizer"], "pre_tokenizer");
    if (!steps.ok()) return steps.status().wrap(path);
    t->steps = std::move(*steps);
    auto nfc = read_normalizer(doc.contains("normalizer") ? doc["normalizer"] : json(), "normalizer");
    if (!nfc.ok()) return nfc.status().wrap(path);
    t->nfc = *nfc;
    s = read_added_tokens(doc.contains("added_tokens") ? doc["added_tokens"] : json(), *t);
    if (!s.ok()) return s.wrap(path);
    s = index_tokens(*t);
    if (!s.ok()) return s.wrap(path);
    auto ends = resolve_tokenizer_ends(*t, options);
    if (!ends.ok()) return ends.status();
    t->ends_ = std::move(*ends);
    return std::shared_ptr<const Tokenizer>(std::move(t));
  } catch (const std::exception& e) {
    // nlohmann throws on a type we did not check; the file is still at fault.
    return Status::Error(path + ": malformed tokenizer file: " + e.what());
  }
}

Result<std::shared_ptr<const Tokenizer>> load_bpe_tokenizer(const std::string& path,
                                                            const TokenizerFileOptions& options) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error(path + ": not valid JSON");
  return make_bpe_tokenizer(doc, path, options);
}

}  // namespace mtpc
