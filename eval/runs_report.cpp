#include "eval/runs_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "base/gzip_file.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string num(double x, const char* fmt = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

std::string opt(const std::optional<double>& x, const char* fmt = "%.2f") { return x ? num(*x, fmt) : "-"; }

std::optional<double> number_at(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// Latency fields of a summary's latency object.
void read_latency(const json& l, RunPoint& p) {
  if (!l.is_object()) return;
  p.p50_ms = number_at(l, "p50_ms");
  p.p95_ms = number_at(l, "p95_ms");
  p.p99_ms = number_at(l, "p99_ms");
  std::optional<double> answered = number_at(l, "answered"), n = number_at(l, "completions");
  if (answered && n && *n > 0) p.answer_rate_pct = 100 * *answered / *n;
}

// One SVG scatter plot: score (y) against p50 latency (x), one labelled point per run.
std::string chart(const std::string& title, const std::vector<const RunPoint*>& pts) {
  const double w = 640, h = 360, left = 60, right = 20, top = 30, bottom = 50;
  double xmax = 1, ymax = 1;
  for (const RunPoint* p : pts) {
    xmax = std::max(xmax, *p->p50_ms);
    ymax = std::max(ymax, p->score);
  }
  xmax *= 1.1;
  ymax *= 1.1;
  auto x = [&](double v) { return left + v / xmax * (w - left - right); };
  auto y = [&](double v) { return h - bottom - v / ymax * (h - top - bottom); };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w, "%.0f") + "\" height=\"" +
                    num(h, "%.0f") + "\" role=\"img\" aria-label=\"" + html_escape(title) + "\">\n";
  svg += "<text x=\"" + num(left, "%.0f") + "\" y=\"18\" font-size=\"14\">" + html_escape(title) + "</text>\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(h - bottom) + "\" x2=\"" + num(w - right) + "\" y2=\"" +
         num(h - bottom) + "\" stroke=\"black\"/>\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(top) + "\" x2=\"" + num(left) + "\" y2=\"" + num(h - bottom) +
         "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double xv = xmax * i / 4, yv = ymax * i / 4;
    svg += "<text x=\"" + num(x(xv)) + "\" y=\"" + num(h - bottom + 16) + "\" font-size=\"10\" text-anchor=\"middle\">" +
           num(xv, "%.0f") + "</text>\n";
    svg += "<text x=\"" + num(left - 6) + "\" y=\"" + num(y(yv) + 4) + "\" font-size=\"10\" text-anchor=\"end\">" +
           num(yv, "%.1f") + "</text>\n";
  }
  svg += "<text x=\"" + num((left + w - right) / 2) + "\" y=\"" + num(h - 10) +
         "\" font-size=\"11\" text-anchor=\"middle\">p50 latency through the completion core (ms)</text>\n";
  svg += "<text x=\"14\" y=\"" + num((top + h - bottom) / 2) + "\" font-size=\"11\" transform=\"rotate(-90 14 " +
         num((top + h - bottom) / 2) + ")\" text-anchor=\"middle\">" + html_escape(pts[0]->score_name) + "</text>\n";
  for (const RunPoint* p : pts) {
    svg += "<circle class=\"run\" cx=\"" + num(x(*p->p50_ms)) + "\" cy=\"" + num(y(p->score)) +
           "\" r=\"4\" fill=\"steelblue\"><title>" + html_escape(p->label) + "</title></circle>\n";
    svg += "<text x=\"" + num(x(*p->p50_ms) + 6) + "\" y=\"" + num(y(p->score) - 6) + "\" font-size=\"10\">" +
           html_escape(p->label) + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace

Result<RunPoint> read_run_point(const std::string& run_dir) {
  const std::string path = run_dir + "/summary.json";
  Result<std::string> text = read_file(path);
  if (!text.ok()) return Status::Error(run_dir + ": no summary.json (not a finished `mtpc eval` run)");
  json s = json::parse(text.value(), nullptr, false);
  if (s.is_discarded() || !s.is_object() || !s.contains("benchmark") || !s["benchmark"].is_string())
    return Status::Error(path + ": not an `mtpc eval` summary");
  RunPoint p;
  p.dir = run_dir;
  std::string model;
  if (s.contains("model") && s["model"].is_string()) model = s["model"].get<std::string>();
  else if (s.contains("generation") && s["generation"].is_object() && s["generation"].contains("model") &&
           s["generation"]["model"].is_string())
    model = s["generation"]["model"].get<std::string>();
  const std::string run_name = std::filesystem::path(run_dir).lexically_normal().filename().string();
  p.label = (model.empty() ? std::string("no model") : std::filesystem::path(model).filename().string()) + ": " +
            (run_name.empty() ? run_dir : run_name);
  const std::string benchmark = s["benchmark"].get<std::string>();
  if (benchmark == "nextline") {
    p.benchmark = "nextline";
    p.score_name = "edit similarity";
    const json& o = s.value("overall", json::object());
    p.score = number_at(o, "edit_similarity").value_or(0);
    p.exact_match_pct = number_at(o, "exact_match_pct");
    read_latency(s.value("latency", json()), p);
    if (s.contains("generation")) p.tokens_per_forward = number_at(s["generation"], "tokens_per_forward");
    return p;
  }
  p.benchmark = benchmark + " " + s.value("split", std::string());
  p.score_name = "pass@1 %";
  if (s.contains("pass_at_k") && s["pass_at_k"].is_object())
    p.score = 100 * number_at(s["pass_at_k"], "pass@1").value_or(0);
  if (s.contains("infill") && s["infill"].is_object()) {
    const json& f = s["infill"];
    if (auto em = number_at(f, "exact_match_rate")) p.exact_match_pct = 100 * *em;
    read_latency(f.value("latency", json()), p);
  }
  if (s.contains("generation") && s["generation"].is_object())
    p.tokens_per_forward = number_at(s["generation"], "tokens_per_forward");
  return p;
}

std::string render_runs_report_markdown(const std::vector<RunPoint>& points) {
  std::string md = "| run | benchmark | score | exact match % | p50 ms | p95 ms | p99 ms | answered % | tokens/pass |\n"
                   "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const RunPoint& p : points)
    md += "| " + p.label + " | " + p.benchmark + " | " + num(p.score) + " (" + p.score_name + ") | " +
          opt(p.exact_match_pct) + " | " + opt(p.p50_ms, "%.1f") + " | " + opt(p.p95_ms, "%.1f") + " | " +
          opt(p.p99_ms, "%.1f") + " | " + opt(p.answer_rate_pct, "%.1f") + " | " + opt(p.tokens_per_forward) +
          " |\n";
  return md;
}

std::string render_runs_report_html(const std::vector<RunPoint>& points) {
  std::string html =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>mtpc eval report</title>"
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid "
      "#ccc;padding:4px 8px}</style></head><body>\n<h1>Score against latency</h1>\n";
  std::map<std::string, std::vector<const RunPoint*>> by_benchmark;
  for (const RunPoint& p : points)
    if (p.p50_ms) by_benchmark[p.benchmark].push_back(&p);
  for (const auto& [bench, pts] : by_benchmark)
    html += "<section class=\"chart\" id=\"" + html_escape(bench) + "\">\n" + chart(bench, pts) + "</section>\n";
  html += "<h2>Runs</h2>\n<table>\n<tr><th>run</th><th>benchmark</th><th>score</th><th>exact match %</th>"
          "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>answered %</th><th>tokens/pass</th><th>directory</th>"
          "</tr>\n";
  for (const RunPoint& p : points)
    html += "<tr><td>" + html_escape(p.label) + "</td><td>" + html_escape(p.benchmark) + "</td><td>" + num(p.score) +
            " (" + html_escape(p.score_name) + ")</td><td>" + opt(p.exact_match_pct) + "</td><td>" +
            opt(p.p50_ms, "%.1f") + "</td><td>" + opt(p.p95_ms, "%.1f") + "</td><td>" + opt(p.p99_ms, "%.1f") +
            "</td><td>" + opt(p.answer_rate_pct, "%.1f") + "</td><td>" + opt(p.tokens_per_forward) + "</td><td>" +
            html_escape(p.dir) + "</td></tr>\n";
  return html + "</table>\n</body></html>\n";
}

}  // namespace mtpc::eval
