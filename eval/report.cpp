#include "eval/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "base/atomic_file.h"

namespace mtpc::eval {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

using nlohmann::json;

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", fraction * 100);
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

bool identifier_like(const std::string& s) {
  if (s.empty() || s.size() > 60) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  }
  return true;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace

std::string failure_kind(const std::string& result) {
  if (result == "passed" || result == "timed out") return result;
  if (result.rfind("error:", 0) == 0) return "harness error";
  const std::string failed = "failed: ";
  if (result.rfind(failed, 0) != 0) return "other";
  std::string detail = result.substr(failed.size());
  if (detail.rfind("exited with status 0", 0) == 0) return "exited early (status 0)";
  if (detail.rfind("killed by signal ", 0) == 0) return "killed by " + detail.substr(17);
  std::string head = detail.substr(0, detail.find(':'));
  return identifier_like(head) ? head : "other";
}

std::vector<std::pair<std::string, int>> kinds_by_count(const EvalSummary& s) {
  std::vector<std::pair<std::string, int>> kinds(s.failure_kinds.begin(), s.failure_kinds.end());
  std::stable_sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return kinds;
}

std::vector<std::string> EvalSummary::caveats() const {
  std::vector<std::string> c;
  if (split_size > tasks_in_split) {
    c.push_back("only the first " + std::to_string(tasks_in_split) + " of the split's " + std::to_string(split_size) +
                " tasks were evaluated (--limit); not comparable with published numbers");
  }
  if (tasks_scored < tasks_in_split) {
    c.push_back(std::to_string(tasks_in_split - tasks_scored) + " of " + std::to_string(tasks_in_split) +
                " tasks have no samples; pass@k is the mean over the " + std::to_string(tasks_scored) +
                " tasks scored");
  }
  if (outcomes.error > 0) {
    c.push_back(std::to_string(outcomes.error) +
                " samples could not be run (harness errors, counted as failures); rerun to retry them");
  }
  if (!network_isolated) c.push_back("samples were not network-isolated (" + isolation + ")");
  if (!problems.empty()) c.push_back(std::to_string(problems.size()) + " input lines were skipped");
  if (pass_at_k.empty() && samples > 0) c.push_back("no k is supported by every task");
  if (infill && infill->not_run > 0) {
    c.push_back(std::to_string(infill->not_run) +
                " holes got an empty completion without the model running: the cursor is inside a word, where an "
                "editor gets nothing (--scope auto)");
  }
  if (generation) {
    const GenerationSpeed& g = *generation;
    if (g.errors > 0) {
      c.push_back(std::to_string(g.errors) +
                  " samples could not be generated (engine errors; not scored); rerun to retry them");
    }
    if (g.prompts_truncated > 0) {
      c.push_back(std::to_string(g.prompts_truncated) +
                  " samples had their prompt cut from the left to fit the model's context");
    }
    if (g.speedup && g.speedup->identical.has_value() && !*g.speedup->identical) {
      c.push_back("speculative and next-token greedy outputs differed on the speedup sample");
    }
  }
  return c;
}

json to_json(const SpeedupMeasurement& m) {
  return {{"prompts", m.prompts},
          {"reference_decoder", m.reference_decoder},
          {"fast_tokens", m.fast_tokens},
          {"fast_seconds", m.fast_seconds},
          {"fast_tokens_per_second", m.fast_tokens_per_second},
          {"reference_tokens", m.reference_tokens},
          {"reference_seconds", m.reference_seconds},
          {"reference_tokens_per_second", m.reference_tokens_per_second},
          {"speedup", m.speedup()},
          {"identical", m.identical ? json(*m.identical) : json(nullptr)},
          {"measured_utc", m.measured_utc}};
}

json to_json(const EvalSummary& s) {
  json pass = json::object();
  for (const PassAtK& p : s.pass_at_k) pass["pass@" + std::to_string(p.k)] = p.value;
  json j = {
      {"benchmark", s.benchmark},
      {"split", s.split},
      {"data", s.data_path},
      {"samples_file", s.reference ? json(nullptr) : json(s.samples_path)},
      {"reference", s.reference},
      {"prompt_format", s.prompt_format.empty() ? json(nullptr) : json(s.prompt_format)},
      {"created_utc", s.created_utc},
      {"tasks_in_split", s.tasks_in_split},
      {"split_size", s.split_size > 0 ? s.split_size : s.tasks_in_split},
      {"tasks_scored", s.tasks_scored},
      {"samples", s.samples},
      {"samples_resumed", s.samples_resumed},
      {"outcomes",
       {{"passed", s.outcomes.passed},
        {"failed", s.outcomes.failed},
        {"timed_out", s.outcomes.timed_out},
        {"error", s.outcomes.error}}},
      {"failure_kinds", s.failure_kinds},
      {"pass_at_k", pass},
      {"problems", s.problems},
      {"caveats", s.caveats()},
      {"sandbox",
       {{"isolation", s.isolation},
        {"network_isolated", s.network_isolated},
        {"python", s.python},
        {"timeout_s", s.timeout_s},
        {"workers", s.workers}}},
      {"scoring_seconds", s.scoring_seconds},
  };
  if (s.generation) {
    const GenerationSpeed& g = *s.generation;
    json acceptance = json::array();
    for (double a : g.acceptance_per_head) acceptance.push_back(std::isnan(a) ? json(nullptr) : json(a));
    j["generation"] = {{"decoder", g.decoder},
                       {"model", g.model},
                       {"samples", g.samples},
                       {"samples_generated", g.samples_generated},
                       {"errors", g.errors},
                       {"prompts_truncated", g.prompts_truncated},
                       {"tokens", g.tokens},
                       {"forward_passes", g.forward_passes},
                       {"seconds", g.seconds},
                       {"tokens_per_second", g.tokens_per_second},
                       {"tokens_per_forward", g.tokens_per_forward},
                       {"acceptance_per_head", acceptance},
                       {"speculative_speedup", g.speedup ? json(g.speedup->speedup()) : json(nullptr)},
                       {"speedup_measurement", g.speedup ? to_json(*g.speedup) : json(nullptr)}};
  } else {
    j["generation"] = nullptr;  // scored from a file: not measured
  }
  if (s.infill) j["infill"] = to_json(*s.infill);
  return j;
}

json to_json(const InfillSummary& f) {
  json floors = json::array();
  for (const InfillFloor& x : f.floors)
    floors.push_back({{"constant", x.constant}, {"passed", x.passed}, {"total", x.total},
                      {"pass_rate", x.total > 0 ? double(x.passed) / x.total : 0.0}});
  json latency = nullptr;
  if (f.latency) {
    const InfillLatency& l = *f.latency;
    latency = {{"completions", l.completions},
               {"p50_ms", l.p50_ms},
               {"p95_ms", l.p95_ms},
               {"p99_ms", l.p99_ms},
               {"max_ms", l.max_ms},
               {"deadline_ms", l.deadline_ms},
               {"server_deadline_ms", l.server_deadline_ms},
               {"answered", l.answered},
               {"cut_by_deadline", l.cut_by_deadline},
               {"syntax_retried", l.retried},
               {"syntax_replaced", l.replaced},
               {"answer_rate", l.completions > 0 ? double(l.answered) / l.completions : 0.0}};
  }
  return {{"variant", f.variant},
          {"scope", f.scope.empty() ? json(nullptr) : json(f.scope)},
          {"constant", f.constant.empty() ? json(nullptr) : json(f.constant)},
          {"exact_match", f.exact_match},
          {"samples", f.samples},
          {"exact_match_rate", f.samples > 0 ? double(f.exact_match) / f.samples : 0.0},
          {"not_run", f.not_run},
          {"floors", floors},
          {"latency", latency}};
}

std::string render_infill_markdown(const InfillSummary& f, const EvalSummary& s) {
  std::string md = "\n### Infilling (" + f.variant + ")\n\n| | |\n| --- | --- |\n";
  if (!f.constant.empty()) md += "| completion | the constant `" + md_escape(f.constant) + "` at each hole |\n";
  if (!f.scope.empty()) md += "| scope | " + f.scope + " |\n";
  md += "| pass@1 | " + (s.pass_at_k.empty() ? std::string("-") : percent(s.pass_at_k.front().value)) + " |\n";
  md += "| exact match | " + std::to_string(f.exact_match) + " of " + std::to_string(f.samples) + " (" +
        percent(f.samples > 0 ? double(f.exact_match) / f.samples : 0) + ") |\n";
  for (const InfillFloor& x : f.floors) {
    md += "| floor " + (x.constant.empty() ? infill_floor_label(x.constant) : "`" + md_escape(x.constant) + "`") + " | " + std::to_string(x.passed) + " of " + std::to_string(x.total) +
          " (" + percent(x.total > 0 ? double(x.passed) / x.total : 0) + ") |\n";
  }
  if (f.latency) {
    const InfillLatency& l = *f.latency;
    md += "| wall time per completion | p50 " + fixed(l.p50_ms, 1) + " ms, p95 " + fixed(l.p95_ms, 1) + " ms, p99 " +
          fixed(l.p99_ms, 1) + " ms, max " + fixed(l.max_ms, 1) + " ms |\n";
    md += "| answered before the deadline (" + std::to_string(l.deadline_ms) + " ms; the server's default " +
          std::to_string(l.server_deadline_ms) + " ms) | " + std::to_string(l.answered) + " of " +
          std::to_string(l.completions) + " (" + percent(l.completions > 0 ? double(l.answered) / l.completions : 0) +
          "); " + std::to_string(l.cut_by_deadline) + " cut by it |\n";
    md += "| greedy text broke the syntax: alternatives decoded | " + std::to_string(l.retried) + " completions, " +
          std::to_string(l.replaced) + " answered with an alternative |\n";
  }
  return md;
}

std::string render_markdown(const std::vector<EvalSummary>& runs) {
  std::string md = "# mtpc eval report\n";
  for (const EvalSummary& s : runs) {
    const OutcomeCounts& o = s.outcomes;
    md += "\n## " + s.benchmark + " (" + s.split + ")" + (s.reference ? ", reference solutions" : "") + "\n\n";
    md += "| | |\n| --- | --- |\n";
    md += "| samples | " + (s.reference ? std::string("canonical solutions of the dataset") : md_escape(s.samples_path)) + " |\n";
    md += "| data | " + md_escape(s.data_path) + " |\n";
    if (!s.prompt_format.empty()) md += "| prompt format | " + s.prompt_format + " |\n";
    md += "| tasks | " + std::to_string(s.tasks_scored) + " of " + std::to_string(s.tasks_in_split) + " scored |\n";
    md += "| samples scored | " + std::to_string(s.samples) + " (" + std::to_string(s.samples_resumed) +
          " from an earlier run) |\n";
    md += "| passed | " + std::to_string(o.passed) + " of " + std::to_string(o.total()) + " |\n";
    md += "| scoring time | " + fixed(s.scoring_seconds, 1) + " s with " + std::to_string(s.workers) + " workers |\n";
    md += "| sandbox | " + md_escape(s.isolation) + "; " + md_escape(s.python) + ", timeout " +
          fixed(s.timeout_s, 1) + " s |\n";
    md += "| created | " + s.created_utc + " |\n";

    md += "\n### pass@k\n\n| k | pass@k |\n| --- | --- |\n";
    for (const PassAtK& p : s.pass_at_k) md += "| " + std::to_string(p.k) + " | " + percent(p.value) + " |\n";
    if (s.pass_at_k.empty()) md += "| - | none: no k is supported by every task |\n";

    if (s.infill) md += render_infill_markdown(*s.infill, s);

    md += "\n### Outcomes\n\n| outcome | samples |\n| --- | --- |\n";
    md += "| passed | " + std::to_string(o.passed) + " |\n| failed | " + std::to_string(o.failed) +
          " |\n| timed out | " + std::to_string(o.timed_out) + " |\n| harness error | " + std::to_string(o.error) +
          " |\n";
    if (!s.failure_kinds.empty()) {
      md += "\n| result kind | samples |\n| --- | --- |\n";
      for (const auto& [kind, n] : kinds_by_count(s)) md += "| " + md_escape(kind) + " | " + std::to_string(n) + " |\n";
    }

    md += "\n### Generation speed\n\n";
    if (s.generation) {
      const GenerationSpeed& g = *s.generation;
      md += "| | |\n| --- | --- |\n| decoder | " + md_escape(g.decoder) + " |\n";
      if (!g.model.empty()) md += "| model | " + md_escape(g.model) + " |\n";
      md += "| samples | " + std::to_string(g.samples) + " (" + std::to_string(g.samples_generated) +
            " generated by this run) |\n";
      md += "| tokens/s | " + fixed(g.tokens_per_second, 1) + " (" + std::to_string(g.tokens) + " tokens in " +
            fixed(g.seconds, 1) + " s) |\n";
      md += "| tokens per forward pass | " + fixed(g.tokens_per_forward, 2) + " |\n";
      for (size_t i = 0; i < g.acceptance_per_head.size(); ++i) {
        double a = g.acceptance_per_head[i];
        md += "| acceptance, head " + std::to_string(i + 2) + " | " + (std::isnan(a) ? "no drafts" : percent(a)) +
              " |\n";
      }
      if (g.speedup) {
        const SpeedupMeasurement& m = *g.speedup;
        md += "| speculative speedup | " + fixed(m.speedup(), 2) + "x: " + fixed(m.fast_tokens_per_second, 1) +
              " against " + fixed(m.reference_tokens_per_second, 1) + " tokens/s (" + md_escape(m.reference_decoder) +
              ") on the first " + std::to_string(m.prompts) + " prompts |\n";
        md += "| outputs identical | " +
              (m.identical ? std::string(*m.identical ? "yes" : "NO") : std::string("n/a (sampling)")) + " |\n";
      } else {
        md += "| speculative speedup | not measured (--speedup-sample 0) |\n";
      }
      if (g.errors > 0) md += "| engine errors | " + std::to_string(g.errors) + " samples |\n";
      if (g.prompts_truncated > 0)
        md += "| prompts cut to fit | " + std::to_string(g.prompts_truncated) + " samples |\n";
    } else {
      md += "Not measured: these samples were scored from a file. Runs that generate "
            "through the engine report tokens/s, acceptance per head and the speculative speedup here.\n";
    }

    std::vector<std::string> caveats = s.caveats();
    if (!caveats.empty()) {
      md += "\n### Caveats\n\n";
      for (const std::string& c : caveats) md += "- " + md_escape(c) + "\n";
    }
    if (!s.problems.empty()) {
      md += "\n### Skipped input\n\n";
      constexpr size_t kShown = 50;
      for (size_t i = 0; i < s.problems.size() && i < kShown; ++i) md += "- " + md_escape(s.problems[i]) + "\n";
      if (s.problems.size() > kShown) md += "- ... and " + std::to_string(s.problems.size() - kShown) + " more\n";
    }
  }
  return md;
}

Status write_reports(const std::string& out_dir, const EvalSummary& summary) {
  if (Status s = write_file_atomic(out_dir + "/summary.json", to_json(summary).dump(2, ' ', false,
                                                                                     json::error_handler_t::replace) +
                                                                    "\n");
      !s.ok())
    return s;
  if (Status s = write_file_atomic(out_dir + "/report.md", render_markdown({summary})); !s.ok()) return s;
  return write_file_atomic(out_dir + "/report.html", render_html({summary}));
}

}  // namespace mtpc::eval
