// Meeting control through the real broker (docs/protocol.md §7.6 moderate.*, §10
// admin): each command allowed and refused, and the events every device gets.
#include "harness.hpp"

#include <gtest/gtest.h>

using namespace meetingd::testing;

namespace {

struct room {
  cluster c;
  std::unique_ptr<meetingd::client::session> alice, bob, carol;
  std::string meeting;

  room() {
    c.start_node();
    alice = c.logged_in("alice-phone", "alice");
    bob = c.logged_in("bob-phone", "bob");
    carol = c.logged_in("carol-phone", "carol");
    auto r = alice->request("meeting.create", {{"title", "moderated"}});
    meeting = r["data"]["meeting"];
    for (auto* d : {bob.get(), carol.get()})
      if (code_of(d->request("meeting.join", {{"meeting", meeting}})) != 0)
        throw std::runtime_error("join failed");
  }

  json cmd(meetingd::client::session& d, const std::string& type, json args = json::object()) {
    args["meeting"] = meeting;
    return d.request(type, args);
  }
};

} // namespace

TEST(moderation, roles_and_handover) {
  room r;
  // Only the host changes roles.
  auto refused = r.cmd(*r.bob, "moderate.set_role", {{"user", "carol"}, {"role", "cohost"}});
  EXPECT_EQ(code_of(refused), 403);
  EXPECT_EQ(reason_of(refused), "not_host");
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.set_role", {{"user", "bob"}, {"role", "cohost"}})), 0);
  auto ev = r.carol->wait_event("event.role_changed");
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["data"]["user"], "bob");
  EXPECT_EQ((*ev)["data"]["role"], "cohost");
  // The host cannot step down without a successor.
  auto alone = r.cmd(*r.alice, "moderate.set_role", {{"user", "alice"}, {"role", "member"}});
  EXPECT_EQ(code_of(alone), 409);
  EXPECT_EQ(reason_of(alone), "host_required");
  // The host leaves: the cohost (bob) takes over, everyone is told.
  EXPECT_EQ(code_of(r.cmd(*r.alice, "meeting.leave")), 0);
  bool bob_is_host = false;
  for (int i = 0; i < 3 && !bob_is_host; ++i) {
    auto e = r.carol->wait_event("event.role_changed");
    bob_is_host = e && (*e)["data"]["user"] == "bob" && (*e)["data"]["role"] == "host";
  }
  EXPECT_TRUE(bob_is_host);
  auto got = r.cmd(*r.carol, "meeting.get");
  EXPECT_EQ(got["data"]["host"], "bob");
}

TEST(moderation, kick_removes_from_the_channel_and_forbids_rejoining) {
  room r;
  auto refused = r.cmd(*r.carol, "moderate.kick", {{"user", "bob"}});
  EXPECT_EQ(code_of(refused), 403);
  EXPECT_EQ(reason_of(refused), "not_host");
  // Bob is in the RTC channel (the emulator admits his token).
  auto got = r.cmd(*r.bob, "meeting.renew");
  auto creds = got["data"]["credentials"];
  auto joined = r.c.join_channel(creds);
  ASSERT_EQ(joined["_status"], 200);
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.kick", {{"user", "bob"}})), 0);
  auto kicked = r.bob->wait_event("event.kicked");
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["data"]["by"], "alice");
  auto left = r.carol->wait_event("event.left");
  ASSERT_TRUE(left);
  EXPECT_EQ((*left)["data"]["reason"], "kicked");
  // RemoveTerminals took him out of the channel.
  auto channel = r.c.emulator_get("/_emulator/channels/" + r.meeting);
  EXPECT_EQ(channel["users"], json::array()) << channel.dump();
  auto again = r.cmd(*r.bob, "meeting.join");
  EXPECT_EQ(code_of(again), 403);
  EXPECT_EQ(reason_of(again), "kicked");
}

TEST(moderation, kick_refused_by_rtc_changes_nothing) {
  room r;
  r.c.emulator_post("/_emulator/faults",
                    {{"action", "RemoveTerminals"}, {"status", 403},
                     {"code", "Forbidden.RAM"}, {"message", "no permission"}, {"count", 1}});
  auto refused = r.cmd(*r.alice, "moderate.kick", {{"user", "bob"}});
  EXPECT_EQ(code_of(refused), 502);
  EXPECT_EQ(reason_of(refused), "rtc_error:Forbidden.RAM");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("RequestId"), std::string::npos);
  auto got = r.cmd(*r.bob, "meeting.get");
  EXPECT_EQ(code_of(got), 0);
}

TEST(moderation, mute_and_mute_all) {
  room r;
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.set_role", {{"user", "carol"}, {"role", "cohost"}})), 0);
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.mute", {{"user", "bob"}})), 0);
  auto m = r.bob->wait_event("event.mute_request");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["data"]["audio"], true);
  EXPECT_EQ((*m)["data"]["by"], "alice");
  auto refused = r.cmd(*r.bob, "moderate.mute_all");
  EXPECT_EQ(code_of(refused), 403);
  EXPECT_EQ(code_of(r.cmd(*r.carol, "moderate.unmute_all", {{"video", true}})), 0);
  auto u = r.bob->wait_event("event.mute_request");
  ASSERT_TRUE(u);
  EXPECT_EQ((*u)["data"]["video"], false);
  EXPECT_FALSE(r.alice->wait_event("event.mute_request", 300ms)) << "moderators are not muted";
  auto got = r.cmd(*r.alice, "meeting.get");
  for (auto& p : got["data"]["participants"]) {
    if (p["user"] == "bob") {
      EXPECT_EQ(p["audio_muted"], true);
    }
  }
}

