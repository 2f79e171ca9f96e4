// Several nodes serving as one (docs/cluster.md), with real processes: one
// PostgreSQL server, one mosquitto, the RTC emulator and two or three
// meetingd. The broker hands each uplink to one node of the share group, so
// a device's commands land on every node in turn: each test's commands are
// forwarded between nodes as a matter of course.
#include "harness.hpp"

#include "actors/core/shards.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <csignal>
#include <iostream>
#include <mutex>
#include <random>
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

/// What one node commits reaches the others through the database's
/// notifications within milliseconds (docs/cluster.md, "What every node
/// knows"): a device that logged in on one node a moment ago is not yet
/// rung by a call placed on another. Tests that call right after a login
/// give the feed this long.
void let_the_feed_carry() {
  std::this_thread::sleep_for(200ms);
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
  let_the_feed_carry();
  // admin.nodes, wherever it lands, lists both with their shares.
  auto console = c.console();
  auto nodes = console->request("admin.nodes");
  ASSERT_EQ(code_of(nodes), 0) << nodes.dump();
  ASSERT_EQ(nodes["data"]["nodes"].size(), 2u) << nodes.dump();
  for (auto& n : nodes["data"]["nodes"]) {
    EXPECT_EQ(n["state"], "serving") << nodes.dump();
    EXPECT_EQ(n["shards"], 128) << nodes.dump();
    EXPECT_GT(n["lease_expires_at"].get<long long>(), 0) << nodes.dump();
  }
  auto answered_by = nodes["data"]["answered_by"].get<std::string>();
  EXPECT_TRUE(answered_by == "node-1" || answered_by == "node-2") << nodes.dump();
  auto stats = console->request("admin.stats");
  EXPECT_TRUE(stats["data"]["node"] == "node-1" || stats["data"]["node"] == "node-2")
    << stats.dump();
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
  let_the_feed_carry();
  auto created = alice->request("meeting.create", {{"title", "ring"}, {"invitees", {"bob"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  ASSERT_EQ(created["data"]["invitations"]["bob"], "ringing") << created.dump();
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
  auto twice = alice->wait_event("event.invite_timeout", 1s);
  EXPECT_FALSE(twice) << "the ring timed out twice: " << twice->dump() << "\nfirst: "
                      << timed_out->dump() << "\nPAUSED " << c.node_log(paused) << "\nOTHER "
                      << c.node_log(other);
  // Bob's phone was told once too.
  EXPECT_TRUE(bob->wait_event("event.invite_timeout", 100ms));
  EXPECT_FALSE(bob->wait_event("event.invite_timeout", 100ms));
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  bool timed_out_once = false;
  for (auto& inv : got["data"]["invitations"])
    timed_out_once = timed_out_once || (inv["user"] == "bob" && inv["state"] == "timed_out");
  EXPECT_TRUE(timed_out_once) << got.dump();
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
        // Within --rate-limit (50/s per client) on any node.
        std::this_thread::sleep_for(40ms);
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

TEST(several_nodes, kill_9_of_random_nodes_under_traffic_loses_nothing_acknowledged) {
  int rounds = 6;
  if (auto s = std::getenv("MEETINGD_CLUSTER_KILLS"); s && *s)
    rounds = std::atoi(s);
  std::mt19937 rng{std::random_device{}()};
  cluster c{on_postgres({{"passivate-after", "500ms"}})};
  c.start_node("node-1");
  c.start_node("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  // Four users, each in a meeting of their own, each toggling their
  // microphone as fast as the replies come: the last acknowledged state of
  // each must be what the meeting holds in the end.
  const std::vector<std::string> users{"ann", "ben", "cat", "dan"};
  std::map<std::string, std::unique_ptr<meetingd::client::session>> devices;
  std::map<std::string, std::string> meeting_of;
  for (auto& u : users) {
    devices[u] = c.logged_in(u + "-phone", u);
    auto created = devices[u]->request("meeting.create", {{"title", u}});
    ASSERT_EQ(code_of(created), 0) << created.dump();
    meeting_of[u] = created["data"]["meeting"];
  }
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<std::string, bool> acked_muted;
  std::map<std::string, int> acked_count;
  std::vector<int> codes;
  int unanswered = 0;
  std::vector<std::thread> threads;
  for (auto& u : users)
    threads.emplace_back([&, u] {
      bool muted = false;
      while (!stop) {
        std::vector<int> seen;
        auto r = until_done(*devices[u], "rtc.event",
                            {{"meeting", meeting_of[u]},
                             {"event", muted ? "audio_unmuted" : "audio_muted"}},
                            seen, 30s);
        std::lock_guard lock{mutex};
        codes.insert(codes.end(), seen.begin(), seen.end());
        if (code_of(r) == 0) {
          muted = !muted;
          acked_muted[u] = muted;
          ++acked_count[u];
        } else {
          ++unanswered;
          return;
        }
        std::this_thread::sleep_for(30ms);
      }
    });
  for (int round = 0; round < rounds; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    auto victim = rng() % 2 ? "node-1" : "node-2";
    c.kill_node(victim);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 2000));
    c.start_node(victim);
  }
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(unanswered, 0);
  for (auto code : codes)
    EXPECT_TRUE(code == 0 || code == 503) << code;
  for (auto& u : users) {
    EXPECT_GT(acked_count[u], rounds) << u;
    std::vector<int> seen;
    auto got = until_done(*devices[u], "meeting.get", {{"meeting", meeting_of[u]}}, seen);
    ASSERT_EQ(code_of(got), 0) << got.dump();
    bool found = false;
    for (auto& p : got["data"]["participants"])
      if (p["user"] == u) {
        found = true;
        EXPECT_EQ(p["audio_muted"].get<bool>(), acked_muted[u]) << u << ": " << got.dump();
      }
    EXPECT_TRUE(found) << got.dump();
  }
}

TEST(several_nodes, busy_callees_and_duplicates_are_seen_the_same_from_every_node) {
  cluster c{on_postgres()};
  c.start_node("node-1");
  c.start_node("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-2"}, 60s));
  auto carol = c.logged_in("carol-phone", "carol");
  auto dave = c.logged_in("dave-phone", "dave");
  auto busy = carol->request("meeting.create", {{"title", "carol's"}});
  ASSERT_EQ(code_of(busy), 0) << busy.dump();
  let_the_feed_carry();
  std::set<std::string> owners;
  // Dave's creates land on both nodes in turn; carol is busy from each.
  for (int i = 0; i < 6; ++i) {
    auto created = dave->request("meeting.create", {{"title", "call"}, {"invitees", {"carol"}}});
    ASSERT_EQ(code_of(created), 0) << created.dump();
    std::string meeting = created["data"]["meeting"];
    owners.insert(owner_of(c, meeting));
    EXPECT_EQ(created["data"]["invitations"]["carol"], "busy") << created.dump();
    EXPECT_EQ(code_of(dave->request("meeting.end", {{"meeting", meeting}})), 0);
    // The broker takes the nodes in turn: one command more moves the next
    // create to the other node.
    if (i % 2 == 0) {
      EXPECT_EQ(code_of(dave->request("meeting.get", {{"meeting", meeting}})), 0);
    }
  }
  EXPECT_EQ(owners.size(), 2u) << "all creates landed on one node";
  // The same request id sent again, wherever it lands, gets the same reply
  // and creates nothing more.
  auto id = dave->send("meeting.create", {{"title", "once"}});
  auto first = dave->wait_reply(id, 5s);
  ASSERT_TRUE(first);
  ASSERT_EQ(code_of(*first), 0) << first->dump();
  for (int i = 0; i < 4; ++i) {
    dave->send("meeting.create", {{"title", "once"}}, id);
    auto again = dave->wait_reply(id, 5s);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *first);
  }
  auto rows = pg_rows(c.db_path(), "SELECT count(*) FROM meetings WHERE title = 'once'");
  EXPECT_EQ(rows[0][0], "1");
}

TEST(several_nodes, three_nodes_share_the_shards_and_two_take_over_when_one_leaves) {
  cluster c{on_postgres()};
  for (auto id : {"node-1", "node-2", "node-3"})
    c.start_node(id);
  // 256 = 86 + 85 + 85: the first id in byte order takes the remainder.
  ASSERT_TRUE(eventually(
    [&] {
      auto counts = shard_counts(c);
      return counts["node-1"] == 86 && counts["node-2"] == 85 && counts["node-3"] == 85;
    },
    60s))
    << c.node_log("node-3");
  auto alice = c.logged_in("alice-phone", "alice");
  std::vector<std::string> meetings;
  for (int i = 0; i < 4; ++i) {
    auto created = alice->request("meeting.create", {{"title", "t" + std::to_string(i)}});
    ASSERT_EQ(code_of(created), 0) << created.dump();
    meetings.push_back(created["data"]["meeting"]);
  }
  EXPECT_EQ(c.stop_node("node-2", 30s), 0) << c.node_log("node-2");
  ASSERT_TRUE(balanced(c, {"node-1", "node-3"}, 30s));
  auto console = c.console();
  auto nodes = console->request("admin.nodes");
  ASSERT_EQ(code_of(nodes), 0) << nodes.dump();
  for (auto& n : nodes["data"]["nodes"])
    if (n["node"] == "node-2") {
      EXPECT_EQ(n["state"], "stopped") << nodes.dump();
      EXPECT_EQ(n["shards"], 0) << nodes.dump();
    }
  std::vector<int> codes;
  for (auto& m : meetings)
    EXPECT_EQ(code_of(until_done(*alice, "meeting.get", {{"meeting", m}}, codes)), 0) << m;
}
