// The RTC OpenAPI client's functional core (docs/protocol.md §11): building a
// signed request for each action, reading an HTTP result into an `answer`,
// deciding whether a failure is worth a retry, how long to back off, and a
// circuit breaker that stops calling a service that keeps failing. Pure
// functions over injected time, nonce and randomness: no CAF, no curl, no
// clock reads, so gateway/rtc_gateway.* stays a thin shell and all of this
// is unit-tested directly.
#pragma once

#include "actors/core/backoff.hpp"
#include "gateway/rtc_signing.hpp"
#include "gateway/rtc_types.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace meetingd::rtc {

/// The RTC OpenAPI actions the node calls.
enum class action { create_channel, delete_channel, remove_terminals, describe_channel_users };

/// The action's API name: CreateChannel, DeleteChannel, RemoveTerminals,
/// DescribeChannelUsers.
const char* to_string(action a);

/// RemoveTerminals takes at most this many `TerminalIds.N` per call.
constexpr std::size_t max_terminals_per_call = 30;

/// Codes of failures the node makes up itself (not from the RTC service).
namespace codes {
constexpr std::string_view transport_error = "TransportError";
constexpr std::string_view invalid_response = "InvalidResponse";
constexpr std::string_view circuit_open = "CircuitOpen";
} // namespace codes

// --- requests ---------------------------------------------------------------

/// The action's own parameters: `AppId`, `ChannelId` and, for
/// RemoveTerminals, `TerminalIds.1..N` (the caller keeps N ≤ 30, see
/// split_terminals()).
rpc_params action_params(action a, std::string_view app_id, std::string_view channel,
                         const std::vector<std::string>& terminal_ids = {});

/// `<endpoint>/?<signed query>` for a GET of `own` plus the common parameters
/// (signature timestamp `unix_seconds`, wall-clock; `nonce` unique per
/// request).
std::string request_url(const settings& s, action a, const rpc_params& own,
                        std::int64_t unix_seconds, std::string_view nonce);

/// As above with a fresh `crypto::uuid4()` nonce.
std::string request_url(const settings& s, action a, const rpc_params& own,
                        std::int64_t unix_seconds);

/// Cuts `ids` into consecutive chunks of at most `per_call` (≥ 1) ids; an
/// empty list gives one empty chunk (the call still goes out).
std::vector<std::vector<std::string>>
split_terminals(const std::vector<std::string>& ids,
                std::size_t per_call = max_terminals_per_call);

// --- answers ----------------------------------------------------------------

/// Reads one HTTP result (status 0 = transport error described by
/// `transport_error`) into an answer for `a`. `attempts` is left at 0.
/// Success needs a 2xx status and a JSON object with the action's fields;
/// errors take `Code`, `Message`, `RequestId` from the RTC error body, or
/// `InvalidResponse` when the body is not one. The failure's kind is
/// `unavailable` exactly when is_retryable() says so.
answer parse_answer(action a, int http_status, std::string_view body,
                    std::string_view transport_error = {});

/// The retry rule of docs/protocol.md §11: never for `SignatureDoesNotMatch`,
/// `InvalidAccessKeyId*` or `Forbidden*`; otherwise for transport errors
/// (status 0), HTTP 5xx, HTTP 429 and `Throttling*` codes; never for any
/// other answer.
bool is_retryable(int http_status, std::string_view code);

/// is_retryable() of a failure; false for `CircuitOpen`.
bool retryable(const failure& f);

/// Joins the answers of the parts of a split RemoveTerminals: terminals in
/// order, attempts summed, request ids joined with ',', the first error.
answer merge_answers(std::vector<answer> parts);

/// Whether DeleteChannel's answer means the channel is gone: deleted now, or
/// already gone before (expired, or an earlier attempt whose answer was
/// lost), which the service answers with a code about the channel ending in
/// `NotFound` (`InvalidChannelId.NotFound`). Another thing not found (an
/// access key, the app) means the channel may well still be there.
bool channel_is_gone(const answer& delete_answer);

// --- backoff ----------------------------------------------------------------

/// Upper bound of the `retry`-th retry's delay (1-based):
/// min(backoff_cap, backoff_base * 2^(retry-1)), never negative.
std::chrono::milliseconds backoff_ceiling(const settings& s, int retry);

/// Full jitter: a delay drawn uniformly from [0, backoff_ceiling()] with the
/// given random source (any UniformRandomBitGenerator).
template <class URBG>
std::chrono::milliseconds backoff_delay(const settings& s, int retry, URBG& rng) {
  return full_jitter(backoff_ceiling(s, retry), rng);
}

// --- circuit breaker --------------------------------------------------------

/// Stops calling a service that is down. Closed: calls go out; after
/// `threshold` consecutive `unavailable` outcomes it opens. Open: calls fail
/// fast for `cooldown`. Then half-open: exactly one call (the probe) goes
/// out, the others keep failing fast; the probe's success closes the circuit,
/// its failure opens it for another cooldown. Any success closes it. A
/// threshold ≤ 0 disables the breaker. Time is the caller's steady clock.
class circuit_breaker {
public:
  using clock = std::chrono::steady_clock;
  enum class state { closed, open, half_open };

  circuit_breaker() = default;
  circuit_breaker(int threshold, std::chrono::milliseconds cooldown);

  /// Whether a call may start at `now`; moves open → half-open once the
  /// cooldown is over and then admits only the probe.
  bool allow(clock::time_point now);

  /// Records a finished call's final outcome (not a fast failure of this
  /// breaker): `unavailable` true for an unavailable failure, false for a
  /// success or a refusal (the service answered).
  void record(bool unavailable, clock::time_point now);

  state current() const {
    return state_;
  }
  /// True unless closed.
  bool is_open() const {
    return state_ != state::closed;
  }
  int consecutive_failures() const {
    return failures_;
  }
  /// When an open circuit lets its probe through.
  clock::time_point retry_at() const {
    return retry_at_;
  }

  /// The fast failure answered while the circuit does not allow a call:
  /// kind unavailable, code `CircuitOpen`, a message saying the service is
  /// considered down and when it is tried again.
  failure open_failure(clock::time_point now) const;

private:
  int threshold_ = 5;
  std::chrono::milliseconds cooldown_{5000};
  state state_ = state::closed;
  int failures_ = 0;
  bool probe_in_flight_ = false;
  clock::time_point retry_at_{};
};

const char* to_string(circuit_breaker::state s);

} // namespace meetingd::rtc
