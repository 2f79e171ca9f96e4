// meetingd as a process: options (one clear line for a bad one), secrets from
// the environment, the appkey token scheme end to end, and a restart after
// kill -9 that keeps every acknowledged change and replays old replies.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

using namespace meetingd::testing;

// docs/protocol.md §12, docs/security.md: --broker=ssl://... with --broker-ca. The broker has a TLS
// listener for the node and a plain one for the test's devices; a login
// answered by the node proves the whole path over TLS.
TEST(node_process, talks_to_the_broker_over_tls_checking_its_certificate) {
  temp_dir certs;
  make_tls_files(certs.path());
  int tls_port = free_port();
  node_options opts;
  opts.broker_conf = {"listener " + std::to_string(tls_port) + " 127.0.0.1",
                      "cafile " + certs.path() + "/ca.crt",
                      "certfile " + certs.path() + "/server.crt",
                      "keyfile " + certs.path() + "/server.key"};
  opts.flags = {{"broker", "ssl://127.0.0.1:" + std::to_string(tls_port)},
                {"broker-ca", certs.path() + "/ca.crt"}};
  cluster c{opts};
  c.start_node();
  EXPECT_NE(c.node_log().find("lmq.connected broker=ssl://127.0.0.1:"), std::string::npos)
    << c.node_log();
  auto alice = c.logged_in("alice-phone", "alice");
  auto created = alice->request("meeting.create", json::object());
  EXPECT_EQ(code_of(created), 0) << created.dump();

  // A second node that trusts another CA refuses this broker's certificate.
  temp_dir other;
  make_tls_files(other.path());
  process wrong{"meetingd",
                {MEETINGD_NODE_BIN, "--app-id=x", "--node-id=node-2", "--log-level=debug",
                 "--broker=ssl://127.0.0.1:" + std::to_string(tls_port),
                 "--broker-ca=" + other.path() + "/ca.crt", "--db=" + other.path() + "/n2.db",
                 "--rtc-endpoint=" + c.rtc_endpoint()},
                {{"RTC_ACCESS_KEY_ID", cluster::access_key_id},
                 {"RTC_ACCESS_KEY_SECRET", cluster::access_key_secret},
                 {"MQTT_USERNAME", "meetingd"},
                 {"MQTT_PASSWORD", cluster::node_password}},
                other.path()};
  EXPECT_TRUE(eventually(
    [&] { return wrong.output().find("lmq.connect_failed") != std::string::npos; }, 10s))
    << wrong.output();
  EXPECT_EQ(wrong.output().find("lmq.connected"), std::string::npos) << wrong.output();
}

TEST(node_process, bad_options_exit_with_one_line_naming_them) {
  struct bad {
    std::vector<std::string> args;
    std::string names;
  };
  std::vector<bad> cases{
    {{"--app-id=x", "--bogus=1"}, "--bogus"},
    {{"--app-id=x", "--channel-ttl=10"}, "--channel-ttl"},
    {{"--app-id=x", "--token-scheme=magic"}, "--token-scheme"},
    {{"--app-id=x", "--db-sync=sometimes"}, "--db-sync"},
    {{"--app-id=x", "--ring-timeout=0s"}, "--ring-timeout"},
    {{"--app-id=x", "--token-ttl=48h"}, "--token-ttl"},
    {{"--app-id=x", "--log-level=loud"}, "--log-level"},
    {{"--app-id=x", "--broker=localhost"}, "--broker"},
    {{"--app-id=x", "--node-id=a/b"}, "--node-id"},
    {{"--app-id=x", "--max-participants=1"}, "--max-participants"},
    {{"--app-id=x", "--passivate-after=-5s"}, "--passivate-after"},
    {{"--app-id=x", "stray"}, "stray"},
    {{"--app-id=x", "--caf#scheduler.policy=bogus"}, "scheduler.policy"},
    {{}, "--app-id"},
    {{"--app-id=x", "--config-file=/nonexistent/meetingd.conf"}, "nonexistent"},
  };
  for (auto& c : cases) {
    auto [code, out] = run_meetingd(c.args);
    EXPECT_EQ(code, 2) << out;
    EXPECT_EQ(count_lines(out), 1) << out;
    EXPECT_NE(out.find(c.names), std::string::npos) << out;
    EXPECT_EQ(out.rfind("meetingd: ", 0), 0u) << out;
  }
}

TEST(node_process, secrets_come_from_the_environment) {
  auto [code, out] = run_meetingd({"--app-id=x"}, {});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("RTC_ACCESS_KEY_ID"), std::string::npos) << out;
  auto [code2, out2] = run_meetingd({"--app-id=x", "--token-scheme=appkey"}, {});
  EXPECT_EQ(code2, 2);
  EXPECT_NE(out2.find("RTC_APP_KEY"), std::string::npos) << out2;
}

