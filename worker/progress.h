// Training progress for people: a one-line bar on a terminal (samples/s,
// loss, ETA), or a plain log line every few seconds when stderr is not a TTY.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ecps {

class Progress {
 public:
  enum class Mode { kBar, kLog, kNone };
  // "auto" picks kBar when stderr is a terminal, else kLog.
  static Mode ParseMode(const std::string& name);

  Progress(Mode mode, std::string label, int64_t total_steps, int64_t batch_size);
  // Call after each step; cheap (redraws at most every 0.2 s / logs every 10 s).
  void Update(int64_t step, double loss);
  // Ends the bar's line.
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  Mode mode_;
  std::string label_;
  int64_t total_, batch_;
  int64_t first_step_ = -1;
  Clock::time_point start_, last_draw_;
  double smoothed_loss_ = 0;
  bool drawn_ = false;
};

}  // namespace ecps
