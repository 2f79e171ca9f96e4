// RTC join tokens against docs/protocol.md §6's vectors, and the LMQ password
// against the seed's Python formula (expected values computed independently
// with `openssl dgst -sha1 -hmac ... -binary | base64`).
#include "gateway/lmq_credentials.hpp"
#include "actors/core/rtc_token.hpp"

#include <gtest/gtest.h>

using namespace meetingd;

TEST(rtc_token, channel_scheme_vector) {
  EXPECT_EQ(rtc::channel_token("room-42", "d3adbeefchannelkey", "g10dhbxp", "alice", "sess-0001",
                               "AK-5f2c9e", 1764000000),
            "223f63d944809586c32ee1f39b6b2c8c698f55fe6beaaee4d45c8088856b1d23");
}

TEST(rtc_token, appkey_scheme_vector) {
  EXPECT_EQ(rtc::appkey_token("abc", "abckey", "abcChannel", "abcUser", "", 1699423634),
            "3c9ee8d9f8734f0b7560ed8022a0590659113955819724fc9345ab8eedf84f31");
}

TEST(rtc_token, every_input_matters) {
  auto base = rtc::channel_token("room-42", "key", "app", "alice", "s1", "n", 1);
  EXPECT_NE(rtc::channel_token("room-42", "key", "app", "alice", "s2", "n", 1), base);
  EXPECT_NE(rtc::channel_token("room-42", "key", "app", "alice", "s1", "n", 2), base);
  EXPECT_NE(rtc::channel_token("room-42", "key", "app", "bob", "s1", "n", 1), base);
  auto app = rtc::appkey_token("abc", "abckey", "abcChannel", "abcUser", "", 1699423634);
  EXPECT_NE(rtc::appkey_token("abc", "abckey", "abcChannel", "abcUser", "x", 1699423634), app);
  EXPECT_EQ(app.size(), 64u);
}

// The vector docs/protocol.md gives device developers.
TEST(rtc_token, rtc_user_id_vector) {
  EXPECT_EQ(rtc::rtc_user_id("alice"), "2bd806c97f0e00af1a1fc3328fa763a9");
  EXPECT_EQ(rtc::rtc_user_id("bob").size(), rtc::rtc_user_id_length);
}

// The hole fixed by fixed-length ids: with plain user ids, bobx's token
// inputs re-cut as user "bob" and session "x<session>" gave the same token.
TEST(rtc_token, rtc_user_ids_cannot_be_re_cut_into_another_users) {
  auto bobx = rtc::rtc_user_id("bobx");
  auto bob = rtc::rtc_user_id("bob");
  auto token = rtc::channel_token("room", "key", "app", bobx, "sess", "n", 1);
  // Every way to cut bobx's id and session apart gives a user id that is not
  // bob's (nor of the fixed length, unless it is bobx's own).
  auto joined = bobx + "sess";
  for (std::size_t cut = 0; cut <= joined.size(); ++cut) {
    auto user = joined.substr(0, cut);
    EXPECT_EQ(rtc::channel_token("room", "key", "app", user, joined.substr(cut), "n", 1), token);
    EXPECT_NE(user, bob);
    if (user.size() == rtc::rtc_user_id_length) {
      EXPECT_EQ(user, bobx);
    }
  }
}

TEST(lmq_credentials, seed_password_formula) {
  // printf 'GID_ALIRTC_CTRL_UP' | openssl dgst -sha1 -hmac 'Ldx9mP2cK7eQwTz4' -binary | base64
  EXPECT_EQ(lmq::lmq_password("Ldx9mP2cK7eQwTz4", "GID_ALIRTC_CTRL_UP"),
            "xWJDBgmOU5JxccIJCoPYUOa9ZJE=");
  // printf 'GID_MEETING_UP' | openssl dgst -sha1 -hmac 'Ldx9mP2cK7eQwTz4' -binary | base64
  EXPECT_EQ(lmq::lmq_password("Ldx9mP2cK7eQwTz4", "GID_MEETING_UP"),
            "nWzv8fBBmgvAarpYp33dxfwOYuw=");
}

TEST(lmq_credentials, group_of_client_id) {
  EXPECT_EQ(lmq::group_of("GID_MEETING_UP@@@node-1"), "GID_MEETING_UP");
  EXPECT_EQ(lmq::group_of("GID_MEETING_DOWN@@@dev@@@x"), "GID_MEETING_DOWN");
  EXPECT_EQ(lmq::group_of("@@@dev"), "");
  EXPECT_EQ(lmq::group_of("plain-client"), "");
  EXPECT_EQ(lmq::group_of("GID@@dev"), "");
  EXPECT_EQ(lmq::group_of(""), "");
}