TEST(node_process, runs_its_heap_on_huge_pages_unless_told_not_to) {
  std::ifstream thp{"/sys/kernel/mm/transparent_hugepage/enabled"};
  std::string modes;
  std::getline(thp, modes);
  bool offered = !modes.empty() && modes.find("[never]") == std::string::npos;
  {
    cluster c;
    c.start_node();
    // The restarted image is the same process: the harness's PID logs,
    // under the name that ps, pidof and pkill look for.
    EXPECT_NE(c.node_log().find(offered ? "heap=huge_pages" : "heap=default"),
              std::string::npos)
      << c.node_log();
    std::ifstream comm{"/proc/" + std::to_string(c.node()->pid()) + "/comm"};
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(name, "meetingd");
    EXPECT_EQ(c.stop_node(), 0);
  }
  {
    node_options opts;
    opts.env["MEETINGD_HUGE_PAGE_HEAP"] = "0";
    cluster c{opts};
    c.start_node();
    EXPECT_NE(c.node_log().find("heap=default"), std::string::npos) << c.node_log();
    EXPECT_EQ(c.stop_node(), 0);
  }
}

TEST(node_process, config_file_sets_options_and_the_command_line_wins) {
  temp_dir dir;
  auto conf = dir.path() + "/meetingd.conf";
  {
    std::ofstream out{conf};
    out << "app-id = \"from-file\"\nring-timeout = 7s\nlog-level = \"warn\"\n"
           "token-scheme = \"nonsense\"\n";
  }
  auto [code, out] = run_meetingd({"--config-file=" + conf});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("--token-scheme=nonsense"), std::string::npos) << out;
  auto [code2, out2] = run_meetingd({"--config-file=" + conf, "--token-scheme=channel",
                                     "--broker=bad"});
  EXPECT_EQ(code2, 2);
  EXPECT_NE(out2.find("--broker=bad"), std::string::npos) << out2;
  // A syntax error names the file and the line.
  {
    std::ofstream file{conf};
    file << "; fine\napp-id = \"x\"\n# not a comment in this format\n";
  }
  auto [code3, out3] = run_meetingd({"--config-file=" + conf});
  EXPECT_EQ(code3, 2);
  EXPECT_EQ(count_lines(out3), 1) << out3;
  EXPECT_NE(out3.find("line 3"), std::string::npos) << out3;
}

// That the file documents every option with its compiled default is checked
// in-process (tests/unit/options_test.cpp); this is the node starting from it.
TEST(node_process, the_shipped_config_file_parses) {
  cluster c{node_options{{{"config-file", std::string{MEETINGD_SOURCE_DIR} + "/config/meetingd.conf"}}, {}}};
  c.start_node();
  auto console = c.console();
  auto r = console->request("admin.ping", json::object());
  EXPECT_EQ(code_of(r), 0) << r.dump();
  EXPECT_EQ(r["data"]["node"], "node-1");
}

