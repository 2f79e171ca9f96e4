// The refusal catalogue (see refusals.hpp).
#include "actors/core/refusals.hpp"

#include <array>
#include <iterator>

namespace meetingd {

namespace {

struct catalogued {
  refusal r;
  refusal_entry entry;
};

// In the order of the enum (checked below).
constexpr catalogued catalogue[] = {
  {refusal::bad_json, {400, "bad_json", "the message is not a JSON object; send one JSON object"}},
  {refusal::missing_field, {400, "missing_field", "a required field is missing"}},
  {refusal::bad_type, {400, "bad_type", "a field has the wrong JSON type"}},
  {refusal::bad_value, {400, "bad_value", "a field has a value the node does not accept"}},
  {refusal::unknown_type, {400, "unknown_type", "the node knows no command of this type"}},
  {refusal::wrong_topic,
   {400, "wrong_topic",
    "device commands go to the device topic <parent>/up/<client id>"}},
  {refusal::not_logged_in, {401, "not_logged_in", "log in first with auth.login"}},
  {refusal::bad_credentials, {401, "bad_credentials", "unknown user or wrong password"}},
  {refusal::ticket_expired,
   {401, "ticket_expired", "the login ticket has expired; get a new one from your account service"}},
  {refusal::user_removed,
   {401, "user_removed",
    "this user was removed; a ticket issued before the removal cannot bring it back "
    "(get a new ticket, or ask an admin to add the user)"}},
  {refusal::not_admin,
   {403, "not_admin", "admin commands are taken only on the admin topic from ids in --admins"}},
  {refusal::not_host, {403, "not_host", "only the host or a cohost may do this; ask one of them"}},
  {refusal::not_participant,
   {403, "not_participant", "you are not in this meeting; join it first with meeting.join"}},
  {refusal::kicked,
   {403, "kicked", "you were removed from this meeting and cannot rejoin"}},
  {refusal::cannot_kick_host,
   {403, "cannot_kick_host", "a cohost cannot kick the host; ask the host or an admin"}},
  {refusal::meeting_not_found, {404, "meeting_not_found", "there is no such meeting"}},
  {refusal::user_not_found, {404, "user_not_found", "there is no such user"}},
  {refusal::participant_not_found,
   {404, "participant_not_found", "that user is not in this meeting"}},
  {refusal::no_invitation, {404, "no_invitation", "you have no invitation to this meeting"}},
  {refusal::meeting_exists,
   {409, "meeting_exists", "a meeting with this id exists; choose another id"}},
  {refusal::meeting_locked,
   {409, "meeting_locked",
    "the meeting is locked; only invitees and earlier participants may join"}},
  {refusal::meeting_full, {409, "meeting_full", "the meeting has reached its participant limit"}},
  {refusal::already_answered,
   {409, "already_answered", "the invitation was already answered"}},
  {refusal::invitation_canceled,
   {409, "invitation_canceled", "the invitation was canceled"}},
  {refusal::already_kicked, {409, "already_kicked", "that user was already kicked"}},
  {refusal::cannot_kick_self,
   {409, "cannot_kick_self", "you cannot kick yourself; leave with meeting.leave"}},
  {refusal::host_required,
   {409, "host_required",
    "the meeting needs a host; hand the role to someone first (moderate.set_role)"}},
  {refusal::user_exists, {409, "user_exists", "the user exists already; remove it first to replace it"}},
  {refusal::meeting_ended, {410, "meeting_ended", "the meeting has ended"}},
  {refusal::meeting_expired,
   {410, "meeting_expired", "the meeting's channel has expired; create a new meeting"}},
  {refusal::invitation_expired,
   {410, "invitation_expired", "the invitation timed out; ask to be invited again"}},
  {refusal::too_large, {413, "too_large", "the message is over 16 KiB"}},
  {refusal::rate_limited, {429, "rate_limited", "too many commands; slow down and retry"}},
  {refusal::limit_meetings,
   {429, "limit:meetings", "too many active meetings (--max-meetings-per-user); end one first"}},
  {refusal::limit_creates,
   {429, "limit:creates", "too many meetings created in the last minute (--max-creates-per-minute)"}},
  {refusal::limit_invitees,
   {429, "limit:invitees", "too many users rung at once (--max-invitees)"}},
  {refusal::limit_devices,
   {429, "limit:devices", "too many devices logged in as this user (--max-devices-per-user)"}},
  {refusal::internal,
   {500, "internal", "the node failed to handle this command; it is logged with the request id"}},
  {refusal::rtc_error, {502, "rtc_error", "the RTC service refused the call"}},
  {refusal::rtc_unavailable,
   {503, "rtc_unavailable", "the RTC service cannot be reached just now; try again later"}},
  {refusal::shutting_down,
   {503, "shutting_down", "the node is shutting down; try again in a moment"}},
  {refusal::overloaded,
   {503, "overloaded", "too many logins are being checked right now; try again in a moment"}},
  {refusal::store_unavailable,
   {503, "store_unavailable",
    "the node cannot reach its database just now; nothing was changed: send the same request "
    "again after retry_after_ms"}},
  {refusal::shard_moving,
   {503, "shard_moving",
    "this meeting is moving to another node just now; nothing was changed: send the same "
    "request again after retry_after_ms"}},
};

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < std::size(catalogue); ++i)
    if (static_cast<std::size_t>(catalogue[i].r) != i)
      return false;
  return true;
}
static_assert(in_enum_order(), "the catalogue lists the refusals in the order of the enum");
static_assert(static_cast<std::size_t>(refusal::shard_moving) + 1 == std::size(catalogue),
              "every refusal is in the catalogue");

} // namespace

const refusal_entry& entry_of(refusal r) {
  return catalogue[static_cast<std::size_t>(r)].entry;
}

const refusal* all_refusals(std::size_t& count) {
  static const auto list = [] {
    std::array<refusal, std::size(catalogue)> out{};
    for (std::size_t i = 0; i < std::size(catalogue); ++i)
      out[i] = catalogue[i].r;
    return out;
  }();
  count = list.size();
  return list.data();
}

proto::reply refuse(refusal r) {
  auto& e = entry_of(r);
  return proto::fail(std::nullopt, e.code, e.reason, e.message);
}

proto::reply refuse(refusal r, std::string message) {
  auto& e = entry_of(r);
  return proto::fail(std::nullopt, e.code, e.reason, std::move(message));
}

proto::reply refuse_about(refusal r, const std::string& detail, std::string message) {
  auto& e = entry_of(r);
  return proto::fail(std::nullopt, e.code, std::string{e.reason} + ":" + detail,
                     std::move(message));
}

proto::reply refuse_retry_after(refusal r, std::string message, std::int64_t retry_after_ms) {
  auto reply = refuse(r, std::move(message));
  reply.retry_after_ms = retry_after_ms;
  return reply;
}

} // namespace meetingd
