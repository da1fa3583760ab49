// render_html: one self-contained page, charts as inline SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "eval/report.h"

namespace mtpc::eval {
namespace {

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string percent(double fraction) { return num(fraction * 100, 2) + "%"; }

struct Bar {
  std::string label;
  double value = 0;  // in [0, max]
  std::string text;  // printed at the bar's end
  std::string color;
};

constexpr const char* kGreen = "#2e7d32";
constexpr const char* kRed = "#c62828";
constexpr const char* kAmber = "#ef8f00";
constexpr const char* kGrey = "#757575";
constexpr const char* kBlue = "#1565c0";

// Horizontal bars: one row per bar, label left, value right of the bar.
std::string svg_bars(const std::string& title, const std::vector<Bar>& bars, double max_value) {
  constexpr int kLabelW = 210, kBarW = 380, kRowH = 26, kTop = 28;
  const int height = kTop + static_cast<int>(bars.size()) * kRowH + 8;
  const int width = kLabelW + kBarW + 110;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"" + std::to_string(width) +
                    "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" aria-label=\"" + esc(title) + "\">\n";
  svg += "<text x=\"0\" y=\"18\" class=\"t\">" + esc(title) + "</text>\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    int y = kTop + static_cast<int>(i) * kRowH;
    double frac = max_value > 0 ? std::min(1.0, std::max(0.0, b.value / max_value)) : 0;
    int w = static_cast<int>(frac * kBarW + 0.5);
    svg += "<text x=\"" + std::to_string(kLabelW - 8) + "\" y=\"" + std::to_string(y + 16) +
           "\" text-anchor=\"end\">" + esc(b.label) + "</text>";
    svg += "<rect x=\"" + std::to_string(kLabelW) + "\" y=\"" + std::to_string(y + 3) + "\" width=\"" +
           std::to_string(kBarW) + "\" height=\"18\" fill=\"#eeeeee\"/>";
    svg += "<rect x=\"" + std::to_string(kLabelW) + "\" y=\"" + std::to_string(y + 3) + "\" width=\"" +
           std::to_string(w) + "\" height=\"18\" fill=\"" + b.color + "\"/>";
    svg += "<text x=\"" + std::to_string(kLabelW + kBarW + 8) + "\" y=\"" + std::to_string(y + 16) + "\">" +
           esc(b.text) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string row(const std::string& k, const std::string& v_html) {
  return "<tr><th>" + esc(k) + "</th><td>" + v_html + "</td></tr>\n";
}

std::string run_section(const EvalSummary& s) {
  const OutcomeCounts& o = s.outcomes;
  std::string h = "<section class=\"run\">\n<h2>" + esc(s.benchmark) + " <small>(" + esc(s.split) + ")" +
                  (s.reference ? ", reference solutions" : "") + "</small></h2>\n<table class=\"kv\">\n";
  h += row("samples", s.reference ? "canonical solutions of the dataset" : esc(s.samples_path));
  h += row("data", esc(s.data_path));
  if (!s.prompt_format.empty()) h += row("prompt format", esc(s.prompt_format));
  h += row("tasks", std::to_string(s.tasks_scored) + " of " + std::to_string(s.tasks_in_split) + " scored");
  h += row("samples scored", std::to_string(s.samples) + " (" + std::to_string(s.samples_resumed) +
                                 " from an earlier run)");
  h += row("passed", std::to_string(o.passed) + " of " + std::to_string(o.total()));
  h += row("scoring time", num(s.scoring_seconds, 1) + " s with " + std::to_string(s.workers) + " workers");
  h += row("sandbox", std::string(s.network_isolated ? "" : "<span class=\"warn\">") + esc(s.isolation) +
                          (s.network_isolated ? "" : "</span>") + "; " + esc(s.python) + ", timeout " +
                          num(s.timeout_s, 1) + " s");
  h += row("created", esc(s.created_utc));
  h += "</table>\n";

  std::vector<std::string> caveats = s.caveats();
  if (!caveats.empty()) {
    h += "<div class=\"caveats\"><b>Caveats</b><ul>\n";
    for (const std::string& c : caveats) h += "<li>" + esc(c) + "</li>\n";
    h += "</ul></div>\n";
  }

  if (s.infill) {
    const InfillSummary& f = *s.infill;
    h += "<h3>Infilling (" + esc(f.variant) + ")</h3>\n<table class=\"kv\" id=\"infill\">\n";
    if (!f.constant.empty()) h += row("completion", "the constant <code>" + esc(f.constant) + "</code> at each hole");
    if (!f.scope.empty()) h += row("scope", esc(f.scope));
    h += row("pass@1", s.pass_at_k.empty() ? std::string("-") : percent(s.pass_at_k.front().value));
    h += row("exact match", std::to_string(f.exact_match) + " of " + std::to_string(f.samples) + " (" +
                                percent(f.samples > 0 ? double(f.exact_match) / f.samples : 0) + ")");
    std::vector<Bar> floor_bars;
    if (!s.pass_at_k.empty()) {
      const double pass1 = s.pass_at_k.front().value;
      floor_bars.push_back({"this run", pass1, percent(pass1), kBlue});
    }
    for (const InfillFloor& x : f.floors) {
      const double rate = x.total > 0 ? double(x.passed) / x.total : 0;
      h += row("floor: " + infill_floor_label(x.constant), std::to_string(x.passed) + " of " + std::to_string(x.total) + " (" +
                                          percent(rate) + ")");
      floor_bars.push_back({infill_floor_label(x.constant), rate, percent(rate), kGrey});
    }
    if (f.latency) {
      const InfillLatency& l = *f.latency;
      h += row("wall time per completion", "p50 " + num(l.p50_ms, 1) + " ms, p95 " + num(l.p95_ms, 1) + " ms, p99 " +
                                               num(l.p99_ms, 1) + " ms, max " + num(l.max_ms, 1) + " ms");
      h += row("answered before the deadline",
               std::to_string(l.answered) + " of " + std::to_string(l.completions) + " (" +
                   percent(l.completions > 0 ? double(l.answered) / l.completions : 0) + ") within " +
                   std::to_string(l.deadline_ms) + " ms (the server's default: " +
                   std::to_string(l.server_deadline_ms) + " ms); " + std::to_string(l.cut_by_deadline) + " cut by it");
      h += row("greedy text broke the syntax", std::to_string(l.retried) + " completions decoded alternatives, " +
                                                   std::to_string(l.replaced) + " answered with one");
    }
    h += "</table>\n";
    if (floor_bars.size() > 1)
      h += "<div class=\"chart\">" + svg_bars("pass@1 beside the trivial floors", floor_bars, 1.0) + "</div>\n";
  }

  std::vector<Bar> outcome_bars = {{"passed", double(o.passed), std::to_string(o.passed), kGreen},
                                   {"failed", double(o.failed), std::to_string(o.failed), kRed},
                                   {"timed out", double(o.timed_out), std::to_string(o.timed_out), kAmber},
                                   {"harness error", double(o.error), std::to_string(o.error), kGrey}};
  h += "<h3>Outcomes</h3>\n<div class=\"chart\" id=\"outcomes-" + esc(s.benchmark) + "\">" +
       svg_bars("Outcome per sample", outcome_bars, std::max(1, o.total())) + "</div>\n";
  if (!s.failure_kinds.empty()) {
    std::vector<Bar> kinds;
    int max_kind = 1;
    for (const auto& [kind, n] : s.failure_kinds) max_kind = std::max(max_kind, n);
    for (const auto& [kind, n] : kinds_by_count(s)) {
      const char* color = kind == "passed" ? kGreen : kind == "timed out" ? kAmber : kind == "harness error" ? kGrey : kRed;
      kinds.push_back({kind, double(n), std::to_string(n), color});
    }
    h += "<div class=\"chart\">" + svg_bars("Result kinds", kinds, max_kind) + "</div>\n";
  }

  h += "<h3>Generation speed</h3>\n<div class=\"generation\" id=\"generation-speed-" + esc(s.benchmark) + "\">\n";
  if (s.generation) {
    const GenerationSpeed& g = *s.generation;
    h += "<table class=\"kv\">\n" + row("decoder", esc(g.decoder));
    if (!g.model.empty()) h += row("model", esc(g.model));
    h += row("samples", std::to_string(g.samples) + " (" + std::to_string(g.samples_generated) +
                            " generated by this run)");
    h += row("tokens/s", num(g.tokens_per_second, 1) + " (" + std::to_string(g.tokens) + " tokens in " +
                             num(g.seconds, 1) + " s)");
    h += row("tokens per forward pass", num(g.tokens_per_forward, 2));
    if (g.speedup) {
      const SpeedupMeasurement& m = *g.speedup;
      h += row("speculative speedup", num(m.speedup(), 2) + "x: " + num(m.fast_tokens_per_second, 1) + " against " +
                                          num(m.reference_tokens_per_second, 1) + " tokens/s (" +
                                          esc(m.reference_decoder) + ") on the first " + std::to_string(m.prompts) +
                                          " prompts");
      h += row("outputs identical", !m.identical ? std::string("n/a (sampling)")
                                    : *m.identical ? std::string("yes")
                                                   : std::string("<span class=\"warn\">no</span>"));
    } else {
      h += row("speculative speedup", "not measured (--speedup-sample 0)");
    }
    if (g.errors > 0) h += row("engine errors", "<span class=\"warn\">" + std::to_string(g.errors) + " samples</span>");
    if (g.prompts_truncated > 0) h += row("prompts cut to fit", std::to_string(g.prompts_truncated) + " samples");
    h += "</table>\n";
    std::vector<Bar> acc;
    for (size_t i = 0; i < g.acceptance_per_head.size(); ++i) {
      double a = g.acceptance_per_head[i];
      acc.push_back({"head " + std::to_string(i + 2), std::isnan(a) ? 0 : a, std::isnan(a) ? "no drafts" : percent(a),
                     kBlue});
    }
    if (!acc.empty()) h += "<div class=\"chart\">" + svg_bars("Draft acceptance per head", acc, 1.0) + "</div>\n";
  } else {
    h += "<p class=\"muted\">Not measured: these samples were scored from a file. Runs that generate through "
         "the engine report tokens/s, acceptance per head and the speculative speedup here.</p>\n";
  }
  h += "</div>\n";

  if (!s.problems.empty()) {
    h += "<details><summary>Skipped input (" + std::to_string(s.problems.size()) + ")</summary><ul>\n";
    constexpr size_t kShown = 200;
    for (size_t i = 0; i < s.problems.size() && i < kShown; ++i) h += "<li><code>" + esc(s.problems[i]) + "</code></li>\n";
    if (s.problems.size() > kShown) h += "<li>... and " + std::to_string(s.problems.size() - kShown) + " more</li>\n";
    h += "</ul></details>\n";
  }
  return h + "</section>\n";
}

}  // namespace

std::string render_html(const std::vector<EvalSummary>& runs) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>mtpc eval report</title>\n"
      "<style>\n"
      "body{font:14px/1.45 system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#212121}\n"
      "h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}small{color:#757575}\n"
      "table.kv{border-collapse:collapse}table.kv th{text-align:left;padding:2px 12px 2px 0;color:#555;"
      "font-weight:normal;vertical-align:top}table.kv td{padding:2px 0}\n"
      "svg text{font:12px system-ui,sans-serif;fill:#212121}svg text.t{font-weight:600;font-size:13px}\n"
      ".warn{color:#c62828;font-weight:600}.muted{color:#757575}.chart{margin:.6em 0}\n"
      ".caveats{background:#fff8e1;border-left:4px solid #ef8f00;padding:.4em 1em;margin:.8em 0}\n"
      "</style></head><body>\n<h1>mtpc eval report</h1>\n";
  std::vector<Bar> pass_bars;
  for (const EvalSummary& s : runs) {
    for (const PassAtK& p : s.pass_at_k) {
      pass_bars.push_back({s.benchmark + " " + s.split + (s.reference ? " (ref)" : "") + " pass@" + std::to_string(p.k),
                           p.value, percent(p.value), kBlue});
    }
  }
  h += "<div class=\"chart\" id=\"pass-at-k\">" +
       (pass_bars.empty() ? std::string("<p class=\"muted\">No pass@k: no k is supported by every task.</p>")
                          : svg_bars("pass@k per benchmark", pass_bars, 1.0)) +
       "</div>\n";
  for (const EvalSummary& s : runs) h += run_section(s);
  return h + "</body></html>\n";
}

}  // namespace mtpc::eval
