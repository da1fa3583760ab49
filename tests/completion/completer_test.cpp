// The completion core with a torch-free stand-in model: prompts in each
// fill-in-the-middle template, what the engine is asked, typed-ahead answers,
// and every outcome a front end must translate.
#include "completion/completer.h"

#include <gtest/gtest.h>

#include "common/stand_in_tokenizer.h"
#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::marked;
using testing::Marked;

using TestTokenizer = mtpc::testing::StandInTokenizer;
using mtpc::testing::byte_psm;

// Answers every request with `output` (cut by the request's stop predicate
// as the engine would) and records what it was asked.
class ScriptedModel final : public CompletionModel {
 public:
  TestTokenizer tok;
  std::string output = "x = 1\n";
  StopReason reason = StopReason::kMaxTokens;
  std::optional<Status> error;
  int context = 4096;
  // Sampling requests (the syntax retries) get samples[seed - 1] (the last
  // one for a larger seed) when there are any.
  std::vector<std::string> samples;
  int calls = 0, sequences = 0;
  GenerationRequest last;

  int max_seq_len() const override { return context; }
  const Tokenizer& tokenizer() const override { return tok; }
  Result<std::unique_ptr<Sequence>> new_sequence() override {
    ++sequences;
    return std::make_unique<Sequence>();
  }
  Result<GenerationResult> generate(Sequence&, const GenerationRequest& r) override {
    ++calls;
    last = r;
    if (error) return *error;
    GenerationResult out;
    out.reason = reason;
    std::string output = this->output;
    if (r.mode == DecodeMode::kSampling && !samples.empty())
      output = samples[std::min<size_t>(r.sampling.seed == 0 ? 0 : r.sampling.seed - 1, samples.size() - 1)];
    out.stats.tokens = static_cast<int64_t>(output.size());
    out.stats.forward_passes = 1;
    for (size_t i = 1; i <= output.size(); ++i) {
      out.text = output.substr(0, i);
      if (r.stop_predicate)
        if (auto keep = r.stop_predicate(out.text)) {
          out.text.resize(*keep);
          out.reason = StopReason::kPredicate;
          return out;
        }
    }
    return out;
  }
};

std::vector<int32_t> ids(const std::string& s) { return TestTokenizer().encode(s); }
std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(Completer, PromptIdsFollowTheTokenizersTemplate) {
  TestTokenizer tok;
  CompletionPlan plan;
  plan.prefix = "ab";
  plan.suffix = "cd";
  plan.fim = true;
  tok.fim = byte_psm();
  EXPECT_EQ(Completer::prompt_ids(tok, plan), cat({{259}, ids("ab"), {260}, ids("cd"), {261}}));

  // Suffix-prefix-middle with multi-token markers and a leading BOS.
  tok.fim.order = FimTemplate::Order::kSuffixPrefixMiddle;
  tok.fim.prefix = {290, 291};
  tok.fim.begin = {256};
  EXPECT_EQ(Completer::prompt_ids(tok, plan), cat({{256, 290, 291, 260}, ids("cd"), {261}, ids("ab")}));

  // No FIM in the model: the suffix is dropped, the prefix is the prompt.
  tok.fim = FimTemplate{};
  tok.fim.begin = {256};
  EXPECT_EQ(Completer::prompt_ids(tok, plan), cat({{256}, ids("ab")}));
  // A plan without FIM drops the suffix whatever the template.
  tok.fim = byte_psm();
  plan.fim = false;
  EXPECT_EQ(Completer::prompt_ids(tok, plan), ids("ab"));
}

