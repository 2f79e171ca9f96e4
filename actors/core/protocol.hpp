// The messages of docs/protocol.md as C++ types: what a device or console sends
// (request/command), what the node answers (reply) and pushes (event).
//
// This header and gateway/codec.* are the one definition of the wire contract:
// the codec turns JSON into these types and back, and the rest of the node
// speaks only these types, never raw JSON. Timestamps on the wire are unix
// seconds; inside the node they are unix milliseconds (`unix_ms`).
#pragma once

#include "actors/core/clock.hpp"
#include "actors/core/enums.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace meetingd {

/// Largest uplink payload the node accepts (docs/protocol.md §2).
constexpr std::size_t max_payload_bytes = 16 * 1024;

namespace proto {

// -- uplink -------------------------------------------------------------------

/// Every command type of docs/protocol.md §7 and §10. The codec maps each to its
/// wire name ("meeting.create") and knows which args each takes.
enum class command_kind : std::uint8_t {
  auth_login,
  auth_logout,
  meeting_create,
  meeting_join,
  meeting_leave,
  meeting_end,
  meeting_get,
  meeting_renew,
  call_invite,
  call_ringing,
  call_accept,
  call_decline,
  call_cancel,
  moderate_kick,
  moderate_mute,
  moderate_unmute,
  moderate_mute_all,
  moderate_unmute_all,
  moderate_lock,
  moderate_unlock,
  moderate_set_role,
  rtc_event,
  admin_ping,
  admin_stats,
  admin_nodes,
  admin_meetings_list,
  admin_meeting_get,
  admin_meeting_end,
  admin_kick,
  admin_mute_all,
  admin_user_add,
  admin_user_remove,
  admin_users_list,
  admin_mute,
  admin_unmute,
  admin_lock,
  admin_unlock,
};
/// The last of command_kind: tables indexed by kind have this many + 1 rows.
constexpr command_kind last_command_kind = command_kind::admin_unlock;

/// The wire name of a command ("meeting.create").
const char* to_string(command_kind x);
std::optional<command_kind> parse_command_kind(std::string_view x);

/// True for the admin commands, obeyed on the admin topic only.
bool is_admin_command(command_kind x);

/// Who answers a command: the directory for the device's session and the
/// node-wide admin commands, a new meeting for meeting.create, the meeting a
/// command names for all others.
enum class command_scope : std::uint8_t { session, directory, create, meeting };
command_scope scope_of(command_kind x);

/// True for the commands that only read a meeting (meeting.get,
/// admin.meeting.get): they are answered for an ended meeting too, where
/// every other meeting command is refused with 410.
bool reads_meeting(command_kind x);
/// True unless the command only reads (meeting.get, admin.stats,
/// admin.nodes, the lists): those are still answered while the database is
/// unavailable.
bool changes_state(command_kind x);

/// A validated command. Fields not used by `kind` stay empty; the codec
/// guarantees that every field `kind` requires is present and well-formed.
struct command {
  command_kind kind = command_kind::admin_ping;
  std::string meeting;                     // meeting.*, call.*, moderate.*, rtc.event
  std::string user;                        // auth.login, moderate.*, admin.user.*
  std::optional<std::string> password;     // auth.login, admin.user.add
  std::optional<std::string> ticket;       // auth.login
  std::optional<std::string> title;        // meeting.create
  std::optional<std::string> display_name; // admin.user.add
  std::optional<std::string> reason;       // call.decline, admin.meeting.end
  std::vector<std::string> users;          // invitees (create), users (invite, cancel)
  std::optional<std::string> requested_id; // meeting.create `meeting`
  std::optional<int> max_participants;     // meeting.create
  std::optional<invite_policy> policy;     // meeting.create `invite_policy`
  std::optional<role> new_role;            // moderate.set_role
  std::optional<bool> audio;               // moderate.mute*
  std::optional<bool> video;
  std::optional<sdk_event> event;          // rtc.event
  std::optional<meeting_status> state;     // admin.meetings.list
  std::optional<int> limit;                // admin lists
  std::optional<std::string> after;        // admin lists (paging cursor)
};

/// One uplink message: the request id (1..64 of [A-Za-z0-9_.:-]) and its command.
struct request {
  std::string id;
  command cmd;
};

// -- reply data ---------------------------------------------------------------

/// What a device needs to enter an RTC channel (docs/protocol.md §6).
struct credentials {
  std::string appid;
  std::string channel;
  std::string meeting;
  std::string userid;
  std::vector<std::string> gslb;
  std::string session;
  std::string token;
  std::string nonce;
  std::int64_t timestamp = 0;
  std::string turn_username;
  std::string turn_password;
};

struct participant_view {
  std::string user;
  std::string rtc_userid; // the id the RTC SDK reports this user by
  role r = role::member;
  participant_status status = participant_status::joined;
  bool online = true;
  bool audio_muted = false;
  bool video_muted = false;
  std::int64_t joined_at = 0; // unix seconds
};

struct invitation_view {
  std::string user;
  std::string inviter;
  invitation_status status = invitation_status::ringing;
  std::int64_t ring_expires_at = 0; // unix seconds
};

/// The full state of a meeting (meeting.get, admin.meeting.get).
struct meeting_view {
  std::string meeting;
  std::string title;
  std::string host;
  std::string channel;
  meeting_status status = meeting_status::active;
  std::string end_reason;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  bool locked = false;
  invite_policy policy = invite_policy::anyone;
  int max_participants = 0;
  std::vector<participant_view> participants;
  std::vector<invitation_view> invitations;
};

/// The outcome for one invitee: "ringing", "busy", "offline", or an error
/// reason such as "user_not_found", "already_participant", "kicked".
struct invite_outcome {
  std::string user;
  std::string status;
};

struct login_data {
  std::string user;
  std::string display_name;
};

struct create_data {
  std::string meeting;
  std::string channel;
  std::int64_t expires_at = 0;
  credentials creds;
  std::vector<invite_outcome> invitations;
};

struct join_data {
  credentials creds;
  std::vector<participant_view> participants;
};

/// Replies that carry only credentials: meeting.renew, call.accept.
struct credentials_data {
  credentials creds;
};

struct invite_data {
  std::vector<invite_outcome> invitations;
};

struct ping_data {
  std::string node;
  std::string version;
  std::int64_t uptime_s = 0;
};

struct stats_data {
  std::string node; // the node that answered: in a cluster, one of several
  std::int64_t meetings_active = 0;
  std::int64_t meetings_ended = 0;
  std::int64_t meetings_with_actor = 0; // of the active: with a meeting actor now
  std::int64_t meetings_dormant = 0;    // of the active: state only (quiet or just recovered)
  std::int64_t participants = 0;
  std::int64_t ringing_invitations = 0;
  std::int64_t devices_online = 0;
  std::int64_t users = 0;
  double commands_per_s = 0;
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  std::int64_t commands_total = 0;
  std::int64_t rtc_calls = 0;
  std::int64_t rtc_failures = 0;
  std::int64_t rtc_retries = 0;
  bool rtc_circuit_open = false;
  std::int64_t store_commits = 0;
  double store_changes_per_commit = 0;
  /// Webhook events since the node started (docs/protocol.md §15), and those
  /// it holds for delivery now.
  std::int64_t webhooks_delivered = 0;
  std::int64_t webhooks_failed_attempts = 0;
  std::int64_t webhooks_given_up = 0;
  std::int64_t webhooks_pending = 0;
};

/// One node of the cluster as admin.nodes reports it: a row of the `nodes`
/// table with what the `shards` table says of its leases.
struct node_info {
  std::string node;
  /// starting, serving, leaving, stopped (what the node last said of
  /// itself), or down: its heartbeat is older than its lease. Text, as the
  /// `nodes` table keeps it, so a state a newer node adds still reads.
  std::string state;
  std::string version;
  int shards = 0;   // shard leases it holds
  int meetings = 0; // the meetings it holds, as it last reported
  /// Unix seconds (to_unix_s) when the earliest of its leases ends; none
  /// while it holds no lease.
  std::optional<std::int64_t> lease_expires_at;
  double commands_per_s = 0;
};

/// admin.nodes: every node that holds or held a lease.
struct nodes_data {
  std::vector<node_info> nodes;
  std::string answered_by; // the node id of the one that answered
};

struct meeting_summary {
  std::string meeting;
  std::string title;
  std::string host;
  meeting_status status = meeting_status::active;
  int participants = 0;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
};

struct meetings_page {
  std::vector<meeting_summary> meetings;
  std::optional<std::string> next_after;
};

struct user_summary {
  std::string user;
  std::string display_name;
  std::int64_t created_at = 0;
  int devices_online = 0;
};

struct users_page {
  std::vector<user_summary> users;
  std::optional<std::string> next_after;
};

using reply_data
  = std::variant<std::monostate, login_data, create_data, join_data,
                 credentials_data, meeting_view, invite_data, ping_data,
                 stats_data, nodes_data, meetings_page, users_page>;

/// The one reply to an uplink message. `code` 0 means done and durable.
struct reply {
  std::optional<std::string> id; // nullopt when no id could be read
  int code = 0;
  std::string reason;  // error replies: "not_host", "missing_field:args.meeting"
  std::string message; // error replies: what happened and what to do
  /// 429 and 503 replies: when a retry may succeed, in milliseconds.
  std::optional<std::int64_t> retry_after_ms;
  reply_data data;
};

/// An error reply. The node's own refusals are made from their catalogue
/// (actors/core/refusals.hpp); this is for the codec's, and for tests.
reply fail(std::optional<std::string> id, int code, std::string reason,
           std::string message);


// -- events -------------------------------------------------------------------

enum class event_kind : std::uint8_t {
  invite,
  ringing,
  accepted,
  declined,
  invite_timeout,
  canceled,
  answered_elsewhere,
  joined,
  left,
  ended,
  kicked,
  mute_request,
  role_changed,
  participant,
  token_expiring,
};

/// The wire name of an event ("event.invite").
const char* to_string(event_kind x);
std::optional<event_kind> parse_event_kind(std::string_view x);

/// An unsolicited message to a device. `seq` is assigned per device by the
/// LMQ gateway when it is sent. The codec writes only the fields each kind
/// carries (docs/protocol.md §8).
struct event {
  event_kind kind = event_kind::ended;
  std::string meeting;
  std::string user;                    // ringing, accepted, declined, invite_timeout, joined, left, role_changed
  std::string by;                      // canceled, answered_elsewhere, kicked, mute_request
  std::string reason;                  // declined, left, ended, invite_timeout
  std::string from;                    // invite
  std::string title;                   // invite
  std::int64_t ring_expires_at = 0;    // invite (unix seconds)
  std::int64_t expires_at = 0;         // token_expiring (unix seconds)
  std::optional<role> new_role;        // role_changed
  std::optional<bool> audio;           // mute_request
  std::optional<bool> video;           // mute_request
  std::optional<credentials> creds;    // invite
  std::optional<participant_view> participant; // participant
};

} // namespace proto
} // namespace meetingd
