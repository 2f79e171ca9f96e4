// The directory's books (actors/directory_core.*) tested directly: users,
// device bindings, presence, the meeting registry and busy facts, listings,
// counts, pruning, the bad-login throttle per client and account, removed
// users, and what one user may cost.
#include "actors/core/directory_core.hpp"
#include "actors/core/meeting_core.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

using namespace meetingd;
using namespace std::chrono_literals;

namespace {

constexpr unix_ms t0 = 1'700'000'000'000;

using names = std::vector<std::string>;

names sorted(names xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

std::string client(const std::string& user, const std::string& device = "phone") {
  return "GID_MEETING_DOWN@@@" + user + "-" + device;
}

proto::command on_meeting(proto::command_kind kind, const std::string& meeting) {
  proto::command c;
  c.kind = kind;
  c.meeting = meeting;
  return c;
}

user_record user(const std::string& id, const std::string& display = {}) {
  return user_record{id, display.empty() ? id : display, "", t0};
}

/// A short description of each change, in order: "put_user:alice",
/// "delete_device:<client>", "put_device:<client>:<user>:<online>".
names describe(const changeset& cs) {
  names out;
  for (auto& c : cs.changes)
    std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, change::put_user>)
          out.push_back("put_user:" + x.row.id);
        else if constexpr (std::is_same_v<T, change::delete_user>)
          out.push_back("delete_user:" + x.user);
        else if constexpr (std::is_same_v<T, change::put_device>)
          out.push_back("put_device:" + x.row.client + ":" + x.row.user + ":"
                        + (x.row.online ? "on" : "off"));
        else if constexpr (std::is_same_v<T, change::delete_device>)
          out.push_back("delete_device:" + x.client);
        else if constexpr (std::is_same_v<T, change::delete_requests_of>)
          out.push_back("delete_requests_of:" + x.client);
        else if constexpr (std::is_same_v<T, change::put_removed_user>)
          out.push_back("put_removed_user:" + x.row.user);
        else
          out.push_back("other");
      },
      c);
  return out;
}

meeting_update summary(const std::string& id, const std::string& host,
                       meeting_status status = meeting_status::active,
                       std::vector<membership_change> members = {}, int ringing = 0,
                       unix_ms ended_at = 0) {
  meeting_update u;
  u.summary.meeting = id;
  u.summary.title = "t-" + id;
  u.summary.host = host;
  u.summary.status = status;
  u.summary.created_at = t0 / 1000;
  u.summary.expires_at = t0 / 1000 + 48 * 3600;
  u.ended_at = ended_at;
  u.end_reason = status == meeting_status::ended ? "ended" : "";
  u.ringing = ringing;
  u.memberships = std::move(members);
  int joined = 0;
  for (auto& x : u.memberships)
    joined += x.joined ? 1 : 0;
  u.summary.participants = joined;
  return u;
}

names ids(const proto::meetings_page& p) {
  names out;
  for (auto& x : p.meetings)
    out.push_back(x.meeting);
  return out;
}

names ids(const proto::users_page& p) {
  names out;
  for (auto& x : p.users)
    out.push_back(x.user);
  return out;
}

proto::command list_filter(std::optional<meeting_status> state = {}, std::string u = {},
                           std::optional<int> limit = {},
                           std::optional<std::string> after = {}) {
  proto::command c;
  c.kind = proto::command_kind::admin_meetings_list;
  c.state = state;
  c.user = std::move(u);
  c.limit = limit;
  c.after = std::move(after);
  return c;
}

// -- users -------------------------------------------------------------------------------

TEST(directory_core, add_and_remove_users) {
  directory_core d;
  EXPECT_EQ(d.user_count(), 0u);
  EXPECT_EQ(describe(d.add_user(user("alice", "Alice A."))), names{"put_user:alice"});
  d.add_user(user("bob"));
  EXPECT_EQ(d.user_count(), 2u);
  ASSERT_NE(d.find_user("alice"), nullptr);
  EXPECT_EQ(d.find_user("alice")->display_name, "Alice A.");
  EXPECT_EQ(d.find_user("zoe"), nullptr);
  d.bind(client("alice"), "alice", t0);
  d.bind(client("alice", "laptop"), "alice", t0);
  d.bind(client("bob"), "bob", t0);
  auto cs = d.remove_user("alice", t0);
  EXPECT_EQ(sorted(describe(cs)),
            sorted({"delete_user:alice", "put_removed_user:alice",
                    "delete_device:" + client("alice"), "delete_requests_of:" + client("alice"),
                    "delete_device:" + client("alice", "laptop"),
                    "delete_requests_of:" + client("alice", "laptop")}));
  EXPECT_EQ(d.find_user("alice"), nullptr);
  EXPECT_EQ(d.user_of(client("alice")), nullptr);
  EXPECT_EQ(d.user_of(client("alice", "laptop")), nullptr);
  EXPECT_TRUE(d.devices_of("alice", false).empty());
  EXPECT_FALSE(d.user_online("alice"));
  EXPECT_EQ(d.devices_online(), 1u);
  ASSERT_NE(d.user_of(client("bob")), nullptr);
  EXPECT_EQ(d.user_count(), 1u);
  // Removing an unknown user changes nothing.
  EXPECT_TRUE(d.remove_user("alice", t0).empty());
  EXPECT_TRUE(d.remove_user("zoe", t0).empty());
}

