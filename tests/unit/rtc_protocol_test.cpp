// The RTC OpenAPI client's functional core: request building and signing,
// answer parsing, retry classification, backoff and the circuit breaker.
#include "gateway/rtc_protocol.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <set>

using namespace meetingd::rtc;
using namespace std::chrono_literals;

namespace {

settings test_settings() {
  settings s;
  s.endpoint = "http://rtc.example.test/";
  s.access_key_id = "testid";
  s.access_key_secret = "testsecret";
  s.app_id = "g10dhbxp";
  return s;
}

rpc_params query_of(const std::string& url, const std::string& base) {
  EXPECT_EQ(url.rfind(base + "/?", 0), 0u) << url;
  return parse_query(url.substr(base.size() + 2));
}

} // namespace

// --- requests ---------------------------------------------------------------

TEST(RtcRequest, CarriesEveryCommonParameterAndAVerifiableSignature) {
  auto s = test_settings();
  auto url = request_url(s, action::create_channel, action_params(action::create_channel, s.app_id, "room-42"),
                         1764000000, "nonce-0001");
  auto p = query_of(url, "http://rtc.example.test");
  EXPECT_EQ(p["Format"], "JSON");
  EXPECT_EQ(p["Version"], "2018-01-11");
  EXPECT_EQ(p["AccessKeyId"], "testid");
  EXPECT_EQ(p["SignatureMethod"], "HMAC-SHA1");
  EXPECT_EQ(p["Timestamp"], "2025-11-24T16:00:00Z");
  EXPECT_EQ(p["SignatureVersion"], "1.0");
  EXPECT_EQ(p["SignatureNonce"], "nonce-0001");
  EXPECT_EQ(p["RegionId"], "cn-hangzhou");
  EXPECT_EQ(p["Action"], "CreateChannel");
  EXPECT_EQ(p["AppId"], "g10dhbxp");
  EXPECT_EQ(p["ChannelId"], "room-42");
  ASSERT_TRUE(p.count("Signature"));
  EXPECT_EQ(p.size(), 12u);
  EXPECT_TRUE(verify("GET", p, "testsecret"));
  EXPECT_FALSE(verify("GET", p, "othersecret"));
  EXPECT_FALSE(verify("POST", p, "testsecret"));
  auto tampered = p;
  tampered["ChannelId"] = "room-43";
  EXPECT_FALSE(verify("GET", tampered, "testsecret"));
}

TEST(RtcRequest, SameInputsGiveTheSameUrl) {
  auto s = test_settings();
  auto own = action_params(action::delete_channel, s.app_id, "c");
  EXPECT_EQ(request_url(s, action::delete_channel, own, 1700000000, "n"),
            request_url(s, action::delete_channel, own, 1700000000, "n"));
}

TEST(RtcRequest, EndpointWithoutTrailingSlash) {
  auto s = test_settings();
  s.endpoint = "https://rtc.aliyuncs.com";
  auto url = request_url(s, action::delete_channel, action_params(action::delete_channel, s.app_id, "c"),
                         1700000000, "n");
  EXPECT_EQ(url.rfind("https://rtc.aliyuncs.com/?", 0), 0u) << url;
}

TEST(RtcRequest, DefaultNonceIsFreshPerRequest) {
  auto s = test_settings();
  auto own = action_params(action::describe_channel_users, s.app_id, "c");
  auto a = query_of(request_url(s, action::describe_channel_users, own, 1700000000), "http://rtc.example.test");
  auto b = query_of(request_url(s, action::describe_channel_users, own, 1700000000), "http://rtc.example.test");
  EXPECT_EQ(a["Action"], "DescribeChannelUsers");
  EXPECT_EQ(a["SignatureNonce"].size(), 36u);
  EXPECT_NE(a["SignatureNonce"], b["SignatureNonce"]);
  EXPECT_TRUE(verify("GET", a, "testsecret"));
  EXPECT_TRUE(verify("GET", b, "testsecret"));
}

