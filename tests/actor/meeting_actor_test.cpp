// The meeting actor (actors/meeting_actor.*) under CAF's test coordinator:
// message by message, in virtual time, with a fake store (commits can be
// held), a fake RTC gateway (answers scripted per action) and a probe in
// place of the directory (records `deliver` and `update`).
//
// What is checked here and not in the core's unit tests: that the shell
// performs the core's effects in the right order (commit, then the directory
// update, then the reply, then events, then RTC calls), arms its timers for the
// right virtual instant, retries DeleteChannel, terminates when done, and
// resumes a recovered meeting.
#include "fakes.hpp"

#include "actors/meeting_actor.hpp"
#include "actors/core/rtc_token.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

using namespace meetingd;
using namespace meetingd::test;
using namespace std::chrono_literals;
using proto::command_kind;
using proto::event_kind;
using json = nlohmann::json;

namespace {

const std::string alice_dev = "GID_MEETING_DOWN@@@alice-1";
const std::string bob_dev = "GID_MEETING_DOWN@@@bob-1";
const std::string carol_dev = "GID_MEETING_DOWN@@@carol-1";

std::string device_of(const std::string& user) {
  return "GID_MEETING_DOWN@@@" + user + "-1";
}

proto::command command(command_kind kind, const std::string& meeting = "m-1") {
  proto::command c;
  c.kind = kind;
  c.meeting = meeting;
  return c;
}

proto::command create_command(const std::string& id,
                              std::vector<std::string> invitees = {}) {
  auto c = command(command_kind::meeting_create, id);
  c.requested_id = id;
  c.title = "standup";
  c.users = std::move(invitees);
  return c;
}

user_fact online_user(const std::string& user) {
  return user_fact{user, true, false, true};
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

class meeting_actor_test : public node_fixture {
protected:
  meeting_actor_test() {
    env->meeting.scheme = token_scheme::channel;
    directory = track(sys.spawn(probe_directory, dir_log));
  }

  void TearDown() override {
    EXPECT_EQ(dir_log->unrouted_ticks, 0) << "a tick came for a meeting the test did not register";
  }

  meeting_actor spawn_meeting(std::optional<meeting> recovered = std::nullopt) {
    std::string id = recovered ? recovered->id : std::string{};
    auto m = sys.spawn(meeting_actor_impl, node_env_ptr{env},
                       meeting_links{store, rtc, directory, nullptr}, std::move(recovered));
    watch(m);
    if (!id.empty())
      dir_log->actors[id] = m; // its ticks come through the directory
    return track(m);
  }

  /// Sends a command from `user` (on the user's device) to meeting `m`.
  void send(const meeting_actor& m, const std::string& user, const std::string& rid,
            proto::command cmd, std::vector<user_fact> facts = {}) {
    if (cmd.kind == command_kind::meeting_create && cmd.requested_id)
      dir_log->actors.emplace(*cmd.requested_id, m); // its ticks come through the directory
    meeting_request req{caller{user, device_of(user), false}, rid, std::move(cmd),
                        std::move(facts)};
    self->send(m, handle_atom::value, std::move(req));
  }

  /// Sends a command, runs the actors, and returns the reply, which must be
  /// durable: in the store's request log exactly as sent (docs/protocol.md §4-5)
  /// unless it is a "try again" code.
  final_reply call(const meeting_actor& m, const std::string& user,
                   const std::string& rid, proto::command cmd,
                   std::vector<user_fact> facts = {}) {
    send(m, user, rid, std::move(cmd), std::move(facts));
    run();
    auto r = expect_reply();
    expect_logged(r, device_of(user), rid);
    return r;
  }

  /// Creates meeting `id` hosted by alice, inviting `invitees` (all online).
  meeting_actor create(const std::string& id = "m-1",
                       std::vector<std::string> invitees = {}) {
    auto m = spawn_meeting();
    std::vector<user_fact> facts;
    for (auto& u : invitees)
      facts.push_back(online_user(u));
    auto r = call(m, "alice", "r-create", create_command(id, invitees), facts);
    EXPECT_EQ(r.code, 0) << r.wire;
    return m;
  }

  /// An event-based actor that sends `cmd` from alice to `m` as a request
  /// and keeps the reply: unlike the scoped actor, it is scheduled when its
  /// reply arrives, so the test can see what was enqueued first.
  struct requester {
    caf::actor actor;
    std::shared_ptr<std::vector<final_reply>> replies;
  };
  requester request_from_an_actor(const meeting_actor& m, const std::string& rid,
                                  proto::command cmd) {
    auto replies = std::make_shared<std::vector<final_reply>>();
    meeting_request req{caller{"alice", alice_dev, false}, rid, std::move(cmd), {}};
    // Arguments, not captures: CAF 0.17 dereferences a null argument pack
    // when a function actor takes none (UBSan reports it).
    auto a = sys.spawn(
      [](caf::event_based_actor* asker, meeting_actor to, meeting_request r,
         std::shared_ptr<std::vector<final_reply>> out) {
        asker->request(to, caf::infinite, handle_atom::value, std::move(r))
          .then([out](final_reply& reply) { out->push_back(std::move(reply)); });
      },
      m, std::move(req), replies);
    // It is scheduled to start; it starts now, so that having mail waiting
    // means its reply.
    sched.prioritize(a);
    sched.run_once();
    return {track(a), replies};
  }

  /// Runs one job at a time until `who` has mail waiting.
  template <class Handle>
  bool run_until_scheduled(const Handle& who) {
    while (job_position(who) == sched.jobs.size())
      if (!sched.try_run_once())
        return false;
    return true;
  }

  /// Whether both have mail and `first`'s was enqueued first: the test
  /// coordinator schedules an idle actor when its first message arrives.
  template <class A, class B>
  bool scheduled_before(const A& first, const B& second) {
    return job_position(first) < job_position(second);
  }

  template <class Handle>
  std::size_t job_position(const Handle& who) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(who);
    auto& jobs = sched.jobs;
    auto i = std::find_if(jobs.begin(), jobs.end(), [ptr](caf::resumable* job) {
      return dynamic_cast<caf::abstract_actor*>(job) == ptr;
    });
    return static_cast<std::size_t>(i - jobs.begin());
  }

  /// Has `user` join (reply 0).
  void join(const meeting_actor& m, const std::string& user, const std::string& rid) {
    auto r = call(m, user, rid, command(command_kind::meeting_join));
    EXPECT_EQ(r.code, 0) << r.wire;
  }

  /// Meeting m-1 of alice's, where bob's invitation has rung all but the
  /// last millisecond of the ring timeout; the events so far are cleared.
  meeting_actor ringing_bob_a_millisecond_before_the_deadline() {
    auto m = create("m-1", {"bob"});
    dir_log->clear();
    advance(env->meeting.ring_timeout - 1ms);
    return m;
  }

  /// Bob's accept "r-accept" got `r`, having lost to the ring deadline: it is
  /// refused (durably), nobody is told of an accept and the invitation timed out.
  void expect_accept_lost_to_the_ring_deadline(const final_reply& r) {
    expect_logged(r, bob_dev, "r-accept");
    EXPECT_EQ(r.code, 410) << r.wire;
    EXPECT_EQ(r.reason, "invitation_expired");
    EXPECT_TRUE(dir_log->of(event_kind::accepted).empty());
    EXPECT_FALSE(stored()->participants.count("bob"));
    EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::timed_out);
  }