TEST(directory_core, list_users_pages_with_next_after) {
  directory_core d;
  for (auto u : {"u05", "u01", "u07", "u03", "u02", "u06", "u04"})
    d.add_user(user(u));
  d.bind(client("u02"), "u02", t0);
  d.bind(client("u02", "laptop"), "u02", t0);
  auto p1 = d.list_users(3, std::nullopt);
  EXPECT_EQ(ids(p1), (names{"u01", "u02", "u03"}));
  ASSERT_TRUE(p1.next_after.has_value());
  EXPECT_EQ(*p1.next_after, "u03");
  EXPECT_EQ(p1.users[1].devices_online, 2);
  EXPECT_EQ(p1.users[0].devices_online, 0);
  EXPECT_EQ(p1.users[0].created_at, t0 / 1000);
  auto p2 = d.list_users(3, p1.next_after);
  EXPECT_EQ(ids(p2), (names{"u04", "u05", "u06"}));
  ASSERT_TRUE(p2.next_after.has_value());
  auto p3 = d.list_users(3, p2.next_after);
  EXPECT_EQ(ids(p3), names{"u07"});
  EXPECT_FALSE(p3.next_after.has_value());
  // A page that ends exactly at the last user has no cursor.
  auto exact = d.list_users(7, std::nullopt);
  EXPECT_EQ(exact.users.size(), 7u);
  EXPECT_FALSE(exact.next_after.has_value());
  // The default page holds them all; a cursor past the end is an empty page.
  EXPECT_EQ(d.list_users(std::nullopt, std::nullopt).users.size(), 7u);
  auto past = d.list_users(3, std::string{"u99"});
  EXPECT_TRUE(past.users.empty());
  EXPECT_FALSE(past.next_after.has_value());
  // A cursor between ids resumes after it.
  EXPECT_EQ(ids(d.list_users(2, std::string{"u035"})), (names{"u04", "u05"}));
  // Silly limits are clamped to at least one.
  EXPECT_EQ(d.list_users(0, std::nullopt).users.size(), 1u);
  EXPECT_EQ(d.list_users(-3, std::nullopt).users.size(), 1u);
}

// -- devices ------------------------------------------------------------------------------

TEST(directory_core, bind_rebind_unbind) {
  directory_core d;
  d.add_user(user("alice"));
  d.add_user(user("bob"));
  auto cs = d.bind(client("x"), "alice", t0);
  EXPECT_EQ(describe(cs), names{"put_device:" + client("x") + ":alice:on"});
  ASSERT_NE(d.user_of(client("x")), nullptr);
  EXPECT_EQ(*d.user_of(client("x")), "alice");
  EXPECT_TRUE(d.user_online("alice"));
  EXPECT_EQ(d.devices_of("alice", false), names{client("x")});
  // Rebinding a device moves it to the new user.
  auto re = d.bind(client("x"), "bob", t0 + 1000);
  EXPECT_EQ(describe(re), (names{"delete_requests_of:" + client("x"),
                                 "put_device:" + client("x") + ":bob:on"}));
  EXPECT_EQ(*d.user_of(client("x")), "bob");
  EXPECT_TRUE(d.devices_of("alice", false).empty());
  EXPECT_FALSE(d.user_online("alice"));
  EXPECT_EQ(d.devices_of("bob", false), names{client("x")});
  EXPECT_EQ(d.devices_online(), 1u);
  // Binding again to the same user is harmless.
  d.bind(client("x"), "bob", t0 + 2000);
  EXPECT_EQ(d.devices_of("bob", false), names{client("x")});
  auto un = d.unbind(client("x"));
  EXPECT_EQ(describe(un),
            (names{"delete_device:" + client("x"), "delete_requests_of:" + client("x")}));
  EXPECT_EQ(d.user_of(client("x")), nullptr);
  EXPECT_TRUE(d.devices_of("bob", false).empty());
  EXPECT_FALSE(d.user_online("bob"));
  EXPECT_EQ(d.devices_online(), 0u);
  EXPECT_TRUE(d.unbind(client("x")).empty());
  EXPECT_TRUE(d.unbind("never-seen").empty());
}

