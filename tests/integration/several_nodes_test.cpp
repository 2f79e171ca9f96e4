// Several nodes serving as one (docs/cluster.md), with real processes: one
// PostgreSQL server, one mosquitto, the RTC emulator and two or three
// meetingd. The broker hands each uplink to one node of the share group, so
// a device's commands land on every node in turn: each test's commands are
// forwarded between nodes as a matter of course.
#include "harness.hpp"

#include "actors/core/shards.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

using namespace meetingd::testing;

namespace {

using steady = std::chrono::steady_clock;

node_options on_postgres(std::map<std::string, std::string> flags = {}) {
  node_options o;
  o.store = store_kind::postgres;
  o.flags = std::move(flags);
  return o;
}

/// The node whose lease holds the shard of `meeting`, as the database says.
std::string owner_of(cluster& c, const std::string& meeting) {
  auto shard = meetingd::shards::shard_of(meeting, 256);
  auto rows = pg_rows(c.db_path(),
                      "SELECT owner FROM shards WHERE shard = $1 AND lease_until >= "
                      "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                      {std::to_string(shard)});
  return rows.empty() ? std::string{} : rows[0][0];
}

/// Shards each node holds by a valid lease.
std::map<std::string, int> shard_counts(cluster& c) {
  std::map<std::string, int> out;
  for (auto& row : pg_rows(c.db_path(),
                           "SELECT owner, count(*) FROM shards WHERE owner <> '' AND lease_until "
                           ">= (extract(epoch FROM clock_timestamp()) * 1000)::bigint GROUP BY "
                           "owner"))
    out[row[0]] = std::stoi(row[1]);
  return out;
}

/// Sends a command and, like a device, sends the same id again every second
/// until it is answered or `within` is over. Returns the reply, or nullopt.
std::optional<json> answered(meetingd::client::session& s, const std::string& type, const json& args,
                             std::chrono::milliseconds within = 15s) {
  auto id = s.send(type, args);
  auto until = steady::now() + within;
  while (steady::now() < until) {
    if (auto reply = s.wait_reply(id, 1s))
      return reply;
    s.send(type, args, id);
  }
  return std::nullopt;
}

int count_lines(const std::string& log, const std::string& what) {
  int n = 0;
  for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST(several_nodes, a_call_between_devices_whose_commands_land_on_two_nodes) {
  cluster c{on_postgres()};
  c.start_node("node-1");
  c.start_node("node-2");
  // Both serve: the shards are split between them.
  ASSERT_TRUE(eventually([&] {
    auto counts = shard_counts(c);
    return counts["node-1"] == 128 && counts["node-2"] == 128;
  }, 60s)) << c.node_log("node-1") << c.node_log("node-2");

  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto created = alice->request("meeting.create", {{"title", "standup"}, {"invitees", {"bob"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  EXPECT_EQ(created["data"]["invitations"]["bob"], "ringing");
  EXPECT_EQ(c.join_channel(created["data"]["credentials"])["_status"], 200);
  auto ring = bob->wait_event("event.invite");
  ASSERT_TRUE(ring) << c.node_log("node-1") << c.node_log("node-2");
  EXPECT_EQ((*ring)["meeting"], meeting);
  EXPECT_EQ((*ring)["seq"], 1);

  // Every command of the call, wherever it lands, reaches the meeting.
  for (int i = 0; i < 6; ++i) {
    auto got = bob->request("meeting.get", {{"meeting", meeting}});
    ASSERT_EQ(code_of(got), 0) << got.dump();
  }
  auto accepted = bob->request("call.accept", {{"meeting", meeting}});
  ASSERT_EQ(code_of(accepted), 0) << accepted.dump();
  EXPECT_EQ(c.join_channel(accepted["data"]["credentials"])["_status"], 200);
  EXPECT_TRUE(event_with(alice->wait_event("event.joined"), "user", "bob"));
  EXPECT_EQ(code_of(alice->request("meeting.end", {{"meeting", meeting}})), 0);
  EXPECT_TRUE(event_with(bob->wait_event("event.ended"), "reason", "ended"));

  // Both nodes handled commands, and commands were passed to the owner.
  auto log1 = c.node_log("node-1");
  auto log2 = c.node_log("node-2");
  EXPECT_GT(count_lines(log1, " info cmd type="), 0) << log1;
  EXPECT_GT(count_lines(log2, " info cmd type="), 0) << log2;
  EXPECT_GT(count_lines(log1 + log2, "cmd.forwarded"), 0);
}

namespace {

/// Like a device: a command sent again with the same id until it is
/// answered, also after 503 (after its retry_after_ms). Every reply code
/// seen is added to `codes`.
json until_done(meetingd::client::session& s, const std::string& type, const json& args,
                std::vector<int>& codes, std::chrono::milliseconds within = 20s) {
  auto id = s.send(type, args);
  auto until = steady::now() + within;
  while (steady::now() < until) {
    auto reply = s.wait_reply(id, 1s);
    if (reply) {
      codes.push_back(code_of(*reply));
      if (code_of(*reply) != 503)
        return *reply;
      std::this_thread::sleep_for(
        std::chrono::milliseconds((*reply)["error"].value("retry_after_ms", 200)));
    }
    s.send(type, args, id);
  }
  return json{{"code", -1}};
}

/// Waits until the nodes named hold their fair shares of 256 shards.
bool balanced(cluster& c, const std::vector<std::string>& nodes, std::chrono::milliseconds within) {
  return eventually(
    [&] {
      auto counts = shard_counts(c);
      int total = 0;
      for (auto& n : nodes) {
        auto share = 256 / static_cast<int>(nodes.size());
        if (counts[n] < share)
          return false;
        total += counts[n];
      }
      return total == 256;
    },
    within);
}

} // namespace

TEST(several_nodes, a_killed_node_s_meetings_answer_again_within_the_lease_and_lose_nothing) {
  cluster c{on_postgres()};
  c.start_node("node-1");
  c.start_node("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  // Meetings on both nodes (each lands where the broker gives the create).
  std::vector<std::string> meetings;
  std::set<std::string> owners;
  for (int i = 0; i < 8 && owners.size() < 2; ++i) {
    auto created = alice->request("meeting.create", {{"title", "m" + std::to_string(i)}});
    ASSERT_EQ(code_of(created), 0) << created.dump();
    meetings.push_back(created["data"]["meeting"]);
    owners.insert(owner_of(c, meetings.back()));
    if (meetings.size() == 4) {
      // At most --max-meetings-per-user: end the oldest.
      EXPECT_EQ(code_of(alice->request("meeting.end", {{"meeting", meetings.front()}})), 0);
      meetings.erase(meetings.begin());
    }
  }
  ASSERT_EQ(owners.size(), 2u) << "every create landed on one node";
  auto victim = owner_of(c, meetings.back());
  // An acknowledged change on the victim's meeting just before it dies.
  auto joined = bob->request("meeting.join", {{"meeting", meetings.back()}});
  ASSERT_EQ(code_of(joined), 0) << joined.dump();
  auto killed_at = steady::now();
  c.kill_node(victim);
  std::vector<int> codes;
  auto got = until_done(*alice, "meeting.get", {{"meeting", meetings.back()}}, codes);
  auto failover = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - killed_at);
  ASSERT_EQ(code_of(got), 0) << got.dump();
  std::cout << "failover: " << failover.count() << " ms\n";
  EXPECT_LT(failover, 5s + 6s);
  bool bob_there = false;
  for (auto& p : got["data"]["participants"])
    bob_there = bob_there || (p["user"] == "bob" && p["state"] == "joined");
  EXPECT_TRUE(bob_there) << got.dump();
  for (auto code : codes)
    EXPECT_TRUE(code == 0 || code == 503) << code;
  // Every meeting answers, and a rejoin's new token is valid.
  for (auto& m : meetings)
    EXPECT_EQ(code_of(until_done(*alice, "meeting.get", {{"meeting", m}}, codes)), 0) << m;
  auto rejoined = until_done(*bob, "meeting.join", {{"meeting", meetings.back()}}, codes);
  ASSERT_EQ(code_of(rejoined), 0) << rejoined.dump();
  EXPECT_EQ(c.join_channel(rejoined["data"]["credentials"])["_status"], 200);
  auto survivor = victim == "node-1" ? "node-2" : "node-1";
  EXPECT_EQ(shard_counts(c)[survivor], 256);
  EXPECT_NE(c.node_log(survivor).find("shards.adopted"), std::string::npos);
  // The killed node comes back and gets its share again, gracefully.
  c.start_node(victim);
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  for (auto& m : meetings)
    EXPECT_EQ(code_of(until_done(*alice, "meeting.get", {{"meeting", m}}, codes)), 0) << m;
}

TEST(several_nodes, a_paused_node_never_acts_for_the_shards_it_lost_and_a_ring_times_out_once) {
  cluster c{on_postgres({{"ring-timeout", "9s"}})};
  c.start_node("node-1");
  c.start_node("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto created = alice->request("meeting.create", {{"title", "ring"}, {"invitees", {"bob"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  ASSERT_TRUE(bob->wait_event("event.invite"));
  auto paused = owner_of(c, meeting);
  auto other = paused == "node-1" ? "node-2" : "node-1";
  c.node(paused)->signal(SIGSTOP);
  // The other node adopts the meeting when the lease runs out, and its
  // timer times the ring out.
  auto timed_out = alice->wait_event("event.invite_timeout", 20s);
  ASSERT_TRUE(timed_out) << c.node_log(other);
  EXPECT_EQ(owner_of(c, meeting), other);
  c.node(paused)->signal(SIGCONT);
  // Resumed: it learns the shard is gone and says nothing for it.
  ASSERT_TRUE(eventually(
    [&] {
      auto log = c.node_log(paused);
      return log.find("lease.lost") != std::string::npos
             || log.find("store.fenced") != std::string::npos;
    },
    10s))
    << c.node_log(paused);
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(alice->wait_event("event.invite_timeout", 1s)) << "the ring timed out twice";
  EXPECT_FALSE(bob->wait_event("event.invite_timeout", 100ms));
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["invitations"]["bob"], "timed_out") << got.dump();
}

TEST(several_nodes, a_node_joining_and_a_rolling_restart_under_traffic_fail_no_command) {
  cluster c{on_postgres()};
  c.start_node("node-1");
  auto alice = c.logged_in("alice-phone", "alice");
  std::vector<std::string> meetings;
  for (int i = 0; i < 3; ++i) {
    auto created = alice->request("meeting.create", {{"title", "t" + std::to_string(i)}});
    ASSERT_EQ(code_of(created), 0) << created.dump();
    meetings.push_back(created["data"]["meeting"]);
  }
  // Traffic: Alice's laptop reads her meetings and reports her microphone
  // muted and unmuted in each, in a loop.
  std::atomic<bool> stop{false};
  std::vector<int> codes;
  std::mutex codes_mutex;
  int unanswered = 0;
  auto laptop = c.logged_in("alice-laptop", "alice");
  std::thread traffic([&] {
    auto& dev = laptop;
    for (int round = 0; !stop; ++round) {
      for (auto& m : meetings) {
        std::vector<int> seen;
        auto muted = round % 4 == 0 ? "audio_muted" : "audio_unmuted";
        auto r = until_done(*dev, round % 2 ? "meeting.get" : "rtc.event",
                            round % 2 ? json{{"meeting", m}} : json{{"meeting", m}, {"event", muted}},
                            seen, 30s);
        std::lock_guard lock{codes_mutex};
        codes.insert(codes.end(), seen.begin(), seen.end());
        unanswered += code_of(r) == -1;
      }
    }
  });
  std::this_thread::sleep_for(1s);
  // A node joins: it takes its share while the traffic goes on.
  c.start_node("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  std::vector<int> joining;
  {
    std::lock_guard lock{codes_mutex};
    joining = codes;
  }
  // Then every node restarts in turn (SIGTERM: it hands its shards over).
  for (auto id : {"node-1", "node-2"}) {
    EXPECT_EQ(c.stop_node(id, 30s), 0) << c.node_log(id);
    c.start_node(id);
    ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  }
  std::this_thread::sleep_for(1s);
  stop = true;
  traffic.join();
  EXPECT_EQ(unanswered, 0);
  for (auto code : joining)
    EXPECT_EQ(code, 0) << "a command failed while a node joined";
  int ok = 0;
  for (auto code : codes) {
    EXPECT_TRUE(code == 0 || code == 503) << code;
    ok += code == 0;
  }
  EXPECT_GT(ok, 10);
}