  /// The meeting as stored.
  std::optional<meeting> stored(const std::string& id = "m-1") {
    for (auto& m : store_ctl->load().live_meetings)
      if (m.id == id)
        return m;
    return std::nullopt;
  }
  std::optional<meeting_record> stored_record(const std::string& id = "m-1") {
    if (auto m = stored(id))
      return static_cast<meeting_record>(*m);
    for (auto& r : store_ctl->load().ended_meetings)
      if (r.id == id)
        return r;
    return std::nullopt;
  }

  directory_log_ptr dir_log = std::make_shared<directory_log>();
  directory_actor directory;
};

// -- create ---------------------------------------------------------------------------

TEST_F(meeting_actor_test, create_replies_only_after_commit_then_notifies_directory) {
  store_ctl->hold = true;
  auto m = spawn_meeting();
  auto t0 = now();
  send(m, "alice", "r-1", create_command("m-1", {"bob"}), {online_user("bob")});
  run();
  // CreateChannel was called for the meeting's channel...
  ASSERT_EQ(rtc_ctl->count("create"), 1u);
  EXPECT_EQ(rtc_ctl->calls[0].channel, "m-1");
  // ... but nothing is released while the commit is held.
  EXPECT_FALSE(poll_reply());
  EXPECT_TRUE(dir_log->events.empty());
  EXPECT_TRUE(dir_log->updates.empty());
  EXPECT_TRUE(store_ctl->load().live_meetings.empty());
  EXPECT_EQ(store_ctl->waiting.size(), 1u);
  // The commit happens: reply, events and update follow.
  store_ctl->hold = false;
  self->send(store, flush_atom::value);
  run();
  auto r = expect_reply();
  ASSERT_EQ(r.code, 0) << r.wire;
  expect_logged(r, alice_dev, "r-1");
  EXPECT_EQ(r.meeting, "m-1");
  EXPECT_EQ(r.user, "alice");
  auto j = json::parse(r.wire);
  EXPECT_EQ(j["id"], "r-1");
  EXPECT_EQ(j["type"], "reply");
  EXPECT_EQ(j["code"], 0);
  auto& d = j["data"];
  EXPECT_EQ(d["meeting"], "m-1");
  EXPECT_EQ(d["channel"], "m-1");
  EXPECT_EQ(d["expires_at"].get<std::int64_t>(), (t0 + 48 * 3600 * 1000) / 1000);
  auto& c = d["credentials"];
  auto grant = default_grant("m-1");
  EXPECT_EQ(c["appid"], "g10dhbxp");
  EXPECT_EQ(c["userid"], rtc::rtc_user_id("alice"));
  EXPECT_EQ(c["nonce"], grant.nonce);
  EXPECT_EQ(c["timestamp"].get<std::int64_t>(), grant.timestamp);
  EXPECT_EQ(c["token"].get<std::string>(),
            rtc::channel_token("m-1", grant.channel_key, "g10dhbxp", rtc::rtc_user_id("alice"),
                               c["session"].get<std::string>(), grant.nonce,
                               grant.timestamp));
  EXPECT_EQ(r.wire.find(grant.channel_key), std::string::npos)
    << "the channel key left the node";
  EXPECT_EQ(d["invitations"], json({{"bob", "ringing"}})) << r.wire;
  // The directory heard of the invitation and of alice's membership.
  auto invites = dir_log->of(event_kind::invite);
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].users, std::vector<std::string>{"bob"});
  EXPECT_TRUE(invites[0].online_only);
  EXPECT_EQ(invites[0].ev.from, "alice");
  EXPECT_EQ(invites[0].ev.meeting, "m-1");
  EXPECT_EQ(invites[0].ev.ring_expires_at, (t0 + 45'000) / 1000);
  ASSERT_TRUE(invites[0].ev.creds);
  ASSERT_EQ(dir_log->updates.size(), 1u);
  auto& u = dir_log->updates[0];
  EXPECT_EQ(u.summary.meeting, "m-1");
  EXPECT_EQ(u.summary.host, "alice");
  EXPECT_EQ(u.summary.participants, 1);
  EXPECT_EQ(u.ringing, 1);
  ASSERT_EQ(u.memberships.size(), 1u);
  EXPECT_EQ(u.memberships[0].user, "alice");
  EXPECT_TRUE(u.memberships[0].joined);
  // The rows are stored with the reply.
  auto m1 = stored();
  ASSERT_TRUE(m1);
  EXPECT_EQ(m1->status, meeting_status::active);
  EXPECT_EQ(m1->channel.key, grant.channel_key);
  ASSERT_TRUE(m1->participants.count("alice"));
  EXPECT_EQ(m1->participants.at("alice").r, role::host);
  ASSERT_TRUE(m1->invitations.count("bob"));
  EXPECT_EQ(m1->invitations.at("bob").status, invitation_status::ringing);
  EXPECT_FALSE(poll_down(m.address()));
}

// The directory must hear of a change before the caller can act on its reply:
// the caller's next command reaches the directory through the gateway, on
// another thread, and must not find the meeting still "being created" (404),
// the user not yet in it, or a refused meeting's id still taken (409).
TEST_F(meeting_actor_test, the_directory_hears_of_a_change_before_the_reply_leaves) {
  auto m = spawn_meeting();
  auto caller = request_from_an_actor(m, "r-1", create_command("m-1"));
  store_ctl->hold = true;
  run();
  ASSERT_EQ(store_ctl->waiting.size(), 1u);
  ASSERT_TRUE(dir_log->updates.empty());
  store_ctl->hold = false;
  self->send(store, flush_atom::value);
  ASSERT_TRUE(run_until_scheduled(caller.actor)) << "the reply did not leave";
  EXPECT_TRUE(scheduled_before(directory, caller.actor))
    << "the reply left before the directory's update";
  run();
  ASSERT_EQ(caller.replies->size(), 1u);
  EXPECT_EQ(caller.replies->front().code, 0) << caller.replies->front().wire;
  ASSERT_EQ(dir_log->updates.size(), 1u);
  EXPECT_EQ(dir_log->updates[0].summary.meeting, "m-1");
}

// A read is not stored and does not wait for the database, except for the
// commits its own meeting asked for before it: what it shows is committed,
// and another meeting's held commit does not hold it (docs/protocol.md §4).
TEST_F(meeting_actor_test, a_read_waits_only_for_its_own_meetings_commits_and_is_not_stored) {
  auto m1 = create("m-1");
  auto m2 = create("m-2");
  store_ctl->hold = true;
  send(m1, "alice", "r-lock", command(command_kind::moderate_lock, "m-1"));
  run();
  ASSERT_EQ(store_ctl->waiting.size(), 1u);
  send(m2, "alice", "r-get-2", command(command_kind::meeting_get, "m-2"));
  run();
  auto other = expect_reply();
  EXPECT_EQ(other.code, 0) << other.wire;
  EXPECT_FALSE(other.replayable);
  send(m1, "alice", "r-get-1", command(command_kind::meeting_get, "m-1"));
  run();
  EXPECT_FALSE(poll_reply()) << "a read showed the lock before it was committed";
  store_ctl->hold = false;
  self->send(store, flush_atom::value);
  run();
  auto lock = expect_reply();
  EXPECT_EQ(lock.code, 0) << lock.wire;
  auto get = expect_reply();
  ASSERT_EQ(get.code, 0) << get.wire;
  EXPECT_TRUE(json::parse(get.wire)["data"]["locked"].get<bool>()) << get.wire;
  expect_logged(lock, alice_dev, "r-lock");
  expect_logged(get, alice_dev, "r-get-1");
  expect_logged(other, alice_dev, "r-get-2");
}

TEST_F(meeting_actor_test, a_refused_creation_frees_the_id_before_the_reply_leaves) {
  rtc_ctl->script("create", rtc_script::down());
  auto bad = create_command("m-2");
  bad.max_participants = 1;
  struct attempt {
    std::string meeting;
    proto::command cmd;
    int code;
  };
  for (auto& a : {attempt{"m-1", create_command("m-1"), 503}, attempt{"m-2", bad, 400}}) {
    auto m = spawn_meeting();
    auto caller = request_from_an_actor(m, "r-" + a.meeting, a.cmd);
    ASSERT_TRUE(run_until_scheduled(caller.actor)) << a.meeting << ": no reply";
    EXPECT_TRUE(scheduled_before(directory, caller.actor))
      << a.meeting << ": the refusal left before the directory heard of it";
    run();
    ASSERT_EQ(caller.replies->size(), 1u);
    EXPECT_EQ(caller.replies->front().code, a.code) << caller.replies->front().wire;
    ASSERT_FALSE(dir_log->finished.empty()) << a.meeting << ": the directory was not told";
    EXPECT_EQ(dir_log->finished.back(), a.meeting);
    EXPECT_TRUE(poll_down(m.address())) << a.meeting << ": the actor did not stop";
  }
}

TEST_F(meeting_actor_test, create_refused_by_rtc_replies_502_stores_nothing_and_stops) {
  rtc_ctl->script("create", rtc_script::refuse("Forbidden.AppId", "app disabled"));
  auto m = spawn_meeting();
  send(m, "alice", "r-1", create_command("m-1"));
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.reason, "rtc_error:Forbidden.AppId");
  auto j = json::parse(r.wire);
  EXPECT_EQ(j["error"]["reason"], "rtc_error:Forbidden.AppId");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("app disabled"),
            std::string::npos);
  EXPECT_TRUE(poll_down(m.address()));
  auto snap = store_ctl->load();
  EXPECT_TRUE(snap.live_meetings.empty());
  EXPECT_TRUE(snap.ended_meetings.empty());
  // docs/protocol.md §4-5: a reply marked replayable (the LMQ gateway replays it
  // to a duplicate) must be durable, so that the replay holds across a
  // restart; one that is not stored must not be replayable.
  expect_logged(r, alice_dev, "r-1");
  EXPECT_TRUE(dir_log->events.empty());
  EXPECT_TRUE(dir_log->updates.empty());
}

