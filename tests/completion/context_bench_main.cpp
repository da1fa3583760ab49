// mtpc_completion_context_bench: what the context costs per keystroke and per
// decoded token, on generated files of a given size. Prints one JSON object.
//   build/tests/completion/mtpc_completion_context_bench [functions=2000] [repeats=50]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "completion/context.h"

namespace {

using Clock = std::chrono::steady_clock;
using mtpc::completion::CompletionPlan;
using mtpc::completion::ContextOptions;
using mtpc::completion::Document;
using mtpc::completion::Language;
using mtpc::completion::StopRule;

double micros_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

struct Result {
  double parse_us = 0, edit_us = 0, plan_us = 0, stop_call_us = 0;
  size_t bytes = 0, stop_calls = 0;
};

Result measure(Language lang, const std::string& function, const std::string& block_opener,
               const std::string& body_line, int functions, int repeats) {
  std::string text;
  for (int i = 0; i < functions; ++i) text += function;
  size_t cursor = text.size() / 2;
  cursor = text.find(block_opener, cursor) + block_opener.size();
  Result r;
  r.bytes = text.size();

  auto t0 = Clock::now();
  Document doc(lang, text);
  r.parse_us = micros_since(t0);

  // A keystroke in the body below: type and delete a letter of a name.
  size_t key = text.find("total", cursor) + 5;
  t0 = Clock::now();
  for (int i = 0; i < repeats; ++i) {
    doc.edit(key, key, "x");
    doc.edit(key, key + 1, "");
  }
  r.edit_us = micros_since(t0) / (2.0 * repeats);

  ContextOptions options;
  CompletionPlan plan;
  t0 = Clock::now();
  for (int i = 0; i < repeats; ++i) plan = plan_completion(doc, cursor, {}, options);
  r.plan_us = micros_since(t0) / repeats;

  // A block completion fed one byte at a time, as the decoding loop would.
  std::string completion;
  for (int i = 0; i < options.max_lines; ++i) completion += body_line;
  StopRule rule(doc, cursor, plan, options);
  t0 = Clock::now();
  for (size_t n = 1; n <= completion.size(); ++n) {
    ++r.stop_calls;
    if (rule(std::string_view(completion).substr(0, n))) break;
  }
  r.stop_call_us = micros_since(t0) / static_cast<double>(r.stop_calls);
  return r;
}

void print(const char* name, const Result& r, bool last) {
  std::printf(
      "  \"%s\": {\"bytes\": %zu, \"fresh_parse_us\": %.1f, \"edit_reparse_us\": %.1f, "
      "\"plan_completion_us\": %.1f, \"stop_rule_calls\": %zu, \"stop_rule_us_per_call\": %.2f}%s\n",
      name, r.bytes, r.parse_us, r.edit_us, r.plan_us, r.stop_calls, r.stop_call_us, last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  int functions = argc > 1 ? std::atoi(argv[1]) : 2000;
  int repeats = argc > 2 ? std::atoi(argv[2]) : 50;
  if (functions <= 0 || repeats <= 0) {
    std::fprintf(stderr, "usage: %s [functions>0] [repeats>0]\n", argv[0]);
    return 2;
  }
  Result py = measure(Language::kPython,
                      "def step(values, scale):\n    total = 0\n    for v in values:\n"
                      "        total += v * scale\n    return total\n\n",
                      "def step(values, scale):", "\n    total = total + values[0] * scale", functions,
                      repeats);
  Result cpp = measure(Language::kCpp,
                       "int step(const std::vector<int>& values, int scale) {\n  int total = 0;\n"
                       "  for (int v : values) total += v * scale;\n  return total;\n}\n\n",
                       "int scale) {", "\n  total = total + values[0] * scale;", functions, repeats);
  std::printf("{\n  \"functions\": %d,\n  \"repeats\": %d,\n", functions, repeats);
  print("python", py, false);
  print("cpp", cpp, true);
  std::printf("}\n");
  return 0;
}
