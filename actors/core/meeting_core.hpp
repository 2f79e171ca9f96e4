// The meeting's rules, as plain functions over plain data: who may do what,
// what a command changes, which events go to whom, which RTC calls and timers
// follow. No CAF, no I/O, no clock: time and randomness come in through
// `core_context`, so every rule is unit-tested directly (tests/unit/
// meeting_core_test.cpp) and the actor (actors/meeting_actor.*) only performs
// the effects this returns.
//
// Every function that refuses a command returns before changing anything, so
// bad input changes nothing.
#pragma once

#include "actors/core/meeting_state.hpp"
#include "actors/core/protocol.hpp"
#include "actors/core/refusals.hpp"
#include "actors/core/rtc_outcome.hpp"
#include "actors/core/changes.hpp"
#include "actors/core/webhook_event.hpp"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace meetingd {

/// Who sent a command, as the directory resolved it from the topic.
struct caller {
  std::string user;   // the bound user; empty for an admin console
  std::string client; // the MQTT client id
  bool admin = false; // came on the admin topic from an id in --admins
};

/// What the directory knew about a user a command names.
struct user_fact {
  std::string user;
  bool exists = false;
  bool busy = false;   // a participant of another active meeting
  bool online = false; // some bound device is online
};

/// An event and who gets it: every bound device of `users`, except the
/// device `except_client`, and only online ones if `online_only`.
struct outgoing_event {
  std::vector<std::string> users;
  std::string except_client;
  bool online_only = false;
  proto::event ev;
};

/// A change in who is in the meeting, for the directory (busy detection,
/// presence fan-out).
struct membership_change {
  std::string user;
  bool joined = false;
};

/// What a meeting tells the directory after a committed change: its summary
/// for listings and who came and went (busy detection, presence fan-out).
struct meeting_update {
  proto::meeting_summary summary;
  unix_ms ended_at = 0;
  std::string end_reason;
  int ringing = 0; // ringing invitations
  std::vector<membership_change> memberships;
};

/// What a step of the core asks the actor to do, in this order: persist
/// `changes`; once committed send `reply` and `events`, tell the directory
/// about `memberships`; make the RTC calls.
struct effects {
  std::optional<proto::reply> reply;
  std::vector<outgoing_event> events;
  changeset changes;
  std::vector<membership_change> memberships;
  /// Kick in progress: RemoveTerminals for these RTC user ids first, then
  /// call complete_kick with the answer. No state changed yet.
  std::vector<std::string> remove_terminals;
  /// The meeting ended: DeleteChannel until it is done.
  bool delete_channel = false;
  /// The `reason` an admin gave to admin.meeting.end: the operator's note,
  /// for the node's log; the meeting's end_reason stays "admin".
  std::string end_note;
  /// What the application's backend is told (only with
  /// meeting_settings::webhooks), in order: the actor puts each into the
  /// outbox in the same commit as `changes`.
  std::vector<webhook_event> webhooks;

  /// A refusal: the reply, nothing changed.
  static effects refusal(std::optional<proto::reply> r) {
    effects fx;
    fx.reply = std::move(r);
    return fx;
  }
};

struct core_context {
  unix_ms now = 0;
  const meeting_settings* settings = nullptr;
  /// A fresh, unique session id for each credentials issue.
  std::function<std::string()> new_session;
};

// -- creation -------------------------------------------------------------------

/// Checks a meeting.create before the channel is created. Returns the error
/// reply, or nullopt if the meeting may be created.
std::optional<proto::reply> check_create(const proto::command& cmd,
                                         const core_context& ctx);

/// Builds the new meeting once the channel exists; the caller is host and
/// the first participant, ringing invitees get event.invite.
effects create_meeting(meeting& m, const std::string& id,
                       const channel_info& channel, const caller& who,
                       const proto::command& cmd,
                       const std::vector<user_fact>& facts,
                       const core_context& ctx);

// -- commands -------------------------------------------------------------------

/// Handles every meeting-scoped command (meeting.*, call.*, moderate.*,
/// rtc.event, admin.meeting.*, admin.kick, admin.mute_all) except create.
/// `facts` holds what the directory knew about the users the command names.
effects handle_command(meeting& m, const caller& who, const proto::command& cmd,
                       const std::vector<user_fact>& facts,
                       const core_context& ctx);

/// Finishes a kick once RemoveTerminals answered. `cmd` is the original
/// moderate.kick or admin.kick, re-checked against the current state.
effects complete_kick(meeting& m, const caller& who, const proto::command& cmd,
                      const rtc::answer& answer, const core_context& ctx);

// -- what is not a command ----------------------------------------------------------

/// A user's devices went offline (no bound device online) or came back.
effects presence_changed(meeting& m, const std::string& user, bool online,
                         const core_context& ctx);

/// Fires every deadline due at ctx.now: channel expiry, idle end, expiry
/// warning, ring timeouts, presence grace, token warnings.
effects fire_due_timers(meeting& m, const core_context& ctx);

/// The earliest pending deadline, if any.
std::optional<unix_ms> next_deadline(const meeting& m);

/// DeleteChannel succeeded (or the channel was already gone).
effects channel_deleted(meeting& m);

// -- views and helpers ---------------------------------------------------------------

/// The meeting as meeting.get shows it.
proto::meeting_view view_of(const meeting& m);

/// The host's user id: the joined host; for an ended meeting its last host
/// (or creator); empty if an active meeting has nobody in it.
std::string host_of(const meeting& m);

/// Users currently in the meeting (status joined).
std::vector<std::string> joined_users(const meeting& m);

/// The 410 for a command to a meeting that ended with `end_reason`:
/// meeting_expired if its channel expired, else meeting_ended.
proto::reply ended_meeting_reply(std::string_view end_reason);

/// The one rule for commands to an ended meeting, kept by the directory and
/// the meeting alike: a command that only reads it is answered, any other
/// gets ended_meeting_reply.
std::optional<proto::reply> refusal_if_ended(meeting_status status, std::string_view end_reason,
                                             proto::command_kind kind);

/// The reply for a failed RTC call: 502 rtc_error:<code> when the service
/// refused, 503 rtc_unavailable when it could not be reached.
proto::reply rtc_failure_reply(const rtc::failure& f);

/// The credentials a user gets to enter the meeting's channel.
proto::credentials make_credentials(const meeting& m, const std::string& user,
                                    const std::string& session,
                                    unix_ms token_expires_at,
                                    const meeting_settings& s);

/// The directory's view of the meeting after a step.
meeting_update update_of(const meeting& m, std::vector<membership_change> changes);

/// The meeting.ended webhook event of an ended meeting: its reason, its
/// duration and, per user who ever joined, the whole seconds they were in
/// the call (a call detail record; the call_records SQL view gives the same,
/// docs/database.md). Not yet numbered.
webhook_event call_record_of(const meeting& m);

/// All rows of a meeting as one changeset (for tests and recovery checks).
changeset full_changeset(const meeting& m);

} // namespace meetingd