TEST_F(meeting_actor_test, create_with_rtc_unavailable_replies_503_stores_nothing_and_stops) {
  rtc_ctl->script("create", rtc_script::down());
  auto m = spawn_meeting();
  send(m, "alice", "r-1", create_command("m-1"));
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 503);
  EXPECT_EQ(r.reason, "rtc_unavailable");
  EXPECT_FALSE(r.replayable);
  EXPECT_TRUE(poll_down(m.address()));
  auto snap = store_ctl->load();
  EXPECT_TRUE(snap.live_meetings.empty());
  EXPECT_TRUE(snap.requests.empty());
  EXPECT_TRUE(dir_log->updates.empty());
}

TEST_F(meeting_actor_test, create_with_bad_max_participants_replies_400_and_stops) {
  auto m = spawn_meeting();
  auto cmd = create_command("m-1");
  cmd.max_participants = 1;
  send(m, "alice", "r-1", cmd);
  run();
  auto r = poll_reply();
  EXPECT_TRUE(r) << "meeting.create refused by check_create got no reply";
  if (r) {
    EXPECT_EQ(r->code, 400);
    EXPECT_EQ(r->reason, "bad_value:args.max_participants");
    expect_logged(*r, alice_dev, "r-1");
  }
  EXPECT_EQ(rtc_ctl->count("create"), 0u);
  EXPECT_TRUE(poll_down(m.address()));
  EXPECT_TRUE(store_ctl->load().live_meetings.empty());
}

