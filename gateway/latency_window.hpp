// Handling latency and command rate for admin.stats: the last N latencies
// (a ring) for p50/p99, and completions per second over a sliding window.
#pragma once

#include "actors/core/protocol.hpp"

#include <algorithm>
#include <deque>
#include <vector>

namespace meetingd {

class latency_window {
public:
  explicit latency_window(std::size_t capacity = 10000) : capacity_(capacity) {
    samples_.reserve(capacity);
  }

  void record(double ms, unix_ms now) {
    if (samples_.size() < capacity_)
      samples_.push_back(ms);
    else
      samples_[next_++ % capacity_] = ms;
    completions_.push_back(now);
    while (!completions_.empty() && completions_.front() < now - window_ms)
      completions_.pop_front();
  }

  /// The q-quantile (0..1) of the recorded latencies, 0 if none.
  double quantile(double q) const {
    if (samples_.empty())
      return 0;
    std::vector<double> sorted = samples_;
    auto k = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(k), sorted.end());
    return sorted[k];
  }

  double per_second(unix_ms now) const {
    auto n = std::count_if(completions_.begin(), completions_.end(),
                           [&](unix_ms t) { return t >= now - window_ms; });
    return static_cast<double>(n) * 1000.0 / window_ms;
  }

private:
  static constexpr unix_ms window_ms = 10000;
  std::size_t capacity_;
  std::size_t next_ = 0;
  std::vector<double> samples_;
  std::deque<unix_ms> completions_;
};

} // namespace meetingd
