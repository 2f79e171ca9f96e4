// Every way the node says no, in one catalogue: one value per reason, with
// its code, its reason as the wire spells it, and a message that says what
// happened and what to do. Callers name the refusal; where the case knows
// better (which limit, which user), they give the message for the case, but
// never a code or a reason of their own. docs/protocol.md lists them all
// (tests/unit/refusals_test.cpp checks that it does).
#pragma once

#include "actors/core/protocol.hpp"

#include <cstdint>
#include <string>

namespace meetingd {

enum class refusal : std::uint8_t {
  // 400: the request is malformed (most come from the codec)
  bad_json,
  missing_field, // missing_field:<field>
  bad_type,      // bad_type:<field>
  bad_value,     // bad_value:<field>
  unknown_type,
  wrong_topic,
  // 401: the device is nobody (yet)
  not_logged_in,
  bad_credentials,
  ticket_expired,
  user_removed,
  // 403: not allowed
  not_admin,
  not_host,
  not_participant,
  kicked,
  cannot_kick_host,
  // 404
  meeting_not_found,
  user_not_found,
  participant_not_found,
  no_invitation,
  // 409: conflicts with the state
  meeting_exists,
  meeting_locked,
  meeting_full,
  already_answered,
  invitation_canceled,
  already_kicked,
  cannot_kick_self,
  host_required,
  user_exists,
  // 410: gone
  meeting_ended,
  meeting_expired,
  invitation_expired,
  // 413
  too_large,
  // 429: slow down (with retry_after_ms where the node knows when)
  rate_limited,
  limit_meetings,
  limit_creates,
  limit_invitees,
  limit_devices,
  // 500: a bug, logged with the request id
  internal,
  // 502: the RTC service said no
  rtc_error, // rtc_error:<the service's code>
  // 503: try again later; nothing changed
  rtc_unavailable,
  shutting_down,
  overloaded,
  store_unavailable,
  shard_moving,
};

/// A refusal's code, reason and standard message.
struct refusal_entry {
  int code;
  const char* reason;
  const char* message;
};

const refusal_entry& entry_of(refusal r);

/// Every refusal, in catalogue order (for the docs check and listings).
const refusal* all_refusals(std::size_t& count);

/// The reply for `r` with the catalogue's message.
proto::reply refuse(refusal r);
/// The reply for `r` with the message for this case.
proto::reply refuse(refusal r, std::string message);
/// The reply for a reason that names what it is about, `<reason>:<detail>`
/// (`bad_value:args.max_participants`, `rtc_error:Forbidden.RAM`).
proto::reply refuse_about(refusal r, const std::string& detail, std::string message);
/// A 429 or 503 that says when a retry may succeed.
proto::reply refuse_retry_after(refusal r, std::string message, std::int64_t retry_after_ms);

} // namespace meetingd
