// meetctl, the admin console CLI, run as a process against a real broker,
// emulator and node: every subcommand in table and --json mode, the exit
// codes (0 done, 1 the node refused, 2 usage, 3 unreachable or no reply),
// passwords from stdin, and the effects devices see (event.ended with reason
// admin, event.kicked, event.mute_request).
#include "harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

using namespace meetingd::testing;

namespace {

struct run_result {
  std::optional<int> code;
  std::string output; // stdout + stderr, or stdout alone for `stdout_only`
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'')
      out += "'\\''";
    else
      out += ch;
  }
  return out + "'";
}

bool has(const std::string& out, const std::string& what) {
  return out.find(what) != std::string::npos;
}

std::size_t occurrences(const std::string& out, const std::string& what) {
  std::size_t n = 0;
  for (auto at = out.find(what); at != std::string::npos; at = out.find(what, at + 1))
    ++n;
  return n;
}

/// The line of `out` that contains `what` (empty if none).
std::string line_with(const std::string& out, const std::string& what) {
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);)
    if (has(line, what))
      return line;
  return {};
}

struct meetctl_runner {
  cluster& c;
  int runs = 0;

  /// Runs meetctl with `--broker` of the cluster and `args`, waits for it.
  /// `stdin_line`: piped in through /bin/sh (the harness gives processes no
  /// stdin of their own). `stdout_only`: stderr is dropped, so --json output
  /// can be parsed.
  run_result operator()(std::vector<std::string> args, bool stdout_only = false,
                        const std::optional<std::string>& stdin_line = std::nullopt,
                        std::map<std::string, std::string> env = {},
                        bool with_broker = true) {
    std::vector<std::string> argv{MEETCTL_BIN};
    if (with_broker)
      argv.push_back("--broker=" + c.broker_uri());
    argv.insert(argv.end(), args.begin(), args.end());
    auto name = "meetctl-" + std::to_string(++runs);
    std::unique_ptr<process> p;
    if (stdout_only || stdin_line) {
      std::string cmd;
      if (stdin_line)
        cmd += "printf '%s\\n' " + quote(*stdin_line) + " | ";
      cmd += "exec";
      for (const auto& a : argv)
        cmd += " " + quote(a);
      if (stdout_only)
        cmd += " 2>/dev/null";
      p = std::make_unique<process>(name, std::vector<std::string>{"/bin/sh", "-c", cmd}, env,
                                    c.dir().path());
    } else {
      p = std::make_unique<process>(name, argv, env, c.dir().path());
    }
    auto code = p->wait(30s);
    return {code, p->output()};
  }

  json run_json(std::vector<std::string> args, int expected_code) {
    args.insert(args.begin(), "--json");
    auto r = (*this)(args, true);
    EXPECT_TRUE(r.code) << r.output;
    if (r.code) {
      EXPECT_EQ(*r.code, expected_code) << r.output;
    }
    auto j = json::parse(r.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.output;
    return j;
  }
};

#define EXPECT_EXIT_CODE(r, n)                                                                 \
  do {                                                                                         \
    ASSERT_TRUE((r).code) << "meetctl did not finish:\n" << (r).output;                        \
    EXPECT_EQ(*(r).code, n) << (r).output;                                                     \
  } while (false)

std::set<std::string> ids_of(const json& page, const char* list, const char* key) {
  std::set<std::string> out;
  for (const auto& x : page[list])
    out.insert(x[key].get<std::string>());
  return out;
}

} // namespace

