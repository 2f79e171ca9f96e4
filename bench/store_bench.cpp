// store_bench: what group commit buys, and how fast recovery is.
//
//   store_bench [--senders 32] [--seconds 5] [--sync full|normal] [--dir DIR]
//   store_bench --recovery 10000 --recovery 100000 [--keep]
//   store_bench --db postgresql://USER@HOST:PORT/DBNAME ...   (either mode)
//   store_bench --load FILE-OR-URI [--loads 3] [--pg-detail]
//
// Load mode: spawns the store actor on a fresh SQLite file and M sender actors
// that each commit changesets (a meeting row, a participant, a request record:
// what a meeting.create-like command writes) back to back, each waiting for
// its reply, for a fixed time. Then the same with max_batch = 1 (one
// transaction per changeset: no grouping) as the baseline. Prints JSON:
// changesets/s, commits/s, changesets per commit (mean, max), commit-reply
// latency p50/p99, and the ratio grouped / baseline.
//
// Recovery mode: writes N meetings with 2 participants each, reopens the file
// and times open() and load(). Prints JSON.
//
// PostgreSQL (--db URI): the same, on a PostgreSQL server. The URI names a
// database the bench connects to in order to create one database per run
// (the role needs CREATEDB); each run's database is dropped afterwards, or
// kept with --keep (its URI is printed as "db"). The store is the node's
// (open_pg_store: one pipelined transaction per group commit); durability is
// the server's synchronous_commit, reported. Recovery databases are written
// --batch meetings per transaction, then VACUUM ANALYZE'd (what autovacuum
// does to a table soon after a bulk write; --no-vacuum leaves that out), and
// the load reports the server backend's CPU next to this process's.
// --load times open() and load() of an existing database (nothing written):
// the first of --loads in a fresh process and session, as a restarting node
// reads; the later ones reuse them.
// --pg-detail adds, per query of the load, the server's own execution time
// (EXPLAIN ANALYZE), and the time to a complete libpq result in text and in
// binary format, without ORDER BY, and with JIT off.
#include "config/log.hpp"
#include "persistence/pg_connection.hpp"
#include "persistence/rows.hpp"
#include "persistence/store_actor.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <time.h>
#include <unistd.h>

using namespace meetingd;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

std::string make_temp_dir(const std::string& base) {
  std::string tmpl = base + "/store-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "store_bench: cannot create a directory in " << base << "\n";
    std::exit(1);
  }
  return tmpl;
}

/// CPU time of this process in ms (the machine may be shared: wall time
/// alone would also measure other processes).
double cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

unix_ms wall_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

// -- PostgreSQL --------------------------------------------------------------

[[noreturn]] void die(const std::string& what) {
  std::cerr << "store_bench: " << what << "\n";
  std::exit(1);
}

/// `uri` with its database name replaced by `dbname`.
std::string with_dbname(const std::string& uri, const std::string& dbname) {
  auto authority = uri.find("://");
  if (authority == std::string::npos)
    die("not a URI: " + uri);
  auto slash = uri.find('/', authority + 3);
  auto query = uri.find('?', authority + 3);
  if (slash == std::string::npos || (query != std::string::npos && query < slash))
    return uri.substr(0, query) + "/" + dbname
           + (query == std::string::npos ? "" : uri.substr(query));
  return uri.substr(0, slash + 1) + dbname
         + (query == std::string::npos ? "" : uri.substr(query));
}

/// A plain libpq connection for what the store does not do: creating and
/// dropping databases, VACUUM, EXPLAIN, timing single queries.
class pg_admin {
public:
  explicit pg_admin(const std::string& uri) : conn_(PQconnectdb(uri.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK)
      die("cannot connect to " + uri + ": " + PQerrorMessage(conn_));
    // "database ... does not exist, skipping" and the like: not for stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~pg_admin() {
    PQfinish(conn_);
  }
  pg_admin(const pg_admin&) = delete;
  pg_admin& operator=(const pg_admin&) = delete;

