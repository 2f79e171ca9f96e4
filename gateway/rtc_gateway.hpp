// The RTC gateway actor: the node's one client of the RTC OpenAPI
// (docs/protocol.md §11). Meetings ask it to create and delete channels, remove
// terminals and list a channel's users; it signs each call, sends it through
// an http_pool (curl multi on the pool's own thread), retries transport
// errors, 5xx and throttling with full-jitter backoff, fails fast while its
// circuit breaker is open, and answers an `rtc::answer` — failures included,
// as `answer::error`, never as a CAF error. The decisions are in
// gateway/rtc_protocol.*; this file is the shell that performs them.
//
// Nothing here blocks: a call is a submit to the pool; the pool's callback
// (curl thread) only `anon_send`s `http_done_atom` back; retries are delayed
// messages. Many calls are in flight at once.
#pragma once

#include "actors/atoms.hpp"
#include "gateway/http_pool.hpp"
#include "gateway/rtc_protocol.hpp"
#include "gateway/rtc_types.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/replies_to.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::rtc::answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::rtc::stats)

namespace meetingd {


/// The RTC gateway actor interface.
using rtc_actor = caf::typed_actor<
  // CreateChannel for a channel id; answers its key, nonce and timestamp.
  caf::replies_to<create_channel_atom, std::string>::with<rtc::answer>,
  // DeleteChannel for a channel id.
  caf::replies_to<delete_channel_atom, std::string>::with<rtc::answer>,
  // RemoveTerminals: channel id and RTC user ids (split in calls of <= 30);
  // answers each terminal's result.
  caf::replies_to<remove_terminals_atom, std::string, std::vector<std::string>>::with<rtc::answer>,
  // DescribeChannelUsers for a channel id; answers whether it exists and its users.
  caf::replies_to<describe_users_atom, std::string>::with<rtc::answer>,
  // The gateway's counters.
  caf::replies_to<stats_atom>::with<rtc::stats>,
  // Internal: a finished HTTP transfer of call `id` (from the pool's thread).
  caf::reacts_to<http_done_atom, std::uint64_t, http_result>,
  // Internal: the backoff of call `id` is over; send it again.
  caf::reacts_to<retry_atom, std::uint64_t>>;

struct rtc_gateway_state {
  /// One RTC API call in flight (a part of a split RemoveTerminals is one).
  struct call {
    rtc::action act = rtc::action::create_channel;
    std::string channel;
    rtc::rpc_params params; // the action's own parameters
    int attempts = 0;
    int last_status = 0;
    std::chrono::steady_clock::time_point started;
    std::uint64_t request = 0; // the request it answers
    std::size_t part = 0;      // its index among the request's parts
  };

  /// One request of a meeting, answered once all its calls finished.
  struct request {
    caf::typed_response_promise<rtc::answer> promise;
    std::vector<rtc::answer> parts;
    std::size_t open = 0;
  };

  rtc::settings cfg;
  rtc::circuit_breaker breaker;
  std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, call> calls;
  std::unordered_map<std::uint64_t, request> requests;
  rtc::stats counters;
  /// Declared last so it is destroyed first: its thread is gone before the
  /// rest of the state.
  std::unique_ptr<http_pool> pool;

  rtc_gateway_state() = default;
  /// Stops the pool, then answers every open request `ShuttingDown`
  /// (unavailable).
  ~rtc_gateway_state();
  rtc_gateway_state(const rtc_gateway_state&) = delete;
  rtc_gateway_state& operator=(const rtc_gateway_state&) = delete;

  static inline const char* name = "rtc_gateway";
};

/// Spawn with `sys.spawn(rtc_gateway, settings)`.
rtc_actor::behavior_type rtc_gateway(rtc_actor::stateful_pointer<rtc_gateway_state> self,
                                     rtc::settings cfg);

} // namespace meetingd