TEST(directory_core, presence_per_device_and_per_user) {
  directory_core d;
  d.add_user(user("alice"));
  d.bind(client("alice"), "alice", t0);
  d.bind(client("alice", "laptop"), "alice", t0);
  EXPECT_TRUE(d.user_online("alice"));
  EXPECT_EQ(d.devices_online(), 2u);

  // One device goes: the device row changes, the user stays online.
  changeset cs;
  auto change = d.set_presence(client("alice"), false, t0 + 1, cs);
  EXPECT_FALSE(change.has_value());
  EXPECT_EQ(describe(cs), names{"put_device:" + client("alice") + ":alice:off"});
  EXPECT_TRUE(d.user_online("alice"));
  EXPECT_EQ(d.devices_online(), 1u);

  // The same presence again: nothing to persist, no change.
  changeset same;
  EXPECT_FALSE(d.set_presence(client("alice"), false, t0 + 2, same).has_value());
  EXPECT_TRUE(same.empty());

  // The last device goes: the user flips offline.
  changeset cs2;
  change = d.set_presence(client("alice", "laptop"), false, t0 + 3, cs2);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->user, "alice");
  EXPECT_FALSE(change->online);
  EXPECT_EQ(cs2.changes.size(), 1u);
  EXPECT_FALSE(d.user_online("alice"));
  EXPECT_EQ(d.devices_online(), 0u);

  // One comes back: the user flips online; the second one does not flip it again.
  changeset cs3;
  change = d.set_presence(client("alice", "laptop"), true, t0 + 4, cs3);
  ASSERT_TRUE(change.has_value());
  EXPECT_TRUE(change->online);
  changeset cs4;
  EXPECT_FALSE(d.set_presence(client("alice"), true, t0 + 5, cs4).has_value());
  EXPECT_EQ(cs4.changes.size(), 1u);
  EXPECT_EQ(d.devices_online(), 2u);

  // An unbound device: nothing.
  changeset none;
  EXPECT_FALSE(d.set_presence("stranger", true, t0, none).has_value());
  EXPECT_FALSE(d.set_presence("stranger", false, t0, none).has_value());
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(d.user_online("zoe"));
}

TEST(directory_core, devices_of_filters) {
  directory_core d;
  d.bind(client("alice", "a"), "alice", t0);
  d.bind(client("alice", "b"), "alice", t0);
  d.bind(client("alice", "c"), "alice", t0);
  changeset cs;
  d.set_presence(client("alice", "b"), false, t0, cs);
  struct row {
    bool online_only;
    std::string except;
    names want;
  };
  std::vector<row> table{
    {false, "", {client("alice", "a"), client("alice", "b"), client("alice", "c")}},
    {true, "", {client("alice", "a"), client("alice", "c")}},
    {false, client("alice", "a"), {client("alice", "b"), client("alice", "c")}},
    {true, client("alice", "c"), {client("alice", "a")}},
    {true, client("alice", "b"), {client("alice", "a"), client("alice", "c")}},
    {false, "someone-else", {client("alice", "a"), client("alice", "b"), client("alice", "c")}},
  };
  for (auto& r : table)
    EXPECT_EQ(sorted(d.devices_of("alice", r.online_only, r.except)), sorted(r.want))
      << r.online_only << " " << r.except;
  EXPECT_TRUE(d.devices_of("zoe", false).empty());
}

// -- meetings -----------------------------------------------------------------------------

TEST(directory_core, reserve_forget_apply_meetings) {
  directory_core d;
  d.reserve_meeting("m-1", "alice", t0);
  auto e = d.find_meeting("m-1");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->creating);
  EXPECT_EQ(e->summary.host, "alice");
  // Reservations are not listed or counted.
  EXPECT_TRUE(d.list_meetings(list_filter()).meetings.empty());
  EXPECT_EQ(d.meeting_count(meeting_status::active), 0u);
  d.forget_meeting("m-1");
  EXPECT_EQ(d.find_meeting("m-1"), nullptr);
  d.forget_meeting("m-1"); // harmless

  d.reserve_meeting("m-2", "alice", t0);
  d.apply(summary("m-2", "alice", meeting_status::active, {{"alice", true}}, 1));
  e = d.find_meeting("m-2");
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->creating);
  EXPECT_EQ(e->summary.title, "t-m-2");
  EXPECT_EQ(e->ringing, 1);
  EXPECT_EQ(d.meetings_of("alice"), names{"m-2"});
  EXPECT_EQ(d.meeting_count(meeting_status::active), 1u);
  EXPECT_EQ(d.participant_count(), 1u);
  EXPECT_EQ(d.ringing_count(), 1u);
  d.apply(summary("m-2", "alice", meeting_status::active, {{"bob", true}}, 0));
  EXPECT_EQ(d.participant_count(), 2u);
  EXPECT_EQ(d.ringing_count(), 0u);
  d.apply(summary("m-2", "bob", meeting_status::active, {{"alice", false}}));
  EXPECT_TRUE(d.meetings_of("alice").empty());
  EXPECT_EQ(d.meetings_of("bob"), names{"m-2"});
  // Leaving a meeting one is not in is harmless.
  d.apply(summary("m-2", "bob", meeting_status::active, {{"zoe", false}}));
  EXPECT_EQ(d.participant_count(), 1u);
  // A failed creation forgets the members too.
  d.forget_meeting("m-2");
  EXPECT_TRUE(d.meetings_of("bob").empty());
  EXPECT_EQ(d.participant_count(), 0u);
}

