// The directory actor (actors/directory_actor.*) under CAF's test coordinator,
// with a fake store, a fake RTC gateway, a real (non-detached) hasher with few
// PBKDF2 iterations, and a probe in place of the LMQ gateway that records what
// would be published to which devices. Meetings are the real meeting actors,
// spawned by the directory.
#include "fakes.hpp"

#include "actors/core/auth.hpp"
#include "actors/directory_actor.hpp"
#include "actors/core/rtc_token.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace meetingd;
using namespace meetingd::test;
using namespace std::chrono_literals;
using proto::command_kind;
using proto::event_kind;
using json = nlohmann::json;

namespace {

const std::string console = "console-1";
const std::string a1 = "GID_MEETING_DOWN@@@alice-phone";
const std::string a2 = "GID_MEETING_DOWN@@@alice-web";
const std::string b1 = "GID_MEETING_DOWN@@@bob-phone";
const std::string b2 = "GID_MEETING_DOWN@@@bob-web";
const std::string c1 = "GID_MEETING_DOWN@@@carol-phone";
const std::string ticket_secret = "ticket-secret";

proto::command command(command_kind kind, const std::string& meeting = {}) {
  proto::command c;
  c.kind = kind;
  c.meeting = meeting;
  return c;
}

proto::command login_command(const std::string& user, const std::string& password) {
  auto c = command(command_kind::auth_login);
  c.user = user;
  c.password = password;
  return c;
}

proto::command ticket_command(const std::string& user, const std::string& ticket) {
  auto c = command(command_kind::auth_login);
  c.user = user;
  c.ticket = ticket;
  return c;
}

proto::command create_command(std::optional<std::string> id,
                              std::vector<std::string> invitees = {}) {
  auto c = command(command_kind::meeting_create, id.value_or(""));
  c.requested_id = id;
  c.title = "standup";
  c.users = std::move(invitees);
  return c;
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

class directory_actor_test : public node_fixture {
protected:
  directory_actor_test() {
    env->admins = {console};
    env->ticket_secret = ticket_secret;
    env->pbkdf2_iterations = 10;
    hasher = track(sys.spawn(hasher_impl, 0));
    lmq = track(sys.spawn(probe_lmq, lmq_ctl));
  }

  ~directory_actor_test() override {
    // The directory stops its meetings when it is told to stop.
    if (dir) {
      self->send_exit(dir, caf::exit_reason::user_shutdown);
      run();
    }
  }

  void SetUp() override {
    start();
  }

  /// Starts the directory over `recovered` (a fresh node: nothing).
  void start(bool with_lmq = true, snapshot recovered = {}) {
    dir = track(sys.spawn(directory_actor_impl, node_env_ptr{env},
                          directory_links{store, rtc, hasher,
                                          with_lmq ? lmq : lmq_actor{}},
                          std::move(recovered)));
    watch(dir);
    run();
  }

  /// Stops the directory (and its meetings) and starts a new one from what
  /// the store holds, as a restarted node does.
  void restart() {
    self->send_exit(dir, caf::exit_reason::user_shutdown);
    run();
    start(true, store_ctl->load());
  }

  std::size_t running_actors() {
    return sys.registry().running();
  }

  std::int64_t now_s() const {
    return now() / 1000;
  }

  void send(const std::string& client, const std::string& rid, proto::command cmd,
            bool admin = false) {
    self->send(dir, handle_atom::value,
               inbound_request{client, admin, proto::request{rid, std::move(cmd)}});
  }

  /// Sends a command, runs the actors, returns the reply and checks that it
  /// is in the request log exactly as sent (unless it says "try again").
  final_reply call(const std::string& client, const std::string& rid,
                   proto::command cmd, bool admin = false) {
    send(client, rid, std::move(cmd), admin);
    run();
    auto r = expect_reply();
    expect_logged(r, client, rid);
    return r;
  }

  void add_user(const std::string& user, const std::string& password) {
    auto c = command(command_kind::admin_user_add);
    c.user = user;
    c.password = password;
    c.display_name = "User " + user;
    auto r = call(console, "add-" + user, c, true);
    ASSERT_EQ(r.code, 0) << r.wire;
  }

  void login(const std::string& client, const std::string& user) {
    auto r = call(client, "login-" + std::to_string(++counter),
                  login_command(user, "pw-" + user));
    ASSERT_EQ(r.code, 0) << r.wire;
  }

  void presence(const std::string& client, bool online) {
    self->send(dir, presence_atom::value, client, online);
    run();
  }

  /// alice on a1 and a2, bob on b1 and b2, all online.
  void alice_and_bob() {
    add_user("alice", "pw-alice");
    add_user("bob", "pw-bob");
    login(a1, "alice");
    login(a2, "alice");
    login(b1, "bob");
    login(b2, "bob");
  }

  std::optional<user_record> stored_user(const std::string& id) {
    for (auto& u : store_ctl->load().users)
      if (u.id == id)
        return u;
    return std::nullopt;
  }
  std::optional<device_record> stored_device(const std::string& client) {
    for (auto& d : store_ctl->load().devices)
      if (d.client == client)
        return d;
    return std::nullopt;
  }

  lmq_log_ptr lmq_ctl = std::make_shared<lmq_log>();
  hasher_actor hasher;
  lmq_actor lmq;
  directory_actor dir;
  int counter = 0;
};

// -- login ---------------------------------------------------------------------------

TEST_F(directory_actor_test, user_add_then_password_login_binds_the_device) {
  add_user("alice", "pw-alice");
  auto u = stored_user("alice");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->display_name, "User alice");
  EXPECT_EQ(u->password_hash.rfind("pbkdf2-sha256$10$", 0), 0u) << u->password_hash;
  EXPECT_EQ(u->password_hash.find("pw-alice"), std::string::npos);
  auto r = call(a1, "r-1", login_command("alice", "pw-alice"));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto j = json::parse(r.wire);
  EXPECT_EQ(j["data"]["user"], "alice");
  EXPECT_EQ(j["data"]["display_name"], "User alice");
  auto d = stored_device(a1);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "alice");
  EXPECT_TRUE(d->online);
  // Adding the same user again is a conflict.
  auto c = command(command_kind::admin_user_add);
  c.user = "alice";
  c.password = "other";
  auto again = call(console, "add-again", c, true);
  EXPECT_EQ(again.code, 409);
  EXPECT_EQ(again.reason, "user_exists");
}

