// The narrow interface between meetingd and its durable state. Two
// implementations run: SQLite (persistence/sqlite_store.*, the embedded
// default) and PostgreSQL (persistence/pg_store.*, for state that must
// outlive the node's machine); the in-memory one (persistence/memory_store.*)
// serves tests. `open_store` picks one from --db.
#pragma once

#include "actors/core/changes.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meetingd {

/// A failure of the durable store, with what happened and what to do.
struct store_error {
  std::string what;
  /// True if the same write may succeed later (disk full, I/O error, locked
  /// database): the caller holds its replies and retries. False if the data
  /// itself was refused (a constraint: a bug), so retrying cannot help.
  bool retryable = true;
  /// Shards whose lease this node no longer holds (another node took them,
  /// docs/cluster.md): nothing of the batch was applied, and the changesets
  /// that write for these shards never can be. Empty for other errors.
  std::vector<int> fenced;
  /// The transaction lost a race with another node's (a deadlock, a
  /// serialization failure): nothing was applied, and the same batch is
  /// sent again at once.
  bool conflict = false;
};

/// Everything a restarting node needs to carry on (docs/protocol.md §5).
struct snapshot {
  /// Meetings still active, and ended meetings whose channel is not yet
  /// deleted, with all their participants and invitations.
  std::vector<meeting> live_meetings;
  /// Ended meetings (without rows) kept so that their ids answer 410.
  std::vector<meeting_record> ended_meetings;
  std::vector<user_record> users;
  std::vector<device_record> devices;
  /// Replies of the last idempotency window, for replay of duplicates.
  std::vector<request_record> requests;
  /// Accounts with failed logins since their last success.
  std::vector<login_failures_record> login_failures;
  /// Users removed recently enough that an old ticket could bring them back.
  std::vector<removed_user_record> removed_users;
  /// False if the previous run did not shut down cleanly (crash, kill -9).
  bool clean_shutdown = true;
  /// Set if the state could not be read (corrupt file, unreadable row): the
  /// snapshot is incomplete and the node must not start from it.
  std::optional<store_error> error;
};

/// What a lookup of a stored reply found: the reply, nothing (never stored,
/// or pruned), or an error (the store could not be read just now; the
/// request must not run again as if it were new).
struct reply_lookup {
  std::optional<std::string> reply;
  std::optional<store_error> error;

  explicit operator bool() const {
    return reply.has_value();
  }
  const std::string& operator*() const {
    return *reply;
  }
};

class shard_map;

class store {
public:
  virtual ~store() = default;

  /// Applies all changesets in one transaction, in order. On error nothing
  /// of the batch is applied.
  virtual std::optional<store_error>
  apply(const std::vector<const changeset*>& batch) = 0;

  /// Loads the state to recover. Requests older than `requests_since` and
  /// ended meetings older than `ended_since` are left out.
  virtual snapshot load(unix_ms requests_since, unix_ms ended_since) = 0;

  /// The meetings of `shards` (of `count`), live and recently ended, as
  /// load() has them: what a node loads when it adopts those shards
  /// (docs/cluster.md). Everything else of the snapshot is left empty. This
  /// default loads everything and keeps the shards' meetings; PostgreSQL
  /// asks for them alone.
  virtual snapshot load_shards(const std::vector<int>& shards, int count, unix_ms ended_since);

  /// The reply recorded for request `id` of `client`, if it is (still) kept:
  /// what a duplicate of an answered request gets (docs/protocol.md §4). The
  /// node keeps only the keys in memory; the replies stay here.
  virtual reply_lookup stored_reply(const std::string& client, const std::string& id) = 0;

  /// Deletes request records older than `before`, ended meetings (with
  /// their rows) that ended before `ended_before`, and webhook events that
  /// settled (delivered or given up) before `ended_before`. Returns rows
  /// deleted.
  virtual std::size_t prune(unix_ms requests_before, unix_ms ended_before) = 0;

  /// Webhook events still pending (docs/protocol.md §15), at most `limit`,
  /// ordered by (at, meeting, seq, endpoint): of the meetings in `shards`
  /// (of `count`), or of every meeting if `shards` is empty and `count` is 0
  /// (`in_shards`). What the delivery actor (gateway/webhook_actor.*) picks
  /// up at start, and again for shards it adopts. Throws std::runtime_error
  /// (naming the database and what failed) if the outbox cannot be read.
  virtual std::vector<webhook_record> pending_webhooks(const std::vector<int>& shards, int count,
                                                       std::size_t limit) = 0;

