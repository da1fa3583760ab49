#include "base/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace mtpc::metrics {

namespace {

bool valid_name(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

void check_declaration(const std::string& name, const std::vector<std::string>& label_names) {
  if (!valid_name(name, true)) throw std::invalid_argument("metrics: bad metric name '" + name + "'");
  for (const auto& l : label_names)
    if (!valid_name(l, false) || l.rfind("__", 0) == 0 || l == "le")
      throw std::invalid_argument("metrics: bad label name '" + l + "' for " + name);
}

std::string label_set(const std::vector<std::string>& names, const Labels& values, const std::string& extra_name = "",
                      const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

void Counter::inc(double amount) {
  if (!(amount >= 0)) return;  // also drops NaN
  std::lock_guard<std::mutex> lock(mu_);
  value_ += amount;
}
double Counter::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

void Gauge::set(double value) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ = value;
}
void Gauge::add(double amount) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ += amount;
}
double Gauge::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::invalid_argument("metrics: histogram bounds must be finite and increasing");
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (uint64_t c : counts_) s.cumulative.push_back(running += c);
  s.sum = sum_;
  s.count = count_;
  return s;
}

template <typename Metric>
Metric& Family<Metric>::with(const Labels& values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument("metrics: " + name_ + " takes " + std::to_string(label_names_.size()) + " labels");
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = series_[values];
  if (!slot) {
    if constexpr (std::is_same_v<Metric, Histogram>)
      slot = std::make_unique<Histogram>(bounds_);
    else
      slot = std::make_unique<Metric>();
  }
  return *slot;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60};
}

namespace {
template <typename Metric>
Family<Metric>& declare(std::map<std::string, std::unique_ptr<Family<Metric>>>& families,
                        std::map<std::string, std::string>& types, const char* type, const std::string& name,
                        const std::string& help, std::vector<std::string> label_names, std::vector<double> bounds) {
  check_declaration(name, label_names);
  auto t = types.find(name);
  if (t != types.end()) {
    auto f = families.find(name);
    if (t->second != type || f == families.end() || f->second->label_names() != label_names)
      throw std::invalid_argument("metrics: " + name + " declared twice, differently");
    return *f->second;
  }
  types[name] = type;
  auto& slot = families[name];
  slot.reset(new Family<Metric>(name, help, std::move(label_names), std::move(bounds)));
  return *slot;
}
}  // namespace

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  return declare(counters_, types_, "counter", name, help, std::move(label_names), {});
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  return declare(gauges_, types_, "gauge", name, help, std::move(label_names), {});
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  Histogram probe(bounds);  // validates the bounds before anything is declared
  std::lock_guard<std::mutex> lock(mu_);
  return declare(histograms_, types_, "histogram", name, help, std::move(label_names), std::move(bounds));
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  for (const auto& [name, type] : types_) {
    if (type == "counter") {
      const auto& f = *counters_.at(name);
      out << "# HELP " << name << ' ' << escape_help(f.help_) << "\n# TYPE " << name << " counter\n";
      std::lock_guard<std::mutex> fl(f.mu_);
      for (const auto& [values, c] : f.series_)
        out << name << label_set(f.label_names_, values) << ' ' << format_value(c->value()) << '\n';
    } else if (type == "gauge") {
      const auto& f = *gauges_.at(name);
      out << "# HELP " << name << ' ' << escape_help(f.help_) << "\n# TYPE " << name << " gauge\n";
      std::lock_guard<std::mutex> fl(f.mu_);
      for (const auto& [values, g] : f.series_)
        out << name << label_set(f.label_names_, values) << ' ' << format_value(g->value()) << '\n';
    } else {
      const auto& f = *histograms_.at(name);
      out << "# HELP " << name << ' ' << escape_help(f.help_) << "\n# TYPE " << name << " histogram\n";
      std::lock_guard<std::mutex> fl(f.mu_);
      for (const auto& [values, h] : f.series_) {
        const Histogram::Snapshot s = h->snapshot();
        for (size_t i = 0; i < s.bounds.size(); ++i)
          out << name << "_bucket" << label_set(f.label_names_, values, "le", format_value(s.bounds[i])) << ' '
              << s.cumulative[i] << '\n';
        out << name << "_bucket" << label_set(f.label_names_, values, "le", "+Inf") << ' ' << s.count << '\n';
        out << name << "_sum" << label_set(f.label_names_, values) << ' ' << format_value(s.sum) << '\n';
        out << name << "_count" << label_set(f.label_names_, values) << ' ' << s.count << '\n';
      }
    }
  }
  return out.str();
}

std::string escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", value);  // shortest that reads back, usually
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

}  // namespace mtpc::metrics