TEST_F(directory_actor_test, wrong_password_and_unknown_user_are_401) {
  add_user("alice", "pw-alice");
  auto wrong = call(a1, "r-1", login_command("alice", "nope"));
  EXPECT_EQ(wrong.code, 401);
  EXPECT_EQ(wrong.reason, "bad_credentials");
  auto unknown = call(a2, "r-1", login_command("mallory", "pw"));
  EXPECT_EQ(unknown.code, 401);
  EXPECT_EQ(unknown.reason, "bad_credentials");
  EXPECT_FALSE(stored_device(a1));
  EXPECT_FALSE(stored_device(a2));
  // Nothing bound: commands are refused.
  auto r = call(a1, "r-2", create_command("m-1"));
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(r.reason, "not_logged_in");
}

TEST_F(directory_actor_test, repeated_bad_logins_are_rate_limited) {
  add_user("alice", "pw-alice");
  add_user("bob", "pw-bob");
  for (int i = 0; i < 5; ++i) {
    auto r = call(a1, "bad-" + std::to_string(i), login_command("alice", "nope"));
    EXPECT_EQ(r.code, 401) << i;
  }
  auto limited = call(a1, "bad-5", login_command("alice", "nope"));
  EXPECT_EQ(limited.code, 429);
  EXPECT_EQ(limited.reason, "rate_limited");
  EXPECT_FALSE(limited.replayable);
  EXPECT_EQ(json::parse(limited.wire)["error"]["retry_after_ms"], 1000);
  // Even the right password waits, on this client and on any other: the
  // account is slowed down, wherever the guesses come from...
  auto right = call(a1, "good-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(right.code, 429);
  auto other = call(a2, "good-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(other.code, 429);
  // ... while another account is not.
  auto bob = call(b1, "good-1", login_command("bob", "pw-bob"));
  EXPECT_EQ(bob.code, 0) << bob.wire;
  // After the wait, the right password works, and resets the count.
  advance(1s);
  auto later = call(a1, "good-2", login_command("alice", "pw-alice"));
  EXPECT_EQ(later.code, 0) << later.wire;
  auto again = call(a2, "good-2", login_command("alice", "nope"));
  EXPECT_EQ(again.code, 401) << "counting started again";
}

// A password guessed from many client ids: each id is fresh, the account
// is not (today's hole: 40 ids got 40 x 401 and the real login still worked).
TEST_F(directory_actor_test, guesses_from_many_client_ids_slow_the_account_not_another) {
  add_user("alice", "pw-alice");
  add_user("bob", "pw-bob");
  int refused = 0, limited = 0;
  for (int i = 0; i < 40; ++i) {
    auto bot = "GID_MEETING_DOWN@@@bot-" + std::to_string(i);
    auto r = call(bot, "guess", login_command("alice", "guess-" + std::to_string(i)));
    if (r.code == 401) {
      ++refused;
    } else {
      EXPECT_EQ(r.reason, "rate_limited");
      ++limited;
    }
  }
  EXPECT_EQ(refused, 5) << "five free failures for the account";
  EXPECT_EQ(limited, 35);
  auto real = call(c1, "r-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(real.code, 429) << "the guesses held the account back, not only their clients";
  auto bob = call(b1, "r-1", login_command("bob", "pw-bob"));
  EXPECT_EQ(bob.code, 0) << bob.wire;
}

TEST_F(directory_actor_test, a_device_logged_in_as_the_account_is_not_held_back_by_guesses) {
  add_user("alice", "pw-alice");
  login(a1, "alice");
  for (int i = 0; i < 10; ++i)
    call("GID_MEETING_DOWN@@@bot-" + std::to_string(i), "guess", login_command("alice", "x"));
  EXPECT_EQ(call(c1, "r-1", login_command("alice", "pw-alice")).code, 429);
  auto own = call(a1, "r-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(own.code, 0) << "alice's own phone logs in again: " << own.wire;
}

TEST_F(directory_actor_test, failed_logins_are_remembered_across_a_restart) {
  add_user("alice", "pw-alice");
  for (int i = 0; i < 6; ++i)
    call("GID_MEETING_DOWN@@@bot-" + std::to_string(i), "guess", login_command("alice", "x"));
  restart();
  auto r = call(c1, "r-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(r.code, 429) << "a restart does not reset the throttle";
  // Decayed failures are forgotten, with their rows.
  advance(16min);
  EXPECT_TRUE(store_ctl->load().login_failures.empty());
  EXPECT_EQ(call(c1, "r-2", login_command("alice", "pw-alice")).code, 0);
}

TEST_F(directory_actor_test, replies_to_strangers_are_answered_but_never_stored) {
  add_user("alice", "pw-alice");
  auto before = store_ctl->committed.size();
  for (int i = 0; i < 20; ++i) {
    auto stranger = "GID_MEETING_DOWN@@@stranger-" + std::to_string(i);
    EXPECT_EQ(call(stranger, "r-1", create_command("m-x")).code, 401);
    EXPECT_EQ(call(stranger, "r-2", login_command("nobody-" + std::to_string(i), "pw")).code,
              401);
    EXPECT_EQ(call(stranger, "r-3", command(command_kind::admin_ping)).code, 403);
  }
  EXPECT_EQ(store_ctl->committed.size(), before)
    << "fresh client ids must not grow the database or force a sync each";
}

TEST_F(directory_actor_test, logout_and_removal_forget_the_devices_stored_replies) {
  add_user("alice", "pw-alice");
  login(a1, "alice");
  login(a2, "alice");
  ASSERT_EQ(call(a1, "c-1", create_command("m-1")).code, 0);
  call(a2, "j-1", command(command_kind::meeting_join, "m-1"));
  ASSERT_TRUE(store_ctl->request(a2, "j-1"));
  ASSERT_TRUE(store_ctl->request(a1, "c-1"));
  ASSERT_EQ(call(a1, "out-1", command(command_kind::auth_logout)).code, 0);
  EXPECT_FALSE(store_ctl->request(a1, "c-1"))
    << "a duplicate after logout must not get the credentials back";
  EXPECT_TRUE(store_ctl->request(a1, "out-1")) << "the logout's own reply is kept";
  auto rm = command(command_kind::admin_user_remove);
  rm.user = "alice";
  ASSERT_EQ(call(console, "rm-1", rm, true).code, 0);
  EXPECT_FALSE(store_ctl->request(a2, "j-1"));
}

TEST_F(directory_actor_test, an_old_password_hash_is_upgraded_at_the_next_login) {
  add_user("alice", "pw-alice");
  ASSERT_EQ(stored_user("alice")->password_hash.rfind("pbkdf2-sha256$10$", 0), 0u);
  env->pbkdf2_iterations = 20; // the operator raised --pbkdf2-iterations
  login(a1, "alice");
  run();
  auto hash = stored_user("alice")->password_hash;
  EXPECT_EQ(hash.rfind("pbkdf2-sha256$20$", 0), 0u) << hash;
  EXPECT_TRUE(auth::verify_password("pw-alice", hash));
  login(a2, "alice"); // the new hash works
}

TEST_F(directory_actor_test, tickets_live_at_most_ticket_max_age) {
  env->ticket_max_age = 1h;
  auto long_lived = auth::make_ticket("carol", now_s() + 2 * 3600, ticket_secret);
  auto r = call(c1, "r-1", ticket_command("carol", long_lived));
  EXPECT_EQ(r.code, 401);
  EXPECT_NE(r.wire.find("--ticket-max-age"), std::string::npos) << r.wire;
  EXPECT_FALSE(stored_user("carol"));
  auto fine = auth::make_ticket("carol", now_s() + 3600, ticket_secret);
  EXPECT_EQ(call(c1, "r-2", ticket_command("carol", fine)).code, 0);
}

TEST_F(directory_actor_test, a_removed_user_stays_removed_for_tickets_issued_before) {
  env->ticket_max_age = 1h;
  auto ticket = auth::make_ticket("carol", now_s() + 3600, ticket_secret);
  ASSERT_EQ(call(c1, "r-1", ticket_command("carol", ticket)).code, 0);
  auto rm = command(command_kind::admin_user_remove);
  rm.user = "carol";
  ASSERT_EQ(call(console, "rm-1", rm, true).code, 0);
  restart(); // the removal is remembered in the database
  auto again = call(c1, "r-2", ticket_command("carol", ticket));
  EXPECT_EQ(again.code, 401);
  EXPECT_EQ(again.reason, "user_removed");
  EXPECT_FALSE(stored_user("carol"));
  // A ticket issued after the removal (it expires more than max-age, and
  // the clock skew allowed, after it) brings the user back.
  advance(2min);
  auto fresh = auth::make_ticket("carol", now_s() + 3600, ticket_secret);
  EXPECT_EQ(call(c1, "r-3", ticket_command("carol", fresh)).code, 0);
  EXPECT_TRUE(stored_user("carol"));
}

TEST_F(directory_actor_test, creates_beyond_the_limits_get_429_naming_the_limit) {
  env->limits.meetings_per_user = 2;
  env->limits.creates_per_minute = 3;
  env->limits.invitees_per_call = 2;
  restart();
  alice_and_bob();
  auto too_many_invitees = call(a1, "c-0", create_command("m-0", {"bob", "carol", "dave"}));
  EXPECT_EQ(too_many_invitees.code, 429);
  EXPECT_EQ(too_many_invitees.reason, "limit:invitees");
  ASSERT_EQ(call(a1, "c-1", create_command("m-1", {"bob"})).code, 0);
  ASSERT_EQ(call(a1, "c-2", create_command("m-2")).code, 0);
  auto third = call(a1, "c-3", create_command("m-3"));
  EXPECT_EQ(third.code, 429);
  EXPECT_EQ(third.reason, "limit:meetings");
  EXPECT_EQ(rtc_ctl->count("create"), 2u) << "no channel for a refused create";
  // Ending one frees its place; the per-minute limit then holds.
  ASSERT_EQ(call(a1, "e-2", command(command_kind::meeting_end, "m-2")).code, 0);
  ASSERT_EQ(call(a1, "c-4", create_command("m-4")).code, 0);
  ASSERT_EQ(call(a1, "e-4", command(command_kind::meeting_end, "m-4")).code, 0);
  auto fast = call(a1, "c-5", create_command("m-5"));
  EXPECT_EQ(fast.code, 429);
  EXPECT_EQ(fast.reason, "limit:creates");
  EXPECT_GT(json::parse(fast.wire)["error"]["retry_after_ms"].get<std::int64_t>(), 0);
  // call.invite rings at most the limit too.
  auto invite = command(command_kind::call_invite, "m-1");
  invite.users = {"bob", "carol", "dave"};
  auto refused = call(a1, "i-1", invite);
  EXPECT_EQ(refused.code, 429);
  EXPECT_EQ(refused.reason, "limit:invitees");
}

TEST_F(directory_actor_test, a_user_has_so_many_devices_and_an_offline_one_makes_room) {
  env->limits.devices_per_user = 1;
  restart();
  add_user("alice", "pw-alice");
  login(a1, "alice");
  auto second = call(a2, "r-1", login_command("alice", "pw-alice"));
  EXPECT_EQ(second.code, 429);
  EXPECT_EQ(second.reason, "limit:devices");
  presence(a1, false);
  auto again = call(a2, "r-2", login_command("alice", "pw-alice"));
  EXPECT_EQ(again.code, 0) << again.wire;
  EXPECT_FALSE(stored_device(a1)) << "the offline phone was logged out to make room";
  EXPECT_TRUE(stored_device(a2));
}

TEST_F(directory_actor_test, ticket_login_creates_the_user) {
  auto ticket = auth::make_ticket("carol", now_s() + 3600, ticket_secret);
  auto r = call(c1, "r-1", ticket_command("carol", ticket));
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_EQ(json::parse(r.wire)["data"]["user"], "carol");
  auto u = stored_user("carol");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->password_hash.empty());
  auto d = stored_device(c1);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "carol");
  // The new user can create meetings.
  auto created = call(c1, "r-2", create_command("m-carol"));
  EXPECT_EQ(created.code, 0) << created.wire;
}

TEST_F(directory_actor_test, expired_or_forged_tickets_are_refused) {
  auto expired = auth::make_ticket("carol", now_s(), ticket_secret);
  auto r = call(c1, "r-1", ticket_command("carol", expired));
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(r.reason, "ticket_expired");
  auto forged = auth::make_ticket("carol", now_s() + 3600, "wrong-secret");
  auto f = call(c1, "r-2", ticket_command("carol", forged));
  EXPECT_EQ(f.code, 401);
  EXPECT_EQ(f.reason, "bad_credentials");
  // A ticket for someone else does not log in as carol.
  auto bob_ticket = auth::make_ticket("bob", now_s() + 3600, ticket_secret);
  auto g = call(c1, "r-3", ticket_command("carol", bob_ticket));
  EXPECT_EQ(g.code, 401);
  EXPECT_FALSE(stored_user("carol"));
  EXPECT_FALSE(stored_device(c1));
}

TEST_F(directory_actor_test, admin_commands_only_on_the_admin_topic) {
  add_user("alice", "pw-alice");
  login(a1, "alice");
  auto from_device = call(a1, "r-1", command(command_kind::admin_ping));
  EXPECT_EQ(from_device.code, 403);
  EXPECT_EQ(from_device.reason, "not_admin");
  auto add = command(command_kind::admin_user_add);
  add.user = "eve";
  add.password = "pw";
  auto add_from_device = call(c1, "r-1", add);
  EXPECT_EQ(add_from_device.code, 403);
  EXPECT_EQ(add_from_device.reason, "not_admin");
  EXPECT_FALSE(stored_user("eve"));
  auto ping = call(console, "r-1", command(command_kind::admin_ping), true);
  ASSERT_EQ(ping.code, 0) << ping.wire;
  EXPECT_EQ(json::parse(ping.wire)["data"]["node"], env->node_id);
  auto device_cmd_on_admin = call(console, "r-2", create_command("m-1"), true);
  EXPECT_EQ(device_cmd_on_admin.code, 400);
}

// -- meetings -------------------------------------------------------------------------

TEST_F(directory_actor_test, create_goes_through_a_meeting_actor) {
  alice_and_bob();
  auto r = call(a1, "r-1", create_command("m-1"));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto j = json::parse(r.wire);
  EXPECT_EQ(j["id"], "r-1");
  EXPECT_EQ(j["data"]["meeting"], "m-1");
  EXPECT_EQ(j["data"]["credentials"]["userid"], rtc::rtc_user_id("alice"));
  ASSERT_EQ(rtc_ctl->count("create"), 1u);
  EXPECT_EQ(rtc_ctl->calls_of("create")[0].channel, "m-1");
  // The meeting is live: others can join it through the directory.
  auto join = call(b1, "r-1", command(command_kind::meeting_join, "m-1"));
  EXPECT_EQ(join.code, 0) << join.wire;
  // A second create with the same id is a conflict, whoever sends it.
  auto dup = call(b1, "r-2", create_command("m-1"));
  EXPECT_EQ(dup.code, 409);
  EXPECT_EQ(dup.reason, "meeting_exists");
  auto dup2 = call(a1, "r-2", create_command("m-1"));
  EXPECT_EQ(dup2.code, 409);
  EXPECT_EQ(rtc_ctl->count("create"), 1u);
  // Without an id the directory chooses one.
  auto anon = call(a2, "r-3", create_command(std::nullopt));
  ASSERT_EQ(anon.code, 0) << anon.wire;
  auto id = json::parse(anon.wire)["data"]["meeting"].get<std::string>();
  EXPECT_EQ(id.rfind("m-", 0), 0u);
  EXPECT_NE(id, "m-1");
  // The listing shows both.
  auto list = call(console, "r-list", command(command_kind::admin_meetings_list), true);
  ASSERT_EQ(list.code, 0) << list.wire;
  EXPECT_EQ(json::parse(list.wire)["data"]["meetings"].size(), 2u) << list.wire;
}

TEST_F(directory_actor_test, commands_for_an_unknown_meeting_are_404) {
  alice_and_bob();
  auto r = call(a1, "r-1", command(command_kind::meeting_join, "m-nope"));
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.reason, "meeting_not_found");
  auto get = command(command_kind::admin_meeting_get, "m-nope");
  auto g = call(console, "r-1", get, true);
  EXPECT_EQ(g.code, 404);
}

TEST_F(directory_actor_test, failed_create_frees_the_id) {
  alice_and_bob();
  rtc_ctl->script("create", rtc_script::refuse("Forbidden.AppId"));
  auto r = call(a1, "r-1", create_command("m-1"));
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.reason, "rtc_error:Forbidden.AppId");
  auto join = call(b1, "r-1", command(command_kind::meeting_join, "m-1"));
  EXPECT_EQ(join.code, 404);
  auto again = call(a1, "r-2", create_command("m-1"));
  EXPECT_EQ(again.code, 0) << again.wire;
}

TEST_F(directory_actor_test, create_refused_by_the_meeting_core_gets_its_reply) {
  alice_and_bob();
  auto cmd = create_command("m-1");
  cmd.max_participants = 1;
  send(a1, "r-1", cmd);
  run();
  auto r = poll_reply();
  EXPECT_TRUE(r) << "no reply to a meeting.create that check_create refused";
  if (r) {
    EXPECT_EQ(r->code, 400);
    EXPECT_EQ(r->reason, "bad_value:args.max_participants");
  }
  // The id was not taken.
  auto again = call(a1, "r-2", create_command("m-1"));
  EXPECT_EQ(again.code, 0) << again.wire;
}

TEST_F(directory_actor_test, ended_meeting_answers_410_once_its_actor_is_gone) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  auto end = call(a1, "r-2", command(command_kind::meeting_end, "m-1"));
  ASSERT_EQ(end.code, 0) << end.wire;
  EXPECT_EQ(rtc_ctl->count("delete"), 1u);
  auto r = call(b1, "r-1", command(command_kind::meeting_join, "m-1"));
  EXPECT_EQ(r.code, 410);
  EXPECT_EQ(r.reason, "meeting_ended");
  auto dup = call(b1, "r-2", create_command("m-1"));
  EXPECT_EQ(dup.code, 409);
}

