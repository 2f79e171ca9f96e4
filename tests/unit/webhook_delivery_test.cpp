// Webhook bodies and delivery rules (gateway/codec_webhooks.cpp,
// gateway/webhook_delivery.*), tested directly: the body's bytes, the
// signature of docs/protocol.md §15's test vector, the request, the waits,
// the give-up rule and the URLs accepted.
#include "gateway/codec.hpp"
#include "gateway/webhook_delivery.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

using namespace meetingd;
using namespace std::chrono_literals;

namespace {

/// The call record of docs/protocol.md §15's test vector.
webhook_event vector_event() {
  webhook_event ev;
  ev.type = webhook_type::meeting_ended;
  ev.meeting = "m-3f9a2c7e1b8d4a60";
  ev.seq = 9;
  ev.at = 1764936000000;
  ev.reason = "ended";
  ev.duration_s = 95;
  ev.seconds = {{"alice", 95}, {"bob", 70}};
  return ev;
}

constexpr const char* vector_body
  = R"({"id":"m-3f9a2c7e1b8d4a60.9","type":"meeting.ended","at":1764936000000,)"
    R"("meeting":"m-3f9a2c7e1b8d4a60","seq":9,"data":{"reason":"ended","duration_s":95,)"
    R"("seconds":{"alice":95,"bob":70}}})";
constexpr const char* vector_secret = "test-secret-0123456789abcdef";
// printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET"
constexpr const char* vector_signature
  = "sha256=c4a8ae970ecf33308f8152846de3436f453e2e9feca1bf01229ab5fc75d02198";

TEST(webhook_codec, the_body_is_the_documented_bytes) {
  EXPECT_EQ(codec::encode_webhook(vector_event()), vector_body);
}

TEST(webhook_codec, every_type_reads_back_as_written) {
  std::vector<webhook_event> all;
  webhook_event created;
  created.type = webhook_type::meeting_created;
  created.host = "alice";
  created.title = "Stand-up \"daily\" ☕";
  created.channel = "m-1";
  all.push_back(created);
  webhook_event joined;
  joined.type = webhook_type::participant_joined;
  joined.user = "bob";
  joined.device = "GID_MEETING_DOWN@@@bob-phone";
  all.push_back(joined);
  webhook_event left;
  left.type = webhook_type::participant_left;
  left.user = "bob";
  left.reason = "offline";
  all.push_back(left);
  webhook_event answered;
  answered.type = webhook_type::invitation_answered;
  answered.user = "carol";
  answered.outcome = "timeout";
  answered.inviter = "alice";
  all.push_back(answered);
  all.push_back(vector_event());
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto ev = all[i];
    ev.meeting = "m-1";
    ev.seq = static_cast<std::int64_t>(i + 1);
    ev.at = 1764936000000 + static_cast<std::int64_t>(i);
    auto body = codec::encode_webhook(ev);
    auto back = codec::decode_webhook(body);
    ASSERT_TRUE(back) << body;
    EXPECT_EQ(codec::encode_webhook(*back), body);
    EXPECT_EQ(back->id(), "m-1." + std::to_string(i + 1));
  }
}

TEST(webhook_codec, a_body_that_is_not_one_of_ours_is_refused) {
  std::string body = vector_body;
  EXPECT_FALSE(codec::decode_webhook("{}"));
  EXPECT_FALSE(codec::decode_webhook("not json"));
  auto replace = [&](const std::string& from, const std::string& to) {
    auto copy = body;
    copy.replace(copy.find(from), from.size(), to);
    return copy;
  };
  EXPECT_FALSE(codec::decode_webhook(replace("\"seq\":9", "\"seq\":8"))) << "id and seq disagree";
  EXPECT_FALSE(codec::decode_webhook(replace("meeting.ended", "meeting.paused")));
  EXPECT_FALSE(codec::decode_webhook(replace("\"duration_s\":95,", "")));
  EXPECT_FALSE(codec::decode_webhook(replace("\"bob\":70", "\"bob\":\"70\"")));
}

TEST(webhook_signature, matches_the_documented_test_vector) {
  EXPECT_EQ(webhooks::signature(vector_secret, vector_body), vector_signature);
  EXPECT_NE(webhooks::signature("another-secret-0123456789", vector_body), vector_signature);
}

