// Tests of gateway/codec and actors/core/protocol: every command decodes with
// its args, every malformed message gets its code and reason
// (docs/protocol.md), the args table round-trips every command, everything
// the node encodes decodes back (a reply as the answer to the command sent,
// and not as another's), and the shapes of a credentials reply and of an
// event are pinned byte for byte.
#include "actors/core/refusals.hpp"
#include "gateway/codec.hpp"
#include "actors/core/meeting_state.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace meetingd;
using namespace meetingd::codec;
using proto::command_kind;
using json = nlohmann::json;

namespace {

auto fields(const proto::command& c) {
  return std::tie(c.kind, c.meeting, c.user, c.password, c.ticket, c.title,
                  c.display_name, c.reason, c.users, c.requested_id,
                  c.max_participants, c.policy, c.new_role, c.audio, c.video,
                  c.event, c.state, c.limit, c.after);
}

bool same(const proto::command& a, const proto::command& b) {
  return fields(a) == fields(b);
}

std::string describe(const decoded& d) {
  if (d.request)
    return "request " + std::string{proto::to_string(d.request->cmd.kind)};
  if (d.error)
    return std::to_string(d.error->code) + " " + d.error->reason + " ("
           + d.error->message + ")";
  return "nothing";
}

/// Builds an uplink message around `args`.
std::string msg(const std::string& type, const json& args, const std::string& id = "r-1") {
  json j = {{"id", id}, {"type", type}};
  if (!args.is_null())
    j["args"] = args;
  return j.dump();
}

const std::vector<command_kind> all_kinds = [] {
  std::vector<command_kind> xs;
  for (int i = 0; i <= static_cast<int>(proto::last_command_kind); ++i)
    xs.push_back(static_cast<command_kind>(i));
  return xs;
}();

const std::vector<proto::event_kind> all_event_kinds = [] {
  std::vector<proto::event_kind> xs;
  for (int i = 0; i <= static_cast<int>(proto::event_kind::token_expiring); ++i)
    xs.push_back(static_cast<proto::event_kind>(i));
  return xs;
}();

} // namespace

// -- protocol.cpp ---------------------------------------------------------------

TEST(protocol_names, enums_round_trip) {
  for (auto x : {role::host, role::cohost, role::member})
    EXPECT_EQ(parse_role(to_string(x)), x);
  EXPECT_STREQ(to_string(role::cohost), "cohost");
  EXPECT_EQ(parse_invite_policy("hosts"), invite_policy::hosts);
  EXPECT_STREQ(to_string(invite_policy::anyone), "anyone");
  for (auto x : {participant_status::joined, participant_status::left,
                 participant_status::kicked})
    EXPECT_EQ(parse_participant_status(to_string(x)), x);
  EXPECT_STREQ(to_string(invitation_status::timed_out), "timed_out");
  for (auto x : {invitation_status::ringing, invitation_status::accepted,
                 invitation_status::declined, invitation_status::canceled,
                 invitation_status::timed_out})
    EXPECT_EQ(parse_invitation_status(to_string(x)), x);
  EXPECT_EQ(parse_meeting_status("ended"), meeting_status::ended);
  EXPECT_STREQ(to_string(meeting_status::active), "active");
  std::vector<std::string> sdk{"joined",      "left",          "network_lost",
                               "network_recovered", "audio_muted",
                               "audio_unmuted", "video_muted", "video_unmuted"};
  for (std::size_t i = 0; i < sdk.size(); ++i) {
    auto x = parse_sdk_event(sdk[i]);
    ASSERT_TRUE(x) << sdk[i];
    EXPECT_EQ(static_cast<std::size_t>(*x), i);
    EXPECT_EQ(to_string(*x), sdk[i]);
  }
  EXPECT_FALSE(parse_role("owner"));
  EXPECT_FALSE(parse_role("Host"));
  EXPECT_FALSE(parse_sdk_event(""));
  EXPECT_STREQ(to_string(token_scheme::appkey), "appkey");
  EXPECT_EQ(parse_token_scheme("channel"), token_scheme::channel);
  EXPECT_FALSE(parse_token_scheme("other"));
}

TEST(protocol_names, command_kinds) {
  EXPECT_STREQ(proto::to_string(command_kind::auth_login), "auth.login");
  EXPECT_STREQ(proto::to_string(command_kind::moderate_mute_all), "moderate.mute_all");
  EXPECT_STREQ(proto::to_string(command_kind::admin_meetings_list), "admin.meetings.list");
  EXPECT_STREQ(proto::to_string(command_kind::admin_nodes), "admin.nodes");
  EXPECT_STREQ(proto::to_string(command_kind::admin_meeting_get), "admin.meeting.get");
  EXPECT_STREQ(proto::to_string(command_kind::admin_user_add), "admin.user.add");
  EXPECT_STREQ(proto::to_string(command_kind::admin_users_list), "admin.users.list");
  EXPECT_STREQ(proto::to_string(command_kind::rtc_event), "rtc.event");
  int admin = 0;
  for (auto k : all_kinds) {
    EXPECT_EQ(proto::parse_command_kind(proto::to_string(k)), k);
    std::string name = proto::to_string(k);
    EXPECT_EQ(proto::is_admin_command(k), name.rfind("admin.", 0) == 0) << name;
    admin += proto::is_admin_command(k);
  }
  EXPECT_EQ(admin, 15);
  // admin.nodes only reads, and the directory answers it, as admin.stats.
  EXPECT_FALSE(proto::changes_state(command_kind::admin_nodes));
  EXPECT_FALSE(proto::reads_meeting(command_kind::admin_nodes));
  EXPECT_EQ(proto::scope_of(command_kind::admin_nodes), proto::command_scope::directory);
  EXPECT_FALSE(proto::parse_command_kind("admin"));
  EXPECT_FALSE(proto::parse_command_kind("meeting.create "));
}

TEST(protocol_names, event_kinds) {
  EXPECT_STREQ(proto::to_string(proto::event_kind::invite), "event.invite");
  EXPECT_STREQ(proto::to_string(proto::event_kind::answered_elsewhere),
               "event.answered_elsewhere");
  EXPECT_STREQ(proto::to_string(proto::event_kind::token_expiring),
               "event.token_expiring");
  for (auto k : all_event_kinds)
    EXPECT_EQ(proto::parse_event_kind(proto::to_string(k)), k);
  EXPECT_FALSE(proto::parse_event_kind("invite"));
}

TEST(protocol_names, fail_builds_error_reply) {
  auto r = proto::fail("r-9", 403, "not_host", "only the host may end the meeting");
  EXPECT_EQ(r.id, "r-9");
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.reason, "not_host");
  EXPECT_EQ(r.message, "only the host may end the meeting");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.data));
  EXPECT_FALSE(proto::fail(std::nullopt, 400, "bad_json", "").id);
}

// -- ids ------------------------------------------------------------------------

TEST(codec_ids, request_and_entity_ids) {
  const std::vector<std::string> good_request_ids{"r-17", "a:b.c_d-e", std::string(64, 'x')};
  const std::vector<std::string> bad_request_ids{std::string(65, 'x'), "", "a@b", "a b"};
  const std::vector<std::string> good_entity_ids{"alice@example.com", "m-8f3a_x.y",
                                                 std::string(64, 'u')};
  const std::vector<std::string> bad_entity_ids{
    std::string(65, 'u'),     "",           "a:b", "../etc/passwd", "'; DROP TABLE users;--",
    "us\xC3\xA9r" /* é */, std::string("a\0b", 3)};
  for (auto& id : good_request_ids)
    EXPECT_TRUE(valid_request_id(id)) << ::testing::PrintToString(id);
  for (auto& id : bad_request_ids)
    EXPECT_FALSE(valid_request_id(id)) << ::testing::PrintToString(id);
  for (auto& id : good_entity_ids)
    EXPECT_TRUE(valid_entity_id(id)) << ::testing::PrintToString(id);
  for (auto& id : bad_entity_ids)
    EXPECT_FALSE(valid_entity_id(id)) << ::testing::PrintToString(id);
}

// -- decode_request: every command ----------------------------------------------