TEST(meetctl, reads_and_acts_on_a_live_node) {
  cluster c;
  c.start_node();
  meetctl_runner run{c};

  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto carol = c.logged_in("carol-phone", "carol");
  auto dave = c.logged_in("dave-phone", "dave");
  auto created = alice->request("meeting.create",
                                {{"title", "standup"}, {"invitees", {"bob", "carol"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string m1 = created["data"]["meeting"];
  ASSERT_TRUE(bob->wait_event("event.invite"));
  ASSERT_EQ(code_of(bob->request("call.accept", {{"meeting", m1}})), 0);
  auto other = dave->request("meeting.create", {{"title", "retro"}});
  ASSERT_EQ(code_of(other), 0) << other.dump();
  std::string m2 = other["data"]["meeting"];

  // ping
  auto ping = run({"ping"});
  EXPECT_EXIT_CODE(ping, 0);
  EXPECT_TRUE(has(line_with(ping.output, "node"), "node-1")) << ping.output;
  EXPECT_TRUE(has(ping.output, "version")) << ping.output;
  EXPECT_TRUE(has(ping.output, "uptime")) << ping.output;
  auto ping_json = run.run_json({"ping"}, 0);
  EXPECT_EQ(ping_json["node"], "node-1");
  EXPECT_TRUE(ping_json["uptime_s"].is_number());

  // meetings: the table, filters, pages, JSON
  auto list = run({"meetings"});
  EXPECT_EXIT_CODE(list, 0);
  EXPECT_TRUE(has(list.output, "ID")) << list.output;
  for (auto col : {"TITLE", "HOST", "STATE", "PEOPLE", "CREATED", "EXPIRES"})
    EXPECT_TRUE(has(line_with(list.output, "ID"), col)) << col << "\n" << list.output;
  auto row = line_with(list.output, m1);
  for (auto cell : {"standup", "alice", "active", " 2 "})
    EXPECT_TRUE(has(row, cell)) << cell << " in [" << row << "]\n" << list.output;
  EXPECT_TRUE(has(line_with(list.output, m2), "retro")) << list.output;
  auto list_json = run.run_json({"meetings"}, 0);
  EXPECT_EQ(ids_of(list_json, "meetings", "meeting"), (std::set<std::string>{m1, m2}));
  for (const auto& m : list_json["meetings"]) {
    for (auto key : {"meeting", "title", "host", "state", "participants", "created_at",
                     "expires_at"})
      EXPECT_TRUE(m.contains(key)) << key << " " << m.dump();
  }

  auto of_bob = run({"meetings", "--user", "bob"});
  EXPECT_EXIT_CODE(of_bob, 0);
  EXPECT_TRUE(has(of_bob.output, m1)) << of_bob.output;
  EXPECT_FALSE(has(of_bob.output, m2)) << of_bob.output;

  auto one = run({"meetings", "--limit", "1"});
  EXPECT_EXIT_CODE(one, 0);
  EXPECT_EQ(has(one.output, m1) + has(one.output, m2), 1) << one.output;
  EXPECT_TRUE(has(one.output, "use --all")) << one.output;
  auto paged = run({"meetings", "--limit=1", "--all"});
  EXPECT_EXIT_CODE(paged, 0);
  EXPECT_TRUE(has(paged.output, m1) && has(paged.output, m2)) << paged.output;
  EXPECT_FALSE(has(paged.output, "use --all")) << paged.output;
  auto paged_json = run.run_json({"meetings", "--limit=1", "--all"}, 0);
  EXPECT_EQ(ids_of(paged_json, "meetings", "meeting"), (std::set<std::string>{m1, m2}));
  EXPECT_FALSE(paged_json.contains("next_after")) << paged_json.dump();
  auto one_json = run.run_json({"meetings", "--limit=1"}, 0);
  EXPECT_EQ(one_json["meetings"].size(), 1u);
  EXPECT_TRUE(one_json["next_after"].is_string()) << one_json.dump();

  auto none_ended = run({"meetings", "--state", "ended"});
  EXPECT_EXIT_CODE(none_ended, 0);
  EXPECT_TRUE(has(none_ended.output, "no meetings")) << none_ended.output;

  // meeting <id>: header block, participants, invitations
  auto detail = run({"meeting", m1});
  EXPECT_EXIT_CODE(detail, 0);
  auto& d = detail.output;
  EXPECT_TRUE(has(line_with(d, "title"), "standup")) << d;
  EXPECT_TRUE(has(line_with(d, "host"), "alice")) << d;
  EXPECT_TRUE(has(line_with(d, "state"), "active")) << d;
  EXPECT_TRUE(has(line_with(d, "expires"), "(in ")) << d;
  EXPECT_TRUE(has(d, "Participants (2)")) << d;
  EXPECT_TRUE(has(d, "USER   ROLE    STATE   ONLINE  AUDIO  VIDEO  JOINED")) << d;
  auto alice_row = line_with(d, "alice  host");
  EXPECT_TRUE(has(alice_row, "joined")) << d;
  EXPECT_TRUE(has(line_with(d, "bob    member"), "joined")) << d;
  EXPECT_TRUE(has(d, "Invitations (")) << d;
  EXPECT_TRUE(has(line_with(d, "carol"), "ringing")) << d;
  EXPECT_TRUE(has(line_with(d, "carol"), "alice")) << d; // the inviter
  auto detail_json = run.run_json({"meeting", m1}, 0);
  EXPECT_EQ(detail_json["meeting"], m1);
  EXPECT_EQ(detail_json["host"], "alice");
  EXPECT_EQ(detail_json["participants"].size(), 2u);

  auto missing = run({"meeting", "m-nope"});
  EXPECT_EXIT_CODE(missing, 1);
  EXPECT_TRUE(has(missing.output, "error 404 meeting_not_found")) << missing.output;
  auto missing_json = run.run_json({"meeting", "m-nope"}, 1);
  EXPECT_TRUE(is_refusal(missing_json, 404, "meeting_not_found"));
  auto bad_id = run({"meeting", "no spaces allowed"});
  EXPECT_EXIT_CODE(bad_id, 1);
  EXPECT_TRUE(has(bad_id.output, "error 400")) << bad_id.output;

  // stats, once and watched
  auto stats = run({"stats"});
  EXPECT_EXIT_CODE(stats, 0);
  EXPECT_TRUE(has(line_with(stats.output, "meetings"), "2 active")) << stats.output;
  for (auto key : {"participants", "ringing", "devices online", "users", "commands", "rtc",
                   "store"})
    EXPECT_TRUE(has(stats.output, key)) << key << "\n" << stats.output;
  auto stats_json = run.run_json({"stats"}, 0);
  EXPECT_EQ(stats_json["meetings"]["active"], 2);
  EXPECT_GE(stats_json["users"].get<int>(), 4);
  EXPECT_GE(stats_json["devices_online"].get<int>(), 4);
  EXPECT_TRUE(stats_json["commands"]["p99_ms"].is_number());
  auto watched = run({"stats", "--watch", "--interval=100ms", "--count", "2"});
  EXPECT_EXIT_CODE(watched, 0);
  EXPECT_EQ(occurrences(watched.output, "stats at "), 2u) << watched.output;
  EXPECT_EQ(occurrences(watched.output, "devices online"), 2u) << watched.output;
  EXPECT_FALSE(has(watched.output, "\033[")) << "no screen clearing when not a tty";
  auto watched_json = run({"--json", "stats", "--watch", "--interval=100ms", "--count=3"}, true);
  EXPECT_EXIT_CODE(watched_json, 0);
  std::istringstream lines{watched_json.output};
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n)
    EXPECT_TRUE(json::parse(line, nullptr, false).contains("meetings")) << line;
  EXPECT_EQ(n, 3) << watched_json.output;

  // users: list, add with the password from stdin, remove
  auto users = run({"users"});
  EXPECT_EXIT_CODE(users, 0);
  EXPECT_TRUE(has(line_with(users.output, "USER"), "DISPLAY NAME")) << users.output;
  for (auto u : {"alice", "bob", "carol", "dave"})
    EXPECT_TRUE(has(users.output, u)) << u << "\n" << users.output;
  EXPECT_TRUE(has(line_with(users.output, "alice"), " 1 ")) << users.output; // a device online
  auto users_paged = run.run_json({"users", "--limit", "1", "--all"}, 0);
  EXPECT_EQ(ids_of(users_paged, "users", "user"),
            (std::set<std::string>{"alice", "bob", "carol", "dave"}));

  auto added = run({"users", "add", "erin", "--display-name", "Erin E", "--password-stdin"},
                   false, std::string{"erin-secret-1"});
  EXPECT_EXIT_CODE(added, 0);
  EXPECT_TRUE(has(added.output, "added user erin")) << added.output;
  EXPECT_FALSE(has(added.output, "erin-secret-1")) << added.output;
  auto erin = c.device("erin-phone");
  auto login = erin->request("auth.login", {{"user", "erin"}, {"password", "erin-secret-1"}});
  EXPECT_EQ(code_of(login), 0) << login.dump();
  EXPECT_EQ(login["data"]["display_name"], "Erin E");
  EXPECT_TRUE(has(line_with(run({"users"}).output, "erin"), "Erin E"));
  // Neither --password nor --password-stdin: stdin (not a terminal) is read too.
  auto plain = run({"users", "add", "frank"}, false, std::string{"frank-secret-1"});
  EXPECT_EXIT_CODE(plain, 0);
  auto frank = c.device("frank-phone");
  EXPECT_EQ(code_of(frank->request("auth.login",
                                   {{"user", "frank"}, {"password", "frank-secret-1"}})),
            0);
  // The password on argv, if one insists; the MQTT login options before the
  // command are the global ones.
  auto argv_pw = run({"users", "add", "gina", "--password", "gina-secret-1"});
  EXPECT_EXIT_CODE(argv_pw, 0);
  auto dup = run.run_json({"users", "add", "erin", "--password=whatever-1"}, 1);
  EXPECT_TRUE(is_refusal(dup, 409, "user_exists"));
  auto short_pw = run({"users", "add", "hank", "--password-stdin"}, false, std::string{"short"});
  EXPECT_EXIT_CODE(short_pw, 1);
  EXPECT_TRUE(has(short_pw.output, "error 400")) << short_pw.output;
  auto empty_stdin = run({"users", "add", "hank", "--password-stdin"}, false, std::string{""});
  EXPECT_EXIT_CODE(empty_stdin, 2);

  auto removed = run({"users", "remove", "frank"});
  EXPECT_EXIT_CODE(removed, 0);
  EXPECT_TRUE(has(removed.output, "removed user frank")) << removed.output;
  EXPECT_FALSE(has(run({"users"}).output, "frank"));
  auto removed_again = run({"users", "remove", "frank"});
  EXPECT_EXIT_CODE(removed_again, 1);
  EXPECT_TRUE(has(removed_again.output, "error 404 user_not_found")) << removed_again.output;

  // mute-all: the members (not the host) are asked to mute audio and video
  auto muted = run({"mute-all", m1, "--video"});
  EXPECT_EXIT_CODE(muted, 0);
  auto mute_req = bob->wait_event("event.mute_request");
  ASSERT_TRUE(mute_req) << muted.output;
  EXPECT_EQ((*mute_req)["meeting"], m1);
  EXPECT_EQ((*mute_req)["data"]["audio"], true);
  EXPECT_EQ((*mute_req)["data"]["video"], true);
  EXPECT_FALSE(alice->wait_event("event.mute_request", 300ms));

  // mute one participant, and undo it: bob is asked, by the console
  auto muted_one = run({"mute", m1, "bob"});
  EXPECT_EXIT_CODE(muted_one, 0);
  EXPECT_TRUE(has(muted_one.output, "asked bob in " + m1 + " to mute audio")) << muted_one.output;
  auto one_req = bob->wait_event("event.mute_request");
  ASSERT_TRUE(one_req) << muted_one.output;
  EXPECT_EQ((*one_req)["data"]["audio"], true);
  EXPECT_EQ((*one_req)["data"]["by"], "console-1");
  EXPECT_EXIT_CODE(run({"mute", m1, "bob", "--undo"}), 0);
  auto undo_req = bob->wait_event("event.mute_request");
  ASSERT_TRUE(undo_req);
  EXPECT_EQ((*undo_req)["data"]["audio"], false);
  EXPECT_TRUE(is_refusal(run.run_json({"mute", m1, "nobody"}, 1), 404, "participant_not_found"));

  // lock and unlock: the console needs no part in the meeting
  auto locked = run({"lock", m1});
  EXPECT_EXIT_CODE(locked, 0);
  EXPECT_TRUE(has(locked.output, "locked " + m1)) << locked.output;
  auto unlocked = run({"unlock", m1});
  EXPECT_EXIT_CODE(unlocked, 0);
  EXPECT_TRUE(has(unlocked.output, "unlocked " + m1)) << unlocked.output;

  // kick: bob is told and cannot come back; alice sees him leave
  auto kicked = run({"kick", m1, "bob"});
  EXPECT_EXIT_CODE(kicked, 0);
  EXPECT_TRUE(has(kicked.output, "kicked bob from " + m1)) << kicked.output;
  auto kick_ev = bob->wait_event("event.kicked");
  ASSERT_TRUE(kick_ev);
  EXPECT_EQ((*kick_ev)["meeting"], m1);
  auto left = alice->wait_event("event.left");
  ASSERT_TRUE(left);
  EXPECT_EQ((*left)["data"]["user"], "bob");
  EXPECT_EQ((*left)["data"]["reason"], "kicked");
  EXPECT_EQ(code_of(bob->request("meeting.join", {{"meeting", m1}})), 403);
  auto kick_again = run.run_json({"kick", m1, "bob"}, 1);
  EXPECT_EQ(code_of(kick_again), 409) << kick_again.dump();
  EXPECT_TRUE(has(line_with(run({"meeting", m1}).output, "bob"), "kicked"));

  // end: everyone gets event.ended with reason admin
  auto ended = run({"end", m1, "--reason", "maintenance"});
  EXPECT_EXIT_CODE(ended, 0);
  EXPECT_TRUE(has(ended.output, "ended meeting " + m1)) << ended.output;
  auto end_ev = alice->wait_event("event.ended");
  ASSERT_TRUE(end_ev);
  EXPECT_EQ((*end_ev)["meeting"], m1);
  EXPECT_EQ((*end_ev)["data"]["reason"], "admin");
  auto carol_end = carol->wait_event("event.ended"); // a ringing invitee
  ASSERT_TRUE(carol_end);
  EXPECT_EQ((*carol_end)["data"]["reason"], "admin");
  // --reason is for the node's log, which is where the operator finds it.
  EXPECT_TRUE(has(line_with(c.node_log(), "meeting.ended meeting=" + m1), "note=maintenance"))
    << c.node_log();
  auto ended_list = run({"meetings", "--state=ended"});
  EXPECT_TRUE(has(line_with(ended_list.output, m1), "ended")) << ended_list.output;
  EXPECT_FALSE(has(ended_list.output, m2)) << ended_list.output;
  // An ended meeting can still be inspected by the console.
  auto gone = run({"meeting", m1});
  EXPECT_EXIT_CODE(gone, 0);
  EXPECT_TRUE(has(line_with(gone.output, "state"), "ended")) << gone.output;
  auto end_again = run({"end", m1});
  EXPECT_EXIT_CODE(end_again, 1);
  EXPECT_TRUE(has(end_again.output, "error 410")) << end_again.output;
}

TEST(meetctl, a_console_not_in_admins_is_refused) {
  cluster c;
  c.start_node();
  meetctl_runner run{c};
  auto r = run({"--id=intruder", "ping"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_TRUE(has(r.output, "error 403 not_admin")) << r.output;
  auto j = run.run_json({"--id=intruder", "meetings"}, 1);
  EXPECT_TRUE(is_refusal(j, 403, "not_admin"));
  // The id (and the broker) from the environment.
  auto env = run({"users"}, false, std::nullopt,
                 {{"MEETCTL_ID", "intruder"}, {"MEETCTL_BROKER", c.broker_uri()}}, false);
  EXPECT_EXIT_CODE(env, 1);
  EXPECT_TRUE(has(env.output, "error 403 not_admin")) << env.output;
  // The admin itself may, and the id option wins over the environment.
  auto ok = run({"--id=console-1", "ping"}, false, std::nullopt, {{"MEETCTL_ID", "intruder"}});
  EXPECT_EXIT_CODE(ok, 0);
}

TEST(meetctl, exit_3_when_the_node_or_the_broker_cannot_be_reached) {
  cluster c; // broker and emulator, no node
  meetctl_runner run{c};
  auto r = run({"--timeout=1s", "ping"});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_TRUE(has(r.output, "no reply to admin.ping")) << r.output;
  EXPECT_TRUE(has(r.output, "no node has announced itself")) << r.output;
  EXPECT_TRUE(has(r.output, "is meetingd running")) << r.output;
  EXPECT_TRUE(has(r.output, "--admins")) << r.output;

  auto j = run.run_json({"--timeout=500ms", "meetings"}, 3);
  EXPECT_EQ(j["type"], "meetctl.error");
  EXPECT_EQ(j["error"]["reason"], "no_reply");

  // A change sent while the node is away may happen when it is back: say so.
  auto end = run({"--timeout=500ms", "end", "m-1"});
  EXPECT_EXIT_CODE(end, 3);
  EXPECT_TRUE(has(end.output, "may still carry out")) << end.output;

  // Nobody listens on this port: the broker is unreachable.
  auto port = free_port();
  auto nobroker = run({"--broker=tcp://127.0.0.1:" + std::to_string(port), "--timeout=1s",
                       "ping"},
                      false, std::nullopt, {}, false);
  EXPECT_EXIT_CODE(nobroker, 3);
  EXPECT_TRUE(has(nobroker.output, "cannot reach the broker")) << nobroker.output;
  auto nobroker_json = run.run_json(
    {"--broker=tcp://127.0.0.1:" + std::to_string(port), "--timeout=1s", "stats"}, 3);
  // (run_json adds the cluster's --broker first; the later one wins)
  EXPECT_EQ(nobroker_json["error"]["reason"], "broker_unreachable") << nobroker_json.dump();

  // A node that was up and stopped: its retained "down" is reported.
  c.start_node();
  auto up = run({"ping"});
  EXPECT_EXIT_CODE(up, 0);
  ASSERT_EQ(c.stop_node(), 0);
  auto after = run({"--timeout=1s", "stats"});
  EXPECT_EXIT_CODE(after, 3);
  EXPECT_TRUE(has(after.output, "node-1 (down)")) << after.output;
}

TEST(meetctl, exit_2_for_usage_errors) {
  cluster c;
  meetctl_runner run{c};
  auto expect_usage = [&](std::vector<std::string> args, const std::string& mention) {
    auto r = run(args);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_TRUE(has(r.output, mention)) << mention << "\n" << r.output;
  };
  expect_usage({}, "subcommand");
  expect_usage({"frobnicate"}, "frobnicate");
  expect_usage({"--timeout=soon", "ping"}, "--timeout");
  expect_usage({"meetings", "--state", "bogus"}, "--state");
  expect_usage({"meetings", "--limit", "0"}, "--limit");
  expect_usage({"meeting"}, "id");
  expect_usage({"kick", "m-1"}, "user");
  expect_usage({"users", "add"}, "user");
  expect_usage({"users", "add", "x", "--password", "p1234567", "--password-stdin"},
               "--password");
  expect_usage({"stats", "--count", "2"}, "--watch");
  expect_usage({"--broker=ssl://example.com:8883", "ping"}, "--broker");
  auto help = run({"--help"});
  EXPECT_EXIT_CODE(help, 0);
  EXPECT_TRUE(has(help.output, "meetings")) << help.output;
}
