// Crash consistency: the node is killed with SIGKILL at random points
// (20-300 ms into a round) while devices create meetings, answer
// invitations, join, leave, invite and moderate, many times over. Twelve
// scripts run at once, one meeting each, ten users with one logged-in
// device each; a meeting goes on across kills for three rounds (then an
// admin ends it). The commands of one phase of a script go out together and
// touch different rows; the script chooses the next phase from the node's
// view of the meeting (admin.meeting.get) or its replies. The test keeps no
// model of the meeting's rules: it checks what the node acknowledged, the
// views it gave and what each success reply says its command did, as long as
// no later command may have changed it (see "what the node acknowledged").
// After every kill:
//
//   - the database as the dead node left it (SQLite: a copy of the file;
//     PostgreSQL: read once the server has ended the node's sessions) is
//     checked: every reply a device ever received is in request_log, equal as
//     JSON; every meeting's rows are consistent with each other; and every
//     meeting's rows hold what was acknowledged, with this round's commands
//     counting if their reply came or their request_log row exists, so
//     nothing acknowledged is missing and nothing unacknowledged is half
//     there (a create that committed is complete, one that did not is absent).
//   - the node is restarted on the same file: devices are still logged in;
//     every acknowledged request of the round (and a sample of older ones)
//     sent again with the same id gets the very same reply; every request
//     whose reply never came gets exactly one reply when sent again, and the
//     same one a second time; and the node's own view (admin.meeting.get) of
//     each meeting of the round holds what was acknowledged.
//
// In the end, every ended meeting's channel is deleted at the RTC service,
// the node stops cleanly and the database holds what was acknowledged.
//
// The loop runs on both stores (crash.<test>/sqlite, crash.<test>/postgres:
// a PostgreSQL server of the test's own, up all along).
//
// MEETINGD_CRASH_ITERATIONS sets the number of kills (default 20 on SQLite,
// fewer on PostgreSQL: see pg_iterations),
// MEETINGD_CRASH_SEED the seed (printed; thread timing still varies),
// MEETINGD_KEEP_TEST_DIRS=1 keeps the node's log, and on SQLite the database
// and a copy of it at every kill (snapshot-N/), for a post-mortem.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using namespace meetingd::testing;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;
namespace client = meetingd::client;

