// The store actor: the one owner of the database connection, and the group
// commit that makes "durable before acknowledged" cheap (DESIGN.md).
//
// A meeting (or the directory) sends `commit` with a changeset and answers its
// device only when the reply, the commit number, comes back: by then the
// changeset is in a committed transaction. The actor keeps each changeset and
// its response promise and, unless one is already on its way, sends itself a
// `flush`. Every commit that reaches the mailbox before that flush joins the
// same group; on flush the whole group goes into one transaction and then
// every promise is delivered in arrival order. Under load the groups grow by
// themselves: while one transaction is being written, the next group queues.
//
// On a store error (disk full, I/O error, locked file, the database server
// away) nothing is delivered: the group is held, an error line tells the
// operator what to do, and the group is retried, after `retry_interval` and
// then backing off up to `max_retry_interval`, until it commits. Commits that
// arrive meanwhile wait behind it in order; `health` says the store is down
// so that the gateway refuses new writes with 503 meanwhile. The node does
// not crash; only the meetings that write wait. A changeset the schema
// refuses (a bug, never the disk) is isolated: the group is retried one
// changeset at a time, the others commit, and the refused one gets an error
// reply; then `on_refused` runs (the node stops there: its meetings hold
// state the database refused).
//
// The actor blocks on the disk, so it is spawned `detached`:
//   auto st = sys.spawn<caf::detached>(store_actor_impl, std::move(db), cfg);
#pragma once

#include "actors/atoms.hpp"
#include "config/log.hpp"
#include "persistence/shard_map.hpp"
#include "persistence/store.hpp"
#include "persistence/store_health.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace meetingd {


/// How the store actor groups, retries and prunes.
struct store_settings {
  /// Most changesets in one transaction; a full group is committed at once.
  std::size_t max_batch = 1024;
  /// Wait before the first retry of a group that failed; it doubles with
  /// every further failure, up to max_retry_interval.
  std::chrono::milliseconds retry_interval = std::chrono::seconds(1);
  std::chrono::milliseconds max_retry_interval = std::chrono::seconds(5);
  /// Set to down while commits fail (may be null).
  std::shared_ptr<store_health> health;
  /// Runs after a changeset the database refused for good (may be empty).
  std::function<void(const std::string& error)> on_refused;
  /// Several nodes (docs/cluster.md): the shards this node holds. A commit
  /// that finds some of them taken by another node (fenced) drops every
  /// pending changeset writing for them, with an error, marks them lost
  /// here, and runs `on_fenced`; the rest commits.
  std::shared_ptr<shard_map> shards;
  std::function<void(const std::vector<int>& shards)> on_fenced;
  /// How often old request records and ended meetings are deleted.
  std::chrono::milliseconds prune_interval = std::chrono::seconds(60);
  /// How long replies are kept for idempotent replay (docs/protocol.md §4).
  std::chrono::milliseconds request_ttl = std::chrono::minutes(10);
  /// How long ended meetings are kept (they answer 410 meanwhile).
  std::chrono::milliseconds ended_retention = std::chrono::hours(24 * 7);
};

/// What the store actor has done since it started.
struct store_stats {
  /// Number of histogram buckets: 1, 2-3, 4-7, ..., 256-511, >=512.
  static constexpr std::size_t buckets = 10;

  std::uint64_t commits = 0;    // transactions committed
  std::uint64_t changesets = 0; // changesets in them
  std::uint64_t changes = 0;    // row changes in them
  std::uint64_t failures = 0;   // failed commit attempts (retried)
  std::uint64_t rejected = 0;   // changesets the schema refused (error reply)
  std::uint64_t fenced = 0;     // changesets dropped: their shard moved away
  std::uint64_t max_batch = 0;  // most changesets in one commit
  std::uint64_t pending = 0;    // changesets waiting for a commit now
  std::uint64_t pruned = 0;     // rows deleted by pruning
  double last_commit_ms = 0;    // duration of the last commit
  double max_commit_ms = 0;
  double total_commit_ms = 0;   // sum over all commits (mean = total / commits)
  /// CPU time of the store thread in those commits: far below total_commit_ms
  /// means the disk (fsync) or a starved CPU is the bottleneck, not SQLite.
  double total_commit_cpu_ms = 0;
  /// Commits by the number of changesets in them (see `bucket_of`).
  std::vector<std::uint64_t> batch_histogram
    = std::vector<std::uint64_t>(buckets, 0);

