// rtc-emulator over real sockets: the server runs in-process on 127.0.0.1 with
// a port picked by the kernel, and httplib::Client sends real signed requests
// (rtc::signed_query), exactly as the node's RTC client signs them.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

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
using namespace std::chrono_literals;

class EmulatorHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<emulator::emulator>(make_options());
    srv_ = std::make_unique<emulator::server>(*emu_, emulator::server_options{"127.0.0.1", 0, 32});
    port_ = srv_->start();
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { srv_->stop(); }

  httplib::Client client() {
    httplib::Client c{"127.0.0.1", port_};
    c.set_read_timeout(10, 0);
    c.set_connection_timeout(2, 0);
    return c;
  }

  rtc::rpc_params params(std::string_view action, const rtc::rpc_params& extra) {
    auto p = rtc::common_params(action, key_id, "cn-hangzhou", emulator::system_now_ms() / 1000,
                                crypto::uuid4());
    for (auto& [k, v] : extra)
      p[k] = v;
    return p;
  }

  httplib::Result get(std::string_view action, const rtc::rpc_params& extra,
                      std::string_view with_secret = secret) {
    auto c = client();
    return c.Get(("/?" + rtc::signed_query("GET", params(action, extra), with_secret)).c_str());
  }

  httplib::Result post_form(std::string_view action, const rtc::rpc_params& extra) {
    auto c = client();
    return c.Post("/", rtc::signed_query("POST", params(action, extra), secret),
                  "application/x-www-form-urlencoded");
  }

  httplib::Result post_json(const std::string& path, const json& body) {
    auto c = client();
    return c.Post(path.c_str(), body.dump(), "application/json");
  }

  static json body_of(const httplib::Result& r) {
    return r ? json::parse(r->body, nullptr, false) : json();
  }

  std::unique_ptr<emulator::emulator> emu_;
  std::unique_ptr<emulator::server> srv_;
  int port_ = 0;
};

void expect_aliyun_error(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body;
  auto b = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(b.is_object()) << r->body;
  EXPECT_EQ(b.size(), 4u) << r->body;
  EXPECT_EQ(b.value("Code", ""), code) << r->body;
  EXPECT_EQ(b.value("HostId", ""), "rtc.aliyuncs.com");
  EXPECT_EQ(b.value("RequestId", "").size(), 36u);
  EXPECT_TRUE(b["Message"].is_string());
}