TEST_F(meeting_actor_test, first_message_other_than_create_is_404) {
  auto m = spawn_meeting();
  send(m, "alice", "r-1", command(command_kind::meeting_join));
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.reason, "meeting_not_found");
  EXPECT_EQ(rtc_ctl->count("create"), 0u);
}

TEST_F(meeting_actor_test, appkey_scheme_makes_no_rtc_call_and_signs_with_the_app_key) {
  env->meeting.scheme = token_scheme::appkey;
  env->meeting.app_key = "abckey";
  auto m = spawn_meeting();
  auto t0 = now();
  send(m, "alice", "r-1", create_command("m-1"));
  run();
  auto r = expect_reply();
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_TRUE(rtc_ctl->calls.empty());
  auto c = json::parse(r.wire)["data"]["credentials"];
  auto expiry = (t0 + 24 * 3600 * 1000) / 1000;
  EXPECT_EQ(c["timestamp"].get<std::int64_t>(), expiry);
  EXPECT_EQ(c["token"].get<std::string>(),
            rtc::appkey_token("g10dhbxp", "abckey", "m-1", rtc::rtc_user_id("alice"), "",
                              expiry));
  EXPECT_EQ(r.wire.find("abckey"), std::string::npos) << "the app key left the node";
}

// -- timers in virtual time --------------------------------------------------------

TEST_F(meeting_actor_test, ring_timeout_fires_after_exactly_ring_timeout) {
  auto m = create("m-1", {"bob"});
  dir_log->clear();
  advance(env->meeting.ring_timeout - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::invite_timeout).empty());
  EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::ringing);
  advance(1ms);
  auto timeouts = dir_log->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_EQ(sorted(timeouts[0].users), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(timeouts[0].ev.user, "bob");
  EXPECT_EQ(timeouts[0].ev.meeting, "m-1");
  EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::timed_out);
  ASSERT_FALSE(dir_log->updates.empty());
  EXPECT_EQ(dir_log->updates.back().ringing, 0);
  // Late answers are refused, and the refusal is durable too.
  auto r = call(m, "bob", "r-late", command(command_kind::call_accept));
  EXPECT_EQ(r.code, 410);
  EXPECT_EQ(r.reason, "invitation_expired");
}