namespace {

const std::vector<std::string> k_users{"ann", "ben", "cat", "dan", "eve", "fay",
                                       "gus", "hal", "ivy", "jay"};
/// Users who are only called: they never create or join uninvited and leave
/// soon after accepting, so they are seldom busy and invitations to them
/// ring (busy invitees are not rung).
const std::set<std::string> k_callees{"gus", "hal", "ivy", "jay"};
bool callee(const std::string& u) {
  return k_callees.count(u) > 0;
}
constexpr const char* k_console = "console-1";
constexpr int k_threads = 12;
/// How long replies may still arrive after the kill (they were on the wire).
constexpr auto k_grace = 400ms;

std::string client_of(const std::string& user) {
  return "GID_MEETING_DOWN@@@crash-" + user;
}

int env_int(const char* name, int fallback) {
  auto v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// -- the ledger ---------------------------------------------------------------------

struct command {
  int iter = 0;
  int thread = -1;        // -1: the test's own requests (cleanup)
  std::string meeting;
  int phase = 0;          // position of its phase in the meeting's script
  std::string user;       // sender ("" for the console)
  std::string client;
  std::string id;
  std::string type;
  json args;
  std::optional<json> reply;    // received before the restart: "known"
  std::optional<json> committed; // request_log row at the crash, if no reply was seen
  std::optional<json> resolved;  // learned after the restart (no reply before)
  std::chrono::steady_clock::time_point sent_at, replied_at;
};
using cmd_ptr = std::shared_ptr<command>;

bool replayable(int code) {
  return code != 429 && code != 500 && code != 503;
}

std::string describe(const command& c) {
  std::string s = c.type + " " + c.args.dump() + " by " + (c.user.empty() ? c.client : c.user)
                  + " (id " + c.id + ", phase " + std::to_string(c.phase) + "): ";
  if (c.reply)
    s += "replied " + std::to_string(code_of(*c.reply))
         + (code_of(*c.reply) ? " " + reason_of(*c.reply) : "");
  else if (c.committed)
    s += "no reply; committed at the crash with code " + std::to_string(code_of(*c.committed));
  else
    s += "no reply; not in request_log at the crash";
  if (c.resolved)
    s += "; after restart " + std::to_string(code_of(*c.resolved))
         + (code_of(*c.resolved) ? " " + reason_of(*c.resolved) : "");
  return s;
}

// -- what the node acknowledged -----------------------------------------------------------
//
// The test does not implement the meeting's rules a second time: what a
// meeting must be after a kill is what the node acknowledged before it. That
// is the whole state it showed (admin.meeting.get after every phase of a
// script, and after every restart), then what each success reply says its
// command did (a join acknowledged: the user is in; an end: the meeting is
// over). A command may change more than its reply says (when the host
// leaves, someone else becomes host): `may_change` names, conservatively,
// what each one can touch, and a fact about anything that a later success
// may have touched is dropped rather than guessed. The invariants of any
// state (one host, ...) are checked apart (`inconsistencies`).

/// What is known of a meeting, as key -> value: "meeting.exists" (yes, no),
/// "meeting.state", "meeting.end_reason", "meeting.locked", "meeting.host",
/// "part:<user>.state" (none: no participant row), "part:<user>.role",
/// "part:<user>.audio", "part:<user>.video", "inv:<user>.state" (none: no
/// invitation), "inv:<user>.inviter".
using facts = std::map<std::string, std::string>;

std::string part_key(const std::string& user, const char* what) {
  return "part:" + user + "." + what;
}
std::string inv_key(const std::string& user, const char* what) {
  return "inv:" + user + "." + what;
}
std::string text_of(bool x) {
  return x ? "true" : "false";
}

/// A meeting before anything about it committed.
facts nothing_yet() {
  facts f{{"meeting.exists", "no"}};
  for (auto& u : k_users) {
    f[part_key(u, "state")] = "none";
    f[inv_key(u, "state")] = "none";
  }
  return f;
}

/// What a view of the meeting (the data of meeting.get) shows.
facts facts_of_view(const json& v) {
  facts f{{"meeting.exists", "yes"}};
  auto state = v.value("state", std::string{});
  f["meeting.state"] = state;
  if (state == "ended")
    f["meeting.end_reason"] = v.value("end_reason", std::string{});
  auto parts = v.value("participants", json::array());
  auto invs = v.value("invitations", json::array());
  // An ended meeting whose actor is gone is shown from the directory's
  // summary: no participants, invitations or lock.
  if (state == "ended" && parts.empty() && invs.empty())
    return f;
  f["meeting.locked"] = text_of(v.value("locked", false));
  f["meeting.host"] = v.value("host", std::string{});
  for (auto& u : k_users) {
    f[part_key(u, "state")] = "none";
    f[inv_key(u, "state")] = "none";
  }
  for (auto& p : parts) {
    auto u = p.value("user", std::string{});
    f[part_key(u, "state")] = p.value("state", std::string{});
    f[part_key(u, "role")] = p.value("role", std::string{});
    f[part_key(u, "audio")] = text_of(p.value("audio_muted", false));
    f[part_key(u, "video")] = text_of(p.value("video_muted", false));
  }
  for (auto& i : invs) {
    auto u = i.value("user", std::string{});
    f[inv_key(u, "state")] = i.value("state", std::string{});
    f[inv_key(u, "inviter")] = i.value("inviter", std::string{});
  }
  return f;
}

/// What moderate.mute/unmute(_all) names: neither audio nor video is audio.
std::pair<bool, bool> mute_targets(const json& args) {
  bool has_a = args.contains("audio"), has_v = args.contains("video");
  bool a = has_a && args["audio"].get<bool>();
  bool v = has_v && args["video"].get<bool>();
  if (!has_a && !has_v)
    a = true;
  return {a, v};
}

/// What the success reply of `c` says it did.
facts acknowledged(const command& c, const json& reply) {
  facts f;
  auto& a = c.args;
  auto& t = c.type;
  auto& u = c.user;
  auto target = a.value("user", std::string{});
  json data = reply.contains("data") ? reply["data"] : json::object();
  auto rung = [&](bool new_meeting) {
    if (!data.contains("invitations") || !data["invitations"].is_object())
      return;
    for (auto& [x, outcome] : data["invitations"].items()) {
      if (outcome == "ringing") {
        f[inv_key(x, "state")] = "ringing";
        f[inv_key(x, "inviter")] = u;
      } else if (new_meeting) {
        f[inv_key(x, "state")] = "none"; // busy or offline: not rung
      }
    }
  };
  if (t == "meeting.create") {
    f = nothing_yet();
    f["meeting.exists"] = "yes";
    f["meeting.state"] = "active";
    f["meeting.locked"] = "false";
    f["meeting.host"] = u;
    f[part_key(u, "state")] = "joined";
    f[part_key(u, "role")] = "host";
    rung(true);
  } else if (t == "call.accept") {
    f[part_key(u, "state")] = "joined";
    f[inv_key(u, "state")] = "accepted";
  } else if (t == "call.decline") {
    f[inv_key(u, "state")] = "declined";
  } else if (t == "meeting.join") {
    f[part_key(u, "state")] = "joined";
  } else if (t == "meeting.leave") {
    f[part_key(u, "state")] = "left";
  } else if (t == "meeting.end" || t == "admin.meeting.end") {
    f["meeting.state"] = "ended";
    f["meeting.end_reason"] = t == "meeting.end" ? "ended" : "admin";
  } else if (t == "moderate.lock" || t == "moderate.unlock") {
    f["meeting.locked"] = text_of(t == "moderate.lock");
  } else if (t == "moderate.mute" || t == "moderate.unmute") {
    auto [audio, video] = mute_targets(a);
    auto muted = text_of(t == "moderate.mute");
    if (audio)
      f[part_key(target, "audio")] = muted;
    if (video)
      f[part_key(target, "video")] = muted;
  } else if (t == "moderate.set_role") {
    auto role = a.value("role", std::string{});
    f[part_key(target, "role")] = role;
    if (role == "host" && target != u) {
      f[part_key(u, "role")] = "cohost"; // the old host stays on as cohost
      f["meeting.host"] = target;
    }
  } else if (t == "call.invite") {
    rung(false);
  } else if (t == "moderate.kick") {
    f[part_key(target, "state")] = "kicked";
  }
  // mute_all, unmute_all, cancel: their replies do not say whom they changed.
  return f;
}

/// What a command that succeeded may have changed, its reply aside, as
/// patterns of keys: "*" is every key, "x.*" every key of x, "part:*.role"
/// every participant's role.
std::vector<std::string> may_change(const command& c) {
  auto& t = c.type;
  auto& u = c.user;
  auto target = c.args.value("user", std::string{});
  auto users = [&](const char* what) {
    std::vector<std::string> out;
    for (auto& x : c.args.value("users", json::array()))
      out.push_back("inv:" + x.get<std::string>() + "." + what);
    return out;
  };
  if (t == "meeting.create")
    return {"*"};
  if (t == "call.accept" || t == "meeting.join")
    return {"part:" + u + ".*", inv_key(u, "state"), "part:*.role", "meeting.host"};
  if (t == "call.decline")
    return {inv_key(u, "state")};
  if (t == "meeting.leave")
    return {"part:" + u + ".*", "part:*.role", "meeting.host"};
  if (t == "meeting.end" || t == "admin.meeting.end")
    return {"meeting.state", "meeting.end_reason", "meeting.host", "part:*.state",
            "inv:*.state"};
  if (t == "moderate.lock" || t == "moderate.unlock")
    return {"meeting.locked"};
  if (t == "moderate.mute" || t == "moderate.unmute")
    return {part_key(target, "audio"), part_key(target, "video")};
  if (t == "moderate.mute_all" || t == "moderate.unmute_all")
    return {"part:*.audio", "part:*.video"};
  if (t == "moderate.set_role")
    return {"part:*.role", "meeting.host"};
  if (t == "call.invite")
    return users("*");
  if (t == "call.cancel")
    return users("state");
  if (t == "moderate.kick")
    return {"part:" + target + ".*", inv_key(target, "state"), "part:*.role", "meeting.host"};
  return {"*"}; // a command this list does not know may change anything
}

bool matches(const std::string& pattern, const std::string& key) {
  auto star = pattern.find('*');
  if (star == std::string::npos)
    return pattern == key;
  auto prefix = pattern.substr(0, star);
  auto suffix = pattern.substr(star + 1);
  return key.size() >= prefix.size() + suffix.size() && key.compare(0, prefix.size(), prefix) == 0
         && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A meeting's commands, and the views of it the node gave after a phase
/// (a restart's view counts after the phases sent before it).
struct meeting_history {
  std::vector<cmd_ptr> cmds;
  std::map<int, json> views; // after phase -> the view's data
};

/// The facts about a meeting after its history, `outcome(c)` being the reply
/// that counts for `c` (none: it changed nothing). The commands of one phase
/// go out together, so each may come before the others: what one
/// acknowledges stands only if no other one of the phase may have changed it.
template <class Outcome>
facts known_facts(const meeting_history& h, Outcome outcome) {
  std::map<int, std::vector<std::pair<cmd_ptr, json>>> done; // successes by phase
  std::set<int> steps;
  for (auto& c : h.cmds) {
    steps.insert(c->phase);
    if (auto r = outcome(*c); r && code_of(*r) == 0)
      done[c->phase].emplace_back(c, *r);
  }
  for (auto& [p, view] : h.views)
    steps.insert(p);
  facts f = nothing_yet();
  for (int p : steps) {
    auto& phase = done[p];
    std::vector<std::vector<std::string>> touched;
    for (auto& [c, r] : phase)
      touched.push_back(may_change(*c));
    auto touched_by_other = [&](const std::string& key, std::size_t except) {
      for (std::size_t j = 0; j < touched.size(); ++j)
        if (j != except)
          for (auto& pattern : touched[j])
            if (matches(pattern, key))
              return true;
      return false;
    };
    for (auto i = f.begin(); i != f.end();)
      i = touched_by_other(i->first, touched.size()) ? f.erase(i) : std::next(i);
    for (std::size_t i = 0; i < phase.size(); ++i)
      for (auto& [key, value] : acknowledged(*phase[i].first, phase[i].second))
        if (!touched_by_other(key, i))
          f[key] = value;
    if (auto v = h.views.find(p); v != h.views.end())
      for (auto& [key, value] : facts_of_view(v->second))
        f[key] = value;
  }
  return f;
}

/// Where `got` contradicts `want`, in words; keys `got` cannot show are
/// left out.
std::vector<std::string> contradictions(const facts& want, const facts& got,
                                        const std::string& source) {
  std::vector<std::string> out;
  auto exists = want.find("meeting.exists");
  auto got_exists = got.find("meeting.exists");
  if (exists != want.end() && got_exists != got.end() && exists->second != got_exists->second) {
    out.push_back(exists->second == "yes" ? "acknowledged, but missing from " + source
                                          : "never acknowledged nor committed, but in " + source);
    return out;
  }
  for (auto& [key, value] : want) {
    auto g = got.find(key);
    if (g != got.end() && g->second != value)
      out.push_back(key + ": acknowledged " + value + ", " + source + " has " + g->second);
  }
  return out;
}

// -- the database as the node left it ----------------------------------------------------

struct db_part {
  std::string status, role;
  bool audio = false, video = false;
  int order = 0;
  long long joined_at = 0, left_at = 0;
};
struct db_inv {
  std::string status, inviter;
};
struct db_meeting {
  std::string status, end_reason;
  bool locked = false;
  int next_order = 0;
  long long idle_deadline = 0, ended_at = 0;
  std::map<std::string, db_part> parts;
  std::map<std::string, db_inv> invs;
};
struct db_snapshot {
  std::string error;
  std::string integrity;
  std::vector<std::string> fk_violations;
  std::map<std::string, db_meeting> meetings;
  std::map<std::pair<std::string, std::string>, std::string> requests;
  std::map<std::string, std::string> devices; // client -> user
  std::vector<std::string> orphans;
};

/// A row of a query as text, from either database: SQLite gives flags as
/// 0/1, PostgreSQL as f/t; numbers are digits in both.
using db_row = std::vector<std::string>;
bool flag(const std::string& x) {
  return x == "1" || x == "t";
}
long long number(const std::string& x) {
  return x.empty() ? 0 : std::stoll(x);
}

/// Fills `snap` from the node's tables; `each(sql, f)` calls f for every row
/// of a query. The SQL is the same on both databases (`"user"` quoted: a
/// reserved word in PostgreSQL).
template <class Each>
void read_tables(db_snapshot& snap, Each each) {
  each("SELECT id, status, end_reason, locked, next_order, idle_deadline, ended_at FROM meetings",
       [&](const db_row& r) {
         auto& m = snap.meetings[r[0]];
         m.status = r[1];
         m.end_reason = r[2];
         m.locked = flag(r[3]);
         m.next_order = static_cast<int>(number(r[4]));
         m.idle_deadline = number(r[5]);
         m.ended_at = number(r[6]);
       });
  each("SELECT meeting, \"user\", status, role, audio_muted, video_muted, join_order, joined_at, "
       "left_at FROM participants",
       [&](const db_row& r) {
         auto i = snap.meetings.find(r[0]);
         if (i == snap.meetings.end()) {
           snap.orphans.push_back("participant " + r[1] + " of missing meeting " + r[0]);
           return;
         }
         auto& p = i->second.parts[r[1]];
         p.status = r[2];
         p.role = r[3];
         p.audio = flag(r[4]);
         p.video = flag(r[5]);
         p.order = static_cast<int>(number(r[6]));
         p.joined_at = number(r[7]);
         p.left_at = number(r[8]);
       });
  each("SELECT meeting, invitee, inviter, status FROM invitations", [&](const db_row& r) {
    auto i = snap.meetings.find(r[0]);
    if (i == snap.meetings.end()) {
      snap.orphans.push_back("invitation of " + r[1] + " to missing meeting " + r[0]);
      return;
    }
    i->second.invs[r[1]] = db_inv{r[3], r[2]};
  });
  each("SELECT client, id, reply FROM request_log",
       [&](const db_row& r) { snap.requests[{r[0], r[1]}] = r[2]; });
  each("SELECT client, \"user\" FROM devices",
       [&](const db_row& r) { snap.devices[r[0]] = r[1]; });
}

/// Copies the SQLite database (and its WAL) of the dead node and reads it;
/// the node's own files are not touched.
db_snapshot read_sqlite_snapshot(const std::string& db_path, const std::string& copy_dir) {
  db_snapshot snap;
  fs::create_directories(copy_dir);
  auto copy = copy_dir + "/meetingd.db";
  std::error_code ec;
  fs::remove(copy + "-wal", ec);
  fs::remove(copy + "-shm", ec);
  fs::copy_file(db_path, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    snap.error = "cannot copy " + db_path + ": " + ec.message();
    return snap;
  }
  if (fs::exists(db_path + "-wal"))
    fs::copy_file(db_path + "-wal", copy + "-wal", fs::copy_options::overwrite_existing, ec);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(copy.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    snap.error = std::string{"cannot open the copy: "} + (db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return snap;
  }
  auto each = [&](const char* sql, auto f) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      snap.error += std::string{"cannot run "} + sql + ": " + sqlite3_errmsg(db) + "; ";
      return;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      db_row r;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        auto p = sqlite3_column_text(s, i);
        r.emplace_back(p ? reinterpret_cast<const char*>(p) : "");
      }
      f(r);
    }
    sqlite3_finalize(s);
  };
  each("PRAGMA integrity_check", [&](const db_row& r) { snap.integrity += r[0]; });
  each("PRAGMA foreign_key_check", [&](const db_row& r) {
    snap.fk_violations.push_back(r[0] + " rowid " + r[1] + " -> " + r[2]);
  });
  read_tables(snap, each);
  sqlite3_close(db);
  return snap;
}

/// Reads the PostgreSQL database as the dead node left it: once the server
/// has ended the killed node's sessions (a COMMIT it had sent is then either
/// done or rolled back), in one REPEATABLE READ transaction. The server
/// checks its own pages and the foreign keys (at every COMMIT), so
/// `integrity` is "ok" and there are no fk_violations to list.
db_snapshot read_pg_snapshot(const std::string& uri) {
  db_snapshot snap;
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{
    PQconnectdb((uri + "?connect_timeout=10").c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    snap.error = "cannot connect to " + uri + ": " + PQerrorMessage(conn.get());
    return snap;
  }
  auto each = [&](const std::string& sql, auto f) {
    std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()), &PQclear};
    auto status = PQresultStatus(res.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      snap.error += "cannot run " + sql + ": " + PQresultErrorMessage(res.get()) + "; ";
      return;
    }
    for (int row = 0; row < PQntuples(res.get()); ++row) {
      db_row r;
      for (int col = 0; col < PQnfields(res.get()); ++col)
        r.emplace_back(PQgetvalue(res.get(), row, col));
      f(r);
    }
  };
  long long others = -1;
  auto sessions_left = [&] {
    each("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
         "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
         [&](const db_row& r) { others = number(r[0]); });
    return others == 0;
  };
  if (!eventually(sessions_left, 10s)) {
    snap.error += "the killed node's sessions are still open on the server after 10 s ("
                  + std::to_string(others) + "); ";
    return snap;
  }
  each("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [](const db_row&) {});
  read_tables(snap, each);
  each("COMMIT", [](const db_row&) {});
  snap.integrity = "ok";
  return snap;
}

/// The node's database as it left it (a SQLite copy in `copy_dir`).
db_snapshot read_snapshot(const cluster& c, const std::string& copy_dir) {
  if (c.store() == store_kind::postgres)
    return read_pg_snapshot(c.db_path());
  return read_sqlite_snapshot(c.db_path(), copy_dir);
}

/// Rows that contradict each other, whatever the commands were.
std::vector<std::string> inconsistencies(const std::string& id, const db_meeting& m) {
  std::vector<std::string> out;
  auto bad = [&](std::string what) { out.push_back("meeting " + id + ": " + what); };
  int joined = 0, joined_hosts = 0;
  std::set<int> orders;
  for (auto& [u, p] : m.parts) {
    if (p.status == "joined") {
      ++joined;
      joined_hosts += p.role == "host";
      if (p.left_at != 0 || p.joined_at == 0)
        bad("joined participant " + u + " has joined_at " + std::to_string(p.joined_at)
            + ", left_at " + std::to_string(p.left_at));
    } else if (p.left_at == 0) {
      bad("participant " + u + " is " + p.status + " with no left_at");
    }
    if (m.status == "active" && p.status != "joined" && p.role == "host")
      bad("participant " + u + " is host but " + p.status);
    if (p.order < 1 || p.order >= m.next_order)
      bad("participant " + u + " has join_order " + std::to_string(p.order)
          + " outside 1.." + std::to_string(m.next_order - 1) + " (meetings.next_order "
          + std::to_string(m.next_order) + ")");
    if (!orders.insert(p.order).second)
      bad("join_order " + std::to_string(p.order) + " twice");
  }
  for (auto& [u, i] : m.invs) {
    if (i.status == "accepted" && !m.parts.count(u))
      bad("invitation of " + u + " accepted but no participant row");
    if (i.status == "ringing") {
      auto p = m.parts.find(u);
      if (p != m.parts.end() && p->second.status == "joined")
        bad("invitation of " + u + " ringing while " + u + " is joined");
      if (m.status == "ended")
        bad("invitation of " + u + " still ringing in an ended meeting");
    }
  }
  if (m.status == "active") {
    if (joined > 0 && joined_hosts != 1)
      bad(std::to_string(joined) + " joined participants but " + std::to_string(joined_hosts)
          + " joined hosts");
    if (joined > 0 && m.idle_deadline != 0)
      bad("idle deadline set with participants in it");
    if (joined == 0 && m.idle_deadline == 0)
      bad("empty active meeting without an idle deadline");
  } else if (m.status == "ended") {
    if (joined > 0)
      bad("ended with " + std::to_string(joined) + " joined participants");
    if (m.ended_at == 0 || m.end_reason.empty())
      bad("ended without ended_at/end_reason");
  } else {
    bad("status " + m.status);
  }
  return out;
}

/// What the rows of a meeting hold, in the terms of `facts`; not its host
/// (the row keeps the last host, which a view shows only once it ended).
facts facts_of_rows(const db_meeting* m) {
  if (!m)
    return {{"meeting.exists", "no"}};
  facts f{{"meeting.exists", "yes"},
          {"meeting.state", m->status},
          {"meeting.end_reason", m->end_reason},
          {"meeting.locked", text_of(m->locked)}};
  for (auto& u : k_users) {
    f[part_key(u, "state")] = "none";
    f[inv_key(u, "state")] = "none";
  }
  for (auto& [u, p] : m->parts) {
    f[part_key(u, "state")] = p.status;
    f[part_key(u, "role")] = p.role;
    f[part_key(u, "audio")] = text_of(p.audio);
    f[part_key(u, "video")] = text_of(p.video);
  }
  for (auto& [u, i] : m->invs) {
    f[inv_key(u, "state")] = i.status;
    f[inv_key(u, "inviter")] = i.inviter;
  }
  return f;
}
// -- the workload ---------------------------------------------------------------------

/// What a script knows of its meeting to choose its next commands: the
/// node's last view of it. It only steers the load; the checks use `facts`.
struct belief {
  struct part {
    std::string state, role;
  };
  struct inv {
    std::string state, inviter;
  };
  bool exists = false;
  std::string status;
  std::string host_; // the joined host, as the view names it
  bool locked = false;
  std::map<std::string, part> parts;
  std::map<std::string, inv> invs;