  /// Records whether the node is shutting down cleanly (true) or has just
  /// started (false); load() reports the last value written.
  virtual std::optional<store_error> set_clean_shutdown(bool clean) = 0;

  /// Moves the write-ahead log into the database file (on clean shutdown);
  /// nothing to do for a server database.
  virtual std::optional<store_error> checkpoint() = 0;

  /// Whether the write-ahead log should be copied into the database file
  /// now: it has grown past its limit and no commit is waiting (`idle`), or
  /// it has grown past four times the limit whatever is waiting. The store
  /// actor asks after a group's replies are out and then calls
  /// checkpoint_log(): the copy and its fsync do not run inside the COMMIT
  /// of whichever group crossed the limit, holding that group's replies, and
  /// wait for a gap between groups if one comes. Never for a server database.
  virtual bool log_checkpoint_due(bool /*idle*/) const {
    return false;
  }

  /// Copies the write-ahead log into the database file as far as it can
  /// (SQLite's PASSIVE checkpoint).
  virtual std::optional<store_error> checkpoint_log() {
    return std::nullopt;
  }

  /// What the store is, for logs: the file, or the URI without secrets.
  virtual std::string describe() const = 0;
};

/// Whether `meeting` is in one of `shards` (of `count`, actors/core/shards.hpp);
/// any meeting is when `shards` is empty and `count` is 0 (a node without
/// shards), none is when `shards` is empty otherwise (a node holding none).
bool in_shards(const std::string& meeting, const std::vector<int>& shards, int count);

/// How a SQLite connection uses memory and its write-ahead log
/// (docs/benchmarks.md, "Cost per command", has the measurements).
struct sqlite_tuning {
  /// The page cache: large enough that a commit finds the pages it changes
  /// in memory instead of reading them back with pread.
  std::int64_t cache_kib = 16 * 1024;
  /// Reads of the database file through a memory map: none by default; with
  /// the cache above it saved no read (docs/benchmarks.md) and its pages
  /// would count in the node's RSS.
  std::int64_t mmap_bytes = 0;
  /// The log is copied into the database file once it holds this many
  /// pages, after the replies of the group that crossed it are out.
  int checkpoint_pages = 1000;
  /// A commit's log frames go to the kernel in one write instead of two per
  /// page (persistence/sqlite_wal_writes.hpp).
  bool gather_log_writes = true;
};

/// How to open the store named by --db.
struct store_options {
  /// SQLite: every commit survives power loss, not only process death.
  bool synchronous_full = false;
  sqlite_tuning sqlite;
  /// PostgreSQL: the longest wait for the server's answer to any round trip
  /// (and for a connection); past it the connection is closed and the
  /// write retried on a new one.
  std::chrono::milliseconds server_timeout = std::chrono::seconds(10);
  /// PostgreSQL with several nodes: every commit is conditional on the
  /// epochs this map holds for the shards it writes for (docs/cluster.md).
  std::shared_ptr<const shard_map> fence = nullptr;
  /// With `fence`: how long the server lets a transaction of this node sit
  /// idle (a paused node) before it ends it, releasing the row locks that
  /// would hold up the node taking over.
  std::chrono::milliseconds idle_transaction_limit = std::chrono::seconds(2);
};

/// Opens the store named by `db`: a postgresql:// (or postgres://) URI
/// selects PostgreSQL, anything else is a SQLite file. Creates and migrates
/// the schema as needed. Returns nullptr and sets `*error` (one line naming
/// what to check) on failure.
std::unique_ptr<store> open_store(const std::string& db, const store_options& options,
                                  std::string* error);

/// Opens (creating and migrating as needed) the SQLite database at `path`.
/// `synchronous_full` = true makes every commit survive power loss, not
/// only process death.
std::unique_ptr<store> open_sqlite_store(const std::string& path,
                                         bool synchronous_full,
                                         std::string* error,
                                         const sqlite_tuning& tuning = {});

/// Opens (creating and migrating the schema as needed) the PostgreSQL
/// database at `uri` (postgresql://USER@HOST:PORT/DBNAME; the password comes
/// from PGPASSWORD or ~/.pgpass, never the URI).
std::unique_ptr<store> open_pg_store(const std::string& uri, const store_options& options,
                                     std::string* error);
inline std::unique_ptr<store> open_pg_store(const std::string& uri,
                                            std::chrono::milliseconds server_timeout,
                                            std::string* error) {
  store_options options;
  options.server_timeout = server_timeout;
  return open_pg_store(uri, options, error);
}

/// A store that keeps everything in memory (tests).
std::unique_ptr<store> make_memory_store();

} // namespace meetingd
