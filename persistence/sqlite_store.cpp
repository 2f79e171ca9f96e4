// The SQLite implementation of `store` (see sqlite_store.hpp).
#include "persistence/sqlite_store.hpp"
#include "persistence/sqlite_wal_writes.hpp"

#include "config/log.hpp"
#include "persistence/row_owner_finder.hpp"
#include "persistence/rows.hpp"
#include "persistence/schema.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace meetingd {

namespace {

unix_ms now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Binds parameters left to right; remembers the first failure.
struct binder {
  sqlite3_stmt* stmt;
  int index = 1;
  int rc = SQLITE_OK;

  binder& text(const std::string& x) {
    keep(sqlite3_bind_text(stmt, index++, x.data(),
                           static_cast<int>(x.size()), SQLITE_STATIC));
    return *this;
  }
  /// For string literals only (bound without a copy).
  binder& text(const char* literal) {
    keep(sqlite3_bind_text(stmt, index++, literal, -1, SQLITE_STATIC));
    return *this;
  }
  binder& integer(std::int64_t x) {
    keep(sqlite3_bind_int64(stmt, index++, x));
    return *this;
  }
  binder& flag(bool x) {
    return integer(x ? 1 : 0);
  }
  void keep(int result) {
    if (rc == SQLITE_OK)
      rc = result;
  }
};

/// Reads columns left to right.
struct reader {
  sqlite3_stmt* stmt;
  int index = 0;
  std::string* bad = nullptr; // set to the name of an unreadable enum column

  /// Valid until the next step.
  std::string_view view() {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
    auto n = sqlite3_column_bytes(stmt, index++);
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view{};
  }
  std::string text() {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
    auto n = sqlite3_column_bytes(stmt, index++);
    return p ? std::string(p, static_cast<std::size_t>(n)) : std::string{};
  }
  std::int64_t integer() {
    return sqlite3_column_int64(stmt, index++);
  }
  bool flag() {
    return integer() != 0;
  }
  /// An enum column, read with its parse function (actors/core/enums.hpp).
  template <class Enum>
  Enum enumeration(std::optional<Enum> (*parse)(std::string_view), const char* column) {
    return rows::parse_column(view(), parse, column, bad);
  }
};

/// Steps `stmt` through its rows, calling `row(reader&)` for each while it
/// returns true. SQLITE_OK, or the code of the step that failed.
template <class Row>
int each_row(sqlite3_stmt* stmt, std::string* bad, Row&& row) {
  for (;;) {
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE)
      return SQLITE_OK;
    if (step != SQLITE_ROW)
      return step;
    reader r{stmt, 0, bad};
    if (!row(r))
      return SQLITE_OK;
  }
}

/// What went wrong, in words, and what the operator should do about it.
struct advice {
  const char* what;
  const char* todo;
  bool retryable;
};

advice advise(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return {"the disk is full", "free space on the filesystem holding it",
              true};
    case SQLITE_READONLY:
      return {"the database is read-only",
              "make the file, its -wal/-shm files and its directory writable "
              "by the meetingd user, on a filesystem mounted read-write",
              true};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {"the database file is corrupt or not a meetingd database",
              "stop meetingd, keep a copy of the file with its -wal, and "
              "restore a backup or rebuild it with `sqlite3 FILE .recover`",
              true};
    case SQLITE_IOERR:
      return {"an I/O error occurred",
              "check the disk holding it (dmesg, SMART, network storage)",
              true};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {"the database is locked by another connection",
              "close any sqlite3 session that holds a write transaction on it",
              true};
    case SQLITE_CANTOPEN:
      return {"a file of the database cannot be opened",
              "check that its directory exists and is writable (the -wal and "
              "-shm files live beside it)",
              true};
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return {"access was denied", "check the file's permissions and owner",
              true};
    case SQLITE_NOMEM:
      return {"SQLite ran out of memory", "give the node more memory", true};
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return {"the schema refused the change",
              "this is a bug in meetingd (or a trigger an operator added): "
              "report this line",
              false};
    default:
      return {"SQLite failed", "see SQLite's message", true};
  }
}

