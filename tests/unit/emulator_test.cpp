// rtc-emulator's logic, driven directly with an injected clock: answer shapes
// of the four OpenAPI actions, every error path in the order docs/protocol.md §11 /
// the real service checks them, channel expiry, join-token checks for both
// schemes (§6) and fault injection.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "actors/core/crypto.hpp"
#include "gateway/rtc_signing.hpp"
#include "actors/core/rtc_token.hpp"
#include "tools/rtc_emulator/emulator.hpp"
#include "tools/rtc_emulator/server.hpp"
#include "unit/emulator_test_support.hpp"

namespace {

using namespace meetingd;
using namespace meetingd::emulator_test;
using emulator::json;
using emulator::reply;
using namespace std::chrono_literals;

constexpr std::int64_t t0 = 1'764'000'000'000; // unix ms
constexpr std::int64_t hour_ms = 3'600'000;

// A correctly signed request for `action` at `now_ms`, with `extra` params.
rtc::rpc_params signed_params(std::string_view action, const rtc::rpc_params& extra,
                              std::int64_t now_ms, std::string_view method = "GET") {
  auto p = rtc::common_params(action, key_id, "cn-hangzhou", now_ms / 1000, crypto::uuid4());
  for (auto& [k, v] : extra)
    p[k] = v;
  p["Signature"] = rtc::sign(method, p, secret);
  return p;
}

void expect_error(const reply& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body.dump();
  ASSERT_TRUE(r.body.is_object());
  EXPECT_EQ(r.body.size(), 4u) << r.body.dump();
  EXPECT_EQ(r.body.value("Code", ""), code) << r.body.dump();
  EXPECT_EQ(r.body.value("HostId", ""), "rtc.aliyuncs.com");
  EXPECT_EQ(r.body.value("RequestId", "").size(), 36u);
  EXPECT_TRUE(r.body["Message"].is_string());
  EXPECT_FALSE(r.drop);
}

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
}

class EmulatorTest : public ::testing::Test {
 protected:
  emulator::emulator emu{make_options()};

  reply call(std::string_view action, const rtc::rpc_params& extra, std::int64_t now = t0) {
    return emu.openapi("GET", signed_params(action, extra, now), now);
  }
  json create(std::string_view ch, std::int64_t now = t0) {
    auto r = call("CreateChannel", chan(ch), now);
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body;
  }
  reply join_channel(const json& created, std::string_view ch, std::string_view user,
                     std::string_view session = "sess-1", std::int64_t now = t0) {
    auto ts = created["Timestamp"].get<std::int64_t>();
    auto nonce = created["Nonce"].get<std::string>();
    auto token = rtc::channel_token(ch, created["ChannelKey"].get<std::string>(), app, user,
                                    session, nonce, ts);
    return emu.join(json{{"appid", app},
                         {"channel", ch},
                         {"userid", user},
                         {"session", session},
                         {"nonce", nonce},
                         {"timestamp", ts},
                         {"token", token}},
                    now);
  }
};

// --- helpers ----------------------------------------------------------------------

TEST(EmulatorParse, Durations) {
  EXPECT_EQ(emulator::parse_duration("500ms"), 500ms);
  EXPECT_EQ(emulator::parse_duration("45s"), 45s);
  EXPECT_EQ(emulator::parse_duration("10min"), 10min);
  EXPECT_EQ(emulator::parse_duration("48h"), 48h);
  EXPECT_EQ(emulator::parse_duration("0"), 0ms);
  EXPECT_EQ(emulator::parse_duration("1500us"), 1ms);
  EXPECT_EQ(emulator::parse_duration("2d"), 48h);
  for (auto bad : {"", "h", "10", "-5s", "5 s", "5sec", "1.5h", "10m", "99999999999999999999h"})
    EXPECT_FALSE(emulator::parse_duration(bad)) << bad;
}

TEST(EmulatorParse, Listen) {
  EXPECT_EQ(emulator::parse_listen("127.0.0.1:8090"), (std::pair<std::string, int>{"127.0.0.1", 8090}));
  EXPECT_EQ(emulator::parse_listen("0.0.0.0:0"), (std::pair<std::string, int>{"0.0.0.0", 0}));
  EXPECT_EQ(emulator::parse_listen("[::1]:90"), (std::pair<std::string, int>{"::1", 90}));
  for (auto bad : {"127.0.0.1", ":80", "host:", "host:65536", "host:8a", "::1:80", "[::1]80"})
    EXPECT_FALSE(emulator::parse_listen(bad)) << bad;
}

// --- success shapes -----------------------------------------------------------------

