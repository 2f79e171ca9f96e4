#include "actors/recovery_tracker.hpp"

#include "config/log.hpp"

namespace meetingd {

recovery_tracker::recovery_tracker(std::size_t meetings,
                                   std::chrono::steady_clock::time_point started,
                                   std::shared_ptr<readiness> ready)
  : meetings_(meetings), started_(started), ready_(std::move(ready)) {
}

void recovery_tracker::expect(std::size_t actors) {
  woken_.fetch_add(actors, std::memory_order_relaxed);
  left_.fetch_add(actors, std::memory_order_acq_rel);
}

void recovery_tracker::one_done() {
  if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
              .count();
  auto woken = woken_.load(std::memory_order_relaxed);
  MD_LOG_INFO("node.recovered", log::kv("meetings", meetings_),
              log::kv("active", woken), log::kv("dormant", meetings_ - woken),
              log::kv("ms", static_cast<std::int64_t>(ms * 1000) / 1000.0));
  if (ready_)
    ready_->recovered.store(true, std::memory_order_relaxed);
}

} // namespace meetingd
