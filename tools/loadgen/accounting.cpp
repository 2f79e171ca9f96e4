// loadgen's counts (see accounting.hpp).
#include "tools/loadgen/accounting.hpp"

namespace meetingd::loadgen {

void cmd_stats::merge(const cmd_stats& o) {
  latency.merge(o.latency);
  ok += o.ok;
  failed += o.failed;
  bytes_out += o.bytes_out;
  bytes_in += o.bytes_in;
  for (auto& [k, v] : o.errors)
    errors[k] += v;
}

void worker_stats::merge(const worker_stats& o) {
  for (int c = 0; c < c_count; ++c)
    cmds[c].merge(o.cmds[c]);
  for (auto& [k, v] : o.events)
    events[k] += v;
  timeouts += o.timeouts;
  for (auto& t : o.timeout_samples)
    if (timeout_samples.size() < 10)
      timeout_samples.push_back(t);
  late_replies += o.late_replies;
  disconnects += o.disconnects;
  deferred += o.deferred;
  window.merge(o.window);
  window_errors += o.window_errors;
  setup_latency.merge(o.setup_latency);
  setup_ok += o.setup_ok;
  setup_failed += o.setup_failed;
  for (auto& [k, v] : o.setup_errors)
    setup_errors[k] += v;
}

void ledger::finished(const request_outcome& r, bool measuring) {
  std::lock_guard<std::mutex> g{mtx_};
  auto key = r.code < 0 ? r.reason
                        : std::to_string(r.code) + (r.reason.empty() ? "" : " " + r.reason);
  if (r.setup) {
    stats_.setup_latency.record(r.latency_us);
    if (r.code == 0 || (r.console && r.reason == "user_exists")) {
      ++stats_.setup_ok;
    } else {
      ++stats_.setup_failed;
      ++stats_.setup_errors[key];
    }
    return;
  }
  stats_.window.record(r.latency_us);
  if (r.code != 0)
    ++stats_.window_errors;
  if (!measuring)
    return;
  auto& s = stats_.cmds[r.c];
  s.latency.record(r.latency_us);
  s.bytes_out += r.bytes_out;
  s.bytes_in += r.bytes_in;
  if (r.code == 0) {
    ++s.ok;
  } else {
    ++s.failed;
    ++s.errors[key];
  }
}

void ledger::event(const std::string& type) {
  std::lock_guard<std::mutex> g{mtx_};
  ++stats_.events[type];
}

void ledger::timed_out(std::string sample) {
  std::lock_guard<std::mutex> g{mtx_};
  ++stats_.timeouts;
  if (stats_.timeout_samples.size() < 10)
    stats_.timeout_samples.push_back(std::move(sample));
}

void ledger::late_reply() {
  std::lock_guard<std::mutex> g{mtx_};
  ++stats_.late_replies;
}

void ledger::disconnected() {
  std::lock_guard<std::mutex> g{mtx_};
  ++stats_.disconnects;
}

void ledger::deferred() {
  std::lock_guard<std::mutex> g{mtx_};
  ++stats_.deferred;
}

worker_stats ledger::collect(bool reset_window) {
  std::lock_guard<std::mutex> g{mtx_};
  worker_stats copy = stats_;
  if (reset_window) {
    stats_.window.reset();
    stats_.window_errors = 0;
  }
  return copy;
}

} // namespace meetingd::loadgen