TEST_F(EmulatorHttpTest, CreateOverGetAndPostForm) {
  auto r = get("CreateChannel", chan("room-42"));
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
  auto b = body_of(r);
  EXPECT_EQ(b["ChannelKey"].get<std::string>().size(), 32u);
  EXPECT_TRUE(b["Timestamp"].is_number_integer());

  auto again = post_form("CreateChannel", chan("room-42"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(body_of(again)["ChannelKey"], b["ChannelKey"]);

  auto d = post_form("DescribeChannelUsers", chan("room-42"));
  ASSERT_TRUE(d);
  EXPECT_EQ(body_of(d)["IsChannelExist"], true);
}

TEST_F(EmulatorHttpTest, AllActionsOverHttp) {
  auto created = body_of(get("CreateChannel", chan("room-1")));
  // A user joins with a token computed the node's way, then is removed.
  auto ts = created["Timestamp"].get<std::int64_t>();
  auto nonce = created["Nonce"].get<std::string>();
  auto token = rtc::channel_token("room-1", created["ChannelKey"].get<std::string>(), app,
                                  "alice", "sess-1", nonce, ts);
  auto j = post_json("/_emulator/join", {{"appid", app}, {"channel", "room-1"},
                                         {"userid", "alice"}, {"session", "sess-1"},
                                         {"nonce", nonce}, {"timestamp", ts}, {"token", token}});
  ASSERT_TRUE(j);
  EXPECT_EQ(j->status, 200) << j->body;
  EXPECT_EQ(body_of(j), (json{{"joined", true}, {"scheme", "channel"}}));

  auto d = body_of(get("DescribeChannelUsers", chan("room-1")));
  EXPECT_EQ(d["UserList"], json::array({"alice"}));

  auto p = chan("room-1");
  p["TerminalIds.1"] = "alice";
  p["TerminalIds.2"] = "ghost";
  auto rt = get("RemoveTerminals", p);
  ASSERT_TRUE(rt);
  EXPECT_EQ(rt->status, 200);
  auto terms = body_of(rt)["Terminals"]["Terminal"];
  ASSERT_EQ(terms.size(), 2u);
  EXPECT_EQ(terms[0]["Code"], "OK");
  EXPECT_EQ(terms[1]["Code"], "TerminalNotFound");

  auto del = get("DeleteChannel", chan("room-1"));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(body_of(del).size(), 1u);
  expect_aliyun_error(get("DeleteChannel", chan("room-1")), 404, "InvalidChannelId.NotFound");
}

TEST_F(EmulatorHttpTest, SigningErrorsOverHttp) {
  auto bad = get("CreateChannel", chan("room-42"), "wrong-secret");
  expect_aliyun_error(bad, 400, "SignatureDoesNotMatch");
  EXPECT_NE(body_of(bad)["Message"].get<std::string>().find("GET&%2F&"), std::string::npos);

  // Tampering with the query after signing.
  auto q = rtc::signed_query("GET", params("CreateChannel", chan("room-42")), secret);
  auto pos = q.find("room-42");
  ASSERT_NE(pos, std::string::npos);
  q.replace(pos, 7, "room-43");
  auto c = client();
  expect_aliyun_error(c.Get(("/?" + q).c_str()), 400, "SignatureDoesNotMatch");

  // Signed for GET, sent as POST.
  auto c2 = client();
  expect_aliyun_error(c2.Post("/", rtc::signed_query("GET", params("CreateChannel", chan("x")), secret),
                              "application/x-www-form-urlencoded"),
                      400, "SignatureDoesNotMatch");

  // Replay of the very same request.
  auto once = "/?" + rtc::signed_query("GET", params("DescribeChannelUsers", chan("x")), secret);
  auto c3 = client();
  auto first = c3.Get(once.c_str());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  expect_aliyun_error(c3.Get(once.c_str()), 400, "SignatureNonceUsed");

  // An old timestamp, an unknown key id, a missing parameter, an unknown action.
  auto old = rtc::common_params("CreateChannel", key_id, "cn-hangzhou",
                                emulator::system_now_ms() / 1000 - 3600, crypto::uuid4());
  old.insert({{"AppId", app}, {"ChannelId", "x"}});
  auto c4 = client();
  expect_aliyun_error(c4.Get(("/?" + rtc::signed_query("GET", old, secret)).c_str()), 400,
                      "InvalidTimeStamp.Expired");
  auto nobody = rtc::common_params("CreateChannel", "nobody", "cn-hangzhou",
                                   emulator::system_now_ms() / 1000, crypto::uuid4());
  expect_aliyun_error(c4.Get(("/?" + rtc::signed_query("GET", nobody, secret)).c_str()), 404,
                      "InvalidAccessKeyId.NotFound");
  expect_aliyun_error(c4.Get("/?Action=CreateChannel"), 400, "MissingParameter");
  expect_aliyun_error(get("StartMCUMixTranscode", chan("x")), 404, "InvalidAction.NotFound");
  auto vp = params("CreateChannel", chan("x"));
  vp["Version"] = "2020-01-01";
  expect_aliyun_error(c4.Get(("/?" + rtc::signed_query("GET", vp, secret)).c_str()), 400,
                      "InvalidVersion");
  auto many = chan("x");
  for (int i = 1; i <= 31; ++i)
    many["TerminalIds." + std::to_string(i)] = "u" + std::to_string(i);
  expect_aliyun_error(get("RemoveTerminals", many), 400, "InvalidParameter");
}

TEST_F(EmulatorHttpTest, JoinSchemesOverHttp) {
  // appkey: no channel yet; the emulator makes it on the first valid join.
  const std::int64_t expiry = emulator::system_now_ms() / 1000 + 3600;
  json body{{"appid", app}, {"channel", "room-ak"}, {"userid", "bob"}, {"session", "s"},
            {"nonce", ""}, {"timestamp", expiry},
            {"token", rtc::appkey_token(app, app_key, "room-ak", "bob", "", expiry)}};
  auto ok = post_json("/_emulator/join", body);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(body_of(ok)["scheme"], "appkey");

  body["userid"] = "mallory";
  auto refused = post_json("/_emulator/join", body);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(body_of(refused)["Code"], "InvalidToken");

  auto c = client();
  auto bad_json = c.Post("/_emulator/join", "{not json", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);

  // Channel listing and lookup.
  auto list = c.Get("/_emulator/channels");
  ASSERT_TRUE(list);
  auto chans = body_of(list)["channels"];
  ASSERT_EQ(chans.size(), 1u);
  EXPECT_EQ(chans[0]["channel"], "room-ak");
  EXPECT_EQ(chans[0]["app"], app);
  EXPECT_EQ(chans[0]["users"], json::array({"bob"}));
  EXPECT_TRUE(chans[0]["expires_at"].is_number_integer());
  EXPECT_TRUE(chans[0]["created_at"].is_number_integer());
  auto one = c.Get("/_emulator/channels/room-ak");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(body_of(one)["channel"], "room-ak");
  auto none = c.Get("/_emulator/channels/nope");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);

  auto left = post_json("/_emulator/leave", {{"channel", "room-ak"}, {"userid", "bob"}});
  ASSERT_TRUE(left);
  EXPECT_EQ(body_of(left), (json{{"left", true}}));
}

TEST_F(EmulatorHttpTest, FaultCountWildcardAndClear) {
  auto f = post_json("/_emulator/faults", {{"action", "CreateChannel"}, {"status", 503},
                                           {"code", "ServiceUnavailable"}, {"message", "busy"},
                                           {"count", 2}});
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200) << f->body;
  expect_aliyun_error(get("CreateChannel", chan("a")), 503, "ServiceUnavailable");
  EXPECT_EQ(get("DescribeChannelUsers", chan("a"))->status, 200); // other action untouched
  expect_aliyun_error(get("CreateChannel", chan("a")), 503, "ServiceUnavailable");
  EXPECT_EQ(get("CreateChannel", chan("a"))->status, 200);

  post_json("/_emulator/faults", {{"action", "*"}, {"status", 500}, {"count", -1}});
  expect_aliyun_error(get("DescribeChannelUsers", chan("a")), 500, "InternalError");
  expect_aliyun_error(get("DeleteChannel", chan("a")), 500, "InternalError");
  auto c = client();
  auto listed = c.Get("/_emulator/faults");
  ASSERT_TRUE(listed);
  EXPECT_EQ(body_of(listed)["faults"].size(), 1u);
  auto cleared = c.Delete("/_emulator/faults");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->status, 200);
  EXPECT_EQ(body_of(cleared)["cleared"], 1);
  EXPECT_EQ(get("DeleteChannel", chan("a"))->status, 200);

  auto invalid = post_json("/_emulator/faults", {{"action", "CreateChanel"}, {"status", 503}});
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->status, 400);

  auto stats = c.Get("/_emulator/stats");
  ASSERT_TRUE(stats);
  auto s = body_of(stats);
  EXPECT_EQ(s["actions"]["CreateChannel"],
            (json{{"requests", 3}, {"ok", 1}, {"failed", 2}, {"injected", 2}}));
  EXPECT_EQ(s["actions"]["DeleteChannel"]["failed"], 1);
}

