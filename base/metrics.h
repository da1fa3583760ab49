// A registry of counters, gauges and histograms with labels, rendered in
// Prometheus' text exposition format (version 0.0.4).
//
// Contract: a metric family is declared once by name (declaring it again with
// the same type and label names returns the same family; with another type or
// other label names it throws std::invalid_argument: a programming error, not
// input). Families and series are never removed, so the references returned
// stay valid for the registry's life. Every method is thread-safe; updates of
// an existing series take one short lock per family.
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// (checked at declaration). Label values may be any bytes; they are escaped
// (backslash, quote, newline) when rendered, as is HELP text.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mtpc::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label-name order

// A counter only goes up; inc() with a negative amount is ignored.
class Counter {
 public:
  void inc(double amount = 1);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0;
};

class Gauge {
 public:
  void set(double value);
  void add(double amount);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0;
};

// Cumulative buckets with upper bounds `bounds` (sorted, finite) plus +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// A family: one name, help text and label names; one series per label values.
template <typename Metric>
class Family {
 public:
  // The series for these label values (created on first use). Throws
  // std::invalid_argument if the number of values is not the number of names.
  Metric& with(const Labels& values);
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Made by Registry; public only so that its helper can construct one.
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

 private:
  friend class Registry;
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<Metric>> series_;
};

// Default latency buckets in seconds: 5 ms .. 60 s.
std::vector<double> latency_buckets();

class Registry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               std::vector<std::string> label_names = {});

  // The whole registry in the text format, families sorted by name, series by
  // label values. A family with no series yet renders only HELP and TYPE.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
  std::map<std::string, std::string> types_;  // name -> "counter" | "gauge" | "histogram"
};

// Escaping as the text format wants it.
std::string escape_help(const std::string& text);         // \ and newline
std::string escape_label_value(const std::string& text);  // \, " and newline
// A sample value: integers without a fraction, +Inf/-Inf/NaN spelled as Prometheus does.
std::string format_value(double value);

}  // namespace mtpc::metrics