namespace {

struct valid_case {
  std::string payload;
  proto::command expected;
};

proto::command cmd(command_kind k) {
  proto::command c;
  c.kind = k;
  return c;
}

std::vector<valid_case> valid_cases() {
  std::vector<valid_case> xs;
  auto add = [&xs](std::string type, json args, proto::command c) {
    xs.push_back({msg(type, args), std::move(c)});
  };
  using k = command_kind;
  {
    auto c = cmd(k::auth_login);
    c.user = "alice";
    c.password = "s3cret";
    add("auth.login", {{"user", "alice"}, {"password", "s3cret"}}, c);
    c.password.reset();
    c.ticket = "alice.1764000000.abcdef";
    add("auth.login", {{"user", "alice"}, {"ticket", "alice.1764000000.abcdef"}}, c);
  }
  add("auth.logout", nullptr, cmd(k::auth_logout));
  add("admin.ping", nullptr, cmd(k::admin_ping));
  add("admin.stats", json::object(), cmd(k::admin_stats));
  add("admin.nodes", json::object(), cmd(k::admin_nodes));
  add("admin.nodes", nullptr, cmd(k::admin_nodes));
  {
    add("meeting.create", nullptr, cmd(k::meeting_create));
    auto c = cmd(k::meeting_create);
    c.title = "standup";
    c.users = {"bob", "carol"};
    c.requested_id = "m-42";
    c.max_participants = 8;
    c.policy = invite_policy::hosts;
    add("meeting.create",
        {{"title", "standup"},
         {"invitees", {"bob", "carol", "bob"}},
         {"meeting", "m-42"},
         {"max_participants", 8},
         {"invite_policy", "hosts"},
         {"future_arg", {1, 2, 3}}},
        c);
  }
  for (auto [type, kind] : std::vector<std::pair<std::string, k>>{
         {"meeting.join", k::meeting_join},
         {"meeting.leave", k::meeting_leave},
         {"meeting.end", k::meeting_end},
         {"meeting.get", k::meeting_get},
         {"meeting.renew", k::meeting_renew},
         {"call.ringing", k::call_ringing},
         {"call.accept", k::call_accept},
         {"moderate.lock", k::moderate_lock},
         {"moderate.unlock", k::moderate_unlock},
         {"admin.meeting.get", k::admin_meeting_get},
         {"admin.lock", k::admin_lock},
         {"admin.unlock", k::admin_unlock}}) {
    auto c = cmd(kind);
    c.meeting = "m-1";
    add(type, {{"meeting", "m-1"}}, c);
  }
  {
    auto c = cmd(k::call_invite);
    c.meeting = "m-1";
    c.users = {"bob"};
    add("call.invite", {{"meeting", "m-1"}, {"users", {"bob", "bob"}}}, c);
  }
  {
    auto c = cmd(k::call_cancel);
    c.meeting = "m-1";
    add("call.cancel", {{"meeting", "m-1"}}, c);
    add("call.cancel", {{"meeting", "m-1"}, {"users", json::array()}}, c);
    c.users = {"bob", "carol"};
    add("call.cancel", {{"meeting", "m-1"}, {"users", {"bob", "carol"}}}, c);
  }
  {
    auto c = cmd(k::call_decline);
    c.meeting = "m-1";
    add("call.decline", {{"meeting", "m-1"}}, c);
    c.reason = "busy right now";
    add("call.decline", {{"meeting", "m-1"}, {"reason", "busy right now"}}, c);
  }
  // Commands on one user of a meeting; a mute may also name the media.
  for (auto [type, kind, names_media] : std::vector<std::tuple<std::string, k, bool>>{
         {"moderate.kick", k::moderate_kick, false},
         {"admin.kick", k::admin_kick, false},
         {"moderate.mute", k::moderate_mute, true},
         {"moderate.unmute", k::moderate_unmute, true},
         {"admin.mute", k::admin_mute, true},
         {"admin.unmute", k::admin_unmute, true}}) {
    auto c = cmd(kind);
    c.meeting = "m-1";
    c.user = "bob";
    add(type, {{"meeting", "m-1"}, {"user", "bob"}}, c);
    if (!names_media)
      continue;
    c.audio = true;
    c.video = false;
    add(type, {{"meeting", "m-1"}, {"user", "bob"}, {"audio", true}, {"video", false}}, c);
  }
  for (auto [type, kind] : std::vector<std::pair<std::string, k>>{
         {"moderate.mute_all", k::moderate_mute_all},
         {"moderate.unmute_all", k::moderate_unmute_all},
         {"admin.mute_all", k::admin_mute_all}}) {
    auto c = cmd(kind);
    c.meeting = "m-1";
    c.video = true;
    add(type, {{"meeting", "m-1"}, {"video", true}}, c);
  }
  {
    auto c = cmd(k::moderate_set_role);
    c.meeting = "m-1";
    c.user = "bob";
    c.new_role = role::cohost;
    add("moderate.set_role", {{"meeting", "m-1"}, {"user", "bob"}, {"role", "cohost"}}, c);
  }
  {
    auto c = cmd(k::rtc_event);
    c.meeting = "m-1";
    c.event = sdk_event::network_recovered;
    add("rtc.event", {{"meeting", "m-1"}, {"event", "network_recovered"}}, c);
  }
  {
    add("admin.meetings.list", nullptr, cmd(k::admin_meetings_list));
    auto c = cmd(k::admin_meetings_list);
    c.state = meeting_status::ended;
    c.user = "alice";
    c.limit = 1000;
    c.after = "m-7";
    add("admin.meetings.list",
        {{"state", "ended"}, {"user", "alice"}, {"limit", 1000}, {"after", "m-7"}}, c);
  }
  {
    auto c = cmd(k::admin_users_list);
    c.limit = 1;
    c.after = "bob";
    add("admin.users.list", {{"limit", 1}, {"after", "bob"}}, c);
  }
  {
    auto c = cmd(k::admin_meeting_end);
    c.meeting = "m-1";
    c.reason = "abuse";
    add("admin.meeting.end", {{"meeting", "m-1"}, {"reason", "abuse"}}, c);
  }
  {
    auto c = cmd(k::admin_user_add);
    c.user = "dave";
    c.password = "12345678";
    c.display_name = "Dave D.";
    add("admin.user.add",
        {{"user", "dave"}, {"password", "12345678"}, {"display_name", "Dave D."}}, c);
  }
  {
    auto c = cmd(k::admin_user_remove);
    c.user = "dave";
    add("admin.user.remove", {{"user", "dave"}}, c);
  }
  return xs;
}

} // namespace

TEST(codec_decode, every_command_with_its_args) {
  std::set<command_kind> seen;
  for (const auto& t : valid_cases()) {
    auto d = decode_request(t.payload);
    ASSERT_TRUE(d.request) << t.payload << " -> " << describe(d);
    EXPECT_FALSE(d.error);
    EXPECT_EQ(d.request->id, "r-1");
    EXPECT_TRUE(same(d.request->cmd, t.expected)) << t.payload;
    seen.insert(d.request->cmd.kind);
  }
  EXPECT_EQ(seen.size(), all_kinds.size()) << "a command kind has no valid case";
}

TEST(codec_decode, null_counts_as_absent_and_extras_are_ignored) {
  auto d = decode_request(
    R"({"id":"r-1","type":"meeting.create","args":{"title":null,"invitees":null},"extra":1})");
  ASSERT_TRUE(d.request) << describe(d);
  EXPECT_FALSE(d.request->cmd.title);
  EXPECT_TRUE(d.request->cmd.users.empty());
  d = decode_request(R"({"id":"r-1","type":"admin.ping","args":null})");
  ASSERT_TRUE(d.request) << describe(d);
  d = decode_request(R"({"type":"admin.ping","id":"r:2.x_y-z"})");
  ASSERT_TRUE(d.request) << describe(d);
  EXPECT_EQ(d.request->id, "r:2.x_y-z");
}

TEST(codec_decode, limits_are_inclusive) {
  auto ok = [](const std::string& p) {
    auto d = decode_request(p);
    EXPECT_TRUE(d.request) << p.substr(0, 200) << " -> " << describe(d);
  };
  ok(msg("meeting.create", {{"title", std::string(200, 't')}}));
  ok(msg("meeting.create", {{"title", ""}}));
  ok(msg("meeting.create", {{"max_participants", 2}}));
  ok(msg("meeting.create", {{"max_participants", 100000}}));
  json users = json::array();
  for (int i = 0; i < 100; ++i)
    users.push_back("u" + std::to_string(i));
  ok(msg("call.invite", {{"meeting", "m"}, {"users", users}}));
  ok(msg("meeting.create", {{"invitees", users}}));
  ok(msg("meeting.join", {{"meeting", std::string(64, 'm')}}));
  ok(msg("auth.login", {{"user", "a"}, {"password", std::string(256, 'p')}}));
  ok(msg("auth.login", {{"user", "a"}, {"ticket", std::string(512, 't')}}));
  ok(msg("admin.user.add", {{"user", "a"}, {"password", std::string(8, 'p')},
                            {"display_name", std::string(100, 'd')}}));
  ok(msg("admin.meetings.list", {{"limit", 1}}));
  ok(msg("admin.ping", nullptr, std::string(64, 'i')));
  // UTF-8 titles count bytes; brackets inside strings are not nesting.
  ok(msg("meeting.create", {{"title", "\xE4\xBC\x9A\xE8\xAE\xAE standup"}}));
  ok(msg("meeting.create", {{"title", std::string(100, '[') + "\"{{{\\"}}));
  // Exactly 16 KiB is accepted.
  std::string p = R"({"id":"r-1","type":"admin.ping","pad":")";
  p += std::string(max_payload_bytes - p.size() - 2, 'x') + "\"}";
  ASSERT_EQ(p.size(), max_payload_bytes);
  ok(p);
}

// -- decode_request: malformed messages -----------------------------------------

