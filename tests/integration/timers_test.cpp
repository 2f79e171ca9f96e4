// The timers of docs/protocol.md §9 firing on their own through a real broker,
// emulator and node, with second-scale options: ring timeout, idle, channel
// lifetime, presence grace, token expiry (appkey), the per-device event
// numbers, and every deadline kept across a kill -9 (§5: "timers keep their
// absolute deadlines"). Waits are real time; each check allows the event to
// come a little early only by clock granularity (`early`) and up to `late`
// after its deadline.
//
// Where a deadline's effect is observed, it is observed passively (events,
// the emulator's channel list): a command sent to the meeting would make the
// node fire its due timers itself ("deadlines win ties", docs/protocol.md) and
// hide a timer that never fired.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

using namespace meetingd::testing;

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// How much earlier than its deadline a timer's effect may be seen (clock
/// granularity), and how much later.
constexpr milliseconds early{250};
constexpr milliseconds late{2000};

long long ms(steady::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

long long unix_ms() {
  return std::chrono::duration_cast<milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The effect at `at` of a deadline set `d` after a moment between `lo` and
/// `hi` (a request's send and its reply) came neither early nor late.
void expect_window(steady::time_point at, steady::time_point lo, steady::time_point hi,
                   milliseconds d, const std::string& what) {
  EXPECT_GE(ms(at - lo), (d - early).count())
    << what << " came " << ms(at - lo) << " ms after the start, deadline " << d.count() << " ms";
  EXPECT_LE(ms(at - hi), (d + late).count())
    << what << " came " << ms(at - hi) << " ms after the start, deadline " << d.count() << " ms";
}

bool channel_exists(cluster& c, const std::string& channel) {
  return c.emulator_get("/_emulator/channels/" + channel).contains("channel");
}

/// Waits (passively) until the emulator no longer has the channel; returns
/// when that was seen, or nullopt.
std::optional<steady::time_point> wait_channel_deleted(cluster& c, const std::string& channel,
                                                       milliseconds timeout) {
  if (eventually([&] { return !channel_exists(c, channel); }, timeout))
    return steady::now();
  return std::nullopt;
}

int delete_channel_calls(cluster& c) {
  auto stats = c.emulator_get("/_emulator/stats");
  return stats["actions"].value("DeleteChannel", json::object()).value("ok", 0);
}

/// The participant entry of `user` in a meeting view.
json participant_of(const json& view, const std::string& user) {
  for (auto& p : view["participants"])
    if (p["user"] == user)
      return p;
  return json{};
}

json invitation_of(const json& view, const std::string& user) {
  for (auto& i : view["invitations"])
    if (i["user"] == user)
      return i;
  return json{};
}

/// The meeting is over, as the admin console sees it: the full view with
/// state "ended" (docs/protocol.md §10: admin.meeting.get is "as meeting.get",
/// the full state), or "gone" (410 meeting_ended). The idle test checks the
/// view strictly; the others only that the meeting ended.
void expect_over(meetingd::client::session& console, const std::string& meeting) {
  auto got = console.request("admin.meeting.get", {{"meeting", meeting}});
  if (code_of(got) == 0)
    EXPECT_EQ(got["data"]["state"], "ended") << got.dump();
  else
    EXPECT_EQ(reason_of(got), "meeting_ended") << got.dump();
}

/// Every event a session receives, in arrival order (independent of the
/// session's own queue, which wait_event takes from out of order).
struct recorder {
  std::mutex mu;
  std::vector<json> events;

  static std::shared_ptr<recorder> attach(meetingd::client::session& s) {
    auto r = std::make_shared<recorder>();
    s.on_traffic([r](const meetingd::client::traffic& t) {
      if (t.outgoing)
        return;
      auto j = json::parse(t.payload, nullptr, false);
      if (j.is_object() && j.value("type", std::string{}).rfind("event.", 0) == 0) {
        std::lock_guard<std::mutex> g{r->mu};
        r->events.push_back(std::move(j));
      }
    });
    return r;
  }
  std::vector<json> snapshot() {
    std::lock_guard<std::mutex> g{mu};
    return events;
  }
};

} // namespace

// -- 1. ring --------------------------------------------------------------------------

TEST(timers, ring_timeout_tells_both_sides_and_expires_the_invitation) {
  cluster c{node_options{{{"ring-timeout", "2s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob_phone = c.logged_in("bob-phone", "bob");
  auto bob_laptop = c.logged_in("bob-laptop", "bob");
  auto carol = c.logged_in("carol-phone", "carol");

  auto t0 = steady::now();
  auto created = alice->request("meeting.create", {{"invitees", {"bob", "carol"}}});
  auto t1 = steady::now();
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  ASSERT_EQ(created["data"]["invitations"]["bob"], "ringing");
  ASSERT_EQ(created["data"]["invitations"]["carol"], "ringing");
  auto invite = bob_phone->wait_event("event.invite");
  ASSERT_TRUE(invite);
  ASSERT_TRUE(bob_laptop->wait_event("event.invite"));
  ASSERT_TRUE(carol->wait_event("event.invite"));
  auto ring_expires_at = (*invite)["data"]["ring_expires_at"].get<long long>();
  EXPECT_NEAR(static_cast<double>(ring_expires_at), unix_ms() / 1000.0 + 2, 2.0);
  // Carol answers in time: her invitation must not time out.
  ASSERT_EQ(code_of(carol->request("call.accept", {{"meeting", meeting}})), 0);

  // Nobody answers for Bob: the inviter and both of Bob's devices are told.
  for (auto* s : {alice.get(), bob_phone.get(), bob_laptop.get()}) {
    auto ev = s->wait_event("event.invite_timeout", 2s + late + 1s);
    auto at = steady::now();
    ASSERT_TRUE(ev) << s->client_id() << " got no event.invite_timeout\n" << c.node_log();
    EXPECT_EQ((*ev)["meeting"], meeting);
    EXPECT_EQ((*ev)["data"]["user"], "bob");
    expect_window(at, t0, t1, 2s, s->client_id() + " event.invite_timeout");
  }
  // Only Bob's invitation timed out, once.
  EXPECT_FALSE(alice->wait_event("event.invite_timeout", 500ms));
  EXPECT_FALSE(carol->wait_event("event.invite_timeout", 10ms));
  EXPECT_FALSE(bob_phone->wait_event("event.invite_timeout", 10ms));

  auto r = bob_phone->request("call.accept", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(r, 410, "invitation_expired"));
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(invitation_of(got["data"], "bob")["state"], "timed_out") << got.dump();
  EXPECT_EQ(invitation_of(got["data"], "carol")["state"], "accepted") << got.dump();
  EXPECT_EQ(got["data"]["state"], "active");
}

// -- 2. idle --------------------------------------------------------------------------

TEST(timers, idle_meeting_is_ended_and_its_channel_deleted) {
  cluster c{node_options{{{"idle-timeout", "2s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto console = c.console();
  auto started = start_meeting(*alice, {}, {{"title", "lonely"}});
  std::string meeting = started["meeting"];
  std::string channel = started["channel"];
  ASSERT_TRUE(channel_exists(c, channel));

  auto t0 = steady::now();
  ASSERT_EQ(code_of(alice->request("meeting.leave", {{"meeting", meeting}})), 0);
  auto t1 = steady::now();
  // Nobody is in the meeting to be told: DeleteChannel is the visible effect.
  auto deleted = wait_channel_deleted(c, channel, 2s + late + 1s);
  ASSERT_TRUE(deleted) << "the idle meeting's channel was not deleted\n" << c.node_log();
  expect_window(*deleted, t0, t1, 2s, "idle DeleteChannel");
  EXPECT_GE(delete_channel_calls(c), 1);

  // The operator can see why it ended: admin.meeting.get is "as
  // meeting.get", the full state, and the view carries end_reason.
  auto got = console->request("admin.meeting.get", {{"meeting", meeting}});
  EXPECT_EQ(code_of(got), 0) << "admin.meeting.get of the idle-ended meeting: " << got.dump();
  EXPECT_EQ(got["data"]["state"], "ended") << got.dump();
  EXPECT_EQ(got["data"]["end_reason"], "idle") << got.dump();
  auto list = console->request("admin.meetings.list", {{"state", "ended"}});
  ASSERT_EQ(code_of(list), 0) << list.dump();
  ASSERT_EQ(list["data"]["meetings"].size(), 1u) << list.dump();
  EXPECT_EQ(list["data"]["meetings"][0]["meeting"], meeting);
  EXPECT_TRUE(c.emulator_get("/_emulator/channels")["channels"].empty());
  auto r = alice->request("meeting.join", {{"meeting", meeting}});
  EXPECT_EQ(code_of(r), 410) << r.dump();
}

TEST(timers, a_join_before_the_idle_deadline_cancels_it) {
  cluster c{node_options{{{"idle-timeout", "2s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto console = c.console();
  auto started = start_meeting(*alice);
  std::string meeting = started["meeting"];
  std::string channel = started["channel"];
  // The positive control: a meeting emptied just after the first one, that
  // nobody joins.
  auto control = start_meeting(*alice);
  std::string control_channel = control["channel"];

  auto t0 = steady::now();
  ASSERT_EQ(code_of(alice->request("meeting.leave", {{"meeting", meeting}})), 0);
  ASSERT_EQ(code_of(alice->request("meeting.leave", {{"meeting", control["meeting"]}})), 0);
  // Acknowledged, so the first deadline is armed (replies follow the commit).
  auto joined = bob->request("meeting.join", {{"meeting", meeting}});
  ASSERT_EQ(code_of(joined), 0) << joined.dump();

  // The control ends at its deadline, so idle deadlines fire and are seen
  // now; the first meeting's came earlier. What must not happen is then
  // waited for up to `late` after the first deadline, as long as an end
  // that did fire could take to show.
  auto control_deleted = wait_channel_deleted(c, control_channel, 2s + late + 1s);
  ASSERT_TRUE(control_deleted) << "the control meeting did not end\n" << c.node_log();
  std::this_thread::sleep_until(t0 + 2s + late);
  EXPECT_TRUE(channel_exists(c, channel)) << c.node_log();
  EXPECT_EQ(delete_channel_calls(c), 1) << "only the control's channel is deleted";
  auto got = console->request("admin.meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["state"], "active") << got.dump();

  // Emptied again, it gets a full idle timeout from then (the old deadline,
  // long past, must not end it at once).
  auto t2 = steady::now();
  ASSERT_EQ(code_of(bob->request("meeting.leave", {{"meeting", meeting}})), 0);
  auto t3 = steady::now();
  auto deleted = wait_channel_deleted(c, channel, 2s + late + 1s);
  ASSERT_TRUE(deleted) << c.node_log();
  expect_window(*deleted, t2, t3, 2s, "second idle DeleteChannel");
  expect_over(*console, meeting);
}

TEST(timers, commands_racing_the_idle_end_are_all_answered) {
  // docs/protocol.md §2: exactly one reply per accepted uplink message, also for
  // a command that arrives while a timer ends the meeting and its channel is
  // being deleted. Ten meetings go idle 150 ms apart; the console polls each
  // one around its deadline (faster than the default rate limit allows).
  // Alice creates all ten: more than a user may by default.
  cluster c{node_options{{{"idle-timeout", "2s"},
                          {"rate-limit", "0"},
                          {"max-meetings-per-user", "0"},
                          {"max-creates-per-minute", "0"}},
                         {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto console = c.console();
  constexpr int n = 10;
  constexpr auto spacing = 150ms;
  std::vector<std::string> meetings, channels;
  for (int i = 0; i < n; ++i) {
    auto started = start_meeting(*alice);
    meetings.push_back(started["meeting"]);
    channels.push_back(started["channel"]);
  }
  std::vector<steady::time_point> left;
  auto t0 = steady::now();
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(t0 + i * spacing);
    left.push_back(steady::now());
    ASSERT_EQ(code_of(alice->request("meeting.leave", {{"meeting", meetings[i]}})), 0);
  }
  std::vector<std::pair<std::string, std::string>> sent; // meeting, request id
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(left[i] + 2s - 50ms);
    while (steady::now() < left[i] + 2s + 100ms)
      sent.emplace_back(meetings[i],
                        console->send("admin.meeting.get", {{"meeting", meetings[i]}}));
  }
  std::string lost;
  int lost_count = 0;
  std::optional<std::pair<std::string, std::string>> first_lost;
  for (auto& [m, id] : sent) {
    auto r = console->wait_reply(id, lost_count == 0 ? 3s : 10ms);
    if (!r) {
      if (!first_lost)
        first_lost.emplace(m, id);
      if (++lost_count <= 5)
        lost += " " + m + "/" + id;
    } else {
      EXPECT_TRUE(code_of(*r) == 0 || code_of(*r) == 410) << r->dump();
    }
  }
  EXPECT_EQ(lost_count, 0) << "admin.meeting.get requests (of " << sent.size()
                           << ") never answered, e.g." << lost;
  for (auto& ch : channels)
    EXPECT_FALSE(channel_exists(c, ch)) << ch;
  if (first_lost) {
    // §4: a repeated request gets the reply; a lost one must not stay
    // "in flight" for good.
    auto& [m, id] = *first_lost;
    auto again = console->send("admin.meeting.get", {{"meeting", m}}, id);
    auto r = console->wait_reply(again, 3s);
    EXPECT_TRUE(r) << "the retry of " << id << " (same id) is not answered either";
  }
  // §9: SIGTERM finishes the commands in flight and exits 0.
  auto code = c.stop_node(10s);
  EXPECT_EQ(code, std::optional<int>{0}) << "meetingd did not stop cleanly on SIGTERM";
}

// -- 3. channel lifetime ----------------------------------------------------------------

TEST(timers, channel_lifetime_warns_then_ends_the_meeting_as_expired) {
  cluster c{node_options{{{"channel-ttl", "4s"}, {"token-renew-before", "1s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");

  auto t0 = steady::now();
  auto created = alice->request("meeting.create", json::object());
  auto t1 = steady::now();
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  std::string channel = created["data"]["channel"];
  auto expires_at = created["data"]["expires_at"].get<long long>();
  EXPECT_NEAR(static_cast<double>(expires_at), unix_ms() / 1000.0 + 4, 2.0);

  // Before expiry a participant who left rejoins the same channel with a
  // new session and token.
  auto first = bob->request("meeting.join", {{"meeting", meeting}});
  ASSERT_EQ(code_of(first), 0) << first.dump();
  ASSERT_EQ(code_of(bob->request("meeting.leave", {{"meeting", meeting}})), 0);
  auto again = bob->request("meeting.join", {{"meeting", meeting}});
  ASSERT_EQ(code_of(again), 0) << again.dump();
  auto& old_creds = first["data"]["credentials"];
  auto& new_creds = again["data"]["credentials"];
  EXPECT_EQ(new_creds["channel"], channel);
  EXPECT_EQ(new_creds["userid"], old_creds["userid"]);
  EXPECT_NE(new_creds["session"], old_creds["session"]);
  EXPECT_NE(new_creds["token"], old_creds["token"]);
  EXPECT_EQ(c.join_channel(new_creds)["_status"], 200);

  // --token-renew-before ahead of the end, every participant is warned.
  for (auto* s : {alice.get(), bob.get()}) {
    auto ev = s->wait_event("event.token_expiring", 3s + late + 1s);
    auto at = steady::now();
    ASSERT_TRUE(ev) << s->client_id() << " got no event.token_expiring\n" << c.node_log();
    EXPECT_EQ((*ev)["meeting"], meeting);
    EXPECT_EQ((*ev)["data"]["expires_at"], expires_at) << ev->dump();
    expect_window(at, t0, t1, 3s, s->client_id() + " event.token_expiring");
  }
  // At expiry the meeting ends for everyone in it.
  for (auto* s : {alice.get(), bob.get()}) {
    auto ev = s->wait_event("event.ended", 4s + late);
    auto at = steady::now();
    ASSERT_TRUE(ev) << s->client_id() << " got no event.ended\n" << c.node_log();
    EXPECT_EQ((*ev)["meeting"], meeting);
    EXPECT_EQ((*ev)["data"]["reason"], "expired") << ev->dump();
    expect_window(at, t0, t1, 4s, s->client_id() + " event.ended");
  }
  auto deleted = wait_channel_deleted(c, channel, late);
  EXPECT_TRUE(deleted) << "DeleteChannel was not called at expiry\n" << c.node_log();
  EXPECT_GE(delete_channel_calls(c), 1);

  auto r = bob->request("meeting.join", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(r, 410, "meeting_expired"));
  r = alice->request("meeting.join", {{"meeting", meeting}});
  EXPECT_TRUE(is_refusal(r, 410, "meeting_expired"));
}

// -- 4. presence ------------------------------------------------------------------------

namespace {

/// Alice and Bob in a call; then Bob's network goes (the broker publishes his
/// last will) and Alice is told he is offline.
struct bob_drops_off {
  std::unique_ptr<meetingd::client::session> alice, bob;
  std::string meeting;
  steady::time_point t0; // just before the drop
  json offline;          // Alice's event.participant

  void make(cluster& c) {
    alice = c.logged_in("alice-phone", "alice");
    bob = c.logged_in("bob-phone", "bob");
    meeting = start_meeting(*alice, {bob.get()})["meeting"];
    ASSERT_TRUE(alice->wait_event("event.joined"));
    t0 = steady::now();
    bob->drop();
    auto ev = alice->wait_event("event.participant", late);
    ASSERT_TRUE(ev) << "no event.participant after the last will\n" << c.node_log();
    offline = *ev;
    EXPECT_EQ(offline["meeting"], meeting);
    EXPECT_EQ(offline["data"]["user"], "bob");
    EXPECT_EQ(offline["data"]["online"], false) << offline.dump();
  }
};

} // namespace

TEST(timers, presence_grace_removes_a_participant_who_stays_offline) {
  cluster c{node_options{{{"presence-grace", "2s"}}, {}}};
  c.start_node();
  bob_drops_off call;
  ASSERT_NO_FATAL_FAILURE(call.make(c));
  auto& alice = call.alice;
  auto& meeting = call.meeting;
  auto& offline = call.offline;
  auto t0 = call.t0;

  auto left = alice->wait_event("event.left", 2s + late + 1s);
  auto at = steady::now();
  ASSERT_TRUE(left) << "no event.left after the presence grace\n" << c.node_log();
  EXPECT_EQ((*left)["meeting"], meeting);
  EXPECT_EQ((*left)["data"]["user"], "bob");
  EXPECT_EQ((*left)["data"]["reason"], "offline") << left->dump();
  EXPECT_GT((*left)["seq"].get<long long>(), offline["seq"].get<long long>());
  // The grace starts when the node learns of the will, after t0.
  EXPECT_GE(ms(at - t0), (2s - early).count()) << "event.left came early";
  EXPECT_LE(ms(at - t0), (2s + late).count()) << "event.left came late";

  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(participant_of(got["data"], "bob")["state"], "left") << got.dump();
  EXPECT_EQ(participant_of(got["data"], "alice")["state"], "joined") << got.dump();
}

TEST(timers, coming_back_within_the_presence_grace_keeps_the_seat) {
  cluster c{node_options{{{"presence-grace", "2s"}}, {}}};
  c.start_node();
  bob_drops_off call;
  ASSERT_NO_FATAL_FAILURE(call.make(c));
  auto& alice = call.alice;
  auto& meeting = call.meeting;
  auto t0 = call.t0;
  // Bob's phone reconnects (a new MQTT session, same client id) and says it
  // is online, well within the grace.
  std::this_thread::sleep_until(t0 + 700ms);
  auto bob_again = c.device("bob-phone");
  auto online = alice->wait_event("event.participant", late);
  ASSERT_TRUE(online) << "no event.participant when Bob came back\n" << c.node_log();
  EXPECT_EQ((*online)["data"]["user"], "bob");
  EXPECT_EQ((*online)["data"]["online"], true) << online->dump();

  // Past the grace (and then some) Bob is still in.
  auto left = alice->wait_event("event.left", ms(t0 + 2s + late - steady::now()) * 1ms);
  EXPECT_FALSE(left) << "Bob was removed although he came back: " << left->dump() << "\n"
                     << c.node_log();
  auto got = alice->request("meeting.get", {{"meeting", meeting}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  auto p = participant_of(got["data"], "bob");
  EXPECT_EQ(p["state"], "joined") << got.dump();
  EXPECT_EQ(p["online"], true) << got.dump();
}

// -- 5. token expiry (appkey) ----------------------------------------------------------

TEST(timers, appkey_token_expiry_warns_and_renew_issues_a_later_token) {
  cluster c{node_options{{{"token-scheme", "appkey"}, {"token-ttl", "3s"},
                          {"token-renew-before", "1s"}},
                         {{"RTC_APP_KEY", "app-key-for-tests"}}}};
  c.start_node();
  auto phone = c.logged_in("alice-phone", "alice");
  auto laptop = c.logged_in("alice-laptop", "alice");
  auto started = start_meeting(*phone);
  std::string meeting = started["meeting"];
  auto creds = started["credentials"];
  auto expiry = creds["timestamp"].get<long long>(); // unix seconds
  EXPECT_NEAR(static_cast<double>(expiry), unix_ms() / 1000.0 + 3, 2.0);

  // The token's expiry is in [expiry, expiry + 1 s) in milliseconds; the
  // warning is due 1 s before it, on every device of the participant.
  for (auto* s : {phone.get(), laptop.get()}) {
    auto ev = s->wait_event("event.token_expiring", 3s + late + 1s);
    auto at = unix_ms();
    ASSERT_TRUE(ev) << s->client_id() << " got no event.token_expiring\n" << c.node_log();
    EXPECT_EQ((*ev)["meeting"], meeting);
    EXPECT_EQ((*ev)["data"]["expires_at"], expiry) << ev->dump();
    EXPECT_GE(at, expiry * 1000 - 1000 - early.count()) << s->client_id() << " warned early";
    EXPECT_LE(at, expiry * 1000 + late.count()) << s->client_id() << " warned late";
  }

  auto renewed = phone->request("meeting.renew", {{"meeting", meeting}});
  ASSERT_EQ(code_of(renewed), 0) << renewed.dump();
  auto fresh = renewed["data"]["credentials"];
  auto expiry2 = fresh["timestamp"].get<long long>();
  EXPECT_GT(expiry2, expiry);
  EXPECT_NE(fresh["session"], creds["session"]);
  EXPECT_NE(fresh["token"], creds["token"]);
  auto joined = c.join_channel(fresh);
  EXPECT_EQ(joined["_status"], 200) << joined.dump();

  // The fresh token is warned about in its turn.
  auto ev = phone->wait_event("event.token_expiring", 3s + late + 1s);
  auto at = unix_ms();
  ASSERT_TRUE(ev) << "no event.token_expiring for the renewed token\n" << c.node_log();
  EXPECT_EQ((*ev)["data"]["expires_at"], expiry2) << ev->dump();
  EXPECT_GE(at, expiry2 * 1000 - 1000 - early.count());
  EXPECT_LE(at, expiry2 * 1000 + late.count());
}

// -- 6. event numbers ---------------------------------------------------------------------

TEST(timers, event_seq_increases_by_one_per_device_across_meetings) {
  cluster c{node_options{{{"ring-timeout", "2s"}}, {}}};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob_phone = c.logged_in("bob-phone", "bob");
  auto bob_laptop = c.logged_in("bob-laptop", "bob");
  auto carol = c.logged_in("carol-phone", "carol");
  auto dave = c.logged_in("dave-phone", "dave");
  std::vector<std::pair<meetingd::client::session*, std::shared_ptr<recorder>>> devices;
  for (auto* s : {alice.get(), bob_phone.get(), bob_laptop.get(), carol.get(), dave.get()})
    devices.emplace_back(s, recorder::attach(*s));

  // Meeting 1: Alice calls Bob, the phone answers, then leaves.
  auto m1 = alice->request("meeting.create", {{"invitees", {"bob"}}});
  ASSERT_EQ(code_of(m1), 0) << m1.dump();
  std::string one = m1["data"]["meeting"];
  ASSERT_TRUE(bob_phone->wait_event("event.invite"));
  ASSERT_EQ(code_of(bob_phone->request("call.ringing", {{"meeting", one}})), 0);
  ASSERT_EQ(code_of(bob_phone->request("call.accept", {{"meeting", one}})), 0);
  ASSERT_TRUE(bob_laptop->wait_event("event.answered_elsewhere"));
  ASSERT_EQ(code_of(bob_phone->request("meeting.leave", {{"meeting", one}})), 0);
  ASSERT_TRUE(alice->wait_event("event.left"));

  // Meeting 2: Carol calls Bob and Dave; the laptop answers, Dave's rings
  // out (a timer-made event among the others).
  auto m2 = carol->request("meeting.create", {{"invitees", {"bob", "dave"}}});
  ASSERT_EQ(code_of(m2), 0) << m2.dump();
  std::string two = m2["data"]["meeting"];
  ASSERT_TRUE(bob_laptop->wait_event("event.invite"));
  ASSERT_EQ(code_of(bob_laptop->request("call.accept", {{"meeting", two}})), 0);
  ASSERT_TRUE(bob_phone->wait_event("event.answered_elsewhere"));
  ASSERT_TRUE(carol->wait_event("event.invite_timeout", 2s + late + 1s)) << c.node_log();
  ASSERT_TRUE(dave->wait_event("event.invite_timeout", 1s));
  // Both meetings end.
  ASSERT_EQ(code_of(alice->request("meeting.end", {{"meeting", one}})), 0);
  ASSERT_EQ(code_of(carol->request("meeting.end", {{"meeting", two}})), 0);
  ASSERT_TRUE(bob_laptop->wait_event("event.ended"));
  ASSERT_TRUE(bob_phone->wait_event("event.ended"));
  std::this_thread::sleep_for(300ms);

  for (auto& [s, rec] : devices) {
    auto events = rec->snapshot();
    ASSERT_GE(events.size(), 2u) << s->client_id();
    std::string types;
    for (auto& e : events)
      types += e["type"].get<std::string>() + "#" + e["seq"].dump() + " ";
    for (std::size_t i = 1; i < events.size(); ++i)
      EXPECT_EQ(events[i]["seq"].get<long long>(), events[i - 1]["seq"].get<long long>() + 1)
        << s->client_id() << " event " << i << ": " << types;
  }
  // Bob's devices saw both meetings in one sequence.
  for (auto* s : {bob_phone.get(), bob_laptop.get()}) {
    auto it = std::find_if(devices.begin(), devices.end(),
                           [s](auto& d) { return d.first == s; });
    std::set<std::string> meetings;
    for (auto& e : it->second->snapshot())
      meetings.insert(e["meeting"].get<std::string>());
    EXPECT_EQ(meetings, (std::set<std::string>{one, two})) << s->client_id();
  }
}

// -- 7. kill -9 -------------------------------------------------------------------------------

namespace {

/// Three meetings with a pending deadline each (ring, idle, presence grace,
/// as long as the cluster's options say), started one right after the other.
struct pending_deadlines {
  std::unique_ptr<meetingd::client::session> alice, bob, carol, dave, erin;
  std::string ring_meeting, idle_meeting, idle_channel, grace_meeting;
  steady::time_point ring_lo, ring_hi, idle_lo, idle_hi, grace_lo, grace_hi;

  void make(cluster& c) {
    alice = c.logged_in("alice-phone", "alice");
    bob = c.logged_in("bob-phone", "bob");
    carol = c.logged_in("carol-phone", "carol");
    dave = c.logged_in("dave-phone", "dave");
    erin = c.logged_in("erin-phone", "erin");
    // Set up first, then start the three deadlines in quick succession.
    grace_meeting = start_meeting(*dave, {erin.get()})["meeting"];
    ASSERT_TRUE(dave->wait_event("event.joined"));
    auto idle = start_meeting(*carol);
    idle_meeting = idle["meeting"];
    idle_channel = idle["channel"];

    grace_lo = steady::now();
    erin->drop();
    // The offline mark is committed before this event is sent.
    auto offline = dave->wait_event("event.participant", late);
    grace_hi = steady::now();
    ASSERT_TRUE(offline) << c.node_log();
    ASSERT_EQ((*offline)["data"]["online"], false);

    idle_lo = steady::now();
    ASSERT_EQ(code_of(carol->request("meeting.leave", {{"meeting", idle_meeting}})), 0);
    idle_hi = steady::now();

    ring_lo = steady::now();
    auto r = alice->request("meeting.create", {{"invitees", {"bob"}}});
    ring_hi = steady::now();
    ASSERT_EQ(code_of(r), 0) << r.dump();
    ASSERT_EQ(r["data"]["invitations"]["bob"], "ringing");
    ring_meeting = r["data"]["meeting"];
  }
};

} // namespace

TEST(timers, deadlines_are_kept_across_kill9) {
  cluster c{node_options{
    {{"ring-timeout", "4s"}, {"idle-timeout", "4s"}, {"presence-grace", "4s"}}, {}}};
  c.start_node();
  pending_deadlines p;
  ASSERT_NO_FATAL_FAILURE(p.make(c));
  c.kill_node();
  // Down for a while, back well before the deadlines: they must come at
  // their original times, not a full timeout after the restart.
  std::this_thread::sleep_until(p.grace_lo + 2s);
  auto restart = steady::now();
  c.start_node();
  auto ready = steady::now();
  std::fprintf(stderr, "restart took %lld ms\n", ms(ready - restart));

  for (auto* s : {p.alice.get(), p.bob.get()}) {
    auto ev = s->wait_event("event.invite_timeout", 4s + late);
    auto at = steady::now();
    ASSERT_TRUE(ev) << s->client_id() << " got no event.invite_timeout after the restart\n"
                    << c.node_log();
    EXPECT_EQ((*ev)["meeting"], p.ring_meeting);
    EXPECT_EQ((*ev)["data"]["user"], "bob");
    expect_window(at, p.ring_lo, p.ring_hi, 4s, s->client_id() + " event.invite_timeout");
    EXPECT_LT(ms(at - restart), 3500) << "the ring timer restarted from the restart";
  }
  auto deleted = wait_channel_deleted(c, p.idle_channel, 4s + late);
  ASSERT_TRUE(deleted) << "the idle meeting was not ended after the restart\n" << c.node_log();
  expect_window(*deleted, p.idle_lo, p.idle_hi, 4s, "idle DeleteChannel");
  EXPECT_LT(ms(*deleted - restart), 3500) << "the idle timer restarted from the restart";

  auto left = p.dave->wait_event("event.left", 4s + late);
  auto at = steady::now();
  ASSERT_TRUE(left) << "no event.left {offline} after the restart\n" << c.node_log();
  EXPECT_EQ((*left)["data"]["user"], "erin");
  EXPECT_EQ((*left)["data"]["reason"], "offline") << left->dump();
  expect_window(at, p.grace_lo, p.grace_hi, 4s, "presence grace event.left");
  EXPECT_LT(ms(at - restart), 3500) << "the presence grace restarted from the restart";

  auto console = c.console();
  expect_over(*console, p.idle_meeting);
  auto r = p.bob->request("call.accept", {{"meeting", p.ring_meeting}});
  EXPECT_TRUE(is_refusal(r, 410, "invitation_expired"));
}

TEST(timers, deadlines_passed_while_down_fire_at_once_after_restart) {
  cluster c{node_options{
    {{"ring-timeout", "4s"}, {"idle-timeout", "4s"}, {"presence-grace", "4s"}}, {}}};
  c.start_node();
  pending_deadlines p;
  ASSERT_NO_FATAL_FAILURE(p.make(c));
  c.kill_node();
  // Down past every deadline.
  std::this_thread::sleep_until(p.ring_hi + 4s + 500ms);
  EXPECT_TRUE(channel_exists(c, p.idle_channel));
  c.start_node();
  auto ready = steady::now();

  for (auto* s : {p.alice.get(), p.bob.get()}) {
    auto ev = s->wait_event("event.invite_timeout", late + 1s);
    ASSERT_TRUE(ev) << s->client_id() << " got no event.invite_timeout after the restart\n"
                    << c.node_log();
    EXPECT_EQ((*ev)["meeting"], p.ring_meeting);
    EXPECT_EQ((*ev)["data"]["user"], "bob");
    EXPECT_LE(ms(steady::now() - ready), late.count()) << s->client_id();
  }
  auto deleted = wait_channel_deleted(c, p.idle_channel, late + 1s);
  ASSERT_TRUE(deleted) << "the idle meeting was not ended after the restart\n" << c.node_log();
  EXPECT_LE(ms(*deleted - ready), late.count());

  auto left = p.dave->wait_event("event.left", late + 1s);
  ASSERT_TRUE(left) << "no event.left {offline} after the restart\n" << c.node_log();
  EXPECT_EQ((*left)["data"]["user"], "erin");
  EXPECT_EQ((*left)["data"]["reason"], "offline") << left->dump();
  EXPECT_LE(ms(steady::now() - ready), late.count());

  auto console = c.console();
  expect_over(*console, p.idle_meeting);
  auto got = console->request("admin.meeting.get", {{"meeting", p.grace_meeting}});
  EXPECT_EQ(participant_of(got["data"], "erin")["state"], "left") << got.dump();
  auto r = p.bob->request("call.accept", {{"meeting", p.ring_meeting}});
  EXPECT_TRUE(is_refusal(r, 410, "invitation_expired"));
}