  /// Runs `sql`; the rows as text (none for a command).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = PQresultErrorMessage(r);
      PQclear(r);
      die(sql + ": " + why);
    }
    std::vector<std::vector<std::string>> out;
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = out.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j)
        row.emplace_back(PQgetvalue(r, i, j), static_cast<std::size_t>(PQgetlength(r, i, j)));
    }
    PQclear(r);
    return out;
  }
  std::string value(const std::string& sql) {
    auto r = rows(sql);
    return r.empty() || r[0].empty() ? std::string{} : r[0][0];
  }

  /// Runs `sql` with results in `format` (0 text, 1 binary); the wall time
  /// until libpq holds the whole result, in ms, and the number of rows and
  /// of result bytes.
  struct timed {
    double ms = 0;
    int rows = 0;
    std::size_t bytes = 0;
  };
  timed time_query(const std::string& sql, int format) {
    auto t0 = steady::now();
    PGresult* r = PQexecParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, format);
    auto t1 = steady::now();
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      std::string why = PQresultErrorMessage(r);
      PQclear(r);
      die(sql + ": " + why);
    }
    timed out;
    out.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    out.rows = PQntuples(r);
    for (int i = 0; i < out.rows; ++i)
      for (int j = 0; j < PQnfields(r); ++j)
        out.bytes += static_cast<std::size_t>(PQgetlength(r, i, j));
    PQclear(r);
    return out;
  }

private:
  PGconn* conn_;
};

/// CPU time (user + system) of a process in ms, from /proc (a server backend
/// on this machine); -1 if unreadable.
double process_cpu_ms(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  if (pid.empty() || !std::getline(in, line))
    return -1;
  // Fields after the command name (which may hold spaces), from field 3 on.
  auto close = line.rfind(')');
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stod(field);
    if (i == 15)
      stime = std::stod(field);
  }
  return (utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Where a run's store lives: SQLite files in a temporary directory, or a
/// database of its own on the PostgreSQL server `pg` names.
struct target {
  std::string pg; // empty: SQLite

  bool is_pg() const {
    return !pg.empty();
  }
  /// A new, empty database for one run, named after `name`: a file path or a URI.
  std::string create(const std::string& base, const std::string& name) const {
    if (!is_pg())
      return make_temp_dir(base) + "/" + name + ".db";
    auto dbname = "store_bench_" + std::to_string(::getpid()) + "_" + name;
    pg_admin admin{pg};
    admin.rows("DROP DATABASE IF EXISTS \"" + dbname + "\"");
    admin.rows("CREATE DATABASE \"" + dbname + "\"");
    return with_dbname(pg, dbname);
  }
  std::unique_ptr<store> open(const std::string& db, bool full) const {
    std::string error;
    auto st = is_pg() ? open_pg_store(db, std::chrono::seconds(60), &error)
                      : open_sqlite_store(db, full, &error);
    if (!st)
      die(error);
    return st;
  }
  void drop(const std::string& db) const {
    if (!is_pg()) {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path(db).parent_path(), ec);
      return;
    }
    auto dbname = db.substr(db.rfind('/') + 1);
    dbname = dbname.substr(0, dbname.find('?'));
    pg_admin{pg}.rows("DROP DATABASE IF EXISTS \"" + dbname + "\" WITH (FORCE)");
  }
  /// The server's settings that decide what a commit costs.
  json settings() const {
    json out;
    pg_admin admin{pg};
    for (auto& row : admin.rows("SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                                "('server_version', 'fsync', 'synchronous_commit', "
                                "'shared_buffers', 'full_page_writes', 'jit')"))
      out[row[0]] = row[1];
    return out;
  }
};

meeting_record make_meeting(const std::string& id, unix_ms now) {
  meeting_record m;
  m.id = id;
  m.title = "weekly planning " + id;
  m.creator = "user-" + id;
  m.channel = {"ch-" + id, "0123456789abcdef0123456789abcdef", "AK-" + id, now / 1000};
  m.created_at = now;
  m.expires_at = now + 48 * 3600 * 1000LL;
  m.idle_deadline = now + 600 * 1000;
  m.expiry_warn_at = m.expires_at - 300 * 1000;
  m.max_participants = 16;
  m.next_order = 3;
  return m;
}

participant make_participant(const std::string& user, role r, unix_ms now) {
  participant p;
  p.user = user;
  p.rtc_user = "rtc-" + user;
  p.r = r;
  p.order = r == role::host ? 1 : 2;
  p.joined_at = now;
  p.session = "sess-0123456789abcdef-" + user;
  p.token_expires_at = now + 24 * 3600 * 1000LL;
  p.token_warn_at = p.token_expires_at - 300 * 1000;
  return p;
}

/// A meeting.create-like changeset: meeting row, host participant, reply.
changeset make_changeset(int sender, std::uint64_t n) {
  auto now = wall_now();
  auto id = "b-" + std::to_string(sender) + "-" + std::to_string(n);
  changeset cs;
  cs.add(change::put_meeting{make_meeting(id, now)});
  cs.add(change::put_participant{id, make_participant("host-" + id, role::host, now)});
  cs.add(change::put_request{
    {"GID_MEETING_DOWN@@@dev-" + std::to_string(sender), "r-" + std::to_string(n),
     R"({"id":"r-)" + std::to_string(n) + R"(","type":"reply","code":0,"data":{"meeting":")"
       + id + R"(","token":"0123456789abcdef0123456789abcdef0123456789abcdef"}})",
     now}});
  return cs;
}

