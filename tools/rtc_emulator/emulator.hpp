// rtc-emulator's logic: a stand-in for Aliyun's RTC OpenAPI (docs/protocol.md §11)
// with the same request signing, error codes and answer shapes, 48-hour channel
// expiry, token checks for both join schemes (§6), and switches to inject
// errors, latency and dropped connections.
//
// Everything here is plain C++ without I/O: every call takes the current time
// (unix milliseconds) as a parameter so tests drive the clock, and returns what
// the HTTP layer (server.hpp) should answer, including how long to wait first
// and whether to drop the connection instead. The state is guarded by one
// mutex; nothing here ever sleeps.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/rtc_signing.hpp"

namespace meetingd::emulator {

using json = nlohmann::json;

inline constexpr std::string_view host_id = "rtc.aliyuncs.com";
inline constexpr std::string_view api_version = "2018-01-11";
/// Allowed clock skew of a request's Timestamp, and how long a SignatureNonce
/// is remembered.
inline constexpr std::int64_t skew_ms = 15 * 60 * 1000;
inline constexpr std::size_t max_terminals = 30;

/// Parses a CAF-style timespan: a non-negative integer followed by one of
/// ns, us, ms, s, min, h, d (`500ms`, `45s`, `10min`, `48h`); a bare `0` is
/// accepted too. Sub-millisecond values round down. nullopt on anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

struct options {
  std::string access_key_id;
  std::string access_key_secret;
  /// RTC_APP_KEY: enables the `appkey` join scheme when set.
  std::optional<std::string> app_key;
  std::chrono::milliseconds channel_ttl = std::chrono::hours{48};
  /// Added to every OpenAPI answer (not to the control endpoints).
  std::chrono::milliseconds latency{0};
};

/// What the HTTP layer answers: wait `delay`, then either drop the connection
/// without a byte or send `status` with `body` as JSON.
struct reply {
  int status = 200;
  json body = json::object();
  std::chrono::milliseconds delay{0};
  bool drop = false;
  // For the log line (never secrets).
  std::string action;
  std::string channel;
  std::string code;       // error code, empty on success
  std::string request_id; // empty for control endpoints
  bool injected = false;  // answered by a fault
};

/// An injected fault. Matching OpenAPI requests (by Action, or every action
/// with "*") get, in this order: latency_ms more delay; then, if drop, no
/// answer at all; else if status is set, that status with the Aliyun error
/// shape. count > 0 limits the fault to the next `count` matching requests;
/// -1 keeps it until cleared.
struct fault {
  std::int64_t id = 0;
  std::string action = "*";
  std::optional<int> status;
  std::string code;
  std::string message;
  std::int64_t count = -1;
  std::int64_t latency_ms = 0;
  bool drop = false;
  std::int64_t hits = 0; // how many requests it has affected so far

  json to_json() const;
};

class emulator {
 public:
  explicit emulator(options opts);

  const options& opts() const { return opts_; }

  // --- the RTC OpenAPI ---------------------------------------------------------

  /// One OpenAPI request. `method` is the HTTP method actually used ("GET" or
  /// "POST"); `params` the decoded query (GET) or query plus form body (POST).
  reply openapi(std::string_view method, const rtc::rpc_params& params,
                std::int64_t now_ms);

  // --- control endpoints (/_emulator/...) --------------------------------------

  /// POST /_emulator/join: checks a join token (channel scheme against the
  /// channel's key, nonce and timestamp; otherwise appkey scheme if an app key
  /// is configured) and adds the user. 200 {"joined":true,"scheme":...},
  /// 400 for a malformed body, 403 {"Code":"InvalidToken","Message"}.
  reply join(const json& body, std::int64_t now_ms);
  /// POST /_emulator/leave {"channel","userid"[,"appid"]}: 200 {"left":bool};
  /// 404 if no such channel.
  reply leave(const json& body, std::int64_t now_ms);
  /// GET /_emulator/channels.
  reply list_channels(std::int64_t now_ms);
  /// GET /_emulator/channels/<id>[?appid=...]: the channel or 404.
  reply get_channel(std::string_view channel_id, std::string_view app_id,
                    std::int64_t now_ms);
  /// POST /_emulator/faults: 200 {"fault":{...}} or 400.
  reply add_fault(const json& body);
  /// GET /_emulator/faults: {"faults":[...]}.
  reply list_faults();
  /// DELETE /_emulator/faults: clears all; {"cleared":n}.
  reply clear_faults();
  /// DELETE /_emulator/faults/<id>: clears one; 404 if unknown.
  reply clear_fault(std::int64_t id);
  /// GET /_emulator/stats.
  reply stats();
  /// POST /_emulator/reset: channels, faults, nonces, stats.
  reply reset();

  /// Number of live (unexpired) channels; for tests.
  std::size_t channel_count(std::int64_t now_ms);

 private:
  struct channel {
    std::string app_id;
    std::string channel_id;
    std::string key;   // empty for a channel created implicitly by an appkey join
    std::string nonce; // "AK-" + 8 hex
    std::int64_t created_ms = 0;
    std::int64_t expires_ms = 0;
    std::vector<std::string> users; // in join order, unique
    std::int64_t timestamp() const { return expires_ms / 1000; }
    json to_json() const;
  };
  struct counters {
    std::int64_t requests = 0, ok = 0, failed = 0, injected = 0;
  };
  using channel_key = std::pair<std::string, std::string>; // (app, channel)

  reply openapi_locked(std::string_view method, const rtc::rpc_params& params,
                       std::int64_t now_ms, const std::string& request_id);
  reply create_channel(const std::string& app, const std::string& ch, std::int64_t now_ms,
                       const std::string& request_id);
  reply delete_channel(const std::string& app, const std::string& ch, std::int64_t now_ms,
                       const std::string& request_id);
  reply remove_terminals(const std::string& app, const std::string& ch,
                         const rtc::rpc_params& params, std::int64_t now_ms,
                         const std::string& request_id);
  reply describe_channel_users(const std::string& app, const std::string& ch,
                               std::int64_t now_ms, const std::string& request_id);

  /// The live channel, or nullptr (an expired one is purged on the way).
  channel* find_channel(const std::string& app, const std::string& ch, std::int64_t now_ms);
  void purge_expired(std::int64_t now_ms);
  void purge_nonces(std::int64_t now_ms);

  options opts_;
  std::mutex mu_;
  std::map<channel_key, channel> channels_;
  std::unordered_map<std::string, std::int64_t> nonces_; // key id + '\n' + nonce -> seen
  std::deque<std::pair<std::int64_t, std::string>> nonce_order_;
  std::list<fault> faults_;
  std::int64_t next_fault_id_ = 1;
  std::map<std::string, counters> stats_;
};

/// The Aliyun error body {"RequestId","HostId","Code","Message"}.
json error_body(std::string_view request_id, std::string_view code, std::string_view message);

/// A fresh RequestId (upper-case UUID, as Aliyun writes them).
std::string new_request_id();

} // namespace meetingd::emulator
