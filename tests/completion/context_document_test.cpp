// Documents: language ids and paths, one tree per document reparsed
// incrementally (the same tree as a fresh parse, node positions included),
// and defined results on bad input.
#include <gtest/gtest.h>

#include <random>

#include "completion/context_syntax.h"
#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::marked;

TEST(ContextLanguage, FromLspIds) {
  EXPECT_EQ(language_from_id("python"), Language::kPython);
  EXPECT_EQ(language_from_id("javascript"), Language::kJavaScript);
  EXPECT_EQ(language_from_id("javascriptreact"), Language::kJavaScript);
  EXPECT_EQ(language_from_id("typescript"), Language::kTypeScript);
  EXPECT_EQ(language_from_id("typescriptreact"), Language::kTsx);
  EXPECT_EQ(language_from_id("c"), Language::kC);
  EXPECT_EQ(language_from_id("cpp"), Language::kCpp);
  EXPECT_EQ(language_from_id("go"), Language::kGo);
  EXPECT_EQ(language_from_id("rust"), Language::kRust);
  EXPECT_EQ(language_from_id("java"), Language::kJava);
  EXPECT_EQ(language_from_id("markdown"), Language::kPlain);
  EXPECT_EQ(language_from_id(""), Language::kPlain);
}

TEST(ContextLanguage, FromPaths) {
  EXPECT_EQ(language_from_path("src/app.py"), Language::kPython);
  EXPECT_EQ(language_from_path("a/b/index.mjs"), Language::kJavaScript);
  EXPECT_EQ(language_from_path("x.ts"), Language::kTypeScript);
  EXPECT_EQ(language_from_path("View.TSX"), Language::kTsx);
  EXPECT_EQ(language_from_path("main.c"), Language::kC);
  EXPECT_EQ(language_from_path("lib/util.h"), Language::kCpp);
  EXPECT_EQ(language_from_path("lib/util.cc"), Language::kCpp);
  EXPECT_EQ(language_from_path("main.go"), Language::kGo);
  EXPECT_EQ(language_from_path("lib.rs"), Language::kRust);
  EXPECT_EQ(language_from_path("Main.java"), Language::kJava);
  EXPECT_EQ(language_from_path("README"), Language::kPlain);
  EXPECT_EQ(language_from_path(".bashrc"), Language::kPlain);
  EXPECT_EQ(language_from_path("dir.py/notes.txt"), Language::kPlain);
}

TEST(ContextDocument, EveryGrammarLoadsIntoTheRuntime) {
  for (Language lang : {Language::kPython, Language::kJavaScript, Language::kTypeScript, Language::kTsx,
                        Language::kC, Language::kCpp, Language::kGo, Language::kRust, Language::kJava}) {
    Document doc(lang, "x");
    EXPECT_TRUE(doc.has_tree()) << language_name(lang);
    EXPECT_FALSE(doc.tree_string().empty()) << language_name(lang);
  }
  Document plain(Language::kPlain, "x");
  EXPECT_FALSE(plain.has_tree());
  EXPECT_EQ(plain.tree_string(), "");
}