TEST(Completer, AsksTheEngineForAFimPromptWithTheSettingsAndDeadline) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  Marked m = marked("def f(x):\n    y = ^\n    return y\n");
  OpenDocument doc(Language::kPython, m.text, "f.py");
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  r.settings.max_tokens = 17;
  r.settings.draft_length = 2;
  r.settings.deadline_ms = 250;
  Completion c = completer.complete(doc, r);
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.text, "x = 1");  // the line scope keeps the rest of the line
  EXPECT_EQ(c.start, m.cursor);
  EXPECT_EQ(c.end, m.cursor);
  EXPECT_EQ(c.stop_reason, "end_of_scope");
  ASSERT_TRUE(c.stats.has_value());
  EXPECT_FALSE(c.from_typeahead);
  ASSERT_EQ(model.calls, 1);
  const GenerationRequest& g = model.last;
  EXPECT_EQ(g.max_new_tokens, 17);
  EXPECT_EQ(g.draft_length, 2);
  EXPECT_EQ(g.mode, DecodeMode::kSpeculative);
  ASSERT_TRUE(g.deadline.has_value());
  EXPECT_EQ(*g.deadline, r.received + std::chrono::milliseconds(250));
  // <PRE> prefix <SUF> suffix <MID>, the prefix ending at the cursor.
  ASSERT_FALSE(g.prompt.empty());
  EXPECT_EQ(g.prompt.front(), 259);
  EXPECT_EQ(g.prompt.back(), 261);
  auto suf = std::find(g.prompt.begin(), g.prompt.end(), 260);
  ASSERT_NE(suf, g.prompt.end());
  std::string prefix(g.prompt.begin() + 1, suf);
  EXPECT_EQ(prefix, m.text.substr(0, m.cursor));
  std::string suffix(suf + 1, g.prompt.end() - 1);
  EXPECT_EQ(suffix.substr(0, 5), "\n    ");
}

TEST(Completer, AModelWithoutFimGetsThePrefixAloneEvenWhenFimIsOn) {
  ScriptedModel model;  // empty template
  Marked m = marked("a = 1\nb = ^\nc = 3\n");
  OpenDocument doc(Language::kPython, m.text);
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  ASSERT_TRUE(r.settings.fim);
  ASSERT_TRUE(completer.complete(doc, r).ok());
  EXPECT_EQ(model.last.prompt, ids(m.text.substr(0, m.cursor)));
}

TEST(Completer, TypedAheadAnswersWithoutTheModelAndOneSequencePerDocument) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.output = "total + 1\n";
  Marked m = marked("total = 0\nx = ^\n");
  OpenDocument doc(Language::kPython, m.text);
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  // (The third request's text reads a name the document lacks, "totQtotal":
  // no syntax retries, so that each request is one call.)
  r.settings.syntax_retries = 0;
  Completion first = completer.complete(doc, r);
  ASSERT_EQ(first.text, "total + 1");
  // The user types "tot": the rest is the answer, the model does not run.
  doc.edit(m.cursor, m.cursor, "tot");
  r.cursor = m.cursor + 3;
  Completion second = completer.complete(doc, r);
  EXPECT_TRUE(second.from_typeahead);
  EXPECT_EQ(second.text, "al + 1");
  EXPECT_EQ(second.stop_reason, "");
  EXPECT_FALSE(second.stats.has_value());
  EXPECT_EQ(model.calls, 1);
  // Typing something else runs the model again, on the same sequence.
  doc.edit(r.cursor, r.cursor, "Q");
  r.cursor += 1;
  Completion third = completer.complete(doc, r);
  EXPECT_FALSE(third.from_typeahead);
  EXPECT_EQ(model.calls, 2);
  EXPECT_EQ(model.sequences, 1);
}

TEST(Completer, EveryFailureIsAnOutcomeNotAThrow) {
  Marked m = marked("x = ^\n");
  OpenDocument doc(Language::kPython, m.text);
  CompletionRequest r;
  r.cursor = m.cursor;

  Completer no_model(nullptr);
  EXPECT_EQ(no_model.complete(doc, r).outcome, Completion::Outcome::kFailed);

  ScriptedModel model;
  Completer completer(&model);
  r.cursor = m.text.size() + 1;
  Completion outside = completer.complete(doc, r);
  EXPECT_EQ(outside.outcome, Completion::Outcome::kInvalidInput);
  EXPECT_NE(outside.error.find("outside the document"), std::string::npos) << outside.error;
  r.cursor = m.cursor;

  auto cancel = std::make_shared<CancellationToken>();
  cancel->cancel();
  r.cancel = cancel;
  EXPECT_EQ(completer.complete(doc, r).outcome, Completion::Outcome::kCancelled);
  EXPECT_EQ(model.calls, 0);
  r.cancel = nullptr;

  model.reason = StopReason::kCancelled;
  model.output = "";
  EXPECT_EQ(completer.complete(doc, r).outcome, Completion::Outcome::kCancelled);

  model.error = Status::Error("the model produced NaN");
  Completion failed = completer.complete(doc, r);
  EXPECT_EQ(failed.outcome, Completion::Outcome::kFailed);
  EXPECT_EQ(failed.error, "the model produced NaN");
}

