// The LMQ gateway actor: the node's one MQTT connection (Paho C++ async
// client). It subscribes to the device, admin and presence topics, turns each
// uplink into a decoded request (refusing malformed, oversized, unauthorized
// and too-frequent ones right here), replays the stored reply of a duplicate,
// hands the rest to the directory, and publishes the replies and events on
// the senders' P2P topics, QoS 1, each event with the device's next `seq`.
//
// Paho calls back on its own threads; those callbacks only `anon_send` to
// this actor. While the broker is away Paho buffers what the node publishes
// (bounded) and reconnects with backoff; the session is persistent, so the
// broker keeps the uplinks sent meanwhile.
#pragma once

#include "actors/core/directory_state.hpp"
#include "gateway/latency_window.hpp"
#include "gateway/readiness.hpp"
#include "gateway/lmq_interface.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/request_log.hpp"
#include "persistence/shard_map.hpp"
#include "persistence/store_actor.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mqtt {
class async_client;
class iaction_listener;
} // namespace mqtt

namespace meetingd {

/// The value of --broker-ca that means the system's default trust store.
inline constexpr const char* system_trust_store = "system";

/// ssl://, mqtts:// and wss://: the broker URIs Paho speaks TLS to.
bool broker_uses_tls(const std::string& uri);

struct lmq_settings {
  /// This node's id (its client id is GID_MEETING_UP@@@<node_id>) and the
  /// parent topic: the node's (node_env), filled in by make_setup.
  std::string node_id;
  std::string parent_topic;
  /// Client ids obeyed on the admin topic (--admins).
  std::vector<std::string> admins;
  /// How long a reply is replayed for a duplicate (docs/protocol.md, "Replies").
  std::chrono::milliseconds request_ttl = std::chrono::minutes(10);
  /// wall ms = actor clock ms + clock_offset_ms (actors/core/clock.hpp).
  std::int64_t clock_offset_ms = 0;
  std::string broker = "tcp://127.0.0.1:1883"; // tcp://, ssl://, ws://, wss://
  std::string username;                        // MQTT_USERNAME
  std::string password;                        // MQTT_PASSWORD
  /// Derive the password the LMQ way from the access key pair (seed):
  /// username = access key id, password = Base64(HMAC-SHA1(secret, group id)).
  bool lmq_auth = false;
  std::string access_key_id;
  std::string access_key_secret;
  /// TLS: the CA file that signed the broker's certificate, or
  /// `system_trust_store` for OpenSSL's default one. The host name in
  /// `broker` is checked against the certificate either way.
  std::string ca_file;
  std::string cert_file; // TLS: client certificate
  std::string key_file;  // TLS: client key
  double rate_limit = 50; // commands per second per client; 0 = unlimited
  double rate_burst = 100;
  int max_buffered = 100000; // publishes held while the broker is away
  std::chrono::seconds keepalive{20};
  /// Whether the database takes writes (set by the store actor; may be
  /// null): while it does not, commands that change state are refused with
  /// 503 store_unavailable.
  /// Told when the node is subscribed and when the broker is lost (null in
  /// tests that do not check readiness).
  std::shared_ptr<readiness> ready;
  std::shared_ptr<const meetingd::store_health> database_health;
  /// How long the gateway waits for a command's reply inside the node. Past
  /// it the device gets 503 store_unavailable if the database is away (the
  /// command may still commit: a repeat of its id gets the stored reply),
  /// else 500 internal (a reply lost inside the node: a bug).
  std::chrono::milliseconds command_timeout = std::chrono::seconds(60);
  /// Several nodes (docs/cluster.md; null on SQLite): who serves which
  /// shard. The uplinks are then shared subscriptions of `share_group`, a
  /// command for a meeting served elsewhere is forwarded to its node, and
  /// nothing is published for a meeting whose shard this node lost.
  std::shared_ptr<shard_map> shards;
  std::string share_group = "meetingd";
  /// How long a command for a shard between nodes waits for its next owner
  /// (then 503 shard_moving): --lease + 1 s.
  std::chrono::milliseconds move_wait = std::chrono::seconds(6);
};

/// A command waiting for its shard's next owner.
struct waiting_command {
  std::string client;
  bool admin = false;
  int hops = 0;
  std::string payload;
  std::chrono::steady_clock::time_point until;
};

/// A command the directory has not answered yet. Its --command-timeout is
/// kept here and checked by the gateway's one-second tick, not by a CAF
/// request timeout: each of those wakes CAF's clock thread twice (set and
/// cancel), a cost on every command (docs/benchmarks.md, "Cost per command").
struct pending_command {
  std::string client;
  std::string id;
  proto::command_kind kind{};
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point deadline;
  /// Several nodes: the meeting it was routed by (empty otherwise).
  std::string meeting;
};

struct lmq_actor_state {
  lmq_settings cfg;
  store_actor store;
  command_handler directory;
  std::unique_ptr<mqtt::async_client> client;
  std::unique_ptr<mqtt::iaction_listener> connect_listener;
  std::unique_ptr<mqtt::iaction_listener> subscribe_listener;
  request_log requests;
  rate_limiter limiter{50, 100};
  latency_window latency;
  std::unordered_map<std::string, std::uint64_t> seqs;
  std::unordered_set<std::string> dirty_seqs;
  std::unordered_set<std::string> admins;
  gateway_stats counters;
  std::size_t in_flight = 0;
  /// Commands sent to the directory, by number; and their numbers in the
  /// order sent, which is their deadlines' order (the timeout is one).
  std::unordered_map<std::uint64_t, pending_command> pending;
  std::deque<std::uint64_t> pending_order;
  std::uint64_t last_command = 0;
  bool connected = false;
  bool retry_pending = false;
  /// First connection attempts that failed so far (for the backoff).
  int connect_failures = 0;
  bool shutting_down = false;
  std::vector<caf::typed_response_promise<bool>> drained;
  /// Several nodes: commands waiting for their shard's next owner; nodes
  /// whose retained status says down (nothing is forwarded to them).
  std::vector<waiting_command> waiting;
  bool waiting_armed = false;
  std::unordered_set<std::string> nodes_down;
  lmq_actor_state();
  ~lmq_actor_state();
  static inline const char* name = "lmq-gateway";
};

/// What the gateway recovers: the devices' last event numbers and the
/// replies of the idempotency window. `crashed`: the last run did not end
/// cleanly, so seq numbers jump ahead (the device resyncs, as it should).
struct lmq_recovery {
  std::vector<device_record> devices;
  std::vector<request_record> requests;
  bool crashed = false;
};

lmq_actor::behavior_type
lmq_gateway_impl(lmq_actor::stateful_pointer<lmq_actor_state> self, lmq_settings cfg,
                 store_actor store, lmq_recovery recovered);

} // namespace meetingd
