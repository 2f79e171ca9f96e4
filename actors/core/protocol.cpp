// The command table (wire name, who may send it, who answers it) and the
// event names of actors/core/protocol.hpp, and the error reply makers.
#include "actors/core/protocol.hpp"

#include <iterator>
#include <string_view>

namespace meetingd {

namespace {

using proto::command_kind;
using proto::command_scope;

/// What the node knows of each command, in the order of command_kind.
struct command_info {
  const char* name;
  bool admin;
  command_scope scope;
  bool reads;
  /// Changes durable state; refused while the database is unavailable.
  bool writes = true;
};

constexpr command_scope session = command_scope::session;
constexpr command_scope directory = command_scope::directory;
constexpr command_scope create = command_scope::create;
constexpr command_scope meeting = command_scope::meeting;

constexpr command_info commands[] = {
  {"auth.login", false, session, false},
  {"auth.logout", false, session, false},
  {"meeting.create", false, create, false},
  {"meeting.join", false, meeting, false},
  {"meeting.leave", false, meeting, false},
  {"meeting.end", false, meeting, false},
  {"meeting.get", false, meeting, true, false},
  {"meeting.renew", false, meeting, false},
  {"call.invite", false, meeting, false},
  {"call.ringing", false, meeting, false},
  {"call.accept", false, meeting, false},
  {"call.decline", false, meeting, false},
  {"call.cancel", false, meeting, false},
  {"moderate.kick", false, meeting, false},
  {"moderate.mute", false, meeting, false},
  {"moderate.unmute", false, meeting, false},
  {"moderate.mute_all", false, meeting, false},
  {"moderate.unmute_all", false, meeting, false},
  {"moderate.lock", false, meeting, false},
  {"moderate.unlock", false, meeting, false},
  {"moderate.set_role", false, meeting, false},
  {"rtc.event", false, meeting, false},
  {"admin.ping", true, directory, false, false},
  {"admin.stats", true, directory, false, false},
  {"admin.nodes", true, directory, false, false},
  {"admin.meetings.list", true, directory, false, false},
  {"admin.meeting.get", true, meeting, true, false},
  {"admin.meeting.end", true, meeting, false},
  {"admin.kick", true, meeting, false},
  {"admin.mute_all", true, meeting, false},
  {"admin.user.add", true, directory, false},
  {"admin.user.remove", true, directory, false},
  {"admin.users.list", true, directory, false, false},
  {"admin.mute", true, meeting, false},
  {"admin.unmute", true, meeting, false},
  {"admin.lock", true, meeting, false},
  {"admin.unlock", true, meeting, false},
};
static_assert(static_cast<std::size_t>(proto::last_command_kind) + 1
              == std::size(commands));

const command_info& info(command_kind x) {
  return commands[static_cast<std::size_t>(x)];
}

// In the order of proto::event_kind.
constexpr const char* event_names[] = {
  "event.invite",        "event.ringing",      "event.accepted",
  "event.declined",      "event.invite_timeout", "event.canceled",
  "event.answered_elsewhere", "event.joined",  "event.left",
  "event.ended",         "event.kicked",       "event.mute_request",
  "event.role_changed",  "event.participant",  "event.token_expiring",
};
static_assert(static_cast<std::size_t>(proto::event_kind::token_expiring) + 1
              == std::size(event_names));

} // namespace

namespace proto {

const char* to_string(command_kind x) {
  auto i = static_cast<std::size_t>(x);
  return i < std::size(commands) ? commands[i].name : "unknown";
}

std::optional<command_kind> parse_command_kind(std::string_view x) {
  for (std::size_t i = 0; i < std::size(commands); ++i)
    if (x == commands[i].name)
      return static_cast<command_kind>(i);
  return std::nullopt;
}

bool is_admin_command(command_kind x) {
  return info(x).admin;
}

command_scope scope_of(command_kind x) {
  return info(x).scope;
}

bool reads_meeting(command_kind x) {
  return info(x).reads;
}

bool changes_state(command_kind x) {
  return info(x).writes;
}

const char* to_string(event_kind x) {
  return name_of(event_names, x);
}

std::optional<event_kind> parse_event_kind(std::string_view x) {
  return parse_by_name<event_kind>(event_names, x);
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

} // namespace proto
} // namespace meetingd
