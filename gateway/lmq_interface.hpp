// What the LMQ gateway exchanges with the rest of the node: the command it
// hands on (`inbound_request`), the reply it gets back ready to publish
// (`final_reply`), its counters, its own actor interface, and the narrow view
// it has of whoever handles commands (the directory, actors/interfaces.hpp,
// which offers more). Declared here, beside the gateway, because gateway/
// does not depend on actors/; actors/interfaces.hpp lists it with the others.
#pragma once

#include "actors/atoms.hpp"
#include "actors/core/changes.hpp"
#include "actors/core/protocol.hpp"
#include "gateway/final_reply.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace meetingd {

/// A command as the LMQ gateway hands it on: decoded, not a duplicate,
/// within the client's rate.
struct inbound_request {
  std::string client;      // the sender's MQTT client id (last topic segment)
  bool admin = false;      // arrived on the admin topic from an id in --admins
  proto::request req;
};

/// Counters of the LMQ gateway, for admin.stats.
struct gateway_stats {
  std::uint64_t commands = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t store_unavailable = 0; // writes refused while the database was away
  std::uint64_t malformed = 0;
  std::uint64_t retained_ignored = 0; // commands left retained on the broker
  std::uint64_t events = 0;
  std::uint64_t forwarded = 0;  // commands handed to the node serving their meeting
  std::uint64_t suppressed = 0; // replies and events not sent: the shard moved away
  double commands_per_s = 0;
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  bool connected = false;
};

} // namespace meetingd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::inbound_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::final_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::gateway_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::proto::event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::request_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::change::put_device_seq>)

namespace meetingd {

/// What the gateway needs of whoever handles commands (the directory).
using command_handler = caf::typed_actor<
  // A command from a device or console; answers its durable reply.
  caf::replies_to<handle_atom, inbound_request>::with<final_reply>,
  // A device's presence: its last will (false) or an online message (true).
  caf::reacts_to<presence_atom, std::string, bool>>;

/// The LMQ GATEWAY actor interface: owns the MQTT connection.
using lmq_actor = caf::typed_actor<
  // Starts the gateway: commands go to this handler; connects to the broker.
  caf::reacts_to<attach_atom, command_handler>,
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
  // Internal: commands waiting for their shard's next owner are routed again.
  caf::reacts_to<forward_atom>,
  // Several nodes: replies other nodes stored, by key (a duplicate that
  // lands here is answered from the store).
  caf::reacts_to<remote_atom, std::vector<request_record>>,
  // Several nodes: event numbers other nodes sent devices (never go back),
  // and (no arguments) a node died and this one took some of its meetings
  // over: every device's next number jumps ahead, as after a crash.
  caf::reacts_to<remote_atom, std::vector<change::put_device_seq>>,
  caf::reacts_to<adopt_atom>,
  // Sends an event to these devices, each with its next sequence number.
  caf::reacts_to<publish_atom, std::vector<std::string>, proto::event>,
  // Stop taking commands; answers once every command in flight is answered.
  caf::replies_to<shutdown_atom>::with<bool>,
  caf::replies_to<stats_atom>::with<gateway_stats>>;

} // namespace meetingd
