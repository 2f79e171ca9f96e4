// When is a restarted node really back? Its LMQ gateway subscribes (and logs
// lmq.ready) as soon as it starts, while the directory and the meeting actors
// it spawns at once (those with work to do now; the others stay dormant, see
// dormant_meetings.hpp) are still being initialized on the scheduler:
// commands that arrive meanwhile wait in their mailboxes. This counter is told
// by each of those actors when its initialization is done; the last one logs
// node.recovered with the time since start_node began, which is the figure
// the recovery benchmark reports.
#pragma once

#include "gateway/readiness.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace meetingd {

class recovery_tracker {
public:
  /// `meetings`: how many live meetings were recovered (for the log line).
  /// The directory is expected to call one_done().
  recovery_tracker(std::size_t meetings, std::chrono::steady_clock::time_point started,
                   std::shared_ptr<readiness> ready = nullptr);

  /// `actors` more will call one_done(): the meeting actors spawned at once.
  /// The directory calls it before spawning them and before its own one_done().
  void expect(std::size_t actors);

  /// Thread-safe; the call that brings the count to zero logs node.recovered
  /// and marks the node recovered for /readyz.
  void one_done();

private:
  std::atomic<std::size_t> left_{1};
  std::atomic<std::size_t> woken_{0};
  std::size_t meetings_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<readiness> ready_;
};

} // namespace meetingd