TEST_F(meeting_actor_test, token_warning_then_channel_expiry_after_48h) {
  auto m = create();
  auto t0 = now();
  dir_log->clear();
  auto warn = env->meeting.channel_ttl - env->meeting.token_renew_before;
  advance(warn - 1ms);
  EXPECT_TRUE(dir_log->events.empty());
  advance(1ms);
  auto warnings = dir_log->of(event_kind::token_expiring);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].users, std::vector<std::string>{"alice"});
  EXPECT_EQ(warnings[0].ev.expires_at, (t0 + 48 * 3600 * 1000) / 1000);
  advance(env->meeting.token_renew_before - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::ended).empty());
  EXPECT_EQ(rtc_ctl->count("delete"), 0u);
  advance(1ms);
  auto ended = dir_log->of(event_kind::ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].ev.reason, "expired");
  EXPECT_EQ(ended[0].users, std::vector<std::string>{"alice"});
  ASSERT_EQ(rtc_ctl->count("delete"), 1u);
  EXPECT_EQ(rtc_ctl->calls_of("delete")[0].channel, "m-1");
  auto rec = stored_record();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, meeting_status::ended);
  EXPECT_EQ(rec->end_reason, "expired");
  EXPECT_EQ(rec->ended_at, t0 + 48 * 3600 * 1000);
  EXPECT_TRUE(rec->channel_deleted);
  ASSERT_FALSE(dir_log->updates.empty());
  EXPECT_EQ(dir_log->updates.back().summary.status, meeting_status::ended);
  EXPECT_TRUE(poll_down(m.address()));
}

TEST_F(meeting_actor_test, channel_expiry_with_one_48h_advance) {
  auto m = create();
  advance(48h);
  run();
  auto ended = dir_log->of(event_kind::ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].ev.reason, "expired");
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  EXPECT_EQ(stored_record()->end_reason, "expired");
  EXPECT_TRUE(poll_down(m.address()));
}

TEST_F(meeting_actor_test, idle_meeting_ends_after_idle_timeout) {
  auto m = create();
  auto r = call(m, "alice", "r-leave", command(command_kind::meeting_leave));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto left_at = now();
  EXPECT_EQ(stored()->idle_deadline, left_at + 10 * 60 * 1000);
  advance(env->meeting.idle_timeout - 1ms);
  EXPECT_EQ(stored()->status, meeting_status::active);
  EXPECT_EQ(rtc_ctl->count("delete"), 0u);
  advance(1ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  auto rec = stored_record();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, meeting_status::ended);
  EXPECT_EQ(rec->end_reason, "idle");
  EXPECT_TRUE(rec->channel_deleted);
  EXPECT_TRUE(poll_down(m.address()));
}

TEST_F(meeting_actor_test, joining_before_idle_timeout_cancels_it) {
  auto m = create();
  ASSERT_EQ(call(m, "alice", "r-leave", command(command_kind::meeting_leave)).code, 0);
  advance(env->meeting.idle_timeout - 1ms);
  join(m, "bob", "r-join");
  advance(1h);
  EXPECT_EQ(stored()->status, meeting_status::active);
  EXPECT_EQ(stored()->idle_deadline, 0);
  EXPECT_EQ(rtc_ctl->count("delete"), 0u);
  EXPECT_FALSE(poll_down(m.address()));
}

TEST_F(meeting_actor_test, offline_participant_is_removed_after_presence_grace) {
  auto m = create();
  join(m, "bob", "r-join");
  dir_log->clear();
  self->send(m, presence_atom::value, std::string{"bob"}, false);
  run();
  auto changed = dir_log->of(event_kind::participant);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].users, std::vector<std::string>{"alice"});
  ASSERT_TRUE(changed[0].ev.participant);
  EXPECT_FALSE(changed[0].ev.participant->online);
  EXPECT_FALSE(stored()->participants.at("bob").online);
  advance(env->meeting.presence_grace - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::left).empty());
  advance(1ms);
  auto left = dir_log->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].users, std::vector<std::string>{"alice"});
  EXPECT_EQ(left[0].ev.user, "bob");
  EXPECT_EQ(left[0].ev.reason, "offline");
  auto bob = stored()->participants.at("bob");
  EXPECT_EQ(bob.status, participant_status::left);
  EXPECT_EQ(bob.left_reason, "offline");
  ASSERT_FALSE(dir_log->updates.empty());
  auto& u = dir_log->updates.back();
  ASSERT_EQ(u.memberships.size(), 1u);
  EXPECT_EQ(u.memberships[0].user, "bob");
  EXPECT_FALSE(u.memberships[0].joined);
}

