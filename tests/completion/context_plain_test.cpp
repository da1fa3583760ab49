// Plain text (no grammar) and bad input: defined results, no crash.
#include <gtest/gtest.h>

#include <random>

#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::complete_at;
using testing::marked;
using testing::run_stop_rule;

bool starts_utf8_sequence(const std::string& s) {
  return s.empty() || (static_cast<unsigned char>(s.front()) & 0xC0) != 0x80;
}
bool ends_utf8_sequence(const std::string& s) {
  // The last lead byte's sequence is complete.
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return s.empty();
  auto lead = static_cast<unsigned char>(s[i - 1]);
  size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
  return s.size() - (i - 1) == need;
}

TEST(ContextPlain, PlainTextGetsWindowsAndLineScope) {
  auto m = marked("Dear team,\n\nthe release is ^\n\nBest,\nAda\n");
  Document doc(Language::kPlain, m.text, "notes.txt");
  Document other(Language::kPlain, "unrelated notes\n", "other.txt");
  EXPECT_FALSE(doc.has_tree());
  auto o = complete_at(doc, m.cursor, "planned for Monday.\nAnd more.\n", ContextOptions{}, {&other});
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  // No comment syntax to mark other files' snippets: none are added.
  EXPECT_EQ(o.plan.prefix, "Dear team,\n\nthe release is ");
  EXPECT_EQ(o.plan.suffix, "\n\nBest,\nAda\n");
  EXPECT_EQ(o.final_text, "planned for Monday.");
}

TEST(ContextPlain, WindowsRespectTheBudgetAndNeverSplitUtf8) {
  // Two-byte characters everywhere; budgets that fall inside them.
  std::string line;
  for (int i = 0; i < 40; ++i) line += "\xc3\xa9";  // é
  std::string src;
  for (int i = 0; i < 30; ++i) src += line;  // one huge line, no newline to cut at
  src += "^";
  for (int i = 0; i < 30; ++i) src += line;
  auto m = marked(src);
  Document doc(Language::kPlain, m.text);
  for (size_t budget : {0u, 1u, 7u, 101u, 333u, 1536u}) {
    ContextOptions options;
    options.token_budget = budget;
    CompletionPlan plan = plan_completion(doc, m.cursor, {}, options);
    EXPECT_LE(plan.prefix.size() + plan.suffix.size(), budget);
    EXPECT_TRUE(starts_utf8_sequence(plan.prefix)) << budget;
    EXPECT_TRUE(ends_utf8_sequence(plan.suffix)) << budget;
    EXPECT_EQ(plan.prefix, m.text.substr(m.cursor - plan.prefix.size(), plan.prefix.size()));
    EXPECT_EQ(plan.suffix, m.text.substr(m.cursor, plan.suffix.size()));
    if (budget >= 101) EXPECT_GE(plan.prefix.size() + plan.suffix.size(), budget - 3) << budget;
  }
}

TEST(ContextPlain, CursorBeyondTheTextIsClampedToTheEnd) {
  Document doc(Language::kPython, "x = 1\ny = ");
  CompletionPlan far = plan_completion(doc, 1u << 30, {}, ContextOptions{});
  CompletionPlan end = plan_completion(doc, doc.text().size(), {}, ContextOptions{});
  EXPECT_EQ(far.prefix, "x = 1\ny = ");
  EXPECT_EQ(far.prefix, end.prefix);
  EXPECT_EQ(far.suffix, "");
  EXPECT_EQ(far.scope, CompletionScope::kLine);
  StopRule rule(doc, 1u << 30, far, ContextOptions{});
  EXPECT_EQ(run_stop_rule(rule, "2\nz = 3\n"), "2");
  EXPECT_EQ(finalize_completion(doc, 1u << 30, far, "2"), "2");
}

TEST(ContextPlain, CursorInsideAUtf8SequenceMovesToItsStart) {
  auto m = marked("s = \"\xc3\xa9^\"\n");
  Document doc(Language::kPython, m.text);
  CompletionPlan plan = plan_completion(doc, m.cursor - 1, {}, ContextOptions{});  // between é's bytes
  EXPECT_EQ(plan.prefix, "s = \"");
  EXPECT_EQ(plan.suffix, "\xc3\xa9\"\n");
}

