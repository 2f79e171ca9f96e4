// Crash consistency (issue 3, PROTOCOL.md §4 and §5): the node is killed
// with SIGKILL at random points (20-300 ms into a round) while devices
// create meetings, answer invitations, join, leave, invite and moderate,
// many times over. Ten scripts run at once, one meeting each, six users
// with one logged-in device each; a meeting goes on across kills for three
// rounds (then an admin ends it). The commands of one phase of a script go
// out together and touch different rows, so the model of a meeting does not
// depend on their order (who wins a join_order race is the one exception,
// compared as a set). After every kill:
//
//   - the database as the dead node left it (a copy, opened with SQLite) is
//     checked: every reply a device ever received is in request_log, equal as
//     JSON; every meeting's rows are consistent with each other; and every
//     meeting's rows are exactly what its committed commands imply (this
//     round's: those whose reply came or whose request_log row exists), so
//     nothing acknowledged is missing and nothing unacknowledged is half
//     there (a create that committed is complete, one that did not is absent).
//   - the node is restarted on the same file: devices are still logged in;
//     every acknowledged request of the round (and a sample of older ones)
//     sent again with the same id gets the very same reply; every request
//     whose reply never came gets exactly one reply when sent again, and the
//     same one a second time; and the node's own view (admin.meeting.get) of
//     each meeting of the round matches the model of all the replies.
//
// In the end, every ended meeting's channel is deleted at the RTC service,
// the node stops cleanly and the database holds exactly the model.
//
// MEETINGD_CRASH_ITERATIONS sets the number of kills (default 20),
// MEETINGD_CRASH_SEED the seed (printed; thread timing still varies),
// MEETINGD_KEEP_TEST_DIRS=1 keeps the node's log, the database and a copy of
// it at every kill (snapshot-N/) for a post-mortem.
#include "harness.hpp"

#include <gtest/gtest.h>

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
constexpr int k_threads = 10;
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
  bool predicted_ok = true;     // what the model expects (before the kill)
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

// -- the model of a meeting -------------------------------------------------------------

struct part_model {
  std::string status = "joined";
  std::string role = "member";
  bool audio = false;
  bool video = false;
  int order = 0;
  // First admissions of one phase race each other for their join_order: the
  // model knows the set of numbers the phase takes, not who gets which.
  int tie = 0;
};

struct inv_model {
  std::string status;
  std::string inviter;
};

struct meeting_model {
  bool exists = false;
  std::string creator;
  std::string status = "active";
  std::string end_reason;
  bool locked = false;
  int next_order = 1;
  int tie = 0; // the phase being applied, for part_model::tie
  std::map<std::string, part_model> parts;
  std::map<std::string, inv_model> invs;

  bool ended() const {
    return status == "ended";
  }
  bool joined(const std::string& u) const {
    auto i = parts.find(u);
    return i != parts.end() && i->second.status == "joined";
  }
  bool kicked(const std::string& u) const {
    auto i = parts.find(u);
    return i != parts.end() && i->second.status == "kicked";
  }
  bool moderator(const std::string& u) const {
    auto i = parts.find(u);
    return joined(u) && (i->second.role == "host" || i->second.role == "cohost");
  }
  bool is_host(const std::string& u) const {
    auto i = parts.find(u);
    return joined(u) && i->second.role == "host";
  }
  bool ringing(const std::string& u) const {
    auto i = invs.find(u);
    return i != invs.end() && i->second.status == "ringing";
  }
  /// As meeting.get names it: the joined host; for an ended meeting its
  /// last host, else its creator.
  std::string host() const {
    for (auto& [u, p] : parts)
      if (p.status == "joined" && p.role == "host")
        return u;
    if (ended()) {
      for (auto& [u, p] : parts)
        if (p.role == "host")
          return u;
      return creator;
    }
    return {};
  }
  std::vector<std::string> joined_users() const {
    std::vector<std::string> out;
    for (auto& [u, p] : parts)
      if (p.status == "joined")
        out.push_back(u);
    return out;
  }
};