bool is_absent(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

} // namespace

// -- life cycle ---------------------------------------------------------------

sqlite_store::sqlite_store(sqlite3* db, std::string path)
  : db_(db), path_(std::move(path)) {
}

sqlite_store::~sqlite_store() {
  for (auto* stmt : statements_)
    sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

std::unique_ptr<sqlite_store>
sqlite_store::open(const std::string& path, bool synchronous_full,
                   std::string* error, const sqlite_tuning& tuning) {
  auto fail = [&](std::string what) -> std::unique_ptr<sqlite_store> {
    if (error)
      *error = "database " + path + ": " + what;
    return nullptr;
  };
  if (path.empty())
    return fail("no path given (--db)");
  // The directory must exist: creating it would hide a mistyped --db.
  auto dir = std::filesystem::path{path}.parent_path();
  if (dir.empty())
    dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return fail("directory " + dir.string()
                + " does not exist: create it (writable by meetingd) or pass "
                  "another --db");
  // Create the file ourselves with mode 0600 (it holds channel keys, password
  // hashes and join credentials); SQLite gives its -wal and -shm files the
  // same mode as the database file.
  if (is_absent(path)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    S_IRUSR | S_IWUSR);
    if (fd < 0 && errno != EEXIST)
      return fail(std::string{"cannot create the file: "}
                  + std::strerror(errno)
                  + " (check that its directory is writable by meetingd)");
    if (fd >= 0)
      ::close(fd);
  } else {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
      MD_LOG_WARN("store.permissions", log::kv("db", path),
                  log::kv("advice", "the database holds secrets: chmod 600 it"));
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                             | SQLITE_OPEN_NOMUTEX,
                           tuning.gather_log_writes ? wal_batching_vfs() : nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    auto a = advise(rc);
    return fail(std::string{"cannot open: "} + msg + ": " + a.todo);
  }
  std::unique_ptr<sqlite_store> self{new sqlite_store(db, path)};
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_db_readonly(db, "main") == 1)
    return fail("the file is read-only: make it and its directory writable "
                "by the meetingd user");
  // journal_mode answers the mode in force; a filesystem without shared
  // memory support leaves it at 'delete'.
  {
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt,
                            nullptr);
    std::string mode;
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      auto p = sqlite3_column_text(stmt, 0);
      mode = p ? reinterpret_cast<const char*>(p) : "";
      rc = SQLITE_OK;
    }
    std::string msg = sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK)
      return fail("cannot switch to WAL mode: " + msg + ": "
                  + advise(rc).todo);
    if (mode != "wal")
      return fail("cannot switch to WAL mode (journal_mode is '" + mode
                  + "'): put the database on a local filesystem");
  }
  const char* sync = synchronous_full ? "PRAGMA synchronous = FULL"
                                      : "PRAGMA synchronous = NORMAL";
  auto cache = "PRAGMA cache_size = -" + std::to_string(tuning.cache_kib);
  auto mmap = "PRAGMA mmap_size = " + std::to_string(tuning.mmap_bytes);
  if (!self->exec(sync) || !self->exec("PRAGMA foreign_keys = ON")
      || !self->exec("PRAGMA journal_size_limit = 67108864") || !self->exec(cache.c_str())
      || !self->exec(mmap.c_str()))
    return fail(std::string{"cannot configure the connection: "}
                + sqlite3_errmsg(db));
  // The hook replaces SQLite's automatic checkpoint, which would run inside
  // the COMMIT that crosses the limit: the store actor runs checkpoint_log
  // once that group's replies are out (log_checkpoint_due).
  self->checkpoint_pages_ = tuning.checkpoint_pages;
  sqlite3_wal_hook(
    db,
    [](void* store, sqlite3*, const char*, int pages) {
      static_cast<sqlite_store*>(store)->log_pages_ = pages;
      return SQLITE_OK;
    },
    self.get());
  if (auto err = schema::migrate(db))
    return fail(*err);
  for (int i = 0; i < rows::statement_count; ++i) {
    auto sql = rows::statement_sql(static_cast<rows::statement>(i), rows::dialect::sqlite);
    rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                            SQLITE_PREPARE_PERSISTENT, &self->statements_[i],
                            nullptr);
    if (rc != SQLITE_OK)
      return fail(std::string{"cannot prepare statements (is the schema "
                              "altered by hand?): "}
                  + sqlite3_errmsg(db));
  }
  MD_LOG_INFO("store.open", log::kv("db", path),
              log::kv("schema", schema::current_version(db)),
              log::kv("synchronous", synchronous_full ? "full" : "normal"));
  return self;
}

