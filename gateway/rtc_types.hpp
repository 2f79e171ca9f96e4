// The RTC gateway's domain types: the settings of the RTC OpenAPI client, the
// outcome of one call (`answer`, with a typed `failure` when it did not work)
// and the gateway's counters. Plain C++ with no CAF and no curl, so the
// functional core (gateway/rtc_protocol.*) and its tests use them directly;
// the actor shell (gateway/rtc_gateway.*) allows them as CAF messages.
//
// A failure is `refused` when the RTC service answered and said no (a reply
// maps it to 502 `rtc_error:<code>`), `unavailable` when it could not be
// reached, failed on its side, throttled us past our retries, or the circuit
// breaker is open (503 `rtc_unavailable`). PROTOCOL.md §3 and §6a.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meetingd::rtc {

enum class failure_kind { refused, unavailable };

struct failure {
  failure_kind kind;
  /// The HTTP status of the last attempt; 0 for a transport error or an open
  /// circuit.
  int http_status = 0;
  /// The RTC service's `Code`, or one of ours: `TransportError`,
  /// `InvalidResponse`, `CircuitOpen`.
  std::string code;
  std::string message;
  std::string request_id;
};

/// What `CreateChannel` answers: the channel's key and the nonce and timestamp
/// that join tokens of PROTOCOL.md §6 are computed with.
struct channel_grant {
  std::string channel_key;
  std::string nonce;
  std::int64_t timestamp = 0;
};

/// One terminal of a `RemoveTerminals` answer.
struct terminal_result {
  std::string id;
  std::string code;
  std::string message;
};

/// One RTC call's outcome after retries.
struct answer {
  std::string request_id;
  std::optional<failure> error;
  /// HTTP requests made for this call (0 when the circuit was open).
  int attempts = 0;
  channel_grant grant;                     // CreateChannel
  std::vector<terminal_result> terminals;  // RemoveTerminals
  bool channel_exists = false;             // DescribeChannelUsers
  std::vector<std::string> users;          // DescribeChannelUsers
  bool ok() const {
    return !error;
  }
};

/// The RTC OpenAPI client's settings (`--rtc-*` options).
struct settings {
  /// Base URL without a trailing path, e.g. `https://rtc.aliyuncs.com`.
  std::string endpoint;
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