// -- events to devices -------------------------------------------------------------------

TEST_F(directory_actor_test, events_go_to_the_right_devices) {
  alice_and_bob();
  presence(b2, false);
  lmq_ctl->clear();
  auto r = call(a1, "r-1", create_command("m-1", {"bob"}));
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_EQ(json::parse(r.wire)["data"]["invitations"]["bob"], "ringing") << r.wire;
  // event.invite: only bob's online devices.
  auto invites = lmq_ctl->of(event_kind::invite);
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].clients, std::vector<std::string>{b1});
  EXPECT_EQ(invites[0].ev.meeting, "m-1");
  EXPECT_EQ(invites[0].ev.from, "alice");
  lmq_ctl->clear();
  auto accept = call(b1, "r-1", command(command_kind::call_accept, "m-1"));
  ASSERT_EQ(accept.code, 0) << accept.wire;
  // The inviter's devices hear of the answer...
  auto accepted = lmq_ctl->of(event_kind::accepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(sorted(accepted[0].clients), sorted({a1, a2}));
  EXPECT_EQ(accepted[0].ev.user, "bob");
  // ... bob's other device (online or not) that it was answered elsewhere,
  // never the device that answered.
  auto elsewhere = lmq_ctl->of(event_kind::answered_elsewhere);
  ASSERT_EQ(elsewhere.size(), 1u);
  EXPECT_EQ(elsewhere[0].clients, std::vector<std::string>{b2});
  EXPECT_EQ(elsewhere[0].ev.by, b1);
  // ... and the others that bob joined; bob is not told about himself.
  auto joined = lmq_ctl->of(event_kind::joined);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(sorted(joined[0].clients), sorted({a1, a2}));
  EXPECT_EQ(joined[0].ev.user, "bob");
}