/// meeting_core's ensure_host: the oldest cohost, else the oldest member.
void ensure_host(meeting_model& m) {
  part_model* best = nullptr;
  for (auto& [u, p] : m.parts) {
    if (p.status != "joined")
      continue;
    if (p.role == "host")
      return;
    bool better = !best || (p.role == "cohost" && best->role != "cohost")
                  || (p.role == best->role && p.order < best->order);
    if (better)
      best = &p;
  }
  if (best)
    best->role = "host";
}

/// Whether ensure_host's choice depends on who won a join_order race.
bool succession_ambiguous(const meeting_model& m, const std::string& leaving) {
  const part_model* best = nullptr;
  for (auto& [u, p] : m.parts) {
    if (p.status != "joined" || u == leaving || p.role == "host")
      continue;
    bool better = !best || (p.role == "cohost" && best->role != "cohost")
                  || (p.role == best->role && p.order < best->order);
    if (better)
      best = &p;
  }
  if (!best)
    return false;
  for (auto& [u, p] : m.parts)
    if (&p != best && p.status == "joined" && u != leaving && p.role == best->role
        && p.tie == best->tie)
      return true;
  return false;
}

void admit(meeting_model& m, const std::string& u) {
  auto i = m.parts.find(u);
  if (i == m.parts.end()) {
    part_model p;
    p.order = m.next_order++;
    p.tie = m.tie;
    i = m.parts.emplace(u, p).first;
  }
  i->second.status = "joined";
  ensure_host(m);
}

void remove_participant(meeting_model& m, const std::string& u, const std::string& status) {
  auto& p = m.parts.at(u);
  bool was_host = p.role == "host";
  p.status = status;
  if (was_host) {
    p.role = "member";
    ensure_host(m);
  }
}

void end_meeting(meeting_model& m, const std::string& reason) {
  for (auto& [u, p] : m.parts)
    if (p.status == "joined")
      p.status = "left"; // the role stays as it was
  for (auto& [u, i] : m.invs)
    if (i.status == "ringing")
      i.status = "canceled";
  m.status = "ended";
  m.end_reason = reason;
}

void ring_outcomes(meeting_model& m, const std::string& inviter, const json& data) {
  if (!data.contains("invitations") || !data["invitations"].is_object())
    return;
  for (auto& [u, outcome] : data["invitations"].items())
    if (outcome == "ringing")
      m.invs[u] = inv_model{"ringing", inviter};
}

std::pair<bool, bool> mute_targets(const json& args) {
  bool has_a = args.contains("audio"), has_v = args.contains("video");
  bool a = has_a && args["audio"].get<bool>();
  bool v = has_v && args["video"].get<bool>();
  if (!has_a && !has_v)
    a = true;
  return {a, v};
}

/// Applies a command that succeeded (code 0) with this reply.
void apply(meeting_model& m, const command& c, const json& reply) {
  auto& a = c.args;
  auto& t = c.type;
  auto& u = c.user;
  json data = reply.contains("data") ? reply["data"] : json::object();
  if (t == "meeting.create") {
    m = meeting_model{};
    m.exists = true;
    m.creator = u;
    part_model host;
    host.role = "host";
    host.order = m.next_order++;
    m.parts[u] = host;
    ring_outcomes(m, u, data);
  } else if (t == "call.accept") {
    m.invs[u].status = "accepted";
    admit(m, u);
  } else if (t == "call.decline") {
    m.invs[u].status = "declined";
  } else if (t == "meeting.join") {
    if (m.joined(u))
      return;
    if (m.ringing(u))
      m.invs[u].status = "accepted";
    admit(m, u);
  } else if (t == "meeting.leave") {
    remove_participant(m, u, "left");
  } else if (t == "meeting.end" || t == "admin.meeting.end") {
    end_meeting(m, t == "meeting.end" ? "ended" : "admin");
  } else if (t == "moderate.lock" || t == "moderate.unlock") {
    m.locked = t == "moderate.lock";
  } else if (t == "moderate.mute" || t == "moderate.unmute") {
    auto [ma, mv] = mute_targets(a);
    auto& p = m.parts.at(a["user"].get<std::string>());
    bool mute = t == "moderate.mute";
    if (ma)
      p.audio = mute;
    if (mv)
      p.video = mute;
  } else if (t == "moderate.mute_all" || t == "moderate.unmute_all") {
    auto [ma, mv] = mute_targets(a);
    bool mute = t == "moderate.mute_all";
    for (auto& [x, p] : m.parts) {
      if (p.status != "joined" || p.role != "member")
        continue;
      if (ma)
        p.audio = mute;
      if (mv)
        p.video = mute;
    }
  } else if (t == "moderate.set_role") {
    auto target = a["user"].get<std::string>();
    auto role = a["role"].get<std::string>();
    auto& p = m.parts.at(target);
    if (p.role != role) {
      if (role == "host")
        m.parts.at(u).role = "cohost";
      p.role = role;
    }
  } else if (t == "call.invite") {
    ring_outcomes(m, u, data);
  } else if (t == "call.cancel") {
    for (auto& x : a["users"])
      if (m.ringing(x.get<std::string>()))
        m.invs[x.get<std::string>()].status = "canceled";
  } else if (t == "moderate.kick") {
    auto target = a["user"].get<std::string>();
    if (m.joined(target))
      remove_participant(m, target, "kicked");
    else
      m.parts.at(target).status = "kicked";
    if (m.ringing(target))
      m.invs[target].status = "canceled";
  }
}