TEST(node_process, appkey_scheme_tokens_verify_at_the_rtc_service) {
  cluster c{node_options{{{"token-scheme", "appkey"}, {"token-ttl", "2h"}},
                         {{"RTC_APP_KEY", "app-key-for-tests"}}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto r = alice->request("meeting.create", json::object());
  ASSERT_EQ(code_of(r), 0) << r.dump();
  auto creds = r["data"]["credentials"];
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(creds["timestamp"].get<double>(), static_cast<double>(now + 7200), 30.0);
  EXPECT_EQ(creds["nonce"], "");
  auto joined = c.join_channel(creds);
  EXPECT_EQ(joined["_status"], 200) << joined.dump();
  EXPECT_EQ(joined["scheme"], "appkey");
  // No CreateChannel in this scheme.
  auto stats = c.emulator_get("/_emulator/stats");
  EXPECT_EQ(stats["actions"].value("CreateChannel", json::object()).value("requests", 0), 0)
    << stats.dump();
  // Renew gives a new session (the appkey token has no session in it: it
  // changes with the expiry, which moves on with every second).
  auto renewed = alice->request("meeting.renew", {{"meeting", r["data"]["meeting"]}});
  ASSERT_EQ(code_of(renewed), 0);
  EXPECT_NE(renewed["data"]["credentials"]["session"], creds["session"]);
  EXPECT_GE(renewed["data"]["credentials"]["timestamp"], creds["timestamp"]);
}

TEST(node_process, kill9_then_restart_keeps_acknowledged_state_and_replays_replies) {
  cluster c;
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto created = alice->request("meeting.create", {{"title", "survives"}, {"invitees", {"bob"}}},
                                5s, "create-before-crash");
  ASSERT_EQ(code_of(created), 0);
  std::string meeting = created["data"]["meeting"];
  ASSERT_EQ(code_of(bob->request("call.accept", {{"meeting", meeting}})), 0);
  ASSERT_EQ(code_of(alice->request("moderate.lock", {{"meeting", meeting}})), 0);

  c.kill_node();
  c.start_node();
  EXPECT_NE(c.node_log().find("clean_shutdown=false"), std::string::npos);
  // The node says when every recovered meeting is back in memory.
  EXPECT_TRUE(eventually(
    [&] { return c.node_log().find("node.recovered meetings=1 ") != std::string::npos; }, 5s))
    << c.node_log();

  // The same request id gets the very same reply, not a second meeting.
  auto again = alice->request("meeting.create", {{"title", "survives"}, {"invitees", {"bob"}}},
                              5s, "create-before-crash");
  EXPECT_EQ(again, created);
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["title"], "survives");
  EXPECT_EQ(got["data"]["locked"], true);
  EXPECT_EQ(got["data"]["host"], "alice");
  int joined = 0;
  for (auto& p : got["data"]["participants"])
    joined += p["state"] == "joined";
  EXPECT_EQ(joined, 2);
  // Devices stay logged in; the meeting goes on.
  auto left = bob->request("meeting.leave", {{"meeting", meeting}});
  EXPECT_EQ(code_of(left), 0) << left.dump();
  auto ev = alice->wait_event("event.left");
  ASSERT_TRUE(ev);
  // Event numbers continue upwards after a crash.
  EXPECT_GT((*ev)["seq"].get<long long>(), 1000);
  auto console = c.console();
  auto list = console->request("admin.meetings.list", json::object());
  EXPECT_EQ(list["data"]["meetings"].size(), 1u);
}

// A meeting without commands for --passivate-after gives up its actor; its
// state waits in the directory (admin.stats counts it dormant) and the next
// command wakes it as it was. A restarted node keeps every meeting dormant
// until it is needed.
TEST(node_process, quiet_meetings_sleep_and_wake_as_they_were_also_after_kill9) {
  cluster c{node_options{{{"passivate-after", "1s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  std::string meeting = start_meeting(*alice, {bob.get()}, {{"title", "sleepy"}})["meeting"];
  auto console = c.console();
  json counts;
  auto asleep = [&] {
    counts = console->request("admin.stats", json::object())["data"]["meetings"];
    return counts["dormant"] == 1 && counts["with_actor"] == 0 && counts["active"] == 1;
  };
  ASSERT_TRUE(eventually(asleep, 10s)) << counts.dump() << c.node_log();

  auto mute = alice->request("moderate.mute", {{"meeting", meeting}, {"user", "bob"}});
  ASSERT_EQ(code_of(mute), 0) << mute.dump();
  ASSERT_TRUE(bob->wait_event("event.mute_request"));
  counts = console->request("admin.stats", json::object())["data"]["meetings"];
  EXPECT_EQ(counts["with_actor"], 1) << counts.dump();
  ASSERT_TRUE(eventually(asleep, 10s)) << counts.dump();

  c.kill_node();
  c.start_node();
  EXPECT_TRUE(eventually(
    [&] {
      return c.node_log().find("node.recovered meetings=1 active=0 dormant=1 ")
             != std::string::npos;
    },
    5s))
    << c.node_log();
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["title"], "sleepy");
  int joined = 0;
  for (auto& p : got["data"]["participants"]) {
    joined += p["state"] == "joined";
    if (p["user"] == "bob") {
      EXPECT_EQ(p["audio_muted"], true) << got.dump();
    }
  }
  EXPECT_EQ(joined, 2) << got.dump();
  ASSERT_EQ(code_of(bob->request("meeting.leave", {{"meeting", meeting}})), 0);
  auto left = alice->wait_event("event.left");
  ASSERT_TRUE(left);
  EXPECT_EQ((*left)["data"]["user"], "bob");
}

TEST(node_process, commands_sent_while_the_node_is_down_are_answered_after_restart) {
  cluster c;
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  c.kill_node();
  auto id = alice->send("meeting.create", {{"title", "queued"}});
  c.start_node();
  auto reply = alice->wait_reply(id, 10s);
  ASSERT_TRUE(reply) << c.node_log();
  EXPECT_EQ(code_of(*reply), 0) << reply->dump();
}