TEST(directory_core, facts_exists_busy_online) {
  directory_core d;
  for (auto u : {"alice", "bob", "carol"})
    d.add_user(user(u));
  d.bind(client("alice"), "alice", t0);
  d.bind(client("bob"), "bob", t0);
  changeset cs;
  d.set_presence(client("bob"), false, t0, cs);
  d.apply(summary("m-1", "alice", meeting_status::active, {{"alice", true}}));
  auto f = d.facts({"alice", "bob", "carol", "zoe"}, "m-2");
  ASSERT_EQ(f.size(), 4u);
  struct want {
    const char* user;
    bool exists, busy, online;
  };
  std::vector<want> table{{"alice", true, true, true},
                          {"bob", true, false, false},
                          {"carol", true, false, false},
                          {"zoe", false, false, false}};
  for (std::size_t i = 0; i < table.size(); ++i) {
    SCOPED_TRACE(table[i].user);
    EXPECT_EQ(f[i].user, table[i].user);
    EXPECT_EQ(f[i].exists, table[i].exists);
    EXPECT_EQ(f[i].busy, table[i].busy);
    EXPECT_EQ(f[i].online, table[i].online);
  }
  // Busy means a member of ANOTHER meeting: not of the one asking.
  EXPECT_FALSE(d.facts({"alice"}, "m-1")[0].busy);
  d.apply(summary("m-3", "carol", meeting_status::active, {{"alice", true}}));
  EXPECT_TRUE(d.facts({"alice"}, "m-1")[0].busy);
  // Leaving both: free again.
  d.apply(summary("m-1", "alice", meeting_status::active, {{"alice", false}}));
  d.apply(summary("m-3", "carol", meeting_status::active, {{"alice", false}}));
  EXPECT_FALSE(d.facts({"alice"}, "m-2")[0].busy);
  EXPECT_TRUE(d.facts({}, "m-1").empty());
}

TEST(directory_core, busy_follows_the_meeting_core) {
  // The directory fed with what the meeting core reports, end to end.
  meeting_settings s;
  s.app_id = "app";
  int n = 0;
  core_context ctx{t0, &s, [&n] { return "s" + std::to_string(++n); }};
  directory_core d;
  for (auto u : {"alice", "bob", "carol"}) {
    d.add_user(user(u));
    d.bind(client(u), u, t0);
  }
  meeting m;
  proto::command create;
  create.kind = proto::command_kind::meeting_create;
  create.users = {"bob"};
  d.reserve_meeting("m-1", "alice", t0);
  auto fx = create_meeting(m, "m-1", channel_info{"m-1", "k", "n", 1}, caller{"alice", client("alice"), false},
                           create, d.facts(create.users, "m-1"), ctx);
  d.apply(update_of(m, fx.memberships));
  EXPECT_EQ(d.ringing_count(), 1u);
  EXPECT_TRUE(d.facts({"alice"}, "m-2")[0].busy);
  EXPECT_FALSE(d.facts({"bob"}, "m-2")[0].busy);
  auto accept = on_meeting(proto::command_kind::call_accept, "m-1");
  fx = handle_command(m, caller{"bob", client("bob"), false}, accept, {}, ctx);
  d.apply(update_of(m, fx.memberships));
  EXPECT_TRUE(d.facts({"bob"}, "m-2")[0].busy);
  EXPECT_EQ(d.ringing_count(), 0u);
  EXPECT_EQ(d.participant_count(), 2u);
  EXPECT_EQ(d.find_meeting("m-1")->summary.participants, 2);
  // Another meeting sees bob busy when inviting him.
  meeting m2;
  proto::command create2;
  create2.kind = proto::command_kind::meeting_create;
  create2.users = {"bob"};
  auto fx2 = create_meeting(m2, "m-2", channel_info{"m-2", "k", "n", 1},
                            caller{"carol", client("carol"), false}, create2,
                            d.facts(create2.users, "m-2"), ctx);
  auto data = std::get<proto::create_data>(fx2.reply->data);
  ASSERT_EQ(data.invitations.size(), 1u);
  EXPECT_EQ(data.invitations[0].status, "busy");
  d.apply(update_of(m2, fx2.memberships));
  // The end frees everyone.
  auto end = on_meeting(proto::command_kind::meeting_end, "m-1");
  fx = handle_command(m, caller{"alice", client("alice"), false}, end, {}, ctx);
  d.apply(update_of(m, fx.memberships));
  EXPECT_FALSE(d.facts({"alice"}, "m-9")[0].busy);
  EXPECT_FALSE(d.facts({"bob"}, "m-9")[0].busy);
  EXPECT_EQ(d.meeting_count(meeting_status::ended), 1u);
  EXPECT_EQ(d.meeting_count(meeting_status::active), 1u);
  EXPECT_EQ(d.participant_count(), 1u); // carol in m-2
}

