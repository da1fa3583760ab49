#include "eval/report.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/atomic_file.h"

namespace mtpc::eval {
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
  return c;
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
    j["generation"] = {{"decoder", g.decoder},
                       {"tokens", g.tokens},
                       {"seconds", g.seconds},
                       {"tokens_per_second", g.tokens_per_second},
                       {"acceptance_per_head", g.acceptance_per_head},
                       {"speculative_speedup", g.speculative_speedup}};
  } else {
    j["generation"] = nullptr;  // scored from a file: not measured
  }
  return j;
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
      md += "| | |\n| --- | --- |\n| decoder | " + md_escape(g.decoder) + " |\n| tokens/s | " +
            fixed(g.tokens_per_second, 1) + " |\n| speculative speedup | " + fixed(g.speculative_speedup, 2) +
            "x |\n";
      for (size_t i = 0; i < g.acceptance_per_head.size(); ++i)
        md += "| acceptance, head " + std::to_string(i + 2) + " | " + percent(g.acceptance_per_head[i]) + " |\n";
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
