// The rules of logging in (actors/login_rules.*): the failed-login throttle,
// the judgement of login tickets, and when a password hash is upgraded.
#include "actors/core/login_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace meetingd;
using namespace std::chrono_literals;

namespace {

constexpr unix_ms t0 = 1'700'000'000'000;
constexpr std::int64_t t0_s = t0 / 1000;

// -- the throttle ------------------------------------------------------------------------

TEST(login_throttle, free_failures_then_growing_waits_up_to_the_cap) {
  login_throttle t; // defaults: 5 free, 1s doubling, 5min cap, forget after 15min
  const std::string k = "alice";
  unix_ms now = t0;
  EXPECT_FALSE(t.wait(k, now).has_value());
  for (int i = 1; i <= 4; ++i) {
    t.failed(k, now);
    EXPECT_FALSE(t.wait(k, now).has_value()) << "failure " << i << " is free";
  }
  EXPECT_EQ(t.failed(k, now).failures, 5);
  EXPECT_EQ(t.wait(k, now), std::optional<std::chrono::milliseconds>{1s});
  EXPECT_EQ(t.wait(k, now + 999), std::optional<std::chrono::milliseconds>{1ms});
  EXPECT_FALSE(t.wait(k, now + 1000).has_value());
  std::vector<std::chrono::milliseconds> want{2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s,
                                              5min, 5min, 5min};
  for (auto expected : want) {
    now += 1000;
    t.failed(k, now);
    EXPECT_EQ(t.wait(k, now), std::optional<std::chrono::milliseconds>{expected});
  }
  // Many more failures do not overflow the shift.
  for (int i = 0; i < 100; ++i)
    t.failed(k, now);
  EXPECT_EQ(t.wait(k, now), std::optional<std::chrono::milliseconds>{5min});
  EXPECT_FALSE(t.wait("bob", now).has_value()) << "keys are apart";
}

TEST(login_throttle, a_success_resets_and_quiet_time_decays) {
  login_throttle t;
  for (int i = 0; i < 6; ++i)
    t.failed("k", t0);
  EXPECT_TRUE(t.wait("k", t0).has_value());
  EXPECT_TRUE(t.succeeded("k"));
  EXPECT_FALSE(t.succeeded("k")) << "nothing left to forget";
  EXPECT_FALSE(t.wait("k", t0).has_value());
  EXPECT_EQ(t.failed("k", t0).failures, 1) << "counting starts again";

  login_throttle e;
  for (int i = 0; i < 5; ++i)
    e.failed("k", t0);
  auto window = std::chrono::milliseconds{15min}.count();
  EXPECT_FALSE(e.wait("k", t0 + window + 1).has_value());
  EXPECT_EQ(e.failed("k", t0 + window + 1).failures, 1)
    << "the failure after the window is the first of a new count";
}

TEST(login_throttle, custom_settings) {
  login_throttle_settings s;
  s.free_failures = 1;
  s.first_delay = 100ms;
  s.max_delay = 300ms;
  login_throttle t{s};
  t.failed("k", t0);
  EXPECT_EQ(t.wait("k", t0), std::optional<std::chrono::milliseconds>{100ms});
  t.failed("k", t0);
  EXPECT_EQ(t.wait("k", t0), std::optional<std::chrono::milliseconds>{200ms});
  t.failed("k", t0);
  EXPECT_EQ(t.wait("k", t0), std::optional<std::chrono::milliseconds>{300ms});
}

TEST(login_throttle, keeps_a_bounded_number_of_keys) {
  login_throttle_settings s;
  s.max_keys = 3;
  login_throttle t{s};
  t.failed("a", t0);
  t.failed("b", t0 + 1);
  t.failed("c", t0 + 2);
  t.failed("d", t0 + 3); // full of recent failures: the oldest ("a") goes
  EXPECT_EQ(t.size(), 3u);
  EXPECT_FALSE(t.succeeded("a"));
  EXPECT_TRUE(t.succeeded("b"));
  // Expired keys go first.
  login_throttle u{s};
  u.failed("old", t0);
  u.failed("x", t0 + std::chrono::milliseconds{20min}.count());
  u.failed("y", t0 + std::chrono::milliseconds{20min}.count());
  u.failed("z", t0 + std::chrono::milliseconds{20min}.count());
  EXPECT_EQ(u.size(), 3u);
  EXPECT_FALSE(u.succeeded("old"));
}

TEST(login_throttle, restores_and_prunes) {
  login_throttle t;
  t.restore({"alice", 7, t0});
  EXPECT_TRUE(t.wait("alice", t0 + 1).has_value());
  EXPECT_TRUE(t.prune(t0 + 1).empty());
  auto gone = t.prune(t0 + std::chrono::milliseconds{15min}.count() + 1);
  EXPECT_EQ(gone, std::vector<std::string>{"alice"});
  EXPECT_EQ(t.size(), 0u);
}

// -- tickets -----------------------------------------------------------------------------

auth::ticket_check genuine(const std::string& user, std::int64_t expiry,
                           auth::ticket_status status = auth::ticket_status::ok) {
  return {status, user, expiry};
}

ticket_facts facts_for(const std::string& user, bool exists = true) {
  ticket_facts f;
  f.requested_user = user;
  f.user_exists = exists;
  f.max_age = 24h;
  f.now = t0;
  return f;
}

TEST(judge_ticket, a_genuine_ticket_logs_in_and_vouches_for_a_new_user) {
  auto v = judge_ticket(genuine("alice", t0_s + 60), facts_for("alice"));
  EXPECT_EQ(v.what, ticket_verdict::log_in);
  v = judge_ticket(genuine("alice", t0_s + 60), facts_for("alice", false));
  EXPECT_EQ(v.what, ticket_verdict::create_and_log_in);
}

TEST(judge_ticket, forgeries_and_other_users_tickets_are_failed_logins) {
  for (auto status : {auth::ticket_status::malformed, auth::ticket_status::bad_signature}) {
    auto v = judge_ticket(genuine("alice", t0_s + 60, status), facts_for("alice"));
    EXPECT_EQ(v.what, ticket_verdict::refuse);
    EXPECT_EQ(v.why, refusal::bad_credentials);
    EXPECT_TRUE(v.counts_as_failure);
  }
  auto v = judge_ticket(genuine("bob", t0_s + 60), facts_for("alice"));
  EXPECT_EQ(v.why, refusal::bad_credentials);
  EXPECT_TRUE(v.counts_as_failure);
}

TEST(judge_ticket, an_expired_ticket_is_not_a_guess) {
  auto v = judge_ticket(genuine("alice", t0_s, auth::ticket_status::expired),
                        facts_for("alice"));
  EXPECT_EQ(v.why, refusal::ticket_expired);
  EXPECT_FALSE(v.counts_as_failure);
}

TEST(judge_ticket, a_ticket_may_live_at_most_max_age) {
  auto f = facts_for("alice");
  // A minute of clock difference with the account service is tolerated.
  auto limit = t0_s + 24 * 3600 + ticket_clock_skew.count();
  EXPECT_EQ(judge_ticket(genuine("alice", limit), f).what, ticket_verdict::log_in);
  auto v = judge_ticket(genuine("alice", limit + 1), f);
  EXPECT_EQ(v.what, ticket_verdict::refuse);
  EXPECT_EQ(v.why, refusal::bad_credentials);
  EXPECT_NE(v.message.find("--ticket-max-age"), std::string::npos);
  // Ten years ahead: the kind of ticket that never dies.
  EXPECT_EQ(judge_ticket(genuine("alice", t0_s + 10 * 365 * 86400), f).what,
            ticket_verdict::refuse);
}

TEST(judge_ticket, a_removed_user_stays_removed_for_tickets_that_may_predate_the_removal) {
  auto f = facts_for("alice", false);
  f.max_age = 1h;
  f.removed_at = t0 - 10 * 60'000; // removed ten minutes ago
  // Expires in 51 minutes: issued at the earliest 9 minutes ago, or a minute
  // before with the clocks apart: may predate the removal.
  auto v = judge_ticket(genuine("alice", t0_s + 51 * 60), f);
  EXPECT_EQ(v.what, ticket_verdict::refuse);
  EXPECT_EQ(v.why, refusal::user_removed);
  EXPECT_FALSE(v.counts_as_failure);
  // Expires in 55 minutes: issued at least four minutes after the removal.
  EXPECT_EQ(judge_ticket(genuine("alice", t0_s + 55 * 60), f).what,
            ticket_verdict::create_and_log_in);
}

// -- password hashes ---------------------------------------------------------------------

TEST(needs_rehash, when_the_node_asks_for_more_iterations) {
  auto old_hash = auth::hash_password("pw", 1000);
  EXPECT_TRUE(needs_rehash(old_hash, 600000));
  EXPECT_FALSE(needs_rehash(old_hash, 1000));
  EXPECT_FALSE(needs_rehash(old_hash, 500)) << "never downgraded";
  EXPECT_FALSE(needs_rehash("", 600000)) << "a ticket-only user has no hash";
  EXPECT_FALSE(needs_rehash("garbage", 600000));
}

} // namespace