// Node by node: type, byte range and row/column points. ts_node_string
// alone shows no positions, and a wrong point in ts_tree_edit shows only
// there.
void expect_same_tree(const Document& incremental, Language lang, const std::string& context) {
  Document fresh(lang, incremental.text());
  ASSERT_EQ(incremental.has_tree(), fresh.has_tree()) << context;
  if (!fresh.has_tree()) return;
  ASSERT_EQ(incremental.tree_string(), fresh.tree_string()) << context;
  TSTreeCursor a = ts_tree_cursor_new(ts_tree_root_node(detail::document_tree(incremental)));
  TSTreeCursor b = ts_tree_cursor_new(ts_tree_root_node(detail::document_tree(fresh)));
  bool more = true;
  while (more) {
    TSNode na = ts_tree_cursor_current_node(&a);
    TSNode nb = ts_tree_cursor_current_node(&b);
    ASSERT_EQ(ts_node_start_byte(na), ts_node_start_byte(nb)) << context;
    ASSERT_EQ(ts_node_end_byte(na), ts_node_end_byte(nb)) << context;
    TSPoint sa = ts_node_start_point(na), sb = ts_node_start_point(nb);
    TSPoint ea = ts_node_end_point(na), eb = ts_node_end_point(nb);
    ASSERT_TRUE(sa.row == sb.row && sa.column == sb.column) << context << " at " << ts_node_type(na);
    ASSERT_TRUE(ea.row == eb.row && ea.column == eb.column) << context << " at " << ts_node_type(na);
    // Depth-first walk of both trees in step.
    if (ts_tree_cursor_goto_first_child(&a)) {
      ASSERT_TRUE(ts_tree_cursor_goto_first_child(&b)) << context;
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&a)) {
      if (!ts_tree_cursor_goto_parent(&a)) {
        more = false;
        break;
      }
      ASSERT_TRUE(ts_tree_cursor_goto_parent(&b)) << context;
    }
    if (more) ASSERT_TRUE(ts_tree_cursor_goto_next_sibling(&b)) << context;
  }
  ts_tree_cursor_delete(&a);
  ts_tree_cursor_delete(&b);
}

struct Sample {
  Language language;
  const char* text;
  std::vector<const char*> fragments;  // what the random edits insert
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> kSamples = {
      {Language::kPython, "import os\n\ndef f(x):\n    if x:\n        return 1\n    return 2\n",
       {"\n", "    ", "pass", "def g():\n    return 'é'\n", "(", ")", ":", "\"\"\"doc\n\"\"\"", "x = [1,\n 2]"}},
      {Language::kJavaScript, "import fs from 'fs';\nfunction f(x) {\n  return x + 1;\n}\n",
       {"\n", "{", "}", "const a = `t${1}`;\n", "/re/g", "(", ")", "// ü\n", "class A {}\n"}},
      {Language::kTypeScript, "function f(x: number): number {\n  return x;\n}\n",
       {"\n", "{", "}", "let y: string = 'ä';\n", "<T>", "interface I { a: number }\n", ":", ";"}},
      {Language::kTsx, "const A = () => <div className=\"a\">{1}</div>;\n",
       {"\n", "<b>", "</b>", "{x}", "(", ")", "const B = <i/>;\n", "\"ö\""}},
      {Language::kC, "#include <stdio.h>\nint main(void) {\n  return 0;\n}\n",
       {"\n", "{", "}", "int x = 1;\n", "/* é */", "#define A 1\n", "(", ")", ";"}},
      {Language::kCpp, "#include <vector>\nnamespace n {\nint f() { return 1; }\n}\n",
       {"\n", "{", "}", "template <class T> T g(T t) { return t; }\n", "std::vector<int> v;", "<", ">", "\"ß\""}},
      {Language::kGo, "package main\n\nfunc main() {\n\tprintln(1)\n}\n",
       {"\n", "{", "}", "\tx := 1\n", "func g() {}\n", "`raw`", "(", ")", "\"ü\""}},
      {Language::kRust, "fn main() {\n    let x = 1;\n}\n",
       {"\n", "{", "}", "    let s = \"é\";\n", "fn g<'a>(x: &'a str) {}\n", "'a", "(", ")", "impl A {}\n"}},
      {Language::kJava, "class A {\n    void f() {\n        int x = 1;\n    }\n}\n",
       {"\n", "{", "}", "        String s = \"é\";\n", "    int g() { return 1; }\n", "(", ")", ";", "@Override\n"}},
  };
  return kSamples;
}

