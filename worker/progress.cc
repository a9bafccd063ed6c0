#include "worker/progress.h"

#include <unistd.h>

#include <cstdio>

#include "common/logging.h"

namespace ecps {

Progress::Mode Progress::ParseMode(const std::string& name) {
  if (name == "bar") return Mode::kBar;
  if (name == "log") return Mode::kLog;
  if (name == "none") return Mode::kNone;
  return ::isatty(STDERR_FILENO) ? Mode::kBar : Mode::kLog;
}

Progress::Progress(Mode mode, std::string label, int64_t total_steps, int64_t batch_size)
    : mode_(mode), label_(std::move(label)), total_(total_steps), batch_(batch_size) {
  start_ = last_draw_ = Clock::now();
}

void Progress::Update(int64_t step, double loss) {
  if (mode_ == Mode::kNone) return;
  if (first_step_ < 0) {
    first_step_ = step - 1;
    smoothed_loss_ = loss;
  }
  smoothed_loss_ = 0.98 * smoothed_loss_ + 0.02 * loss;
  auto now = Clock::now();
  double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  bool last = step >= total_;
  if (!last && since_draw < (mode_ == Mode::kBar ? 0.2 : 10.0)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  int64_t done = step - first_step_;
  double rate = elapsed > 0 ? done * batch_ / elapsed : 0;
  double eta = done > 0 ? elapsed / done * (total_ - step) : 0;
  int pct = total_ > 0 ? static_cast<int>(100.0 * step / total_) : 0;
  int eta_s = static_cast<int>(eta);
  if (mode_ == Mode::kBar) {
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * step / total_) : 0;
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    std::fprintf(stderr, "\r%s [%s] %3d%% %lld/%lld  %9.0f samples/s  loss %.4f  ETA %d:%02d ",
                 label_.c_str(), bar.c_str(), pct, static_cast<long long>(step),
                 static_cast<long long>(total_), rate, smoothed_loss_, eta_s / 60, eta_s % 60);
    std::fflush(stderr);
    drawn_ = true;
  } else {
    ECPS_LOG_INFO("{} step {}/{} ({}%) {:.0f} samples/s loss {:.4f} ETA {}:{:02d}", label_, step,
                  total_, pct, rate, smoothed_loss_, eta_s / 60, eta_s % 60);
  }
}

void Progress::Finish() {
  if (mode_ == Mode::kBar && drawn_) {
    std::fprintf(stderr, "\n");
    drawn_ = false;
  }
}

}  // namespace ecps
