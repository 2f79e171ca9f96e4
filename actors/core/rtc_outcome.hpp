// What the RTC service told the node about one call: the outcome (`answer`,
// with a typed `failure` when it did not work), the grant of CreateChannel
// and the terminals of RemoveTerminals. The meeting core decides on these;
// the RTC gateway (gateway/rtc_protocol.*, gateway/rtc_gateway.*) makes them.
//
// A failure is `refused` when the RTC service answered and said no (a reply
// maps it to 502 `rtc_error:<code>`), `unavailable` when it could not be
// reached, failed on its side, throttled us past our retries, or the circuit
// breaker is open (503 `rtc_unavailable`). docs/protocol.md, "Codes".
#pragma once

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
/// that join tokens of docs/protocol.md §6 are computed with.
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

} // namespace meetingd::rtc