TEST_F(EmulatorHttpTest, LatencyIsApplied) {
  ASSERT_EQ(post_json("/_emulator/faults", {{"action", "DescribeChannelUsers"}, {"latency_ms", 300}})->status,
            200);
  auto t = std::chrono::steady_clock::now();
  auto r = get("DescribeChannelUsers", chan("a"));
  auto elapsed = std::chrono::steady_clock::now() - t;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(elapsed, 300ms);

  t = std::chrono::steady_clock::now();
  EXPECT_EQ(get("CreateChannel", chan("a"))->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 300ms);
}

TEST_F(EmulatorHttpTest, SlowAnswersAreServedConcurrently) {
  post_json("/_emulator/faults", {{"action", "*"}, {"latency_ms", 400}});
  constexpr int n = 16;
  std::atomic<int> ok{0};
  auto t = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto r = get("CreateChannel", chan("c" + std::to_string(i)));
      if (r && r->status == 200)
        ++ok;
    });
  for (auto& th : threads)
    th.join();
  auto elapsed = std::chrono::steady_clock::now() - t;
  EXPECT_EQ(ok, n);
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, 4s); // 16 x 400ms in sequence would be 6.4s
}

TEST_F(EmulatorHttpTest, DropClosesWithoutAnswer) {
  ASSERT_EQ(post_json("/_emulator/faults", {{"action", "CreateChannel"}, {"drop", true}, {"count", 1}})->status,
            200);
  auto r = get("CreateChannel", chan("a"));
  EXPECT_FALSE(r);
  EXPECT_NE(r.error(), httplib::Error::Success);
  EXPECT_NE(r.error(), httplib::Error::Connection); // it connected; it just got nothing back
  EXPECT_EQ(emu_->channel_count(emulator::system_now_ms()), 0u);

  // Next one goes through; the server is fine.
  auto again = get("CreateChannel", chan("a"));
  ASSERT_TRUE(again) << httplib::to_string(again.error());
  EXPECT_EQ(again->status, 200);

  // Also raw: not a single byte comes back for a dropped request.
  post_json("/_emulator/faults", {{"action", "*"}, {"drop", true}, {"count", 1}});
  httplib::Client c{"127.0.0.1", port_};
  std::string received;
  auto res = c.Get(("/?" + rtc::signed_query("GET", params("DeleteChannel", chan("a")), secret)).c_str(),
                   [&](const httplib::Response&) { return true; },
                   [&](const char* data, size_t len) {
                     received.append(data, len);
                     return true;
                   });
  EXPECT_FALSE(res);
  EXPECT_TRUE(received.empty());
}

