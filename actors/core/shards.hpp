// Several nodes, one service (docs/cluster.md): every meeting belongs to one
// of a fixed number of shards, and each shard is owned by one node at a time
// through a lease with an epoch kept in the database (Temporal's history
// shards; the fencing token of Kleppmann's "How to do distributed locking").
// This file holds the rules as plain C++: which shard an id is in, how many
// shards each node should own, and what one node does in one lease round.
// The SQL is in persistence/shard_leases.*; the actor that runs the rounds
// is actors/lease_actor.*.
#pragma once

#include "actors/core/clock.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meetingd::shards {

/// The shard of a meeting id: the first four bytes of MD5(id), read as a
/// big-endian unsigned number, modulo `count`. Plain SQL computes the same,
/// so an operator (and the store) can ask for a shard's rows in psql:
///   ('x' || substr(md5(id), 1, 8))::bit(32)::bigint % count
int shard_of(std::string_view id, int count);

/// The same as SQL text over a column, for the store's queries and views.
std::string shard_of_sql(const std::string& column, int count);

/// One row of the `shards` table as a lease round reads it.
struct lease_row {
  int shard = 0;
  std::string owner; // node id; empty: nobody
  std::int64_t epoch = 0;
  unix_ms lease_until = 0; // the database server's clock
};

/// How many shards `node` should own when `live` (sorted or not; `node`
/// included) share `count` shards: an equal share, the first `count % n`
/// node ids (in byte order) taking one more. Zero if `node` is not in `live`.
int fair_share(const std::vector<std::string>& live, const std::string& node, int count);

/// True if a shard may be taken by `me` now: nobody owns it, its lease ran
/// out, or it is `me`'s own from an earlier run under the same node id.
bool claimable(const lease_row& row, const std::string& me, unix_ms now);

/// What one node does in one lease round.
struct round_plan {
  /// Shards to take (free, expired, or its own from an earlier run).
  std::vector<int> take;
  /// Shards to hand over now: one at a time while the node holds more than
  /// its share and another node holds less; all of them when leaving.
  std::vector<int> release;
};

/// The plan of node `me`: `table` is every shard row, `live` the nodes that
/// serve (heartbeat within the lease, not leaving; `me` is added when not
/// `leaving`), `held` the shards `me` holds now, `now` the server's clock.
///
/// - A node takes claimable shards up to its fair share; its own shards from
///   an earlier run under the same id are taken back at once, whatever the
///   share (the rebalancing then moves the surplus gracefully).
/// - A node above its share releases one shard per round, and only when no
///   shard is free and some live node is below its share, so that the freed
///   shard goes to a node that needs it (the others are at their share).
/// - A leaving node releases everything it holds and takes nothing.
round_plan plan_round(const std::vector<lease_row>& table, std::vector<std::string> live,
                      const std::vector<int>& held, const std::string& me, unix_ms now,
                      bool leaving);

} // namespace meetingd::shards
