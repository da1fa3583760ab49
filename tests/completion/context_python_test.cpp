// Python: indentation blocks. Prompt, scope, where the stop rule ends a
// completion (end of line, dedent, max_lines) and the final text.
#include <gtest/gtest.h>

#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::accepted;
using testing::complete_at;
using testing::marked;

bool parses_clean(Language lang, const std::string& text) {
  std::string tree = Document(lang, text).tree_string();
  return !tree.empty() && tree.find("ERROR") == std::string::npos &&
         tree.find("MISSING") == std::string::npos;
}

TEST(ContextPython, AfterColonCompletesTheBodyAndStopsAtTheDedent) {
  auto m = marked(
      "import os\n"
      "from typing import List\n"
      "\n"
      "def total(xs: List[int]) -> int:^\n"
      "\n"
      "def main():\n"
      "    print(total([1, 2]))\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor,
                       "\n    result = 0\n    for x in xs:\n        result += x\n    return result\n"
                       "\ndef unrelated():\n    pass\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  EXPECT_FALSE(o.plan.skip);
  EXPECT_EQ(o.final_text, "\n    result = 0\n    for x in xs:\n        result += x\n    return result");
  EXPECT_TRUE(parses_clean(Language::kPython, accepted(m, o.final_text)));
}

TEST(ContextPython, MidLineCompletesTheRestOfTheLineOnly) {
  auto m = marked(
      "def f(a, b):\n"
      "    value = max(^)\n"
      "    return value\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor, "a, b)\n    return value\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  EXPECT_EQ(o.stopped, "a, b)");
  // The ')' is already after the cursor: not repeated.
  EXPECT_EQ(o.final_text, "a, b");
  EXPECT_EQ(accepted(m, o.final_text), "def f(a, b):\n    value = max(a, b)\n    return value\n");
}

TEST(ContextPython, CursorAfterCodeOnTheLineIsLineScope) {
  auto m = marked("def f(a):\n    x = a +^\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor, " 1\n    y = 2\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  EXPECT_EQ(o.final_text, " 1");
}

TEST(ContextPython, EmptyLineInBlockStopsAtDedentAndDoesNotRepeatTheNextLine) {
  auto m = marked(
      "def f(xs):\n"
      "    total = 0\n"
      "    ^\n"
      "    return total\n"
      "\n"
      "print(f([1]))\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor,
                       "for x in xs:\n        total += x\n    return total\n\nprint(f([2]))\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  EXPECT_EQ(o.stopped, "for x in xs:\n        total += x\n    return total\n");
  EXPECT_EQ(o.final_text, "for x in xs:\n        total += x");
  EXPECT_TRUE(parses_clean(Language::kPython, accepted(m, o.final_text)));
}

TEST(ContextPython, LinesInsideAStringDoNotEndTheBlock) {
  auto m = marked("def usage():^\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor,
                       "\n    text = \"\"\"\nUsage: tool [options]\n\"\"\"\n    return text\nprint(usage())\n");
  EXPECT_EQ(o.final_text, "\n    text = \"\"\"\nUsage: tool [options]\n\"\"\"\n    return text");
}

TEST(ContextPython, BracketContinuationLinesDoNotEndTheBlock) {
  auto m = marked("def config():^\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor,
                       "\n    return dict(\na=1,\n    )\nx = 1\n");
  EXPECT_EQ(o.final_text, "\n    return dict(\na=1,\n    )");
}

TEST(ContextPython, AtMostMaxLines) {
  auto m = marked("def many():^\n");
  Document doc(Language::kPython, m.text);
  std::string output;
  for (int i = 0; i < 20; ++i) output += "\n    x" + std::to_string(i) + " = " + std::to_string(i);
  ContextOptions options;
  options.max_lines = 3;
  auto o = complete_at(doc, m.cursor, output, options);
  EXPECT_EQ(o.final_text, "\n    x0 = 0\n    x1 = 1\n    x2 = 2");
}

TEST(ContextPython, CutWindowKeepsImportsAndTheEnclosingSignatures) {
  std::string src = "import os\nimport sys\n\nclass Store:\n    def load(self, path):\n";
  for (int i = 0; i < 200; ++i) src += "        step_" + std::to_string(i) + " = os.path.join(path)\n";
  src += "        ^\n    def save(self):\n        pass\n";
  auto m = marked(src);
  Document doc(Language::kPython, m.text);
  ContextOptions options;
  options.token_budget = 800;
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, options);
  EXPECT_LE(plan.prefix.size() + plan.suffix.size(), options.token_budget);
  EXPECT_TRUE(plan.fim);
  EXPECT_EQ(plan.prefix.rfind("import os\nimport sys\nclass Store:\n    def load(self, path):\n", 0), 0u)
      << plan.prefix.substr(0, 200);
  // The window runs up to the cursor and starts on a whole line.
  EXPECT_NE(plan.prefix.find("\n        step_199 = os.path.join(path)\n        "), std::string::npos);
  EXPECT_EQ(plan.prefix.find("step_0 "), std::string::npos);
  EXPECT_EQ(plan.suffix, "\n    def save(self):\n        pass\n");
}

TEST(ContextPython, ShortFileIsWholeAndSnippetsOfOtherFilesComeFirstAsComments) {
  auto m = marked("from util import area\n\nprint(area(^))\n");
  Document doc(Language::kPython, m.text, "main.py");
  Document util(Language::kPython, "def area(w, h):\n    return w * h\n\ndef unused():\n    pass\n", "util.py");
  Document js(Language::kJavaScript, "function helper(x) {\n  return x;\n}\n", "web.js");
  CompletionPlan plan = plan_completion(doc, m.cursor, {&js, &util}, ContextOptions{});
  // Same language first, then the others; all as Python comments.
  std::string expected_head =
      "# from util.py:\n# def area(w, h):\n# def unused():\n"
      "# from web.js:\n# function helper(x) {\n";
  EXPECT_EQ(plan.prefix, expected_head + "from util import area\n\nprint(area(");
  EXPECT_EQ(plan.suffix, "))\n");
}

TEST(ContextPython, SnippetsStopWhenTheBudgetIsUsed) {
  auto m = marked("import util\n\nutil.^\n");
  Document doc(Language::kPython, m.text, "main.py");
  std::vector<Document> others;
  for (int i = 0; i < 20; ++i) {
    std::string src;
    for (int f = 0; f < 20; ++f) src += "def helper_" + std::to_string(i) + "_" + std::to_string(f) + "(x):\n    return x\n";
    others.emplace_back(Language::kPython, src, "lib" + std::to_string(i) + ".py");
  }
  std::vector<const Document*> ptrs;
  for (const auto& o : others) ptrs.push_back(&o);
  ContextOptions options;
  options.token_budget = 1000;
  CompletionPlan plan = plan_completion(doc, m.cursor, ptrs, options);
  EXPECT_LE(plan.prefix.size() + plan.suffix.size(), 1000u);
  // The file itself is whole at the end; snippets fill what is left, each
  // at most snippet_max_bytes, cut at whole lines.
  EXPECT_EQ(plan.prefix.substr(plan.prefix.size() - 18), "import util\n\nutil.");
  EXPECT_EQ(plan.prefix.rfind("# from lib0.py:\n# def helper_0_0(x):\n", 0), 0u);
  EXPECT_NE(plan.prefix.find("# from lib1.py:\n"), std::string::npos);
  EXPECT_EQ(plan.prefix.find("# from lib19.py:"), std::string::npos);  // out of budget
  // Every snippet that made it has at least one signature under its title.
  for (size_t at = plan.prefix.find("# from "); at != std::string::npos; at = plan.prefix.find("# from ", at + 1)) {
    size_t next_line = plan.prefix.find('\n', at) + 1;
    EXPECT_EQ(plan.prefix.compare(next_line, 12, "# def helper"), 0) << plan.prefix.substr(at, 80);
  }
  EXPECT_GT(plan.prefix.size() + plan.suffix.size(), 1000u - options.snippet_min_bytes);
}

TEST(ContextPython, WithoutFimThereIsNoSuffixAndTheWholeBudgetIsPrefix) {
  std::string src;
  for (int i = 0; i < 100; ++i) src += "x" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  auto m = marked(src + "^\n" + src);
  Document doc(Language::kPython, m.text);
  ContextOptions options;
  options.fim = false;
  options.token_budget = 300;
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, options);
  EXPECT_FALSE(plan.fim);
  EXPECT_TRUE(plan.suffix.empty());
  EXPECT_LE(plan.prefix.size(), 300u);
  EXPECT_GT(plan.prefix.size(), 250u);
  EXPECT_EQ(plan.prefix.substr(plan.prefix.size() - 9), "x99 = 99\n");
}

TEST(ContextPython, ColonInsideADictIsNoBlock) {
  auto m = marked("config = {\"name\":^}\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor, " \"demo\"}\nprint(config)\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  EXPECT_EQ(o.final_text, " \"demo\"");
}

TEST(ContextPython, MidWordIsSkipped) {
  auto m = marked("def f():\n    ret^urn 1\n");
  Document doc(Language::kPython, m.text);
  auto o = complete_at(doc, m.cursor, "x\n");
  EXPECT_TRUE(o.plan.skip);
  EXPECT_EQ(o.final_text, "");
}

}  // namespace
}  // namespace mtpc::completion
