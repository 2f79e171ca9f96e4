// What systemd hears from a node run as a Type=notify service
// (docs/packaging.md): READY=1 once it would answer /readyz with 200,
// STATUS= lines that say why not while it cannot serve, STOPPING=1 when it
// begins to stop, and WATCHDOG=1 while its actors run (the directory
// publishes its figures every second; if that stops, the watchdog is no
// longer fed and systemd restarts the node). Outside systemd (no
// NOTIFY_SOCKET) it does nothing and starts no thread.
#pragma once

#include "gateway/readiness.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace meetingd {

class systemd_notifier {
public:
  explicit systemd_notifier(std::shared_ptr<const readiness> ready);
  ~systemd_notifier();
  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;

  /// STOPPING=1: the node drains and exits (SIGTERM).
  void stopping();

private:
  void run();

  std::shared_ptr<const readiness> ready_;
  /// WatchdogSec in microseconds; 0 when the watchdog is off.
  std::uint64_t watchdog_us_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace meetingd
