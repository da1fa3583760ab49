// Prompts against golden files, stop sequences, and program assembly.
//
// The golden files were written from this implementation and checked by eye
// against the published formats (see eval/prompts.h). To rewrite them after
// a deliberate change: MTPC_UPDATE_GOLDEN=1 build/tests/mtpc_eval_tests
// --gtest_filter='Prompts.*', then review the diff.
#include "eval/prompts.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "eval/program.h"
#include "common/datasets.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::humaneval_path;
using mtpc::testing::mbpp_path;
using mtpc::testing::read_file;
using mtpc::testing::write_file;


void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(MTPC_EVAL_GOLDEN_DIR) + "/" + name;
  if (std::getenv("MTPC_UPDATE_GOLDEN")) {
    write_file(path, actual);
    return;
  }
  std::string expected = read_file(path);
  ASSERT_FALSE(expected.empty()) << "missing golden file " << path;
  EXPECT_EQ(actual, expected) << "prompt differs from " << path;
}

TEST(Prompts, HumanEvalIsThePromptAsGiven) {
  Result<Dataset> d = load_dataset(Benchmark::kHumanEval, humaneval_path());
  ASSERT_TRUE(d.ok());
  const Task& t = *d->find("HumanEval/0");
  Result<Prompt> p = build_prompt(d.value(), t, PromptFormat::kHumanEval);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->text, t.prompt);
  expect_golden("humaneval_0.prompt.txt", p->text);
  EXPECT_EQ(p->stop, (std::vector<std::string>{"\nclass", "\ndef", "\n#", "\nif", "\nprint"}));
}

TEST(Prompts, MbppThreeShotIsTheOriginalPaperFormat) {
  Result<Dataset> d = load_dataset(Benchmark::kMbpp, mbpp_path());
  ASSERT_TRUE(d.ok());
  Result<Prompt> p = build_prompt(d.value(), *d->find("Mbpp/11"), PromptFormat::kMbppThreeShot);
  ASSERT_TRUE(p.ok()) << p.status().message();
  expect_golden("mbpp_11_3shot.prompt.txt", p->text);
  // Spot checks that do not depend on the golden file.
  EXPECT_EQ(p->text.rfind("You are an expert Python programmer, and here is your task: Write a function to find "
                          "the similar elements from the given two tuple lists. Your code should pass these "
                          "tests:\n\nassert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n",
                          0),
            0u);
  EXPECT_EQ(p->text.size() - p->text.rfind("[BEGIN]\n"), 8u);  // ends with the open [BEGIN]
  size_t shots = 0;
  for (size_t at = p->text.find("[DONE]"); at != std::string::npos; at = p->text.find("[DONE]", at + 1)) ++shots;
  EXPECT_EQ(shots, 3u);
  EXPECT_EQ(p->stop, std::vector<std::string>{"[DONE]"});
  EXPECT_EQ(parse_prompt_format(Benchmark::kMbpp, "default").value(), PromptFormat::kMbppThreeShot);
}

TEST(Prompts, MbppDocstringIsBigcodeFormat) {
  Result<Dataset> d = load_dataset(Benchmark::kMbpp, mbpp_path());
  ASSERT_TRUE(d.ok());
  Result<Prompt> p = build_prompt(d.value(), *d->find("Mbpp/11"), PromptFormat::kMbppDocstring);
  ASSERT_TRUE(p.ok());
  expect_golden("mbpp_11_docstring.prompt.txt", p->text);
  EXPECT_EQ(p->text,
            "\"\"\"\nWrite a python function to remove first and last occurrence of a given character from the "
            "string.\nassert remove_Occ(\"hello\",\"l\") == \"heo\"\n\"\"\"\n");
  EXPECT_EQ(p->stop.size(), 7u);
}

TEST(Prompts, ThreeShotNeedsTheShotTasks) {
  mtpc::testing::TempDir tmp;
  write_file(tmp / "m.jsonl",
             R"({"task_id": 11, "text": "t", "code": "c", "test_list": ["assert 1"], "test_setup_code": "", )"
             R"("challenge_test_list": []})"
             "\n");
  Result<Dataset> d = load_dataset(Benchmark::kMbpp, tmp / "m.jsonl");
  ASSERT_TRUE(d.ok());
  Result<Prompt> p = build_prompt(d.value(), d->tasks().front(), PromptFormat::kMbppThreeShot);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("needs MBPP task 2"), std::string::npos);
  EXPECT_FALSE(parse_prompt_format(Benchmark::kHumanEval, "3shot").ok());
  EXPECT_FALSE(parse_prompt_format(Benchmark::kMbpp, "5shot").ok());
}

TEST(Prompts, TruncateAtTheEarliestStop) {
  const auto& stops = stop_sequences(PromptFormat::kHumanEval);
  EXPECT_EQ(truncate_at_stop("    return 1\n\ndef other():\n    pass\n", stops), "    return 1\n");
  EXPECT_EQ(truncate_at_stop("    return 1\nprint(x)\n# c\n", stops), "    return 1");
  EXPECT_EQ(truncate_at_stop("    return 1\n", stops), "    return 1\n");
  EXPECT_EQ(truncate_at_stop("def f():\n  return 2\n[DONE]\nmore", stop_sequences(PromptFormat::kMbppThreeShot)),
            "def f():\n  return 2\n");
}

TEST(Program, HumanEvalAssembly) {
  Task t;
  t.prompt = "def f(x):\n";
  t.test = "def check(candidate):\n    assert candidate(1) == 2\n";
  t.entry_point = "f";
  EXPECT_EQ(assemble_program(Benchmark::kHumanEval, t, "    return x + 1\n"),
            "def f(x):\n    return x + 1\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n");
}

TEST(Program, MbppAssemblyPutsSetupAfterTheCode) {
  Task t;
  t.test_setup_code = "root = Node(1)";
  t.test_list = {"assert depth(root) == 1", "assert depth(None) == 0"};
  t.challenge_test_list = {"assert depth(Node(2)) == 1"};
  const std::string code = "class Node:\n    def __init__(self, v): self.v = v\ndef depth(n): return 0 if n is None else 1";
  EXPECT_EQ(assemble_program(Benchmark::kMbpp, t, code),
            code + "\nroot = Node(1)\nassert depth(root) == 1\nassert depth(None) == 0\n");
  ProgramOptions with_challenge;
  with_challenge.mbpp_challenge_tests = true;
  EXPECT_NE(assemble_program(Benchmark::kMbpp, t, code, with_challenge).find("assert depth(Node(2)) == 1\n"),
            std::string::npos);
  t.code = "reference";
  t.canonical_solution = "canonical";
  EXPECT_EQ(reference_completion(Benchmark::kMbpp, t), "reference");
  EXPECT_EQ(reference_completion(Benchmark::kHumanEval, t), "canonical");
}

}  // namespace
}  // namespace mtpc::eval
