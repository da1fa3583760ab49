// Loaders for HumanEval and MBPP: the shipped files, splits, and bad input
// named by file and line.
#include "eval/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "common/datasets.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::humaneval_path;
using mtpc::testing::mbpp_path;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;


const char* kMbppLine =
    R"({"task_id": 11, "text": "t", "code": "def f():\n    return 1", "test_list": ["assert f() == 1"], )"
    R"("test_setup_code": "", "challenge_test_list": []})";
const char* kHumanEvalLine =
    R"({"task_id": "HumanEval/0", "prompt": "def f():\n", "entry_point": "f", )"
    R"("canonical_solution": "    return 1\n", "test": "def check(c):\n    assert c() == 1\n"})";

TEST(Dataset, LoadsTheShippedHumanEval) {
  Result<Dataset> d = load_dataset(Benchmark::kHumanEval, humaneval_path());
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->tasks().size(), 164u);
  const Task& first = d->tasks().front();
  EXPECT_EQ(first.id, "HumanEval/0");
  EXPECT_EQ(first.number, 0);
  EXPECT_EQ(first.entry_point, "has_close_elements");
  EXPECT_NE(first.prompt.find("def has_close_elements"), std::string::npos);
  EXPECT_NE(first.test.find("def check(candidate)"), std::string::npos);
  EXPECT_EQ(d->tasks().back().id, "HumanEval/163");
  EXPECT_EQ(d->find("HumanEval/42")->number, 42);
  EXPECT_EQ(d->find("HumanEval/164"), nullptr);
  Result<std::vector<const Task*>> test = select_split(d.value(), "test");
  ASSERT_TRUE(test.ok());
  EXPECT_EQ(test->size(), 164u);
  EXPECT_FALSE(select_split(d.value(), "train").ok());
}

TEST(Dataset, LoadsTheShippedMbppAndItsSplits) {
  Result<Dataset> d = load_dataset(Benchmark::kMbpp, mbpp_path());
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->tasks().size(), 974u);
  const Task* t = d->find("Mbpp/11");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->number, 11);
  EXPECT_EQ(t->test_list.size(), 3u);
  EXPECT_EQ(t->challenge_test_list.size(), 2u);
  EXPECT_NE(t->code.find("def remove_Occ"), std::string::npos);
  for (auto [split, count, first, last] :
       {std::tuple{"prompt", 10, 1, 10}, {"test", 500, 11, 510}, {"validation", 90, 511, 600},
        {"train", 374, 601, 974}, {"all", 974, 1, 974}}) {
    Result<std::vector<const Task*>> s = select_split(d.value(), split);
    ASSERT_TRUE(s.ok()) << split;
    EXPECT_EQ(static_cast<int>(s->size()), count) << split;
    EXPECT_EQ(s->front()->number, first) << split;
    EXPECT_EQ(s->back()->number, last) << split;
  }
  EXPECT_FALSE(select_split(d.value(), "dev").ok());
  // test_setup_code is kept for the tasks that have it.
  int with_setup = 0;
  for (const Task& task : d->tasks()) with_setup += !task.test_setup_code.empty();
  EXPECT_EQ(with_setup, 2);
}

TEST(Dataset, ReadsPlainAndGzipByContentAndSkipsBlankLines) {
  TempDir tmp;
  write_file(tmp / "he.jsonl.gz", std::string("\n") + kHumanEvalLine + "\n   \n");  // plain, misnamed
  Result<Dataset> plain = load_dataset(Benchmark::kHumanEval, tmp / "he.jsonl.gz");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->tasks().size(), 1u);

  gzFile gz = gzopen((tmp / "mbpp.jsonl").c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  std::string line = std::string(kMbppLine) + "\n";
  gzwrite(gz, line.data(), static_cast<unsigned>(line.size()));
  gzclose(gz);
  Result<Dataset> zipped = load_dataset(Benchmark::kMbpp, tmp / "mbpp.jsonl");
  ASSERT_TRUE(zipped.ok()) << zipped.status().message();
  EXPECT_EQ(zipped->tasks().front().id, "Mbpp/11");
}

TEST(Dataset, NamesTheFileAndFirstBadLine) {
  TempDir tmp;
  struct Case {
    Benchmark benchmark;
    std::string bad_line;
    std::string expect;
  };
  std::string mbpp_no_tests = kMbppLine;
  mbpp_no_tests.replace(mbpp_no_tests.find("[\"assert f() == 1\"]"), 19, "[]");
  std::string mbpp_str_id = kMbppLine;
  mbpp_str_id.replace(mbpp_str_id.find("11"), 2, "\"11\"");
  std::string he_bad_id = kHumanEvalLine;
  he_bad_id.replace(he_bad_id.find("HumanEval/0"), 11, "HE-0");
  std::string he_no_entry = kHumanEvalLine;
  he_no_entry.replace(he_no_entry.find("\"entry_point\""), 13, "\"entry\"");
  std::vector<Case> cases = {
      {Benchmark::kMbpp, "{not json", "not valid JSON"},
      {Benchmark::kMbpp, "[1, 2]", "not a JSON object"},
      {Benchmark::kMbpp, mbpp_no_tests, "test_list is empty"},
      {Benchmark::kMbpp, mbpp_str_id, "field \"task_id\" is missing or not a positive integer"},
      {Benchmark::kMbpp, kMbppLine, "duplicate task_id Mbpp/11"},
      {Benchmark::kHumanEval, he_bad_id, "is not of the form HumanEval/<number>"},
      {Benchmark::kHumanEval, he_no_entry, "field \"entry_point\" is missing or not a string"},
  };
  for (const Case& c : cases) {
    std::string good = c.benchmark == Benchmark::kMbpp ? kMbppLine : kHumanEvalLine;
    std::string path = tmp / "data.jsonl";
    // Line 1 good, line 2 blank, line 3 bad, line 4 bad too (only the first is named).
    write_file(path, good + "\n\n" + c.bad_line + "\n{broken\n");
    Result<Dataset> d = load_dataset(c.benchmark, path);
    ASSERT_FALSE(d.ok()) << c.bad_line;
    EXPECT_EQ(d.status().message().rfind(path + ":3: ", 0), 0u) << d.status().message();
    EXPECT_NE(d.status().message().find(c.expect), std::string::npos) << d.status().message();
  }
  EXPECT_FALSE(load_dataset(Benchmark::kMbpp, tmp / "missing.jsonl").ok());
  write_file(tmp / "empty.jsonl", "\n");
  Result<Dataset> empty = load_dataset(Benchmark::kMbpp, tmp / "empty.jsonl");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no tasks"), std::string::npos);
}

TEST(Dataset, CanonicalTaskIdsFromSamplesFiles) {
  using nlohmann::json;
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json(11)), "Mbpp/11");
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json("11")), "Mbpp/11");
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json("Mbpp/11")), "Mbpp/11");
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json("MBPP/011")), "Mbpp/11");
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json("task 11")), "");
  EXPECT_EQ(canonical_task_id(Benchmark::kMbpp, json(nullptr)), "");
  EXPECT_EQ(canonical_task_id(Benchmark::kHumanEval, json("HumanEval/3")), "HumanEval/3");
  EXPECT_EQ(canonical_task_id(Benchmark::kHumanEval, json(3)), "");
  EXPECT_TRUE(parse_benchmark("mbpp").ok());
  EXPECT_FALSE(parse_benchmark("apps").ok());
}

}  // namespace
}  // namespace mtpc::eval
