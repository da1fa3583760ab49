// The next-line benchmark: scoring (exact match, edit similarity on known
// pairs), the builder on a small tree (determinism by seed, binary and huge
// files skipped, decontamination against a corpus, holes where they say),
// the loader's bad input, and `mtpc eval build-nextline` + `mtpc eval
// --benchmark nextline` end to end with the fixture model.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "eval/nextline.h"
#include "eval/nextline_build.h"
#include "test_util.h"

namespace {

using mtpc::eval::build_nextline;
using mtpc::eval::load_nextline;
using mtpc::eval::NextlineBuildOptions;
using mtpc::testing::read_file;
using mtpc::testing::read_lines;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;

const std::string kBinary = MTPC_BINARY;

void put(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file(path, bytes);
}

// A Python file of `lines` distinct, ordinary lines.
std::string python_file(const std::string& name, int lines) {
  std::string s = "def " + name + "(values):\n";
  for (int i = 0; i < lines; ++i)
    s += "    total_" + std::to_string(i) + " = sum(v * " + std::to_string(i + 1) + " for v in values)\n";
  s += "    return total_0\n";
  return s;
}

// A held-out tree: three ordinary files, one binary, one huge, one copied
// from the corpus, and a file of another extension.
void held_out_tree(const TempDir& tmp) {
  put(tmp / "src/pkg/alpha.py", python_file("alpha", 30));
  put(tmp / "src/pkg/beta.py", python_file("beta", 30));
  put(tmp / "src/pkg/sub/gamma.py", python_file("gamma", 30) + "# caf\xc3\xa9 na\xc3\xafve\n");
  put(tmp / "src/pkg/blob.py", std::string("x = 1\n\0\0\0binary\n", 18));
  put(tmp / "src/pkg/latin1.py", "name = 'caf\xe9'\n");
  put(tmp / "src/pkg/huge.py", python_file("huge", 4000));
  const std::string copied =
      "class ConnectionPoolManager:\n    def request_with_retries(self, method_name, target_url, retry_budget):\n"
      "        response_object = self.pool_connection.urlopen(method_name, target_url, retries=retry_budget)\n"
      "        return response_object\n";
  put(tmp / "src/pkg/copied.py", copied);
  put(tmp / "src/pkg/notes.txt", "not python\n");
  put(tmp / "corpus/lib/original.py", "# the training copy\n" + copied);
  put(tmp / "corpus/lib/unrelated.py", "import os\n\nprint(os.getcwd())\n");
}

NextlineBuildOptions small_options(const TempDir& tmp, uint64_t seed, const std::string& out) {
  NextlineBuildOptions o;
  o.sources = {tmp / "src"};
  o.corpus = {tmp / "corpus"};
  o.seed = seed;
  o.holes = 12;
  o.max_holes_per_file = 6;
  o.max_file_bytes = 20000;
  o.out = out;
  return o;
}

TEST(NextlineScoring, ExactMatchComparesStrippedLines) {
  using mtpc::eval::nextline_exact_match;
  EXPECT_TRUE(nextline_exact_match("    return x", "return x"));
  EXPECT_TRUE(nextline_exact_match("return x  \r", "  return x\n"));
  EXPECT_FALSE(nextline_exact_match("return x", "return y"));
  EXPECT_FALSE(nextline_exact_match("return x", ""));
  EXPECT_TRUE(nextline_exact_match("", "   "));
}

TEST(NextlineScoring, EditSimilarityIsOneMinusLevenshteinOverTheLongerLength) {
  using mtpc::eval::levenshtein;
  using mtpc::eval::nextline_edit_similarity;
  EXPECT_EQ(levenshtein("kitten", "sitting"), 3u);
  EXPECT_EQ(levenshtein("", "abc"), 3u);
  EXPECT_EQ(levenshtein("flaw", "lawn"), 2u);
  EXPECT_EQ(levenshtein("same", "same"), 0u);
  EXPECT_DOUBLE_EQ(nextline_edit_similarity("kitten", "sitting"), 100.0 * (1 - 3.0 / 7));
  EXPECT_DOUBLE_EQ(nextline_edit_similarity("  return x", "return x"), 100.0);
  EXPECT_DOUBLE_EQ(nextline_edit_similarity("abcd", ""), 0.0);
  EXPECT_DOUBLE_EQ(nextline_edit_similarity("", ""), 100.0);
  EXPECT_DOUBLE_EQ(nextline_edit_similarity("foo(a, b)", "foo(a, c)"), 100.0 * (1 - 1.0 / 9));
  EXPECT_EQ(mtpc::eval::first_line("x = 1\ny = 2"), "x = 1");
}

TEST(NextlineBuild, SameSeedSameFileOtherSeedOtherHoles) {
  TempDir tmp;
  held_out_tree(tmp);
  auto a = build_nextline(small_options(tmp, 7, tmp / "a.jsonl"));
  auto b = build_nextline(small_options(tmp, 7, tmp / "b.jsonl"));
  auto c = build_nextline(small_options(tmp, 8, tmp / "c.jsonl"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_EQ(read_file(tmp / "a.jsonl"), read_file(tmp / "b.jsonl"));
  EXPECT_NE(read_file(tmp / "a.jsonl"), read_file(tmp / "c.jsonl"));
  EXPECT_EQ(a->holes, 12);
}

TEST(NextlineBuild, SkipsBinaryAndHugeFilesAndDropsTheCorpusCopy) {
  TempDir tmp;
  held_out_tree(tmp);
  auto r = build_nextline(small_options(tmp, 1, tmp / "bench.jsonl"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->files_seen, 7);  // the .py files
  EXPECT_EQ(r->skipped_binary, 2);  // a NUL byte; Latin-1 (not UTF-8)
  EXPECT_EQ(r->skipped_huge, 1);
  EXPECT_EQ(r->dropped_overlap, 1);
  EXPECT_EQ(r->eligible, 3);
  EXPECT_EQ(r->corpus_records, 2);

  auto bench = load_nextline(tmp / "bench.jsonl");
  ASSERT_TRUE(bench.ok()) << bench.status().message();
  EXPECT_EQ(bench->header["dropped"][0]["path"], "src/pkg/copied.py");
  EXPECT_EQ(bench->header["seed"], 1);
  std::set<std::string> files;
  std::set<std::string> positions;
  for (const auto& h : bench->holes) {
    files.insert(h.file);
    positions.insert(h.position);
    const std::string& text = bench->files.at(h.file).text;
    ASSERT_LE(static_cast<size_t>(h.offset), text.size());
    EXPECT_FALSE(mtpc::eval::strip_line(h.truth).empty()) << h.id;
    EXPECT_EQ(text.find('\n', h.offset), h.offset + h.truth.size()) << h.id;
    if (h.position == "line_start") EXPECT_TRUE(h.offset == 0 || text[h.offset - 1] == '\n') << h.id;
    else EXPECT_NE(text[h.offset - 1], '\n') << h.id;
    // Never inside a UTF-8 character.
    EXPECT_NE(static_cast<unsigned char>(text[h.offset]) & 0xC0, 0x80) << h.id;
  }
  for (const std::string& f : files) EXPECT_EQ(f.find("copied"), std::string::npos) << f;
  EXPECT_EQ(positions, (std::set<std::string>{"inside_line", "line_start"}));
  EXPECT_EQ(bench->files.at("src/pkg/alpha.py").language, "python");
}

TEST(NextlineBuild, CorpusDirectoryOfTheCorpusBuilderIsReadToo) {
  TempDir tmp;
  held_out_tree(tmp);
  auto built = run_command(kBinary + " corpus build --from " + (tmp / "corpus") + " --ext .py --out " +
                           (tmp / "built"));
  ASSERT_EQ(built.exit_code, 0) << built.output;
  NextlineBuildOptions o = small_options(tmp, 1, tmp / "bench.jsonl");
  o.corpus = {tmp / "built"};
  auto r = build_nextline(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->corpus_records, 2);
  EXPECT_EQ(r->dropped_overlap, 1);
}

TEST(NextlineBuild, BadOptionsAndMissingDirectoriesFail) {
  TempDir tmp;
  held_out_tree(tmp);
  NextlineBuildOptions o = small_options(tmp, 1, tmp / "x.jsonl");
  o.sources = {tmp / "missing"};
  auto r = build_nextline(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing"), std::string::npos) << r.status().message();
  o = small_options(tmp, 1, tmp / "x.jsonl");
  o.corpus = {tmp / "nope"};
  EXPECT_FALSE(build_nextline(o).ok());
  o = small_options(tmp, 1, tmp / "x.jsonl");
  o.holes = 0;
  EXPECT_FALSE(build_nextline(o).ok());
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.jsonl"));
}

// A valid header, one file, then `rest`.
std::string bench_text(const std::string& rest) {
  return json{{"mtpc_nextline", 1}, {"seed", 3}}.dump() + "\n" +
         json{{"type", "file"}, {"path", "a.py"}, {"language", "python"}, {"sha256", ""}, {"text", "x = 1\ny = 2\n"}}
             .dump() +
         "\n" + rest;
}

std::string load_error(const TempDir& tmp, const std::string& content) {
  write_file(tmp / "b.jsonl", content);
  auto b = load_nextline(tmp / "b.jsonl");
  return b.ok() ? "" : b.status().message();
}

TEST(NextlineLoad, BadInputIsAClearErrorWithTheLineNumber) {
  TempDir tmp;
  const std::string hole = R"({"type":"hole","id":"h0","file":"a.py","offset":6,"position":"line_start","truth":"y = 2"})";
  write_file(tmp / "ok.jsonl", bench_text(hole + "\n"));
  auto ok = load_nextline(tmp / "ok.jsonl");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->holes.size(), 1u);

  std::string e = load_error(tmp, bench_text("{not json\n"));
  EXPECT_NE(e.find("b.jsonl:3: not a JSON object"), std::string::npos) << e;
  e = load_error(tmp, bench_text(R"({"type":"hole","id":"h0","file":"a.py","position":"line_start","truth":"y"})"));
  EXPECT_NE(e.find(":3: missing field \"offset\""), std::string::npos) << e;
  e = load_error(tmp, bench_text(R"({"type":"hole","id":"h0","file":"a.py","offset":6,"position":"line_start"})"));
  EXPECT_NE(e.find(":3: missing field \"truth\""), std::string::npos) << e;
  e = load_error(tmp, bench_text(R"({"type":"hole","id":"h0","file":"a.py","offset":99,"position":"line_start","truth":""})"));
  EXPECT_NE(e.find(":3: hole h0: offset 99 is past the end of a.py (12 bytes)"), std::string::npos) << e;
  e = load_error(tmp, bench_text(R"({"type":"hole","id":"h0","file":"a.py","offset":6,"position":"line_start","truth":"z"})"));
  EXPECT_NE(e.find("truth is not the rest of the line"), std::string::npos) << e;
  e = load_error(tmp, bench_text(R"({"type":"hole","id":"h0","file":"b.py","offset":0,"position":"line_start","truth":"x"})"));
  EXPECT_NE(e.find("file \"b.py\" is not given before it"), std::string::npos) << e;
  e = load_error(tmp, bench_text(hole + "\n" + hole + "\n"));
  EXPECT_NE(e.find(":4: duplicate hole id h0"), std::string::npos) << e;
  e = load_error(tmp, R"({"type":"hole"})" "\n");
  EXPECT_NE(e.find(":1: the first line must be the header"), std::string::npos) << e;
  e = load_error(tmp, "");
  EXPECT_NE(e.find("no header"), std::string::npos) << e;
}

TEST(CliEvalNextline, BuildsThenCompletesEveryHoleThroughTheCoreAndResumes) {
  TempDir tmp, model;
  held_out_tree(tmp);
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  auto built = run_command(kBinary + " eval build-nextline --sources " + (tmp / "src") + " --corpus " +
                           (tmp / "corpus") + " --seed 5 --holes 6 --max-file-bytes 20000 --out " + (tmp / "b.jsonl"));
  ASSERT_EQ(built.exit_code, 0) << built.output;
  EXPECT_NE(built.output.find("build-nextline: 6 holes in"), std::string::npos) << built.output;
  EXPECT_NE(built.output.find("1 huge"), std::string::npos) << built.output;

  const std::string cmd = kBinary + " eval --benchmark nextline --data " + (tmp / "b.jsonl") + " --model " +
                          model.path() + " --deadline-ms 60000 --max-tokens 8 --out " + (tmp / "out");
  auto r = run_command(cmd + " --limit 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nextline: 4 holes; exact match "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("language python: 4 holes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("latency: p50 "), std::string::npos) << r.output;
  EXPECT_EQ(read_lines(tmp / "out/samples.jsonl").size(), 4u);
  const std::vector<std::string> results = read_lines(tmp / "out/results.jsonl");
  ASSERT_EQ(results.size(), 4u);
  for (const std::string& line : results) {
    json x = json::parse(line);
    const std::string c = x["completion"].get<std::string>();
    EXPECT_EQ(c.find('\n'), std::string::npos) << line;
    EXPECT_EQ(x["exact_match"].get<bool>(), mtpc::eval::nextline_exact_match(x["truth"].get<std::string>(), c));
    EXPECT_DOUBLE_EQ(x["edit_similarity"].get<double>(),
                     mtpc::eval::nextline_edit_similarity(x["truth"].get<std::string>(), c));
    EXPECT_GE(x["wall_ms"].get<double>(), 0.0);
  }

  // The rest of the holes: the first four are resumed, not generated again.
  auto again = run_command(cmd + " --json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_lines(tmp / "out/samples.jsonl").size(), 6u);
  json s = json::parse(again.output.substr(again.output.find("{\n")));
  EXPECT_EQ(s["holes"], 6);
  EXPECT_EQ(s["generation"]["samples_generated"], 2);
  EXPECT_EQ(s["generation"]["samples_resumed"], 4);
  EXPECT_EQ(s["latency"]["completions"], 6);
  EXPECT_EQ(s["latency"]["answered"], 6);
  EXPECT_EQ(s["per_position"]["inside_line"]["holes"].get<int>() + s["per_position"]["line_start"]["holes"].get<int>(),
            6);
  EXPECT_NE(read_file(tmp / "out/report.md").find("| all | 6 |"), std::string::npos);

  // Other settings into the same OUT are refused.
  auto other = run_command(cmd + " --no-fim");
  EXPECT_EQ(other.exit_code, 1) << other.output;

  // --max-prompt-tokens bounds the prompt; --no-fim is recorded.
  auto longest_prompt = [](const std::string& samples) {
    int64_t n = 0;
    for (const std::string& line : read_lines(samples)) {
      json x = json::parse(line);
      n = std::max(n, x["prefill_tokens"].get<int64_t>() + x["reused_tokens"].get<int64_t>());
    }
    return n;
  };
  EXPECT_GT(longest_prompt(tmp / "out/samples.jsonl"), 48);
  auto small = run_command(kBinary + " eval --benchmark nextline --data " + (tmp / "b.jsonl") + " --model " +
                           model.path() + " --deadline-ms 60000 --max-tokens 8 --max-prompt-tokens 40 --no-fim --out " +
                           (tmp / "small"));
  ASSERT_EQ(small.exit_code, 0) << small.output;
  EXPECT_LE(longest_prompt(tmp / "small/samples.jsonl"), 48);
  json g = json::parse(read_file(tmp / "small/generation.json"));
  EXPECT_EQ(g["completion"]["max_prompt_tokens"], 40);
  EXPECT_EQ(g["completion"]["fim"], false);

  // Both runs side by side: one chart point and one table row each.
  auto report = run_command(kBinary + " eval report " + (tmp / "out") + " " + (tmp / "small") + " --out " +
                            (tmp / "r.html"));
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find(": out | nextline | "), std::string::npos) << report.output;
  EXPECT_NE(report.output.find(": small | nextline | "), std::string::npos) << report.output;
  const std::string html = read_file(tmp / "r.html");
  size_t points = 0;
  for (size_t at = html.find("<circle class=\"run\""); at != std::string::npos;
       at = html.find("<circle class=\"run\"", at + 1))
    ++points;
  EXPECT_EQ(points, 2u);
  auto missing = run_command(kBinary + " eval report " + (tmp / "nothing-here"));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("no summary.json"), std::string::npos) << missing.output;
}

TEST(CliEvalNextline, UsageAndInputErrors) {
  TempDir tmp, model;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  write_file(tmp / "bad.jsonl", bench_text("{oops\n"));
  auto r = run_command(kBinary + " eval --benchmark nextline --data " + (tmp / "bad.jsonl") + " --model " +
                       model.path() + " --out " + (tmp / "out"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bad.jsonl:3: not a JSON object"), std::string::npos) << r.output;
  r = run_command(kBinary + " eval --benchmark nextline --data " + (tmp / "bad.jsonl") + " --reference");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_command(kBinary + " eval --data x");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--benchmark and --data are required"), std::string::npos) << r.output;
  r = run_command(kBinary + " eval build-nextline --sources " + (tmp / "none") + " --out " + (tmp / "o.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;
}

}  // namespace