TEST(RtcRequest, ParametersThatNeedEncodingStillVerify) {
  auto s = test_settings();
  auto own = action_params(action::remove_terminals, s.app_id, "room with spaces/ü*",
                           {"alice", "bob+1", "c&d=e"});
  auto url = request_url(s, action::remove_terminals, own, 1700000000, "n-1");
  EXPECT_EQ(url.find(' '), std::string::npos);
  auto p = query_of(url, "http://rtc.example.test");
  EXPECT_EQ(p["ChannelId"], "room with spaces/ü*");
  EXPECT_EQ(p["TerminalIds.1"], "alice");
  EXPECT_EQ(p["TerminalIds.2"], "bob+1");
  EXPECT_EQ(p["TerminalIds.3"], "c&d=e");
  EXPECT_EQ(p.count("TerminalIds.4"), 0u);
  EXPECT_TRUE(verify("GET", p, "testsecret"));
}

TEST(RtcRequest, ActionParams) {
  auto p = action_params(action::create_channel, "app", "ch", {"ignored"});
  EXPECT_EQ(p, (rpc_params{{"AppId", "app"}, {"ChannelId", "ch"}}));
  std::vector<std::string> ids;
  for (int i = 1; i <= 12; ++i)
    ids.push_back("u" + std::to_string(i));
  auto r = action_params(action::remove_terminals, "app", "ch", ids);
  EXPECT_EQ(r.size(), 14u);
  EXPECT_EQ(r["TerminalIds.1"], "u1");
  EXPECT_EQ(r["TerminalIds.12"], "u12");
}

TEST(RtcRequest, SplitTerminals) {
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i)
    ids.push_back("u" + std::to_string(i));
  auto chunks = split_terminals(ids);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].size(), 30u);
  EXPECT_EQ(chunks[1].size(), 10u);
  EXPECT_EQ(chunks[0].front(), "u0");
  EXPECT_EQ(chunks[1].front(), "u30");
  EXPECT_EQ(chunks[1].back(), "u39");
  ids.resize(30);
  EXPECT_EQ(split_terminals(ids).size(), 1u);
  ids.resize(61, "x");
  EXPECT_EQ(split_terminals(ids).size(), 3u);
  auto none = split_terminals({});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_TRUE(none[0].empty());
}

// --- answers ----------------------------------------------------------------

