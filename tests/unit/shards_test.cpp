// The shard rules (actors/core/shards.*): the stable hash, the fair share,
// and the plan of one lease round.
#include "actors/core/shards.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace meetingd;
using namespace meetingd::shards;

namespace {

std::vector<lease_row> table_of(int count, const std::map<int, std::string>& owners,
                                unix_ms lease_until) {
  std::vector<lease_row> rows;
  for (int i = 0; i < count; ++i) {
    lease_row r;
    r.shard = i;
    if (auto it = owners.find(i); it != owners.end()) {
      r.owner = it->second;
      r.lease_until = lease_until;
      r.epoch = 1;
    }
    rows.push_back(r);
  }
  return rows;
}

} // namespace

TEST(shard_of, is_md5_based_stable_and_in_range) {
  // MD5("m-1") = 4e3871ed...: 0x4e3871ed % 256 = 237.
  EXPECT_EQ(shard_of("m-1", 256), 237);
  EXPECT_EQ(shard_of("m-1", 1), 0);
  std::map<int, int> seen;
  for (int i = 0; i < 10000; ++i) {
    auto s = shard_of("m-" + std::to_string(i), 16);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 16);
    ++seen[s];
  }
  EXPECT_EQ(seen.size(), 16u);
  for (auto& [s, n] : seen)
    EXPECT_GT(n, 450) << "shard " << s << " gets too few ids";
  EXPECT_EQ(shard_of_sql("m.id", 256),
            "(('x' || substr(md5(m.id), 1, 8))::bit(32)::bigint % 256)::integer");
}

TEST(fair_share, splits_evenly_and_the_first_ids_take_the_remainder) {
  std::vector<std::string> live{"c", "a", "b"};
  EXPECT_EQ(fair_share(live, "a", 256), 86);
  EXPECT_EQ(fair_share(live, "b", 256), 85);
  EXPECT_EQ(fair_share(live, "c", 256), 85);
  EXPECT_EQ(fair_share(live, "d", 256), 0);
  EXPECT_EQ(fair_share({"a"}, "a", 256), 256);
}

TEST(plan_round, a_lone_node_takes_every_shard) {
  auto plan = plan_round(table_of(8, {}, 0), {}, {}, "a", 1000, false);
  EXPECT_EQ(plan.take.size(), 8u);
  EXPECT_TRUE(plan.release.empty());
}

TEST(plan_round, a_node_takes_its_own_shards_of_an_earlier_run_back_at_once) {
  // "a" was killed and restarted: its leases are still valid in the table.
  auto table = table_of(4, {{0, "a"}, {1, "a"}, {2, "b"}, {3, "b"}}, 5000);
  auto plan = plan_round(table, {"a", "b"}, {}, "a", 1000, false);
  EXPECT_EQ(plan.take, (std::vector<int>{0, 1}));
}

TEST(plan_round, valid_leases_of_others_are_never_taken_expired_ones_are) {
  auto table = table_of(4, {{0, "b"}, {1, "b"}, {2, "b"}, {3, "b"}}, 5000);
  EXPECT_TRUE(plan_round(table, {"a", "b"}, {}, "a", 1000, false).take.empty());
  // b died: its leases ran out, and it no longer counts as live.
  auto plan = plan_round(table, {"a"}, {}, "a", 6000, false);
  EXPECT_EQ(plan.take.size(), 4u);
}

TEST(plan_round, a_joining_node_gets_one_shard_at_a_time_from_the_busiest) {
  std::map<int, std::string> all_a;
  for (int i = 0; i < 4; ++i)
    all_a[i] = "a";
  auto table = table_of(4, all_a, 5000);
  // a sees b live and holds everything: it frees one shard per round.
  auto plan = plan_round(table, {"a", "b"}, {0, 1, 2, 3}, "a", 1000, false);
  EXPECT_TRUE(plan.take.empty());
  EXPECT_EQ(plan.release.size(), 1u);
  // b takes the freed shard, and nothing that is still a's.
  table[3].owner.clear();
  auto b = plan_round(table, {"a", "b"}, {}, "b", 1000, false);
  EXPECT_EQ(b.take, (std::vector<int>{3}));
  // At the share nobody moves.
  table[3].owner = "b";
  table[3].lease_until = 5000;
  table[2].owner = "b";
  EXPECT_TRUE(plan_round(table, {"a", "b"}, {0, 1}, "a", 1000, false).release.empty());
  EXPECT_TRUE(plan_round(table, {"a", "b"}, {2, 3}, "b", 1000, false).take.empty());
}

TEST(plan_round, a_node_above_its_share_keeps_its_shards_while_some_are_free) {
  // The free shards go to the node below its share first.
  auto table = table_of(4, {{0, "a"}, {1, "a"}, {2, "a"}}, 5000);
  auto plan = plan_round(table, {"a", "b"}, {0, 1, 2}, "a", 1000, false);
  EXPECT_TRUE(plan.release.empty());
  EXPECT_TRUE(plan.take.empty());
}

TEST(plan_round, a_leaving_node_releases_everything_and_takes_nothing) {
  auto table = table_of(4, {{0, "a"}, {1, "a"}}, 5000);
  auto plan = plan_round(table, {"a", "b"}, {0, 1}, "a", 1000, true);
  EXPECT_TRUE(plan.take.empty());
  EXPECT_EQ(plan.release, (std::vector<int>{0, 1}));
}