TEST_F(EmulatorHttpTest, StopWakesSlowRequests) {
  post_json("/_emulator/faults", {{"action", "*"}, {"latency_ms", 60000}});
  std::thread slow([&] { get("CreateChannel", chan("a")); });
  std::this_thread::sleep_for(200ms);
  auto t = std::chrono::steady_clock::now();
  srv_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t, 5s);
  slow.join();
}

TEST_F(EmulatorHttpTest, ResetAndUnknownPaths) {
  get("CreateChannel", chan("a"));
  post_json("/_emulator/faults", {{"status", 503}});
  auto c = client();
  auto r = c.Post("/_emulator/reset", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_of(r), (json{{"reset", true}}));
  EXPECT_EQ(body_of(c.Get("/_emulator/channels"))["channels"].size(), 0u);
  EXPECT_EQ(get("CreateChannel", chan("a"))->status, 200);

  auto nf = c.Get("/no/such/path");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_EQ(body_of(nf).value("Code", ""), "NotFound");
  auto health = c.Get("/_emulator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(EmulatorHttpPort, TwoServersGetDistinctPorts) {
  auto o = make_options(false);
  emulator::emulator a{o}, b{o};
  emulator::server sa{a, {"127.0.0.1", 0, 4}}, sb{b, {"127.0.0.1", 0, 4}};
  auto pa = sa.start(), pb = sb.start();
  EXPECT_GT(pa, 0);
  EXPECT_GT(pb, 0);
  EXPECT_NE(pa, pb);
  // A port in use is refused.
  emulator::emulator c{o};
  emulator::server sc{c, {"127.0.0.1", pa, 4}};
  EXPECT_THROW(sc.bind(), std::runtime_error);
}

} // namespace
