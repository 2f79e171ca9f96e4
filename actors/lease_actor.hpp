// The lease actor: this node's side of the shard leases (docs/cluster.md).
// Every round (a fifth of --lease) it writes its `nodes` row, renews the
// leases it holds, reads the table, and takes or hands over shards by the
// rules of actors/core/shards.hpp; it tells the directory what it gained
// (adopt: load and serve those meetings) and lost (drop: stop at once), and
// keeps the shard map that the store fences commits with and the gateway
// routes by. A graceful move asks the directory to hand the shard over
// first (its meetings finish what is in flight and commit), then frees it.
//
// Blocking on the database, so spawned detached, with its own connection.
#pragma once

#include "actors/atoms.hpp"
#include "gateway/readiness.hpp"
#include "persistence/shard_leases.hpp"
#include "persistence/shard_map.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace meetingd {

/// What admin.nodes shows: every node that holds or held a lease, as the
/// table says now (the server's clock).
struct cluster_view {
  unix_ms now = 0;
  std::chrono::milliseconds lease{0};
  std::vector<node_row> nodes;
};

} // namespace meetingd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::cluster_view)

namespace meetingd {

/// Who is told about gains and losses of shards (the directory).
using shard_listener = caf::typed_actor<
  // These shards are this node's now: load their meetings and serve them
  // (true: some were a node's that died, see shard_leases::take).
  caf::reacts_to<adopt_atom, std::vector<int>, bool>,
  // These shards are another node's now: drop their meetings at once, with
  // no reply, event or timer for them ever again.
  caf::reacts_to<drop_atom, std::vector<int>>,
  // These shards are about to be handed over: stop taking their commands,
  // let their meetings finish and commit, then drop them; true when done.
  caf::replies_to<handover_atom, std::vector<int>>::with<bool>>;

/// The LEASE actor interface.
using lease_actor = caf::typed_actor<
  caf::reacts_to<attach_atom, shard_listener>,
  // Its own round.
  caf::reacts_to<tick_atom, unix_ms>,
  // The store found these shards fenced (another node took them).
  caf::reacts_to<fenced_atom, std::vector<int>>,
  // SIGTERM: hand every shard over now and mark the node stopped.
  caf::replies_to<leave_atom>::with<bool>,
  // admin.nodes.
  caf::replies_to<nodes_atom>::with<cluster_view>>;

struct lease_settings {
  std::chrono::milliseconds lease{5000};
  std::string version;
  /// Told whether the last round reached the database (null in tests).
  std::shared_ptr<readiness> ready;
};

struct lease_actor_state {
  std::unique_ptr<shard_leases> leases;
  std::shared_ptr<shard_map> map;
  lease_settings cfg;
  shard_listener directory;
  /// Shards being handed over (asked of the directory, not yet freed).
  std::set<int> handing_over;
  bool leaving = false;
  /// Rounds that failed in a row (the database away): logged once.
  int failed_rounds = 0;
  static inline const char* name = "lease";
};

/// The first round, before the node starts: takes this node's own shards
/// of an earlier run back and its share of the free ones, and fills `map`.
/// Returns an error text (the database refused) or nullopt.
std::optional<std::string> first_lease_round(shard_leases& leases, shard_map& map,
                                             const lease_settings& cfg);

lease_actor::behavior_type lease_actor_impl(lease_actor::stateful_pointer<lease_actor_state> self,
                                            std::unique_ptr<shard_leases> leases,
                                            std::shared_ptr<shard_map> map, lease_settings cfg);

} // namespace meetingd