  /// The histogram bucket of a commit with `n` >= 1 changesets.
  static std::size_t bucket_of(std::size_t n);
};

/// The store actor's state (see store_actor_impl).
struct store_actor_state {
  /// A changeset waiting for its commit, and who waits for the reply.
  struct held {
    changeset changes;
    caf::typed_response_promise<std::uint64_t> promise;
  };

  std::unique_ptr<store> db;
  store_settings cfg;
  std::deque<held> pending; // in arrival order
  bool flush_scheduled = false; // a `flush` to self is in the mailbox
  bool backing_off = false;     // the last commit failed; retry is timed
  /// When the timed retry is due; an earlier `flush` is not a retry.
  std::chrono::steady_clock::time_point retry_due{};
  std::size_t attempts = 0;     // failed attempts of the held group
  std::size_t conflicts = 0;    // conflicts with other nodes in a row (retried at once)
  std::size_t isolate = 0;      // apply the next N changesets one by one
  bool marked_clean = false;    // the database says "clean shutdown"
  store_stats stats;

  static inline const char* name = "meetingd.store";
};

/// The STORE actor interface.
using store_actor = caf::typed_actor<
  // Makes a changeset durable; the reply (its commit number) comes only after
  // the COMMIT returned. A changeset the schema refuses gets an error.
  caf::replies_to<commit_atom, changeset>::with<std::uint64_t>,
  // Internal: ends the current group and commits it.
  caf::reacts_to<flush_atom>,
  // Deletes old request records and ended meetings (sent periodically by the
  // actor itself).
  caf::reacts_to<prune_atom>,
  // Clean shutdown: commits what is pending, marks clean shutdown,
  // checkpoints the WAL; replies true when done, false if the pending
  // changes could not be committed (they are not acknowledged).
  caf::replies_to<checkpoint_atom>::with<bool>,
  // The stored reply of (client, request id); empty if none is kept.
  caf::replies_to<lookup_atom, std::string, std::string>::with<std::string>,
  // Counters for admin.stats and benchmarks.
  caf::replies_to<stats_atom>::with<store_stats>,
  // Several nodes: the meetings of these shards, to adopt them
  // (store::load_shards); everything (store::load) if none is named.
  caf::replies_to<load_atom, std::vector<int>>::with<snapshot>,
  // Webhook events still pending, at most this many (store::pending_webhooks):
  // of the shards this node holds (store_settings::shards), of every
  // meeting on a node without shards. An error if the store cannot read them.
  caf::replies_to<outbox_atom, std::uint64_t>::with<std::vector<webhook_record>>>;

/// The behaviour of the store actor. Marks the database as "not cleanly shut
/// down" on start; `checkpoint` marks it clean again.
store_actor::behavior_type
store_actor_impl(store_actor::stateful_pointer<store_actor_state> self,
                 std::unique_ptr<store> db, store_settings cfg);

} // namespace meetingd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::changeset)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::store_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<meetingd::webhook_record>)

namespace meetingd {

/// Commits `changes` (if any) and then runs `after` in the actor. If the
/// store is gone or refuses the changes, `after` never runs, the error is
/// logged and `failed` runs; a pending response promise then breaks, which
/// the gateway answers with 500.
template <class Self, class After, class Failed = void (*)()>
void commit_then(Self* self, const store_actor& store, changeset changes, After after,
                 Failed failed = [] {}) {
  if (changes.empty()) {
    after();
    return;
  }
  self->request(store, caf::infinite, commit_atom::value, std::move(changes))
    .then([after](std::uint64_t) mutable { after(); },
          [failed](caf::error& err) mutable {
            MD_LOG_ERROR("store.commit_failed",
                         log::kv("error", caf::to_string(err)),
                         log::kv("hint", "the store actor is gone; the node is shutting down or broken"));
            failed();
          });
}

} // namespace meetingd