TEST(directory_core, restore_meetings) {
  meeting_settings s;
  int n = 0;
  core_context ctx{t0, &s, [&n] { return "s" + std::to_string(++n); }};
  meeting m;
  proto::command create;
  create.kind = proto::command_kind::meeting_create;
  create_meeting(m, "m-1", channel_info{"m-1", "k", "n", 1}, caller{"alice", "c-a", false}, create, {},
                 ctx);
  auto join = on_meeting(proto::command_kind::meeting_join, "m-1");
  handle_command(m, caller{"bob", "c-b", false}, join, {}, ctx);
  handle_command(m, caller{"carol", "c-c", false}, join, {}, ctx);
  auto leave = on_meeting(proto::command_kind::meeting_leave, "m-1");
  handle_command(m, caller{"carol", "c-c", false}, leave, {}, ctx);

  directory_core d;
  d.restore_meeting(m);
  EXPECT_EQ(d.meetings_of("alice"), names{"m-1"});
  EXPECT_EQ(d.meetings_of("bob"), names{"m-1"});
  EXPECT_TRUE(d.meetings_of("carol").empty());
  auto e = d.find_meeting("m-1");
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->creating);
  EXPECT_EQ(e->summary.host, "alice");
  EXPECT_EQ(e->summary.participants, 2);

  // An ended meeting restores without members.
  auto end = on_meeting(proto::command_kind::meeting_end, "m-1");
  handle_command(m, caller{"alice", "c-a", false}, end, {}, ctx);
  directory_core d2;
  d2.restore_meeting(m);
  EXPECT_TRUE(d2.meetings_of("alice").empty());
  EXPECT_EQ(d2.meeting_count(meeting_status::ended), 1u);

  // restore_ended: from the meeting row alone.
  directory_core d3;
  meeting_record r;
  r.id = "m-old";
  r.title = "old";
  r.creator = "alice";
  r.status = meeting_status::ended;
  r.created_at = t0;
  r.expires_at = t0 + 1000;
  r.ended_at = t0 + 500;
  r.end_reason = "idle";
  d3.restore_ended(r);
  auto old = d3.find_meeting("m-old");
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->summary.status, meeting_status::ended);
  EXPECT_EQ(old->summary.title, "old");
  EXPECT_EQ(old->summary.created_at, t0 / 1000);
  EXPECT_EQ(old->ended_at, t0 + 500);
  EXPECT_EQ(old->end_reason, "idle");
  EXPECT_EQ(d3.meeting_count(meeting_status::ended), 1u);
  EXPECT_EQ(ids(d3.list_meetings(list_filter(meeting_status::ended))), names{"m-old"});
}

TEST(directory_core, list_meetings_filters_and_pages) {
  directory_core d;
  d.apply(summary("m-1", "alice", meeting_status::active, {{"alice", true}, {"bob", true}}));
  d.apply(summary("m-2", "carol", meeting_status::active, {{"carol", true}}));
  d.apply(summary("m-3", "alice", meeting_status::ended, {}, 0, t0 + 10));
  d.apply(summary("m-4", "dave", meeting_status::active, {{"dave", true}, {"alice", true}}));
  d.apply(summary("m-5", "erin", meeting_status::ended, {}, 0, t0 + 20));
  d.reserve_meeting("m-6", "alice", t0);
  struct row {
    const char* name;
    proto::command filter;
    names want;
    std::optional<std::string> next;
  };
  std::vector<row> table{
    {"all", list_filter(), {"m-1", "m-2", "m-3", "m-4", "m-5"}, std::nullopt},
    {"active", list_filter(meeting_status::active), {"m-1", "m-2", "m-4"}, std::nullopt},
    {"ended", list_filter(meeting_status::ended), {"m-3", "m-5"}, std::nullopt},
    {"alice: host or member", list_filter({}, "alice"), {"m-1", "m-3", "m-4"}, std::nullopt},
    {"bob: member", list_filter({}, "bob"), {"m-1"}, std::nullopt},
    {"alice active", list_filter(meeting_status::active, "alice"), {"m-1", "m-4"},
     std::nullopt},
    {"nobody", list_filter({}, "zoe"), {}, std::nullopt},
    {"page 1", list_filter({}, {}, 2), {"m-1", "m-2"}, "m-2"},
    {"page 2", list_filter({}, {}, 2, "m-2"), {"m-3", "m-4"}, "m-4"},
    {"page 3", list_filter({}, {}, 2, "m-4"), {"m-5"}, std::nullopt},
    {"exact page", list_filter({}, {}, 5), {"m-1", "m-2", "m-3", "m-4", "m-5"}, std::nullopt},
    {"active paged", list_filter(meeting_status::active, {}, 2), {"m-1", "m-2"}, "m-2"},
    {"active page 2", list_filter(meeting_status::active, {}, 2, "m-2"), {"m-4"},
     std::nullopt},
    {"ended paged", list_filter(meeting_status::ended, {}, 1), {"m-3"}, "m-3"},
    {"ended page 2", list_filter(meeting_status::ended, {}, 1, "m-3"), {"m-5"}, std::nullopt},
    {"alice paged", list_filter({}, "alice", 2), {"m-1", "m-3"}, "m-3"},
    {"alice page 2", list_filter({}, "alice", 2, "m-3"), {"m-4"}, std::nullopt},
    {"past the end", list_filter({}, {}, 2, "m-9"), {}, std::nullopt},
  };
  for (auto& r : table) {
    SCOPED_TRACE(r.name);
    auto page = d.list_meetings(r.filter);
    EXPECT_EQ(ids(page), r.want);
    EXPECT_EQ(page.next_after, r.next);
  }
  auto page = d.list_meetings(list_filter({}, {}, {}, std::string{"m-3"}));
  ASSERT_EQ(page.meetings.size(), 2u);
  EXPECT_EQ(page.meetings[0].host, "dave");
  EXPECT_EQ(page.meetings[0].participants, 2);
}

