// The RTC gateway's own types: the settings of the RTC OpenAPI client and
// its counters. Plain C++ with no CAF and no curl, so the functional core
// (gateway/rtc_protocol.*) and its tests use them directly; the actor shell
// (gateway/rtc_gateway.*) allows them as CAF messages. What a call answered
// is in actors/core/rtc_outcome.hpp.
#pragma once

#include "actors/core/rtc_outcome.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meetingd::rtc {

/// The RTC OpenAPI client's settings (`--rtc-*` options).
struct settings {
  /// Base URL without a trailing path; production: `https://rtc.aliyuncs.com`,
  /// by default the RTC emulator of a development machine.
  std::string endpoint = "http://127.0.0.1:8090";
  std::string access_key_id;
  std::string access_key_secret;
  std::string app_id;
  std::string region_id = "cn-hangzhou";
  /// Retries after the first attempt (so at most retries + 1 attempts).
  int retries = 3;
  /// Per HTTP request, connecting included.
  std::chrono::milliseconds timeout{5000};
  /// Full-jitter exponential backoff: the n-th retry waits a uniformly drawn
  /// time in [0, min(backoff_cap, backoff_base * 2^(n-1))].
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_cap{2000};
  /// Consecutive `unavailable` outcomes that open the circuit.
  int circuit_threshold = 5;
  /// How long an open circuit fails fast before letting one call through.
  std::chrono::milliseconds circuit_cooldown{5000};
};

/// The gateway's counters, answered to `stats_atom`.
struct stats {
  /// RTC API calls finished (a RemoveTerminals split in N parts counts N).
  std::uint64_t calls = 0;
  /// Calls finished with an error, fast failures of an open circuit included.
  std::uint64_t failures = 0;
  /// HTTP requests repeated after a retryable failure.
  std::uint64_t retries = 0;
  /// Calls started and not yet finished (waiting on HTTP or on a retry timer).
  std::uint64_t in_flight = 0;
  bool circuit_open = false;
};

} // namespace meetingd::rtc