TEST(Completer, DeadlineAnswersWithWhatWasDecoded) {
  ScriptedModel model;
  model.output = "abc";
  model.reason = StopReason::kDeadline;
  Marked m = marked("x = ^\n");
  OpenDocument doc(Language::kPython, m.text);
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  Completion c = completer.complete(doc, r);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.hit_deadline);
  EXPECT_EQ(c.stop_reason, "deadline");
  EXPECT_EQ(c.text, "abc");
}

TEST(Completer, PromptBudgetLeavesRoomForAnswerAndMarkers) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.context = 200;
  std::string text;
  for (int i = 0; i < 100; ++i) text += "v" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  OpenDocument doc(Language::kPython, text);
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = text.size();
  r.settings.max_tokens = 64;
  ASSERT_TRUE(completer.complete(doc, r).ok());
  // 200 context - 64 answer - 3 markers: prompt text and markers fit.
  EXPECT_LE(model.last.prompt.size(), 200u - 64u);
  EXPECT_GT(model.last.prompt.size(), 100u);
}

// Settings::scope (the infilling benchmark's holes): the caller's scope
// replaces the cursor's, and a hole inside a word is completed too.
TEST(Completer, ASettingsScopeReplacesTheScopeTheCursorGives) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.output = "    z = y * 2\n    w = z\n";
  // An empty line inside a function: an editor gets a block here.
  Marked m = marked("def f(x):\n    y = x + 1\n^\n    return y\n");
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  OpenDocument block_doc(Language::kPython, m.text);
  Completion block = completer.complete(block_doc, r);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(block.text, "    z = y * 2\n    w = z");

  r.settings.scope = CompletionScope::kLine;
  OpenDocument line_doc(Language::kPython, m.text);
  Completion line = completer.complete(line_doc, r);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line.text, "    z = y * 2");
  EXPECT_EQ(line.stop_reason, "end_of_scope");
}

TEST(Completer, AHoleInsideAWordIsCompletedOnlyWithASettingsScope) {
  ScriptedModel model;
  model.output = "o(x)\n";
  Marked m = marked("def f(x):\n    return fo^o(x)\n");
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  OpenDocument editor_doc(Language::kPython, m.text);
  Completion editor = completer.complete(editor_doc, r);
  ASSERT_TRUE(editor.ok());
  EXPECT_EQ(editor.text, "");
  EXPECT_EQ(model.calls, 0);

  r.settings.scope = CompletionScope::kLine;
  OpenDocument hole_doc(Language::kPython, m.text);
  Completion hole = completer.complete(hole_doc, r);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(model.calls, 1);
  // "o(x)" repeats the rest of the line: finalize drops the repeat.
  EXPECT_EQ(hole.text, "");
}

// A completion that runs on into the suffix is cut where it would repeat
// it: in line scope the rest of the line, in block scope the first
// non-blank line after the cursor's line.
TEST(Completer, ACompletionThatRepeatsTheSuffixIsCutBeforeTheRepeat) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  Completer completer(&model);
  CompletionRequest r;

  model.output = "y + x + 1\n";
  Marked line = marked("def f(x, y):\n    return ^x + 1\n");
  OpenDocument line_doc(Language::kPython, line.text);
  r.cursor = line.cursor;
  r.settings.scope = CompletionScope::kLine;
  EXPECT_EQ(completer.complete(line_doc, r).text, "y + ");

  model.output = "    z = y\n    return y\n";
  Marked block = marked("def f(x):\n    y = x + 1\n^\n    return y\n");
  OpenDocument block_doc(Language::kPython, block.text);
  r.cursor = block.cursor;
  r.settings.scope = CompletionScope::kBlock;
  EXPECT_EQ(completer.complete(block_doc, r).text, "    z = y");
}