TEST(directory_core, counts_and_pruning) {
  directory_core d;
  d.apply(summary("m-1", "alice", meeting_status::active, {{"alice", true}, {"bob", true}}, 2));
  d.apply(summary("m-2", "carol", meeting_status::active, {{"carol", true}}, 1));
  d.apply(summary("m-3", "dave", meeting_status::ended, {}, 0, t0 + 100));
  d.apply(summary("m-4", "erin", meeting_status::ended, {}, 0, t0 + 200));
  EXPECT_EQ(d.meeting_count(meeting_status::active), 2u);
  EXPECT_EQ(d.meeting_count(meeting_status::ended), 2u);
  EXPECT_EQ(d.participant_count(), 3u);
  EXPECT_EQ(d.ringing_count(), 3u);
  // Only ended meetings that ended strictly before the cutoff go.
  d.prune_ended(t0 + 100);
  EXPECT_NE(d.find_meeting("m-3"), nullptr);
  d.prune_ended(t0 + 101);
  EXPECT_EQ(d.find_meeting("m-3"), nullptr);
  EXPECT_NE(d.find_meeting("m-4"), nullptr);
  d.prune_ended(t0 + 1'000'000);
  EXPECT_EQ(d.find_meeting("m-4"), nullptr);
  EXPECT_NE(d.find_meeting("m-1"), nullptr);
  EXPECT_NE(d.find_meeting("m-2"), nullptr);
  EXPECT_EQ(d.meeting_count(meeting_status::ended), 0u);
  EXPECT_EQ(d.meeting_count(meeting_status::active), 2u);
}

// -- bad logins -------------------------------------------------------------------------

// The throttle itself is tested in login_rules_test.cpp; here, how the
// directory applies it: per client and per account.

TEST(directory_core, failed_logins_from_many_clients_slow_down_the_account) {
  directory_core d;
  d.add_user(user("alice"));
  // Forty guesses from forty client ids: each client is fresh, the account is not.
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    auto c = client("mallory", "bot" + std::to_string(i));
    if (d.login_wait(c, "alice", t0).has_value()) {
      ++refused;
      continue;
    }
    d.login_failed(c, "alice", t0);
  }
  EXPECT_EQ(refused, 35) << "5 free failures for the account, then it waits";
  // Another account is not slowed by alice's.
  EXPECT_FALSE(d.login_wait(client("mallory", "bot0"), "bob", t0).has_value());
}

TEST(directory_core, a_device_bound_to_the_account_is_not_held_back_by_others) {
  directory_core d;
  d.add_user(user("alice"));
  d.bind(client("alice"), "alice", t0);
  for (int i = 0; i < 10; ++i)
    d.login_failed(client("mallory", "bot" + std::to_string(i)), "alice", t0);
  EXPECT_TRUE(d.login_wait(client("carol"), "alice", t0).has_value());
  EXPECT_FALSE(d.login_wait(client("alice"), "alice", t0).has_value())
    << "alice's own phone logs in again while strangers guess her password";
}

TEST(directory_core, a_success_resets_the_client_and_the_account) {
  directory_core d;
  d.add_user(user("alice"));
  auto c = client("alice");
  for (int i = 0; i < 6; ++i)
    d.login_failed(c, "alice", t0);
  EXPECT_TRUE(d.login_wait(c, "alice", t0).has_value());
  EXPECT_TRUE(d.login_wait(client("other"), "alice", t0).has_value());
  auto rows = d.login_succeeded(c, "alice");
  ASSERT_EQ(rows.changes.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<change::delete_login_failures>(rows.changes[0]));
  EXPECT_FALSE(d.login_wait(c, "alice", t0).has_value());
  EXPECT_FALSE(d.login_wait(client("other"), "alice", t0).has_value());
}

