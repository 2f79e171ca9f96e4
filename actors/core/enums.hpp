// The domain's enumerations and their one name table each: the same names on
// the wire (docs/protocol.md), in the database's TEXT columns
// (docs/database.md) and in the logs. Every to_string/parse pair below reads
// the same table, so a value cannot be spelled two ways.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace meetingd {

enum class role : std::uint8_t { host, cohost, member };
enum class invite_policy : std::uint8_t { anyone, hosts };
enum class participant_status : std::uint8_t { joined, left, kicked };
enum class invitation_status : std::uint8_t {
  ringing,
  accepted,
  declined,
  canceled,
  timed_out,
};
enum class meeting_status : std::uint8_t { active, ended };

/// The RTC SDK's own events that a device relays with `rtc.event`.
enum class sdk_event : std::uint8_t {
  joined,
  left,
  network_lost,
  network_recovered,
  audio_muted,
  audio_unmuted,
  video_muted,
  video_unmuted,
};

/// How join tokens are computed (docs/protocol.md, "Join credentials").
enum class token_scheme : std::uint8_t { channel, appkey };

/// Where a webhook event is in its delivery to one endpoint (docs/protocol.md §15).
enum class webhook_status : std::uint8_t { pending, delivered, given_up };
/// What a webhook event reports ("meeting.created", ...).
enum class webhook_type : std::uint8_t {
  meeting_created,
  participant_joined,
  participant_left,
  invitation_answered,
  meeting_ended,
};

const char* to_string(role x);
const char* to_string(invite_policy x);
const char* to_string(participant_status x);
const char* to_string(invitation_status x);
const char* to_string(meeting_status x);
const char* to_string(sdk_event x);
const char* to_string(token_scheme x);
const char* to_string(webhook_status x);
const char* to_string(webhook_type x);
std::optional<role> parse_role(std::string_view x);
std::optional<invite_policy> parse_invite_policy(std::string_view x);
std::optional<participant_status> parse_participant_status(std::string_view x);
std::optional<invitation_status> parse_invitation_status(std::string_view x);
std::optional<meeting_status> parse_meeting_status(std::string_view x);
std::optional<sdk_event> parse_sdk_event(std::string_view x);
std::optional<token_scheme> parse_token_scheme(std::string_view x);
std::optional<webhook_status> parse_webhook_status(std::string_view x);
std::optional<webhook_type> parse_webhook_type(std::string_view x);

/// Looks `x` up in a table of names indexed by the enum's value.
template <class Enum, std::size_t N>
std::optional<Enum> parse_by_name(const char* const (&names)[N], std::string_view x) {
  for (std::size_t i = 0; i < N; ++i)
    if (x == names[i])
      return static_cast<Enum>(i);
  return std::nullopt;
}

/// The name of `x` in a table indexed by the enum's value.
template <class Enum, std::size_t N>
const char* name_of(const char* const (&names)[N], Enum x) {
  auto i = static_cast<std::size_t>(x);
  return i < N ? names[i] : "unknown";
}

} // namespace meetingd
