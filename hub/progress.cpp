#include "hub/progress.h"

namespace mtpc::hub {
namespace {

constexpr int kBarWidth = 24;             // characters of the bar
constexpr double kTtyRedrawSeconds = 0.1;  // a terminal redraw at most this often

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

}  // namespace

ProgressPrinter::ProgressPrinter(std::FILE* out, bool tty, double line_interval_s)
    : out_(out), tty_(tty), interval_s_(line_interval_s) {}

void ProgressPrinter::update(const TransferProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  if (p.file != file_) {
    file_ = p.file;
    file_start_ = now;
    // A terminal shows the bar at once; a log gets its first line after an
    // interval (small files only get their "done" line).
    last_print_ = tty_ ? now - std::chrono::hours(1) : now;
    start_bytes_ = p.done;
  }
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (!p.finished && since < (tty_ ? kTtyRedrawSeconds : interval_s_)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - file_start_).count();
  const double rate = elapsed > 0 ? (p.done - start_bytes_) / elapsed : 0;
  char pct[16] = "";
  if (p.total > 0) std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(100.0 * p.done / p.total));
  std::string sizes = megabytes(p.done) + (p.total > 0 ? " / " + megabytes(p.total) : "");
  std::string speed = megabytes(static_cast<uint64_t>(rate)) + "/s";
  if (tty_) {
    std::string bar;
    if (p.total > 0) {
      int filled = static_cast<int>(kBarWidth * static_cast<double>(p.done) / p.total);
      bar = "[" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "] ";
    }
    std::fprintf(out_, "\r\033[K%s %s %s%s  %s", p.file.c_str(), pct, bar.c_str(), sizes.c_str(), speed.c_str());
    if (p.finished) std::fputc('\n', out_);
  } else {
    std::fprintf(out_, "mtpc pull: %s %s %s (%s)%s\n", p.file.c_str(), pct, sizes.c_str(), speed.c_str(),
                 p.finished ? " done" : "");
  }
  std::fflush(out_);
}

}  // namespace mtpc::hub
