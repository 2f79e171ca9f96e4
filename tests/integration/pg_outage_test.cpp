// The node on PostgreSQL while its server goes away and comes back, under a
// steady stream of commands that change state (meeting.create with new ids,
// call.invite, moderate.mute/unmute from four devices; admin.user.add from
// the console), each with a request id of its own. One test per fault:
//
//   kill9      every server process SIGKILLed (crash recovery on restart);
//   stop_fast  a fast shutdown (sessions ended by the server), then a start;
//   pause      SIGSTOP of every server process: connections stay open and
//              nothing answers; the node runs with --db-timeout=2s.
//
// The stream goes on for a few seconds of outage, then the server is
// brought back and the stream goes on until every sender has had a success
// again. What must hold:
//
//   - every command is answered within k_answer_bound of being sent (no
//     silence): with its real reply, or 503 store_unavailable with
//     retry_after_ms > 0 — never 500 or any other answer;
//   - during the outage, a duplicate of an answered request (whose stored
//     reply cannot be read) is answered 503 store_unavailable; once the
//     server is back, the duplicate gets the original reply;
//   - the node carries on by itself (the same process; no restart);
//   - the database holds every change answered with success, and its reply
//     in request_log; nothing answered 503 left a trace (no meeting, no
//     user, no request_log row); sent again with the same request id after
//     the outage, each 503'd command succeeds.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace meetingd::testing;
using meetingd::test::pg_server;
namespace client = meetingd::client;
using steady = std::chrono::steady_clock;

namespace {

/// The longest a command may wait for its answer: the outage (a few
/// seconds), the store's retry back-off (at most 5 s) and --db-timeout, far
/// below the gateway's own 60 s (after which it answers 500).
constexpr auto k_answer_bound = 30s;
/// How long the stream runs while the server is away.
constexpr auto k_outage = 3s;
/// Commands per second of each sender.
constexpr auto k_interval = 50ms;

struct fault {
  std::string name;
  std::function<void(pg_server&)> begin;
  std::function<bool(pg_server&, std::string*)> end;
  std::map<std::string, std::string> flags; // the node's, besides the stream's
};

void PrintTo(const fault& f, std::ostream* out) {
  *out << f.name;
}

/// One command of the stream and what became of it.
struct sent {
  std::string sender; // the user, or the console
  std::string client;
  std::string id;
  std::string type;
  json args;
  steady::time_point at;
  std::optional<json> reply;
  steady::time_point replied_at;
};

/// What a sender sends as its n-th command: (type, args).
using next_command = std::function<std::pair<std::string, json>(int n)>;

/// Senders, one thread each: a new command every k_interval, replies
/// collected as they come. stop() ends the sending; the threads then wait
/// until every command has its answer or is past k_answer_bound.
class stream {
public:
  void add(const std::string& name, client::session& s, next_command next) {
    senders_.push_back({name, &s, std::move(next)});
  }

  void start() {
    for (auto& snd : senders_)
      threads_.emplace_back([this, &snd] { run(snd); });
  }

  void stop() {
    stopping_ = true;
    for (auto& t : threads_)
      t.join();
    threads_.clear();
  }

  ~stream() {
    if (!threads_.empty())
      stop();
  }

  /// A copy of every command so far.
  std::vector<sent> ledger() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return ledger_;
  }

  /// Whether `pred` holds for some command so far.
  bool any(const std::function<bool(const sent&)>& pred) const {
    std::lock_guard<std::mutex> lock{mutex_};
    for (auto& c : ledger_)
      if (pred(c))
        return true;
    return false;
  }

  /// Whether every sender has had `n` successes for commands sent after `t`.
  bool each_succeeded_after(steady::time_point t, int n = 1) const {
    std::lock_guard<std::mutex> lock{mutex_};
    std::map<std::string, int> ok;
    for (auto& c : ledger_)
      if (c.at > t && c.reply && code_of(*c.reply) == 0)
        ++ok[c.sender];
    for (auto& snd : senders_)
      if (ok[snd.name] < n)
        return false;
    return true;
  }

private:
  struct sender {
    std::string name;
    client::session* session;
    next_command next;
  };

