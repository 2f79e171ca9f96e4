// Exponential backoff, the one rule for waiting before a retry: the RTC
// client's retries (with full jitter, gateway/rtc_protocol.*), a meeting's
// DeleteChannel retries and the LMQ gateway's first connection attempts.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace meetingd {

/// The wait before the `attempt`-th retry (1-based): min(cap, base *
/// 2^(attempt-1)), never negative, never past the cap (no overflow however
/// many attempts).
inline std::chrono::milliseconds backoff_ceiling(std::chrono::milliseconds base,
                                                 std::chrono::milliseconds cap, int attempt) {
  auto limit = std::max<std::int64_t>(cap.count(), 0);
  auto delay = std::max<std::int64_t>(base.count(), 0);
  for (int i = 1; i < attempt && delay < limit; ++i)
    delay = delay > limit / 2 ? limit : delay * 2;
  return std::chrono::milliseconds{std::min(delay, limit)};
}

/// Full jitter: a wait drawn uniformly from [0, ceiling], so that many
/// clients that failed together do not retry together.
template <class URBG>
std::chrono::milliseconds full_jitter(std::chrono::milliseconds ceiling, URBG& rng) {
  std::uniform_int_distribution<std::int64_t> pick{0, std::max<std::int64_t>(ceiling.count(), 0)};
  return std::chrono::milliseconds{pick(rng)};
}

} // namespace meetingd