/// Whether the node should accept `c` in state `m` (refusals change nothing).
bool predict(const meeting_model& m, const command& c) {
  auto& a = c.args;
  auto& t = c.type;
  auto& u = c.user;
  if (t == "meeting.create")
    return true;
  if (!m.exists || m.ended())
    return false;
  auto target = a.value("user", std::string{});
  if (t == "call.accept")
    return m.ringing(u) && !m.kicked(u);
  if (t == "call.decline")
    return m.ringing(u);
  if (t == "meeting.join") {
    if (m.joined(u))
      return true;
    if (m.kicked(u))
      return false;
    return !m.locked || m.ringing(u) || m.parts.count(u) > 0;
  }
  if (t == "meeting.leave")
    return m.joined(u);
  if (t == "meeting.end")
    return m.is_host(u);
  if (t == "admin.meeting.end")
    return true;
  if (t == "moderate.lock" || t == "moderate.unlock" || t == "moderate.mute_all"
      || t == "moderate.unmute_all")
    return m.moderator(u);
  if (t == "moderate.mute" || t == "moderate.unmute")
    return m.moderator(u) && m.joined(target);
  if (t == "moderate.set_role") {
    if (!m.is_host(u) || !m.joined(target))
      return false;
    return !(target == u && a["role"] != "host");
  }
  if (t == "call.invite")
    return m.joined(u);
  if (t == "call.cancel") {
    bool any = false;
    for (auto& x : a["users"]) {
      auto who = x.get<std::string>();
      if (!m.ringing(who))
        continue;
      if (m.invs.at(who).inviter != u && !m.moderator(u))
        return false;
      any = true;
    }
    return any;
  }
  if (t == "moderate.kick") {
    if (!m.moderator(u))
      return false;
    auto i = m.parts.find(target);
    if (i == m.parts.end() || i->second.status == "kicked" || target == u)
      return false;
    return !(i->second.role == "host" && i->second.status == "joined");
  }
  return false;
}

/// A meeting's commands in order (phase by phase), applied with `reply_of`.
template <class ReplyOf>
meeting_model model_of(const std::vector<cmd_ptr>& cmds, ReplyOf reply_of) {
  meeting_model m;
  std::vector<cmd_ptr> sorted = cmds;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const cmd_ptr& x, const cmd_ptr& y) { return x->phase < y->phase; });
  for (auto& c : sorted) {
    auto r = reply_of(*c);
    m.tie = c->phase + 1;
    if (r && code_of(*r) == 0)
      apply(m, *c, *r);
  }
  return m;
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

std::string text(sqlite3_stmt* s, int i) {
  auto p = sqlite3_column_text(s, i);
  return p ? reinterpret_cast<const char*>(p) : "";
}