  void run(sender& snd) {
    std::vector<std::size_t> waiting; // indices into ledger_
    int n = 0;
    auto next_send = steady::now();
    for (;;) {
      auto now = steady::now();
      if (!stopping_ && now >= next_send) {
        auto [type, args] = snd.next(n);
        sent c{snd.name, snd.session->client_id(), snd.name + "-" + std::to_string(n),
               type, args, now, std::nullopt, {}};
        ++n;
        next_send += k_interval;
        {
          std::lock_guard<std::mutex> lock{mutex_};
          ledger_.push_back(c);
          waiting.push_back(ledger_.size() - 1);
        }
        snd.session->send(c.type, c.args, c.id);
      }
      for (auto i = waiting.begin(); i != waiting.end();) {
        std::string id;
        steady::time_point at;
        {
          std::lock_guard<std::mutex> lock{mutex_};
          id = ledger_[*i].id;
          at = ledger_[*i].at;
        }
        if (auto r = snd.session->wait_reply(id, 0ms)) {
          std::lock_guard<std::mutex> lock{mutex_};
          ledger_[*i].reply = *r;
          ledger_[*i].replied_at = steady::now();
          i = waiting.erase(i);
        } else if (stopping_ && steady::now() > at + k_answer_bound) {
          i = waiting.erase(i); // silence: the test reports it
        } else {
          ++i;
        }
      }
      if (stopping_ && waiting.empty())
        return;
      std::this_thread::sleep_for(5ms);
    }
  }

  std::vector<sender> senders_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<sent> ledger_;
};

std::string arg(const sent& c, const char* name) {
  return c.args.value(name, std::string{});
}

bool is_store_unavailable(const json& reply) {
  return code_of(reply) == 503 && reason_of(reply) == "store_unavailable"
         && reply["error"].value("retry_after_ms", 0LL) > 0;
}

std::string describe(const sent& c, steady::time_point fault_at) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(c.at - fault_at).count();
  std::string s = c.type + " " + c.args.dump() + " (id " + c.id + ", sent "
                  + std::to_string(ms) + " ms after the fault began): ";
  return s + (c.reply ? c.reply->dump() : "no answer");
}

class pg_outage : public ::testing::TestWithParam<fault> {};

INSTANTIATE_TEST_SUITE_P(
  , pg_outage,
  ::testing::Values(
    fault{"kill9", [](pg_server& s) { s.kill9(); },
          [](pg_server& s, std::string* e) { return s.restart(e); }, {}},
    fault{"stop_fast", [](pg_server& s) { s.stop_fast(); },
          [](pg_server& s, std::string* e) { return s.restart(e); }, {}},
    fault{"pause", [](pg_server& s) { s.pause(); },
          [](pg_server& s, std::string*) {
            s.resume();
            return true;
          },
          {{"db-timeout", "2s"}}}));

} // namespace