  static belief of(const json& view) {
    belief b;
    b.exists = true;
    b.status = view.value("state", std::string{});
    b.host_ = view.value("host", std::string{});
    b.locked = view.value("locked", false);
    for (auto& p : view.value("participants", json::array()))
      b.parts[p.value("user", std::string{})] =
        part{p.value("state", std::string{}), p.value("role", std::string{})};
    for (auto& i : view.value("invitations", json::array()))
      b.invs[i.value("user", std::string{})] =
        inv{i.value("state", std::string{}), i.value("inviter", std::string{})};
    return b;
  }
  bool ended() const {
    return status == "ended";
  }
  bool joined(const std::string& u) const {
    auto i = parts.find(u);
    return i != parts.end() && i->second.state == "joined";
  }
  bool kicked(const std::string& u) const {
    auto i = parts.find(u);
    return i != parts.end() && i->second.state == "kicked";
  }
  bool moderator(const std::string& u) const {
    auto i = parts.find(u);
    return joined(u) && (i->second.role == "host" || i->second.role == "cohost");
  }
  bool ringing(const std::string& u) const {
    auto i = invs.find(u);
    return i != invs.end() && i->second.state == "ringing";
  }
  std::string host() const {
    return joined(host_) ? host_ : std::string{};
  }
  std::vector<std::string> joined_users() const {
    std::vector<std::string> out;
    for (auto& [u, p] : parts)
      if (p.state == "joined")
        out.push_back(u);
    return out;
  }
  /// Takes in what a reply acknowledged.
  void learn(const facts& f) {
    for (auto& [key, value] : f) {
      auto dot = key.rfind('.');
      auto colon = key.find(':');
      if (key == "meeting.locked")
        locked = value == "true";
      if (colon == std::string::npos || dot == std::string::npos || dot < colon)
        continue;
      auto who = key.substr(colon + 1, dot - colon - 1);
      auto what = key.substr(dot + 1);
      if (key.rfind("part:", 0) == 0 && what == "state")
        parts[who].state = value;
      else if (key.rfind("part:", 0) == 0 && what == "role")
        parts[who].role = value;
      else if (key.rfind("inv:", 0) == 0 && what == "state")
        invs[who].state = value;
      else if (key.rfind("inv:", 0) == 0 && what == "inviter")
        invs[who].inviter = value;
    }
  }
};

/// Whether a success reply of this type says all its command changed in
/// what a script chooses by, so that the script need not look again.
bool says_it_all(const std::string& type) {
  static const std::set<std::string> types{"moderate.lock", "moderate.unlock",
                                           "moderate.mute", "moderate.unmute",
                                           "call.decline",  "call.invite"};
  return types.count(type) > 0;
}

/// A view of the meeting the node acknowledged, taken by a script.
struct seen_view {
  std::string meeting;
  int after_phase = 0;
  json data;
};

struct workload {
  int iter = 0;
  std::map<std::string, client::session*> devices;
  client::session* console = nullptr;
  std::atomic<bool> killed{false};
  steady::time_point kill_time;
  std::mutex mtx;
  std::vector<cmd_ptr> ledger;
  std::vector<seen_view> views;