struct sender_result {
  std::vector<double> latencies_ms;
};

struct sender_state {
  store_actor store;
  int id = 0;
  std::uint64_t n = 0;
  steady::time_point until;
  std::shared_ptr<sender_result> result;
  caf::actor report_to;
  static inline const char* name = "store_bench.sender";
};

using sender_ptr = caf::stateful_actor<sender_state>*;

/// Sends the next commit, or reports `done` when the time is up.
void send_next(sender_ptr self) {
  auto& st = self->state;
  if (steady::now() >= st.until) {
    self->send(st.report_to, done_atom::value, st.id);
    self->quit();
    return;
  }
  auto start = steady::now();
  self->request(st.store, caf::infinite, commit_atom::value, make_changeset(st.id, st.n++))
    .then(
      [=](std::uint64_t) {
        self->state.result->latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(steady::now() - start).count());
        send_next(self);
      },
      [=](caf::error& err) {
        std::cerr << "store_bench: commit failed: " << to_string(err) << "\n";
        self->send(self->state.report_to, done_atom::value, self->state.id);
        self->quit();
      });
}

/// Commits back to back, each after the previous reply, until `until`.
caf::behavior sender(sender_ptr self, store_actor st, int id, steady::time_point until,
                     std::shared_ptr<sender_result> result, caf::actor report_to) {
  self->state.store = std::move(st);
  self->state.id = id;
  self->state.until = until;
  self->state.result = std::move(result);
  self->state.report_to = std::move(report_to);
  send_next(self);
  return {[](caf::unit_t) {}};
}

double percentile(std::vector<double>& xs, double p) {
  if (xs.empty())
    return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  std::nth_element(xs.begin(), xs.begin() + static_cast<long>(k), xs.end());
  return xs[k];
}