TEST_P(pg_outage, every_command_is_answered_and_the_node_carries_on_when_the_server_is_back) {
  const auto& f = GetParam();
  node_options opts;
  opts.store = store_kind::postgres;
  opts.flags = {{"rate-limit", "0"},
                {"max-meetings-per-user", "0"},
                {"max-creates-per-minute", "0"},
                {"ring-timeout", "1h"}};
  for (auto& [k, v] : f.flags)
    opts.flags[k] = v;
  cluster c{opts};
  c.start_node();
  auto node_pid = c.node()->pid();

  // Four callers, each with a meeting of its own; a callee who is rung; a
  // prober who reads and repeats during the outage.
  const std::vector<std::string> callers{"ann", "ben", "cat", "dan"};
  std::map<std::string, std::unique_ptr<client::session>> devices;
  for (auto& u : callers) {
    devices[u] = c.logged_in(u + "-phone", u);
    start_meeting(*devices[u], {}, {{"meeting", "base-" + u}, {"title", "base of " + u}});
  }
  auto callee = c.logged_in("cal-phone", "cal");
  auto prober = c.logged_in("pro-phone", "pro");
  auto probe_created =
    prober->request("meeting.create", {{"meeting", "probe"}, {"title", "probe"}}, 5s, "probe-create");
  ASSERT_EQ(code_of(probe_created), 0) << probe_created.dump();
  // After logged_in, whose add_user connects a console-1 of its own.
  auto console = c.console();

  stream s;
  for (auto& u : callers)
    s.add(u, *devices[u], [u](int n) -> std::pair<std::string, json> {
      json base{{"meeting", "base-" + u}};
      switch (n % 4) {
        case 0:
          return {"meeting.create", {{"meeting", "s-" + u + "-" + std::to_string(n)},
                                     {"title", "stream " + u + " " + std::to_string(n)}}};
        case 1:
          return {"call.invite", {{"meeting", "base-" + u}, {"users", {"cal"}}}};
        case 2:
          return {"moderate.mute", {{"meeting", "base-" + u}, {"user", u}}};
        default:
          return {"moderate.unmute", {{"meeting", "base-" + u}, {"user", u}}};
      }
    });
  s.add("console", *console, [](int n) -> std::pair<std::string, json> {
    return {"admin.user.add",
            {{"user", "added-" + std::to_string(n)}, {"password", "password-" + std::to_string(n)}}};
  });
  s.start();
  ASSERT_TRUE(eventually([&] { return s.each_succeeded_after(steady::time_point{}, 20); }, 30s))
    << "the stream does not get going:\n" << c.node_log();

  // -- the outage -------------------------------------------------------------------
  auto fault_at = steady::now();
  f.begin(*c.pg());
  EXPECT_TRUE(eventually(
    [&] {
      return s.any([&](const sent& x) {
        return x.at > fault_at && x.reply && is_store_unavailable(*x.reply);
      });
    },
    20s))
    << "no 503 store_unavailable for a new write while the server is away";
  // The stored reply of an answered request cannot be read now.
  auto duplicate = prober->request("meeting.create", {{"meeting", "probe"}, {"title", "probe"}},
                                   15s, "probe-create");
  EXPECT_TRUE(is_store_unavailable(duplicate)) << duplicate.dump();
  // The stream goes on for a while of outage (a workload, not a check).
  std::this_thread::sleep_until(fault_at + k_outage);

  // -- the server is back -----------------------------------------------------------
  std::string error;
  ASSERT_TRUE(f.end(*c.pg(), &error)) << error;
  auto back_at = steady::now();
  EXPECT_TRUE(eventually([&] { return s.each_succeeded_after(back_at); }, 30s))
    << "the node does not take writes again after the server came back:\n"
    << lines_with(c.node_log(), "store.");
  s.stop();
  EXPECT_TRUE(c.node()->running()) << c.node_log();
  EXPECT_EQ(c.node()->pid(), node_pid);
  EXPECT_NE(c.node_log().find("store.commit_recovered"), std::string::npos)
    << lines_with(c.node_log(), "store.");
  auto again = prober->request("meeting.create", {{"meeting", "probe"}, {"title", "probe"}}, 10s,
                               "probe-create");
  EXPECT_EQ(again, probe_created);

  // -- every command answered, and only as it may be -------------------------------------
  auto ledger = s.ledger();
  std::size_t ok = 0, unavailable = 0;
  std::vector<std::string> wrong;
  for (auto& x : ledger) {
    if (!x.reply || x.replied_at > x.at + k_answer_bound)
      wrong.push_back("not answered within 30 s: " + describe(x, fault_at));
    else if (code_of(*x.reply) == 0)
      ++ok;
    else if (is_store_unavailable(*x.reply))
      ++unavailable;
    else
      wrong.push_back("answered neither with its reply nor 503 store_unavailable: "
                      + describe(x, fault_at));
  }
  std::printf("[pg_outage] %s: %zu commands, %zu succeeded, %zu answered 503\n", f.name.c_str(),
              ledger.size(), ok, unavailable);
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << ledger.size() << " commands:\n"
                             << [&] {
                                  std::string out;
                                  for (std::size_t i = 0; i < wrong.size() && i < 20; ++i)
                                    out += "  " + wrong[i] + "\n";
                                  return out;
                                }()
                             << lines_with(c.node_log(), "store.");

  // -- the database: the successes are there, the 503s left no trace ---------------
  auto uri = c.db_path();
  std::map<std::string, std::string> meetings; // id -> title
  for (auto& r : pg_rows(uri, "SELECT id, title FROM meetings"))
    meetings[r[0]] = r[1];
  std::set<std::string> users;
  for (auto& r : pg_rows(uri, "SELECT id FROM users"))
    users.insert(r[0]);
  std::map<std::pair<std::string, std::string>, std::string> requests;
  for (auto& r : pg_rows(uri, "SELECT client, id, reply FROM request_log"))
    requests[{r[0], r[1]}] = r[2];
  std::set<std::string> rung; // meetings with a ringing invitation of cal
  for (auto& r : pg_rows(uri, "SELECT meeting FROM invitations WHERE invitee = 'cal' "
                              "AND status = 'ringing'"))
    rung.insert(r[0]);
  std::vector<const sent*> refused;
  for (auto& x : ledger) {
    if (!x.reply)
      continue;
    auto stored = requests.find({x.client, x.id});
    bool created = x.type == "meeting.create" && meetings.count(arg(x, "meeting"));
    bool added = x.type == "admin.user.add" && users.count(arg(x, "user"));
    if (code_of(*x.reply) == 0) {
      if (stored == requests.end())
        ADD_FAILURE() << "acknowledged, but its reply is not in request_log: "
                      << describe(x, fault_at);
      else if (json::parse(stored->second, nullptr, false) != *x.reply)
        ADD_FAILURE() << "request_log holds another reply: " << describe(x, fault_at)
                      << "\n  stored: " << stored->second;
      if (x.type == "meeting.create") {
        EXPECT_TRUE(created) << "acknowledged, but no meeting: " << describe(x, fault_at);
        if (created) {
          EXPECT_EQ(meetings[arg(x, "meeting")], arg(x, "title"));
        }
      }
      if (x.type == "admin.user.add") {
        EXPECT_TRUE(added) << "acknowledged, but no user: " << describe(x, fault_at);
      }
      if (x.type == "call.invite") {
        EXPECT_TRUE(rung.count(arg(x, "meeting")))
          << "acknowledged, but no ringing invitation: " << describe(x, fault_at);
      }
    } else if (is_store_unavailable(*x.reply)) {
      refused.push_back(&x);
      EXPECT_TRUE(stored == requests.end())
        << "answered 503, but in request_log: " << describe(x, fault_at);
      EXPECT_FALSE(created) << "answered 503, but the meeting exists: " << describe(x, fault_at);
      EXPECT_FALSE(added) << "answered 503, but the user exists: " << describe(x, fault_at);
    }
  }

  // -- sent again with the same id, each 503'd command succeeds -------------------------
  std::map<std::string, client::session*> session_of{{"console", console.get()}};
  for (auto& u : callers)
    session_of[u] = devices[u].get();
  for (auto* x : refused)
    session_of[x->sender]->send(x->type, x->args, x->id);
  for (auto* x : refused) {
    auto r = session_of[x->sender]->wait_reply(x->id, k_answer_bound);
    ASSERT_TRUE(r) << "no answer to a 503'd command sent again: " << describe(*x, fault_at);
    EXPECT_EQ(code_of(*r), 0) << "a 503'd command sent again: " << describe(*x, fault_at)
                              << "\n  again: " << r->dump();
  }
  meetings.clear();
  for (auto& r : pg_rows(uri, "SELECT id, title FROM meetings"))
    meetings[r[0]] = r[1];
  for (auto* x : refused)
    if (x->type == "meeting.create") {
      EXPECT_EQ(meetings[arg(*x, "meeting")], arg(*x, "title")) << describe(*x, fault_at);
    }
  EXPECT_TRUE(c.node()->running());
}

