// The seed's call flow end to end through a real broker, emulator and node:
// login, create with an invitee, ringing on two devices of the callee, accept,
// answered elsewhere, leave, rejoin with a new session and token, end with
// DeleteChannel. Tokens are checked against the emulator's channel keys.
// Every test runs on both stores (call_flow.<test>/sqlite, /postgres), and a
// node stopped and started again on its database carries on the call.
#include "harness.hpp"

#include "actors/core/rtc_token.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace meetingd::testing;

namespace {

/// A cluster whose node keeps its state in the store of the test's parameter.
class call_flow : public ::testing::TestWithParam<store_kind> {
protected:
  node_options on_store() const {
    node_options o;
    o.store = GetParam();
    return o;
  }
};

} // namespace

INSTANTIATE_TEST_SUITE_P(, call_flow, both_stores());

TEST_P(call_flow, alice_calls_bob_on_two_devices) {
  cluster c{on_store()};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob_phone = c.logged_in("bob-phone", "bob");
  auto bob_laptop = c.logged_in("bob-laptop", "bob");

  auto created = alice->request("meeting.create",
                                {{"title", "standup"}, {"invitees", {"bob"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  auto& data = created["data"];
  std::string meeting = data["meeting"];
  EXPECT_EQ(data["invitations"]["bob"], "ringing");
  auto& creds = data["credentials"];
  EXPECT_EQ(creds["appid"], cluster::app_id);
  // The RTC user id: fixed-length, derived from the user (docs/protocol.md).
  EXPECT_EQ(creds["userid"], meetingd::rtc::rtc_user_id("alice"));
  EXPECT_EQ(creds["meeting"], meeting);
  EXPECT_EQ(creds["turn"]["password"], creds["token"]);
  auto joined = c.join_channel(creds);
  EXPECT_EQ(joined["_status"], 200) << joined.dump();
  EXPECT_EQ(joined["scheme"], "channel");

  // Both of Bob's devices ring, each with credentials it could join with.
  auto ring1 = bob_phone->wait_event("event.invite");
  auto ring2 = bob_laptop->wait_event("event.invite");
  ASSERT_TRUE(ring1 && ring2);
  EXPECT_EQ((*ring1)["meeting"], meeting);
  EXPECT_EQ((*ring1)["data"]["from"], "alice");
  EXPECT_EQ((*ring1)["data"]["title"], "standup");
  EXPECT_GT((*ring1)["data"]["ring_expires_at"].get<long long>(), 0);
  EXPECT_EQ((*ring1)["seq"], 1);

  // The phone shows the call; Alice learns it rings.
  EXPECT_EQ(code_of(bob_phone->request("call.ringing", {{"meeting", meeting}})), 0);
  EXPECT_TRUE(event_with(alice->wait_event("event.ringing"), "user", "bob"));

  // The laptop answers; the phone is told it was answered elsewhere.
  auto accepted = bob_laptop->request("call.accept", {{"meeting", meeting}});
  ASSERT_EQ(code_of(accepted), 0) << accepted.dump();
  auto bob_creds = accepted["data"]["credentials"];
  EXPECT_EQ(bob_creds["userid"], meetingd::rtc::rtc_user_id("bob"));
  EXPECT_EQ(c.join_channel(bob_creds)["_status"], 200);
  auto elsewhere = bob_phone->wait_event("event.answered_elsewhere");
  ASSERT_TRUE(elsewhere);
  EXPECT_FALSE(bob_laptop->wait_event("event.answered_elsewhere", 300ms));
  EXPECT_TRUE(event_with(alice->wait_event("event.accepted"), "user", "bob"));
  EXPECT_TRUE(event_with(alice->wait_event("event.joined"), "user", "bob"));

  // A second accept is a conflict, and the phone cannot accept either.
  auto again = bob_phone->request("call.accept", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(again, 409, "already_answered"));

  // Bob leaves and rejoins: same RTC user, new session and token.
  EXPECT_EQ(code_of(bob_laptop->request("meeting.leave", {{"meeting", meeting}})), 0);
  EXPECT_TRUE(event_with(alice->wait_event("event.left"), "reason", "left"));
  auto rejoined = bob_laptop->request("meeting.join", {{"meeting", meeting}});
  ASSERT_EQ(code_of(rejoined), 0) << rejoined.dump();
  auto& new_creds = rejoined["data"]["credentials"];
  EXPECT_EQ(new_creds["userid"], bob_creds["userid"]);
  EXPECT_NE(new_creds["session"], bob_creds["session"]);
  EXPECT_NE(new_creds["token"], bob_creds["token"]);
  EXPECT_EQ(c.join_channel(new_creds)["_status"], 200);
  EXPECT_EQ(rejoined["data"]["participants"].size(), 2u);

  // meeting.get shows the whole state.
  auto got = bob_laptop->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0);
  EXPECT_EQ(got["data"]["host"], "alice");
  EXPECT_EQ(got["data"]["state"], "active");

  // Only the host may end it; then everyone is told and the channel is gone.
  auto refused = bob_laptop->request("meeting.end", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(refused, 403, "not_host"));
  EXPECT_EQ(code_of(alice->request("meeting.end", {{"meeting", meeting}})), 0);
  EXPECT_TRUE(event_with(bob_laptop->wait_event("event.ended"), "reason", "ended"));
  bool deleted = false;
  for (int i = 0; i < 100 && !deleted; ++i) {
    auto ch = c.emulator_get("/_emulator/channels");
    deleted = ch["channels"].empty();
    if (!deleted)
      std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(deleted) << "DeleteChannel was not called";
  auto after = bob_laptop->request("meeting.join", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(after, 410, "meeting_ended"));
}

TEST_P(call_flow, error_codes) {
  cluster c{on_store()};
  c.start_node();
  auto stranger = c.device("stranger");
  // Not logged in.
  auto r = stranger->request("meeting.create", json::object());
  EXPECT_TRUE(is_refusal(r, 401, "not_logged_in"));
  // Bad credentials.
  c.add_user("carol", "carol-password");
  r = stranger->request("auth.login", {{"user", "carol"}, {"password", "wrong-password"}});
  EXPECT_TRUE(is_refusal(r, 401, "bad_credentials"));
  // Malformed messages.
  stranger->send_raw("not json");
  auto bad = stranger->wait_null_reply();
  ASSERT_TRUE(bad);
  EXPECT_EQ(code_of(*bad), 400);
  EXPECT_EQ(reason_of(*bad), "bad_json");
  r = stranger->request("meeting.fly", json::object());
  EXPECT_TRUE(is_refusal(r, 400, "unknown_type"));
  auto carol = c.logged_in("carol-phone", "carol");
  r = carol->request("meeting.join", json::object());
  EXPECT_TRUE(is_refusal(r, 400, "missing_field:args.meeting"));
  r = carol->request("call.invite", {{"meeting", "m-1"}, {"users", "bob"}});
  EXPECT_TRUE(is_refusal(r, 400, "bad_type:args.users"));
  // Unknown meeting.
  r = carol->request("meeting.join", {{"meeting", "m-nope"}});
  EXPECT_TRUE(is_refusal(r, 404, "meeting_not_found"));
  // Client-chosen id taken.
  EXPECT_EQ(code_of(carol->request("meeting.create", {{"meeting", "room-42"}})), 0);
  r = carol->request("meeting.create", {{"meeting", "room-42"}});
  EXPECT_TRUE(is_refusal(r, 409, "meeting_exists"));
  // Too large.
  carol->send_raw(std::string(17 * 1024, ' '));
  auto big = carol->wait_null_reply();
  ASSERT_TRUE(big);
  EXPECT_EQ(code_of(*big), 413);
  // Admin commands from a device: refused.
  r = carol->request("admin.users.list", json::object());
  EXPECT_TRUE(is_refusal(r, 403, "not_admin"));
  // Not a participant.
  auto dave = c.logged_in("dave-phone", "dave");
  r = dave->request("meeting.leave", {{"meeting", "room-42"}});
  EXPECT_TRUE(is_refusal(r, 403, "not_participant"));
}

TEST_P(call_flow, busy_and_offline_invitees) {
  cluster c{on_store()};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  c.add_user("erin", "erin-password"); // never logs in: offline
  auto first = bob->request("meeting.create", json::object());
  ASSERT_EQ(code_of(first), 0);
  auto r = alice->request("meeting.create",
                          {{"invitees", {"bob", "erin", "nobody"}}});
  ASSERT_EQ(code_of(r), 0) << r.dump();
  EXPECT_EQ(r["data"]["invitations"]["bob"], "busy");
  EXPECT_EQ(r["data"]["invitations"]["erin"], "offline");
  EXPECT_EQ(r["data"]["invitations"]["nobody"], "user_not_found");
}

TEST_P(call_flow, duplicate_request_gets_the_same_reply) {
  cluster c{on_store()};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto first = alice->request("meeting.create", {{"title", "once"}}, 5s, "create-1");
  ASSERT_EQ(code_of(first), 0);
  auto second = alice->request("meeting.create", {{"title", "once"}}, 5s, "create-1");
  EXPECT_EQ(first, second);
  auto c2 = c.console();
  auto list = c2->request("admin.meetings.list", json::object());
  EXPECT_EQ(list["data"]["meetings"].size(), 1u);
}

TEST_P(call_flow, sigterm_exits_cleanly) {
  cluster c{on_store()};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  EXPECT_EQ(code_of(alice->request("meeting.create", json::object())), 0);
  auto code = c.stop_node();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << c.node_log();
  EXPECT_NE(c.node_log().find("node.stopped clean=true"), std::string::npos) << c.node_log();
}

// SIGTERM, then a new node on the same database: the call goes on where it
// was (participants, lock, the logins of the devices, replies of answered
// requests), and can be ended.
TEST_P(call_flow, a_restarted_node_carries_on_the_call_from_its_database) {
  cluster c{on_store()};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto created = alice->request("meeting.create",
                                {{"title", "across a restart"}, {"invitees", {"bob"}}}, 5s,
                                "create-before-restart");
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  ASSERT_TRUE(bob->wait_event("event.invite"));
  auto accepted = bob->request("call.accept", {{"meeting", meeting}});
  ASSERT_EQ(code_of(accepted), 0) << accepted.dump();
  ASSERT_EQ(code_of(alice->request("moderate.lock", {{"meeting", meeting}})), 0);

  ASSERT_EQ(c.stop_node(), 0) << c.node_log();
  c.start_node();
  EXPECT_NE(c.node_log().find("clean_shutdown=true"), std::string::npos) << c.node_log();

  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["title"], "across a restart");
  EXPECT_EQ(got["data"]["host"], "alice");
  EXPECT_EQ(got["data"]["state"], "active");
  EXPECT_EQ(got["data"]["locked"], true);
  int joined = 0;
  for (auto& p : got["data"]["participants"])
    joined += p["state"] == "joined";
  EXPECT_EQ(joined, 2) << got.dump();
  // The answered create is replayed from the database, not run again.
  auto again = alice->request("meeting.create",
                              {{"title", "across a restart"}, {"invitees", {"bob"}}}, 5s,
                              "create-before-restart");
  EXPECT_EQ(again, created);

  // The devices are still logged in; the call goes on and ends.
  ASSERT_EQ(code_of(bob->request("meeting.leave", {{"meeting", meeting}})), 0);
  EXPECT_TRUE(event_with(alice->wait_event("event.left"), "user", "bob"));
  EXPECT_EQ(code_of(alice->request("meeting.end", {{"meeting", meeting}})), 0);
  auto after = bob->request("meeting.join", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(after, 410, "meeting_ended"));
}
