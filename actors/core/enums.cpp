// The name tables of actors/core/enums.hpp, each in the order of its enum.
#include "actors/core/enums.hpp"

namespace meetingd {

namespace {

constexpr const char* role_names[] = {"host", "cohost", "member"};
constexpr const char* policy_names[] = {"anyone", "hosts"};
constexpr const char* participant_status_names[] = {"joined", "left", "kicked"};
constexpr const char* invitation_status_names[] = {"ringing", "accepted", "declined",
                                                   "canceled", "timed_out"};
constexpr const char* meeting_status_names[] = {"active", "ended"};
constexpr const char* sdk_event_names[] = {
  "joined",      "left",          "network_lost", "network_recovered",
  "audio_muted", "audio_unmuted", "video_muted",  "video_unmuted"};
constexpr const char* token_scheme_names[] = {"channel", "appkey"};
constexpr const char* webhook_status_names[] = {"pending", "delivered", "given_up"};
constexpr const char* webhook_type_names[] = {"meeting.created", "participant.joined",
                                             "participant.left", "invitation.answered",
                                             "meeting.ended"};

} // namespace

const char* to_string(role x) {
  return name_of(role_names, x);
}
const char* to_string(invite_policy x) {
  return name_of(policy_names, x);
}
const char* to_string(participant_status x) {
  return name_of(participant_status_names, x);
}
const char* to_string(invitation_status x) {
  return name_of(invitation_status_names, x);
}
const char* to_string(meeting_status x) {
  return name_of(meeting_status_names, x);
}
const char* to_string(sdk_event x) {
  return name_of(sdk_event_names, x);
}
const char* to_string(token_scheme x) {
  return name_of(token_scheme_names, x);
}
const char* to_string(webhook_status x) {
  return name_of(webhook_status_names, x);
}
const char* to_string(webhook_type x) {
  return name_of(webhook_type_names, x);
}

std::optional<role> parse_role(std::string_view x) {
  return parse_by_name<role>(role_names, x);
}
std::optional<invite_policy> parse_invite_policy(std::string_view x) {
  return parse_by_name<invite_policy>(policy_names, x);
}
std::optional<participant_status> parse_participant_status(std::string_view x) {
  return parse_by_name<participant_status>(participant_status_names, x);
}
std::optional<invitation_status> parse_invitation_status(std::string_view x) {
  return parse_by_name<invitation_status>(invitation_status_names, x);
}
std::optional<meeting_status> parse_meeting_status(std::string_view x) {
  return parse_by_name<meeting_status>(meeting_status_names, x);
}
std::optional<sdk_event> parse_sdk_event(std::string_view x) {
  return parse_by_name<sdk_event>(sdk_event_names, x);
}
std::optional<token_scheme> parse_token_scheme(std::string_view x) {
  return parse_by_name<token_scheme>(token_scheme_names, x);
}
std::optional<webhook_status> parse_webhook_status(std::string_view x) {
  return parse_by_name<webhook_status>(webhook_status_names, x);
}
std::optional<webhook_type> parse_webhook_type(std::string_view x) {
  return parse_by_name<webhook_type>(webhook_type_names, x);
}

} // namespace meetingd