// docs/database.md: while the database is away, "commands that only read are
// answered as usual". A killed server, and one device and the console ask
// the node what it has in memory.
TEST(pg_outage_reads, reads_are_answered_while_the_server_is_away) {
  node_options opts;
  opts.store = store_kind::postgres;
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  start_meeting(*alice, {}, {{"meeting", "m-1"}, {"title", "kept in memory"}});
  auto console = c.console();
  c.pg()->kill9();
  // Writes, until the node knows the server is away (503 from then on); the
  // first one waits for the server.
  int n = 0;
  ASSERT_TRUE(eventually(
    [&] {
      auto id = alice->send("meeting.create", {{"meeting", "w-" + std::to_string(++n)}});
      auto r = alice->wait_reply(id, 100ms);
      return r && is_store_unavailable(*r);
    },
    20s));
  std::map<std::string, std::string> asked; // request id -> what
  asked[alice->send("meeting.get", {{"meeting", "m-1"}})] = "meeting.get";
  for (auto type : {"admin.ping", "admin.meetings.list", "admin.stats"})
    asked[console->send(type, json::object())] = type;
  std::vector<std::string> silent;
  for (auto& [id, type] : asked) {
    auto& s = type == "meeting.get" ? *alice : *console;
    auto r = s.wait_reply(id, 5s);
    if (!r)
      silent.push_back(type);
    else
      EXPECT_EQ(code_of(*r), 0) << type << ": " << r->dump();
  }
  EXPECT_TRUE(silent.empty()) << "no answer within 5 s while the server is away: " << [&] {
    std::string out;
    for (auto& t : silent)
      out += t + " ";
    return out;
  }();
  std::string error;
  ASSERT_TRUE(c.pg()->restart(&error)) << error;
  for (auto& type : silent) {
    auto& s = type == "meeting.get" ? *alice : *console;
    for (auto& [id, t] : asked)
      if (t == type) {
        auto r = s.wait_reply(id, 30s);
        EXPECT_TRUE(r) << type << ": no answer even once the server is back";
        if (r) {
          std::printf("[pg_outage_reads] %s answered only once the server was back: %s\n",
                      type.c_str(), r->dump().c_str());
        }
      }
  }
}