TEST(ContextDocument, IncrementalEditsGiveTheTreeOfAFreshParse) {
  std::mt19937 rng(1234);  // fixed: the same edits on every run
  for (const Sample& s : samples()) {
    Document doc(s.language, s.text);
    ASSERT_TRUE(doc.has_tree()) << language_name(s.language);
    for (int step = 0; step < 60; ++step) {
      size_t size = doc.text().size();
      size_t start = size ? rng() % (size + 1) : 0;
      size_t len = rng() % 3 == 0 ? rng() % 12 : 0;  // some edits delete or replace
      std::string insert = rng() % 4 == 0 ? "" : s.fragments[rng() % s.fragments.size()];
      doc.edit(start, start + len, insert);
      std::string where = std::string(language_name(s.language)) + " step " + std::to_string(step);
      expect_same_tree(doc, s.language, where);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(ContextDocument, TypingAFunctionKeyByKeyKeepsTheTreeInStep) {
  const std::string typed = "\ndef area(w, h):\n    \"\"\"Area.\"\"\"\n    return w * h\n";
  Document doc(Language::kPython, "import math\n");
  for (size_t i = 0; i < typed.size(); ++i) {
    doc.edit(doc.text().size(), doc.text().size(), typed.substr(i, 1));
    expect_same_tree(doc, Language::kPython, "after " + std::to_string(i + 1) + " keys");
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(doc.text(), "import math\n" + typed);
  EXPECT_EQ(doc.tree_string().find("ERROR"), std::string::npos);
}

// tree-sitter re-lexes what an edit touches, so a wrong point in
// ts_tree_edit rarely shows in the reparsed tree: check the points directly.
TEST(ContextDocument, EditPointsCountRowsAndByteColumns) {
  TSPoint p = detail::point_at("ab\ncd\n\xc3\xa9x", 4);
  EXPECT_EQ(p.row, 1u);
  EXPECT_EQ(p.column, 1u);
  p = detail::point_at("ab\ncd\n\xc3\xa9x", 8);  // columns are bytes: after "é"
  EXPECT_EQ(p.row, 2u);
  EXPECT_EQ(p.column, 2u);
  p = detail::point_at("ab\n", 3);  // just after a newline
  EXPECT_EQ(p.row, 1u);
  EXPECT_EQ(p.column, 0u);
  p = detail::point_at("ab", 99);  // clamped
  EXPECT_EQ(p.row, 0u);
  EXPECT_EQ(p.column, 2u);
  p = detail::advance_point(TSPoint{1, 1}, "x\nyz");
  EXPECT_EQ(p.row, 2u);
  EXPECT_EQ(p.column, 2u);
  p = detail::advance_point(TSPoint{3, 4}, "abc");
  EXPECT_EQ(p.row, 3u);
  EXPECT_EQ(p.column, 7u);
}

TEST(ContextDocument, SetTextReplacesTheTree) {
  Document doc(Language::kGo, "package main\n");
  doc.set_text("package main\n\nfunc main() {}\n");
  EXPECT_NE(doc.tree_string().find("function_declaration"), std::string::npos);
}

TEST(ContextDocument, EditRangesBeyondTheTextAreClamped) {
  Document doc(Language::kRust, "fn a() {}\n");
  doc.edit(1000, 2000, "fn b() {}\n");
  EXPECT_EQ(doc.text(), "fn a() {}\nfn b() {}\n");
  doc.edit(5, 2, "X");  // end before start: an insertion at start
  EXPECT_EQ(doc.text(), "fn a(X) {}\nfn b() {}\n");
  doc.edit(0, 1000, "");
  EXPECT_EQ(doc.text(), "");
  EXPECT_TRUE(doc.has_tree());
  expect_same_tree(doc, Language::kRust, "emptied");
}

TEST(ContextDocument, InvalidUtf8ParsesWithoutCrashing) {
  std::string bad = "def f():\n    s = '\xff\xfe\xc3'\n    return s\x80\n";
  Document doc(Language::kPython, bad);
  EXPECT_TRUE(doc.has_tree());
  doc.edit(10, 12, "\xe2\x82");  // a truncated 3-byte sequence
  expect_same_tree(doc, Language::kPython, "invalid utf-8");
}

TEST(ContextDocument, MoveKeepsTheTree) {
  Document a(Language::kJava, "class A {}\n");
  Document b = std::move(a);
  EXPECT_TRUE(b.has_tree());
  EXPECT_EQ(b.text(), "class A {}\n");
  b.edit(9, 9, " int x; ");
  expect_same_tree(b, Language::kJava, "after move");
}

}  // namespace
}  // namespace mtpc::completion