TEST(ContextPlain, EmptyDocumentsGiveEmptyPromptsForEveryLanguage) {
  for (Language lang : {Language::kPlain, Language::kPython, Language::kJavaScript, Language::kTypeScript,
                        Language::kTsx, Language::kC, Language::kCpp, Language::kGo, Language::kRust,
                        Language::kJava}) {
    Document doc(lang, "");
    Document empty_other(lang, "");
    auto o = complete_at(doc, 0, "hello\nworld\n", ContextOptions{}, {&empty_other, nullptr, &doc});
    EXPECT_EQ(o.plan.prefix, "") << language_name(lang);
    EXPECT_EQ(o.plan.suffix, "") << language_name(lang);
    EXPECT_EQ(o.plan.scope, CompletionScope::kLine) << language_name(lang);
    EXPECT_EQ(o.final_text, "hello") << language_name(lang);
  }
}

TEST(ContextPlain, InvalidUtf8InTheTextGivesABoundedPrompt) {
  std::string bad;
  for (int i = 0; i < 500; ++i) bad += "\x80\xbf\xff";  // stray continuation and invalid bytes
  auto m = marked("def f():\n    s = '" + bad + "^'\n    return s\n");
  Document doc(Language::kPython, m.text);
  ContextOptions options;
  options.token_budget = 256;
  auto o = complete_at(doc, m.cursor, "x'\n", options);
  EXPECT_LE(o.plan.prefix.size() + o.plan.suffix.size(), 256u);
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  EXPECT_EQ(o.stopped, "x'");
}

TEST(ContextPlain, HugeLineInACodeFileStaysWithinBudget) {
  std::string huge(3u << 20, 'a');  // a 3 MiB minified line
  auto m = marked("var s = \"" + huge + "^\";\nfunction f() {}\n");
  Document doc(Language::kJavaScript, m.text);
  ContextOptions options;
  auto o = complete_at(doc, m.cursor, "bc\";\n", options);
  EXPECT_LE(o.plan.prefix.size() + o.plan.suffix.size(), options.token_budget);
  EXPECT_EQ(o.plan.prefix.back(), 'a');
  EXPECT_EQ(o.plan.suffix, "\";\nfunction f() {}\n");
}

TEST(ContextPlain, BlockScopeOnATextWithoutTreeFallsBackToBracketCounting) {
  // Above the size limit for trees: brace blocks still end at their closer.
  std::string filler(17u << 20, ' ');
  auto m = marked("int f(void) {^\n}\n" + filler);
  Document doc(Language::kC, m.text);
  EXPECT_FALSE(doc.has_tree());
  auto o = complete_at(doc, m.cursor, "\n  return 1;\n}\nint g(void) {\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  EXPECT_EQ(o.stopped, "\n  return 1;\n}");
  EXPECT_EQ(o.final_text, "\n  return 1;");
}

// Arbitrary text, cursors and model output for every language: the prompt
// stays within budget, the stop rule keeps at most what it was given, and
// line scope never gives more than one line.
TEST(ContextPlain, RandomInputGivesDefinedResults) {
  static const char* const kPieces[] = {"{", "}", "(", ")", "[", "]", "\n", "    ", "\t", ":", ";",
                                        "\"", "'", "`", "#", "//", "/*", "*/", "def f():", "x = 1",
                                        "\xc3\xa9", "\xff", "\x80", "\\", "if (a) {", "else", "\r\n"};
  std::mt19937 rng(99);
  auto random_text = [&](size_t pieces) {
    std::string t;
    for (size_t i = 0; i < pieces; ++i) {
      if (rng() % 5 == 0) t += static_cast<char>(rng() % 256);
      else t += kPieces[rng() % (sizeof(kPieces) / sizeof(kPieces[0]))];
    }
    return t;
  };
  for (Language lang : {Language::kPlain, Language::kPython, Language::kJavaScript, Language::kTypeScript,
                        Language::kTsx, Language::kC, Language::kCpp, Language::kGo, Language::kRust,
                        Language::kJava}) {
    for (int round = 0; round < 25; ++round) {
      Document doc(lang, random_text(rng() % 200));
      Document other(lang, random_text(rng() % 100), "other");
      size_t cursor = rng() % (doc.text().size() + 10);
      ContextOptions options;
      options.token_budget = rng() % 400;
      options.max_lines = 1 + static_cast<int>(rng() % 6);
      std::string output = random_text(rng() % 60);
      auto o = testing::complete_at(doc, cursor, output, options, {&other});
      std::string where = std::string(language_name(lang)) + " round " + std::to_string(round);
      EXPECT_LE(o.plan.prefix.size() + o.plan.suffix.size(), options.token_budget) << where;
      EXPECT_LE(o.stopped.size(), output.size()) << where;
      if (o.plan.scope == CompletionScope::kLine) {
        EXPECT_EQ(o.final_text.find('\n'), std::string::npos) << where;
      }
    }
  }
}

}  // namespace
}  // namespace mtpc::completion