// A command accepted just as the server went away waits past
// --command-timeout: the device gets 503 store_unavailable (not 500), and
// the command stays held. Once the server is back it commits, and the same
// request id sent again gets that reply from the store: the create's
// success, not a second run of it (409, the id taken).
TEST(pg_outage_long, a_command_held_past_the_timeout_gets_503_and_its_reply_when_sent_again) {
  node_options opts;
  opts.store = store_kind::postgres;
  opts.flags["command-timeout"] = "2s";
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  c.pg()->kill9();
  // The first write after the kill is accepted (the node learns that the
  // server is away from this commit) and held.
  auto id = alice->send("meeting.create", {{"meeting", "held"}, {"title", "held"}});
  auto first = alice->wait_reply(id, 15s);
  ASSERT_TRUE(first) << "no answer past --command-timeout";
  EXPECT_TRUE(is_store_unavailable(*first)) << first->dump();
  EXPECT_NE(first->dump().find("same request"), std::string::npos) << first->dump();
  std::string error;
  ASSERT_TRUE(c.pg()->restart(&error)) << error;
  ASSERT_TRUE(eventually(
    [&] {
      try {
        return pg_rows(c.db_path(), "SELECT count(*) FROM meetings WHERE id = 'held'")[0][0]
               == "1";
      } catch (const std::exception&) {
        return false;
      }
    },
    30s))
    << "the held create never committed\n" << c.node_log();
  auto again = alice->request("meeting.create", {{"meeting", "held"}, {"title", "held"}}, 10s,
                              id);
  EXPECT_EQ(code_of(again), 0) << again.dump();
  EXPECT_EQ(again["data"].value("meeting", ""), "held") << again.dump();
  EXPECT_TRUE(c.node()->running());
}
