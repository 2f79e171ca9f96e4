// Webhook delivery's functional core (docs/protocol.md §15): the request an
// outbox row becomes (signed body, headers), what an HTTP result means, how
// long to wait before the next attempt, when to give up, and which URLs are
// acceptable. Plain functions over injected time and randomness; the actor
// (gateway/webhook_actor.*) is the shell that performs them.
#pragma once

#include "actors/core/backoff.hpp"
#include "actors/core/changes.hpp"
#include "actors/core/webhook_event.hpp"
#include "gateway/http_pool.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace meetingd::webhooks {

struct settings {
  /// Every URL gets every event (--webhook-url); empty: webhooks are off.
  std::vector<std::string> urls;
  /// WEBHOOK_SECRET: the HMAC-SHA256 key of the signatures. Never logged.
  std::string secret;
  /// An event not delivered this long after it happened is given up.
  std::chrono::milliseconds max_age = std::chrono::hours(24);
  /// One attempt: no 2xx within this long counts as a failure.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  /// Waits between attempts: exponential from `first_retry`, at most `max_retry`.
  std::chrono::milliseconds first_retry = std::chrono::seconds(1);
  std::chrono::milliseconds max_retry = std::chrono::minutes(5);
  /// Attempts in flight at once, across meetings (one per meeting and URL).
  std::size_t max_in_flight = 32;
  /// Events held in memory for delivery; the rest wait in the outbox and
  /// are picked up as these drain.
  std::size_t max_held = 20000; // ~1.1 KiB each
  /// How often the outbox is read again for events this node does not hold
  /// (more than max_held, or of shards it adopted).
  std::chrono::milliseconds rescan_interval = std::chrono::seconds(10);

  bool enabled() const {
    return !urls.empty();
  }
};

/// The largest body the node writes: the meeting.ended of a meeting with
/// the most participants (1000) with the longest ids (64) fits.
constexpr std::size_t max_body_bytes = 128 * 1024;
/// The most of a receiver's answer the node reads (it only looks at the status).
constexpr std::size_t max_answer_bytes = 64 * 1024;
/// The shortest WEBHOOK_SECRET accepted.
constexpr std::size_t min_secret_bytes = 16;

/// `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`, the value of the
/// X-Meetingd-Signature header.
std::string signature(std::string_view secret, std::string_view body);

/// The POST of one outbox row: its stored body, signed, with its event id
/// and type in the headers.
http_request request_for(const webhook_record& row, const settings& s);

/// Whether the receiver took the event: any 2xx.
bool delivered(const http_result& r);

/// What went wrong with an attempt, for the row's last_error and the log:
/// "HTTP 503", or curl's words for a transport error ("timeout: ...").
std::string failure_of(const http_result& r);

/// The wait before attempt `attempt` + 1 (after `attempt` >= 1 failures):
/// half the exponential ceiling plus a random share of the other half, so
/// that events that failed together spread out but never hammer.
template <class URBG>
std::chrono::milliseconds retry_wait(const settings& s, int attempt, URBG& rng) {
  auto ceiling = backoff_ceiling(s.first_retry, s.max_retry, attempt);
  auto half = ceiling / 2;
  return half + full_jitter(ceiling - half, rng);
}

/// Whether an event that happened `at` is past its delivery window at `now`.
bool expired(const webhook_record& row, unix_ms now, const settings& s);

/// Why `url` cannot be a webhook URL (one line), or nullopt if it can:
/// http:// or https://, a host, no spaces or control characters.
std::optional<std::string> url_problem(std::string_view url);

/// The outbox rows of `events` (encoded once each), one per URL.
std::vector<webhook_record> outbox_rows(const std::vector<webhook_event>& events,
                                        const std::vector<std::string>& urls);

} // namespace meetingd::webhooks
