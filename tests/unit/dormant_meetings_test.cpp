// The dormant meetings of a restarted node (actors/dormant_meetings.*): which
// recovered meetings may wait without an actor, and until when.
#include "actors/core/dormant_meetings.hpp"

#include <gtest/gtest.h>

using namespace meetingd;

namespace {

meeting active_meeting(const std::string& id, unix_ms expires_at) {
  meeting m;
  m.id = id;
  m.status = meeting_status::active;
  m.expires_at = expires_at;
  return m;
}

std::vector<std::string> ids(const std::vector<meeting>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms)
    out.push_back(m.id);
  return out;
}

} // namespace

TEST(dormant_meetings, wake_earliest_first_and_only_when_due) {
  dormant_meetings d;
  d.add(active_meeting("b", 0), 2000);
  d.add(active_meeting("a", 0), 1000);
  d.add(active_meeting("c", 0), 2000);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.next_wake(), 1000);
  EXPECT_TRUE(d.take_due(999).empty());
  EXPECT_EQ(ids(d.take_due(1000)), std::vector<std::string>{"a"});
  EXPECT_EQ(d.next_wake(), 2000);
  EXPECT_EQ(ids(d.take_due(5000)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(d.size(), 0u);
  EXPECT_FALSE(d.next_wake());
}

TEST(dormant_meetings, taken_by_id_with_its_state_and_never_woken_again) {
  dormant_meetings d;
  auto m = active_meeting("m-1", 9000);
  m.title = "standup";
  m.participants["alice"].user = "alice";
  d.add(m, 1000);
  d.add(active_meeting("m-2", 0), 1500);
  EXPECT_TRUE(d.contains("m-1"));
  auto taken = d.take("m-1");
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->title, "standup");
  EXPECT_EQ(taken->participants.count("alice"), 1u);
  EXPECT_FALSE(d.contains("m-1"));
  EXPECT_FALSE(d.take("m-1"));
  EXPECT_FALSE(d.take("nope"));
  EXPECT_EQ(d.next_wake(), 1500);
  EXPECT_EQ(ids(d.take_due(2000)), std::vector<std::string>{"m-2"});
}

TEST(dormant_meetings, adding_again_moves_the_wake_time) {
  dormant_meetings d;
  d.add(active_meeting("m-1", 0), 1000);
  d.add(active_meeting("m-1", 0), 3000);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.next_wake(), 3000);
  EXPECT_TRUE(d.take_due(2000).empty());
  EXPECT_EQ(d.take_due(3000).size(), 1u);
}

TEST(dormant_meetings, only_active_meetings_with_a_future_deadline_may_sleep) {
  auto m = active_meeting("m-1", 10'000);
  EXPECT_EQ(dormant_until(m, 5000), 10'000);
  m.idle_deadline = 7000;
  EXPECT_EQ(dormant_until(m, 5000), 7000) << "the earliest deadline wakes it";
  EXPECT_FALSE(dormant_until(m, 7000)) << "a deadline that passed while down fires at once";
  m.status = meeting_status::ended;
  EXPECT_FALSE(dormant_until(m, 5000)) << "an ended meeting still owes DeleteChannel";
  EXPECT_FALSE(dormant_until(active_meeting("m-2", 0), 5000)) << "no deadline: no wake-up";
}

TEST(dormant_meetings, the_recovered_block_sleeps_in_place_and_wakes_like_the_others) {
  dormant_meetings d;
  std::vector<meeting> recovered;
  recovered.push_back(active_meeting("m-c", 3000));
  recovered.push_back(active_meeting("m-a", 1000));
  auto ended = active_meeting("m-e", 9000);
  ended.status = meeting_status::ended;
  recovered.push_back(ended);
  recovered.push_back(active_meeting("m-past", 400));
  recovered.push_back(active_meeting("m-b", 2000));
  recovered.back().title = "kept";
  auto awake = d.adopt(std::move(recovered), 500);
  EXPECT_EQ(ids(awake), (std::vector<std::string>{"m-e", "m-past"}));
  EXPECT_EQ(d.size(), 3u);
  EXPECT_TRUE(d.contains("m-b"));
  EXPECT_FALSE(d.contains("m-e"));
  EXPECT_EQ(d.next_wake(), 1000);
  // One put to sleep later joins the same order.
  d.add(active_meeting("m-later", 0), 1500);
  EXPECT_EQ(d.size(), 4u);
  auto b = d.take("m-b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->title, "kept");
  EXPECT_FALSE(d.contains("m-b"));
  EXPECT_FALSE(d.take("m-b"));
  EXPECT_EQ(ids(d.take_due(1500)), (std::vector<std::string>{"m-a", "m-later"}));
  EXPECT_EQ(d.next_wake(), 3000) << "m-b was taken: its wake time is gone";
  // Put back to sleep after being taken: it wakes once, at its new time.
  d.add(*b, 2500);
  EXPECT_EQ(ids(d.take_due(2600)), std::vector<std::string>{"m-b"});
  EXPECT_EQ(ids(d.take_due(5000)), std::vector<std::string>{"m-c"});
  EXPECT_EQ(d.size(), 0u);
  EXPECT_FALSE(d.next_wake());
  EXPECT_FALSE(d.take("m-c"));
}

TEST(dormant_meetings, a_recovered_meeting_added_again_is_not_kept_twice) {
  dormant_meetings d;
  std::vector<meeting> recovered;
  recovered.push_back(active_meeting("m-1", 1000));
  recovered.push_back(active_meeting("m-2", 2000));
  d.adopt(std::move(recovered), 0);
  d.add(active_meeting("m-1", 5000), 5000);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(ids(d.take_due(2000)), std::vector<std::string>{"m-2"});
  EXPECT_EQ(ids(d.take_due(5000)), std::vector<std::string>{"m-1"});
}