/// Copies the database (and its WAL) of the dead node and reads it; the
/// node's own files are not touched.
db_snapshot read_snapshot(const std::string& db_path, const std::string& copy_dir) {
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
    while (sqlite3_step(s) == SQLITE_ROW)
      f(s);
    sqlite3_finalize(s);
  };
  each("PRAGMA integrity_check", [&](sqlite3_stmt* s) { snap.integrity += text(s, 0); });
  each("PRAGMA foreign_key_check", [&](sqlite3_stmt* s) {
    snap.fk_violations.push_back(text(s, 0) + " rowid " + text(s, 1) + " -> " + text(s, 2));
  });
  each("SELECT id, status, end_reason, locked, next_order, idle_deadline, ended_at FROM meetings",
       [&](sqlite3_stmt* s) {
         auto& m = snap.meetings[text(s, 0)];
         m.status = text(s, 1);
         m.end_reason = text(s, 2);
         m.locked = sqlite3_column_int(s, 3) != 0;
         m.next_order = sqlite3_column_int(s, 4);
         m.idle_deadline = sqlite3_column_int64(s, 5);
         m.ended_at = sqlite3_column_int64(s, 6);
       });
  each("SELECT meeting, user, status, role, audio_muted, video_muted, join_order, joined_at, "
       "left_at FROM participants",
       [&](sqlite3_stmt* s) {
         auto id = text(s, 0);
         auto i = snap.meetings.find(id);
         if (i == snap.meetings.end()) {
           snap.orphans.push_back("participant " + text(s, 1) + " of missing meeting " + id);
           return;
         }
         auto& p = i->second.parts[text(s, 1)];
         p.status = text(s, 2);
         p.role = text(s, 3);
         p.audio = sqlite3_column_int(s, 4) != 0;
         p.video = sqlite3_column_int(s, 5) != 0;
         p.order = sqlite3_column_int(s, 6);
         p.joined_at = sqlite3_column_int64(s, 7);
         p.left_at = sqlite3_column_int64(s, 8);
       });
  each("SELECT meeting, invitee, inviter, status FROM invitations", [&](sqlite3_stmt* s) {
    auto id = text(s, 0);
    auto i = snap.meetings.find(id);
    if (i == snap.meetings.end()) {
      snap.orphans.push_back("invitation of " + text(s, 1) + " to missing meeting " + id);
      return;
    }
    i->second.invs[text(s, 1)] = db_inv{text(s, 3), text(s, 2)};
  });
  each("SELECT client, id, reply FROM request_log", [&](sqlite3_stmt* s) {
    snap.requests[{text(s, 0), text(s, 1)}] = text(s, 2);
  });
  each("SELECT client, user FROM devices",
       [&](sqlite3_stmt* s) { snap.devices[text(s, 0)] = text(s, 1); });
  sqlite3_close(db);
  return snap;
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

/// Differences between the model and the rows.
std::vector<std::string> diff_rows(const meeting_model& want, const db_meeting* got) {
  std::vector<std::string> out;
  if (!want.exists) {
    if (got)
      out.push_back("exists in the database but no create committed (status " + got->status
                    + ", " + std::to_string(got->parts.size()) + " participants)");
    return out;
  }
  if (!got) {
    out.push_back("missing from the database");
    return out;
  }
  auto field = [&](const std::string& what, const std::string& w, const std::string& g) {
    if (w != g)
      out.push_back(what + ": expected " + w + ", database has " + g);
  };
  field("status", want.status, got->status);
  if (want.ended())
    field("end_reason", want.end_reason, got->end_reason);
  field("locked", want.locked ? "1" : "0", got->locked ? "1" : "0");
  field("next_order", std::to_string(want.next_order), std::to_string(got->next_order));
  for (auto& [u, p] : want.parts) {
    auto i = got->parts.find(u);
    if (i == got->parts.end()) {
      out.push_back("participant " + u + " (" + p.status + ", " + p.role + ") missing");
      continue;
    }
    auto& g = i->second;
    field("participant " + u + " status", p.status, g.status);
    field("participant " + u + " role", p.role, g.role);
    field("participant " + u + " audio_muted", p.audio ? "1" : "0", g.audio ? "1" : "0");
    field("participant " + u + " video_muted", p.video ? "1" : "0", g.video ? "1" : "0");
  }
  // join_order: exact for a lone first admission, as a set for a race.
  std::map<int, std::pair<std::multiset<int>, std::multiset<int>>> ties;
  std::map<int, std::string> tie_users;
  for (auto& [u, p] : want.parts) {
    auto i = got->parts.find(u);
    if (i == got->parts.end())
      continue;
    ties[p.tie].first.insert(p.order);
    ties[p.tie].second.insert(i->second.order);
    tie_users[p.tie] += " " + u;
  }
  for (auto& [tie, orders] : ties)
    if (orders.first != orders.second) {
      std::string w, g;
      for (auto o : orders.first)
        w += " " + std::to_string(o);
      for (auto o : orders.second)
        g += " " + std::to_string(o);
      out.push_back("join_order of" + tie_users[tie] + " (admitted in phase "
                    + std::to_string(tie - 1) + "): expected {" + w + " }, database has {" + g
                    + " }");
    }
  for (auto& [u, g] : got->parts)
    if (!want.parts.count(u))
      out.push_back("participant " + u + " (" + g.status + ", " + g.role
                    + ") in the database but no committed command made it");
  for (auto& [u, i] : want.invs) {
    auto j = got->invs.find(u);
    if (j == got->invs.end()) {
      out.push_back("invitation of " + u + " (" + i.status + ") missing");
      continue;
    }
    field("invitation of " + u + " status", i.status, j->second.status);
    field("invitation of " + u + " inviter", i.inviter, j->second.inviter);
  }
  for (auto& [u, g] : got->invs)
    if (!want.invs.count(u))
      out.push_back("invitation of " + u + " (" + g.status
                    + ") in the database but no committed command made it");
  return out;
}