namespace {

struct bad_case {
  std::string name;
  std::string payload;
  int code;
  std::string reason;
  std::optional<std::string> id;
};

std::vector<bad_case> bad_cases() {
  const std::optional<std::string> none;
  const std::optional<std::string> r1 = "r-1";
  std::vector<bad_case> xs{
    {"not json", "hello", 400, "bad_json", none},
    {"empty payload", "", 400, "bad_json", none},
    {"truncated", R"({"id":"r-1","type":"admin.ping")", 400, "bad_json", none},
    {"trailing garbage", R"({"id":"r-1","type":"admin.ping"} x)", 400, "bad_json", none},
    {"json array", R"([{"id":"r-1","type":"admin.ping"}])", 400, "bad_json", none},
    {"json string", R"("admin.ping")", 400, "bad_json", none},
    {"json number", "42", 400, "bad_json", none},
    {"json null", "null", 400, "bad_json", none},
    {"json true", "true", 400, "bad_json", none},
    {"empty object", "{}", 400, "missing_field:id", none},
    {"id missing", R"({"type":"admin.ping"})", 400, "missing_field:id", none},
    {"id null", R"({"id":null,"type":"admin.ping"})", 400, "missing_field:id", none},
    {"id number", R"({"id":17,"type":"admin.ping"})", 400, "bad_type:id", none},
    {"id object", R"({"id":{},"type":"admin.ping"})", 400, "bad_type:id", none},
    {"id too long", msg("admin.ping", nullptr, std::string(65, 'i')), 400, "bad_value:id", none},
    {"id empty", msg("admin.ping", nullptr, ""), 400, "bad_value:id", none},
    {"id space", msg("admin.ping", nullptr, "r 1"), 400, "bad_value:id", none},
    {"id slash", msg("admin.ping", nullptr, "../x"), 400, "bad_value:id", none},
    {"id at sign", msg("admin.ping", nullptr, "a@b"), 400, "bad_value:id", none},
    {"id unicode", msg("admin.ping", nullptr, "r\xC3\xA9"), 400, "bad_value:id", none},
    {"type missing", R"({"id":"r-1"})", 400, "missing_field:type", r1},
    {"type number", R"({"id":"r-1","type":3})", 400, "bad_type:type", r1},
    {"type unknown", R"({"id":"r-1","type":"meeting.explode"})", 400, "unknown_type", r1},
    {"type event", R"({"id":"r-1","type":"event.invite"})", 400, "unknown_type", r1},
    {"type reply", R"({"id":"r-1","type":"reply"})", 400, "unknown_type", r1},
    {"type case", R"({"id":"r-1","type":"Admin.Ping"})", 400, "unknown_type", r1},
    {"args array", R"({"id":"r-1","type":"admin.ping","args":[]})", 400, "bad_type:args", r1},
    {"args string", R"({"id":"r-1","type":"meeting.join","args":"m-1"})", 400, "bad_type:args", r1},
    {"args absent but needed", R"({"id":"r-1","type":"meeting.join"})", 400,
     "missing_field:args.meeting", r1},
    // auth.login: exactly one of password and ticket.
    {"login neither", msg("auth.login", {{"user", "a"}}), 400, "missing_field:args.password", r1},
    {"login both", msg("auth.login", {{"user", "a"}, {"password", "p"}, {"ticket", "t"}}), 400,
     "bad_value:args.ticket", r1},
    {"login empty password", msg("auth.login", {{"user", "a"}, {"password", ""}}), 400,
     "bad_value:args.password", r1},
    {"login long password", msg("auth.login", {{"user", "a"}, {"password", std::string(257, 'p')}}),
     400, "bad_value:args.password", r1},
    {"login long ticket", msg("auth.login", {{"user", "a"}, {"ticket", std::string(513, 't')}}),
     400, "bad_value:args.ticket", r1},
    {"login password number", msg("auth.login", {{"user", "a"}, {"password", 1234}}), 400,
     "bad_type:args.password", r1},
    // enums
    {"bad role", msg("moderate.set_role", {{"meeting", "m"}, {"user", "u"}, {"role", "owner"}}),
     400, "bad_value:args.role", r1},
    {"role uppercase", msg("moderate.set_role", {{"meeting", "m"}, {"user", "u"}, {"role", "HOST"}}),
     400, "bad_value:args.role", r1},
    {"bad sdk event", msg("rtc.event", {{"meeting", "m"}, {"event", "exploded"}}), 400,
     "bad_value:args.event", r1},
    {"bad policy", msg("meeting.create", {{"invite_policy", "nobody"}}), 400,
     "bad_value:args.invite_policy", r1},
    {"bad state", msg("admin.meetings.list", {{"state", "paused"}}), 400, "bad_value:args.state", r1},
    // integers
    {"float max", msg("meeting.create", {{"max_participants", 2.5}}), 400,
     "bad_type:args.max_participants", r1},
    {"float integral", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":10.0}})",
     400, "bad_type:args.max_participants", r1},
    {"exponent", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":1e3}})", 400,
     "bad_type:args.max_participants", r1},
    {"string number", msg("meeting.create", {{"max_participants", "10"}}), 400,
     "bad_type:args.max_participants", r1},
    {"max too small", msg("meeting.create", {{"max_participants", 1}}), 400,
     "bad_value:args.max_participants", r1},
    {"max too large", msg("meeting.create", {{"max_participants", 100001}}), 400,
     "bad_value:args.max_participants", r1},
    {"max negative", msg("meeting.create", {{"max_participants", -5}}), 400,
     "bad_value:args.max_participants", r1},
    {"max int64 min", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":-9223372036854775808}})",
     400, "bad_value:args.max_participants", r1},
    {"max uint64", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":18446744073709551615}})",
     400, "bad_value:args.max_participants", r1},
    {"max beyond uint64", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":99999999999999999999999}})",
     400, "bad_type:args.max_participants", r1},
    {"huge float", R"({"id":"r-1","type":"meeting.create","args":{"max_participants":1e400}})",
     400, "bad_json", none},
    {"limit zero", msg("admin.users.list", {{"limit", 0}}), 400, "bad_value:args.limit", r1},
    {"limit 1001", msg("admin.meetings.list", {{"limit", 1001}}), 400, "bad_value:args.limit", r1},
    {"limit 2^31", msg("admin.meetings.list", {{"limit", 2147483648LL}}), 400,
     "bad_value:args.limit", r1},
    // strings and arrays
    {"title too long", msg("meeting.create", {{"title", std::string(201, 't')}}), 400,
     "bad_value:args.title", r1},
    {"title multibyte too long", msg("meeting.create", {{"title", [] {
                                      std::string s;
                                      for (int i = 0; i < 67; ++i)
                                        s += "\xE4\xBC\x9A";
                                      return s;
                                    }()}}),
     400, "bad_value:args.title", r1},
    {"title nul", R"({"id":"r-1","type":"meeting.create","args":{"title":"a\u0000b"}})", 400,
     "bad_value:args.title", r1},
    {"reason too long", msg("call.decline", {{"meeting", "m"}, {"reason", std::string(201, 'r')}}),
     400, "bad_value:args.reason", r1},
    {"admin reason too long",
     msg("admin.meeting.end", {{"meeting", "m"}, {"reason", std::string(201, 'r')}}), 400,
     "bad_value:args.reason", r1},
    {"short user password", msg("admin.user.add", {{"user", "u"}, {"password", "1234567"}}), 400,
     "bad_value:args.password", r1},
    {"long display name",
     msg("admin.user.add", {{"user", "u"}, {"password", "12345678"},
                            {"display_name", std::string(101, 'd')}}),
     400, "bad_value:args.display_name", r1},
    {"invite empty users", msg("call.invite", {{"meeting", "m"}, {"users", json::array()}}), 400,
     "bad_value:args.users", r1},
    {"invite too many", msg("call.invite", {{"meeting", "m"}, {"users", std::vector<std::string>(101, "u")}}),
     400, "bad_value:args.users", r1},
    {"invitees too many", msg("meeting.create", {{"invitees", std::vector<std::string>(101, "u")}}),
     400, "bad_value:args.invitees", r1},
    {"invitees string", msg("meeting.create", {{"invitees", "bob"}}), 400, "bad_type:args.invitees", r1},
    {"invitees numbers", msg("meeting.create", {{"invitees", {"bob", 7}}}), 400,
     "bad_type:args.invitees", r1},
    {"invitees nested", msg("meeting.create", {{"invitees", {{"bob"}}}}), 400,
     "bad_type:args.invitees", r1},
    {"invitees bad id", msg("meeting.create", {{"invitees", {"bob", "../etc/passwd"}}}), 400,
     "bad_value:args.invitees", r1},
    {"cancel bad id", msg("call.cancel", {{"meeting", "m"}, {"users", {""}}}), 400,
     "bad_value:args.users", r1},
    {"first bad arg wins", msg("moderate.kick", {{"meeting", 5}, {"user", 6}}), 400,
     "bad_type:args.meeting", r1},
    // size and nesting
    {"16 KiB + 1", [] {
       std::string p = R"({"id":"r-1","type":"admin.ping","pad":")";
       p += std::string(max_payload_bytes - p.size() - 1, 'x') + "\"}";
       return p;
     }(),
     413, "too_large", none},
    {"1 MiB of brackets", std::string(1 << 20, '['), 413, "too_large", none},
    {"nesting 20 in args", [] {
       return R"({"id":"r-1","type":"admin.ping","args":{"x":)" + std::string(20, '[')
              + std::string(20, ']') + "}}";
     }(),
     400, "bad_json", none},
    {"nesting 17", std::string(17, '[') + std::string(17, ']'), 400, "bad_json", none},
    {"nesting 8000 closed", std::string(8000, '[') + std::string(8000, ']'), 400, "bad_json", none},
    {"nesting 10000 unclosed", std::string(10000, '['), 400, "bad_json", none},
    {"nesting 8000 objects", [] {
       std::string p;
       for (int i = 0; i < 1600; ++i)
         p += R"({"a":)";
       return p;
     }(),
     400, "bad_json", none},
    // encoding
    {"invalid utf-8", "{\"id\":\"r-1\",\"type\":\"meeting.create\",\"args\":{\"title\":\"\xFF\xFE\"}}",
     400, "bad_json", none},
    {"overlong utf-8", "{\"id\":\"r-1\",\"type\":\"meeting.create\",\"args\":{\"title\":\"\xC0\xAF\"}}",
     400, "bad_json", none},
    {"lone surrogate", R"({"id":"r-1","type":"meeting.create","args":{"title":"\ud800"}})", 400,
     "bad_json", none},
    {"truncated utf-8", "{\"id\":\"r-1\",\"type\":\"admin.ping\",\"x\":\"\xE4\xBC\"}", 400,
     "bad_json", none},
    {"nul byte outside string", std::string("{\"id\":\"r-1\",\0\"type\":\"admin.ping\"}", 34), 400,
     "bad_json", none},
  };
  return xs;
}