TEST(directory_core, only_real_accounts_keep_their_failures_in_the_database) {
  directory_core d;
  d.add_user(user("alice"));
  auto rows = d.login_failed(client("m"), "alice", t0);
  ASSERT_EQ(rows.changes.size(), 1u);
  auto& put = std::get<change::put_login_failures>(rows.changes[0]);
  EXPECT_EQ(put.row.account, "alice");
  EXPECT_EQ(put.row.failures, 1);
  EXPECT_EQ(put.row.last_failed_at, t0);
  EXPECT_TRUE(d.login_failed(client("m"), "nobody", t0).empty())
    << "made-up names must not grow the database";
  // Yet unknown names are throttled all the same: the answer does not tell.
  for (int i = 0; i < 5; ++i)
    d.login_failed(client("m", std::to_string(i)), "nobody", t0);
  EXPECT_TRUE(d.login_wait(client("x"), "nobody", t0).has_value());
}

TEST(directory_core, restored_failures_keep_throttling_and_decay_with_their_rows) {
  directory_core d;
  d.add_user(user("alice"));
  d.restore_login_failures({"alice", 9, t0});
  EXPECT_TRUE(d.login_wait(client("x"), "alice", t0 + 1000).has_value());
  EXPECT_TRUE(d.prune_logins(t0 + 1000).empty());
  auto later = t0 + std::chrono::milliseconds{15min}.count() + 1;
  auto rows = d.prune_logins(later);
  ASSERT_EQ(rows.changes.size(), 1u);
  EXPECT_EQ(std::get<change::delete_login_failures>(rows.changes[0]).account, "alice");
  EXPECT_FALSE(d.login_wait(client("x"), "alice", later).has_value());
}

// -- removed users -------------------------------------------------------------------------

TEST(directory_core, a_removed_user_is_remembered_until_pruned_and_readding_forgets_it) {
  directory_core d;
  d.add_user(user("alice"));
  d.bind(client("alice"), "alice", t0);
  d.login_failed(client("m"), "alice", t0);
  auto rows = d.remove_user("alice", t0 + 5);
  EXPECT_EQ(d.removed_at("alice"), std::optional<unix_ms>{t0 + 5});
  bool put_removed = false, dropped_failures = false, dropped_replies = false;
  for (auto& c : rows.changes) {
    if (auto* p = std::get_if<change::put_removed_user>(&c))
      put_removed = p->row.user == "alice" && p->row.removed_at == t0 + 5;
    dropped_failures |= std::holds_alternative<change::delete_login_failures>(c);
    if (auto* r = std::get_if<change::delete_requests_of>(&c))
      dropped_replies = r->client == client("alice");
  }
  EXPECT_TRUE(put_removed);
  EXPECT_TRUE(dropped_failures);
  EXPECT_TRUE(dropped_replies) << "a duplicate must not replay a removed user's reply";

  EXPECT_TRUE(d.prune_removed(t0 + 5).empty());
  auto pruned = d.prune_removed(t0 + 6);
  ASSERT_EQ(pruned.changes.size(), 1u);
  EXPECT_EQ(std::get<change::delete_removed_user>(pruned.changes[0]).user, "alice");
  EXPECT_FALSE(d.removed_at("alice"));

  d.restore_removed({"bob", t0});
  auto added = d.add_user(user("bob"));
  EXPECT_FALSE(d.removed_at("bob"));
  ASSERT_EQ(added.changes.size(), 2u);
  EXPECT_EQ(std::get<change::delete_removed_user>(added.changes[0]).user, "bob");
}

TEST(directory_core, unbinding_or_rebinding_a_device_forgets_its_stored_replies) {
  directory_core d;
  auto c = client("shared", "tablet");
  d.bind(c, "alice", t0);
  auto same = d.bind(c, "alice", t0 + 1);
  for (auto& x : same.changes)
    EXPECT_FALSE(std::holds_alternative<change::delete_requests_of>(x))
      << "logging in again as the same user keeps the replies";
  auto other = d.bind(c, "bob", t0 + 2);
  ASSERT_FALSE(other.changes.empty());
  EXPECT_EQ(std::get<change::delete_requests_of>(other.changes[0]).client, c);
  EXPECT_TRUE(d.devices_of("alice", false).empty());
  auto out = d.unbind(c);
  ASSERT_EQ(out.changes.size(), 2u);
  EXPECT_EQ(std::get<change::delete_requests_of>(out.changes[1]).client, c);
}

// -- what one user may cost ----------------------------------------------------------------

