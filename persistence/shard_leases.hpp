// The shard leases in PostgreSQL (docs/cluster.md): the `shards` and
// `nodes` tables of schema version 3, on a connection of their own, so that
// a long group commit never delays a renewal. Every statement is one short
// transaction and uses the server's clock, so nodes whose clocks differ
// still agree on when a lease ends.
//
// A take raises the shard's epoch; the store's commits check it (pg_store,
// "fence"). A renewal or a release names the epoch it holds, so a node that
// lost a shard cannot extend or free the new owner's lease.
//
// Not thread-safe: one owner (the lease actor) uses it at a time.
#pragma once

#include "actors/core/shards.hpp"
#include "persistence/pg_connection.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meetingd {

/// What a node says of itself every round (`nodes` row).
struct node_report {
  std::string state = "serving"; // starting, serving, leaving, stopped
  std::string version;
  int meetings = 0;
  double commands_per_s = 0;
};

/// A `nodes` row, with what the table says of its shards.
struct node_row {
  std::string node;
  std::string incarnation;
  std::string state;
  std::string version;
  unix_ms started_at = 0;
  unix_ms heartbeat_at = 0;
  int meetings = 0;
  double commands_per_s = 0;
  int shards = 0;          // valid leases it holds
  unix_ms lease_until = 0; // the earliest end of those leases
};

/// Shard → epoch, for the shards a node holds.
using held_shards = std::map<int, std::int64_t>;

class shard_leases {
public:
  /// Connects, and creates the `shards` rows if this is the first node
  /// (`shards` of them), or checks that the database has that many: a
  /// different --shards is refused with one line naming both. nullptr and
  /// `*error` on failure. Needs schema version 3 (open the store first).
  static std::unique_ptr<shard_leases> open(const std::string& uri,
                                            std::chrono::milliseconds server_timeout,
                                            std::string node_id, int shards,
                                            std::string* error);

  /// Everything a round reads, in one snapshot.
  struct table {
    unix_ms now = 0; // the server's clock
    std::vector<shards::lease_row> rows;
    std::vector<node_row> nodes;
  };
  std::optional<pg::failure> read(table& out);

  /// Extends the leases of `held` still owned with the same epoch to the
  /// server's now + `lease`; `kept` gets those, `until` their new end.
  std::optional<pg::failure> renew(const held_shards& held, std::chrono::milliseconds lease,
                                   held_shards& kept, unix_ms& until);

  /// Takes the shards of `wanted` that are still claimable (free, expired,
  /// or this node's own from an earlier run), raising their epochs; `got`
  /// gets those taken with their new epochs. `*from_the_dead` (if given) is
  /// set if one of them was another node's whose lease ran out (not handed
  /// over): that node may have done things it had not recorded.
  std::optional<pg::failure> take(const std::vector<int>& wanted,
                                  std::chrono::milliseconds lease, held_shards& got,
                                  unix_ms& until, bool* from_the_dead = nullptr);

  /// Frees the shards of `held` still owned with the same epoch, so that
  /// another node takes them at once.
  std::optional<pg::failure> release(const held_shards& held);

  /// Writes this node's row. The first call claims the row for this run;
  /// later ones fail with `*clash` set if another process has since claimed
  /// it under the same node id.
  std::optional<pg::failure> heartbeat(const node_report& report, bool* clash);

  int shard_count() const {
    return shards_;
  }
  const std::string& node_id() const {
    return node_id_;
  }
  const std::string& incarnation() const {
    return incarnation_;
  }

private:
  shard_leases(std::string uri, std::chrono::milliseconds timeout, std::string node_id,
               int shards);
  /// Creates or checks the shard rows; an error text or nullopt.
  std::optional<std::string> set_up();

  pg::connection conn_;
  std::string node_id_;
  std::string incarnation_;
  int shards_;
  bool claimed_row_ = false;
};

} // namespace meetingd
