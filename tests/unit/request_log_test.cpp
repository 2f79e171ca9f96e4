// The gateway's idempotency index (gateway/request_log.*): keys only; the
// replies are read back from the store.
#include "gateway/request_log.hpp"

#include <gtest/gtest.h>

using namespace meetingd;
using verdict = request_log::verdict;

namespace {
const std::string phone = "GID_MEETING_DOWN@@@phone-1";
const std::string laptop = "GID_MEETING_DOWN@@@laptop-1";

// What the gateway does with a request from the phone that ends in a reply worth replaying.
void answer(request_log& log, const std::string& id, unix_ms at) {
  log.check(phone, id);
  log.complete(phone, id, true, at);
}
} // namespace

TEST(request_log, a_request_is_fresh_then_in_flight_then_answered) {
  request_log log;
  EXPECT_EQ(log.check(phone, "r-1"), verdict::fresh);
  EXPECT_EQ(log.check(phone, "r-1"), verdict::in_flight);
  EXPECT_EQ(log.check(phone, "r-1"), verdict::in_flight);
  EXPECT_EQ(log.check(laptop, "r-1"), verdict::fresh) << "ids are per client";
  EXPECT_EQ(log.complete(phone, "r-1", true, 100), 2) << "two copies waited";
  EXPECT_EQ(log.check(phone, "r-1"), verdict::answered);
}

TEST(request_log, a_try_again_reply_is_forgotten_so_the_retry_runs) {
  request_log log;
  log.check(phone, "r-1");
  log.complete(phone, "r-1", false, 100);
  EXPECT_EQ(log.check(phone, "r-1"), verdict::fresh);
}

TEST(request_log, forget_makes_an_answered_request_fresh_but_not_one_in_flight) {
  request_log log;
  answer(log, "r-1", 100);
  log.check(phone, "r-2");
  log.forget(phone, "r-1");
  log.forget(phone, "r-2");
  EXPECT_EQ(log.check(phone, "r-1"), verdict::fresh);
  EXPECT_EQ(log.check(phone, "r-2"), verdict::in_flight);
}

TEST(request_log, prune_forgets_answers_older_than_the_window_only) {
  request_log log;
  log.restore(phone, "r-old", 50);
  answer(log, "r-new", 150);
  log.check(phone, "r-busy"); // in flight: never pruned
  EXPECT_EQ(log.prune(100), 1u);
  EXPECT_EQ(log.check(phone, "r-old"), verdict::fresh);
  EXPECT_EQ(log.check(phone, "r-new"), verdict::answered);
  EXPECT_EQ(log.check(phone, "r-busy"), verdict::in_flight);
}

TEST(request_log, a_forgotten_then_rerun_request_is_not_pruned_by_its_old_record) {
  request_log log;
  answer(log, "r-1", 50);
  log.forget(phone, "r-1");
  answer(log, "r-1", 150);
  EXPECT_EQ(log.prune(100), 0u);
  EXPECT_EQ(log.check(phone, "r-1"), verdict::answered);
}