TEST(RtcAnswer, CreateChannelWithNumericTimestamp) {
  auto a = parse_answer(action::create_channel, 200,
                        R"({"RequestId":"r-1","ChannelKey":"k-1","Nonce":"AK-5f2c9e","Timestamp":1764000000})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.request_id, "r-1");
  EXPECT_EQ(a.grant.channel_key, "k-1");
  EXPECT_EQ(a.grant.nonce, "AK-5f2c9e");
  EXPECT_EQ(a.grant.timestamp, 1764000000);
  EXPECT_EQ(a.attempts, 0);
}

TEST(RtcAnswer, CreateChannelWithStringTimestamp) {
  auto a = parse_answer(action::create_channel, 200,
                        R"({"RequestId":"r-2","ChannelKey":"k","Nonce":"n","Timestamp":"1764000001"})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.grant.timestamp, 1764000001);
}

TEST(RtcAnswer, CreateChannelMissingFieldsIsInvalid) {
  for (const char* body : {R"({"RequestId":"r","Nonce":"n","Timestamp":1})",
                           R"({"RequestId":"r","ChannelKey":"k","Timestamp":1})",
                           R"({"RequestId":"r","ChannelKey":"k","Nonce":"n"})",
                           R"({"RequestId":"r","ChannelKey":"k","Nonce":"n","Timestamp":"12x"})",
                           R"({"RequestId":"r","ChannelKey":"k","Nonce":"n","Timestamp":1.5})"}) {
    auto a = parse_answer(action::create_channel, 200, body);
    ASSERT_FALSE(a.ok()) << body;
    EXPECT_EQ(a.error->code, "InvalidResponse") << body;
    EXPECT_EQ(a.error->kind, failure_kind::refused) << body;
    EXPECT_EQ(a.error->request_id, "r") << body;
    EXPECT_EQ(a.request_id, "r") << body;
  }
}

TEST(RtcAnswer, DeleteChannel) {
  auto a = parse_answer(action::delete_channel, 200, R"({"RequestId":"r-3"})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.request_id, "r-3");
}

TEST(RtcAnswer, RemoveTerminalsAsList) {
  auto a = parse_answer(action::remove_terminals, 200,
                        R"({"RequestId":"r-4","Terminals":[{"Id":"alice","Code":0,"Message":"ok"},)"
                        R"({"Id":"bob","Code":"NotFound","Message":"not in channel"}]})");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.terminals.size(), 2u);
  EXPECT_EQ(a.terminals[0].id, "alice");
  EXPECT_EQ(a.terminals[0].code, "0");
  EXPECT_EQ(a.terminals[0].message, "ok");
  EXPECT_EQ(a.terminals[1].id, "bob");
  EXPECT_EQ(a.terminals[1].code, "NotFound");
}

TEST(RtcAnswer, RemoveTerminalsAsTerminalObject) {
  auto a = parse_answer(action::remove_terminals, 200,
                        R"({"RequestId":"r-5","Terminals":{"Terminal":[{"Id":"carol","Code":"0","Message":""}]}})");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.terminals.size(), 1u);
  EXPECT_EQ(a.terminals[0].id, "carol");
  EXPECT_EQ(a.terminals[0].code, "0");
}

TEST(RtcAnswer, RemoveTerminalsOddShapes) {
  EXPECT_TRUE(parse_answer(action::remove_terminals, 200, R"({"RequestId":"r"})").ok());
  EXPECT_TRUE(parse_answer(action::remove_terminals, 200, R"({"Terminals":{"Terminal":[]}})").ok());
  EXPECT_EQ(parse_answer(action::remove_terminals, 200, R"({"Terminals":"alice"})").error->code,
            "InvalidResponse");
  EXPECT_EQ(parse_answer(action::remove_terminals, 200, R"({"Terminals":{"Other":[]}})").error->code,
            "InvalidResponse");
  EXPECT_EQ(parse_answer(action::remove_terminals, 200, R"({"Terminals":[1,2]})").error->code,
            "InvalidResponse");
}

TEST(RtcAnswer, DescribeChannelUsers) {
  auto a = parse_answer(action::describe_channel_users, 200,
                        R"({"RequestId":"r-6","IsChannelExist":true,"CommTotalNum":2,)"
                        R"("UserList":["alice","bob"],"InteractiveUserList":["alice"]})");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a.channel_exists);
  EXPECT_EQ(a.users, (std::vector<std::string>{"alice", "bob"}));
  auto b = parse_answer(action::describe_channel_users, 200,
                        R"({"RequestId":"r-7","IsChannelExist":false})");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b.channel_exists);
  EXPECT_TRUE(b.users.empty());
  auto c = parse_answer(action::describe_channel_users, 200,
                        R"({"IsChannelExist":"true","UserList":{"User":["x"]}})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.channel_exists);
  EXPECT_EQ(c.users, (std::vector<std::string>{"x"}));
  EXPECT_FALSE(parse_answer(action::describe_channel_users, 200, R"({"UserList":[1]})").ok());
  EXPECT_FALSE(parse_answer(action::describe_channel_users, 200, R"({"IsChannelExist":1})").ok());
}

TEST(RtcAnswer, ErrorBody) {
  auto a = parse_answer(action::create_channel, 400,
                        R"({"RequestId":"r-8","HostId":"rtc.aliyuncs.com","Code":"SignatureDoesNotMatch",)"
                        R"("Message":"Specified signature is not matched with our calculation."})");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->kind, failure_kind::refused);
  EXPECT_EQ(a.error->http_status, 400);
  EXPECT_EQ(a.error->code, "SignatureDoesNotMatch");
  EXPECT_EQ(a.error->message, "Specified signature is not matched with our calculation.");
  EXPECT_EQ(a.error->request_id, "r-8");
  EXPECT_EQ(a.request_id, "r-8");
  EXPECT_FALSE(retryable(*a.error));
}

TEST(RtcAnswer, ServerErrorAndThrottlingAreUnavailable) {
  auto a = parse_answer(action::delete_channel, 503,
                        R"({"RequestId":"r","Code":"ServiceUnavailable","Message":"busy"})");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->kind, failure_kind::unavailable);
  EXPECT_TRUE(retryable(*a.error));
  auto t = parse_answer(action::delete_channel, 400,
                        R"({"RequestId":"r","Code":"Throttling.User","Message":"slow down"})");
  EXPECT_EQ(t.error->kind, failure_kind::unavailable);
  EXPECT_TRUE(retryable(*t.error));
}

