// The narrow interface between meetingd and its durable state. The SQLite
// implementation (persistence/sqlite_store.*) is what runs; the in-memory one
// (persistence/memory_store.*) serves tests; a replicated store for a
// multi-node deployment would be a third implementation, not a rewrite of the
// actors (DESIGN.md, "Scale beyond one node").
#pragma once

#include "actors/core/changes.hpp"

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

  /// The reply recorded for request `id` of `client`, if it is (still) kept:
  /// what a duplicate of an answered request gets (docs/protocol.md §4). The
  /// node keeps only the keys in memory; the replies stay here.
  virtual std::optional<std::string> stored_reply(const std::string& client,
                                                  const std::string& id) = 0;

  /// Deletes request records older than `before`, and ended meetings (with
  /// their rows) that ended before `ended_before`. Returns rows deleted.
  virtual std::size_t prune(unix_ms requests_before, unix_ms ended_before) = 0;

  /// Records whether the node is shutting down cleanly (true) or has just
  /// started (false); load() reports the last value written.
  virtual std::optional<store_error> set_clean_shutdown(bool clean) = 0;

  /// Moves the write-ahead log into the database file (on clean shutdown).
  virtual std::optional<store_error> checkpoint() = 0;
};

/// Opens (creating and migrating as needed) the SQLite database at `path`.
/// `synchronous_full` = true makes every commit survive power loss, not
/// only process death.
std::unique_ptr<store> open_sqlite_store(const std::string& path,
                                         bool synchronous_full,
                                         std::string* error);

/// A store that keeps everything in memory (tests).
std::unique_ptr<store> make_memory_store();

} // namespace meetingd