TEST(moderation, lock_refuses_strangers_but_not_invitees) {
  room r;
  auto dave = r.c.logged_in("dave-phone", "dave");
  auto erin = r.c.logged_in("erin-phone", "erin");
  EXPECT_EQ(code_of(r.cmd(*r.bob, "moderate.lock")), 403);
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.lock")), 0);
  auto locked = dave->request("meeting.join", {{"meeting", r.meeting}});
  EXPECT_EQ(code_of(locked), 409);
  EXPECT_EQ(reason_of(locked), "meeting_locked");
  auto inv = r.cmd(*r.alice, "call.invite", {{"users", {"erin"}}});
  EXPECT_EQ(inv["data"]["invitations"]["erin"], "ringing");
  EXPECT_EQ(code_of(erin->request("meeting.join", {{"meeting", r.meeting}})), 0);
  EXPECT_EQ(code_of(r.cmd(*r.alice, "moderate.unlock")), 0);
  EXPECT_EQ(code_of(dave->request("meeting.join", {{"meeting", r.meeting}})), 0);
}

TEST(moderation, rtc_events_update_presence_and_mute_state) {
  room r;
  EXPECT_EQ(code_of(r.cmd(*r.bob, "rtc.event", {{"event", "audio_muted"}})), 0);
  auto ev = r.alice->wait_event("event.participant");
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["data"]["user"], "bob");
  EXPECT_EQ((*ev)["data"]["audio_muted"], true);
  EXPECT_EQ(code_of(r.cmd(*r.bob, "rtc.event", {{"event", "network_lost"}})), 0);
  ev = r.carol->wait_event("event.participant");
  ASSERT_TRUE(ev);
  auto bad = r.cmd(*r.bob, "rtc.event", {{"event", "exploded"}});
  EXPECT_EQ(code_of(bad), 400);
  EXPECT_EQ(reason_of(bad), "bad_value:args.event");
}

TEST(admin, console_commands_allowed_and_refused) {
  room r;
  auto console = r.c.console();
  auto intruder = r.c.console("intruder");
  auto refused = intruder->request("admin.meetings.list", json::object());
  EXPECT_EQ(code_of(refused), 403);
  EXPECT_EQ(reason_of(refused), "not_admin");
  // The node logs the refusal as it publishes it: the reply can be here first.
  EXPECT_TRUE(eventually([&] { return r.c.node_log().find("not_admin") != std::string::npos; },
                         5s))
    << r.c.node_log();

  auto list = console->request("admin.meetings.list", {{"state", "active"}});
  ASSERT_EQ(code_of(list), 0);
  ASSERT_EQ(list["data"]["meetings"].size(), 1u);
  EXPECT_EQ(list["data"]["meetings"][0]["participants"], 3);
  auto stats = console->request("admin.stats", json::object());
  ASSERT_EQ(code_of(stats), 0) << stats.dump();
  EXPECT_EQ(stats["data"]["meetings"]["active"], 1);
  EXPECT_EQ(stats["data"]["participants"], 3);
  EXPECT_GE(stats["data"]["rtc"]["calls"].get<int>(), 1);
  EXPECT_GE(stats["data"]["commands"]["total"].get<int>(), 1);
  auto get = console->request("admin.meeting.get", {{"meeting", r.meeting}});
  EXPECT_EQ(get["data"]["host"], "alice");
  // Secrets never leave the node.
  EXPECT_EQ(get.dump().find("channel_key"), std::string::npos);
  auto users = console->request("admin.users.list", {{"limit", 2}});
  EXPECT_EQ(users["data"]["users"].size(), 2u);
  EXPECT_TRUE(users["data"].contains("next_after"));

  EXPECT_EQ(code_of(console->request("admin.mute_all", {{"meeting", r.meeting}})), 0);
  EXPECT_TRUE(r.bob->wait_event("event.mute_request"));
  EXPECT_EQ(code_of(console->request("admin.kick", {{"meeting", r.meeting}, {"user", "carol"}})), 0);
  auto kicked = r.carol->wait_event("event.kicked");
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["data"]["by"], "console-1");
  EXPECT_EQ(code_of(console->request("admin.meeting.end", {{"meeting", r.meeting}})), 0);
  auto ended = r.bob->wait_event("event.ended");
  ASSERT_TRUE(ended);
  EXPECT_EQ((*ended)["data"]["reason"], "admin");
  EXPECT_EQ(code_of(console->request("admin.user.remove", {{"user", "carol"}})), 0);
  auto gone = console->request("admin.user.remove", {{"user", "carol"}});
  EXPECT_EQ(code_of(gone), 404);
}

TEST(limits, rate_limit_and_slowed_bad_logins) {
  cluster c{node_options{{{"rate-limit", "5"}}, {}}};
  c.start_node();
  auto d = c.device("spammer");
  int limited = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = d->request("auth.login", {{"user", "nobody"}, {"password", "wrong-password"}});
    if (code_of(r) == 429)
      ++limited;
  }
  EXPECT_GT(limited, 0);
  // Bad logins from one client are slowed down even under the rate.
  cluster c2;
  c2.start_node();
  c2.add_user("victim", "right-password");
  auto guesser = c2.device("guesser");
  bool slowed = false;
  for (int i = 0; i < 10 && !slowed; ++i) {
    auto r = guesser->request("auth.login", {{"user", "victim"}, {"password", "guess-" + std::to_string(i)}});
    if (code_of(r) == 429) {
      slowed = true;
      EXPECT_EQ(reason_of(r), "rate_limited");
    }
  }
  EXPECT_TRUE(slowed);
}
