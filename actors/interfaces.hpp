// Every conversation between meetingd's actors on one page (the Tenzir way):
// the messages each actor accepts, what it answers, and the types they carry.
//
//   lmq gateway ──handle──► directory ──handle──► meeting ──commit──► store
//        ▲                     │  ▲                  │
//        └──────publish────────┘  └──deliver/update──┘──create/delete/remove──► rtc gateway
//
// A reply travels back along the request chain (CAF response promises); it
// is released only after the store committed the change it reports, together
// with the reply itself (the request record): docs/protocol.md, "Replies".
//
// The interfaces of the actors in persistence/ and gateway/ are declared
// beside them (persistence/store_actor.hpp, gateway/rtc_gateway.hpp,
// gateway/lmq_interface.hpp), since those folders do not depend on this one;
// the meeting, directory and hasher are below.
#pragma once

#include "actors/atoms.hpp"
#include "actors/core/meeting_core.hpp"
#include "actors/core/protocol.hpp"
#include "gateway/lmq_interface.hpp"
#include "gateway/rtc_gateway.hpp"
#include "gateway/webhook_actor.hpp"
#include "persistence/store_actor.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meetingd {

/// A command for a meeting, with what the directory resolved for it.
struct meeting_request {
  caller who;
  std::string request_id;
  proto::command cmd;
  std::vector<user_fact> facts;
};

/// A meeting's answer to `passivate`: its state if it had nothing in flight
/// (it stops right after answering), none if it must keep its actor.
struct passivation {
  std::optional<meeting> state;
};

} // namespace meetingd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::meeting_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::meeting_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::passivation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::outgoing_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::any_change>)

namespace meetingd {

/// The MEETING actor interface: one actor per meeting, over meeting_core.
using meeting_actor = caf::typed_actor<
  // Handles a meeting-scoped command (create included, as the first message
  // of a new meeting); answers once the change and the reply are durable.
  caf::replies_to<handle_atom, meeting_request>::with<final_reply>,
  // A participant's devices all went offline (false) or one came back (true).
  caf::reacts_to<presence_atom, std::string, bool>,
  // A timer armed for the given deadline (unix ms) is due.
  caf::reacts_to<tick_atom, unix_ms>,
  // Try DeleteChannel again (after an ended meeting's earlier attempt failed).
  caf::reacts_to<retry_atom>,
  // The directory sends no more requests: quit once the owed replies are out.
  caf::reacts_to<retire_atom>,
  // The directory found the meeting quiet: hand over the state and stop, if
  // nothing is in flight.
  caf::replies_to<passivate_atom>::with<passivation>>;

/// The DIRECTORY actor interface: users, device bindings, the meeting
/// registry and who is in which meeting.
using directory_actor = caf::typed_actor<
  // A command from a device or console; answers its durable reply.
  caf::replies_to<handle_atom, inbound_request>::with<final_reply>,
  // A device's presence: its last will (false) or an online message (true).
  caf::reacts_to<presence_atom, std::string, bool>,
  // Events from a meeting, to fan out to the users' devices.
  caf::reacts_to<deliver_atom, std::vector<outgoing_event>>,
  // A meeting's committed summary and membership changes.
  caf::reacts_to<update_atom, meeting_update>,
  // A meeting (by id) has nothing left to do: the directory stops routing
  // to it, then answers `retire` (see meeting_actor.cpp, quit_when_done).
  caf::reacts_to<finished_atom, std::string>,
  // Its own alarm: dormant meetings whose deadline has come get their actor.
  caf::reacts_to<wake_atom, unix_ms>,
  // A meeting's deadline armed by its actor (meeting_actor.cpp, arm_timer):
  // passed on to the meeting's actor if it has one; a dormant meeting's
  // deadlines are the wake_atom's.
  caf::reacts_to<tick_atom, std::string, unix_ms>,
  // Its own round: quiet meetings give up their actors (--passivate-after).
  caf::reacts_to<sweep_atom>,
  // Its own round: decayed login failures, old creates and removals are
  // forgotten (with their rows), and meetings ended past --ended-retention.
  caf::reacts_to<prune_atom>,
  // Its own round: publishes its figures for /metrics (every second).
  caf::reacts_to<figures_atom>,
  // Several nodes (docs/cluster.md, actors/lease_actor.hpp): shards gained,
  // lost, and to hand over.
  caf::reacts_to<adopt_atom, std::vector<int>, bool>,
  caf::reacts_to<drop_atom, std::vector<int>>,
  caf::replies_to<handover_atom, std::vector<int>>::with<bool>,
  // Its own: looks again at the hand-overs under way.
  caf::reacts_to<handover_atom>,
  // What other nodes committed (persistence/change_feed.hpp); without
  // changes: some were missed, reload.
  caf::reacts_to<remote_atom, std::vector<any_change>>,
  caf::reacts_to<remote_atom>>;

/// When a password check is no longer wanted: the asker's actor clock, in
/// nanoseconds since its epoch. A worker skips work past it, so requests
/// that timed out while queued cost nothing.
using hash_deadline = std::int64_t;

/// The password HASHER: PBKDF2 is slow on purpose, so it runs apart from
/// the directory (a pool of detached workers in the node).
using hasher_actor = caf::typed_actor<
  // Hashes a password with this many iterations: the string to store (empty
  // if the deadline passed first).
  caf::replies_to<hash_atom, std::string, int, hash_deadline>::with<std::string>,
  // Checks a password against a stored hash; an empty one (an unknown user)
  // costs a check at the given iterations and fails. False past the deadline.
  caf::replies_to<verify_atom, std::string, std::string, int, hash_deadline>::with<bool>>;

} // namespace meetingd