// A block scope chosen for a cursor in the middle of a line: the block is
// the one the cursor's line is in, so a line indented less than it ends the
// completion.
TEST(Completer, ABlockScopeInTheMiddleOfALineEndsBelowTheCursorsLine) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.output = "s:\n        t -= x\n    t = -t\ndef g():\n    pass\n";
  Marked m = marked("def f(xs):\n    t = 0\n    for x in x^s:\n        t += x\n    return t\n");
  OpenDocument doc(Language::kPython, m.text);
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  r.settings.scope = CompletionScope::kBlock;
  Completion c = completer.complete(doc, r);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.stop_reason, "end_of_scope");
  EXPECT_EQ(c.text, "s:\n        t -= x\n    t = -t");
}

TEST(Completer, OffsetAtLineAndByteColumn) {
  const std::string text = "ab\n\xc3\xa9x\nlast";
  EXPECT_EQ(offset_at(text, 0, 0), 0u);
  EXPECT_EQ(offset_at(text, 0, 2), 2u);
  EXPECT_EQ(offset_at(text, 0, 99), 2u);  // past the line's end: its end
  EXPECT_EQ(offset_at(text, 1, 1), 3u);   // inside "é": its start
  EXPECT_EQ(offset_at(text, 1, 2), 5u);
  EXPECT_EQ(offset_at(text, 2, 4), text.size());
  EXPECT_EQ(offset_at(text, 3, 0), std::nullopt);
  EXPECT_EQ(offset_at(text, -1, 0), std::nullopt);
}

TEST(Completer, ParseLocationSplitsAtTheLastTwoColons) {
  auto at = parse_location("src/a.py:12:5");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->path, "src/a.py");
  EXPECT_EQ(at->line, 12);
  EXPECT_EQ(at->column, 5);
  at = parse_location("C:/x:y.c:3:1");  // colons in the file name
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->path, "C:/x:y.c");
  EXPECT_EQ(at->line, 3);
  EXPECT_EQ(at->column, 1);
  for (const char* bad : {"a.py", "a.py:3", ":3:4", "a.py:0:1", "a.py:1:0", "a.py:x:1", "a.py:1:2x", "a.py:-1:2",
                          "a.py::2", "a.py:1:", "a.py:99999999999999999999:1"})
    EXPECT_FALSE(parse_location(bad).has_value()) << bad;
}

TEST(SyntaxCheck, CountsTheErrorsACompletionLeavesAroundThePythonCursor) {
  // The next line is not indented: a block opener breaks it, a statement
  // does not, nor does an indentation the next line contradicts.
  Marked m = marked("def f(x):\n    y = 0\n    ^\n    return x\n");
  Document doc(Language::kPython, m.text);
  SyntaxCheck check(doc, m.cursor);
  ASSERT_TRUE(check.available());
  EXPECT_EQ(check.errors_near("y = x + 1"), 0);
  EXPECT_GT(check.errors_near("if x:").value_or(0), 0);
  EXPECT_GT(check.errors_near("    z = 1").value_or(0), 0);
  EXPECT_GT(check.errors_near("s = 'abc").value_or(0), 0);

  // The next line is indented deeper: only a block opener fits.
  Marked deeper = marked("def f(x):\n    y = 0\n    ^\n        return x\n    return 0\n");
  Document doc2(Language::kPython, deeper.text);
  SyntaxCheck check2(doc2, deeper.cursor);
  EXPECT_EQ(check2.errors_near("if x > 0:"), 0);
  EXPECT_GT(check2.errors_near("y = 1").value_or(0), 0);
  EXPECT_GT(check2.errors_near("# a comment").value_or(0), 0);
}