  cmd_ptr record(cmd_ptr c) {
    std::lock_guard<std::mutex> guard{mtx};
    ledger.push_back(c);
    return c;
  }
  void record(seen_view v) {
    std::lock_guard<std::mutex> guard{mtx};
    views.push_back(std::move(v));
  }
  bool past_grace() const {
    return killed.load() && steady::now() > kill_time + k_grace;
  }
};

/// A thread's meeting, carried on from round to round (across kills) until
/// it ends.
struct slot {
  std::string meeting; // empty: none yet
  belief view;         // the node's last view of it
  int next_phase = 0;
  int born = 0;        // the round that created it
  int created = 0;     // meetings this slot created, for their ids
  bool active() const {
    return !meeting.empty() && view.exists && !view.ended();
  }
};

/// One thread: its meeting's script, phase after phase, a new meeting when
/// one ends. The commands of one phase go out together (from different
/// devices) and touch different rows, so their order does not matter; the
/// next phase waits for every reply, then for the node's view of the
/// meeting, from which it is chosen. A reply or view missing at the kill
/// ends the thread.
class scripter {
public:
  scripter(workload& w, int thread, slot& s, std::uint64_t seed)
    : w_(w), t_(thread), s_(s), meeting_(s.meeting), b_(s.view), phase_(s.next_phase),
      rng_(seed) {
  }

  void run() {
    while (!w_.killed.load()) {
      if (!s_.active()) {
        meeting_ = "c" + std::to_string(w_.iter) + "-t" + std::to_string(t_) + "-"
                   + std::to_string(s_.created++);
        b_ = belief{};
        phase_ = 0;
        s_.born = w_.iter;
        std::vector<std::string> callers, callees;
        for (auto& u : k_users)
          (callee(u) ? callees : callers).push_back(u);
        auto host = one_of(callers);
        auto invitees = some_of(callees, 3);
        if (chance(0.3))
          invitees.push_back(one_of(others(std::vector<std::string>{host})));
        json args{{"title", "crash " + meeting_}, {"invitees", invitees}};
        if (!run_phase({make(host, "meeting.create", args)}) || !look())
          return;
        continue;
      }
      // A phase may come out empty (nobody chosen to join); draw again.
      std::vector<cmd_ptr> phase;
      for (int draw = 0; draw < 100 && phase.empty(); ++draw)
        phase = next_phase();
      if (phase.empty())
        return; // cannot happen: a meeting in the script always has its host
      if (!run_phase(phase))
        return;
      bool told_all = true;
      for (auto& c : phase)
        if (code_of(*c->reply) == 0) {
          told_all = told_all && says_it_all(c->type);
          b_.learn(acknowledged(*c, *c->reply));
        }
      if (!told_all && !look())
        return;
    }
  }

private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>{0, n - 1}(rng_);
  }
  bool chance(double p) {
    return std::uniform_real_distribution<double>{0, 1}(rng_) < p;
  }
  template <class T>
  T one_of(const std::vector<T>& xs) {
    return xs[pick(xs.size())];
  }
  template <class T>
  std::vector<T> some_of(std::vector<T> xs, std::size_t max) {
    std::shuffle(xs.begin(), xs.end(), rng_);
    xs.resize(std::min(xs.size(), 1 + pick(max)));
    return xs;
  }

  cmd_ptr make(const std::string& user, const std::string& type, json args) {
    auto c = std::make_shared<command>();
    c->iter = w_.iter;
    c->thread = t_;
    c->meeting = meeting_;
    c->phase = phase_;
    c->user = user;
    c->client = client_of(user);
    c->id = "i" + std::to_string(w_.iter) + "-t" + std::to_string(t_) + "-"
            + std::to_string(n_++);
    c->type = type;
    args["meeting"] = meeting_;
    c->args = std::move(args);
    return c;
  }