TEST_F(directory_actor_test, busy_and_offline_invitees) {
  alice_and_bob();
  add_user("carol", "pw-carol");
  login(c1, "carol");
  presence(c1, false);
  ASSERT_EQ(call(b1, "r-1", create_command("m-bob")).code, 0);
  lmq_ctl->clear();
  auto r = call(a1, "r-1", create_command("m-1", {"bob", "carol", "nobody"}));
  ASSERT_EQ(r.code, 0) << r.wire;
  auto inv = json::parse(r.wire)["data"]["invitations"];
  EXPECT_EQ(inv, json({{"bob", "busy"}, {"carol", "offline"}, {"nobody", "user_not_found"}}))
    << r.wire;
  EXPECT_TRUE(lmq_ctl->of(event_kind::invite).empty());
}

TEST_F(directory_actor_test, without_lmq_events_are_dropped) {
  dir = directory_actor{};
  start(false);
  alice_and_bob();
  auto r = call(a1, "r-1", create_command("m-1", {"bob"}));
  EXPECT_EQ(r.code, 0) << r.wire;
  EXPECT_TRUE(lmq_ctl->events.empty());
}

// -- presence -------------------------------------------------------------------------------

TEST_F(directory_actor_test, last_device_offline_tells_the_meeting) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  lmq_ctl->clear();
  // One of bob's devices goes: bob is still online, nobody is told.
  presence(b1, false);
  EXPECT_TRUE(lmq_ctl->events.empty());
  EXPECT_FALSE(stored_device(b1)->online);
  // The last one goes: the meeting hears it and tells alice's devices.
  presence(b2, false);
  auto changed = lmq_ctl->of(event_kind::participant);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(sorted(changed[0].clients), sorted({a1, a2}));
  EXPECT_EQ(changed[0].ev.user, "bob");
  ASSERT_TRUE(changed[0].ev.participant);
  EXPECT_FALSE(changed[0].ev.participant->online);
  // One comes back within the grace: bob keeps his seat.
  lmq_ctl->clear();
  advance(30s);
  presence(b2, true);
  changed = lmq_ctl->of(event_kind::participant);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_TRUE(changed[0].ev.participant->online);
  advance(2min);
  EXPECT_TRUE(lmq_ctl->of(event_kind::left).empty());
  // Gone for good: after the grace, bob is out.
  presence(b2, false);
  lmq_ctl->clear();
  advance(env->meeting.presence_grace);
  auto left = lmq_ctl->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(sorted(left[0].clients), sorted({a1, a2}));
  EXPECT_EQ(left[0].ev.user, "bob");
  EXPECT_EQ(left[0].ev.reason, "offline");
  // bob is no longer busy: he can be invited elsewhere.
  presence(b1, true);
  auto r = call(a2, "r-2", create_command("m-2", {"bob"}));
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_EQ(json::parse(r.wire)["data"]["invitations"]["bob"], "ringing") << r.wire;
}