/// Each command's args: a valid sample and a category for generated cases.
enum class cat { id, str, ids, integer, boolean, enumeration };

struct arg_spec {
  std::string name;
  json sample;
  cat c;
  bool required;
};

struct kind_spec {
  std::string type;
  std::vector<arg_spec> args;
};

std::vector<kind_spec> kind_specs() {
  arg_spec meeting{"meeting", "m-1", cat::id, true};
  arg_spec user{"user", "bob", cat::id, true};
  arg_spec audio{"audio", true, cat::boolean, false};
  arg_spec video{"video", false, cat::boolean, false};
  arg_spec limit{"limit", 10, cat::integer, false};
  std::vector<kind_spec> xs{
    {"auth.login", {{"user", "alice", cat::id, true}, {"password", "pw", cat::str, true}}}, // one of password/ticket
    {"meeting.create",
     {{"title", "t", cat::str, false},
      {"invitees", {"bob"}, cat::ids, false},
      {"meeting", "m-9", cat::id, false},
      {"max_participants", 10, cat::integer, false},
      {"invite_policy", "anyone", cat::enumeration, false}}},
    {"call.invite", {meeting, {"users", {"bob"}, cat::ids, true}}},
    {"call.cancel", {meeting, {"users", {"bob"}, cat::ids, false}}},
    {"call.decline", {meeting, {"reason", "no", cat::str, false}}},
    {"moderate.kick", {meeting, user}},
    {"admin.kick", {meeting, user}},
    {"moderate.mute", {meeting, user, audio, video}},
    {"moderate.unmute", {meeting, user, audio, video}},
    {"admin.mute", {meeting, user, audio, video}},
    {"admin.unmute", {meeting, user, audio, video}},
    {"moderate.mute_all", {meeting, audio, video}},
    {"moderate.unmute_all", {meeting, audio, video}},
    {"admin.mute_all", {meeting, audio, video}},
    {"moderate.set_role", {meeting, user, {"role", "member", cat::enumeration, true}}},
    {"rtc.event", {meeting, {"event", "audio_muted", cat::enumeration, true}}},
    {"admin.meetings.list",
     {{"state", "active", cat::enumeration, false},
      {"user", "bob", cat::id, false},
      limit,
      {"after", "m-2", cat::id, false}}},
    {"admin.users.list", {limit, {"after", "bob", cat::id, false}}},
    {"admin.meeting.end", {meeting, {"reason", "r", cat::str, false}}},
    {"admin.user.add",
     {user, {"password", "password1", cat::str, true}, {"display_name", "Bob", cat::str, false}}},
    {"admin.user.remove", {user}},
  };
  for (auto t : {"meeting.join", "meeting.leave", "meeting.end", "meeting.get",
                 "meeting.renew", "call.ringing", "call.accept", "moderate.lock",
                 "moderate.unlock", "admin.meeting.get", "admin.lock", "admin.unlock"})
    xs.push_back({t, {meeting}});
  return xs;
}

json wrong_type(cat c) {
  switch (c) {
    case cat::id:
    case cat::str:
      return 42;
    case cat::ids:
      return "bob";
    case cat::integer:
      return "10";
    case cat::boolean:
      return 1;
    case cat::enumeration:
      return json::array({"member"});
  }
  return nullptr;
}

const std::vector<std::string> hostile_ids{
  "../etc/passwd", "'; DROP TABLE users;--", "", std::string(65, 'a'),
  "\xE7\x94\xA8\xE6\x88\xB7", "a b", "a/b", "a:b", "a\\b", "a\nb", "m\xC3\xA9"};

} // namespace

TEST(codec_decode, malformed_messages_table) {
  for (const auto& t : bad_cases()) {
    auto d = decode_request(t.payload);
    ASSERT_TRUE(d.error) << t.name << ": " << describe(d);
    EXPECT_FALSE(d.request) << t.name;
    EXPECT_EQ(d.error->code, t.code) << t.name;
    EXPECT_EQ(d.error->reason, t.reason) << t.name << ": " << d.error->message;
    EXPECT_EQ(d.error->id, t.id) << t.name;
    EXPECT_FALSE(d.error->message.empty()) << t.name;
  }
}