/// Differences between the model and the node's meeting.get view.
std::vector<std::string> diff_view(const meeting_model& want, const json& view) {
  std::vector<std::string> out;
  auto field = [&](const std::string& what, const json& w, const json& g) {
    if (w != g)
      out.push_back(what + ": expected " + w.dump() + ", the node says " + g.dump());
  };
  field("state", want.status, view.value("state", json{}));
  field("host", want.host(), view.value("host", json{}));
  if (want.ended()) {
    field("end_reason", want.end_reason, view.value("end_reason", json{}));
    // A meeting whose actor is gone after DeleteChannel is shown from the
    // directory's summary: no participants, invitations or lock.
    if (view.value("participants", json::array()).empty()
        && view.value("invitations", json::array()).empty()) {
      if (!out.empty() && view.value("host", json{}) == want.creator && want.host() != want.creator)
        out.push_back("(the view names the creator: after a restart the directory shows an ended "
                      "meeting from its meetings row alone, directory_core::restore_ended, and "
                      "forgets the last host that the participants rows still hold)");
      return out;
    }
  }
  field("locked", want.locked, view.value("locked", json{}));
  std::map<std::string, json> parts, invs;
  for (auto& p : view.value("participants", json::array()))
    parts[p.value("user", std::string{})] = p;
  for (auto& i : view.value("invitations", json::array()))
    invs[i.value("user", std::string{})] = i;
  for (auto& [u, p] : want.parts) {
    auto i = parts.find(u);
    if (i == parts.end()) {
      out.push_back("participant " + u + " missing from the view");
      continue;
    }
    field("participant " + u + " state", p.status, i->second.value("state", json{}));
    field("participant " + u + " role", p.role, i->second.value("role", json{}));
    field("participant " + u + " audio_muted", p.audio, i->second.value("audio_muted", json{}));
    field("participant " + u + " video_muted", p.video, i->second.value("video_muted", json{}));
  }
  for (auto& [u, p] : parts)
    if (!want.parts.count(u))
      out.push_back("participant " + u + " in the view but not in the model: " + p.dump());
  for (auto& [u, i] : want.invs) {
    auto j = invs.find(u);
    if (j == invs.end()) {
      out.push_back("invitation of " + u + " missing from the view");
      continue;
    }
    field("invitation of " + u + " state", i.status, j->second.value("state", json{}));
    field("invitation of " + u + " inviter", i.inviter, j->second.value("inviter", json{}));
  }
  for (auto& [u, i] : invs)
    if (!want.invs.count(u))
      out.push_back("invitation of " + u + " in the view but not in the model: " + i.dump());
  return out;
}

// -- the workload ---------------------------------------------------------------------

struct workload {
  int iter = 0;
  std::map<std::string, client::session*> devices;
  std::atomic<bool> killed{false};
  steady::time_point kill_time;
  std::mutex mtx;
  std::vector<cmd_ptr> ledger;

