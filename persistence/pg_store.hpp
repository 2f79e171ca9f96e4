// The store on PostgreSQL: the same contract as SQLite's (store.hpp), on a
// server that outlives the node's machine (docs/database.md, "On PostgreSQL").
//
// - apply(): BEGIN, one prepared upsert or delete per change, COMMIT, sent
//   as one pipeline: one round trip per group commit, however large. Each
//   change writes whole rows (or deletes, or raises a sequence to a
//   maximum), so a batch may be applied twice with the same result: when
//   the connection drops while COMMIT is under way and nobody can know
//   whether it committed, the store actor sends the same batch again.
// - Durable before acknowledged: COMMIT returns after the server's
//   `synchronous_commit` is satisfied, and only then is the batch reported
//   done. What that promises (local disk, a standby's disk, a standby's
//   visible state) is the server's setting; docs/database.md says which.
// - load(): one REPEATABLE READ READ ONLY transaction, one query per table.
// - Every round trip has a deadline (pg_connection.hpp); a lost connection
//   is opened again by the next call, with its statements prepared again.
//
// Not thread-safe: one owner (the store actor) uses it at a time.
#pragma once

#include "persistence/pg_connection.hpp"
#include "persistence/shard_map.hpp"
#include "persistence/store.hpp"

#include <memory>
#include <string>

namespace meetingd {

class pg_store final : public store {
public:
  /// Connects, creates or migrates the schema and prepares the statements.
  /// Returns nullptr and sets `*error` (naming what to check) on failure.
  static std::unique_ptr<pg_store> open(const std::string& uri, const store_options& options,
                                        std::string* error);

  std::optional<store_error> apply(const std::vector<const changeset*>& batch) override;
  snapshot load(unix_ms requests_since, unix_ms ended_since) override;
  snapshot load_shards(const std::vector<int>& shards, int count, unix_ms ended_since) override;
  reply_lookup stored_reply(const std::string& client, const std::string& id) override;
  std::size_t prune(unix_ms requests_before, unix_ms ended_before) override;
  std::vector<webhook_record> pending_webhooks(const std::vector<int>& shards, int count,
                                               std::size_t limit) override;
  std::optional<store_error> set_clean_shutdown(bool clean) override;
  std::optional<store_error> checkpoint() override;
  std::string describe() const override;

private:
  pg_store(std::string uri, std::chrono::milliseconds server_timeout);

  struct shard_filter {
    const std::vector<int>& shards;
    int count;
  };
  snapshot load_some(unix_ms requests_since, unix_ms ended_since, const shard_filter* only);

  /// Prepares every statement on a new session.
  std::optional<pg::failure> prepare_statements();
  /// Brings the schema to this build's version; an error text or nullopt.
  std::optional<std::string> migrate();
  /// A store_error saying what was being done, on which database, and what
  /// to check.
  store_error failure(const pg::failure& f, const char* doing) const;

  /// apply() with the fence: the writes, then COMMIT only if every shard
  /// written for is still held with the same epoch.
  std::optional<store_error> apply_fenced(const std::vector<const changeset*>& batch,
                                          std::vector<pg::connection::queued> statements);

  /// The outcome of a commit: the failure as a store_error, or nullopt;
  /// logs once when commits succeed again after failing.
  std::optional<store_error> committed(std::optional<pg::failure> err);

  pg::connection conn_;
  std::shared_ptr<const shard_map> fence_;
  std::chrono::milliseconds idle_limit_{2000};
  std::string printable_uri_;
  /// Logged once per outage, and once when the connection is back.
  bool reported_down_ = false;
};

} // namespace meetingd