TEST(SyntaxCheck, FollowsPythonLogicalLinesStringsAndTheLineTheUserBegan) {
  // Inside brackets and triple-quoted strings indentation says nothing.
  Marked list = marked("xs = [1,\n^\n      3]\n");
  Document d1(Language::kPython, list.text);
  EXPECT_EQ(SyntaxCheck(d1, list.cursor).errors_near("            2,"), 0);
  Marked doc = marked("def f():\n    s = \"\"\"\n^\n    \"\"\"\n    return s\n");
  Document d2(Language::kPython, doc.text);
  EXPECT_EQ(SyntaxCheck(d2, doc.cursor).errors_near("        if x:"), 0);
  // A comment line counts for nothing; a dedent must reach an open block.
  Marked dedent = marked("def f(x):\n    if x:\n        y = 1\n^\n    return x\n");
  Document d3(Language::kPython, dedent.text);
  SyntaxCheck c3(d3, dedent.cursor);
  EXPECT_EQ(c3.errors_near("        # note"), 0);
  EXPECT_EQ(c3.errors_near("    y = 2"), 0);
  EXPECT_GT(c3.errors_near("      y = 2").value_or(0), 0);
  // A block opener closing the file has no body.
  Marked end = marked("def f(x):\n    return x\n^");
  Document d4(Language::kPython, end.text);
  EXPECT_GT(SyntaxCheck(d4, end.cursor).errors_near("if x:").value_or(0), 0);
  EXPECT_EQ(SyntaxCheck(d4, end.cursor).errors_near("x = f(1)"), 0);
  // On a line the user began, an opener may wait for its body.
  Marked typing = marked("def f(xs):\n    for x in xs^\n    return xs\n");
  Document d5(Language::kPython, typing.text);
  EXPECT_EQ(SyntaxCheck(d5, typing.cursor).errors_near(":"), 0);
  Marked typing_end = marked("def f(xs):\n    for x in xs^");
  Document d6(Language::kPython, typing_end.text);
  EXPECT_EQ(SyntaxCheck(d6, typing_end.cursor).errors_near(":"), 0);
}

TEST(SyntaxCheck, CountsNamesTheDocumentNeverMentionsOutsideStrings) {
  Marked m = marked(
      "import os\n\ndef f(xs, limit):\n    \"\"\"Sums xs below the threshold.\"\"\"\n    total = 0  # the running sum\n"
      "    name = f'{os.sep}'\n    ^\n    return total\n");
  Document doc(Language::kPython, m.text);
  SyntaxCheck check(doc, m.cursor);
  // Known: the document's names, builtins, attributes, keyword arguments,
  // and what the completion binds itself.
  EXPECT_EQ(check.errors_near("total = sum(x for x in xs if x < limit)"), 0);
  EXPECT_EQ(check.errors_near("total += len(os.path.join(*xs).split(sep='/'))"), 0);
  EXPECT_EQ(check.errors_near("for i, x in enumerate(sorted(xs, key=abs)): total += i"), 0);
  EXPECT_EQ(check.errors_near("total = max(map(lambda v: v * 2, xs), default=0)"), 0);
  EXPECT_EQ(check.errors_near("total = f'{limit} {undefined_in_a_string}'  # and comment words"), 0);
  EXPECT_EQ(check.errors_near("with open(xs[0]) as fh: total = fh.read()"), 0);
  // Unknown: made-up names and modules never imported (each name once).
  EXPECT_EQ(check.errors_near("total = np.sum(np.array(xs))"), 1);
  EXPECT_EQ(check.errors_near("total = limit_value + offset"), 2);
  // Words of docstrings and comments are no names of the code.
  EXPECT_EQ(check.errors_near("total = threshold"), 1);
  EXPECT_EQ(check.errors_near("total = running"), 1);
  EXPECT_EQ(check.errors_near("total = name"), 0);
  // Inside a string or comment at the cursor, or with `import *`: no check.
  Marked in_string = marked("def f():\n    s = 'abc ^'\n    return s\n");
  Document d2(Language::kPython, in_string.text);
  EXPECT_EQ(SyntaxCheck(d2, in_string.cursor).errors_near("words here"), 0);
  Marked star = marked("from numpy import *\n\nx = ^\n");
  Document d3(Language::kPython, star.text);
  EXPECT_EQ(SyntaxCheck(d3, star.cursor).errors_near("array([1])"), 0);
  // A word the completion finishes is judged whole.
  Marked word = marked("def f(values):\n    return len(val^)\n");
  Document d4(Language::kPython, word.text);
  EXPECT_EQ(SyntaxCheck(d4, word.cursor).errors_near("ues"), 0);
  EXPECT_EQ(SyntaxCheck(d4, word.cursor).errors_near("idated"), 1);
}