std::unique_ptr<store> open_sqlite_store(const std::string& path,
                                         bool synchronous_full,
                                         std::string* error,
                                         const sqlite_tuning& tuning) {
  return sqlite_store::open(path, synchronous_full, error, tuning);
}

// -- helpers ------------------------------------------------------------------

bool sqlite_store::exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

store_error sqlite_store::failure(int rc, const char* doing) const {
  auto a = advise(rc);
  std::string what = std::string{doing} + " on " + path_ + " failed: "
                     + a.what + " (" + sqlite3_errmsg(db_) + ", "
                     + sqlite3_errstr(rc) + "): " + a.todo;
  return store_error{std::move(what), a.retryable};
}

void sqlite_store::rollback() {
  if (!sqlite3_get_autocommit(db_))
    exec("ROLLBACK");
}

sqlite3_stmt* sqlite_store::prepared(rows::statement which) {
  auto* stmt = statements_[which];
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return stmt;
}

// -- apply --------------------------------------------------------------------

std::optional<store_error>
sqlite_store::apply(const std::vector<const changeset*>& batch) {
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    auto err = failure(rc, "starting a transaction");
    rollback();
    return err;
  }
  // Binds `which` with `bind`, steps it to completion; SQLITE_DONE is success.
  auto run = [this](rows::statement which, auto&& bind) {
    auto* stmt = prepared(which);
    binder b{stmt};
    bind(b);
    int result = b.rc != SQLITE_OK ? b.rc : sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return result == SQLITE_DONE ? SQLITE_OK : result;
  };
  auto one = [&](const any_change& change) -> int {
    return rows::write(change, run, int{SQLITE_OK});
  };
  for (const auto* cs : batch) {
    for (const auto& change : cs->changes) {
      rc = one(change);
      if (rc != SQLITE_OK) {
        auto err = failure(rc, "writing a change");
        rollback();
        return err;
      }
    }
  }
  // Deferred foreign keys are checked here: COMMIT may fail too.
  rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    auto err = failure(rc, "committing");
    rollback();
    return err;
  }
  return std::nullopt;
}

// -- load ---------------------------------------------------------------------