TEST(RtcAnswer, Garbage) {
  auto a = parse_answer(action::create_channel, 200, "<html>hello</html>");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->code, "InvalidResponse");
  EXPECT_EQ(a.error->kind, failure_kind::refused);
  EXPECT_EQ(a.error->http_status, 200);
  EXPECT_FALSE(retryable(*a.error));
  for (const char* body : {"", "[]", "null", "\"x\"", "{", "42", "{\"RequestId\":"}) {
    auto b = parse_answer(action::delete_channel, 200, body);
    ASSERT_FALSE(b.ok()) << body;
    EXPECT_EQ(b.error->code, "InvalidResponse") << body;
  }
  // A proxy's error page: not an RTC error, but a 5xx is worth a retry.
  auto c = parse_answer(action::delete_channel, 502, "<html>Bad Gateway</html>");
  EXPECT_EQ(c.error->code, "InvalidResponse");
  EXPECT_EQ(c.error->kind, failure_kind::unavailable);
  EXPECT_TRUE(retryable(*c.error));
  auto d = parse_answer(action::delete_channel, 404, "not found");
  EXPECT_EQ(d.error->code, "InvalidResponse");
  EXPECT_EQ(d.error->kind, failure_kind::refused);
  auto e = parse_answer(action::delete_channel, 400, R"({"RequestId":"r","Message":"no code"})");
  EXPECT_EQ(e.error->code, "InvalidResponse");
  EXPECT_EQ(e.error->request_id, "r");
  std::string huge(100000, 'x');
  auto f = parse_answer(action::delete_channel, 500, huge);
  EXPECT_LT(f.error->message.size(), 300u);
}

TEST(RtcAnswer, TransportError) {
  auto a = parse_answer(action::create_channel, 0, "", "Timeout was reached");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->kind, failure_kind::unavailable);
  EXPECT_EQ(a.error->code, "TransportError");
  EXPECT_EQ(a.error->message, "Timeout was reached");
  EXPECT_EQ(a.error->http_status, 0);
  EXPECT_TRUE(retryable(*a.error));
}

TEST(RtcAnswer, MergeParts) {
  answer a;
  a.request_id = "r-1";
  a.attempts = 1;
  a.terminals = {{"u1", "0", ""}};
  answer b;
  b.request_id = "r-2";
  b.attempts = 2;
  b.terminals = {{"u2", "0", ""}, {"u3", "0", ""}};
  auto m = merge_answers({a, b});
  EXPECT_TRUE(m.ok());
  EXPECT_EQ(m.request_id, "r-1,r-2");
  EXPECT_EQ(m.attempts, 3);
  ASSERT_EQ(m.terminals.size(), 3u);
  EXPECT_EQ(m.terminals[2].id, "u3");
  answer c;
  c.error = failure{failure_kind::refused, 400, "Forbidden.RAM", "no", "r-3"};
  auto n = merge_answers({a, c, b});
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error->code, "Forbidden.RAM");
  EXPECT_EQ(n.terminals.size(), 3u);
}

// --- retry classification ---------------------------------------------------

TEST(RtcRetry, ClassificationTable) {
  struct row {
    int status;
    const char* code;
    bool retry;
  };
  const row table[] = {
    {0, "TransportError", true},
    {500, "InternalError", true},
    {502, "InvalidResponse", true},
    {503, "ServiceUnavailable", true},
    {504, "", true},
    {400, "Throttling", true},
    {400, "Throttling.User", true},
    {503, "Throttling.Api", true},
    {429, "", true},
    {400, "SignatureDoesNotMatch", false},
    {403, "SignatureDoesNotMatch", false},
    {500, "SignatureDoesNotMatch", false},
    {404, "InvalidAccessKeyId.NotFound", false},
    {400, "InvalidAccessKeyId.Inactive", false},
    {403, "Forbidden", false},
    {403, "Forbidden.RAM", false},
    {503, "Forbidden.AccessKeyDisabled", false},
    {400, "MissingParameter", false},
    {400, "InvalidParameter.ChannelId", false},
    {404, "InvalidAppId.NotFound", false},
    {409, "ChannelAlreadyExist", false},
    {200, "InvalidResponse", false},
  };
  for (const auto& r : table) {
    EXPECT_EQ(is_retryable(r.status, r.code), r.retry) << r.status << " " << r.code;
    failure f{r.retry ? failure_kind::unavailable : failure_kind::refused, r.status, r.code, "", ""};
    EXPECT_EQ(retryable(f), r.retry) << r.status << " " << r.code;
  }
  failure open{failure_kind::unavailable, 0, "CircuitOpen", "", ""};
  EXPECT_FALSE(retryable(open));
}