TEST(SyntaxCheck, BadInputGivesACountNotACrash) {
  // Deep nesting (iterated, not recursed), invalid UTF-8, a cursor past the
  // end or inside a character, CRLF line ends, an empty document.
  std::string deep(20000, '(');
  Document d1(Language::kPython, deep + "\n");
  EXPECT_TRUE(SyntaxCheck(d1, 5).errors_near("x").has_value());
  Document d2(Language::kPython, "x = '\xff\xfe'\n\xc3\n");
  EXPECT_TRUE(SyntaxCheck(d2, 1000).errors_near("\xe9\x80").has_value());
  Document d3(Language::kPython, "s = '\xc3\xa9'\n");
  EXPECT_TRUE(SyntaxCheck(d3, 7).errors_near("y").has_value());
  Document d4(Language::kPython, "def f():\r\n    \r\n    return 1\r\n");
  EXPECT_EQ(SyntaxCheck(d4, 14).errors_near("y = 1"), 0);
  Document d5(Language::kPython, "");
  EXPECT_EQ(SyntaxCheck(d5, 0).errors_near(""), 0);
}

TEST(SyntaxCheck, IgnoresErrorsAwayFromTheCursorAndLanguagesWithoutAGrammar) {
  Marked m = marked("def f(x):\n    ^\n    return x\n\n\ndef g(:\n    pass\n");
  Document doc(Language::kPython, m.text);
  SyntaxCheck check(doc, m.cursor);
  EXPECT_EQ(check.errors_near("y = 1"), 0);
  EXPECT_GT(check.errors_near("if x:").value_or(0), 0);

  Document plain(Language::kPlain, "a b\n");
  SyntaxCheck none(plain, 2);
  EXPECT_FALSE(none.available());
  EXPECT_EQ(none.errors_near("x"), std::nullopt);

  // Brace languages: an unclosed string or call.
  Marked c = marked("int f(int x) {\n  ^\n  return x;\n}\n");
  Document cdoc(Language::kC, c.text);
  SyntaxCheck ccheck(cdoc, c.cursor);
  EXPECT_EQ(ccheck.errors_near("x = x + 1;"), 0);
  EXPECT_GT(ccheck.errors_near("x = g(x + 1;").value_or(0), 0);
  EXPECT_GT(ccheck.errors_near("x = \"abc;").value_or(0), 0);
}