TEST_F(meeting_actor_test, coming_back_within_presence_grace_keeps_the_seat) {
  auto m = create();
  join(m, "bob", "r-join");
  dir_log->clear();
  self->send(m, presence_atom::value, std::string{"bob"}, false);
  run();
  advance(env->meeting.presence_grace - 1ms);
  self->send(m, presence_atom::value, std::string{"bob"}, true);
  run();
  advance(env->meeting.presence_grace * 2);
  EXPECT_TRUE(dir_log->of(event_kind::left).empty());
  auto bob = stored()->participants.at("bob");
  EXPECT_EQ(bob.status, participant_status::joined);
  EXPECT_TRUE(bob.online);
  EXPECT_EQ(bob.grace_deadline, 0);
}

TEST_F(meeting_actor_test, appkey_token_warning_before_token_expiry) {
  env->meeting.scheme = token_scheme::appkey;
  env->meeting.app_key = "abckey";
  auto m = create();
  auto t0 = now();
  dir_log->clear();
  auto warn = env->meeting.token_ttl - env->meeting.token_renew_before;
  advance(warn - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::token_expiring).empty());
  advance(1ms);
  auto warnings = dir_log->of(event_kind::token_expiring);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].users, std::vector<std::string>{"alice"});
  EXPECT_EQ(warnings[0].ev.expires_at, (t0 + 24 * 3600 * 1000) / 1000);
  EXPECT_EQ(stored()->participants.at("alice").token_warn_at, 0);
  // meeting.renew answers a fresh token and re-arms the warning.
  auto r = call(m, "alice", "r-renew", command(command_kind::meeting_renew));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto t1 = now();
  auto c = json::parse(r.wire)["data"]["credentials"];
  EXPECT_EQ(c["timestamp"].get<std::int64_t>(), (t1 + 24 * 3600 * 1000) / 1000);
  dir_log->clear();
  advance(warn - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::token_expiring).empty());
  advance(1ms);
  EXPECT_EQ(dir_log->of(event_kind::token_expiring).size(), 1u);
}

// At the very instant of the ring deadline the timer wins, whichever message
// is processed first (the core fires due timers before deciding a command):
// the accept is refused and the invite_timeout goes out exactly once.
TEST_F(meeting_actor_test, accept_at_ring_deadline_timer_message_first) {
  auto m = ringing_bob_a_millisecond_before_the_deadline();
  sched.advance_time(1ms); // the tick is queued now...
  send(m, "bob", "r-accept", command(command_kind::call_accept)); // ... before this
  run();
  expect_accept_lost_to_the_ring_deadline(expect_reply());
  EXPECT_EQ(dir_log->of(event_kind::invite_timeout).size(), 1u);
}

TEST_F(meeting_actor_test, accept_at_ring_deadline_command_first) {
  auto m = ringing_bob_a_millisecond_before_the_deadline();
  send(m, "bob", "r-accept", command(command_kind::call_accept)); // queued first
  sched.advance_time(1ms); // the tick is queued behind it; both run at the deadline
  run();
  expect_accept_lost_to_the_ring_deadline(expect_reply());
  auto timeouts = dir_log->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_EQ(sorted(timeouts[0].users), (std::vector<std::string>{"alice", "bob"}));
  advance(1h);
  EXPECT_EQ(dir_log->of(event_kind::invite_timeout).size(), 1u);
}

// A kick waits for RemoveTerminals before it changes anything; a deadline
// that passed before it came (its tick still queued) fires first, in memory,
// and what it did is committed at once, not left to the kick.
TEST_F(meeting_actor_test, a_kick_at_the_ring_deadline_commits_the_timeout_first) {
  auto m = create("m-1", {"bob"});
  join(m, "carol", "r-join");
  dir_log->clear();
  advance(env->meeting.ring_timeout - 1ms);
  auto kick = command(command_kind::moderate_kick);
  kick.user = "carol";
  send(m, "alice", "r-kick", kick); // queued first
  sched.advance_time(1ms);          // the tick is queued behind it
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 0) << r.wire;
  EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::timed_out);
  EXPECT_EQ(stored()->participants.at("carol").status, participant_status::kicked);
  EXPECT_EQ(dir_log->of(event_kind::invite_timeout).size(), 1u);
  advance(1h);
  EXPECT_EQ(dir_log->of(event_kind::invite_timeout).size(), 1u);
}

TEST_F(meeting_actor_test, accept_a_millisecond_before_the_ring_deadline_wins) {
  auto m = ringing_bob_a_millisecond_before_the_deadline();
  auto r = call(m, "bob", "r-accept", command(command_kind::call_accept));
  EXPECT_EQ(r.code, 0) << r.wire;
  auto accepted = dir_log->of(event_kind::accepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].users, std::vector<std::string>{"alice"});
  EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::accepted);
  EXPECT_EQ(stored()->participants.at("bob").status, participant_status::joined);
  advance(1h);
  EXPECT_TRUE(dir_log->of(event_kind::invite_timeout).empty());
}

