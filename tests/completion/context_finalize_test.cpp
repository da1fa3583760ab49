// finalize_completion: what the user gets inserted. Never repeats the
// suffix, keeps brackets balanced against it, no trailing blank lines.
// And the stop rule's contract with the decoding loop.
#include <gtest/gtest.h>

#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::accepted;
using testing::marked;

std::string finalize_at(Language lang, const std::string& source, const std::string& completion) {
  auto m = marked(source);
  Document doc(lang, m.text);
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, ContextOptions{});
  return finalize_completion(doc, m.cursor, plan, completion);
}

TEST(ContextFinalize, DoesNotRepeatTheRestOfTheLine) {
  // The model wrote the whole line again after the cursor.
  EXPECT_EQ(finalize_at(Language::kJavaScript, "const r = compute(a^, b);\n", "lpha, b);"), "lpha");
  EXPECT_EQ(finalize_at(Language::kPython, "total = price * ^ + tax\n", "count + tax"), "count");
}

TEST(ContextFinalize, DropsClosersTheSuffixAlreadyHas) {
  EXPECT_EQ(finalize_at(Language::kPython, "print(len(^))\n", "items))"), "items");
  EXPECT_EQ(finalize_at(Language::kC, "int x = f(g(^));\n", "1, 2));"), "1, 2");
  // The suffix has one ')': the model's last one goes (with its ';'), and
  // the suffix's then closes f(.
  auto m = marked("int x = f(g(^)\n");
  std::string out = finalize_at(Language::kC, "int x = f(g(^)\n", "1), 2);");
  EXPECT_EQ(out, "1), 2");
  EXPECT_EQ(accepted(m, out), "int x = f(g(1), 2)\n");
}

TEST(ContextFinalize, KeepsClosersTheDocumentNeeds) {
  // Nothing after the cursor closes the call: the model's ')' stays.
  EXPECT_EQ(finalize_at(Language::kPython, "x = max(^", "a, b)"), "a, b)");
  EXPECT_EQ(finalize_at(Language::kGo, "func f() {\n\tg(^\n}\n", "1, 2)"), "1, 2)");
}

TEST(ContextFinalize, ClosesAnOpenerThatWouldStealTheSuffixsCloser) {
  // "len(xs" + ")" would leave print( unclosed: close len( here.
  auto m = marked("print(^)\n");
  EXPECT_EQ(finalize_at(Language::kPython, "print(^)\n", "len(xs"), "len(xs)");
  EXPECT_EQ(accepted(m, "len(xs)"), "print(len(xs))\n");
  EXPECT_EQ(finalize_at(Language::kRust, "fn main() { foo(^); }\n", "bar(vec![1, 2]"), "bar(vec![1, 2])");
}

TEST(ContextFinalize, BracketsInStringsAndCommentsAreNotCounted) {
  EXPECT_EQ(finalize_at(Language::kPython, "print(^)\n", "\")\" + s)"), "\")\" + s");
  EXPECT_EQ(finalize_at(Language::kJavaScript, "f(^)\n", "x) // (see g)"), "x) // (see g)");
}

TEST(ContextFinalize, TrimsTrailingBlankLines) {
  EXPECT_EQ(finalize_at(Language::kPython, "def f():^\n", "\n    return 1\n    \n\n"), "\n    return 1");
  EXPECT_EQ(finalize_at(Language::kPython, "x = ^\n", "1   "), "1");
}

TEST(ContextFinalize, KeepsTheLineBreakBeforeASuffixOnTheSameLine) {
  // `{^}`: the editor's closing brace sits right after the cursor; the body
  // ends with a line break so the brace lands on its own line.
  auto m = marked("function f() {^}\n");
  Document doc(Language::kJavaScript, m.text);
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, ContextOptions{});
  EXPECT_EQ(plan.scope, CompletionScope::kBlock);
  std::string out = finalize_completion(doc, m.cursor, plan, "\n  return 1;\n}");
  EXPECT_EQ(accepted(m, out), "function f() {\n  return 1;\n}\n");
}

TEST(ContextFinalize, LineScopeNeverSpansLines) {
  EXPECT_EQ(finalize_at(Language::kGo, "x := ^\n", "1\ny := 2"), "1");
}

TEST(ContextFinalize, DropsAnIncompleteUtf8SequenceAtTheEnd) {
  EXPECT_EQ(finalize_at(Language::kPython, "s = \"^\"\n", "caf\xc3"), "caf");
  EXPECT_EQ(finalize_at(Language::kPython, "s = \"^\"\n", "caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(finalize_at(Language::kPython, "s = \"^\"\n", "\xe2\x82"), "");
}

TEST(ContextFinalize, SkippedPlanGivesNothing) {
  EXPECT_EQ(finalize_at(Language::kJava, "class A { int co^unt; }\n", "x"), "");
}

TEST(ContextStopRule, LineScopeStopsAtTheFirstNewline) {
  auto m = marked("x = ^\n");
  Document doc(Language::kPython, m.text);
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, ContextOptions{});
  StopRule rule(doc, m.cursor, plan, ContextOptions{});
  EXPECT_FALSE(rule("1 + "));
  EXPECT_FALSE(rule("1 + 2"));
  EXPECT_EQ(rule("1 + 2\ny"), 5u);
}

TEST(ContextStopRule, AStartedOverCompletionIsJudgedAfresh) {
  // A decoding loop may restart (a new sample): the rule must not carry the
  // old text's lines over.
  auto m = marked("def f():^\n");
  Document doc(Language::kPython, m.text);
  ContextOptions options;
  options.max_lines = 2;
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, options);
  StopRule rule(doc, m.cursor, plan, options);
  EXPECT_FALSE(rule("\n    a = 1\n"));
  EXPECT_EQ(rule("\n    a = 1\n    b = 2\n"), 20u);  // "\n    a = 1\n    b = 2"
  EXPECT_FALSE(rule("\n    z = 1\n"));
  EXPECT_EQ(rule("\n    z = 1\nprint()\n"), 10u);
}

TEST(ContextStopRule, MovedRuleStillWorks) {
  auto m = marked("int f(void) {^\n}\n");
  Document doc(Language::kC, m.text);
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, ContextOptions{});
  StopRule a(doc, m.cursor, plan, ContextOptions{});
  StopRule b = std::move(a);
  EXPECT_EQ(b("\n  return 0;\n}\n"), 14u);
}

}  // namespace
}  // namespace mtpc::completion