TEST(codec_decode, every_arg_generated_cases) {
  int checked = 0;
  for (const auto& k : kind_specs()) {
    json full = json::object();
    for (const auto& a : k.args)
      full[a.name] = a.sample;
    auto ok = decode_request(msg(k.type, full));
    ASSERT_TRUE(ok.request) << k.type << ": " << describe(ok);
    for (const auto& a : k.args) {
      SCOPED_TRACE(k.type + " args." + a.name);
      auto expect = [&](const json& args, const std::string& reason) {
        auto d = decode_request(msg(k.type, args));
        ASSERT_TRUE(d.error) << args.dump() << " -> " << describe(d);
        EXPECT_EQ(d.error->code, 400);
        EXPECT_EQ(d.error->reason, reason) << args.dump();
        EXPECT_EQ(d.error->id, "r-1");
        ++checked;
      };
      // Each required arg missing.
      if (a.required) {
        auto args = full;
        args.erase(a.name);
        expect(args, "missing_field:args." + a.name);
      } else {
        auto args = full;
        args.erase(a.name);
        EXPECT_TRUE(decode_request(msg(k.type, args)).request);
      }
      // Each arg of the wrong type.
      auto args = full;
      args[a.name] = wrong_type(a.c);
      expect(args, "bad_type:args." + a.name);
      args[a.name] = json::object();
      expect(args, "bad_type:args." + a.name);
      // Hostile ids, alone or in a list.
      if (a.c == cat::id || a.c == cat::ids) {
        for (const auto& bad : hostile_ids) {
          args = full;
          args[a.name] = a.c == cat::id ? json(bad) : json::array({"ok", bad});
          expect(args, "bad_value:args." + a.name);
        }
      }
      if (a.c == cat::ids) {
        args = full;
        args[a.name] = json::array({"ok", nullptr});
        expect(args, "bad_type:args." + a.name);
      }
      if (a.c == cat::enumeration) {
        for (auto bad : {"", "unknown", "HOST", "active "}) {
          args = full;
          args[a.name] = bad;
          expect(args, "bad_value:args." + a.name);
        }
      }
      if (a.c == cat::integer) {
        for (auto bad : {"0.5", "7.0", "1e2", "-1", "0", "9223372036854775807", "1e19"}) {
          args = full;
          std::string p = msg(k.type, args);
          auto pos = p.find("\"" + a.name + "\":") + a.name.size() + 3;
          auto end = p.find_first_of(",}", pos);
          p = p.substr(0, pos) + bad + p.substr(end);
          auto d = decode_request(p);
          ASSERT_TRUE(d.error) << p;
          std::string n = bad;
          bool is_float = n.find_first_of(".e") != std::string::npos;
          EXPECT_EQ(d.error->reason,
                    (is_float ? "bad_type:args." : "bad_value:args.") + a.name)
            << p;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 300);
}

TEST(codec_decode, dedupes_keeping_first_occurrence) {
  auto d = decode_request(
    msg("meeting.create", {{"invitees", {"carol", "bob", "carol", "alice", "bob"}}}));
  ASSERT_TRUE(d.request);
  EXPECT_EQ(d.request->cmd.users, (std::vector<std::string>{"carol", "bob", "alice"}));
  // Duplicates count toward the array limit of 100 before being removed.
  d = decode_request(
    msg("call.invite", {{"meeting", "m"}, {"users", std::vector<std::string>(100, "bob")}}));
  ASSERT_TRUE(d.request);
  EXPECT_EQ(d.request->cmd.users, std::vector<std::string>{"bob"});
}

TEST(codec_decode, garbage_never_crashes) {
  // A few thousand pseudo-random mutations of valid messages.
  std::uint32_t s = 12345;
  auto rnd = [&s] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  int decoded_ok = 0;
  for (const auto& t : valid_cases()) {
    for (int i = 0; i < 200; ++i) {
      std::string p = t.payload;
      int edits = 1 + rnd() % 4;
      for (int e = 0; e < edits && !p.empty(); ++e) {
        auto pos = rnd() % p.size();
        switch (rnd() % 3) {
          case 0:
            p[pos] = static_cast<char>(rnd());
            break;
          case 1:
            p.erase(pos, 1);
            break;
          default:
            p.insert(pos, 1, "[]{}\",:\\"[rnd() % 8]);
        }
      }
      auto d = decode_request(p);
      EXPECT_NE(d.request.has_value(), d.error.has_value());
      if (d.request) {
        ++decoded_ok;
        auto again = decode_request(encode_request(*d.request));
        ASSERT_TRUE(again.request) << p;
        EXPECT_TRUE(same(again.request->cmd, d.request->cmd)) << p;
      }
    }
  }
  EXPECT_GT(decoded_ok, 0);
}

// -- requests round trip --------------------------------------------------------

TEST(codec_roundtrip, requests_of_every_kind) {
  for (const auto& t : valid_cases()) {
    proto::request r{"q-" + std::string{proto::to_string(t.expected.kind)}, t.expected};
    auto wire = encode_request(r);
    auto d = decode_request(wire);
    ASSERT_TRUE(d.request) << wire << " -> " << describe(d);
    EXPECT_EQ(d.request->id, r.id);
    EXPECT_TRUE(same(d.request->cmd, r.cmd)) << wire;
    EXPECT_EQ(encode_request(*d.request), wire);
  }
}

namespace {

/// True if every member of `got` equals that of `want` or is empty: args
/// may be dropped (those the kind does not take), never changed.
template <std::size_t... I>
bool only_dropped(const proto::command& got, const proto::command& want,
                  std::index_sequence<I...>) {
  auto g = fields(got);
  auto w = fields(want);
  auto one = [](const auto& x, const auto& y) {
    return x == y || x == std::decay_t<decltype(x)>{};
  };
  return (one(std::get<I>(g), std::get<I>(w)) && ...);
}

} // namespace

TEST(codec_roundtrip, args_table_round_trips_every_command) {
  // A command with every member set, sent as each kind: the payload holds
  // exactly the kind's args (kind_specs(), this test's own list), decoding
  // gives each back unchanged, and encoding what was decoded gives the same
  // payload again.
  proto::command full;
  full.meeting = "m-1";
  full.user = "bob";
  full.password = "password1";
  full.title = "standup";
  full.display_name = "Bob B.";
  full.reason = "because";
  full.users = {"bob", "carol"};
  full.requested_id = "m-9";
  full.max_participants = 10;
  full.policy = invite_policy::hosts;
  full.new_role = role::cohost;
  full.audio = true;
  full.video = false;
  full.event = sdk_event::left;
  full.state = meeting_status::ended;
  full.limit = 50;
  full.after = "x-1";
  std::map<std::string, std::set<std::string>> spec;
  for (const auto& k : kind_specs())
    for (const auto& a : k.args)
      spec[k.type].insert(a.name);
  constexpr auto n = std::tuple_size_v<decltype(fields(full))>;
  int checked = 0;
  for (auto kind : all_kinds) {
    std::vector<proto::command> variants{full};
    variants[0].kind = kind;
    auto names = spec[proto::to_string(kind)];
    if (kind == command_kind::auth_login) { // a password or a ticket, not both
      variants.push_back(variants[0]);
      variants[1].password.reset();
      variants[1].ticket = "bob.1764000000.abcdef";
    }
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const auto& sent = variants[v];
      auto wire = encode_request({"q-1", sent});
      SCOPED_TRACE(wire);
      auto d = decode_request(wire);
      ASSERT_TRUE(d.request) << describe(d);
      const auto& got = d.request->cmd;
      EXPECT_EQ(got.kind, kind);
      EXPECT_TRUE(only_dropped(got, sent, std::make_index_sequence<n>{}));
      std::set<std::string> keys;
      auto args = json::parse(wire).value("args", json::object());
      for (auto& [key, value] : args.items())
        keys.insert(key);
      auto expected = names;
      if (v == 1) {
        expected.erase("password");
        expected.insert("ticket");
      }
      EXPECT_EQ(keys, expected);
      EXPECT_EQ(encode_request({"q-1", got}), wire);
      auto again = decode_request(encode_request({"q-1", got}));
      ASSERT_TRUE(again.request);
      EXPECT_TRUE(same(again.request->cmd, got));
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(all_kinds.size()) + 1);
}

TEST(codec_roundtrip, request_wire_names) {
  proto::request r;
  r.id = "r-1";
  r.cmd.kind = command_kind::meeting_create;
  r.cmd.requested_id = "m-1";
  r.cmd.policy = invite_policy::hosts;
  r.cmd.users = {"bob"};
  r.cmd.max_participants = 4;
  r.cmd.meeting = "ignored";  // not an arg of meeting.create
  r.cmd.user = "ignored";
  EXPECT_EQ(encode_request(r),
            R"({"id":"r-1","type":"meeting.create","args":{"invitees":["bob"],"meeting":"m-1","max_participants":4,"invite_policy":"hosts"}})");
  proto::request p{"p", {}};
  p.cmd.kind = command_kind::admin_ping;
  EXPECT_EQ(encode_request(p), R"({"id":"p","type":"admin.ping"})");
  proto::request n{"n", {}};
  n.cmd.kind = command_kind::admin_nodes;
  EXPECT_EQ(encode_request(n), R"({"id":"n","type":"admin.nodes"})");
  proto::request s{"s", {}};
  s.cmd.kind = command_kind::moderate_set_role;
  s.cmd.meeting = "m";
  s.cmd.user = "u";
  s.cmd.new_role = role::host;
  EXPECT_EQ(encode_request(s),
            R"({"id":"s","type":"moderate.set_role","args":{"meeting":"m","user":"u","role":"host"}})");
}

// -- replies --------------------------------------------------------------------

namespace {

proto::credentials sample_creds(const std::string& user = "alice") {
  proto::credentials c;
  c.appid = "g10dhbxp";
  c.channel = "room-42";
  c.meeting = "m-8f3a";
  c.userid = user;
  c.gslb = {"https://rgslb.rtc.aliyuncs.com"};
  c.session = "sess-0001";
  c.token = "223f63d944809586c32ee1f39b6b2c8c698f55fe6beaaee4d45c8088856b1d23";
  c.nonce = "AK-5f2c9e";
  c.timestamp = 1764000000;
  c.turn_username = user
                    + "?appid=g10dhbxp&session=sess-0001&channel=room-42&nonce=AK-5f2c9e"
                      "&timestamp=1764000000";
  c.turn_password = c.token;
  return c;
}

proto::participant_view sample_participant(const std::string& user, role r) {
  proto::participant_view p;
  p.user = user;
  p.rtc_userid = "rtc-" + user;
  p.r = r;
  p.status = participant_status::kicked;
  p.online = false;
  p.audio_muted = true;
  p.video_muted = true;
  p.joined_at = 1764000123;
  return p;
}

/// admin.nodes of a cluster of three: serving, down (its lease ran out
/// without a heartbeat), and stopped without a lease.
proto::nodes_data sample_nodes() {
  proto::nodes_data x;
  x.nodes = {{"n1", "serving", "0.3.0", 128, 42, 1764000000, 12.5},
             {"n2", "down", "0.3.0", 64, 7, 1763999990, 0},
             {"n3", "stopped", "0.2.9", 0, 0, std::nullopt, 0}};
  x.answered_by = "n1";
  return x;
}

std::vector<proto::reply_data> sample_data() {
  std::vector<proto::reply_data> xs;
  xs.emplace_back(std::monostate{});
  xs.emplace_back(proto::login_data{"alice", "Alice A."});
  {
    proto::create_data x;
    x.meeting = "m-8f3a";
    x.channel = "room-42";
    x.expires_at = 1764172800;
    x.creds = sample_creds();
    x.invitations = {{"carol", "ringing"}, {"bob", "busy"}, {"dave", "offline"}};
    xs.emplace_back(x);
    x.invitations.clear();
    xs.emplace_back(x);
  }
  {
    proto::join_data x;
    x.creds = sample_creds("bob");
    x.participants = {sample_participant("alice", role::host),
                      sample_participant("bob", role::member)};
    xs.emplace_back(x);
    x.participants.clear();
    xs.emplace_back(x);
  }
  xs.emplace_back(proto::credentials_data{sample_creds()});
  {
    proto::meeting_view x;
    x.meeting = "m-1";
    x.title = "standup \xE4\xBC\x9A\xE8\xAE\xAE \"quoted\"\n";
    x.host = "alice";
    x.channel = "room-1";
    x.status = meeting_status::ended;
    x.end_reason = "idle";
    x.created_at = 1764000000;
    x.expires_at = 1764172800;
    x.locked = true;
    x.policy = invite_policy::hosts;
    x.max_participants = 16;
    x.participants = {sample_participant("alice", role::host),
                      sample_participant("bob", role::cohost)};
    x.invitations = {{"carol", "alice", invitation_status::timed_out, 1764000045},
                     {"dave", "bob", invitation_status::declined, 1764000050}};
    xs.emplace_back(x);
    proto::meeting_view empty;
    empty.meeting = "m-2";
    empty.host = "bob";
    xs.emplace_back(empty);
  }
  xs.emplace_back(proto::invite_data{{{"bob", "ringing"}, {"carol", "user_not_found"}}});
  xs.emplace_back(proto::invite_data{});
  xs.emplace_back(proto::ping_data{"node-1", "0.1.0", 3600});
  {
    proto::stats_data x;
    x.node = "node-1";
    x.meetings_active = 3;
    x.meetings_ended = 40;
    x.meetings_with_actor = 1;
    x.meetings_dormant = 2;
    x.participants = 7;
    x.ringing_invitations = 2;
    x.devices_online = 11;
    x.users = 25;
    x.commands_per_s = 12.5;
    x.latency_p50_ms = 0.1;
    x.latency_p99_ms = 1.0 / 3.0;
    x.commands_total = 123456789012;
    x.rtc_calls = 9;
    x.rtc_failures = 1;
    x.rtc_retries = 2;
    x.rtc_circuit_open = true;
    x.store_commits = 500;
    x.store_changes_per_commit = 2.75;
    xs.emplace_back(x);
  }
  {
    proto::meetings_page x;
    x.meetings = {{"m-1", "a", "alice", meeting_status::active, 3, 1764000000, 1764172800},
                  {"m-2", "b", "bob", meeting_status::ended, 0, 1764000001, 1764172801}};
    x.next_after = "m-2";
    xs.emplace_back(x);
    xs.emplace_back(proto::meetings_page{});
  }
  {
    proto::users_page x;
    x.users = {{"alice", "Alice", 1700000000, 2}, {"bob", "", 1700000001, 0}};
    x.next_after = "bob";
    xs.emplace_back(x);
    xs.emplace_back(proto::users_page{});
  }
  xs.emplace_back(sample_nodes());
  xs.emplace_back(proto::nodes_data{{}, "n1"});
  return xs;
}

/// The commands whose code-0 reply carries each alternative of reply_data
/// (docs/protocol.md; the meeting and directory cores build them), by index.
const std::vector<std::vector<command_kind>> answered_by{
  {command_kind::auth_logout, command_kind::meeting_leave, command_kind::meeting_end,
   command_kind::call_ringing, command_kind::call_decline, command_kind::call_cancel,
   command_kind::moderate_kick, command_kind::moderate_mute, command_kind::moderate_unmute,
   command_kind::moderate_mute_all, command_kind::moderate_unmute_all,
   command_kind::moderate_lock, command_kind::moderate_unlock, command_kind::moderate_set_role,
   command_kind::rtc_event, command_kind::admin_meeting_end, command_kind::admin_kick,
   command_kind::admin_mute_all, command_kind::admin_user_add, command_kind::admin_user_remove,
   command_kind::admin_mute, command_kind::admin_unmute, command_kind::admin_lock,
   command_kind::admin_unlock},
  {command_kind::auth_login},
  {command_kind::meeting_create},
  {command_kind::meeting_join},
  {command_kind::meeting_renew, command_kind::call_accept},
  {command_kind::meeting_get, command_kind::admin_meeting_get},
  {command_kind::call_invite},
  {command_kind::admin_ping},
  {command_kind::admin_stats},
  {command_kind::admin_nodes},
  {command_kind::admin_meetings_list},
  {command_kind::admin_users_list},
};

/// A command whose reply carries `d`'s alternative.
command_kind kind_for(const proto::reply_data& d) {
  return answered_by.at(d.index()).front();
}

} // namespace

TEST(codec_roundtrip, replies_of_every_data_alternative) {
  std::set<std::size_t> seen;
  for (const auto& data : sample_data()) {
    proto::reply r;
    r.id = "r-" + std::to_string(data.index());
    r.data = data;
    auto wire = encode_reply(r);
    auto back = decode_reply(wire, kind_for(data));
    ASSERT_TRUE(back) << wire;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->code, 0);
    EXPECT_EQ(back->data.index(), data.index()) << wire;
    EXPECT_EQ(encode_reply(*back), wire);
    seen.insert(data.index());
  }
  EXPECT_EQ(seen.size(), std::variant_size_v<proto::reply_data>);
}

TEST(codec_roundtrip, reply_fields_survive) {
  auto data = sample_data();
  proto::reply r;
  r.id = "x";
  r.data = data[2]; // create_data with three invitations
  auto back = decode_reply(encode_reply(r), command_kind::meeting_create);
  ASSERT_TRUE(back);
  const auto& c = std::get<proto::create_data>(back->data);
  EXPECT_EQ(c.meeting, "m-8f3a");
  EXPECT_EQ(c.expires_at, 1764172800);
  EXPECT_EQ(c.creds.turn_password, sample_creds().token);
  ASSERT_EQ(c.invitations.size(), 3u);
  EXPECT_EQ(c.invitations[0].user, "carol"); // order kept
  EXPECT_EQ(c.invitations[1].status, "busy");
  r.data = data[7]; // meeting_view
  back = decode_reply(encode_reply(r), command_kind::meeting_get);
  ASSERT_TRUE(back);
  const auto& v = std::get<proto::meeting_view>(back->data);
  EXPECT_EQ(v.title, std::get<proto::meeting_view>(data[7]).title);
  EXPECT_EQ(v.status, meeting_status::ended);
  EXPECT_EQ(v.end_reason, "idle");
  EXPECT_EQ(v.policy, invite_policy::hosts);
  ASSERT_EQ(v.participants.size(), 2u);
  EXPECT_EQ(v.participants[1].r, role::cohost);
  EXPECT_EQ(v.participants[1].rtc_userid, std::get<proto::meeting_view>(data[7]).participants[1].rtc_userid);
  EXPECT_FALSE(v.participants[1].online);
  EXPECT_EQ(v.invitations[0].status, invitation_status::timed_out);
  r.data = data[12]; // stats
  back = decode_reply(encode_reply(r), command_kind::admin_stats);
  ASSERT_TRUE(back);
  const auto& st = std::get<proto::stats_data>(back->data);
  EXPECT_EQ(st.latency_p99_ms, 1.0 / 3.0);
  EXPECT_EQ(st.commands_total, 123456789012);
  EXPECT_EQ(st.meetings_with_actor, 1);
  EXPECT_EQ(st.meetings_dormant, 2);
  EXPECT_TRUE(st.rtc_circuit_open);
  EXPECT_EQ(st.node, "node-1");
  r.data = data[17]; // nodes
  back = decode_reply(encode_reply(r), command_kind::admin_nodes);
  ASSERT_TRUE(back);
  const auto& ns = std::get<proto::nodes_data>(back->data);
  EXPECT_EQ(ns.answered_by, "n1");
  ASSERT_EQ(ns.nodes.size(), 3u);
  EXPECT_EQ(ns.nodes[0].node, "n1");
  EXPECT_EQ(ns.nodes[0].state, "serving");
  EXPECT_EQ(ns.nodes[0].shards, 128);
  EXPECT_EQ(ns.nodes[0].lease_expires_at, std::optional<std::int64_t>{1764000000});
  EXPECT_EQ(ns.nodes[0].commands_per_s, 12.5);
  EXPECT_EQ(ns.nodes[2].state, "stopped");
  EXPECT_FALSE(ns.nodes[2].lease_expires_at) << "no lease stays no lease";
}

TEST(codec_roundtrip, error_replies) {
  auto r = proto::fail("r-17", 403, "not_host", "only the host may end the meeting");
  auto wire = encode_reply(r);
  EXPECT_EQ(wire,
            R"({"id":"r-17","type":"reply","code":403,"error":{"reason":"not_host","message":"only the host may end the meeting"}})");
  auto back = decode_reply(wire, command_kind::meeting_end);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "r-17");
  EXPECT_EQ(back->code, 403);
  EXPECT_EQ(back->reason, "not_host");
  EXPECT_EQ(back->message, "only the host may end the meeting");
  auto n = proto::fail(std::nullopt, 400, "bad_json", "not JSON");
  wire = encode_reply(n);
  EXPECT_EQ(wire,
            R"({"id":null,"type":"reply","code":400,"error":{"reason":"bad_json","message":"not JSON"}})");
  back = decode_reply(wire, command_kind::meeting_create);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->id);
  EXPECT_EQ(back->code, 400);
}

