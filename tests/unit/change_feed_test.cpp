// The change feed's payloads (persistence/change_feed.*): what other nodes
// keep of a commit comes back as the same changes, escaped text included;
// a stored reply travels as its key only; rows no other node keeps (failed
// logins, webhook events) stay home; a large batch is split under
// PostgreSQL's limit; a line of a node of the previous version (without the
// call-record columns) is still read; anything else is refused.
#include "persistence/change_feed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

using namespace meetingd;

TEST(change_feed, the_rows_other_nodes_keep_come_back_as_the_same_changes) {
  changeset cs;
  meeting_record m;
  m.id = "m-1";
  m.title = "tab\there\nnewline \\ backslash";
  m.creator = "ann";
  m.status = meeting_status::active;
  m.created_at = 1700000000000;
  m.host = "ann";
  m.next_event = 17;
  cs.add(change::put_meeting{m});
  participant p;
  p.user = "ann";
  p.r = role::host;
  p.audio_muted = true;
  p.token_warn_at = 1700000099000;
  p.first_joined_at = 1700000000500;
  p.in_call_ms = 123456;
  cs.add(change::put_participant{"m-1", p});
  cs.add(change::put_device{device_record{"GID_MEETING_DOWN@@@ann-phone", "ann", 5, 7, true, 9}});
  cs.add(change::put_request{request_record{"c-1", "r-1", "{\"token\":\"secret\"}", 42}});
  cs.add(change::put_device_seq{"c-1", 12});
  cs.add(change::put_login_failures{login_failures_record{"ann", 3, 4}});
  webhook_record hook;
  hook.endpoint = "https://backend.example/hook";
  hook.meeting = "m-1";
  hook.seq = 1;
  hook.body = "{\"secret\":1}";
  cs.add(change::put_webhook{hook});
  cs.add(change::settle_webhook{hook});
  cs.add(change::delete_meeting{"m-0"});
  auto payloads = change_feed::encode("node-1", {&cs});
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].find("secret"), std::string::npos) << "a reply must not travel";
  auto m2 = change_feed::decode(payloads[0]);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->node, "node-1");
  // Everything but the failed logins (counted per node) and the webhook
  // events (sent by the node serving the meeting, from the outbox).
  ASSERT_EQ(m2->changes.size(), 6u);
  auto& pm = std::get<change::put_meeting>(m2->changes[0]);
  EXPECT_EQ(pm.row.title, m.title);
  EXPECT_EQ(pm.row.created_at, m.created_at);
  EXPECT_EQ(pm.row.host, "ann");
  EXPECT_EQ(pm.row.next_event, 17);
  auto& pp = std::get<change::put_participant>(m2->changes[1]);
  EXPECT_EQ(pp.meeting, "m-1");
  EXPECT_TRUE(pp.row.audio_muted);
  EXPECT_EQ(pp.row.r, role::host);
  EXPECT_EQ(pp.row.token_warn_at, 1700000099000);
  EXPECT_EQ(pp.row.first_joined_at, 1700000000500);
  EXPECT_EQ(pp.row.in_call_ms, 123456);
  auto& pd = std::get<change::put_device>(m2->changes[2]);
  EXPECT_EQ(pd.row.user, "ann");
  EXPECT_TRUE(pd.row.online);
  auto& pr = std::get<change::put_request>(m2->changes[3]);
  EXPECT_EQ(pr.row.id, "r-1");
  EXPECT_EQ(pr.row.at, 42);
  EXPECT_TRUE(pr.row.reply.empty());
  EXPECT_EQ(std::get<change::put_device_seq>(m2->changes[4]).last_seq, 12u);
  EXPECT_EQ(std::get<change::delete_meeting>(m2->changes[5]).meeting, "m-0");
}

TEST(change_feed, a_large_batch_is_split_under_the_payload_limit) {
  std::vector<changeset> sets(400);
  std::vector<const changeset*> batch;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    sets[i].add(change::put_user{user_record{"user-" + std::to_string(i), "A Name", "hash", 1}});
    batch.push_back(&sets[i]);
  }
  auto payloads = change_feed::encode("n", batch);
  ASSERT_GT(payloads.size(), 1u);
  std::size_t changes = 0;
  for (auto& p : payloads) {
    EXPECT_LT(p.size(), 8000u);
    auto m = change_feed::decode(p);
    ASSERT_TRUE(m);
    changes += m->changes.size();
  }
  EXPECT_EQ(changes, 400u);
  changeset only_local;
  only_local.add(change::put_login_failures{login_failures_record{"ann", 1, 2}});
  only_local.add(change::settle_webhook{webhook_record{}});
  EXPECT_TRUE(change_feed::encode("n", {&only_local}).empty());
}

TEST(change_feed, a_line_of_an_older_node_without_the_call_record_columns_is_read) {
  // During a rolling upgrade, nodes of the previous version send meeting and
  // participant lines without next_event, first_joined_at and in_call_ms.
  changeset cs;
  meeting_record m;
  m.id = "m-1";
  m.host = "ann";
  m.next_event = 5;
  cs.add(change::put_meeting{m});
  participant p;
  p.user = "ann";
  p.token_warn_at = 77;
  p.in_call_ms = 9;
  cs.add(change::put_participant{"m-1", p});
  cs.add(change::put_user{user_record{"ann", "Ann", "", 1}});
  auto payloads = change_feed::encode("old-node", {&cs});
  ASSERT_EQ(payloads.size(), 1u);
  // Drops the last `n` fields of the line that starts with `name`.
  auto drop_last = [](std::string payload, const std::string& name, int n) {
    auto start = payload.find("\n" + name + "\t");
    auto end = std::min(payload.find('\n', start + 1), payload.size());
    auto cut = end;
    for (int i = 0; i < n; ++i)
      cut = payload.rfind('\t', cut - 1);
    return payload.erase(cut, end - cut);
  };
  auto old = drop_last(drop_last(payloads[0], "put_meeting", 1), "put_participant", 2);
  auto m2 = change_feed::decode(old);
  ASSERT_TRUE(m2) << old;
  ASSERT_EQ(m2->changes.size(), 3u);
  auto& pm = std::get<change::put_meeting>(m2->changes[0]);
  EXPECT_EQ(pm.row.host, "ann");
  EXPECT_EQ(pm.row.next_event, 1); // the column's default
  auto& pp = std::get<change::put_participant>(m2->changes[1]);
  EXPECT_EQ(pp.row.token_warn_at, 77);
  EXPECT_EQ(pp.row.in_call_ms, 0);
  EXPECT_EQ(std::get<change::put_user>(m2->changes[2]).row.display_name, "Ann");
  // One field fewer than that is not a line any version sends.
  EXPECT_FALSE(change_feed::decode(drop_last(old, "put_meeting", 1)));
  EXPECT_FALSE(change_feed::decode(drop_last(old, "put_participant", 1)));
}

TEST(change_feed, what_is_not_a_payload_of_encode_is_refused) {
  EXPECT_FALSE(change_feed::decode("node\nput_nothing\tx"));
  EXPECT_FALSE(change_feed::decode("node\nput_user\tonly-id"));
  EXPECT_FALSE(change_feed::decode("node\nput_meeting\tm\tt\tc\t\t\t\t0\tbogus\tactive"));
  auto empty = change_feed::decode("node");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->changes.empty());
}
