// mtpc tokenize through the real binary, on a hand-made byte-level BPE
// whose ids follow from its two merges.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {
namespace {

using nlohmann::json;
using testing::run_command;
using testing::TempDir;

const std::string kBinary = MTPC_BINARY;

// The 256 byte symbols, then "ab" = 256, "abc" = 257, special <eos> = 258.
void write_tiny_model(const std::string& dir) {
  std::filesystem::create_directories(dir);
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_spelling(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  json doc = {{"added_tokens", json::array({{{"id", 258}, {"content", "<eos>"}, {"special", true}}})},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", "ab c"})}}}};
  testing::write_file(dir + "/tokenizer.json", doc.dump());
}

TEST(TokenizeCommand, PrintsIdsAndPieces) {
  TempDir dir;
  write_tiny_model(dir / "model");
  auto r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "model") + "' --text 'abc ab<eos>\n'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "   257 -> 'abc'\n    32 -> ' '\n   256 -> 'ab'\n   258 -> <special>\n    10 -> '\\n'\n");

  testing::write_file(dir / "in.txt", std::string("ab\xFF", 3));
  r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "model") + "' --file '" + (dir / "in.txt") +
                  "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["ids"], json::array({256, 255}));
  EXPECT_EQ(j["pieces"], json::array({"ab", "\\xFF"}));
  EXPECT_EQ(j["special"], json::array({false, false}));
}

TEST(TokenizeCommand, BadInputIsAnErrorNamingIt) {
  TempDir dir;
  auto r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "nothing") + "' --text x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nothing"), std::string::npos) << r.output;

  std::filesystem::create_directories(dir / "bad");
  testing::write_file(dir / "bad/tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}, \"pre_tokenizer\": null}");
  r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "bad") + "' --text x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("model.type: 'Unigram'"), std::string::npos) << r.output;

  write_tiny_model(dir / "model");
  r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "model") + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_command("'" + kBinary + "' tokenize --model '" + (dir / "model") + "' --file '" + (dir / "missing.txt") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("missing.txt"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mtpc