snapshot sqlite_store::load(unix_ms requests_since, unix_ms ended_since) {
  snapshot result;
  std::string bad; // first unreadable enum value
  int rc = SQLITE_OK;
  const char* doing = "loading";
  // Runs `sql` with `bind`, calling `row` for each result row.
  auto query = [&](const std::string& sql, auto&& bind, auto&& row) {
    if (rc != SQLITE_OK)
      return;
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()),
                            &stmt, nullptr);
    if (rc == SQLITE_OK) {
      binder b{stmt};
      bind(b);
      rc = b.rc;
    }
    if (rc == SQLITE_OK)
      rc = each_row(stmt, &bad, [&](reader& r) {
        row(r);
        return true;
      });
    if (rc != SQLITE_OK) {
      if (auto err = failure(rc, doing); !result.error)
        result.error = err;
    }
    sqlite3_finalize(stmt);
  };
  auto no_params = [](binder&) {};
  // One read transaction: a consistent view of all tables.
  rc = sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    result.error = failure(rc, "starting to load");
    return result;
  }
  // Live: active, or ended with the channel not yet deleted. Written without
  // OR: an OR over two index ranges makes SQLite de-duplicate every row
  // through a temporary b-tree, which doubles the cost of recovery.
  const std::string live = "NOT (m.status = 'ended' AND m.channel_deleted = 1)";
  auto& live_meetings = result.live_meetings;
  row_owner_finder<meeting> owners{
    live_meetings, [](const meeting& m) { return std::string_view{m.id}; }};
  doing = "counting meetings";
  std::size_t expected = 0;
  query("SELECT count(*) FROM meetings m WHERE " + live, no_params,
        [&](reader& r) { expected = static_cast<std::size_t>(r.integer()); });
  live_meetings.reserve(expected);
  doing = "loading meetings";
  query("SELECT " + rows::joined(rows::meeting_cols, "m.") + " FROM meetings m WHERE "
          + live,
        no_params, [&](reader& r) {
          meeting m;
          rows::read(r, m);
          live_meetings.push_back(std::move(m));
        });
  // The rows of a meeting's table (participants, invitations) whose meeting
  // is live, each read by `read` into the meeting it belongs to. Both come
  // in the meetings' order, so the owner is found by walking forward.
  auto rows_of_live_meetings = [&](const char* what, const char* table,
                                   const std::vector<const char*>& cols, auto read) {
    doing = what;
    owners.restart();
    query("SELECT " + rows::joined(cols, "c.") + " FROM " + table
            + " c JOIN meetings m ON m.id = c.meeting WHERE " + live,
          no_params, [&](reader& r) {
            if (auto* m = owners.find(r.view()))
              read(r, *m);
          });
  };
  rows_of_live_meetings("loading participants", "participants", rows::participant_cols,
                        [](reader& r, meeting& m) { rows::read_into(r, m.participants, &participant::user); });
  rows_of_live_meetings("loading invitations", "invitations", rows::invitation_cols,
                        [](reader& r, meeting& m) { rows::read_into(r, m.invitations, &invitation::invitee); });
  doing = "loading ended meetings";
  query("SELECT " + rows::joined(rows::meeting_cols, "m.")
          + " FROM meetings m WHERE m.status = 'ended' AND m.channel_deleted = 1"
            " AND m.ended_at >= ?1",
        [&](binder& b) { b.integer(ended_since); },
        [&](reader& r) {
          meeting_record m;
          rows::read(r, m);
          result.ended_meetings.push_back(std::move(m));
        });
  // Every row of a table that is loaded whole.
  auto all_rows = [&](const char* what, const char* table, const std::vector<const char*>& cols,
                      auto& out, const char* where, auto bind) {
    doing = what;
    query(std::string{"SELECT "} + rows::joined(cols) + " FROM " + table + where, bind,
          [&](reader& r) { rows::read(r, out.emplace_back()); });
  };
  all_rows("loading users", "users", rows::user_cols, result.users, "", no_params);
  all_rows("loading devices", "devices", rows::device_cols, result.devices, "", no_params);
  all_rows("loading failed logins", "login_failures", rows::login_failure_cols,
           result.login_failures, "", no_params);
  all_rows("loading removed users", "removed_users", rows::removed_user_cols,
           result.removed_users, "", no_params);
  all_rows("loading the request log", "request_log", rows::request_cols, result.requests,
           " WHERE at >= ?1", [&](binder& b) { b.integer(requests_since); });
  doing = "loading node_meta";
  query("SELECT value FROM node_meta WHERE key = 'clean_shutdown'", no_params,
        [&](reader& r) { result.clean_shutdown = r.text() != "0"; });
  rollback(); // ends the read transaction
  if (!result.error && !bad.empty())
    result.error = store_error{"loading " + path_ + " failed: unknown value "
                                 + bad
                                 + ": the database was edited by hand or "
                                   "written by another program; fix the row",
                               false};
  return result;
}

reply_lookup sqlite_store::stored_reply(const std::string& client, const std::string& id) {
  static const char* sql = "SELECT reply FROM request_log WHERE client = ?1 AND id = ?2";
  sqlite3_stmt* stmt = nullptr;
  reply_lookup found;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    binder b{stmt};
    b.text(client).text(id);
    rc = b.rc;
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      found.reply.emplace(text ? text : "",
                          static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
      rc = SQLITE_DONE;
    }
  }
  if (rc != SQLITE_DONE)
    found.error = failure(rc, "reading a stored reply");
  sqlite3_finalize(stmt);
  return found;
}