json run_load(caf::actor_system& sys, const target& where, const std::string& base,
              int senders, double seconds, bool full, std::size_t max_batch) {
  auto path = where.create(base, "load_" + std::to_string(max_batch));
  auto db = where.open(path, full);
  store_settings cfg;
  cfg.max_batch = max_batch;
  auto st = sys.spawn<caf::detached>(store_actor_impl, std::move(db), cfg);
  caf::scoped_actor self{sys};
  std::vector<std::shared_ptr<sender_result>> results;
  auto start = steady::now();
  auto until = start + std::chrono::duration_cast<steady::duration>(
                         std::chrono::duration<double>(seconds));
  for (int i = 0; i < senders; ++i) {
    results.push_back(std::make_shared<sender_result>());
    sys.spawn(sender, st, i, until, results.back(), caf::actor_cast<caf::actor>(self));
  }
  for (int i = 0; i < senders; ++i)
    self->receive([](done_atom, int) {});
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  store_stats stats;
  self->request(st, caf::infinite, stats_atom::value)
    .receive([&](const store_stats& s) { stats = s; },
             [&](caf::error& err) { std::cerr << to_string(err) << "\n"; });
  self->send_exit(st, caf::exit_reason::user_shutdown);
  self->wait_for(st);
  std::vector<double> latencies;
  for (auto& r : results)
    latencies.insert(latencies.end(), r->latencies_ms.begin(), r->latencies_ms.end());
  double total_latency = 0;
  for (auto x : latencies)
    total_latency += x;
  auto replies = static_cast<double>(latencies.size());
  json out;
  out["max_batch"] = max_batch;
  out["seconds"] = elapsed;
  out["changesets"] = stats.changesets;
  out["commits"] = stats.commits;
  out["changesets_per_s"] = replies / elapsed;
  out["commits_per_s"] = static_cast<double>(stats.commits) / elapsed;
  out["changesets_per_commit_mean"]
    = stats.commits ? static_cast<double>(stats.changesets) / static_cast<double>(stats.commits) : 0;
  out["changesets_per_commit_max"] = stats.max_batch;
  out["changes_per_commit_mean"]
    = stats.commits ? static_cast<double>(stats.changes) / static_cast<double>(stats.commits) : 0;
  out["commit_ms_mean"] = stats.commits ? stats.total_commit_ms / static_cast<double>(stats.commits) : 0;
  out["commit_ms_max"] = stats.max_commit_ms;
  out["commit_cpu_ms_mean"]
    = stats.commits ? stats.total_commit_cpu_ms / static_cast<double>(stats.commits) : 0;
  out["reply_latency_ms_mean"] = replies > 0 ? total_latency / replies : 0;
  out["reply_latency_ms_p50"] = percentile(latencies, 0.50);
  out["reply_latency_ms_p99"] = percentile(latencies, 0.99);
  out["batch_histogram"] = stats.batch_histogram;
  where.drop(path);
  return out;
}

/// The queries pg_store::load() runs for live meetings and their rows
/// (persistence/pg_store.cpp), by name, with and without their ORDER BY.
std::vector<std::pair<std::string, std::string>> load_queries() {
  const std::string live = "NOT (m.status = 'ended' AND m.channel_deleted)";
  auto rows_of = [&](const char* table, const std::vector<const char*>& cols) {
    return "SELECT " + rows::joined(cols, "c.") + " FROM " + table
           + " c JOIN meetings m ON m.id = c.meeting WHERE " + live;
  };
  return {
    {"count", "SELECT count(*) FROM meetings m WHERE " + live},
    {"meetings", "SELECT " + rows::joined(rows::meeting_cols, "m.") + " FROM meetings m WHERE "
                   + live + " ORDER BY m.id"},
    {"participants", rows_of("participants", rows::participant_cols) + " ORDER BY c.meeting"},
    {"invitations", rows_of("invitations", rows::invitation_cols) + " ORDER BY c.meeting"},
  };
}