TEST_F(directory_actor_test, logout_of_the_last_device_tells_the_meeting) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  presence(b2, false);
  lmq_ctl->clear();
  auto r = call(b1, "r-2", command(command_kind::auth_logout));
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_FALSE(stored_device(b1));
  auto changed = lmq_ctl->of(event_kind::participant);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].ev.user, "bob");
  EXPECT_FALSE(changed[0].ev.participant->online);
}

// -- dormant meetings after a restart ----------------------------------------------------

TEST_F(directory_actor_test, recovered_meetings_sleep_until_a_command_wakes_them) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  ASSERT_EQ(call(a1, "r-2", create_command("m-2")).code, 0);
  restart();
  auto asleep = running_actors();
  // The listing needs no meeting actor.
  auto list = call(console, "r-list", command(command_kind::admin_meetings_list), true);
  ASSERT_EQ(list.code, 0) << list.wire;
  EXPECT_EQ(json::parse(list.wire)["data"]["meetings"].size(), 2u) << list.wire;
  EXPECT_EQ(running_actors(), asleep);
  // A command for m-1 wakes it, with its state.
  auto get = call(b1, "r-2", command(command_kind::meeting_get, "m-1"));
  ASSERT_EQ(get.code, 0) << get.wire;
  EXPECT_EQ(json::parse(get.wire)["data"]["participants"].size(), 2u) << get.wire;
  EXPECT_EQ(running_actors(), asleep + 1);
  ASSERT_EQ(call(b1, "r-3", command(command_kind::meeting_leave, "m-1")).code, 0);
  EXPECT_EQ(running_actors(), asleep + 1) << "woken twice";
  auto left = lmq_ctl->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(sorted(left[0].clients), sorted({a1, a2}));
  // A busy check sees the dormant m-2's host.
  auto r = call(b1, "r-4", create_command("m-3", {"alice"}));
  ASSERT_EQ(r.code, 0) << r.wire;
  EXPECT_EQ(json::parse(r.wire)["data"]["invitations"]["alice"], "busy") << r.wire;
}