  cmd_ptr record(cmd_ptr c) {
    std::lock_guard<std::mutex> guard{mtx};
    ledger.push_back(c);
    return c;
  }
  bool past_grace() const {
    return killed.load() && steady::now() > kill_time + k_grace;
  }
};

/// A thread's meeting, carried on from round to round (across kills) until
/// it ends.
struct slot {
  std::string meeting; // empty: none yet
  meeting_model model; // as the replies so far say
  int next_phase = 0;
  int born = 0;        // the round that created it
  int created = 0;     // meetings this slot created, for their ids
  bool active() const {
    return !meeting.empty() && model.exists && !model.ended();
  }
};

/// One thread: its meeting's script, phase after phase, a new meeting when
/// one ends. The commands of one phase go out together (from different
/// devices) and touch different rows, so their order does not matter; the
/// next phase waits for every reply. A phase with a reply missing at the
/// kill ends the thread.
class scripter {
public:
  scripter(workload& w, int thread, slot& s, std::uint64_t seed)
    : w_(w), t_(thread), s_(s), meeting_(s.meeting), m_(s.model), phase_(s.next_phase),
      rng_(seed) {
  }

  void run() {
    while (!w_.killed.load()) {
      if (!s_.active()) {
        meeting_ = "c" + std::to_string(w_.iter) + "-t" + std::to_string(t_) + "-"
                   + std::to_string(s_.created++);
        m_ = meeting_model{};
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
        if (!run_phase({make(host, "meeting.create", args)}))
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
    c->predicted_ok = predict(m_, *c);
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
    m_.tie = phase_ + 1;
    for (auto& c : cmds)
      if (code_of(*c->reply) == 0)
        apply(m_, *c, *c->reply);
    ++phase_;
    return true;
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
    auto joined = m_.joined_users();
    auto host = m_.host();
    std::vector<std::string> mods, members, ringing, outsiders, kickable;
    for (auto& u : joined)
      if (m_.moderator(u))
        mods.push_back(u);
    for (auto& u : joined)
      if (u != host)
        members.push_back(u);
    for (auto& u : k_users) {
      if (m_.ringing(u) && !m_.joined(u) && !m_.kicked(u))
        ringing.push_back(u);
      else if (!m_.joined(u) && !m_.kicked(u))
        outsiders.push_back(u);
    }
    for (auto& [u, p] : m_.parts)
      if (p.status == "left" || (p.status == "joined" && p.role != "host"))
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
      {members.empty() || succession_ambiguous(m_, host) ? 0 : 1, 5}, // the host leaves
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
          out.push_back(make(by, m_.locked ? "moderate.unlock" : "moderate.lock",
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
        auto inviter = m_.invs.at(u).inviter;
        auto by = m_.joined(inviter) && chance(0.7) ? inviter : one_of(joined);
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
  meeting_model& m_;
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

TEST(crash, sigkill_at_random_points_loses_nothing_acknowledged_and_replays_replies) {
  int iterations = env_int("MEETINGD_CRASH_ITERATIONS", 20);
  std::uint64_t seed = std::random_device{}();
  if (auto s = std::getenv("MEETINGD_CRASH_SEED"); s && *s)
    seed = std::strtoull(s, nullptr, 10);
  std::printf("[crash] seed %llu (MEETINGD_CRASH_SEED), %d iterations "
              "(MEETINGD_CRASH_ITERATIONS)\n",
              static_cast<unsigned long long>(seed), iterations);
  std::fflush(stdout);
  std::mt19937_64 rng{seed};

  // Meetings quiet for 300 ms give up their actors: the load wakes them and
  // puts them back to sleep all the time, and every restart starts with
  // dormant ones. Six users create meetings as fast as they can: the limits
  // per user are off, the test is about durability.
  node_options opts;
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
  std::map<std::string, std::vector<cmd_ptr>> history; // every meeting's commands
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
  struct round_stats {
    int delay_ms = 0;
    std::size_t sent = 0, acked = 0, refused = 0, unknown = 0, committed_unknown = 0,
                meetings = 0, replays = 0, resent_unknown = 0, mispredicted = 0,
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
      history[cmd->meeting].push_back(cmd);
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
      if ((code_of(*cmd->reply) == 0) != cmd->predicted_ok) {
        ++rs.mispredicted;
        found.add("round " + std::to_string(iter) + ": the node answered "
                  + cmd->reply->dump() + " where the model of the replies so far expected "
                  + (cmd->predicted_ok ? "success" : "a refusal") + ": " + describe(*cmd)
                  + "\n" + log_lines(c.node_log(), {cmd->meeting}));
      }
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
    auto snap = read_snapshot(c.db_path(), c.dir().path() + "/snapshot-" + std::to_string(iter));
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
    // Every meeting is exactly what its committed commands made: this round's
    // commands count if their reply came or request_log has them, earlier
    // rounds' as their replies (before or after that restart) say.
    for (auto& [id, cmds] : history) {
      auto want = model_of(cmds, [iter](const command& x) {
        if (x.reply)
          return x.reply;
        return x.iter == iter ? x.committed : x.resolved;
      });
      auto i = snap.meetings.find(id);
      auto diffs = diff_rows(want, i == snap.meetings.end() ? nullptr : &i->second);
      if (diffs.empty())
        continue;
      std::string msg = where + "meeting " + id
                        + " in the database differs from its committed commands:";
      for (auto& d : diffs)
        msg += "\n  - " + d;
      msg += listing(cmds) + "\n  node log:\n" + log_lines(c.node_log(), {id});
      found.add(msg);
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

    // -- the node's view matches the model of every reply ----------------------------
    // (the meetings of this round and every meeting still going on).
    std::map<std::string, std::string> gets;
    for (auto& [id, cmds] : history) {
      auto want = model_of(cmds, final_reply);
      if (by_meeting.count(id) || (want.exists && !want.ended()))
        gets[id] = console->send("admin.meeting.get", {{"meeting", id}});
    }
    for (auto& [id, get_id] : gets) {
      auto& cmds = history[id];
      auto want = model_of(cmds, final_reply);
      auto got = console->wait_reply(get_id, 5s);
      if (!got) {
        found.add(where + "no reply to admin.meeting.get of " + id);
        continue;
      }
      auto r = *got;
      std::vector<std::string> diffs;
      if (!want.exists) {
        if (reason_of(r) != "meeting_not_found")
          diffs.push_back("never created, but admin.meeting.get says " + r.dump());
      } else if (want.ended() && code_of(r) == 410) {
        // Ended, and its actor is gone after DeleteChannel (older nodes).
      } else if (code_of(r) != 0) {
        diffs.push_back("admin.meeting.get: " + r.dump());
      } else {
        diffs = diff_view(want, r["data"]);
      }
      if (diffs.empty())
        continue;
      std::string msg = where + "after the restart, the node's view of meeting " + id
                        + " differs from the replies:";
      for (auto& d : diffs)
        msg += "\n  - " + d;
      msg += listing(cmds) + "\n  node log:\n" + log_lines(c.node_log(), {id});
      found.add(msg);
    }

    // -- the scripts go on from what the replies say; old meetings end -------------------
    bool last = iter + 1 == iterations;
    for (auto& sl : slots) {
      if (sl.meeting.empty())
        continue;
      auto& cmds = history[sl.meeting];
      sl.model = model_of(cmds, final_reply);
      for (auto& x : cmds)
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
      cmds.push_back(cmd);
      if (code_of(*cmd->reply) != 0) {
        found.add(where + "admin.meeting.end of " + sl.meeting + ": " + cmd->reply->dump());
        continue;
      }
      apply(sl.model, *cmd, *cmd->reply);
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
      for (auto& [id, cmds] : history) {
        if (!model_of(cmds, final_reply).exists)
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
  auto snap = read_snapshot(c.db_path(), c.dir().path() + "/snapshot-final");
  if (snap.integrity != "ok")
    found.add("final: PRAGMA integrity_check: " + snap.integrity);
  for (auto& [id, cmds] : history) {
    auto want = model_of(cmds, final_reply);
    if (want.exists && !want.ended())
      found.add("final: meeting " + id + " is still going on in the model");
    for (auto& d : diff_rows(want, snap.meetings.count(id) ? &snap.meetings.at(id) : nullptr))
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
