// The seven brace languages (JavaScript, TypeScript, TSX, C, C++, Go, Rust,
// Java): each with its own inline sources. A block after '{' stops at the
// brace that closes it; an empty line in a block stops where the block
// ends; mid-line completes the line; a cut window keeps imports and the
// enclosing signatures.
#include <gtest/gtest.h>

#include "completion/context_test_util.h"

namespace mtpc::completion {
namespace {

using testing::accepted;
using testing::complete_at;
using testing::marked;

struct BraceCase {
  const char* name;
  Language language;
  // After '{': the model writes the body, the closing brace, and goes on.
  const char* block_source;
  const char* block_output;
  const char* block_final;
  // On an empty line inside a block.
  const char* inner_source;
  const char* inner_output;
  const char* inner_final;
  // Mid-line, before the closers the editor inserted.
  const char* line_source;
  const char* line_output;
  const char* line_final;
  // A long function: import and signature lines, a body line repeated.
  const char* import_line;
  const char* signature_line;
  const char* body_line;
};

const BraceCase kCases[] = {
    {"javascript", Language::kJavaScript,
     "import fs from \"fs\";\n\nfunction sum(values) {^\n}\n\nfunction main() {\n  console.log(sum([1]));\n}\n",
     "\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;\n}\n\nfunction extra() {\n",
     "\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;",
     "function sum(values) {\n  let total = 0;\n  ^\n}\n",
     "for (const v of values) total += v;\n  return total;\n}\n\nsum([]);\n",
     "for (const v of values) total += v;\n  return total;",
     "function f(values) {\n  const total = values.reduce(^);\n}\n",
     "(a, b) => a + b, 0);\n  return total;\n",
     "(a, b) => a + b, 0",
     "import fs from \"fs\";", "function load(path) {", "  const data = fs.readFileSync(path);"},
    {"typescript", Language::kTypeScript,
     "import { readFileSync } from \"fs\";\n\nfunction sum(values: number[]): number {^\n}\n",
     "\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;\n}\n\nexport {};\n",
     "\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;",
     "class Box {\n  items: number[] = [];\n  ^\n}\n",
     "size(): number {\n    return this.items.length;\n  }\n}\n\nconst b = new Box();\n",
     "size(): number {\n    return this.items.length;\n  }",
     "function f(xs: number[]): number {\n  return Math.max(^);\n}\n",
     "...xs);\n}\n",
     "...xs",
     "import { readFileSync } from \"fs\";", "function load(path: string): string {",
     "  const data: string = readFileSync(path, \"utf8\");"},
    {"tsx", Language::kTsx,
     "import React from \"react\";\n\nfunction List(props: { items: string[] }) {^\n}\n",
     "\n  return (\n    <ul>\n      {props.items.map((i) => <li key={i}>{i}</li>)}\n    </ul>\n  );\n}\n\nexport default List;\n",
     "\n  return (\n    <ul>\n      {props.items.map((i) => <li key={i}>{i}</li>)}\n    </ul>\n  );",
     "function Title(props: { text: string }) {\n  const upper = props.text.toUpperCase();\n  ^\n}\n",
     "return <h1>{upper}</h1>;\n}\n",
     "return <h1>{upper}</h1>;",
     "function Item(props: { name: string }) {\n  return <li className={^}>x</li>;\n}\n",
     "props.name}>x</li>;\n",
     "props.name",
     "import React from \"react\";", "function Table(props: { rows: string[] }) {",
     "  const cells = props.rows.map((r) => <td>{r}</td>);"},
    {"c", Language::kC,
     "#include <stdio.h>\n\nint sum(const int *values, int n) {^\n}\n",
     "\n  int total = 0;\n  for (int i = 0; i < n; ++i) {\n    total += values[i];\n  }\n  return total;\n}\n\nint unused(void) {\n",
     "\n  int total = 0;\n  for (int i = 0; i < n; ++i) {\n    total += values[i];\n  }\n  return total;",
     "int main(void) {\n  int x = 1;\n  ^\n}\n",
     "printf(\"%d\\n\", x);\n  return 0;\n}\n\nint other(void) {\n",
     "printf(\"%d\\n\", x);\n  return 0;",
     "int main(void) {\n  printf(\"%d\\n\", add(^));\n}\n",
     "1, 2));\n  return 0;\n",
     "1, 2",
     "#include <stdio.h>", "static int load(const char *path) {", "  fprintf(stderr, \"%s\\n\", path);"},
    {"cpp", Language::kCpp,
     "#include <vector>\n\nint sum(const std::vector<int>& values) {^\n}\n",
     "\n  int total = 0;\n  for (int v : values) {\n    total += v;\n  }\n  return total;\n}\n\nint unused() {\n",
     "\n  int total = 0;\n  for (int v : values) {\n    total += v;\n  }\n  return total;",
     "struct Point {\n  int x = 0;\n  ^\n};\n",
     "int y = 0;\n};\n\nstruct Other {\n",
     "int y = 0;",
     "int f(std::vector<int> v) {\n  return static_cast<int>(v.size(^));\n}\n",
     "));\n",
     "",
     "#include <vector>", "std::vector<int> load(const std::string& path) {",
     "  std::vector<int> out(path.size());"},
    {"go", Language::kGo,
     "package main\n\nimport \"fmt\"\n\nfunc sum(values []int) int {^\n}\n",
     "\n\ttotal := 0\n\tfor _, v := range values {\n\t\ttotal += v\n\t}\n\treturn total\n}\n\nfunc unused() {\n",
     "\n\ttotal := 0\n\tfor _, v := range values {\n\t\ttotal += v\n\t}\n\treturn total",
     "func main() {\n\tx := 1\n\t^\n}\n",
     "fmt.Println(x)\n}\n\nfunc other() {\n",
     "fmt.Println(x)",
     "func main() {\n\tfmt.Println(strings.Join(^))\n}\n",
     "parts, \",\"))\n}\n",
     "parts, \",\"",
     "import \"fmt\"", "func load(path string) []byte {", "\tfmt.Println(path)"},
    {"rust", Language::kRust,
     "use std::collections::HashMap;\n\nfn sum(values: &[i32]) -> i32 {^\n}\n",
     "\n    let mut total = 0;\n    for v in values {\n        total += v;\n    }\n    total\n}\n\nfn unused() {\n",
     "\n    let mut total = 0;\n    for v in values {\n        total += v;\n    }\n    total",
     "impl Point {\n    fn x(&self) -> i32 { self.x }\n    ^\n}\n",
     "fn y(&self) -> i32 { self.y }\n}\n\nimpl Other {\n",
     "fn y(&self) -> i32 { self.y }",
     "fn main() {\n    println!(\"{}\", max(^));\n}\n",
     "a, b));\n}\n",
     "a, b",
     "use std::collections::HashMap;", "fn load<'a>(path: &'a str) -> HashMap<&'a str, usize> {",
     "    let mut counts = HashMap::new();"},
    {"java", Language::kJava,
     "import java.util.List;\n\nclass Main {\n    static int sum(List<Integer> values) {^\n    }\n}\n",
     "\n        int total = 0;\n        for (int v : values) {\n            total += v;\n        }\n        return total;\n    }\n\n    static void unused() {\n",
     "\n        int total = 0;\n        for (int v : values) {\n            total += v;\n        }\n        return total;",
     "class Main {\n    static void run() {\n        int x = 1;\n        ^\n    }\n}\n",
     "System.out.println(x);\n    }\n\n    static void other() {\n",
     "System.out.println(x);",
     "class Main {\n    static int f(int a, int b) {\n        return Math.max(^);\n    }\n}\n",
     "a, b);\n    }\n",
     "a, b",
     "import java.util.List;", "    static List<String> load(String path) {",
     "        System.out.println(path.length());"},
};

void PrintTo(const BraceCase& c, std::ostream* os) { *os << c.name; }

class BraceLanguage : public ::testing::TestWithParam<BraceCase> {};

bool parses_clean(Language lang, const std::string& text) {
  std::string tree = Document(lang, text).tree_string();
  return !tree.empty() && tree.find("ERROR") == std::string::npos &&
         tree.find("MISSING") == std::string::npos;
}

TEST_P(BraceLanguage, SourcesParseWithTheirGrammar) {
  const BraceCase& c = GetParam();
  auto m = marked(c.block_source);
  Document doc(c.language, m.text);
  ASSERT_TRUE(doc.has_tree());
  EXPECT_TRUE(parses_clean(c.language, accepted(m, c.block_final)))
      << Document(c.language, accepted(m, c.block_final)).tree_string();
}

TEST_P(BraceLanguage, AfterOpeningBraceStopsAtTheClosingBrace) {
  const BraceCase& c = GetParam();
  auto m = marked(c.block_source);
  Document doc(c.language, m.text);
  auto o = complete_at(doc, m.cursor, c.block_output);
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  // A short file fits the budget whole: prefix and suffix around the cursor.
  EXPECT_TRUE(o.plan.fim);
  EXPECT_EQ(o.plan.prefix, m.text.substr(0, m.cursor));
  EXPECT_EQ(o.plan.suffix, m.text.substr(m.cursor));
  // The stop rule ends at the brace that closes the function...
  std::string body = c.block_final;
  ASSERT_GE(o.stopped.size(), body.size());
  EXPECT_EQ(o.stopped.substr(0, body.size()), body);
  std::string closer = o.stopped.substr(body.size());
  EXPECT_EQ(closer.substr(closer.find_first_not_of(" \n")), "}") << o.stopped;
  // ...which the document already has after the cursor: not repeated.
  EXPECT_EQ(o.final_text, c.block_final);
}

TEST_P(BraceLanguage, EmptyLineInsideBlockStopsWhereTheBlockEnds) {
  const BraceCase& c = GetParam();
  auto m = marked(c.inner_source);
  Document doc(c.language, m.text);
  auto o = complete_at(doc, m.cursor, c.inner_output);
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  EXPECT_EQ(o.final_text, c.inner_final) << "stopped at: " << o.stopped;
  EXPECT_TRUE(parses_clean(c.language, accepted(m, o.final_text))) << accepted(m, o.final_text);
}

TEST_P(BraceLanguage, MidLineCompletesTheLineWithoutRepeatingClosers) {
  const BraceCase& c = GetParam();
  auto m = marked(c.line_source);
  Document doc(c.language, m.text);
  auto o = complete_at(doc, m.cursor, c.line_output);
  EXPECT_EQ(o.plan.scope, CompletionScope::kLine);
  EXPECT_EQ(o.stopped.find('\n'), std::string::npos);
  EXPECT_EQ(o.final_text, c.line_final) << "stopped at: " << o.stopped;
  EXPECT_TRUE(parses_clean(c.language, accepted(m, o.final_text))) << accepted(m, o.final_text);
}

TEST_P(BraceLanguage, CutWindowKeepsImportAndSignature) {
  const BraceCase& c = GetParam();
  std::string src = std::string(c.import_line) + "\n\n";
  bool in_class = c.language == Language::kJava;
  if (in_class) src += "class Loader {\n";
  src += std::string(c.signature_line) + "\n";
  for (int i = 0; i < 100; ++i) src += std::string(c.body_line) + "\n";
  src += "^\n}\n";
  if (in_class) src += "}\n";
  auto m = marked(src);
  Document doc(c.language, m.text);
  ContextOptions options;
  options.token_budget = 700;
  CompletionPlan plan = plan_completion(doc, m.cursor, {}, options);
  EXPECT_LE(plan.prefix.size() + plan.suffix.size(), options.token_budget);
  std::string head = std::string(c.import_line) + "\n" + (in_class ? "class Loader {\n" : "") +
                     c.signature_line + "\n";
  EXPECT_EQ(plan.prefix.substr(0, head.size()), head);
  // Then whole body lines up to the cursor.
  EXPECT_EQ(plan.prefix.substr(head.size(), std::string(c.body_line).size()), c.body_line);
  std::string tail = std::string(c.body_line) + "\n";
  EXPECT_EQ(plan.prefix.substr(plan.prefix.size() - tail.size()), tail);
  EXPECT_EQ(plan.suffix, in_class ? "\n}\n}\n" : "\n}\n");
}

// A '}' in a regular expression is no closer: the tree knows, bracket
// counting would not.
TEST(ContextJavaScript, BraceInsideARegexDoesNotEndTheBlock) {
  auto m = marked("function strip(s) {^\n}\n");
  Document doc(Language::kJavaScript, m.text);
  auto o = complete_at(doc, m.cursor, "\n  const re = /[}]+/g;\n  return s.replace(re, \"\");\n}\nstrip(\"\");\n");
  EXPECT_EQ(o.final_text, "\n  const re = /[}]+/g;\n  return s.replace(re, \"\");");
}

TEST(ContextC, BlockWithoutClosingBraceInTheDocumentKeepsTheModelsBrace) {
  // The user typed '{' at the end of the file; nothing closes it yet.
  auto m = marked("int twice(int x) {^");
  Document doc(Language::kC, m.text);
  auto o = complete_at(doc, m.cursor, "\n  return 2 * x;\n}\n\nint next(void) {\n");
  EXPECT_EQ(o.plan.scope, CompletionScope::kBlock);
  EXPECT_EQ(o.final_text, "\n  return 2 * x;\n}");
}

TEST(ContextGo, ElseBranchDoesNotEndTheIfBlockEarly) {
  auto m = marked("func sign(x int) int {\n\tif x < 0 {^\n\t}\n\treturn 1\n}\n");
  Document doc(Language::kGo, m.text);
  auto o = complete_at(doc, m.cursor, "\n\t\treturn -1\n\t}\n\treturn 1\n}\n");
  EXPECT_EQ(o.final_text, "\n\t\treturn -1");
}

TEST(ContextRust, MaxLinesBoundsALongBody) {
  auto m = marked("fn many() {^\n}\n");
  Document doc(Language::kRust, m.text);
  std::string output;
  for (int i = 0; i < 30; ++i) output += "\n    let x" + std::to_string(i) + " = " + std::to_string(i) + ";";
  ContextOptions options;
  options.max_lines = 4;
  auto o = complete_at(doc, m.cursor, output, options);
  EXPECT_EQ(o.final_text, "\n    let x0 = 0;\n    let x1 = 1;\n    let x2 = 2;\n    let x3 = 3;");
}

std::string case_name(const ::testing::TestParamInfo<BraceCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Context, BraceLanguage, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace mtpc::completion