TEST_F(directory_actor_test, a_dormant_meeting_wakes_when_its_deadline_comes) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1", {"bob"})).code, 0);
  auto rings_until = now() + env->meeting.ring_timeout.count();
  restart();
  lmq_ctl->clear();
  advance(std::chrono::milliseconds{rings_until - now() - 1000});
  EXPECT_TRUE(lmq_ctl->of(event_kind::invite_timeout).empty());
  advance(1s);
  auto timeouts = lmq_ctl->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u) << "the ring deadline was lost with the actor";
  EXPECT_EQ(sorted(timeouts[0].clients), sorted({a1, a2, b1, b2}));
  auto late = call(b1, "r-2", command(command_kind::call_accept, "m-1"));
  EXPECT_EQ(late.code, 410) << late.wire;
}

TEST_F(directory_actor_test, a_deadline_passed_while_down_fires_at_the_restart) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1", {"bob"})).code, 0);
  self->send_exit(dir, caf::exit_reason::user_shutdown);
  run();
  advance(env->meeting.ring_timeout + 5s); // the node is down
  lmq_ctl->clear();
  restart();
  auto timeouts = lmq_ctl->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u) << "the passed ring deadline did not fire at once";
  EXPECT_EQ(timeouts[0].ev.meeting, "m-1");
}

TEST_F(directory_actor_test, a_dormant_meeting_hears_its_participants_go_offline) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  restart();
  lmq_ctl->clear();
  presence(b1, false);
  presence(b2, false);
  auto changed = lmq_ctl->of(event_kind::participant);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(sorted(changed[0].clients), sorted({a1, a2}));
  EXPECT_FALSE(changed[0].ev.participant->online);
  advance(env->meeting.presence_grace);
  auto left = lmq_ctl->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].ev.reason, "offline");
}

// -- quiet meetings give up their actors (--passivate-after) ------------------------------

class passivation_test : public directory_actor_test {
protected:
  passivation_test() {
    env->passivate_after = 10s;
  }
  /// Long enough for the sweep (every 5 s) to find a meeting quiet for 10 s.
  static constexpr auto quiet = 16s;