TEST_F(EmulatorTest, CreateChannelAnswer) {
  auto r = call("CreateChannel", chan("room-42"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const auto& b = r.body;
  EXPECT_EQ(b.size(), 4u) << b.dump();
  EXPECT_TRUE(std::regex_match(b["RequestId"].get<std::string>(),
                               std::regex("[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[0-9A-F]{4}-[0-9A-F]{12}")))
      << b["RequestId"];
  EXPECT_EQ(r.request_id, b["RequestId"]);
  auto key = b["ChannelKey"].get<std::string>();
  EXPECT_EQ(key.size(), 32u);
  EXPECT_TRUE(is_hex(key));
  auto nonce = b["Nonce"].get<std::string>();
  ASSERT_EQ(nonce.size(), 11u);
  EXPECT_EQ(nonce.substr(0, 3), "AK-");
  EXPECT_TRUE(is_hex(nonce.substr(3)));
  ASSERT_TRUE(b["Timestamp"].is_number_integer());
  EXPECT_EQ(b["Timestamp"].get<std::int64_t>(), (t0 + 48 * hour_ms) / 1000);
  EXPECT_EQ(r.action, "CreateChannel");
  EXPECT_EQ(r.channel, "room-42");
  EXPECT_EQ(r.delay, 0ms);
  EXPECT_FALSE(r.drop);
}

TEST_F(EmulatorTest, CreateTwiceAnswersTheSameChannel) {
  auto first = create("room-42");
  auto second = create("room-42", t0 + 60'000);
  EXPECT_EQ(first["ChannelKey"], second["ChannelKey"]);
  EXPECT_EQ(first["Nonce"], second["Nonce"]);
  EXPECT_EQ(first["Timestamp"], second["Timestamp"]);
  EXPECT_NE(first["RequestId"], second["RequestId"]);
  auto other = create("room-43");
  EXPECT_NE(first["ChannelKey"], other["ChannelKey"]);
  EXPECT_EQ(emu.channel_count(t0), 2u);
}

TEST_F(EmulatorTest, ChannelsAreScopedByApp) {
  auto a = create("room-42");
  auto r = call("CreateChannel", {{"AppId", "other-app"}, {"ChannelId", "room-42"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(a["ChannelKey"], r.body["ChannelKey"]);
  auto d = call("DeleteChannel", {{"AppId", "third-app"}, {"ChannelId", "room-42"}});
  expect_error(d, 404, "InvalidChannelId.NotFound");
}

TEST_F(EmulatorTest, DeleteChannelAnswer) {
  create("room-42");
  auto r = call("DeleteChannel", chan("room-42"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body["RequestId"].get<std::string>().size(), 36u);
  EXPECT_EQ(emu.channel_count(t0), 0u);
  expect_error(call("DeleteChannel", chan("room-42")), 404, "InvalidChannelId.NotFound");
  expect_error(call("DeleteChannel", chan("never")), 404, "InvalidChannelId.NotFound");
}

TEST_F(EmulatorTest, DescribeChannelUsersAnswer) {
  auto c = create("room-42");
  ASSERT_EQ(join_channel(c, "room-42", "alice").status, 200);
  ASSERT_EQ(join_channel(c, "room-42", "bob").status, 200);
  ASSERT_EQ(join_channel(c, "room-42", "alice", "sess-2").status, 200); // rejoin: no duplicate
  auto r = call("DescribeChannelUsers", chan("room-42"), t0 + 5000);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const auto& b = r.body;
  EXPECT_EQ(b["IsChannelExist"], true);
  EXPECT_EQ(b["UserList"], json::array({"alice", "bob"}));
  EXPECT_EQ(b["InteractiveUserList"], json::array({"alice", "bob"}));
  EXPECT_EQ(b["LiveUserList"], json::array());
  EXPECT_EQ(b["Timestamp"], (t0 + 5000) / 1000);
  EXPECT_EQ(b["ChannelProfile"], 1);
  EXPECT_EQ(b["CommTotalNum"], 2);
  EXPECT_EQ(b["InteractiveUserNum"], 2);
  EXPECT_EQ(b["LiveUserNum"], 0);
  EXPECT_TRUE(b["RequestId"].is_string());

  auto none = call("DescribeChannelUsers", chan("nowhere"));
  ASSERT_EQ(none.status, 200);
  EXPECT_EQ(none.body["IsChannelExist"], false);
  EXPECT_EQ(none.body["UserList"], json::array());
  EXPECT_EQ(none.body["CommTotalNum"], 0);
}

TEST_F(EmulatorTest, RemoveTerminalsAnswer) {
  auto c = create("room-42");
  join_channel(c, "room-42", "alice");
  join_channel(c, "room-42", "bob");
  auto p = chan("room-42");
  p["TerminalIds.1"] = "alice";
  p["TerminalIds.2"] = "x";
  auto r = call("RemoveTerminals", p);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body.size(), 2u);
  const auto& list = r.body["Terminals"]["Terminal"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], (json{{"Id", "alice"}, {"Code", "OK"}, {"Message", ""}}));
  EXPECT_EQ(list[1]["Id"], "x");
  EXPECT_EQ(list[1]["Code"], "TerminalNotFound");
  EXPECT_FALSE(list[1]["Message"].get<std::string>().empty());

  auto d = call("DescribeChannelUsers", chan("room-42"));
  EXPECT_EQ(d.body["UserList"], json::array({"bob"}));
}

TEST_F(EmulatorTest, RemoveTerminalsKeepsIndexOrder) {
  auto c = create("room-42");
  for (int i = 1; i <= 12; ++i)
    join_channel(c, "room-42", "u" + std::to_string(i));
  auto p = chan("room-42");
  for (int i = 1; i <= 12; ++i)
    p["TerminalIds." + std::to_string(i)] = "u" + std::to_string(i);
  auto r = call("RemoveTerminals", p);
  ASSERT_EQ(r.status, 200);
  const auto& list = r.body["Terminals"]["Terminal"];
  ASSERT_EQ(list.size(), 12u);
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(list[i]["Id"], "u" + std::to_string(i + 1)); // 1,2,..,10,11,12, not 1,10,11,12,2
  EXPECT_EQ(call("DescribeChannelUsers", chan("room-42")).body["CommTotalNum"], 0);
}

TEST_F(EmulatorTest, RemoveTerminalsLimits) {
  create("room-42");
  auto p = chan("room-42");
  expect_error(call("RemoveTerminals", p), 400, "InvalidParameter"); // none
  for (int i = 1; i <= 30; ++i)
    p["TerminalIds." + std::to_string(i)] = "u" + std::to_string(i);
  EXPECT_EQ(call("RemoveTerminals", p).status, 200); // 30 is fine
  p["TerminalIds.31"] = "u31";
  expect_error(call("RemoveTerminals", p), 400, "InvalidParameter");

  auto bad = chan("room-42");
  bad["TerminalIds.x"] = "alice";
  expect_error(call("RemoveTerminals", bad), 400, "InvalidParameter");

  auto unknown = chan("nowhere");
  unknown["TerminalIds.1"] = "alice";
  expect_error(call("RemoveTerminals", unknown), 404, "InvalidChannelId.NotFound");
}

// --- error paths --------------------------------------------------------------------

TEST_F(EmulatorTest, MissingCommonParameterIsNamed) {
  for (auto name : {"Format", "Version", "AccessKeyId", "SignatureMethod", "Timestamp",
                    "SignatureVersion", "SignatureNonce", "Signature", "Action"}) {
    auto p = signed_params("CreateChannel", chan("room-42"), t0);
    p.erase(name);
    if (std::string{name} != "Signature")
      p["Signature"] = rtc::sign("GET", p, secret);
    auto r = emu.openapi("GET", p, t0);
    expect_error(r, 400, "MissingParameter");
    EXPECT_NE(r.body["Message"].get<std::string>().find(std::string{"\""} + name + "\""),
              std::string::npos)
        << r.body.dump();
  }
  EXPECT_EQ(emu.channel_count(t0), 0u);
}

TEST_F(EmulatorTest, MissingActionParameterIsNamed) {
  for (auto name : {"AppId", "ChannelId"}) {
    auto p = chan("room-42");
    p.erase(name);
    auto r = call("CreateChannel", p);
    expect_error(r, 400, "MissingParameter");
    EXPECT_NE(r.body["Message"].get<std::string>().find(name), std::string::npos);
  }
  auto empty = chan("");
  expect_error(call("DeleteChannel", empty), 400, "MissingParameter");
}

TEST_F(EmulatorTest, UnknownAccessKeyId) {
  auto p = rtc::common_params("CreateChannel", "someone-else", "cn-hangzhou", t0 / 1000, "n-1");
  p.insert({{"AppId", app}, {"ChannelId", "room-42"}});
  p["Signature"] = rtc::sign("GET", p, secret);
  expect_error(emu.openapi("GET", p, t0), 404, "InvalidAccessKeyId.NotFound");
}

TEST_F(EmulatorTest, WrongSecretGivesStringToSign) {
  auto p = rtc::common_params("CreateChannel", key_id, "cn-hangzhou", t0 / 1000, "n-1");
  p.insert({{"AppId", app}, {"ChannelId", "room-42"}});
  auto expected_sts = rtc::string_to_sign("GET", p);
  p["Signature"] = rtc::sign("GET", p, "not-the-secret");
  auto r = emu.openapi("GET", p, t0);
  expect_error(r, 400, "SignatureDoesNotMatch");
  auto msg = r.body["Message"].get<std::string>();
  EXPECT_NE(msg.find(expected_sts), std::string::npos) << msg;
  EXPECT_EQ(msg.find(secret), std::string::npos);
  EXPECT_EQ(emu.channel_count(t0), 0u);
}

TEST_F(EmulatorTest, TamperedParameter) {
  auto p = signed_params("CreateChannel", chan("room-42"), t0);
  p["ChannelId"] = "room-43";
  expect_error(emu.openapi("GET", p, t0), 400, "SignatureDoesNotMatch");
  auto q = signed_params("CreateChannel", chan("room-42"), t0);
  q["Extra"] = "1";
  expect_error(emu.openapi("GET", q, t0), 400, "SignatureDoesNotMatch");
  auto garbage = signed_params("CreateChannel", chan("room-42"), t0);
  garbage["Signature"] = "not base64 !";
  expect_error(emu.openapi("GET", garbage, t0), 400, "SignatureDoesNotMatch");
}

TEST_F(EmulatorTest, SignatureIsCheckedWithTheMethodUsed) {
  auto get_signed = signed_params("CreateChannel", chan("room-42"), t0, "GET");
  expect_error(emu.openapi("POST", get_signed, t0), 400, "SignatureDoesNotMatch");
  auto post_signed = signed_params("CreateChannel", chan("room-42"), t0, "POST");
  EXPECT_EQ(emu.openapi("POST", post_signed, t0).status, 200);
}

TEST_F(EmulatorTest, TimestampWindow) {
  constexpr std::int64_t min_ms = 60'000;
  expect_error(emu.openapi("GET", signed_params("CreateChannel", chan("a"), t0 - 16 * min_ms), t0),
               400, "InvalidTimeStamp.Expired");
  expect_error(emu.openapi("GET", signed_params("CreateChannel", chan("a"), t0 + 16 * min_ms), t0),
               400, "InvalidTimeStamp.Expired");
  EXPECT_EQ(emu.openapi("GET", signed_params("CreateChannel", chan("a"), t0 - 14 * min_ms), t0).status, 200);
  EXPECT_EQ(emu.openapi("GET", signed_params("CreateChannel", chan("b"), t0 + 14 * min_ms), t0).status, 200);

  auto p = rtc::common_params("CreateChannel", key_id, "cn-hangzhou", t0 / 1000, "n-ts");
  p.insert({{"AppId", app}, {"ChannelId", "c"}});
  p["Timestamp"] = "2025-11-24 16:00:00";
  p["Signature"] = rtc::sign("GET", p, secret);
  expect_error(emu.openapi("GET", p, t0), 400, "InvalidTimeStamp.Format");
}

TEST_F(EmulatorTest, ReusedNonce) {
  auto p = signed_params("CreateChannel", chan("room-42"), t0);
  EXPECT_EQ(emu.openapi("GET", p, t0).status, 200);
  expect_error(emu.openapi("GET", p, t0 + 1000), 400, "SignatureNonceUsed");
  // A nonce is remembered for 15 minutes (longer than a Timestamp stays valid).
  auto later = p;
  later["Timestamp"] = rtc::format_timestamp((t0 + 16 * 60'000) / 1000);
  later["Signature"] = rtc::sign("GET", later, secret);
  EXPECT_EQ(emu.openapi("GET", later, t0 + 16 * 60'000).status, 200);
  // A rejected request (bad signature) does not burn its nonce.
  auto q = signed_params("CreateChannel", chan("room-44"), t0);
  auto tampered = q;
  tampered["ChannelId"] = "room-45";
  expect_error(emu.openapi("GET", tampered, t0), 400, "SignatureDoesNotMatch");
  EXPECT_EQ(emu.openapi("GET", q, t0).status, 200);
}

TEST_F(EmulatorTest, BadVersionMethodAndSignatureVersion) {
  auto with = [&](const char* name, const char* value) {
    auto p = signed_params("CreateChannel", chan("room-42"), t0);
    p[name] = value;
    p["Signature"] = rtc::sign("GET", p, secret);
    return emu.openapi("GET", p, t0);
  };
  expect_error(with("Version", "2014-05-26"), 400, "InvalidVersion");
  expect_error(with("SignatureMethod", "HMAC-SHA256"), 400, "InvalidParameter");
  expect_error(with("SignatureVersion", "2.0"), 400, "InvalidParameter");
  expect_error(with("Format", "XML"), 400, "InvalidParameter");
  EXPECT_EQ(with("Format", "json").status, 200);
}

TEST_F(EmulatorTest, UnknownAction) {
  auto r = call("DescribeRegions", chan("room-42"));
  expect_error(r, 404, "InvalidAction.NotFound");
  expect_error(call("CreateChannels", {}), 404, "InvalidAction.NotFound");
}

TEST_F(EmulatorTest, CheckOrder) {
  // Missing parameter beats an unknown key id.
  auto p = rtc::common_params("CreateChannel", "nobody", "cn-hangzhou", t0 / 1000, "n-1");
  p.erase("Version");
  p["Signature"] = rtc::sign("GET", p, secret);
  expect_error(emu.openapi("GET", p, t0), 400, "MissingParameter");
  // An unknown key id beats a bad signature.
  auto q = rtc::common_params("CreateChannel", "nobody", "cn-hangzhou", t0 / 1000, "n-1");
  q["Signature"] = "AAAA";
  expect_error(emu.openapi("GET", q, t0), 404, "InvalidAccessKeyId.NotFound");
  // A bad signature beats an old timestamp.
  auto r = signed_params("CreateChannel", chan("a"), t0 - hour_ms);
  r["Signature"] = "AAAA";
  expect_error(emu.openapi("GET", r, t0), 400, "SignatureDoesNotMatch");
  // An old timestamp beats a bad version; a bad version beats an unknown action.
  auto s = signed_params("Nope", {{"Version", "1999-01-01"}}, t0 - hour_ms);
  expect_error(emu.openapi("GET", s, t0), 400, "InvalidTimeStamp.Expired");
  expect_error(call("Nope", {{"Version", "1999-01-01"}}), 400, "InvalidVersion");
  // An unknown action beats missing action parameters.
  expect_error(call("Nope", {}), 404, "InvalidAction.NotFound");
}

// --- expiry -------------------------------------------------------------------------

TEST_F(EmulatorTest, ChannelsExpireAfterTheirTtl) {
  auto c = create("room-42");
  const std::int64_t expiry = t0 + 48 * hour_ms;
  EXPECT_EQ(c["Timestamp"], expiry / 1000);
  auto alive = call("DescribeChannelUsers", chan("room-42"), expiry - 1);
  EXPECT_EQ(alive.body["IsChannelExist"], true);
  // Retrying CreateChannel just before expiry still answers the same channel.
  EXPECT_EQ(create("room-42", expiry - 1000)["ChannelKey"], c["ChannelKey"]);

  auto gone = call("DescribeChannelUsers", chan("room-42"), expiry);
  EXPECT_EQ(gone.body["IsChannelExist"], false);
  EXPECT_EQ(emu.channel_count(expiry), 0u);
  expect_error(call("DeleteChannel", chan("room-42"), expiry + 1), 404, "InvalidChannelId.NotFound");
  auto again = create("room-42", expiry + 1);
  EXPECT_NE(again["ChannelKey"], c["ChannelKey"]);
  EXPECT_EQ(again["Timestamp"], (expiry + 1 + 48 * hour_ms) / 1000);
}

TEST(EmulatorTtl, ShortTtlAndListing) {
  auto o = make_options();
  o.channel_ttl = 500ms;
  emulator::emulator emu{o};
  auto r = emu.openapi("GET", signed_params("CreateChannel", chan("short"), t0), t0);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["Timestamp"], (t0 + 500) / 1000);
  auto list = emu.list_channels(t0 + 499);
  ASSERT_EQ(list.body["channels"].size(), 1u);
  EXPECT_EQ(list.body["channels"][0],
            (json{{"channel", "short"}, {"app", app}, {"users", json::array()},
                  {"expires_at", (t0 + 500) / 1000}, {"created_at", t0 / 1000}}));
  EXPECT_EQ(emu.get_channel("short", "", t0 + 499).status, 200);
  EXPECT_EQ(emu.list_channels(t0 + 500).body["channels"].size(), 0u);
  EXPECT_EQ(emu.get_channel("short", "", t0 + 500).status, 404);
}

// --- join tokens ----------------------------------------------------------------------

TEST_F(EmulatorTest, JoinWithChannelToken) {
  auto c = create("room-42");
  auto r = join_channel(c, "room-42", "alice");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, (json{{"joined", true}, {"scheme", "channel"}}));
  auto ch = emu.get_channel("room-42", app, t0);
  EXPECT_EQ(ch.body["users"], json::array({"alice"}));
}

TEST_F(EmulatorTest, JoinRefusesWrongChannelTokens) {
  auto c = create("room-42");
  const auto key = c["ChannelKey"].get<std::string>();
  const auto nonce = c["Nonce"].get<std::string>();
  const auto ts = c["Timestamp"].get<std::int64_t>();
  const auto good = rtc::channel_token("room-42", key, app, "alice", "sess-1", nonce, ts);
  json base{{"appid", app},   {"channel", "room-42"}, {"userid", "alice"}, {"session", "sess-1"},
            {"nonce", nonce}, {"timestamp", ts},      {"token", good}};
  ASSERT_EQ(emu.join(base, t0).status, 200);

  auto refused = [&](json body) {
    auto r = emu.join(body, t0);
    EXPECT_EQ(r.status, 403) << body.dump() << " -> " << r.body.dump();
    EXPECT_EQ(r.body.value("Code", ""), "InvalidToken");
    EXPECT_FALSE(r.body.value("Message", "").empty());
  };
  auto wrong_session = base;
  wrong_session["session"] = "sess-2"; // token was computed for sess-1
  refused(wrong_session);
  auto wrong_user = base;
  wrong_user["userid"] = "mallory";
  refused(wrong_user);
  auto wrong_token = base;
  wrong_token["token"] = rtc::channel_token("room-42", "another-key", app, "alice", "sess-1", nonce, ts);
  refused(wrong_token);
  auto wrong_nonce = base;
  wrong_nonce["nonce"] = "AK-00000000";
  wrong_nonce["token"] = rtc::channel_token("room-42", key, app, "alice", "sess-1", "AK-00000000", ts);
  refused(wrong_nonce);
  auto wrong_ts = base;
  wrong_ts["timestamp"] = ts + 1;
  wrong_ts["token"] = rtc::channel_token("room-42", key, app, "alice", "sess-1", nonce, ts + 1);
  refused(wrong_ts);
  auto deleted = base;
  ASSERT_EQ(call("DeleteChannel", chan("room-42")).status, 200);
  refused(deleted); // the channel is gone and an appkey token this is not
}

TEST_F(EmulatorTest, JoinWithAppKeyToken) {
  const std::int64_t expiry = t0 / 1000 + 24 * 3600;
  auto token = rtc::appkey_token(app, app_key, "room-7", "bob", "", expiry);
  json body{{"appid", app}, {"channel", "room-7"}, {"userid", "bob"},
            {"timestamp", expiry}, {"token", token}};
  auto r = emu.join(body, t0);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, (json{{"joined", true}, {"scheme", "appkey"}}));
  // The channel was made implicitly.
  auto ch = emu.get_channel("room-7", "", t0);
  ASSERT_EQ(ch.status, 200);
  EXPECT_EQ(ch.body["users"], json::array({"bob"}));
  EXPECT_EQ(call("DescribeChannelUsers", chan("room-7")).body["UserList"], json::array({"bob"}));

  // A second user joins the now existing channel with an appkey token.
  auto carol = rtc::appkey_token(app, app_key, "room-7", "carol", "n1", expiry);
  EXPECT_EQ(emu.join(json{{"appid", app}, {"channel", "room-7"}, {"userid", "carol"},
                          {"nonce", "n1"}, {"timestamp", std::to_string(expiry)}, {"token", carol}},
                     t0).status,
            200);

  // Appkey tokens also work for a channel made with CreateChannel.
  create("room-8");
  auto dave = rtc::appkey_token(app, app_key, "room-8", "dave", "", expiry);
  auto rd = emu.join(json{{"appid", app}, {"channel", "room-8"}, {"userid", "dave"},
                          {"timestamp", expiry}, {"token", dave}},
                     t0);
  EXPECT_EQ(rd.body.value("scheme", ""), "appkey");
}

TEST_F(EmulatorTest, JoinRefusesBadAppKeyTokens) {
  const std::int64_t expiry = t0 / 1000 + 3600;
  json body{{"appid", app}, {"channel", "room-7"}, {"userid", "bob"}, {"timestamp", expiry},
            {"token", rtc::appkey_token(app, "wrong-key", "room-7", "bob", "", expiry)}};
  EXPECT_EQ(emu.join(body, t0).status, 403);
  body["token"] = rtc::appkey_token(app, app_key, "room-7", "bob", "", expiry);
  body["userid"] = "eve";
  EXPECT_EQ(emu.join(body, t0).status, 403);
  body["userid"] = "bob";
  auto expired = emu.join(body, expiry * 1000); // at its expiry instant
  EXPECT_EQ(expired.status, 403);
  EXPECT_NE(expired.body["Message"].get<std::string>().find("expired"), std::string::npos);
  EXPECT_EQ(emu.channel_count(t0), 0u); // refused joins create nothing
  EXPECT_EQ(emu.join(body, t0).status, 200);
}

TEST(EmulatorJoin, AppKeySchemeNeedsAnAppKey) {
  emulator::emulator emu{make_options(false)};
  const std::int64_t expiry = t0 / 1000 + 3600;
  auto r = emu.join(json{{"appid", app}, {"channel", "room-7"}, {"userid", "bob"},
                         {"timestamp", expiry},
                         {"token", rtc::appkey_token(app, app_key, "room-7", "bob", "", expiry)}},
                    t0);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body["Message"].get<std::string>().find("RTC_APP_KEY"), std::string::npos);
}

TEST_F(EmulatorTest, JoinRejectsMalformedBodies) {
  EXPECT_EQ(emu.join(json::array(), t0).status, 400);
  EXPECT_EQ(emu.join(json{{"appid", app}}, t0).status, 400);
  auto r = emu.join(json{{"appid", app}, {"channel", "c"}, {"userid", "u"}, {"timestamp", "soon"},
                         {"token", "t"}},
                    t0);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(emu.join(json{{"appid", 5}, {"channel", "c"}, {"userid", "u"}, {"timestamp", 1},
                          {"token", "t"}},
                     t0).status,
            400);
}

TEST_F(EmulatorTest, Leave) {
  auto c = create("room-42");
  join_channel(c, "room-42", "alice");
  EXPECT_EQ(emu.leave(json{{"channel", "room-42"}, {"userid", "alice"}}, t0).body,
            (json{{"left", true}}));
  EXPECT_EQ(emu.leave(json{{"channel", "room-42"}, {"userid", "alice"}}, t0).body,
            (json{{"left", false}}));
  EXPECT_EQ(emu.leave(json{{"channel", "nowhere"}, {"userid", "alice"}}, t0).status, 404);
  EXPECT_EQ(emu.leave(json{{"channel", "room-42"}}, t0).status, 400);
}

// --- faults ---------------------------------------------------------------------------

TEST_F(EmulatorTest, FaultWithCount) {
  auto f = emu.add_fault(json{{"action", "CreateChannel"}, {"status", 503},
                              {"code", "ServiceUnavailable"}, {"message", "try later"}, {"count", 2}});
  ASSERT_EQ(f.status, 200) << f.body.dump();
  EXPECT_EQ(f.body["fault"]["id"], 1);
  for (int i = 0; i < 2; ++i) {
    auto r = call("CreateChannel", chan("room-42"));
    expect_error(r, 503, "ServiceUnavailable");
    EXPECT_EQ(r.body["Message"], "try later");
    EXPECT_TRUE(r.injected);
  }
  EXPECT_EQ(emu.channel_count(t0), 0u); // a failed create creates nothing
  EXPECT_EQ(call("CreateChannel", chan("room-42")).status, 200);
  EXPECT_EQ(emu.list_faults().body["faults"].size(), 0u); // used up
}

TEST_F(EmulatorTest, FaultMatchesOnlyItsAction) {
  emu.add_fault(json{{"action", "DeleteChannel"}, {"status", 500}});
  EXPECT_EQ(call("CreateChannel", chan("room-42")).status, 200);
  auto r = call("DeleteChannel", chan("room-42"));
  expect_error(r, 500, "InternalError");
  expect_error(call("DeleteChannel", chan("room-42")), 500, "InternalError"); // count -1: stays
  EXPECT_EQ(emu.clear_faults().body["cleared"], 1);
  EXPECT_EQ(call("DeleteChannel", chan("room-42")).status, 200);
}

TEST_F(EmulatorTest, WildcardFault) {
  emu.add_fault(json{{"action", "*"}, {"status", 429}, {"code", "Throttling.User"}, {"count", 3}});
  expect_error(call("CreateChannel", chan("a")), 429, "Throttling.User");
  expect_error(call("DescribeChannelUsers", chan("a")), 429, "Throttling.User");
  expect_error(call("RemoveTerminals", chan("a")), 429, "Throttling.User");
  EXPECT_EQ(call("DescribeChannelUsers", chan("a")).status, 200);
}

TEST_F(EmulatorTest, LatencyFaultAndBaseLatency) {
  auto f = emu.add_fault(json{{"action", "CreateChannel"}, {"latency_ms", 250}});
  ASSERT_EQ(f.status, 200);
  auto r = call("CreateChannel", chan("a"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.delay, 250ms);
  EXPECT_EQ(call("DescribeChannelUsers", chan("a")).delay, 0ms);

  auto o = make_options();
  o.latency = 40ms;
  emulator::emulator slow{o};
  slow.add_fault(json{{"action", "*"}, {"latency_ms", 100}, {"count", 1}});
  slow.add_fault(json{{"action", "*"}, {"status", 503}, {"latency_ms", 10}, {"count", 1}});
  auto first = slow.openapi("GET", signed_params("CreateChannel", chan("a"), t0), t0);
  EXPECT_EQ(first.delay, 150ms); // base + both faults' latency
  EXPECT_EQ(first.status, 503);
  auto second = slow.openapi("GET", signed_params("CreateChannel", chan("a"), t0), t0);
  EXPECT_EQ(second.delay, 40ms);
  EXPECT_EQ(second.status, 200);
}

TEST_F(EmulatorTest, DropFault) {
  emu.add_fault(json{{"action", "CreateChannel"}, {"drop", true}, {"count", 1}});
  auto r = call("CreateChannel", chan("a"));
  EXPECT_TRUE(r.drop);
  EXPECT_TRUE(r.injected);
  EXPECT_EQ(emu.channel_count(t0), 0u);
  EXPECT_FALSE(call("CreateChannel", chan("a")).drop);
}

TEST_F(EmulatorTest, FirstFailingFaultDecidesAndOnlyItIsConsumed) {
  emu.add_fault(json{{"action", "*"}, {"status", 503}, {"count", 1}});
  emu.add_fault(json{{"action", "*"}, {"status", 500}, {"count", 1}});
  expect_error(call("CreateChannel", chan("a")), 503, "ServiceUnavailable");
  expect_error(call("CreateChannel", chan("a")), 500, "InternalError");
  EXPECT_EQ(call("CreateChannel", chan("a")).status, 200);
}

TEST_F(EmulatorTest, FaultValidationAndClearing) {
  for (auto bad : {json::array(), json{{"status", 503}, {"bogus", 1}}, json{{"action", "Nope"}, {"status", 503}},
                   json{{"status", 200}}, json{{"status", "503"}, {"count", 0}}, json{{"count", -2}, {"status", 503}},
                   json{{"latency_ms", -1}}, json{{"action", "*"}}, json{{"drop", "yes"}}})
    EXPECT_EQ(emu.add_fault(bad).status, 400) << bad.dump();
  auto a = emu.add_fault(json{{"status", 503}});
  auto b = emu.add_fault(json{{"latency_ms", 5}});
  EXPECT_EQ(a.body["fault"]["action"], "*");
  EXPECT_EQ(a.body["fault"]["count"], -1);
  EXPECT_EQ(a.body["fault"]["code"], "ServiceUnavailable");
  EXPECT_EQ(emu.list_faults().body["faults"].size(), 2u);
  EXPECT_EQ(emu.clear_fault(a.body["fault"]["id"].get<std::int64_t>()).status, 200);
  EXPECT_EQ(emu.clear_fault(999).status, 404);
  EXPECT_EQ(call("CreateChannel", chan("a")).status, 200);
  EXPECT_EQ(emu.clear_faults().body["cleared"], 1);
  EXPECT_EQ(call("CreateChannel", chan("b")).delay, 0ms);
}

// --- stats and reset --------------------------------------------------------------------

TEST_F(EmulatorTest, StatsAndReset) {
  create("a");
  call("DeleteChannel", chan("nowhere")); // real failure
  emu.add_fault(json{{"action", "CreateChannel"}, {"status", 503}, {"count", 1}});
  call("CreateChannel", chan("b")); // injected failure
  call("Bogus", {});
  auto s = emu.stats().body;
  EXPECT_EQ(s["actions"]["CreateChannel"],
            (json{{"requests", 2}, {"ok", 1}, {"failed", 1}, {"injected", 1}}));
  EXPECT_EQ(s["actions"]["DeleteChannel"],
            (json{{"requests", 1}, {"ok", 0}, {"failed", 1}, {"injected", 0}}));
  EXPECT_EQ(s["total"]["requests"], 4);
  EXPECT_EQ(s["total"]["failed"], 3);

  auto p = signed_params("CreateChannel", chan("c"), t0);
  EXPECT_EQ(emu.openapi("GET", p, t0).status, 200);
  emu.add_fault(json{{"status", 503}});
  EXPECT_EQ(emu.reset().body, (json{{"reset", true}}));
  EXPECT_EQ(emu.channel_count(t0), 0u);
  EXPECT_EQ(emu.list_faults().body["faults"].size(), 0u);
  EXPECT_EQ(emu.stats().body["actions"], json::object());
  EXPECT_EQ(emu.openapi("GET", p, t0).status, 200); // nonces forgotten too
}

} // namespace