TEST(codec_roundtrip, retry_after_ms_is_written_when_set_and_read_back) {
  auto r = refuse_retry_after(refusal::limit_creates, "slow down", 1500);
  r.id = "r-1";
  auto wire = encode_reply(r);
  EXPECT_EQ(wire, R"({"id":"r-1","type":"reply","code":429,"error":{"reason":"limit:creates",)"
                  R"("message":"slow down","retry_after_ms":1500}})");
  auto back = decode_reply(wire, command_kind::meeting_create);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->retry_after_ms, std::optional<std::int64_t>{1500});
  auto plain = decode_reply(encode_reply(proto::fail(std::string{"r-2"}, 403, "not_host", "no")),
                            command_kind::meeting_end);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->retry_after_ms);
  EXPECT_FALSE(decode_reply(
    R"({"id":"r","type":"reply","code":429,"error":{"reason":"x","message":"y","retry_after_ms":"soon"}})",
    command_kind::meeting_create))
    << "a retry_after_ms that is not a number is malformed";
}

TEST(codec_roundtrip, decode_reply_refuses_garbage) {
  auto ping = [](const std::string& p) { return decode_reply(p, command_kind::admin_ping); };
  EXPECT_FALSE(ping(""));
  EXPECT_FALSE(ping("[]"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"event.ended","code":0})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply"})"));
  EXPECT_FALSE(ping(R"({"id":5,"type":"reply","code":0})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":"0"})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":0,"data":[]})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":0,"data":{"node":"n","version":"v","uptime_s":"long"}})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":0,"data":{"node":"n","version":"v"}})"))
    << "a member every ping reply has is missing";
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":1000,"error":{"reason":"x","message":"y"}})"));
  EXPECT_FALSE(ping(R"({"id":"r","type":"reply","code":403})")) << "an error reply without its error";
  EXPECT_FALSE(ping(std::string(100000, '[')));
  auto ok = ping(R"({"id":"r","type":"reply","code":0,"data":{"node":"n","version":"v","uptime_s":1,"future":1}})");
  ASSERT_TRUE(ok) << "members the codec does not know are ignored";
  EXPECT_EQ(std::get<proto::ping_data>(ok->data).uptime_s, 1);
  auto nothing = decode_reply(R"({"id":"r","type":"reply","code":0,"data":{"future":1}})",
                              command_kind::meeting_leave);
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(nothing->data));
}