// A command processed after a deadline passed sees the deadline's effects
// even before the timer message arrives (the node was busy): a join after
// the channel's expiry is refused 410 meeting_expired, and the meeting ends.
TEST_F(meeting_actor_test, command_after_expiry_before_the_tick_sees_the_meeting_expired) {
  auto m = create();
  advance(env->meeting.channel_ttl - env->meeting.token_renew_before); // the warning
  dir_log->clear();
  advance(env->meeting.token_renew_before - 1ms);
  send(m, "bob", "r-join", command(command_kind::meeting_join));
  sched.advance_time(1ms);
  run();
  auto r = expect_reply();
  expect_logged(r, bob_dev, "r-join");
  EXPECT_EQ(r.code, 410) << r.wire;
  EXPECT_EQ(r.reason, "meeting_expired");
  EXPECT_EQ(dir_log->of(event_kind::ended).size(), 1u);
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  EXPECT_EQ(stored_record()->end_reason, "expired");
  EXPECT_TRUE(poll_down(m.address()));
}

// -- DeleteChannel ------------------------------------------------------------------

TEST_F(meeting_actor_test, delete_channel_is_retried_with_backoff_until_it_succeeds) {
  rtc_ctl->script("delete", rtc_script::down());
  rtc_ctl->script("delete", rtc_script::down("Throttling.User"));
  rtc_ctl->script("delete", rtc_script::refuse("InternalError"));
  auto m = create();
  auto r = call(m, "alice", "r-end", command(command_kind::meeting_end));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto ended = dir_log->of(event_kind::ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].ev.reason, "ended");
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  EXPECT_FALSE(stored_record()->channel_deleted);
  // 1 s, 2 s, 4 s between attempts.
  advance(999ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  advance(1ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 2u);
  // Meanwhile the meeting still answers, as ended.
  auto late = call(m, "bob", "r-join", command(command_kind::meeting_join));
  EXPECT_EQ(late.code, 410);
  EXPECT_EQ(late.reason, "meeting_ended");
  advance(1999ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 2u);
  advance(1ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 3u);
  EXPECT_FALSE(stored_record()->channel_deleted);
  EXPECT_FALSE(poll_down(m.address()));
  advance(3999ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 3u);
  advance(1ms);
  EXPECT_EQ(rtc_ctl->count("delete"), 4u);
  auto rec = stored_record();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->channel_deleted);
  EXPECT_EQ(rec->status, meeting_status::ended);
  EXPECT_TRUE(poll_down(m.address()));
  for (auto& c : rtc_ctl->calls_of("delete"))
    EXPECT_EQ(c.channel, "m-1");
}

TEST_F(meeting_actor_test, delete_channel_not_found_counts_as_deleted) {
  rtc_ctl->script("delete", rtc_script::refuse("ChannelNotFound"));
  auto m = create();
  ASSERT_EQ(call(m, "alice", "r-end", command(command_kind::meeting_end)).code, 0);
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  EXPECT_TRUE(stored_record()->channel_deleted);
  EXPECT_TRUE(poll_down(m.address()));
}

// A finished meeting does not quit on its own: a request the directory
// routed to it just before could be in its mailbox, and would bounce as an
// error instead of a reply. It waits for the directory's `retire`.
TEST_F(meeting_actor_test, a_finished_meeting_answers_what_was_routed_before_retire) {
  dir_log->hold_retire = true;
  auto m = create();
  ASSERT_EQ(call(m, "alice", "r-end", command(command_kind::meeting_end)).code, 0);
  ASSERT_EQ(dir_log->finished, std::vector<std::string>{"m-1"});
  EXPECT_FALSE(poll_down(m.address()));
  send(m, "bob", "r-late", command(command_kind::meeting_join));
  self->send(m, retire_atom::value);
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 410) << r.wire;
  expect_logged(r, bob_dev, "r-late");
  EXPECT_TRUE(poll_down(m.address()));
  EXPECT_EQ(dir_log->finished.size(), 1u);
}

// -- kick -------------------------------------------------------------------------------

TEST_F(meeting_actor_test, kick_refused_by_rtc_replies_502_and_changes_nothing) {
  auto m = create();
  join(m, "bob", "r-join");
  dir_log->clear();
  auto before = store_ctl->committed.size();
  rtc_ctl->script("remove", rtc_script::refuse("Forbidden.Terminal"));
  auto kick = command(command_kind::moderate_kick);
  kick.user = "bob";
  auto r = call(m, "alice", "r-kick", kick);
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.reason, "rtc_error:Forbidden.Terminal");
  auto calls = rtc_ctl->calls_of("remove");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].channel, "m-1");
  EXPECT_EQ(calls[0].terminals, std::vector<std::string>{rtc::rtc_user_id("bob")});
  EXPECT_EQ(stored()->participants.at("bob").status, participant_status::joined);
  EXPECT_TRUE(dir_log->events.empty());
  EXPECT_TRUE(dir_log->updates.empty());
  // Nothing was written: a refusal by the RTC service changed nothing and is
  // not replayed (a retry with the same id runs again).
  EXPECT_EQ(store_ctl->committed.size(), before);
  EXPECT_FALSE(r.replayable);
}

TEST_F(meeting_actor_test, kick_with_rtc_unavailable_replies_503_unrecorded) {
  auto m = create();
  join(m, "bob", "r-join");
  rtc_ctl->script("remove", rtc_script::down());
  auto kick = command(command_kind::moderate_kick);
  kick.user = "bob";
  auto r = call(m, "alice", "r-kick", kick);
  EXPECT_EQ(r.code, 503);
  EXPECT_EQ(r.reason, "rtc_unavailable");
  EXPECT_EQ(stored()->participants.at("bob").status, participant_status::joined);
}

