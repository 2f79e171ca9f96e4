// Every conversation between meetingd's actors on one page (the Tenzir way):
// the messages each actor accepts, what it answers, and the types they carry.
//
//   lmq gateway ──handle──► directory ──handle──► meeting ──commit──► store
//        ▲                     │  ▲                  │
//        └──────publish────────┘  └──deliver/update──┘──create/delete/remove──► rtc gateway
//
// A reply travels back along the request chain (CAF response promises); it
// is released only after the store committed the change it reports, together
// with the reply itself (the request record), so PROTOCOL.md §4-5 hold.
#pragma once

#include "actors/atoms.hpp"
#include "actors/core/meeting_core.hpp"
#include "actors/core/protocol.hpp"
#include "gateway/rtc_gateway.hpp"
#include "persistence/store_actor.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meetingd {

using handle_atom = caf::atom_constant<caf::atom("handle")>;
using presence_atom = caf::atom_constant<caf::atom("presence")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using mqtt_in_atom = caf::atom_constant<caf::atom("mqttin")>;
using connected_atom = caf::atom_constant<caf::atom("connected")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using retire_atom = caf::atom_constant<caf::atom("retire")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

/// A command as the LMQ gateway hands it to the directory: decoded, not a
/// duplicate, within the client's rate.
struct inbound_request {
  std::string client;      // the sender's MQTT client id (last topic segment)
  bool admin = false;      // arrived on the admin topic from an id in --admins
  proto::request req;
};

/// The outcome of a command, ready to publish: `wire` is the reply exactly
/// as it was made durable. `user` and `meeting` are for the log line.
struct final_reply {
  int code = 0;
  std::string reason;
  std::string wire;
  std::string user;
  std::string meeting;
  /// False for replies that must not be replayed (429, 500, 503: the client
  /// should be able to retry with the same id).
  bool replayable = true;
};

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

/// Counters of the LMQ gateway, for admin.stats.
struct gateway_stats {
  std::uint64_t commands = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t malformed = 0;
  std::uint64_t retained_ignored = 0; // commands left retained on the broker
  std::uint64_t events = 0;
  double commands_per_s = 0;
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  bool connected = false;
};

} // namespace meetingd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::inbound_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::final_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::meeting_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::meeting_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::passivation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::gateway_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::proto::event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::outgoing_event>)

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
  // Its own round: quiet meetings give up their actors (--passivate-after).
  caf::reacts_to<sweep_atom>,
  // Its own round: decayed login failures, old creates and removals are
  // forgotten (with their rows).
  caf::reacts_to<prune_atom>>;

/// The LMQ GATEWAY actor interface: owns the MQTT connection.
using lmq_actor = caf::typed_actor<
  // Starts the gateway: commands go to this directory; connects to the broker.
  caf::reacts_to<attach_atom, directory_actor>,
  // A message arrived (from the Paho callback thread): topic, payload, and
  // whether it is the broker's stored copy of a retained message (sent on
  // subscribing; a live publish arrives with the flag off in MQTT 3.1.1).
  caf::reacts_to<mqtt_in_atom, std::string, std::string, bool>,
  // The connection came up (true, after subscribing) or went down (false).
  caf::reacts_to<connected_atom, bool>,
  // Internal: retry connecting (the first attempt failed), and the periodic
  // housekeeping (persist event numbers, prune the idempotency index).
  caf::reacts_to<retry_atom>,
  caf::reacts_to<connect_atom>,
  caf::reacts_to<tick_atom, unix_ms>,
  // Internal: the broker acknowledged the subscriptions.
  caf::reacts_to<ready_atom>,
  // Sends an event to these devices, each with its next sequence number.
  caf::reacts_to<publish_atom, std::vector<std::string>, proto::event>,
  // Stop taking commands; answers once every command in flight is answered.
  caf::replies_to<shutdown_atom>::with<bool>,
  caf::replies_to<stats_atom>::with<gateway_stats>>;

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
