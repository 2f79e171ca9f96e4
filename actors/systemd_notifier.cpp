#include "actors/systemd_notifier.hpp"

#include "config/log.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace meetingd {

namespace {

/// How often readiness is looked at; the watchdog is fed at half its period.
constexpr auto poll_interval = std::chrono::milliseconds(200);

void notify(const std::string& state) {
  if (sd_notify(0, state.c_str()) < 0)
    MD_LOG_WARN("systemd.notify_failed", log::kv("state", state.substr(0, state.find('\n'))));
}

} // namespace

systemd_notifier::systemd_notifier(std::shared_ptr<const readiness> ready)
  : ready_(std::move(ready)) {
  if (!std::getenv("NOTIFY_SOCKET"))
    return;
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0)
    watchdog_us_ = usec;
  thread_ = std::thread{[this] { run(); }};
}

systemd_notifier::~systemd_notifier() {
  {
    std::lock_guard lock{mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void systemd_notifier::stopping() {
  if (thread_.joinable())
    notify("STOPPING=1\nSTATUS=stopping: handing over, draining, checkpointing");
}

void systemd_notifier::run() {
  using namespace std::chrono;
  bool sent_ready = false;
  std::string last_status;
  auto watchdog_every = microseconds(watchdog_us_ / 2);
  auto fed_at = steady_clock::now() - watchdog_every;
  std::unique_lock lock{mutex_};
  while (!wake_.wait_for(lock, poll_interval, [this] { return stop_; })) {
    auto why = ready_->why_not();
    auto status = why.empty() ? std::string{"serving"} : "not ready: " + why;
    if (why.empty() && !sent_ready) {
      notify("READY=1\nSTATUS=" + status);
      MD_LOG_INFO("systemd.ready", log::kv("watchdog_ms", watchdog_us_ / 1000));
      sent_ready = true;
      last_status = status;
    } else if (status != last_status) {
      notify("STATUS=" + status);
      last_status = status;
    }
    if (watchdog_us_ == 0 || steady_clock::now() - fed_at < watchdog_every)
      continue;
    // Before READY=1 systemd's start timeout rules, not the watchdog; after,
    // only actors that run keep it fed.
    auto heartbeat_age = milliseconds(readiness::steady_ms()
                                      - ready_->directory_heartbeat_ms.load());
    if (sent_ready && heartbeat_age > watchdog_every) {
      MD_LOG_ERROR("systemd.watchdog_starved",
                   log::kv("heartbeat_age_ms", static_cast<std::int64_t>(heartbeat_age.count())),
                   log::kv("effect", "the directory actor has not run for that long; systemd "
                                     "restarts the node when WatchdogSec passes"));
      fed_at = steady_clock::now();
      continue;
    }
    notify("WATCHDOG=1");
    fed_at = steady_clock::now();
  }
}

} // namespace meetingd
