// Time as the node reasons about it: wall-clock unix milliseconds inside the
// node, unix seconds on the wire. Actors read a monotonic clock (CAF's actor
// clock: steady in production, virtual under the test coordinator) and map
// it to the wall with an offset taken once at start, so a test that moves the
// virtual clock by 48 hours moves every meeting's wall clock with it.
#pragma once

#include <chrono>
#include <cstdint>

namespace meetingd {

/// Wall-clock time in milliseconds since the unix epoch.
using unix_ms = std::int64_t;

/// Unix seconds of a unix_ms, as the wire carries times.
inline std::int64_t to_unix_s(unix_ms t) {
  return t / 1000;
}

/// The wall time of a monotonic clock reading, given the offset between the
/// two clocks (wall ms = monotonic ms + offset).
inline unix_ms wall_ms(std::chrono::nanoseconds monotonic, std::int64_t offset_ms) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(monotonic).count() + offset_ms;
}

/// The offset that maps a monotonic clock reading taken now onto the system
/// clock.
inline std::int64_t wall_offset_ms(std::chrono::nanoseconds monotonic_now) {
  using namespace std::chrono;
  auto wall = duration_cast<milliseconds>(system_clock::now().time_since_epoch());
  return wall.count() - duration_cast<milliseconds>(monotonic_now).count();
}

} // namespace meetingd