// --- backoff ----------------------------------------------------------------

TEST(RtcBackoff, CeilingDoublesUpToTheCap) {
  settings s;
  s.backoff_base = 100ms;
  s.backoff_cap = 2000ms;
  EXPECT_EQ(backoff_ceiling(s, 0), 100ms);
  EXPECT_EQ(backoff_ceiling(s, 1), 100ms);
  EXPECT_EQ(backoff_ceiling(s, 2), 200ms);
  EXPECT_EQ(backoff_ceiling(s, 3), 400ms);
  EXPECT_EQ(backoff_ceiling(s, 5), 1600ms);
  EXPECT_EQ(backoff_ceiling(s, 6), 2000ms);
  EXPECT_EQ(backoff_ceiling(s, 1000), 2000ms);
  s.backoff_base = 5000ms;
  EXPECT_EQ(backoff_ceiling(s, 1), 2000ms);
  s.backoff_base = 0ms;
  EXPECT_EQ(backoff_ceiling(s, 10), 0ms);
  s.backoff_base = std::chrono::milliseconds{std::numeric_limits<std::int64_t>::max() / 2};
  s.backoff_cap = std::chrono::milliseconds{std::numeric_limits<std::int64_t>::max()};
  EXPECT_GT(backoff_ceiling(s, 64).count(), 0);
}

TEST(RtcBackoff, FullJitterStaysWithinBounds) {
  settings s;
  s.backoff_base = 100ms;
  s.backoff_cap = 2000ms;
  std::mt19937_64 rng{42};
  for (int retry = 1; retry <= 8; ++retry) {
    auto ceiling = backoff_ceiling(s, retry);
    std::set<long long> seen;
    for (int i = 0; i < 1000; ++i) {
      auto d = backoff_delay(s, retry, rng);
      EXPECT_GE(d, 0ms);
      EXPECT_LE(d, ceiling);
      seen.insert(d.count());
    }
    // Full jitter: the whole range [0, ceiling] is used.
    EXPECT_GT(seen.size(), 50u);
    EXPECT_LE(*seen.begin(), ceiling.count() / 10);
    EXPECT_GE(*seen.rbegin(), ceiling.count() * 9 / 10);
  }
  // The injected source decides: the same seed gives the same delays.
  std::mt19937 a{7}, b{7};
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(backoff_delay(s, 4, a), backoff_delay(s, 4, b));
}

// --- circuit breaker --------------------------------------------------------

