// The PostgreSQL implementation of `store` (see pg_store.hpp).
#include "persistence/pg_store.hpp"

#include "config/log.hpp"
#include "persistence/change_feed.hpp"
#include "persistence/pg_schema.hpp"
#include "persistence/row_owner_finder.hpp"
#include "persistence/rows.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

namespace meetingd {

namespace {

unix_ms now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// The name a statement is prepared under on every session; errors name it.
std::string prepared_name(rows::statement which) {
  return std::string{"md_"} + rows::name_of(which);
}

/// Binds parameters as text, left to right.
struct binder {
  std::vector<std::string>& out;

  binder& text(const std::string& x) {
    out.push_back(x);
    return *this;
  }
  binder& text(const char* literal) {
    out.emplace_back(literal);
    return *this;
  }
  binder& integer(std::int64_t x) {
    out.push_back(std::to_string(x));
    return *this;
  }
  binder& flag(bool x) {
    out.emplace_back(x ? "t" : "f");
    return *this;
  }
};

/// Reads the columns of one result row, left to right.
struct reader {
  const PGresult* res;
  int row;
  int index = 0;
  std::string* bad = nullptr;

  std::string_view view() {
    const char* p = PQgetvalue(res, row, index);
    auto n = static_cast<std::size_t>(PQgetlength(res, row, index++));
    return {p, n};
  }
  std::string text() {
    return std::string{view()};
  }
  std::int64_t integer() {
    auto v = view();
    std::int64_t x = 0;
    std::from_chars(v.data(), v.data() + v.size(), x);
    return x;
  }
  bool flag() {
    auto v = view();
    return !v.empty() && (v[0] == 't' || v[0] == '1');
  }
  template <class Enum>
  Enum enumeration(std::optional<Enum> (*parse)(std::string_view), const char* column) {
    return rows::parse_column(view(), parse, column, bad);
  }
};

/// One line (libpq's messages span several) and what to check for it.
std::string advice_for(const std::string& message) {
  auto has = [&](const char* s) { return message.find(s) != std::string::npos; };
  if (has("password authentication failed") || has("no password supplied")
      || has("password is required"))
    return "check the user in --db, and its password in PGPASSWORD or ~/.pgpass (mode 0600)";
  if (has("role") && has("does not exist"))
    return "create the role (createuser USER) or name an existing one in --db";
  if (has("database") && has("does not exist"))
    return "create the database (createdb -O USER DBNAME; docs/database.md, \"On PostgreSQL\")";
  if (has("pg_hba.conf"))
    return "allow this host and user in the server's pg_hba.conf, then reload it";
  if (has("permission denied"))
    return "let the user create tables: make it the database's owner (ALTER DATABASE DBNAME "
           "OWNER TO USER) or GRANT CREATE ON SCHEMA public TO USER";
  if (has("Connection refused") || has("could not connect") || has("timeout expired")
      || has("could not translate host name") || has("did not answer")
      || has("No such file or directory"))
    return "is PostgreSQL running and reachable at the host and port in --db? "
           "(listen_addresses, the firewall, pg_hba.conf)";
  if (has("SSL"))
    return "check sslmode and the server's certificate (the URI's ?sslmode=..., sslrootcert=...)";
  return "see PostgreSQL's message; the server's log has more";
}

/// The client id of a change to a `devices` row, if it is one.
const std::string* device_of(const any_change& c) {
  if (auto* d = std::get_if<change::put_device>(&c))
    return &d->row.client;
  if (auto* d = std::get_if<change::delete_device>(&c))
    return &d->client;
  if (auto* d = std::get_if<change::put_device_seq>(&c))
    return &d->client;
  return nullptr;
}

/// ` AND <the shard of column> IN (-1, shards...)`: the rows of the
/// meetings of `shards` (of `count`) only.
std::string in_shards_sql(const std::string& column, const std::vector<int>& shards, int count) {
  auto sql = " AND " + shards::shard_of_sql(column, count) + " IN (-1";
  for (auto s : shards)
    sql += "," + std::to_string(s);
  return sql + ")";
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\t' || c == '\r')
      c = ' ';
  std::string out;
  for (char c : s)
    if (!(c == ' ' && !out.empty() && out.back() == ' '))
      out += c;
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

} // namespace

// -- life cycle ---------------------------------------------------------------

pg_store::pg_store(std::string uri, std::chrono::milliseconds server_timeout)
  : conn_(uri, server_timeout), printable_uri_(pg::printable(uri)) {
}

std::string pg_store::describe() const {
  return printable_uri_;
}

store_error pg_store::failure(const pg::failure& f, const char* doing) const {
  std::string what = "PostgreSQL " + printable_uri_ + ": " + doing + " failed: " + one_line(f.what);
  if (f.retryable)
    what += ": " + advice_for(f.what);
  else
    what += ": the server refused the data itself; this is a bug in meetingd (or a schema "
            "altered by hand): report this line";
  store_error e{std::move(what), f.retryable};
  e.conflict = f.sqlstate == "40P01" || f.sqlstate == "40001";
  return e;
}

std::unique_ptr<pg_store> pg_store::open(const std::string& uri, const store_options& options,
                                         std::string* error) {
  auto server_timeout = options.server_timeout;
  auto fail = [&](std::string what) -> std::unique_ptr<pg_store> {
    if (error)
      *error = "database " + pg::printable(uri) + ": " + one_line(std::move(what));
    return nullptr;
  };
  if (auto problem = pg::check_uri(uri))
    return fail(*problem);
  std::unique_ptr<pg_store> self{new pg_store(uri, server_timeout)};
  self->fence_ = options.fence;
  self->idle_limit_ = options.idle_transaction_limit;
  if (auto err = self->conn_.ensure_connected())
    return fail("cannot connect: " + one_line(err->what) + ": " + advice_for(err->what));
  if (auto err = self->migrate())
    return fail(*err);
  if (auto err = self->prepare_statements())
    return fail("cannot prepare statements (is the schema altered by hand?): " + err->what);
  self->conn_.on_connect([raw = self.get()] { return raw->prepare_statements(); });
  MD_LOG_INFO("store.open", log::kv("db", self->printable_uri_),
              log::kv("schema", pg_schema::latest_version()),
              log::kv("server_version", self->conn_.setting("server_version")),
              log::kv("synchronous_commit", self->conn_.setting("synchronous_commit")),
              log::kv("timeout_ms", server_timeout.count()));
  return self;
}

std::unique_ptr<store> open_pg_store(const std::string& uri, const store_options& options,
                                     std::string* error) {
  return pg_store::open(uri, options, error);
}

std::optional<pg::failure> pg_store::prepare_statements() {
  if (fence_) {
    // A paused node must not hold the fence's row locks for long: the
    // server ends its idle transaction, and the node taking over goes on.
    auto limit = "SET idle_in_transaction_session_timeout = "
                 + std::to_string(std::max<long long>(idle_limit_.count(), 100));
    if (auto out = conn_.exec(limit); out.error)
      return out.error;
    if (auto err = conn_.prepare("md_fence", "SELECT shard, epoch FROM shards WHERE owner = $1 "
                                             "AND shard = ANY($2::integer[]) ORDER BY shard FOR SHARE"))
      return err;
    if (auto err = conn_.prepare("md_notify", std::string{"SELECT pg_notify('"}
                                                + change_feed::channel + "', $1)"))
      return err;
  }
  for (int i = 0; i < rows::statement_count; ++i) {
    auto which = static_cast<rows::statement>(i);
    if (auto err = conn_.prepare(prepared_name(which),
                                 rows::statement_sql(which, rows::dialect::postgresql)))
      return err;
  }
  return std::nullopt;
}

std::optional<std::string> pg_store::migrate() {
  auto lock = std::to_string(pg_schema::migration_lock);
  for (auto& step : pg_schema::migrations()) {
    auto rollback = [&] { conn_.exec("ROLLBACK"); };
    auto explained = [](const pg::failure& f) {
      return one_line(f.what) + ": " + advice_for(f.what);
    };
    auto failed = [&](const char* doing, const pg::failure& f) {
      rollback();
      return std::string{doing} + ": " + explained(f);
    };
    if (auto out = conn_.exec("BEGIN"); out.error)
      return failed("cannot start a migration", *out.error);
    // Nodes starting together take turns; the second finds the work done.
    if (auto out = conn_.exec("SELECT pg_advisory_xact_lock(" + lock + ")"); out.error)
      return failed("cannot take the migration lock", *out.error);
    if (auto out = conn_.exec("CREATE TABLE IF NOT EXISTS meetingd_schema ("
                              " version integer PRIMARY KEY,"
                              " description text NOT NULL,"
                              " applied_at timestamptz NOT NULL DEFAULT now())");
        out.error)
      return failed("cannot create the schema version table", *out.error);
    auto current = conn_.exec("SELECT coalesce(max(version), 0) FROM meetingd_schema");
    if (current.error)
      return failed("cannot read the schema version", *current.error);
    int version = std::atoi(PQgetvalue(current.res.get(), 0, 0));
    if (version > pg_schema::latest_version()) {
      rollback();
      return "the database has schema version " + std::to_string(version)
             + ", newer than this meetingd knows (" + std::to_string(pg_schema::latest_version())
             + "): run the meetingd that wrote it or a newer one, or restore a backup made by "
               "this version";
    }
    if (step.version <= version) {
      conn_.exec("COMMIT");
      continue;
    }
    if (auto out = conn_.exec_script(step.sql); out.error) {
      rollback();
      return "migration to schema version " + std::to_string(step.version) + " ("
             + step.description + ") failed, the database stays at version "
             + std::to_string(version) + ": " + explained(*out.error);
    }
    if (auto out = conn_.exec("INSERT INTO meetingd_schema (version, description) VALUES ($1, $2)",
                              {std::to_string(step.version), step.description});
        out.error)
      return failed("cannot record the schema version", *out.error);
    if (auto out = conn_.exec("COMMIT"); out.error)
      return failed("cannot commit the migration", *out.error);
    MD_LOG_INFO("store.migrated", log::kv("from", version), log::kv("to", step.version),
                log::kv("what", step.description));
  }
  return std::nullopt;
}

// -- apply --------------------------------------------------------------------

std::optional<store_error> pg_store::apply(const std::vector<const changeset*>& batch) {
  std::vector<pg::connection::queued> statements;
  statements.push_back({{}, "BEGIN", {}});
  auto queue = [&](rows::statement which, auto&& bind) {
    pg::connection::queued q{prepared_name(which), {}, {}};
    binder b{q.params};
    bind(b);
    statements.push_back(std::move(q));
    return 0;
  };
  // Device rows are the rows two nodes write at once (a login on one, an
  // event number on another): every transaction writes them last and in
  // the order of their client ids, so that two never wait for each other.
  std::vector<std::pair<std::string, const any_change*>> device_rows;
  for (const auto* cs : batch)
    for (const auto& change : cs->changes) {
      if (auto* client = device_of(change)) {
        device_rows.emplace_back(*client, &change);
        continue;
      }
      rows::write(change, queue, 0);
    }
  std::stable_sort(device_rows.begin(), device_rows.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [client, change] : device_rows)
    rows::write(*change, queue, 0);
  if (fence_)
    return apply_fenced(batch, std::move(statements));
  statements.push_back({{}, "COMMIT", {}});
  return committed(conn_.pipeline(statements));
}

std::optional<store_error> pg_store::committed(std::optional<pg::failure> err) {
  if (err) {
    reported_down_ = reported_down_ || err->retryable;
    return failure(*err, "committing");
  }
  if (reported_down_) {
    reported_down_ = false;
    MD_LOG_INFO("store.reconnected", log::kv("db", printable_uri_));
  }
  return std::nullopt;
}

std::optional<store_error>
pg_store::apply_fenced(const std::vector<const changeset*>& batch,
                       std::vector<pg::connection::queued> statements) {
  // The shards written for, and the epochs this node holds them at.
  std::map<int, std::int64_t> expected;
  std::vector<int> not_held;
  for (const auto* cs : batch)
    for (auto& meeting : meetings_written(*cs)) {
      auto shard = fence_->shard_of(meeting);
      if (expected.count(shard))
        continue;
      auto epoch = fence_->epoch_of(shard);
      expected[shard] = epoch;
      if (epoch == 0)
        not_held.push_back(shard);
    }
  auto fenced = [&](std::vector<int> shards) {
    store_error e;
    e.what = "PostgreSQL " + printable_uri_ + ": the lease of shard(s)";
    for (auto s : shards)
      e.what += " " + std::to_string(s);
    e.what += " is no longer this node's: another node serves their meetings now";
    e.fenced = std::move(shards);
    return e;
  };
  if (!not_held.empty())
    return fenced(std::move(not_held));
  if (expected.empty()) {
    // Nothing of a shard (users, devices, replies): no fence, but the
    // other nodes hear of it.
    for (auto& payload : change_feed::encode(fence_->me(), batch))
      statements.push_back({"md_notify", {}, {std::move(payload)}});
    statements.push_back({{}, "COMMIT", {}});
    return committed(conn_.pipeline(statements));
  }
  // BEGIN, then the fence: the shard rows locked FOR SHARE until COMMIT, so
  // no node can take them meanwhile; then the writes. One round trip, and
  // COMMIT (or ROLLBACK) a second.
  std::vector<int> shards;
  for (auto& [s, e] : expected)
    shards.push_back(s);
  std::string array = "{";
  for (auto s : shards)
    array += (array.size() > 1 ? "," : "") + std::to_string(s);
  array += "}";
  statements.insert(statements.begin() + 1, {"md_fence", {}, {fence_->me(), array}});
  // What the other nodes keep of it, delivered to them at COMMIT.
  for (auto& payload : change_feed::encode(fence_->me(), batch))
    statements.push_back({"md_notify", {}, {std::move(payload)}});
  std::map<int, std::int64_t> found;
  bool fence_read = false;
  auto err = conn_.pipeline(statements, [&](const PGresult* res) {
    if (fence_read || PQresultStatus(res) != PGRES_TUPLES_OK)
      return;
    fence_read = true;
    for (int i = 0; i < PQntuples(res); ++i) {
      reader r{res, i};
      auto shard = static_cast<int>(r.integer());
      found[shard] = r.integer();
    }
  });
  if (!err) {
    std::vector<int> lost;
    for (auto& [s, e] : expected)
      if (auto it = found.find(s); it == found.end() || it->second != e)
        lost.push_back(s);
    if (!lost.empty()) {
      conn_.exec("ROLLBACK");
      return fenced(std::move(lost));
    }
    if (auto out = conn_.exec("COMMIT"); out.error)
      err = out.error;
  }
  return committed(std::move(err));
}

// -- load ---------------------------------------------------------------------

snapshot pg_store::load(unix_ms requests_since, unix_ms ended_since) {
  return load_some(requests_since, ended_since, nullptr);
}

snapshot pg_store::load_shards(const std::vector<int>& shards, int count, unix_ms ended_since) {
  shard_filter filter{shards, count};
  return load_some(0, ended_since, &filter);
}

snapshot pg_store::load_some(unix_ms requests_since, unix_ms ended_since,
                             const shard_filter* only) {
  snapshot result;
  std::string bad; // first unreadable enum value
  // Runs `sql` with `params`, calling `row` for each result row.
  auto query = [&](const char* doing, const std::string& sql,
                   const std::vector<std::string>& params, auto&& row) {
    if (result.error)
      return;
    // Row by row as they arrive: 100k meetings' rows are never held whole.
    auto err = conn_.stream(sql, params, [&](const PGresult* res) {
      reader r{res, 0, 0, &bad};
      row(r);
    });
    if (err)
      result.error = failure(*err, doing);
  };
  // One snapshot of all tables.
  if (auto out = conn_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); out.error) {
    result.error = failure(*out.error, "starting to load");
    return result;
  }
  // Only the meetings of some shards (a node adopting them), or all.
  std::string in_shards;
  if (only)
    in_shards = in_shards_sql("m.id", only->shards, only->count);
  const std::string live = "NOT (m.status = 'ended' AND m.channel_deleted)" + in_shards;
  auto& live_meetings = result.live_meetings;
  query("counting meetings", "SELECT count(*) FROM meetings m WHERE " + live, {},
        [&](reader& r) { live_meetings.reserve(static_cast<std::size_t>(r.integer())); });
  // In id order, and their rows in the same order: each row finds its
  // meeting by walking forward (row_owner_finder).
  query("loading meetings",
        "SELECT " + rows::joined(rows::meeting_cols, "m.") + " FROM meetings m WHERE " + live
          + " ORDER BY m.id",
        {}, [&](reader& r) { rows::read(r, live_meetings.emplace_back()); });
  row_owner_finder<meeting> owners{live_meetings,
                                   [](const meeting& m) { return std::string_view{m.id}; }};
  auto rows_of_live_meetings = [&](const char* doing, const char* table,
                                   const std::vector<const char*>& cols, auto read) {
    owners.restart();
    query(doing,
          "SELECT " + rows::joined(cols, "c.") + " FROM " + table
            + " c JOIN meetings m ON m.id = c.meeting WHERE " + live + " ORDER BY c.meeting",
          {}, [&](reader& r) {
            if (auto* m = owners.find(r.view()))
              read(r, *m);
          });
  };
  rows_of_live_meetings("loading participants", "participants", rows::participant_cols,
                        [](reader& r, meeting& m) { rows::read_into(r, m.participants, &participant::user); });
  rows_of_live_meetings("loading invitations", "invitations", rows::invitation_cols,
                        [](reader& r, meeting& m) { rows::read_into(r, m.invitations, &invitation::invitee); });
  query("loading ended meetings",
        "SELECT " + rows::joined(rows::meeting_cols, "m.")
          + " FROM meetings m WHERE m.status = 'ended' AND m.channel_deleted AND m.ended_at >= $1"
          + in_shards,
        {std::to_string(ended_since)},
        [&](reader& r) { rows::read(r, result.ended_meetings.emplace_back()); });
  auto all_rows = [&](const char* doing, const char* table, const std::vector<const char*>& cols,
                      auto& out, const std::string& where = {},
                      const std::vector<std::string>& params = {}) {
    query(doing, std::string{"SELECT "} + rows::joined(cols) + " FROM " + table + where, params,
          [&](reader& r) { rows::read(r, out.emplace_back()); });
  };
  if (only) {
    // A shard's meetings only: the rest is the node's already.
    conn_.exec("COMMIT");
    if (!result.error && !bad.empty())
      result.error = store_error{"loading shards of " + printable_uri_ + " failed: unknown value "
                                   + bad + ": fix the row", false};
    return result;
  }
  all_rows("loading users", "users", rows::user_cols, result.users);
  all_rows("loading devices", "devices", rows::device_cols, result.devices);
  all_rows("loading failed logins", "login_failures", rows::login_failure_cols,
           result.login_failures);
  all_rows("loading removed users", "removed_users", rows::removed_user_cols,
           result.removed_users);
  all_rows("loading the request log", "request_log", rows::request_cols, result.requests,
           " WHERE at >= $1", {std::to_string(requests_since)});
  query("loading node_meta", "SELECT value FROM node_meta WHERE key = 'clean_shutdown'", {},
        [&](reader& r) { result.clean_shutdown = r.text() != "0"; });
  conn_.exec("COMMIT");
  if (!result.error && !bad.empty())
    result.error = store_error{"loading " + printable_uri_ + " failed: unknown value " + bad
                                 + ": the database was edited by hand or written by another "
                                   "program; fix the row",
                               false};
  return result;
}

reply_lookup pg_store::stored_reply(const std::string& client, const std::string& id) {
  reply_lookup found;
  auto out = conn_.exec("SELECT reply FROM request_log WHERE client = $1 AND id = $2",
                        {client, id});
  if (out.error) {
    found.error = failure(*out.error, "reading a stored reply");
    return found;
  }
  if (PQntuples(out.res.get()) == 1) {
    reader r{out.res.get(), 0};
    found.reply = r.text();
  }
  return found;
}

// -- maintenance --------------------------------------------------------------

std::size_t pg_store::prune(unix_ms requests_before, unix_ms ended_before) {
  std::vector<pg::connection::queued> statements{
    {{}, "BEGIN", {}},
    {{}, "DELETE FROM request_log WHERE at < " + std::to_string(requests_before), {}},
    {{}, "DELETE FROM participants WHERE meeting IN (SELECT id FROM meetings "
         "WHERE status = 'ended' AND ended_at < " + std::to_string(ended_before) + ")", {}},
    {{}, "DELETE FROM invitations WHERE meeting IN (SELECT id FROM meetings "
         "WHERE status = 'ended' AND ended_at < " + std::to_string(ended_before) + ")", {}},
    {{}, "DELETE FROM meetings WHERE status = 'ended' AND ended_at < "
         + std::to_string(ended_before), {}},
    // Webhook events by their own age: a pending one stays, whatever its meeting.
    {{}, "DELETE FROM webhook_outbox WHERE status <> 'pending' AND settled_at < "
         + std::to_string(ended_before), {}},
    {{}, "COMMIT", {}},
  };
  std::size_t deleted = 0;
  auto err = conn_.pipeline(statements, [&](const PGresult* res) {
    const char* n = PQcmdTuples(const_cast<PGresult*>(res));
    if (n && *n)
      deleted += static_cast<std::size_t>(std::strtoull(n, nullptr, 10));
  });
  if (err) {
    MD_LOG_ERROR("store.prune_failed", log::kv("error", failure(*err, "pruning").what));
    return 0;
  }
  return deleted;
}

std::vector<webhook_record> pg_store::pending_webhooks(const std::vector<int>& shards, int count,
                                                       std::size_t limit) {
  auto sql = "SELECT " + rows::joined(rows::webhook_cols)
             + " FROM webhook_outbox WHERE status = 'pending'"
             + (shards.empty() && count == 0 ? "" : in_shards_sql("meeting", shards, count))
             + " ORDER BY at, meeting, seq, endpoint LIMIT $1";
  auto out = conn_.exec(sql, {std::to_string(std::min<std::size_t>(limit, INT64_MAX))});
  if (out.error)
    throw std::runtime_error(failure(*out.error, "reading the webhook outbox").what);
  std::vector<webhook_record> pending;
  for (int i = 0; i < PQntuples(out.res.get()); ++i) {
    reader r{out.res.get(), i};
    rows::read(r, pending.emplace_back());
  }
  return pending;
}

std::optional<store_error> pg_store::set_clean_shutdown(bool clean) {
  auto out = conn_.exec("INSERT INTO node_meta (key, value, updated_at) "
                        "VALUES ('clean_shutdown', $1, $2) ON CONFLICT (key) DO UPDATE SET "
                        "value = excluded.value, updated_at = excluded.updated_at",
                        {clean ? "1" : "0", std::to_string(now_ms())});
  if (out.error)
    return failure(*out.error, "recording the shutdown state");
  return std::nullopt;
}

std::optional<store_error> pg_store::checkpoint() {
  // The server keeps its own write-ahead log; nothing is left to move.
  return std::nullopt;
}

} // namespace meetingd