  /// A weak handle on meeting `id`'s actor, as the directory routes to it.
  caf::actor_addr meeting_actor_of(const std::string& id) {
    using directory_type = caf::stateful_actor<directory_actor_state, directory_actor::base>;
    auto* d = dynamic_cast<directory_type*>(caf::actor_cast<caf::abstract_actor*>(dir));
    auto i = d->state.meetings.find(id);
    return i == d->state.meetings.end() ? caf::actor_addr{} : i->second.actor.address();
  }

  /// Runs the directory alone for one message.
  void step_directory() {
    ASSERT_TRUE(sched.prioritize(dir));
    sched.run_once();
  }
};

TEST_F(passivation_test, a_quiet_meeting_gives_up_its_actor_and_wakes_on_the_next_command) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  auto awake = running_actors();
  auto first_actor = meeting_actor_of("m-1");
  ASSERT_TRUE(first_actor);
  advance(5s);
  EXPECT_EQ(running_actors(), awake) << "put to sleep before it was quiet long enough";
  advance(quiet - 5s);
  EXPECT_EQ(running_actors(), awake - 1) << "the quiet meeting kept its actor";
  // Gone from memory too, although its next deadline (the token warnings,
  // hours away) is armed: nothing may hold the stopped actor until then.
  EXPECT_FALSE(caf::actor_cast<caf::strong_actor_ptr>(first_actor))
    << "the stopped actor is still referenced (a delayed message to it?)";
  auto get = call(b1, "r-2", command(command_kind::meeting_get, "m-1"));
  ASSERT_EQ(get.code, 0) << get.wire;
  EXPECT_EQ(json::parse(get.wire)["data"]["participants"].size(), 2u) << get.wire;
  EXPECT_EQ(running_actors(), awake);
  // Asleep again, then a presence change wakes it and the grace runs.
  advance(quiet);
  EXPECT_EQ(running_actors(), awake - 1);
  lmq_ctl->clear();
  presence(b1, false);
  presence(b2, false);
  EXPECT_EQ(running_actors(), awake);
  ASSERT_EQ(lmq_ctl->of(event_kind::participant).size(), 1u);
  advance(env->meeting.presence_grace);
  auto left = lmq_ctl->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].ev.reason, "offline");
}

TEST_F(passivation_test, a_meeting_actor_that_dies_leaves_the_routing_and_the_others_stay) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(a1, "r-2", create_command("m-2")).code, 0);
  auto doomed = meeting_actor_of("m-1");
  ASSERT_TRUE(doomed);
  self->send_exit(doomed, caf::exit_reason::kill);
  run();
  EXPECT_FALSE(meeting_actor_of("m-1")) << "the directory still routes to a dead actor";
  EXPECT_TRUE(meeting_actor_of("m-2"));
  // A quiet meeting's down message after it passivated is ignored.
  advance(quiet);
  EXPECT_FALSE(meeting_actor_of("m-2"));
  auto get = call(a1, "r-3", command(command_kind::meeting_get, "m-2"));
  EXPECT_EQ(get.code, 0) << get.wire;
}

TEST_F(passivation_test, a_sleeping_meetings_deadline_still_fires) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1", {"bob"})).code, 0);
  auto awake = running_actors();
  lmq_ctl->clear();
  advance(quiet);
  EXPECT_EQ(running_actors(), awake - 1);
  advance(env->meeting.ring_timeout - quiet);
  auto timeouts = lmq_ctl->of(event_kind::invite_timeout);
  ASSERT_EQ(timeouts.size(), 1u) << "the ring deadline was lost with the actor";
  EXPECT_EQ(sorted(timeouts[0].clients), sorted({a1, a2, b1, b2}));
}

TEST_F(passivation_test, a_command_arriving_during_the_hand_over_waits_and_is_answered) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(b1, "r-1", command(command_kind::meeting_join, "m-1")).code, 0);
  lmq_ctl->clear();
  // The sweep asks the meeting for its state...
  sched.advance_time(quiet);
  step_directory();
  // ... and before the meeting answers, bob leaves.
  send(b1, "r-2", command(command_kind::meeting_leave, "m-1"));
  step_directory();
  run();
  auto r = expect_reply();
  EXPECT_EQ(r.code, 0) << r.wire;
  auto left = lmq_ctl->of(event_kind::left);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].ev.user, "bob");
  auto get = call(a1, "r-3", command(command_kind::meeting_get, "m-1"));
  ASSERT_EQ(get.code, 0) << get.wire;
  auto parts = json::parse(get.wire)["data"]["participants"];
  ASSERT_EQ(parts.size(), 2u) << get.wire;
  for (auto& p : parts) {
    if (p["user"] == "bob") {
      EXPECT_EQ(p["state"], "left") << get.wire;
    }
  }
}

TEST_F(passivation_test, a_meeting_with_work_in_flight_keeps_its_actor) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  auto awake = running_actors();
  advance(quiet - 6s);
  // bob's join is waiting on the store when the sweep comes.
  store_ctl->hold = true;
  send(b1, "r-1", command(command_kind::meeting_join, "m-1"));
  run();
  advance(6s);
  EXPECT_EQ(running_actors(), awake) << "passivated with a commit in flight";
  store_ctl->hold = false;
  self->send(store, flush_atom::value);
  run();
  EXPECT_EQ(expect_reply().code, 0);
  // Quiet from now on: it sleeps after another period.
  advance(quiet);
  EXPECT_EQ(running_actors(), awake - 1);
}