TEST(RtcCircuit, OpensAfterThresholdConsecutiveFailures) {
  circuit_breaker cb{3, 5000ms};
  circuit_breaker::clock::time_point t0{};
  EXPECT_TRUE(cb.allow(t0));
  cb.record(true, t0);
  cb.record(true, t0);
  cb.record(false, t0); // a success resets the count
  cb.record(true, t0);
  cb.record(true, t0);
  EXPECT_EQ(cb.current(), circuit_breaker::state::closed);
  EXPECT_TRUE(cb.allow(t0));
  cb.record(true, t0 + 1s);
  EXPECT_EQ(cb.current(), circuit_breaker::state::open);
  EXPECT_TRUE(cb.is_open());
  EXPECT_EQ(cb.retry_at(), t0 + 6s);
  EXPECT_FALSE(cb.allow(t0 + 2s));
  auto f = cb.open_failure(t0 + 2s);
  EXPECT_EQ(f.kind, failure_kind::unavailable);
  EXPECT_EQ(f.code, "CircuitOpen");
  EXPECT_EQ(f.http_status, 0);
  EXPECT_NE(f.message.find("considered down"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("4000 ms"), std::string::npos) << f.message;
  EXPECT_FALSE(retryable(f));
}

TEST(RtcCircuit, HalfOpenLetsOneProbeThroughAndSuccessCloses) {
  circuit_breaker cb{2, 1000ms};
  circuit_breaker::clock::time_point t0{};
  cb.record(true, t0);
  cb.record(true, t0);
  ASSERT_EQ(cb.current(), circuit_breaker::state::open);
  EXPECT_FALSE(cb.allow(t0 + 999ms));
  EXPECT_TRUE(cb.allow(t0 + 1000ms)); // the probe
  EXPECT_EQ(cb.current(), circuit_breaker::state::half_open);
  EXPECT_TRUE(cb.is_open());
  EXPECT_FALSE(cb.allow(t0 + 1001ms)); // others fail fast meanwhile
  EXPECT_EQ(cb.open_failure(t0 + 1001ms).code, "CircuitOpen");
  cb.record(false, t0 + 1100ms);
  EXPECT_EQ(cb.current(), circuit_breaker::state::closed);
  EXPECT_EQ(cb.consecutive_failures(), 0);
  EXPECT_TRUE(cb.allow(t0 + 1101ms));
  EXPECT_TRUE(cb.allow(t0 + 1101ms));
}

TEST(RtcCircuit, FailedProbeReopensForAnotherCooldown) {
  circuit_breaker cb{1, 1000ms};
  circuit_breaker::clock::time_point t0{};
  cb.record(true, t0);
  ASSERT_EQ(cb.current(), circuit_breaker::state::open);
  ASSERT_TRUE(cb.allow(t0 + 1s));
  cb.record(true, t0 + 1500ms);
  EXPECT_EQ(cb.current(), circuit_breaker::state::open);
  EXPECT_EQ(cb.retry_at(), t0 + 2500ms);
  EXPECT_FALSE(cb.allow(t0 + 2s));
  EXPECT_TRUE(cb.allow(t0 + 2500ms));
  cb.record(false, t0 + 2600ms);
  EXPECT_EQ(cb.current(), circuit_breaker::state::closed);
}

TEST(RtcCircuit, LateOutcomesWhileOpen) {
  circuit_breaker cb{1, 1000ms};
  circuit_breaker::clock::time_point t0{};
  cb.record(true, t0);
  cb.record(true, t0 + 500ms); // a call from before the opening: cooldown kept
  EXPECT_EQ(cb.retry_at(), t0 + 1000ms);
  cb.record(false, t0 + 600ms); // the service answered after all
  EXPECT_EQ(cb.current(), circuit_breaker::state::closed);
}

TEST(RtcCircuit, ThresholdZeroDisables) {
  circuit_breaker cb{0, 1000ms};
  circuit_breaker::clock::time_point t0{};
  for (int i = 0; i < 100; ++i)
    cb.record(true, t0);
  EXPECT_EQ(cb.current(), circuit_breaker::state::closed);
  EXPECT_TRUE(cb.allow(t0));
}

// A DeleteChannel answer that says the channel is not there is as good as a
// deletion; one that says something else is not there is not.
TEST(rtc_protocol, a_channel_not_found_is_gone_other_things_not_found_are_not) {
  auto refused = [](std::string code) {
    answer a;
    a.error = failure{failure_kind::refused, 404, std::move(code), "", "rid"};
    return a;
  };
  EXPECT_TRUE(channel_is_gone(answer{}));
  EXPECT_TRUE(channel_is_gone(refused("InvalidChannelId.NotFound")));
  EXPECT_TRUE(channel_is_gone(refused("ChannelNotFound")));
  EXPECT_FALSE(channel_is_gone(refused("InvalidAccessKeyId.NotFound")))
    << "a wrong key does not delete channels";
  EXPECT_FALSE(channel_is_gone(refused("InvalidAppId.NotFound")));
  EXPECT_FALSE(channel_is_gone(refused("Forbidden.RAM")));
  answer down;
  down.error = failure{failure_kind::unavailable, 0, "TransportError", "", ""};
  EXPECT_FALSE(channel_is_gone(down));
}