TEST(codec_roundtrip, decode_reply_reads_the_data_of_the_command_sent) {
  // Every pair of (data, command): the data decodes as the command's reply
  // when the command answers with it, to nothing when the command's reply
  // has no data, and otherwise fails, except where the data holds every
  // member of the other reply too (see codec.hpp).
  auto holds_also = [](std::size_t data, command_kind kind) {
    bool credentials = kind == command_kind::meeting_renew || kind == command_kind::call_accept;
    return (data == 2 && (credentials || kind == command_kind::call_invite)) // create
           || (data == 3 && credentials);                                  // join
  };
  int wrong = 0;
  for (const auto& data : sample_data()) {
    proto::reply r;
    r.id = "r";
    r.data = data;
    auto wire = encode_reply(r);
    for (auto kind : all_kinds) {
      SCOPED_TRACE(std::string{proto::to_string(kind)} + " <- " + wire);
      auto back = decode_reply(wire, kind);
      std::size_t answers = 0;
      while (std::find(answered_by[answers].begin(), answered_by[answers].end(), kind)
             == answered_by[answers].end())
        ++answers;
      if (answers == data.index()) {
        ASSERT_TRUE(back);
        EXPECT_EQ(encode_reply(*back), wire);
      } else if (answers == 0) {
        ASSERT_TRUE(back);
        EXPECT_TRUE(std::holds_alternative<std::monostate>(back->data));
      } else if (holds_also(data.index(), kind)) {
        ASSERT_TRUE(back);
        EXPECT_EQ(back->data.index(), answers);
      } else {
        EXPECT_FALSE(back);
        ++wrong;
      }
    }
  }
  EXPECT_GT(wrong, 100);
  // Error replies carry no data: every command reads them alike.
  auto err = encode_reply(proto::fail(std::string{"r"}, 409, "meeting_full", "full"));
  for (auto kind : all_kinds) {
    auto back = decode_reply(err, kind);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->reason, "meeting_full");
  }
}

// -- events ---------------------------------------------------------------------

namespace {

std::vector<proto::event> sample_events() {
  using k = proto::event_kind;
  std::vector<proto::event> xs;
  auto ev = [](k kind) {
    proto::event e;
    e.kind = kind;
    e.meeting = "m-8f3a";
    return e;
  };
  {
    auto e = ev(k::invite);
    e.from = "alice";
    e.title = "standup";
    e.ring_expires_at = 1764000045;
    e.creds = sample_creds("bob");
    xs.push_back(e);
    e.creds.reset();
    e.title.clear();
    xs.push_back(e);
  }
  for (auto kind : {k::ringing, k::accepted, k::joined}) {
    auto e = ev(kind);
    e.user = "bob";
    xs.push_back(e);
  }
  for (auto kind : {k::declined, k::invite_timeout}) {
    auto e = ev(kind);
    e.user = "bob";
    xs.push_back(e);
    e.reason = "busy";
    xs.push_back(e);
  }
  {
    auto e = ev(k::left);
    e.user = "bob";
    e.reason = "offline";
    xs.push_back(e);
  }
  for (auto kind : {k::canceled, k::answered_elsewhere}) {
    auto e = ev(kind);
    xs.push_back(e);
    e.by = "alice";
    xs.push_back(e);
  }
  {
    auto e = ev(k::ended);
    e.reason = "expired";
    xs.push_back(e);
  }
  {
    auto e = ev(k::kicked);
    e.by = "alice";
    xs.push_back(e);
  }
  {
    auto e = ev(k::mute_request);
    e.by = "alice";
    xs.push_back(e);
    e.audio = true;
    xs.push_back(e);
    e.video = false;
    xs.push_back(e);
  }
  {
    auto e = ev(k::role_changed);
    e.user = "bob";
    e.new_role = role::cohost;
    xs.push_back(e);
  }
  {
    auto e = ev(k::participant);
    e.participant = sample_participant("bob", role::member);
    e.user = "bob";
    xs.push_back(e);
  }
  {
    auto e = ev(k::token_expiring);
    e.expires_at = 1764086400;
    xs.push_back(e);
  }
  return xs;
}

} // namespace

TEST(codec_roundtrip, events_of_every_kind) {
  std::set<proto::event_kind> seen;
  std::uint64_t seq = 1;
  for (const auto& e : sample_events()) {
    auto wire = encode_event(e, seq);
    auto back = decode_event(wire);
    ASSERT_TRUE(back) << wire;
    EXPECT_EQ(back->second, seq);
    const auto& b = back->first;
    EXPECT_EQ(b.kind, e.kind);
    EXPECT_EQ(b.meeting, e.meeting);
    EXPECT_EQ(b.user, e.user) << wire;
    EXPECT_EQ(b.by, e.by) << wire;
    EXPECT_EQ(b.reason, e.reason) << wire;
    EXPECT_EQ(b.from, e.from);
    EXPECT_EQ(b.title, e.title);
    EXPECT_EQ(b.ring_expires_at, e.ring_expires_at);
    EXPECT_EQ(b.expires_at, e.expires_at);
    EXPECT_EQ(b.new_role, e.new_role);
    EXPECT_EQ(b.audio, e.audio);
    EXPECT_EQ(b.video, e.video);
    EXPECT_EQ(b.creds.has_value(), e.creds.has_value());
    EXPECT_EQ(b.participant.has_value(), e.participant.has_value());
    EXPECT_EQ(encode_event(b, seq), wire);
    seen.insert(e.kind);
    seq = seq * 7 + 1;
  }
  EXPECT_EQ(seen.size(), all_event_kinds.size());
  auto big = encode_event(sample_events().back(), UINT64_MAX);
  auto back = decode_event(big);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->second, UINT64_MAX);
}

TEST(codec_roundtrip, optional_event_fields_only_when_set) {
  proto::event e;
  e.kind = proto::event_kind::canceled;
  e.meeting = "m";
  e.user = "not-written";
  EXPECT_EQ(encode_event(e, 1), R"({"type":"event.canceled","seq":1,"meeting":"m","data":{}})");
  e.kind = proto::event_kind::declined;
  EXPECT_EQ(encode_event(e, 2),
            R"({"type":"event.declined","seq":2,"meeting":"m","data":{"user":"not-written"}})");
  e.kind = proto::event_kind::participant;
  e.participant = sample_participant("bob", role::cohost);
  EXPECT_EQ(
    encode_event(e, 3),
    R"({"type":"event.participant","seq":3,"meeting":"m","data":{"user":"bob","rtc_userid":"rtc-bob","role":"cohost","state":"kicked","online":false,"audio_muted":true,"video_muted":true,"joined_at":1764000123}})");
}

TEST(codec_roundtrip, decode_event_refuses_garbage) {
  EXPECT_FALSE(decode_event("nope"));
  EXPECT_FALSE(decode_event(R"({"type":"reply","seq":1,"meeting":"m","data":{}})"));
  EXPECT_FALSE(decode_event(R"({"type":"event.ended","meeting":"m","data":{}})"));
  EXPECT_FALSE(decode_event(R"({"type":"event.ended","seq":-1,"meeting":"m","data":{}})"));
  EXPECT_FALSE(decode_event(R"({"type":"event.ended","seq":1.5,"meeting":"m","data":{}})"));
  EXPECT_FALSE(decode_event(R"({"type":"event.ended","seq":1,"meeting":7,"data":{}})"));
  EXPECT_FALSE(decode_event(R"({"type":"event.ended","seq":1,"meeting":"m","data":[]})"));
  EXPECT_FALSE(
    decode_event(R"({"type":"event.role_changed","seq":1,"meeting":"m","data":{"role":"king"}})"));
  EXPECT_FALSE(decode_event(std::string(50000, '{')));
}

TEST(codec_roundtrip, decode_downlink_tells_replies_from_events) {
  proto::reply r;
  r.id = "r";
  r.data = sample_data()[2];
  auto back = decode_downlink(encode_reply(r));
  ASSERT_TRUE(back.reply);
  EXPECT_FALSE(back.event);
  EXPECT_EQ(back.reply->id, "r");
  EXPECT_EQ(back.reply->code, 0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(back.reply->data)) << "the data is left unread";
  auto echo = decode_downlink(R"({"id":"e-1","type":"reply","code":0,"data":{"pad":"xxxx"}})");
  ASSERT_TRUE(echo.reply);
  EXPECT_EQ(echo.reply->id, "e-1");
  auto overloaded = refuse_retry_after(refusal::overloaded, "busy", 250);
  overloaded.id = "r";
  auto err = decode_downlink(encode_reply(overloaded));
  ASSERT_TRUE(err.reply);
  EXPECT_EQ(err.reply->code, 503);
  EXPECT_EQ(err.reply->reason, "overloaded");
  EXPECT_EQ(err.reply->message, "busy");
  EXPECT_EQ(err.reply->retry_after_ms, std::optional<std::int64_t>{250});
  for (const auto& e : sample_events()) {
    auto wire = encode_event(e, 7);
    auto d = decode_downlink(wire);
    EXPECT_FALSE(d.reply) << wire;
    ASSERT_TRUE(d.event) << wire;
    EXPECT_EQ(encode_event(d.event->first, d.event->second), wire);
  }
  for (auto bad : {"", "[]", R"({"type":"reply","code":"0"})", R"({"type":"event.nope","seq":1})",
                   R"({"id":"r","code":0})"}) {
    auto d = decode_downlink(bad);
    EXPECT_FALSE(d.reply || d.event) << bad;
  }
}

// -- pinned shapes and determinism ----------------------------------------------

