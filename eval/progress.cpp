#include "eval/progress.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

namespace mtpc::eval {
namespace {

// One line, rewritten in place on a terminal; on a pipe or file, a line per
// tenth of the run, or after kQuietSeconds without one, so logs stay short
// but a slow run still shows it is alive.
class ProgressLine {
 public:
  static constexpr double kQuietSeconds = 60;
  ProgressLine() : tty_(::isatty(2)) {}
  void show(size_t done, size_t total, double elapsed_s, const std::string& text) {
    int tenth = total ? static_cast<int>(done * 10 / total) : 10;
    bool last = done == total;
    if (!tty_ && tenth == last_tenth_ && !last && elapsed_s - last_print_s_ < kQuietSeconds) return;
    if (last && printed_last_) return;
    last_tenth_ = tenth;
    last_print_s_ = elapsed_s;
    printed_last_ = last;
    std::fprintf(stderr, tty_ ? "\r%-110s" : "%s\n", text.c_str());
    if (tty_ && last) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool tty_;
  int last_tenth_ = -1;
  double last_print_s_ = 0;
  bool printed_last_ = false;
};

}  // namespace

std::string duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}


std::function<void(const ScoreProgress&)> scoring_progress(const std::string& label) {
  auto line = std::make_shared<ProgressLine>();
  return [line, label](const ScoreProgress& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %zu/%zu scored, %zu passed, %.1f/s, ETA %s", label.c_str(), p.done,
                  p.total, p.passed, p.elapsed_s > 0 ? p.done / p.elapsed_s : 0.0, duration(p.eta_s).c_str());
    line->show(p.done, p.total, p.elapsed_s, buf);
  };
}

std::function<void(const GenerationProgress&)> generation_progress(const std::string& label) {
  auto line = std::make_shared<ProgressLine>();
  return [line, label](const GenerationProgress& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %zu/%zu tasks generated, %zu/%zu samples, %.1f tokens/s, ETA %s",
                  label.c_str(), p.tasks_done, p.tasks_total, p.samples_done, p.samples_total,
                  p.elapsed_s > 0 ? p.tokens / p.elapsed_s : 0.0,
                  p.samples_done ? duration(p.eta_s).c_str() : "?");
    line->show(p.samples_done, p.samples_total, p.elapsed_s, buf);
  };
}


}  // namespace mtpc::eval