// While the database holds the directory's own bookkeeping (a presence
// change: no reply waits on it), the console's reads are answered: ping,
// stats and the lists wait only for replies committed before them.
TEST_F(directory_actor_test, reads_do_not_wait_for_bookkeeping_held_by_the_store) {
  alice_and_bob();
  ASSERT_EQ(call(a1, "r-1", create_command("m-1")).code, 0);
  store_ctl->hold = true;
  presence(b1, false);
  ASSERT_EQ(store_ctl->waiting.size(), 1u) << "the presence change is not held";
  for (auto kind : {command_kind::admin_ping, command_kind::admin_stats,
                    command_kind::admin_meetings_list, command_kind::admin_users_list}) {
    send(console, std::string{"read-"} + proto::to_string(kind), command(kind), true);
    run();
    auto r = poll_reply();
    ASSERT_TRUE(r) << proto::to_string(kind) << " waited for the held presence change";
    EXPECT_EQ(r->code, 0) << r->wire;
    EXPECT_FALSE(r->replayable) << r->wire;
  }
  // A command's reply held by the store holds the reads after it.
  auto add = command(command_kind::admin_user_add);
  add.user = "carol";
  add.password = "pw-carol";
  send(console, "add-carol", add, true);
  run();
  send(console, "list-after", command(command_kind::admin_users_list), true);
  run();
  EXPECT_FALSE(poll_reply()) << "a read went out before the reply committed before it";
  store_ctl->hold = false;
  self->send(store, flush_atom::value);
  run();
  EXPECT_EQ(expect_reply().code, 0);
  auto list = expect_reply();
  EXPECT_NE(list.wire.find("carol"), std::string::npos) << list.wire;
}

// An ended meeting answers 410 for --ended-retention, then 404: the
// directory forgets it (it used to keep it until the next restart).
TEST_F(directory_actor_test, an_ended_meeting_is_forgotten_after_the_retention) {
  env->ended_retention = 2h;
  restart();
  alice_and_bob();
  ASSERT_EQ(call(a1, "c-1", create_command("m-1")).code, 0);
  ASSERT_EQ(call(a1, "e-1", command(command_kind::meeting_end, "m-1")).code, 0);
  EXPECT_EQ(call(a1, "j-1", command(command_kind::meeting_join, "m-1")).code, 410);
  advance(1h);
  EXPECT_EQ(call(a1, "j-2", command(command_kind::meeting_join, "m-1")).code, 410);
  advance(1h + 2min);
  auto gone = call(a1, "j-3", command(command_kind::meeting_join, "m-1"));
  EXPECT_EQ(gone.code, 404) << gone.wire;
  auto listed = call(console, "l-1", command(command_kind::admin_meetings_list), true);
  EXPECT_EQ(json::parse(listed.wire)["data"]["meetings"].size(), 0u) << listed.wire;
}

// -- the password hasher, faked --------------------------------------------------------

/// The directory with a fake hasher: what it is asked, and answers held back.
class directory_hasher_test : public directory_actor_test {
protected:
  void SetUp() override {
    hasher = track(sys.spawn(fake_hasher, hasher_ctl));
    start();
  }
  hasher_control_ptr hasher_ctl = std::make_shared<hasher_control>();
};

TEST_F(directory_hasher_test, an_unknown_user_costs_a_check_at_the_nodes_iterations) {
  env->pbkdf2_iterations = 77;
  auto r = call(a1, "r-1", login_command("mallory", "pw"));
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(r.reason, "bad_credentials");
  ASSERT_EQ(hasher_ctl->requests.size(), 1u);
  EXPECT_EQ(hasher_ctl->requests[0].what, "verify");
  EXPECT_EQ(hasher_ctl->requests[0].stored, "") << "no hash: a check against nothing";
  EXPECT_EQ(hasher_ctl->requests[0].iterations, 77)
    << "the same cost as a real user's check, so timing does not tell who exists";
}

TEST_F(directory_hasher_test, password_checks_wait_on_a_bounded_queue_with_a_deadline) {
  env->max_hashing = 2;
  env->hash_timeout = 5s;
  hasher_ctl->hold = true;
  send(a1, "r-1", login_command("alice", "pw"));
  send(a2, "r-1", login_command("bob", "pw"));
  send(b1, "r-1", login_command("carol", "pw"));
  run();
  // The third finds the queue full: 503 at once, nothing more asked.
  auto busy = expect_reply();
  EXPECT_EQ(busy.code, 503);
  EXPECT_EQ(busy.reason, "overloaded");
  EXPECT_FALSE(busy.replayable);
  EXPECT_EQ(hasher_ctl->requests.size(), 2u);
  EXPECT_FALSE(poll_reply());
  // The two waiting ones get 503 at their deadline, never silence.
  advance(5s);
  for (int i = 0; i < 2; ++i) {
    auto late = expect_reply();
    EXPECT_EQ(late.code, 503);
    EXPECT_EQ(late.reason, "overloaded");
  }
  // The queue is free again.
  hasher_ctl->hold = false;
  auto r = call(b2, "r-2", login_command("dave", "pw"));
  EXPECT_EQ(r.code, 401);
}

// Checks that timed out while queued are skipped: a saturated pool catches up
// at once instead of working through what nobody waits for any more.
TEST_F(directory_actor_test, the_hasher_skips_checks_whose_deadline_passed) {
  auto stored = auth::hash_password("pw", 10);
  auto now_ns = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             sys.clock().now().time_since_epoch())
      .count();
  };
  auto ask = [&](hash_deadline by) {
    self->send(hasher, verify_atom::value, std::string{"pw"}, stored, 10, by);
    run();
    std::optional<bool> answer;
    self->receive([&](bool ok) { answer = ok; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return answer;
  };
  EXPECT_EQ(ask(now_ns() + 1'000'000'000), std::optional<bool>{true});
  EXPECT_EQ(ask(now_ns() - 1), std::optional<bool>{false}) << "past its deadline: skipped";
}

} // namespace