TEST(codec_shapes, credentials_reply_exact_json) {
  proto::reply r;
  r.id = "r-17";
  r.data = proto::credentials_data{sample_creds()};
  EXPECT_EQ(
    encode_reply(r),
    R"({"id":"r-17","type":"reply","code":0,"data":{"credentials":{"appid":"g10dhbxp","channel":"room-42","meeting":"m-8f3a","userid":"alice","gslb":["https://rgslb.rtc.aliyuncs.com"],"session":"sess-0001","token":"223f63d944809586c32ee1f39b6b2c8c698f55fe6beaaee4d45c8088856b1d23","nonce":"AK-5f2c9e","timestamp":1764000000,"turn":{"username":"alice?appid=g10dhbxp&session=sess-0001&channel=room-42&nonce=AK-5f2c9e&timestamp=1764000000","password":"223f63d944809586c32ee1f39b6b2c8c698f55fe6beaaee4d45c8088856b1d23"}}}})");
}

TEST(codec_shapes, nodes_reply_exact_json) {
  proto::reply r;
  r.id = "a-11";
  r.data = sample_nodes();
  auto wire = encode_reply(r);
  EXPECT_EQ(
    wire,
    R"({"id":"a-11","type":"reply","code":0,"data":{"nodes":[)"
    R"({"node":"n1","state":"serving","version":"0.3.0","shards":128,"meetings":42,"lease_expires_at":1764000000,"commands_per_s":12.5},)"
    R"({"node":"n2","state":"down","version":"0.3.0","shards":64,"meetings":7,"lease_expires_at":1763999990,"commands_per_s":0.0},)"
    R"({"node":"n3","state":"stopped","version":"0.2.9","shards":0,"meetings":0,"commands_per_s":0.0}],)"
    R"("answered_by":"n1"}})")
    << "a node without a lease has no lease_expires_at";
  // A client reads a lease_expires_at of 0 as it came: the node writes none.
  auto zero = decode_reply(
    R"({"id":"a","type":"reply","code":0,"data":{"nodes":[{"node":"n","state":"starting","version":"v","shards":0,"meetings":0,"lease_expires_at":0,"commands_per_s":1}],"answered_by":"n"}})",
    command_kind::admin_nodes);
  ASSERT_TRUE(zero);
  EXPECT_EQ(std::get<proto::nodes_data>(zero->data).nodes.at(0).lease_expires_at,
            std::optional<std::int64_t>{0});
  auto nodes = [](const std::string& data) {
    return decode_reply(R"({"id":"a","type":"reply","code":0,"data":)" + data + "}",
                        command_kind::admin_nodes);
  };
  EXPECT_TRUE(nodes(R"({"nodes":[],"answered_by":"n1"})"));
  EXPECT_FALSE(nodes(R"({"nodes":[]})")) << "answered_by is always there";
  EXPECT_FALSE(nodes(R"({"answered_by":"n1"})")) << "nodes is always there";
  EXPECT_FALSE(nodes(R"({"nodes":{},"answered_by":"n1"})"));
  EXPECT_FALSE(nodes(R"({"nodes":[{"node":"n","state":"serving","version":"v","shards":1,"meetings":0}],"answered_by":"n"})"))
    << "commands_per_s is always there";
  EXPECT_FALSE(nodes(R"({"nodes":[{"node":"n","state":"serving","version":"v","shards":1,"meetings":0,"lease_expires_at":"soon","commands_per_s":1}],"answered_by":"n"})"))
    << "a lease_expires_at that is not an integer is malformed";
  EXPECT_FALSE(nodes(R"({"nodes":[{"node":"n","state":"serving","version":"v","shards":1.5,"meetings":0,"commands_per_s":1}],"answered_by":"n"})"));
}

TEST(codec_shapes, stats_reply_names_the_node_that_answered) {
  proto::stats_data x;
  x.node = "node-2";
  proto::reply r;
  r.id = "a-2";
  r.data = x;
  auto wire = encode_reply(r);
  EXPECT_EQ(wire.rfind(R"({"id":"a-2","type":"reply","code":0,"data":{"node":"node-2","meetings":{)", 0),
            0u)
    << wire;
  auto back = decode_reply(wire, command_kind::admin_stats);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<proto::stats_data>(back->data).node, "node-2");
  auto j = json::parse(wire);
  j["data"].erase("node");
  EXPECT_FALSE(decode_reply(j.dump(), command_kind::admin_stats)) << "node is always there";
}

TEST(codec_shapes, event_exact_json) {
  proto::event e;
  e.kind = proto::event_kind::mute_request;
  e.meeting = "m-8f3a";
  e.audio = true;
  e.by = "alice";
  EXPECT_EQ(encode_event(e, 42),
            R"({"type":"event.mute_request","seq":42,"meeting":"m-8f3a","data":{"audio":true,"by":"alice"}})");
}

TEST(codec_shapes, data_keys) {
  auto data = sample_data();
  auto keys = [](const proto::reply_data& d) {
    proto::reply r;
    r.id = "x";
    r.data = d;
    auto j = json::parse(encode_reply(r));
    std::set<std::string> ks;
    for (auto& [k, v] : j["data"].items())
      ks.insert(k);
    return ks;
  };
  using S = std::set<std::string>;
  EXPECT_EQ(keys(data[0]), S{});
  EXPECT_EQ(keys(data[1]), (S{"user", "display_name"}));
  EXPECT_EQ(keys(data[2]), (S{"meeting", "channel", "expires_at", "credentials", "invitations"}));
  EXPECT_EQ(keys(data[4]), (S{"credentials", "participants"}));
  EXPECT_EQ(keys(data[7]),
            (S{"meeting", "title", "host", "channel", "state", "end_reason", "created_at",
               "expires_at", "locked", "invite_policy", "max_participants", "participants",
               "invitations"}));
  EXPECT_EQ(keys(data[8]).count("end_reason"), 0u); // only when set
  EXPECT_EQ(keys(data[9]), (S{"invitations"}));
  EXPECT_EQ(keys(data[11]), (S{"node", "version", "uptime_s"}));
  EXPECT_EQ(keys(data[12]), (S{"node", "meetings", "participants", "ringing_invitations",
                               "devices_online", "users", "commands", "rtc", "store", "webhooks"}));
  EXPECT_EQ(keys(data[13]), (S{"meetings", "next_after"}));
  EXPECT_EQ(keys(data[14]), (S{"meetings"}));
  EXPECT_EQ(keys(data[15]), (S{"users", "next_after"}));
  EXPECT_EQ(keys(data[16]), (S{"users"}));
  EXPECT_EQ(keys(data[17]), (S{"nodes", "answered_by"}));
  EXPECT_EQ(keys(data[18]), (S{"nodes", "answered_by"}));
  proto::reply r;
  r.id = "x";
  r.data = data[2];
  auto j = json::parse(encode_reply(r));
  EXPECT_EQ(j["data"]["invitations"], (json{{"carol", "ringing"}, {"bob", "busy"}, {"dave", "offline"}}));
  r.data = data[12];
  j = json::parse(encode_reply(r));
  EXPECT_EQ(j["data"]["commands"]["per_s"], 12.5);
  EXPECT_EQ(j["data"]["rtc"]["circuit_open"], true);
  EXPECT_EQ(j["data"]["store"]["changes_per_commit"], 2.75);
  EXPECT_EQ(j["data"]["meetings"]["ended"], 40);
}

TEST(codec_shapes, deterministic) {
  for (const auto& d : sample_data()) {
    proto::reply a;
    a.id = "r";
    a.data = d;
    proto::reply b = a;
    EXPECT_EQ(encode_reply(a), encode_reply(b));
    EXPECT_EQ(encode_reply(a), encode_reply(a));
  }
  for (const auto& e : sample_events())
    EXPECT_EQ(encode_event(e, 9), encode_event(proto::event{e}, 9));
  // Non-finite statistics still give valid, stable JSON.
  proto::stats_data s;
  s.commands_per_s = std::numeric_limits<double>::quiet_NaN();
  s.latency_p99_ms = std::numeric_limits<double>::infinity();
  proto::reply r;
  r.data = s;
  auto wire = encode_reply(r);
  EXPECT_EQ(wire, encode_reply(r));
  EXPECT_TRUE(decode_reply(wire, command_kind::admin_stats));
  // Invalid UTF-8 from inside the node does not throw.
  proto::reply bad;
  bad.id = "r";
  bad.data = proto::login_data{"u", "\xFF\xFE"};
  EXPECT_NO_THROW(encode_reply(bad));
  EXPECT_TRUE(json::accept(encode_reply(bad)));
}

// -- presence and node status ---------------------------------------------------

TEST(codec_presence, encode_decode) {
  EXPECT_EQ(encode_presence(true), R"({"online":true})");
  EXPECT_EQ(encode_presence(false), R"({"online":false})");
  EXPECT_EQ(decode_presence(encode_presence(true)), true);
  EXPECT_EQ(decode_presence(encode_presence(false)), false);
  EXPECT_EQ(decode_presence(R"( {"online": false, "extra": 1} )"), false);
  EXPECT_FALSE(decode_presence(""));
  EXPECT_FALSE(decode_presence("{}"));
  EXPECT_FALSE(decode_presence(R"({"online":"true"})"));
  EXPECT_FALSE(decode_presence(R"({"online":1})"));
  EXPECT_FALSE(decode_presence("true"));
  EXPECT_FALSE(decode_presence(std::string(20000, '[')));
  EXPECT_EQ(encode_node_status("ready", "node-1", "0.1.0"),
            R"({"state":"ready","node":"node-1","version":"0.1.0"})");
}