TEST_F(meeting_actor_test, kick_removes_the_terminal_then_the_participant) {
  auto m = create();
  join(m, "bob", "r-join");
  join(m, "carol", "r-join");
  dir_log->clear();
  auto kick = command(command_kind::moderate_kick);
  kick.user = "bob";
  auto r = call(m, "alice", "r-kick", kick);
  ASSERT_EQ(r.code, 0) << r.wire;
  auto calls = rtc_ctl->calls_of("remove");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].terminals, std::vector<std::string>{rtc::rtc_user_id("bob")});
  auto kicked = dir_log->of(event_kind::kicked);
  ASSERT_EQ(kicked.size(), 1u);
  EXPECT_EQ(kicked[0].users, std::vector<std::string>{"bob"});
  EXPECT_EQ(kicked[0].ev.by, "alice");
  auto left = dir_log->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(sorted(left[0].users), (std::vector<std::string>{"alice", "carol"}));
  EXPECT_EQ(left[0].ev.user, "bob");
  EXPECT_EQ(left[0].ev.reason, "kicked");
  auto bob = stored()->participants.at("bob");
  EXPECT_EQ(bob.status, participant_status::kicked);
  EXPECT_EQ(bob.kicked_by, "alice");
  ASSERT_FALSE(dir_log->updates.empty());
  auto& u = dir_log->updates.back();
  ASSERT_EQ(u.memberships.size(), 1u);
  EXPECT_EQ(u.memberships[0].user, "bob");
  EXPECT_FALSE(u.memberships[0].joined);
  // A kicked user cannot come back.
  auto again = call(m, "bob", "r-join-2", command(command_kind::meeting_join));
  EXPECT_EQ(again.code, 403);
  EXPECT_EQ(again.reason, "kicked");
}

// -- recovery ------------------------------------------------------------------------------

class meeting_recovery_test : public meeting_actor_test {
protected:
  /// Creates m-1 with bob ringing, then kills the actor as a crash would and
  /// returns what the store holds of the meeting.
  meeting crash_with_ringing_invitation() {
    auto m = create("m-1", {"bob"});
    self->send_exit(m, caf::exit_reason::kill);
    run();
    EXPECT_TRUE(poll_down(m.address()));
    auto snap = store_ctl->load();
    EXPECT_EQ(snap.live_meetings.size(), 1u);
    dir_log->clear();
    return snap.live_meetings.at(0);
  }
};

TEST_F(meeting_recovery_test, deadline_in_the_past_fires_at_once) {
  auto recovered = crash_with_ringing_invitation();
  sched.advance_time(2min); // the node was down for two minutes
  run();
  auto m = spawn_meeting(recovered);
  run();
  auto timeouts = dir_log->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_EQ(sorted(timeouts[0].users), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(stored()->invitations.at("bob").status, invitation_status::timed_out);
  EXPECT_EQ(stored()->invitations.at("bob").answered_at, now());
}

TEST_F(meeting_recovery_test, deadline_in_the_future_fires_when_due) {
  auto recovered = crash_with_ringing_invitation();
  sched.advance_time(10s);
  run();
  auto m = spawn_meeting(recovered);
  run();
  EXPECT_TRUE(dir_log->events.empty());
  advance(35s - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::invite_timeout).empty());
  advance(1ms);
  EXPECT_EQ(dir_log->of(event_kind::invite_timeout).size(), 1u);
  // And the meeting goes on answering commands.
  auto r = call(m, "alice", "r-get", command(command_kind::meeting_get));
  EXPECT_EQ(r.code, 0) << r.wire;
}

TEST_F(meeting_recovery_test, channel_expiry_survives_a_restart) {
  auto recovered = crash_with_ringing_invitation();
  sched.advance_time(47h);
  run();
  auto m = spawn_meeting(recovered);
  run();
  EXPECT_TRUE(dir_log->of(event_kind::ended).empty());
  advance(1h - 1ms);
  EXPECT_TRUE(dir_log->of(event_kind::ended).empty());
  advance(1ms);
  auto ended = dir_log->of(event_kind::ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].ev.reason, "expired");
  EXPECT_TRUE(poll_down(m.address()));
}

TEST_F(meeting_recovery_test, ended_meeting_with_channel_not_deleted_retries_at_once) {
  rtc_ctl->script("delete", rtc_script::down());
  auto m = create();
  ASSERT_EQ(call(m, "alice", "r-end", command(command_kind::meeting_end)).code, 0);
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  self->send_exit(m, caf::exit_reason::kill);
  run();
  ASSERT_TRUE(poll_down(m.address()));
  auto snap = store_ctl->load();
  ASSERT_EQ(snap.live_meetings.size(), 1u);
  EXPECT_EQ(snap.live_meetings[0].status, meeting_status::ended);
  EXPECT_FALSE(snap.live_meetings[0].channel_deleted);
  auto again = spawn_meeting(snap.live_meetings[0]);
  run();
  EXPECT_EQ(rtc_ctl->count("delete"), 2u);
  EXPECT_TRUE(stored_record()->channel_deleted);
  EXPECT_TRUE(poll_down(again.address()));
}

} // namespace
