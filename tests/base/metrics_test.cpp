#include "base/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

namespace mtpc::metrics {
namespace {

TEST(Metrics, CounterAndGaugeRenderHelpTypeAndLabels) {
  Registry r;
  auto& req = r.counter("mtpc_requests_total", "Requests answered.", {"endpoint", "outcome"});
  req.with({"/v1/completions", "ok"}).inc();
  req.with({"/v1/completions", "ok"}).inc(2);
  req.with({"/infill", "error"}).inc();
  r.gauge("mtpc_queue_depth", "Requests waiting.").with({}).set(3);
  EXPECT_EQ(r.render(),
            "# HELP mtpc_queue_depth Requests waiting.\n"
            "# TYPE mtpc_queue_depth gauge\n"
            "mtpc_queue_depth 3\n"
            "# HELP mtpc_requests_total Requests answered.\n"
            "# TYPE mtpc_requests_total counter\n"
            "mtpc_requests_total{endpoint=\"/infill\",outcome=\"error\"} 1\n"
            "mtpc_requests_total{endpoint=\"/v1/completions\",outcome=\"ok\"} 3\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("mtpc_latency_seconds", "Latency.", {0.1, 0.5}, {"endpoint"});
  h.with({"/x"}).observe(0.0625);
  h.with({"/x"}).observe(0.5);  // on the bound: counts in le="0.5"
  h.with({"/x"}).observe(0.25);
  h.with({"/x"}).observe(7);
  EXPECT_EQ(r.render(),
            "# HELP mtpc_latency_seconds Latency.\n"
            "# TYPE mtpc_latency_seconds histogram\n"
            "mtpc_latency_seconds_bucket{endpoint=\"/x\",le=\"0.1\"} 1\n"
            "mtpc_latency_seconds_bucket{endpoint=\"/x\",le=\"0.5\"} 3\n"
            "mtpc_latency_seconds_bucket{endpoint=\"/x\",le=\"+Inf\"} 4\n"
            "mtpc_latency_seconds_sum{endpoint=\"/x\"} 7.8125\n"
            "mtpc_latency_seconds_count{endpoint=\"/x\"} 4\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  r.counter("c_total", "line one\nback\\slash", {"v"}).with({"a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP c_total line one\\nback\\\\slash\n"
            "# TYPE c_total counter\n"
            "c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, FamilyWithoutSeriesRendersOnlyHeaders) {
  Registry r;
  r.counter("mtpc_auth_failures_total", "Auth failures.");
  EXPECT_EQ(r.render(), "# HELP mtpc_auth_failures_total Auth failures.\n# TYPE mtpc_auth_failures_total counter\n");
}

TEST(Metrics, RedeclaringReturnsTheSameFamilyAndConflictsThrow) {
  Registry r;
  auto& a = r.counter("x_total", "X.", {"k"});
  auto& b = r.counter("x_total", "X.", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.gauge("x_total", "X."), std::invalid_argument);
  EXPECT_THROW(r.counter("x_total", "X.", {"other"}), std::invalid_argument);
  EXPECT_THROW(r.counter("bad name", "X."), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "X.", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(a.with({}), std::invalid_argument);
}

TEST(Metrics, CounterIgnoresNegativeAndNaN) {
  Counter c;
  c.inc(2);
  c.inc(-5);
  c.inc(std::nan(""));
  EXPECT_EQ(c.value(), 2);
}

TEST(Metrics, FormatValue) {
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-1.5), "-1.5");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& f = r.counter("n_total", "N.", {"t"});
  auto& h = r.histogram("h_seconds", "H.", latency_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        f.with({std::to_string(t % 2)}).inc();
        h.with({}).observe(0.001 * i);
        if (i % 1000 == 0) (void)r.render();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(f.with({"0"}).value() + f.with({"1"}).value(), 40000);
  EXPECT_EQ(h.with({}).snapshot().count, 40000u);
}

}  // namespace
}  // namespace mtpc::metrics