TEST(directory_core, a_user_may_have_so_many_active_meetings) {
  abuse_limits limits;
  limits.meetings_per_user = 2;
  limits.creates_per_minute = 0;
  directory_core d{{}, limits};
  EXPECT_FALSE(d.may_create("alice", 0, t0));
  d.reserve_meeting("m-1", "alice", t0);
  d.apply(summary("m-1", "alice", meeting_status::active, {{"alice", true}}));
  d.reserve_meeting("m-2", "alice", t0);
  EXPECT_EQ(d.meetings_created_by("alice"), 2) << "a reservation counts";
  auto refused = d.may_create("alice", 0, t0);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, 429);
  EXPECT_EQ(refused->reason, "limit:meetings");
  EXPECT_NE(refused->message.find("--max-meetings-per-user"), std::string::npos);
  EXPECT_FALSE(d.may_create("bob", 0, t0)) << "per user";
  // A failed creation and an ended meeting free their place.
  d.forget_meeting("m-2");
  EXPECT_FALSE(d.may_create("alice", 0, t0));
  d.reserve_meeting("m-3", "alice", t0);
  EXPECT_TRUE(d.may_create("alice", 0, t0));
  d.apply(summary("m-1", "alice", meeting_status::ended, {{"alice", false}}));
  EXPECT_FALSE(d.may_create("alice", 0, t0));
  EXPECT_EQ(d.meetings_created_by("alice"), 1);
}

TEST(directory_core, recovered_meetings_count_toward_their_creator) {
  abuse_limits limits;
  limits.meetings_per_user = 1;
  directory_core d{{}, limits};
  meeting m;
  m.id = "m-1";
  m.creator = "alice";
  m.status = meeting_status::active;
  d.restore_meeting(m);
  EXPECT_EQ(d.meetings_created_by("alice"), 1);
  EXPECT_TRUE(d.may_create("alice", 0, t0));
  meeting ended = m;
  ended.id = "m-2";
  ended.status = meeting_status::ended;
  d.restore_meeting(ended);
  EXPECT_EQ(d.meetings_created_by("alice"), 1) << "an ended meeting costs nothing";
}

TEST(directory_core, a_user_may_create_so_many_meetings_a_minute) {
  abuse_limits limits;
  limits.meetings_per_user = 0;
  limits.creates_per_minute = 3;
  directory_core d{{}, limits};
  d.count_create("alice", t0);
  d.count_create("alice", t0 + 10'000);
  d.count_create("alice", t0 + 20'000);
  auto refused = d.may_create("alice", 0, t0 + 30'000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, "limit:creates");
  EXPECT_EQ(refused->retry_after_ms, std::optional<std::int64_t>{30'000})
    << "when the oldest create leaves the minute";
  EXPECT_FALSE(d.may_create("alice", 0, t0 + 60'001));
  EXPECT_FALSE(d.may_create("bob", 0, t0 + 30'000));
  d.prune_creates(t0 + 80'001);
  EXPECT_FALSE(d.may_create("alice", 0, t0 + 30'000)) << "pruned: nothing remembered";
}

TEST(directory_core, one_call_may_ring_so_many_users) {
  abuse_limits limits;
  limits.invitees_per_call = 3;
  directory_core d{{}, limits};
  EXPECT_FALSE(d.may_invite(3));
  auto refused = d.may_invite(4);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, 429);
  EXPECT_EQ(refused->reason, "limit:invitees");
  EXPECT_TRUE(d.may_create("alice", 4, t0)) << "a create rings its invitees too";
  limits.invitees_per_call = 0;
  directory_core unlimited{{}, limits};
  EXPECT_FALSE(unlimited.may_invite(1000));
}

TEST(directory_core, a_user_may_have_so_many_devices_and_the_quietest_offline_one_makes_room) {
  abuse_limits limits;
  limits.devices_per_user = 2;
  directory_core d{{}, limits};
  d.bind(client("alice", "a"), "alice", t0);
  EXPECT_FALSE(d.room_for_device("alice", client("alice", "b")).evict);
  d.bind(client("alice", "b"), "alice", t0 + 1);
  // Both online: a third is refused.
  auto room = d.room_for_device("alice", client("alice", "c"));
  EXPECT_FALSE(room.evict);
  ASSERT_TRUE(room.refusal);
  EXPECT_EQ(room.refusal->reason, "limit:devices");
  // A device already bound needs no room.
  room = d.room_for_device("alice", client("alice", "a"));
  EXPECT_FALSE(room.evict || room.refusal);
  // Offline devices make room, the longest-silent first.
  changeset rows;
  d.set_presence(client("alice", "b"), false, t0 + 10, rows);
  d.set_presence(client("alice", "a"), false, t0 + 20, rows);
  room = d.room_for_device("alice", client("alice", "c"));
  EXPECT_FALSE(room.refusal);
  EXPECT_EQ(room.evict, std::optional<std::string>{client("alice", "b")});
}

} // namespace
