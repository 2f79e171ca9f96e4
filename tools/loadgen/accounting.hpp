// What loadgen measures: per command the latency histogram, outcomes and
// bytes of the measure phase; the window behind each progress line; the
// setup requests (logins, the console's admin.user.add); events, timeouts,
// late replies and lost connections. Each worker thread writes its own
// ledger and the main thread reads them all once a second, so the lock is
// never contended for long.
#pragma once

#include "tools/loadgen/histogram.hpp"
#include "tools/loadgen/mix.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace meetingd::loadgen {

struct cmd_stats {
  histogram latency;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  std::map<std::string, std::uint64_t> errors; // "409 meeting_full", "timeout"
  void merge(const cmd_stats& o);
};

/// What one worker measured (the measure phase) and its current window.
struct worker_stats {
  std::array<cmd_stats, c_count> cmds;
  std::map<std::string, std::uint64_t> events;
  std::uint64_t timeouts = 0;
  std::vector<std::string> timeout_samples; // "client id type meeting", the first few
  std::uint64_t late_replies = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t deferred = 0; // rate mode: sends that found no device with a free slot
  // The window since the last progress line (all phases).
  histogram window;
  std::uint64_t window_errors = 0;
  // Setup requests (initial logins, admin.user.add).
  histogram setup_latency;
  std::uint64_t setup_ok = 0;
  std::uint64_t setup_failed = 0;
  std::map<std::string, std::uint64_t> setup_errors;
  void merge(const worker_stats& o);
};

/// How one request ended.
struct request_outcome {
  int c = 0;
  bool setup = false;   // a login of the setup, or the console adding a user
  bool console = false; // the console's: a user that exists already is fine
  std::uint64_t latency_us = 0;
  std::size_t bytes_out = 0;
  std::size_t bytes_in = 0;
  int code = 0;       // the reply's code; -1 when no reply came
  std::string reason; // the reply's reason, or "timeout", "disconnected"
};

class ledger {
public:
  /// `measuring`: the measure phase, the only one whose commands count.
  void finished(const request_outcome& r, bool measuring);
  void event(const std::string& type);
  void timed_out(std::string sample);
  void late_reply();
  void disconnected();
  void deferred();
  /// A copy of the counts; with reset_window, the next window starts.
  worker_stats collect(bool reset_window);

private:
  std::mutex mtx_;
  worker_stats stats_;
};

} // namespace meetingd::loadgen