TEST(Completer, ReplacesAGreedyLineThatBreaksTheSyntaxWithASampledOneThatDoesNot) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.output = "if x:\n";                         // the next line is not indented
  model.samples = {"    bad = 1\n", "y = x + 1\n"};  // seed 1 breaks it too, seed 2 fits
  Marked m = marked("def f(x):\n    y = 0\n    ^\n    return y\n");
  OpenDocument doc(Language::kPython, m.text, "f.py");
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  r.settings.deadline_ms = 60'000;
  Completion c = completer.complete(doc, r);
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.text, "y = x + 1");
  EXPECT_TRUE(c.from_retry);
  EXPECT_EQ(c.retries, 2);
  ASSERT_EQ(model.calls, 3);
  // The alternatives are sampled on the same sequence, prompt and deadline.
  EXPECT_EQ(model.sequences, 1);
  EXPECT_EQ(model.last.mode, DecodeMode::kSampling);
  EXPECT_EQ(model.last.sampling.seed, 2u);
  EXPECT_DOUBLE_EQ(model.last.sampling.temperature, r.settings.retry_temperature);
  EXPECT_EQ(*model.last.deadline, r.received + std::chrono::milliseconds(60'000));
  // The typed-ahead answer continues the proposed text.
  doc.edit(m.cursor, m.cursor, "y = ");
  CompletionRequest next = r;
  next.cursor = m.cursor + 4;
  Completion rest = completer.complete(doc, next);
  EXPECT_TRUE(rest.from_typeahead);
  EXPECT_EQ(rest.text, "x + 1");
}

TEST(Completer, KeepsTheGreedyLineWhenNoAlternativeFitsOrRetriesAreOff) {
  ScriptedModel model;
  model.tok.fim = byte_psm();
  model.output = "if x:\n";
  model.samples = {"for i in x:\n"};
  Marked m = marked("def f(x):\n    y = 0\n    ^\n    return y\n");
  Completer completer(&model);
  CompletionRequest r;
  r.cursor = m.cursor;
  r.settings.deadline_ms = 60'000;
  {
    OpenDocument doc(Language::kPython, m.text);
    Completion c = completer.complete(doc, r);
    EXPECT_EQ(c.text, "if x:");
    EXPECT_FALSE(c.from_retry);
    EXPECT_EQ(c.retries, r.settings.syntax_retries);
    EXPECT_EQ(model.calls, 1 + r.settings.syntax_retries);
  }
  model.calls = 0;
  r.settings.syntax_retries = 0;
  {
    OpenDocument doc(Language::kPython, m.text);
    EXPECT_EQ(completer.complete(doc, r).text, "if x:");
    EXPECT_EQ(model.calls, 1);
  }
  // A greedy line that fits is never retried.
  model.calls = 0;
  r.settings.syntax_retries = 4;
  model.output = "y = 2\n";
  {
    OpenDocument doc(Language::kPython, m.text);
    EXPECT_EQ(completer.complete(doc, r).text, "y = 2");
    EXPECT_EQ(model.calls, 1);
  }
  // A line the user began is never retried.
  model.calls = 0;
  model.output = "if x:\n";
  {
    Marked begun = marked("def f(x):\n    y = 0\n    y = ^\n    return y\n");
    OpenDocument doc(Language::kPython, begun.text);
    CompletionRequest at = r;
    at.cursor = begun.cursor;
    Completion c = completer.complete(doc, at);
    EXPECT_EQ(c.text, "if x:");
    EXPECT_EQ(c.retries, 0);
    EXPECT_EQ(model.calls, 1);
  }
  // No time left before the deadline: no retry.
  model.calls = 0;
  model.output = "if x:\n";
  r.received = std::chrono::steady_clock::now() - std::chrono::seconds(120);
  {
    OpenDocument doc(Language::kPython, m.text);
    EXPECT_EQ(completer.complete(doc, r).text, "if x:");
    EXPECT_EQ(model.calls, 1);
  }
  // An alternative that fails leaves the greedy line standing.
  model.calls = 0;
  r.received = std::chrono::steady_clock::now();
  struct FailingRetries final : public CompletionModel {
    ScriptedModel* inner;
    explicit FailingRetries(ScriptedModel* m) : inner(m) {}
    int max_seq_len() const override { return inner->max_seq_len(); }
    const Tokenizer& tokenizer() const override { return inner->tokenizer(); }
    Result<std::unique_ptr<Sequence>> new_sequence() override { return inner->new_sequence(); }
    Result<GenerationResult> generate(Sequence& s, const GenerationRequest& q) override {
      if (q.mode == DecodeMode::kSampling) return Status::Error("engine failed");
      return inner->generate(s, q);
    }
  } failing(&model);
  Completer with_failures(&failing);
  OpenDocument doc(Language::kPython, m.text);
  Completion c = with_failures.complete(doc, r);
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.text, "if x:");
  EXPECT_EQ(c.retries, 1);
}

}  // namespace
}  // namespace mtpc::completion