  json mute_args() {
    switch (pick(4)) {
      case 0:
        return json::object();
      case 1:
        return {{"audio", true}};
      case 2:
        return {{"video", true}};
      default:
        return {{"audio", true}, {"video", true}};
    }
  }

  /// Sends the phase and waits for its replies; false if one is missing
  /// at the kill.
  bool run_phase(const std::vector<cmd_ptr>& cmds) {
    for (auto& c : cmds) {
      w_.record(c);
      c->sent_at = steady::now();
      w_.devices.at(c->user)->send(c->type, c->args, c->id);
    }
    bool complete = true;
    for (auto& c : cmds) {
      auto* dev = w_.devices.at(c->user);
      while (!c->reply) {
        if (auto r = dev->wait_reply(c->id, 10ms)) {
          c->reply = *r;
          c->replied_at = steady::now();
          break;
        }
        if (w_.past_grace()) {
          complete = false;
          break;
        }
      }
    }
    if (!complete)
      return false;
    ++phase_;
    return true;
  }

  /// Asks the node how the meeting is now, for the next phase; false if the
  /// answer is missing at the kill. The view is acknowledged state too.
  bool look() {
    auto id = w_.console->send("admin.meeting.get", {{"meeting", meeting_}});
    for (;;) {
      if (auto r = w_.console->wait_reply(id, 10ms)) {
        if (code_of(*r) != 0) {
          b_ = belief{}; // not created: the script starts another meeting
          return true;
        }
        b_ = belief::of((*r)["data"]);
        w_.record(seen_view{meeting_, phase_ - 1, (*r)["data"]});
        return true;
      }
      if (w_.past_grace())
        return false;
    }
  }

  std::vector<std::string> others(const std::vector<std::string>& not_these) {
    std::vector<std::string> out;
    for (auto& u : k_users)
      if (std::find(not_these.begin(), not_these.end(), u) == not_these.end())
        out.push_back(u);
    return out;
  }

  std::vector<cmd_ptr> next_phase() {
    std::vector<cmd_ptr> out;
    auto joined = b_.joined_users();
    auto host = b_.host();
    std::vector<std::string> mods, members, ringing, outsiders, kickable;
    for (auto& u : joined)
      if (b_.moderator(u))
        mods.push_back(u);
    for (auto& u : joined)
      if (u != host)
        members.push_back(u);
    for (auto& u : k_users) {
      if (b_.ringing(u) && !b_.joined(u) && !b_.kicked(u))
        ringing.push_back(u);
      else if (!b_.joined(u) && !b_.kicked(u))
        outsiders.push_back(u);
    }
    for (auto& [u, p] : b_.parts)
      if (p.state == "left" || (p.state == "joined" && p.role != "host"))
        kickable.push_back(u);
    if (host.empty() || mods.empty())
      return out; // cannot happen: a meeting in the script is never empty
    bool callee_in = std::any_of(members.begin(), members.end(), callee);
    // Weighted choice of the kind of phase.
    double end_weight = phase_ < 15 ? 0.1 : 1.0;
    std::vector<std::pair<double, int>> kinds{
      {ringing.empty() && outsiders.empty() ? 0 : 4, 0}, // answer / join
      {3, 1},                                            // lock, mute
      {1, 2},                                            // mute_all
      {members.empty() ? 0 : 2, 3},                      // set_role
      {members.empty() ? 0 : callee_in ? 5 : 2, 4},      // members leave
      {members.empty() ? 0 : 1, 5},                      // the host leaves
      {outsiders.empty() && ringing.empty() ? 0 : 3, 6}, // invite
      {ringing.empty() ? 0 : 1, 7},                      // cancel
      {kickable.empty() ? 0 : 1, 8},                     // kick
      {end_weight, 9},                                   // end
    };
    double total = 0;
    for (auto& [w, k] : kinds)
      total += w;
    double x = std::uniform_real_distribution<double>{0, total}(rng_);
    int kind = 9;
    for (auto& [w, k] : kinds) {
      if (x < w) {
        kind = k;
        break;
      }
      x -= w;
    }
    switch (kind) {
      case 0: // answers from ringing invitees, joins from others
        for (auto& u : ringing) {
          auto r = pick(10);
          out.push_back(make(u, r < 6 ? "call.accept" : r < 8 ? "call.decline" : "meeting.join",
                             json::object()));
        }
        for (auto& u : outsiders)
          if (!callee(u) && out.size() < 4 && chance(0.3))
            out.push_back(make(u, "meeting.join", json::object()));
        break;
      case 1: { // one moderator: lock or unlock, mute or unmute
        auto by = one_of(mods);
        if (chance(0.5))
          out.push_back(make(by, b_.locked ? "moderate.unlock" : "moderate.lock",
                             json::object()));
        for (auto& u : some_of(joined, 2)) {
          auto args = mute_args();
          args["user"] = u;
          out.push_back(make(by, chance(0.6) ? "moderate.mute" : "moderate.unmute", args));
        }
        break;
      }
      case 2: {
        auto args = mute_args();
        out.push_back(make(one_of(mods), chance(0.6) ? "moderate.mute_all" : "moderate.unmute_all",
                           args));
        break;
      }
      case 3: {
        static const std::vector<std::string> roles{"host", "cohost", "member"};
        out.push_back(make(host, "moderate.set_role",
                           {{"user", one_of(members)}, {"role", one_of(roles)}}));
        break;
      }
      case 4: {
        std::vector<std::string> leaving;
        for (auto& u : members)
          if (callee(u) && chance(0.8))
            leaving.push_back(u);
        if (leaving.empty())
          leaving = some_of(members, 2);
        for (auto& u : leaving)
          out.push_back(make(u, "meeting.leave", json::object()));
        break;
      }
      case 5:
        out.push_back(make(host, "meeting.leave", json::object()));
        break;
      case 6: {
        auto pool = outsiders;
        pool.insert(pool.end(), ringing.begin(), ringing.end());
        std::vector<std::string> preferred;
        for (auto& u : pool)
          if (callee(u))
            preferred.push_back(u);
        if (!preferred.empty() && chance(0.8))
          pool = preferred;
        out.push_back(make(one_of(joined), "call.invite", {{"users", some_of(pool, 2)}}));
        break;
      }
      case 7: {
        auto u = one_of(ringing);
        auto inviter = b_.invs.at(u).inviter;
        auto by = b_.joined(inviter) && chance(0.7) ? inviter : one_of(joined);
        out.push_back(make(by, "call.cancel", {{"users", {u}}}));
        break;
      }
      case 8:
        out.push_back(make(one_of(mods), "moderate.kick", {{"user", one_of(kickable)}}));
        break;
      default:
        out.push_back(make(host, "meeting.end", json::object()));
    }
    return out;
  }

  workload& w_;
  int t_;
  slot& s_;
  std::string& meeting_;
  belief& b_;
  int& phase_;
  std::mt19937_64 rng_;
  int n_ = 0;
};

// -- reporting ------------------------------------------------------------------------

struct findings {
  std::vector<std::string> items;
  void add(const std::string& what) {
    items.push_back(what);
    if (items.size() <= 60)
      ADD_FAILURE() << what;
    else if (items.size() == 61)
      ADD_FAILURE() << "(more findings follow only in the summary count)";
  }
};

/// The node log lines naming any of `needles` (at most `max`).
std::string log_lines(const std::string& log, const std::vector<std::string>& needles,
                      std::size_t max = 16) {
  std::istringstream in{log};
  std::string line, out;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    for (auto& needle : needles) {
      if (!needle.empty() && line.find(needle) != std::string::npos) {
        if (n++ < max)
          out += "    | " + line + "\n";
        break;
      }
    }
  }
  if (n > max)
    out += "    | ... " + std::to_string(n - max) + " more\n";
  return out;
}

/// The end of the node's log.
std::string log_tail(const cluster& c) {
  auto log = c.node_log();
  return log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
}

/// Pops every reply queued for `id` now.
std::vector<json> drain(client::session& s, const std::string& id) {
  std::vector<json> out;
  while (auto r = s.wait_reply(id, 0ms))
    out.push_back(*r);
  return out;
}

} // namespace

/// The kill loop on each store: SQLite (the file, read from a copy) and
/// PostgreSQL (a server of the test's own that stays up while the node is
/// killed; read over libpq). crash.<test>/sqlite and /postgres.
class crash : public ::testing::TestWithParam<store_kind> {};
INSTANTIATE_TEST_SUITE_P(, crash, both_stores());

