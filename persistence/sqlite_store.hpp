// The store that runs: one SQLite connection in WAL mode (schema in
// persistence/schema.*). `open_sqlite_store` (store.hpp) makes one.
//
// - apply(): one BEGIN IMMEDIATE ... COMMIT per batch with cached prepared
//   UPSERT statements; any failure rolls the whole batch back.
// - load(): one query per table, assembled in memory by meeting id.
// - The file is created with mode 0600: it holds channel keys, password
//   hashes and replies with join credentials.
//
// Not thread-safe: one owner (the store actor) uses it at a time.
#pragma once

#include "persistence/rows.hpp"
#include "persistence/store.hpp"

#include <array>
#include <memory>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace meetingd {

class sqlite_store final : public store {
public:
  /// Opens (creating with mode 0600 and migrating as needed) the database at
  /// `path`. Returns nullptr and sets `*error` on failure.
  static std::unique_ptr<sqlite_store>
  open(const std::string& path, bool synchronous_full, std::string* error,
       const sqlite_tuning& tuning = {});

  ~sqlite_store() override;

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  std::optional<store_error>
  apply(const std::vector<const changeset*>& batch) override;
  snapshot load(unix_ms requests_since, unix_ms ended_since) override;
  reply_lookup stored_reply(const std::string& client, const std::string& id) override;
  std::string describe() const override {
    return path_;
  }
  std::size_t prune(unix_ms requests_before, unix_ms ended_before) override;
  std::vector<webhook_record> pending_webhooks(const std::vector<int>& shards, int count,
                                               std::size_t limit) override;
  std::optional<store_error> set_clean_shutdown(bool clean) override;
  std::optional<store_error> checkpoint() override;
  bool log_checkpoint_due(bool idle) const override {
    return checkpoint_pages_ > 0
           && log_pages_ >= (idle ? checkpoint_pages_ : busy_checkpoint_factor * checkpoint_pages_);
  }
  std::optional<store_error> checkpoint_log() override;

  const std::string& path() const {
    return path_;
  }

private:
  sqlite_store(sqlite3* db, std::string path);

  /// Executes SQL without results; true on success.
  bool exec(const char* sql);
  /// Turns the connection's last error into a store_error with advice.
  store_error failure(int rc, const char* doing) const;
  /// Rolls back an open transaction, if any.
  void rollback();
  sqlite3_stmt* prepared(rows::statement which);

  sqlite3* db_;
  std::string path_;
  std::array<sqlite3_stmt*, rows::statement_count> statements_{};
  /// Pages in the write-ahead log after the last commit (SQLite's wal hook).
  int log_pages_ = 0;
  int checkpoint_pages_ = 1000;
  /// While commits keep coming, the log may grow this many times the limit
  /// before a checkpoint runs anyway.
  static constexpr int busy_checkpoint_factor = 4;
};

} // namespace meetingd
