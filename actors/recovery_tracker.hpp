// When is a restarted node really back? Its LMQ gateway subscribes (and logs
// lmq.ready) as soon as it starts, while the directory and every recovered
// meeting actor are still being initialized on the scheduler: commands that
// arrive meanwhile wait in their mailboxes. This counter is told by each of
// those actors when its initialization is done; the last one logs
// node.recovered with the time since start_node began, which is the figure
// the recovery benchmark reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>

namespace meetingd {

class recovery_tracker {
public:
  /// `actors`: how many actors will call one_done() (the directory and each
  /// recovered meeting).
  recovery_tracker(std::size_t actors, std::chrono::steady_clock::time_point started);

  /// Thread-safe; the call that brings the count to zero logs node.recovered.
  void one_done();

private:
  std::atomic<std::size_t> left_;
  std::size_t meetings_;
  std::chrono::steady_clock::time_point started_;
};

} // namespace meetingd
