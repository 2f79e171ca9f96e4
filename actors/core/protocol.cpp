// Wire names of the enums of gateway/protocol.hpp (PROTOCOL.md §7, §8).
#include "actors/core/protocol.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace meetingd {

namespace {

// Looks `x` up in a table of wire names indexed by the enum's value.
template <class Enum, std::size_t N>
std::optional<Enum> parse_by_table(const std::array<const char*, N>& names,
                                   std::string_view x) {
  for (std::size_t i = 0; i < N; ++i)
    if (x == names[i])
      return static_cast<Enum>(i);
  return std::nullopt;
}

template <class Enum, std::size_t N>
const char* name_by_table(const std::array<const char*, N>& names, Enum x) {
  auto i = static_cast<std::size_t>(x);
  return i < N ? names[i] : "unknown";
}

constexpr std::array<const char*, 3> role_names{"host", "cohost", "member"};
constexpr std::array<const char*, 2> policy_names{"anyone", "hosts"};
constexpr std::array<const char*, 3> participant_status_names{"joined", "left",
                                                              "kicked"};
constexpr std::array<const char*, 5> invitation_status_names{
  "ringing", "accepted", "declined", "canceled", "timed_out"};
constexpr std::array<const char*, 2> meeting_status_names{"active", "ended"};
constexpr std::array<const char*, 8> sdk_event_names{
  "joined",      "left",          "network_lost", "network_recovered",
  "audio_muted", "audio_unmuted", "video_muted",  "video_unmuted"};

// In the order of proto::command_kind.
constexpr std::array<const char*, 32> command_names{
  "auth.login",          "auth.logout",         "meeting.create",
  "meeting.join",        "meeting.leave",       "meeting.end",
  "meeting.get",         "meeting.renew",       "call.invite",
  "call.ringing",        "call.accept",         "call.decline",
  "call.cancel",         "moderate.kick",       "moderate.mute",
  "moderate.unmute",     "moderate.mute_all",   "moderate.unmute_all",
  "moderate.lock",       "moderate.unlock",     "moderate.set_role",
  "rtc.event",           "admin.ping",          "admin.stats",
  "admin.meetings.list", "admin.meeting.get",   "admin.meeting.end",
  "admin.kick",          "admin.mute_all",      "admin.user.add",
  "admin.user.remove",   "admin.users.list",
};
static_assert(static_cast<std::size_t>(proto::command_kind::admin_users_list) + 1
              == command_names.size());

// In the order of proto::event_kind.
constexpr std::array<const char*, 15> event_names{
  "event.invite",        "event.ringing",      "event.accepted",
  "event.declined",      "event.invite_timeout", "event.canceled",
  "event.answered_elsewhere", "event.joined",  "event.left",
  "event.ended",         "event.kicked",       "event.mute_request",
  "event.role_changed",  "event.participant",  "event.token_expiring",
};
static_assert(static_cast<std::size_t>(proto::event_kind::token_expiring) + 1
              == event_names.size());

} // namespace

const char* to_string(role x) {
  return name_by_table(role_names, x);
}
const char* to_string(invite_policy x) {
  return name_by_table(policy_names, x);
}
const char* to_string(participant_status x) {
  return name_by_table(participant_status_names, x);
}
const char* to_string(invitation_status x) {
  return name_by_table(invitation_status_names, x);
}
const char* to_string(meeting_status x) {
  return name_by_table(meeting_status_names, x);
}
const char* to_string(sdk_event x) {
  return name_by_table(sdk_event_names, x);
}

std::optional<role> parse_role(std::string_view x) {
  return parse_by_table<role>(role_names, x);
}
std::optional<invite_policy> parse_invite_policy(std::string_view x) {
  return parse_by_table<invite_policy>(policy_names, x);
}
std::optional<participant_status> parse_participant_status(std::string_view x) {
  return parse_by_table<participant_status>(participant_status_names, x);
}
std::optional<invitation_status> parse_invitation_status(std::string_view x) {
  return parse_by_table<invitation_status>(invitation_status_names, x);
}
std::optional<meeting_status> parse_meeting_status(std::string_view x) {
  return parse_by_table<meeting_status>(meeting_status_names, x);
}
std::optional<sdk_event> parse_sdk_event(std::string_view x) {
  return parse_by_table<sdk_event>(sdk_event_names, x);
}

namespace proto {

const char* to_string(command_kind x) {
  return name_by_table(command_names, x);
}

std::optional<command_kind> parse_command_kind(std::string_view x) {
  return parse_by_table<command_kind>(command_names, x);
}

bool is_admin_command(command_kind x) {
  switch (x) {
    case command_kind::admin_ping:
    case command_kind::admin_stats:
    case command_kind::admin_meetings_list:
    case command_kind::admin_meeting_get:
    case command_kind::admin_meeting_end:
    case command_kind::admin_kick:
    case command_kind::admin_mute_all:
    case command_kind::admin_user_add:
    case command_kind::admin_user_remove:
    case command_kind::admin_users_list:
      return true;
    default:
      return false;
  }
}

const char* to_string(event_kind x) {
  return name_by_table(event_names, x);
}

std::optional<event_kind> parse_event_kind(std::string_view x) {
  return parse_by_table<event_kind>(event_names, x);
}

reply fail(std::optional<std::string> id, int code, std::string reason,
           std::string message) {
  reply r;
  r.id = std::move(id);
  r.code = code;
  r.reason = std::move(reason);
  r.message = std::move(message);
  return r;
}

reply fail_retry_after(std::optional<std::string> id, int code, std::string reason,
                       std::string message, std::int64_t retry_after_ms) {
  auto r = fail(std::move(id), code, std::move(reason), std::move(message));
  r.retry_after_ms = retry_after_ms;
  return r;
}

} // namespace proto
} // namespace meetingd