double json_number(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

/// Per load query: the server's execution (EXPLAIN ANALYZE: no rows sent),
/// and the wall time to a complete libpq result, text and binary, without
/// the ORDER BY, with JIT off. Each timing is the best of `repeat`.
json pg_detail(const std::string& uri, int repeat) {
  pg_admin admin{uri};
  json out = json::array();
  for (auto& [name, sql] : load_queries()) {
    json q;
    q["query"] = name;
    q["sql"] = sql;
    auto best = [&](auto&& f) {
      double m = 1e18;
      for (int i = 0; i < repeat; ++i)
        m = std::min(m, f());
      return m;
    };
    json plan;
    q["server_execution_ms"] = best([&] {
      plan = json::parse(admin.value("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql))[0];
      return json_number(plan, "Execution Time");
    });
    q["server_planning_ms"] = json_number(plan, "Planning Time");
    if (plan.contains("JIT"))
      q["jit_ms"] = plan["JIT"]["Timing"]["Total"];
    q["plan"] = plan["Plan"];
    std::string text;
    for (auto& row : admin.rows("EXPLAIN (ANALYZE, TIMING OFF, COSTS ON) " + sql))
      text += row[0] + "\n";
    q["plan_text"] = text;
    pg_admin::timed t{};
    q["text_result_ms"] = best([&] { t = admin.time_query(sql, 0); return t.ms; });
    q["rows"] = t.rows;
    q["text_bytes"] = t.bytes;
    q["binary_result_ms"] = best([&] { t = admin.time_query(sql, 1); return t.ms; });
    q["binary_bytes"] = t.bytes;
    auto order = sql.find(" ORDER BY");
    if (order != std::string::npos)
      q["text_result_unordered_ms"]
        = best([&] { return admin.time_query(sql.substr(0, order), 0).ms; });
    admin.rows("SET jit = off");
    q["text_result_jit_off_ms"] = best([&] { return admin.time_query(sql, 0).ms; });
    admin.rows("RESET jit");
    out.push_back(std::move(q));
  }
  return out;
}

void time_load(const target& where, const std::string& path, int loads, bool detail, json& out);

json run_recovery(const target& where, const std::string& base, int meetings, int batch_size,
                  bool keep, bool vacuum, int loads, bool detail) {
  auto path = where.create(base, "recovery_" + std::to_string(meetings));
  json out;
  {
    auto db = where.open(path, false);
    auto now = wall_now();
    auto w0 = steady::now();
    std::vector<changeset> batch;
    for (int i = 0; i < meetings; ++i) {
      auto id = "m-" + std::to_string(i);
      changeset cs;
      // Two joined participants: no idle deadline, as the node writes it (a
      // stale one would wake every meeting of a database older than 10 min).
      auto m = make_meeting(id, now);
      m.idle_deadline = 0;
      cs.add(change::put_meeting{std::move(m)});
      cs.add(change::put_participant{id, make_participant("alice-" + id, role::host, now)});
      cs.add(change::put_participant{id, make_participant("bob-" + id, role::member, now)});
      batch.push_back(std::move(cs));
      if (static_cast<int>(batch.size()) == batch_size || i + 1 == meetings) {
        std::vector<const changeset*> ptrs;
        for (auto& c : batch)
          ptrs.push_back(&c);
        if (auto err = db->apply(ptrs))
          die(err->what);
        batch.clear();
      }
    }
    db->checkpoint();
    out["write_ms"] = std::chrono::duration<double, std::milli>(steady::now() - w0).count();
    out["write_batch"] = batch_size;
  }
  if (where.is_pg() && vacuum) {
    auto v0 = steady::now();
    pg_admin{path}.rows("VACUUM ANALYZE");
    out["vacuum_analyze_ms"] = std::chrono::duration<double, std::milli>(steady::now() - v0).count();
  }
  time_load(where, path, loads, detail, out);
  if (keep) {
    out["db"] = path;
    return out;
  }
  where.drop(path);
  return out;
}

/// Times open() and `loads` load()s of the database at `path`, into `out`.
void time_load(const target& where, const std::string& path, int loads, bool detail, json& out) {
  auto t0 = steady::now();
  auto db = where.open(path, true);
  auto t1 = steady::now();
  // The server's side of the load: the CPU of the store's backend.
  std::string backend;
  std::unique_ptr<pg_admin> admin;
  if (where.is_pg()) {
    admin = std::make_unique<pg_admin>(path);
    backend = admin->value("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'meetingd' AND pid <> pg_backend_pid()");
  }
  json runs = json::array();
  snapshot s;
  for (int k = 0; k < loads; ++k) {
    auto b1 = process_cpu_ms(backend);
    auto l0 = steady::now();
    auto c1 = cpu_ms();
    s = db->load(0, 0);
    auto c2 = cpu_ms();
    auto l1 = steady::now();
    auto b2 = process_cpu_ms(backend);
    if (s.error)
      die(s.error->what);
    json run;
    run["load_ms"] = std::chrono::duration<double, std::milli>(l1 - l0).count();
    run["load_cpu_ms"] = c2 - c1;
    if (where.is_pg())
      run["server_cpu_ms"] = b1 >= 0 && b2 >= 0 ? json(b2 - b1) : json(nullptr);
    if (k == 0) {
      out["load_ms"] = run["load_ms"];
      out["load_cpu_ms"] = run["load_cpu_ms"];
      if (where.is_pg())
        out["server_cpu_ms"] = run["server_cpu_ms"];
    }
    runs.push_back(std::move(run));
  }
  std::size_t participants = 0;
  for (auto& m : s.live_meetings)
    participants += m.participants.size();
  out["meetings"] = s.live_meetings.size();
  out["participants"] = participants;
  out["open_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
  if (loads > 1) {
    out["loads"] = runs;
    double best = 1e18;
    for (auto& r : runs)
      best = std::min(best, r["load_ms"].get<double>());
    out["load_ms_min"] = best;
  }
  db.reset();
  if (where.is_pg()) {
    out["db_bytes"] = std::stoll(admin->value("SELECT pg_database_size(current_database())"));
    if (detail)
      out["queries"] = pg_detail(path, 3);
  } else {
    out["db_bytes"] = std::filesystem::file_size(path);
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"store_bench: group commit throughput and recovery time of the SQLite or "
               "PostgreSQL store"};
  int senders = 32;
  double seconds = 5;
  std::string sync = "full";
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  std::vector<int> recovery;
  std::string existing;
  bool keep = false;
  std::string db_uri;
  int batch = 1000;
  bool no_vacuum = false;
  int loads = 1;
  bool detail = false;
  app.add_option("--senders", senders, "concurrent committing actors")->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "duration of each load run")->check(CLI::PositiveNumber);
  app.add_option("--sync", sync, "SQLite synchronous level")->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--dir", dir, "where the temporary database goes")->check(CLI::ExistingDirectory);
  app.add_option("--recovery", recovery, "time load() of N meetings with 2 participants (repeatable)");
  app.add_flag("--keep", keep, "keep the recovery databases (their paths are printed)");
  app.add_option("--db", db_uri,
                 "PostgreSQL instead of SQLite: postgresql://USER@HOST:PORT/DBNAME of a database "
                 "to connect to; each run creates (and drops) a database of its own there");
  app.add_option("--load", existing,
                 "time open() and load() of this existing database (a file, or a postgresql:// "
                 "URI), --loads times; nothing is written")
    ->excludes("--recovery");
  app.add_option("--batch", batch, "meetings per transaction when writing recovery databases")
    ->check(CLI::PositiveNumber);
  app.add_flag("--no-vacuum", no_vacuum, "PostgreSQL: no VACUUM ANALYZE before the timed load");
  app.add_option("--loads", loads, "time load() this many times (the first is load_ms)")
    ->check(CLI::PositiveNumber);
  app.add_flag("--pg-detail", detail,
               "PostgreSQL: time each load query alone (EXPLAIN ANALYZE, text, binary, "
               "unordered, JIT off)");
  CLI11_PARSE(app, argc, argv);
  log::configure("warn"); // logs to stderr; stdout is the JSON

  target where{db_uri};
  if (!db_uri.empty() && !pg::is_uri(db_uri))
    die("--db takes a postgresql:// URI (SQLite is the default, in --dir)");
  json out;
  out["store"] = where.is_pg() ? "postgresql" : "sqlite";
  if (where.is_pg())
    out["server"] = where.settings();
  if (!existing.empty()) {
    target at{pg::is_uri(existing) ? existing : std::string{}};
    out["store"] = at.is_pg() ? "postgresql" : "sqlite";
    if (at.is_pg())
      out["server"] = at.settings();
    json one;
    time_load(at, existing, loads, detail, one);
    out["load"] = one;
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  if (!recovery.empty()) {
    for (int n : recovery)
      out["recovery"].push_back(run_recovery(where, dir, n, batch, keep, !no_vacuum, loads, detail));
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  bool full = sync == "full";
  out["senders"] = senders;
  out["synchronous"] = where.is_pg() ? "server: synchronous_commit="
                                         + out["server"]["synchronous_commit"].get<std::string>()
                                     : sync;
  out["grouped"] = run_load(sys, where, dir, senders, seconds, full, 1024);
  out["baseline_max_batch_1"] = run_load(sys, where, dir, senders, seconds, full, 1);
  double grouped = out["grouped"]["changesets_per_s"];
  double baseline = out["baseline_max_batch_1"]["changesets_per_s"];
  out["throughput_ratio"] = baseline > 0 ? grouped / baseline : 0;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