// -- maintenance --------------------------------------------------------------

std::size_t sqlite_store::prune(unix_ms requests_before, unix_ms ended_before) {
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  std::size_t deleted = 0;
  auto run = [&](const char* sql, std::int64_t param) {
    if (rc != SQLITE_OK)
      return;
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
    if (rc == SQLITE_OK)
      rc = sqlite3_bind_int64(stmt, 1, param);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        deleted += static_cast<std::size_t>(sqlite3_changes(db_));
      }
    }
    sqlite3_finalize(stmt);
  };
  run("DELETE FROM request_log WHERE at < ?1", requests_before);
  run("DELETE FROM participants WHERE meeting IN (SELECT id FROM meetings "
      "WHERE status = 'ended' AND ended_at < ?1)",
      ended_before);
  run("DELETE FROM invitations WHERE meeting IN (SELECT id FROM meetings "
      "WHERE status = 'ended' AND ended_at < ?1)",
      ended_before);
  run("DELETE FROM meetings WHERE status = 'ended' AND ended_at < ?1",
      ended_before);
  // Webhook events by their own age: a pending one stays, whatever its meeting.
  run("DELETE FROM webhook_outbox WHERE status <> 'pending' AND settled_at < ?1", ended_before);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    auto err = failure(rc, "pruning");
    rollback();
    MD_LOG_ERROR("store.prune_failed", log::kv("error", err.what));
    return 0;
  }
  return deleted;
}

std::vector<webhook_record> sqlite_store::pending_webhooks(const std::vector<int>& shards,
                                                           int count, std::size_t limit) {
  // SQLite has no md5(): the shards are picked here (in_shards) as the rows
  // come, in order, instead of in the query.
  bool every = shards.empty() && count == 0;
  auto sql = "SELECT " + rows::joined(rows::webhook_cols)
             + " FROM webhook_outbox WHERE status = 'pending'"
               " ORDER BY at, meeting, seq, endpoint"
             + (every ? " LIMIT ?1" : "");
  std::vector<webhook_record> out;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc == SQLITE_OK && every)
    rc = sqlite3_bind_int64(stmt, 1, static_cast<std::int64_t>(
                                       std::min<std::size_t>(limit, INT64_MAX)));
  if (rc == SQLITE_OK && limit > 0)
    rc = each_row(stmt, nullptr, [&](reader& r) {
      webhook_record w;
      rows::read(r, w);
      if (in_shards(w.meeting, shards, count))
        out.push_back(std::move(w));
      return out.size() < limit;
    });
  std::optional<store_error> err;
  if (rc != SQLITE_OK)
    err = failure(rc, "reading the webhook outbox");
  sqlite3_finalize(stmt);
  if (err)
    throw std::runtime_error(err->what);
  return out;
}

std::optional<store_error> sqlite_store::set_clean_shutdown(bool clean) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(
    db_,
    "INSERT INTO node_meta (key, value, updated_at) "
    "VALUES ('clean_shutdown', ?1, ?2) ON CONFLICT (key) DO UPDATE SET "
    "value = excluded.value, updated_at = excluded.updated_at",
    -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    binder b{stmt};
    b.text(clean ? "1" : "0").integer(now_ms());
    rc = b.rc;
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  std::optional<store_error> result;
  if (rc != SQLITE_OK)
    result = failure(rc, "recording the shutdown state");
  sqlite3_finalize(stmt);
  return result;
}

std::optional<store_error> sqlite_store::checkpoint_log() {
  // PASSIVE, as SQLite's automatic checkpoint: copies what it can; the next
  // commit starts the log from its beginning once all of it is copied.
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  log_pages_ = 0;
  if (rc != SQLITE_OK)
    return failure(rc, "checkpointing the write-ahead log");
  return std::nullopt;
}

std::optional<store_error> sqlite_store::checkpoint() {
  int log_frames = 0;
  int done_frames = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                     &log_frames, &done_frames);
  if (rc != SQLITE_OK)
    return failure(rc, "checkpointing the write-ahead log");
  return std::nullopt;
}

} // namespace meetingd