TEST_P(crash, sigkill_at_random_points_loses_nothing_acknowledged_and_replays_replies) {
  // PostgreSQL: 10 kills by default, SQLite: 20. A round costs about 2 s on
  // either store (2026-12, RelWithDebInfo, 2 cores); 10 rounds catch some 100
  // commands unanswered at a kill, a third of them committed, which is what
  // the server adds over SQLite (a COMMIT sent by the killed node, finished
  // or rolled back by the server), for half of the CI time.
  constexpr int sqlite_iterations = 20;
  constexpr int pg_iterations = 10;
  int iterations = env_int("MEETINGD_CRASH_ITERATIONS", GetParam() == store_kind::postgres
                                                          ? pg_iterations
                                                          : sqlite_iterations);
  std::uint64_t seed = std::random_device{}();
  if (auto s = std::getenv("MEETINGD_CRASH_SEED"); s && *s)
    seed = std::strtoull(s, nullptr, 10);
  std::printf("[crash] %s: seed %llu (MEETINGD_CRASH_SEED), %d iterations "
              "(MEETINGD_CRASH_ITERATIONS)\n",
              to_string(GetParam()).c_str(), static_cast<unsigned long long>(seed), iterations);
  std::fflush(stdout);
  std::mt19937_64 rng{seed};

  // Meetings quiet for 300 ms give up their actors: the load wakes them and
  // puts them back to sleep all the time, and every restart starts with
  // dormant ones. Six users create meetings as fast as they can: the limits
  // per user are off, the test is about durability.
  node_options opts;
  opts.store = GetParam();
  opts.flags = {{"rate-limit", "0"},
                {"max-meetings-per-user", "0"},
                {"max-creates-per-minute", "0"},
                {"passivate-after", "300ms"},
                {"ring-timeout", "1h"},
                {"idle-timeout", "1h"},
                {"presence-grace", "1h"}};
  cluster c{opts};
  c.start_node();
  std::map<std::string, std::unique_ptr<client::session>> owned;
  std::map<std::string, client::session*> devices;
  for (auto& u : k_users) {
    owned[u] = c.logged_in("crash-" + u, u);
    devices[u] = owned[u].get();
  }
  // After logged_in: it connects its own console-1, which would take over ours.
  auto console = c.console();
  auto session_of = [&](const command& cmd) -> client::session& {
    return cmd.user.empty() ? *console : *devices.at(cmd.user);
  };

  findings found;
  std::vector<cmd_ptr> all;                       // every command of every round
  std::map<std::string, meeting_history> history; // every meeting's commands and views
  std::vector<slot> slots(k_threads);
  // What a meeting's commands did, as far as known after the restart.
  auto final_reply = [](const command& x) { return x.reply ? x.reply : x.resolved; };
  // A meeting's commands, the last ones for a report.
  auto listing = [](const std::vector<cmd_ptr>& cmds) {
    std::string out = "\n  commands:";
    std::size_t from = cmds.size() > 40 ? cmds.size() - 40 : 0;
    if (from > 0)
      out += "\n    (" + std::to_string(from) + " earlier ones left out)";
    for (std::size_t i = from; i < cmds.size(); ++i)
      out += "\n    " + describe(*cmds[i]);
    return out;
  };
  // A meeting found to differ from what was acknowledged: every difference,
  // then its commands and the node's log lines about it.
  auto report_differences = [&found, &listing](const std::string& headline,
                                               const std::vector<std::string>& diffs,
                                               const meeting_history& h, const std::string& log,
                                               const std::string& id) {
    std::string msg = headline;
    for (auto& d : diffs)
      msg += "\n  - " + d;
    msg += listing(h.cmds) + "\n  node log:\n" + log_lines(log, {id});
    found.add(msg);
  };
  struct round_stats {
    int delay_ms = 0;
    std::size_t sent = 0, acked = 0, refused = 0, unknown = 0, committed_unknown = 0,
                meetings = 0, replays = 0, resent_unknown = 0,
                late_copies = 0;
    double rtt_median_ms = 0;
  };
  std::vector<round_stats> stats;
  auto started = steady::now();

  for (int iter = 0; iter < iterations; ++iter) {
    round_stats rs;
    // -- the workload, and the kill -------------------------------------------------
    workload w;
    w.iter = iter;
    w.devices = devices;
    w.console = console.get();
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
      threads.emplace_back([&w, &slots, t, s = rng()] { scripter{w, t, slots[t], s}.run(); });
    rs.delay_ms = std::uniform_int_distribution<int>{20, 300}(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds{rs.delay_ms});
    if (!c.node()->running())
      found.add("round " + std::to_string(iter) + ": the node died by itself before the kill:\n"
                + log_tail(c));
    c.kill_node();
    w.kill_time = steady::now();
    w.killed = true;
    for (auto& t : threads)
      t.join();
    auto& ledger = w.ledger;
    all.insert(all.end(), ledger.begin(), ledger.end());
    for (auto& cmd : ledger)
      history[cmd->meeting].cmds.push_back(cmd);
    for (auto& v : w.views)
      history[v.meeting].views[v.after_phase] = v.data;
    rs.sent = ledger.size();
    for (auto& cmd : ledger) {
      if (!cmd->reply) {
        ++rs.unknown;
        continue;
      }
      code_of(*cmd->reply) == 0 ? ++rs.acked : ++rs.refused;
      if (code_of(*cmd->reply) == 401)
        found.add("round " + std::to_string(iter) + ": " + cmd->client
                  + " is not logged in (a lost acknowledged login): " + describe(*cmd));
    }
    std::map<std::string, std::vector<cmd_ptr>> by_meeting;
    for (auto& cmd : ledger)
      by_meeting[cmd->meeting].push_back(cmd);
    rs.meetings = by_meeting.size();
    {
      std::vector<double> rtt;
      for (auto& cmd : ledger)
        if (cmd->reply)
          rtt.push_back(std::chrono::duration<double, std::milli>(cmd->replied_at - cmd->sent_at)
                          .count());
      std::sort(rtt.begin(), rtt.end());
      rs.rtt_median_ms = rtt.empty() ? 0 : rtt[rtt.size() / 2];
    }

    // -- the database as the dead node left it ------------------------------------
    auto snap = read_snapshot(c, c.dir().path() + "/snapshot-" + std::to_string(iter));
    auto where = "round " + std::to_string(iter) + " (seed " + std::to_string(seed)
                 + ", kill after " + std::to_string(rs.delay_ms) + " ms): ";
    if (!snap.error.empty())
      found.add(where + "reading the database: " + snap.error);
    if (snap.integrity != "ok")
      found.add(where + "PRAGMA integrity_check: " + snap.integrity);
    for (auto& v : snap.fk_violations)
      found.add(where + "foreign key violation " + v);
    for (auto& o : snap.orphans)
      found.add(where + o);
    for (auto& u : k_users)
      if (snap.devices[client_of(u)] != u)
        found.add(where + "device " + client_of(u) + " is bound to '" + snap.devices[client_of(u)]
                  + "' in the database, not " + u + " (a lost acknowledged login)");
    for (auto& [id, m] : snap.meetings)
      for (auto& what : inconsistencies(id, m))
        found.add(where + "half-applied state: " + what + "\n" + log_lines(c.node_log(), {id}));
    // Every reply seen is durable, as it was sent.
    for (auto& cmd : all) {
      auto r = cmd->reply ? cmd->reply : cmd->resolved;
      if (!r || !replayable(code_of(*r)))
        continue;
      auto i = snap.requests.find({cmd->client, cmd->id});
      if (i == snap.requests.end()) {
        found.add(where + "a reply the device received is not in request_log: " + describe(*cmd)
                  + "\n" + log_lines(c.node_log(), {cmd->id}));
        continue;
      }
      auto stored = json::parse(i->second, nullptr, false);
      if (stored != *r)
        found.add(where + "request_log holds another reply than the one sent: " + describe(*cmd)
                  + "\n    sent:   " + r->dump() + "\n    stored: " + i->second);
    }
    // Requests without a reply: committed or not, as request_log says.
    for (auto& cmd : ledger) {
      if (cmd->reply)
        continue;
      auto i = snap.requests.find({cmd->client, cmd->id});
      if (i != snap.requests.end()) {
        cmd->committed = json::parse(i->second, nullptr, false);
        ++rs.committed_unknown;
      }
    }
    // Every meeting's rows hold what was acknowledged and not changed since
    // by a command that committed: this round's commands count if their reply
    // came or request_log has them, earlier rounds' as their replies (before
    // or after that restart) say. An unacknowledged change that did not
    // commit leaves no trace (what was acknowledged before it still holds).
    for (auto& [id, h] : history) {
      auto want = known_facts(h, [iter](const command& x) {
        if (x.reply)
          return x.reply;
        return x.iter == iter ? x.committed : x.resolved;
      });
      auto i = snap.meetings.find(id);
      auto diffs = contradictions(
        want, facts_of_rows(i == snap.meetings.end() ? nullptr : &i->second), "the database");
      if (!diffs.empty()) {
        report_differences(
          where + "meeting " + id + " in the database differs from what was acknowledged:", diffs,
          h, c.node_log(), id);
      }
    }
    for (auto& [id, m] : snap.meetings)
      if (id.rfind("c", 0) == 0 && !history.count(id))
        found.add(where + "meeting " + id + " is in the database but was never created");

    // -- restart ------------------------------------------------------------------------
    auto count_of = [](const std::string& text, const std::string& what) {
      std::size_t n = 0;
      for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
      return n;
    };
    auto crashes_before = count_of(c.node_log(), "clean_shutdown=false");
    c.start_node();
    if (count_of(c.node_log(), "clean_shutdown=false") != crashes_before + 1)
      found.add(where + "the restarted node did not log clean_shutdown=false");
    // Let requests the broker kept for the node, and redeliveries, be answered.
    {
      auto count = [&] {
        long n = 0;
        for (auto& cmd : ledger)
          if (!cmd->reply)
            n += session_of(*cmd).reply_count(cmd->id);
        return n;
      };
      auto last = count();
      auto quiet_since = steady::now();
      auto until = steady::now() + 5s;
      while (steady::now() < until && steady::now() - quiet_since < 500ms) {
        std::this_thread::sleep_for(50ms);
        auto n = count();
        if (n != last) {
          last = n;
          quiet_since = steady::now();
        }
      }
    }
    // Devices are still logged in.
    std::map<std::string, std::string> probes;
    for (auto& u : k_users)
      probes[u] = devices[u]->send("meeting.get", {{"meeting", "probe-" + std::to_string(iter)}});
    for (auto& u : k_users) {
      auto got = devices[u]->wait_reply(probes[u], 5s);
      if (!got) {
        found.add(where + "no reply to the probe of " + u + " after the restart");
        continue;
      }
      auto r = *got;
      if (code_of(r) == 401)
        found.add(where + "device of " + u + " is not logged in after the restart: " + r.dump());
      else if (reason_of(r) != "meeting_not_found")
        found.add(where + "probe of " + u + " answered " + r.dump());
    }
    // Acknowledged requests sent again: the very same reply, nothing done twice.
    std::vector<cmd_ptr> replay = ledger;
    {
      std::vector<cmd_ptr> earlier(all.begin(), all.end() - static_cast<long>(ledger.size()));
      std::shuffle(earlier.begin(), earlier.end(), rng);
      earlier.resize(std::min<std::size_t>(earlier.size(), 20));
      replay.insert(replay.end(), earlier.begin(), earlier.end());
    }
    std::vector<std::pair<cmd_ptr, json>> replay_sent;
    for (auto& cmd : replay) {
      auto original = cmd->reply ? cmd->reply : cmd->resolved;
      if (!original || !replayable(code_of(*original)))
        continue;
      auto& s = session_of(*cmd);
      for (auto& extra : drain(s, cmd->id))
        if (extra != *original)
          found.add(where + "a redelivered copy got another reply: " + describe(*cmd)
                    + "\n    first: " + original->dump() + "\n    later: " + extra.dump());
      s.send(cmd->type, cmd->args, cmd->id);
      replay_sent.emplace_back(cmd, *original);
    }
    for (auto& [cmd, original] : replay_sent) {
      auto r = session_of(*cmd).wait_reply(cmd->id, 5s);
      ++rs.replays;
      if (!r)
        found.add(where + "no reply to a repeated request: " + describe(*cmd));
      else if (*r != original)
        found.add(where + "a repeated request got another reply: " + describe(*cmd)
                  + "\n    first: " + original.dump() + "\n    again: " + r->dump() + "\n"
                  + log_lines(c.node_log(), {cmd->id}));
    }
    // Requests without a reply sent again: exactly one reply, then the same
    // again. All at once (they are of one phase per meeting); a "try again"
    // answer (429/500/503: not stored, nothing done) is retried.
    auto settle_all = [&](const std::vector<cmd_ptr>& cmds) {
      std::map<cmd_ptr, std::optional<json>> out;
      std::vector<cmd_ptr> todo = cmds;
      for (int attempt = 0; attempt < 10 && !todo.empty(); ++attempt) {
        if (attempt > 0)
          std::this_thread::sleep_for(200ms);
        for (auto& cmd : todo)
          session_of(*cmd).send(cmd->type, cmd->args, cmd->id);
        std::vector<cmd_ptr> again;
        for (auto& cmd : todo) {
          auto r = session_of(*cmd).wait_reply(cmd->id, 5s);
          out[cmd] = r;
          if (r && !replayable(code_of(*r)))
            again.push_back(cmd);
        }
        todo = std::move(again);
      }
      return out;
    };
    std::vector<cmd_ptr> unanswered;
    std::map<cmd_ptr, json> early_reply;
    for (auto& cmd : ledger) {
      if (cmd->reply)
        continue;
      unanswered.push_back(cmd);
      ++rs.resent_unknown;
      // The original, kept by the broker or redelivered, may have been answered by now.
      std::optional<json> first;
      for (auto& e : drain(session_of(*cmd), cmd->id))
        if (replayable(code_of(e))) {
          if (first && e != *first)
            found.add(where + "two different replies to one request: " + describe(*cmd)
                      + "\n    " + first->dump() + "\n    " + e.dump());
          if (!first)
            first = e;
        }
      if (first)
        early_reply[cmd] = *first;
    }
    auto seconds = settle_all(unanswered);
    for (auto& cmd : unanswered) {
      auto again = seconds[cmd];
      if (!again || !replayable(code_of(*again))) {
        found.add(where + "no lasting reply to a request sent again after the restart: "
                  + describe(*cmd) + (again ? ": " + again->dump() : std::string{}) + "\n"
                  + log_lines(c.node_log(), {cmd->id}));
        continue;
      }
      if (early_reply.count(cmd) && *again != early_reply[cmd])
        found.add(where + "a request sent again got another reply than its original: "
                  + describe(*cmd) + "\n    original: " + early_reply[cmd].dump()
                  + "\n    again:    " + again->dump());
      if (cmd->committed && *again != *cmd->committed)
        found.add(where + "a request committed at the crash got another reply after the restart: "
                  + describe(*cmd) + "\n    stored: " + cmd->committed->dump()
                  + "\n    again:  " + again->dump() + "\n" + log_lines(c.node_log(), {cmd->id}));
      cmd->resolved = *again;
    }
    std::vector<cmd_ptr> settled;
    for (auto& cmd : unanswered)
      if (cmd->resolved)
        settled.push_back(cmd);
    auto thirds = settle_all(settled);
    for (auto& cmd : settled) {
      auto third = thirds[cmd];
      if (!third || *third != *cmd->resolved)
        found.add(where + "the second repeat got another reply: " + describe(*cmd) + "\n    "
                  + cmd->resolved->dump() + "\n    "
                  + (third ? third->dump() : std::string{"(none)"}));
    }
    // Late copies: a QoS 1 redelivery may add one identical reply, never
    // another one and never more than one.
    std::this_thread::sleep_for(300ms);
    std::set<std::string> checked;
    auto late_copies = [&](const cmd_ptr& cmd) {
      if (!checked.insert(cmd->client + " " + cmd->id).second)
        return;
      auto extra = drain(session_of(*cmd), cmd->id);
      auto original = cmd->reply ? cmd->reply : cmd->resolved;
      if (extra.empty() || !original || !replayable(code_of(*original)))
        return;
      rs.late_copies += extra.size();
      for (auto& e : extra)
        if (e != *original)
          found.add(where + "a late reply differs from the first: " + describe(*cmd)
                    + "\n    first: " + original->dump() + "\n    late:  " + e.dump());
      if (extra.size() > 1)
        found.add(where + std::to_string(extra.size())
                  + " late replies for one request (more than one redelivery): "
                  + describe(*cmd));
    };
    for (auto& cmd : replay)
      late_copies(cmd);

    // -- the node's view holds what was acknowledged ----------------------------------
    // (the meetings of this round and every meeting still going on). The view
    // is acknowledged state in turn, and the scripts go on from it.
    std::map<std::string, std::string> gets;
    std::map<std::string, facts> wants;
    for (auto& [id, h] : history) {
      auto want = known_facts(h, final_reply);
      bool going_on = want["meeting.exists"] == "yes"
                      && (!want.count("meeting.state") || want["meeting.state"] != "ended");
      if (by_meeting.count(id) || going_on) {
        gets[id] = console->send("admin.meeting.get", {{"meeting", id}});
        wants[id] = want;
      }
    }
    std::map<std::string, json> views_now;
    for (auto& [id, get_id] : gets) {
      auto& h = history[id];
      auto& want = wants[id];
      auto got = console->wait_reply(get_id, 5s);
      if (!got) {
        found.add(where + "no reply to admin.meeting.get of " + id);
        continue;
      }
      auto r = *got;
      std::vector<std::string> diffs;
      if (code_of(r) == 0) {
        diffs = contradictions(want, facts_of_view(r["data"]), "the node's view");
        int after = 0;
        for (auto& x : h.cmds)
          after = std::max(after, x->phase);
        h.views[after] = r["data"];
        views_now[id] = r["data"];
      } else if (reason_of(r) == "meeting_not_found") {
        diffs = contradictions(want, {{"meeting.exists", "no"}}, "the node's view");
      } else if (code_of(r) == 410 && want["meeting.state"] == "ended") {
        // Ended, and its actor is gone after DeleteChannel (older nodes).
      } else {
        diffs.push_back("admin.meeting.get: " + r.dump());
      }
      if (!diffs.empty()) {
        report_differences(where + "after the restart, the node's view of meeting " + id
                             + " differs from what was acknowledged:",
                           diffs, h, c.node_log(), id);
      }
    }

    // -- the scripts go on from the node's view; old meetings end ------------------------
    bool last = iter + 1 == iterations;
    for (auto& sl : slots) {
      if (sl.meeting.empty())
        continue;
      auto& h = history[sl.meeting];
      auto v = views_now.find(sl.meeting);
      sl.view = v != views_now.end() ? belief::of(v->second) : belief{};
      for (auto& x : h.cmds)
        sl.next_phase = std::max(sl.next_phase, x->phase + 1);
      // A meeting lives for three rounds (all of them after the last round).
      if (!sl.active() || (sl.born > iter - 2 && !last))
        continue;
      auto cmd = std::make_shared<command>();
      cmd->iter = iter;
      cmd->meeting = sl.meeting;
      cmd->phase = sl.next_phase++;
      cmd->client = k_console;
      cmd->id = "end-" + sl.meeting;
      cmd->type = "admin.meeting.end";
      cmd->args = {{"meeting", sl.meeting}};
      cmd->reply = console->request(cmd->type, cmd->args, 5s, cmd->id);
      all.push_back(cmd);
      h.cmds.push_back(cmd);
      if (code_of(*cmd->reply) != 0) {
        found.add(where + "admin.meeting.end of " + sl.meeting + ": " + cmd->reply->dump());
        continue;
      }
      sl.view.status = "ended"; // as acknowledged: the script starts another meeting
    }
    if (!c.node()->running())
      found.add(where + "the node died after the restart:\n" + log_tail(c));
    stats.push_back(rs);
    std::printf("[crash] round %2d: kill after %3d ms; %3zu sent, %3zu acknowledged, %3zu refused, "
                "%2zu unanswered (%zu committed); %zu meetings; %zu replays, %zu resent, "
                "%zu late copies; median round trip %.0f ms\n",
                iter, rs.delay_ms, rs.sent, rs.acked, rs.refused, rs.unknown,
                rs.committed_unknown, rs.meetings, rs.replays, rs.resent_unknown,
                rs.late_copies, rs.rtt_median_ms);
    std::fflush(stdout);
  }

  // -- finally: every ended meeting's channel deleted (DeleteChannel is pending
  // work that must survive the kills), a clean stop, every meeting as it was left.
  {
    auto until = steady::now() + 15s;
    std::vector<std::string> left;
    do {
      left.clear();
      for (auto& [id, h] : history) {
        if (known_facts(h, final_reply)["meeting.exists"] != "yes")
          continue;
        auto ch = c.emulator_get("/_emulator/channels/" + id);
        if (ch.dump().find("NotFound") == std::string::npos)
          left.push_back(id);
      }
      if (!left.empty())
        std::this_thread::sleep_for(200ms);
    } while (!left.empty() && steady::now() < until);
    for (auto& id : left)
      found.add("final: the channel of ended meeting " + id + " was never deleted\n"
                + log_lines(c.node_log(), {id}));
  }
  auto code = c.stop_node();
  EXPECT_EQ(code, 0) << log_tail(c);
  auto snap = read_snapshot(c, c.dir().path() + "/snapshot-final");
  if (snap.integrity != "ok")
    found.add("final: PRAGMA integrity_check: " + snap.integrity);
  for (auto& [id, h] : history) {
    auto want = known_facts(h, final_reply);
    auto got = facts_of_rows(snap.meetings.count(id) ? &snap.meetings.at(id) : nullptr);
    if (got["meeting.exists"] == "yes" && got["meeting.state"] != "ended")
      found.add("final: meeting " + id + " is still going on");
    for (auto& d : contradictions(want, got, "the database"))
      found.add("final: meeting " + id + ": " + d);
  }
  for (auto& [id, m] : snap.meetings)
    for (auto& what : inconsistencies(id, m))
      found.add("final: " + what);

  std::size_t sent = 0, acked = 0, unknown = 0, committed = 0;
  for (auto& r : stats) {
    sent += r.sent;
    acked += r.acked;
    unknown += r.unknown;
    committed += r.committed_unknown;
  }
  auto secs = std::chrono::duration<double>(steady::now() - started).count();
  // What the kills caught in flight, by command type.
  std::map<std::string, std::array<int, 4>> by_type; // sent, acknowledged, unanswered, committed
  for (auto& cmd : all) {
    if (cmd->thread < 0)
      continue;
    auto& n = by_type[cmd->type];
    ++n[0];
    if (cmd->reply && code_of(*cmd->reply) == 0)
      ++n[1];
    if (!cmd->reply)
      ++n[2];
    if (cmd->committed)
      ++n[3];
  }
  std::map<std::string, int> outcomes;
  for (auto& cmd : all) {
    auto r = final_reply(*cmd);
    if (r && r->contains("data") && (*r)["data"].contains("invitations")
        && (*r)["data"]["invitations"].is_object())
      for (auto& [u, o] : (*r)["data"]["invitations"].items())
        ++outcomes[o.get<std::string>()];
  }
  std::string outcome_text;
  for (auto& [o, n] : outcomes)
    outcome_text += " " + std::to_string(n) + " " + o;
  std::printf("[crash] invitation outcomes:%s\n", outcome_text.c_str());
  for (auto& [type, n] : by_type)
    std::printf("[crash]   %-20s %4d sent, %4d acknowledged, %3d unanswered at a kill, %3d of them "
                "committed\n",
                type.c_str(), n[0], n[1], n[2], n[3]);
  std::printf("[crash] %zu rounds in %.1f s, seed %llu: %zu commands, %zu acknowledged, %zu "
              "unanswered at a kill (%zu of them committed), %zu meetings checked; %zu findings\n",
              stats.size(), secs, static_cast<unsigned long long>(seed), sent, acked, unknown,
              committed, history.size(), found.items.size());
  if (!found.items.empty())
    std::printf("[crash] MEETINGD_KEEP_TEST_DIRS=1 keeps %s (meetingd.log, meetingd.db, "
                "snapshot-N/ = the database at kill N)\n",
                c.dir().path().c_str());
}