TEST(webhook_request, posts_the_stored_body_signed_with_its_id) {
  webhooks::settings s;
  s.secret = vector_secret;
  s.timeout = 3s;
  webhook_record row;
  row.endpoint = "https://backend.example.com/hooks";
  row.id = "m-3f9a2c7e1b8d4a60.9";
  row.type = "meeting.ended";
  row.body = vector_body;
  auto req = webhooks::request_for(row, s);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, row.endpoint);
  EXPECT_EQ(req.body, vector_body);
  EXPECT_EQ(req.timeout, 3s);
  auto has = [&](const std::string& line) {
    return std::find(req.headers.begin(), req.headers.end(), line) != req.headers.end();
  };
  EXPECT_TRUE(has("Content-Type: application/json"));
  EXPECT_TRUE(has("X-Meetingd-Event-Id: m-3f9a2c7e1b8d4a60.9"));
  EXPECT_TRUE(has("X-Meetingd-Event-Type: meeting.ended"));
  EXPECT_TRUE(has(std::string{"X-Meetingd-Signature: "} + vector_signature));
  for (auto& h : req.headers)
    EXPECT_EQ(h.find(vector_secret), std::string::npos) << "the secret left the node: " << h;
}

TEST(webhook_outcome, only_2xx_delivers) {
  EXPECT_TRUE(webhooks::delivered({200, "", ""}));
  EXPECT_TRUE(webhooks::delivered({204, "", ""}));
  EXPECT_FALSE(webhooks::delivered({301, "", ""}));
  EXPECT_FALSE(webhooks::delivered({500, "", ""}));
  EXPECT_FALSE(webhooks::delivered({0, "", "Timeout was reached"}));
  EXPECT_EQ(webhooks::failure_of({503, "", ""}), "HTTP 503");
  EXPECT_EQ(webhooks::failure_of({0, "", "Couldn't connect to server"}),
            "Couldn't connect to server");
}

TEST(webhook_retry, waits_grow_from_half_the_ceiling_and_never_pass_the_cap) {
  webhooks::settings s;
  s.first_retry = 1s;
  s.max_retry = 5min;
  std::mt19937_64 rng{42};
  for (int attempt = 1; attempt <= 40; ++attempt) {
    auto ceiling = backoff_ceiling(s.first_retry, s.max_retry, attempt);
    for (int i = 0; i < 50; ++i) {
      auto wait = webhooks::retry_wait(s, attempt, rng);
      EXPECT_GE(wait, ceiling / 2) << attempt;
      EXPECT_LE(wait, ceiling) << attempt;
      EXPECT_LE(wait, s.max_retry);
    }
  }
}

TEST(webhook_retry, an_event_is_given_up_once_older_than_the_max_age) {
  webhooks::settings s;
  s.max_age = 24h;
  webhook_record row;
  row.at = 1'000'000;
  EXPECT_FALSE(webhooks::expired(row, row.at, s));
  EXPECT_FALSE(webhooks::expired(row, row.at + 24 * 3600 * 1000 - 1, s));
  EXPECT_TRUE(webhooks::expired(row, row.at + 24 * 3600 * 1000, s));
}

TEST(webhook_urls, http_and_https_with_a_host_only) {
  for (auto ok : {"http://127.0.0.1:8080/hooks", "https://backend.example.com/meetingd",
                  "https://[::1]:8443/x?y=1", "http://user@host/"})
    EXPECT_FALSE(webhooks::url_problem(ok)) << ok;
  for (auto bad : {"", "ftp://host/x", "backend.example.com/hooks", "http://", "https:///path",
                   "http://:8080/", "http://host/a b", "http://host/\n"})
    EXPECT_TRUE(webhooks::url_problem(bad)) << bad;
}

TEST(webhook_outbox, one_row_per_url_with_the_same_body_and_id) {
  auto ev = vector_event();
  auto rows = webhooks::outbox_rows({ev}, {"http://a/", "http://b/"});
  ASSERT_EQ(rows.size(), 2u);
  for (auto& row : rows) {
    EXPECT_EQ(row.meeting, ev.meeting);
    EXPECT_EQ(row.seq, 9);
    EXPECT_EQ(row.id, "m-3f9a2c7e1b8d4a60.9");
    EXPECT_EQ(row.type, "meeting.ended");
    EXPECT_EQ(row.body, vector_body);
    EXPECT_EQ(row.status, webhook_status::pending);
  }
  EXPECT_EQ(rows[0].endpoint, "http://a/");
  EXPECT_EQ(rows[1].endpoint, "http://b/");
}

TEST(webhook_outbox, the_largest_call_record_fits_the_documented_bound) {
  // The most participants a meeting may have, each with the longest id and
  // a call of ten years.
  webhook_event ev = vector_event();
  ev.meeting = std::string(64, 'm');
  ev.reason = "expired";
  ev.duration_s = 10LL * 365 * 24 * 3600;
  ev.seconds.clear();
  for (int i = 0; i < meeting_settings{}.max_participants_limit; ++i) {
    auto id = std::to_string(i);
    ev.seconds.emplace_back(std::string(64 - id.size(), 'u') + id, ev.duration_s);
  }
  EXPECT_LE(codec::encode_webhook(ev).size(), webhooks::max_body_bytes);
}

} // namespace
