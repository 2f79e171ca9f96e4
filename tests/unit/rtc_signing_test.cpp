// RPC Signature Version 1.0 against Aliyun's own vector (docs/protocol.md §11),
// percent-encoding edge cases, timestamps, and the sign → parse → verify round
// trip that the RTC emulator relies on.
#include "gateway/rtc_signing.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace meetingd::rtc;

namespace {

rpc_params aliyun_vector_params() {
  return {
    {"Timestamp", "2016-02-23T12:46:24Z"},
    {"Format", "XML"},
    {"AccessKeyId", "testid"},
    {"Action", "DescribeRegions"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
    {"Version", "2014-05-26"},
    {"SignatureVersion", "1.0"},
  };
}

} // namespace

TEST(rtc_signing, aliyun_vector) {
  auto p = aliyun_vector_params();
  auto sts = string_to_sign("GET", p);
  EXPECT_EQ(sts.rfind("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions", 0), 0u) << sts;
  EXPECT_EQ(sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
            "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-"
            "4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
            "%26Version%3D2014-05-26");
  EXPECT_EQ(sign("GET", p, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

TEST(rtc_signing, sign_ignores_existing_signature) {
  auto p = aliyun_vector_params();
  p["Signature"] = "whatever";
  EXPECT_EQ(sign("GET", p, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

TEST(rtc_signing, percent_encode_edge_cases) {
  // {input, encoding}. Aliyun's rule: RFC 3986 unreserved characters stay,
  // every other byte becomes %XX in upper case.
  const std::vector<std::pair<std::string, std::string>> cases{
    {"", ""},     {"AZaz09-_.~", "AZaz09-_.~"}, {" ", "%20"}, {"*", "%2A"}, {"~", "~"},
    {"/", "%2F"}, {"=", "%3D"}, {"&", "%26"},   {"+", "%2B"}, {"%", "%25"}, {":", "%3A"},
    {"\xc3\xa9", "%C3%A9"} /* é */, {"\xe4\xbc\x9a", "%E4%BC%9A"} /* 会 */,
    {std::string("\x00\xff", 2), "%00%FF"}, {"a b*c~d", "a%20b%2Ac~d"}};
  for (auto& [input, encoded] : cases)
    EXPECT_EQ(percent_encode(input), encoded) << "input " << ::testing::PrintToString(input);
}

TEST(rtc_signing, canonical_query_sorts_bytewise_and_encodes) {
  rpc_params p{{"b", "2"}, {"a", "x y"}, {"B", "*"}, {"TerminalIds.1", "u/1"}};
  EXPECT_EQ(canonical_query(p), "B=%2A&TerminalIds.1=u%2F1&a=x%20y&b=2");
  EXPECT_EQ(canonical_query({}), "");
}

TEST(rtc_signing, timestamps) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(1456231584), "2016-02-23T12:46:24Z");
  EXPECT_EQ(format_timestamp(1764000000), "2025-11-24T16:00:00Z");
  EXPECT_EQ(format_timestamp(1709208000), "2024-02-29T12:00:00Z");
  EXPECT_EQ(format_timestamp(951868800), "2000-03-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_timestamp(253402300799), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_timestamp(-62167219200), "0000-01-01T00:00:00Z");
  EXPECT_THROW(format_timestamp(253402300800), std::out_of_range);
  EXPECT_THROW(format_timestamp(-62167219201), std::out_of_range);

  EXPECT_EQ(parse_timestamp("2016-02-23T12:46:24Z"), 1456231584);
  EXPECT_EQ(parse_timestamp("1969-12-31T23:59:59Z"), -1);
  EXPECT_EQ(parse_timestamp("2024-02-29T12:00:00Z"), 1709208000);
  for (std::int64_t t : {std::int64_t{-62167219200}, std::int64_t{-86401}, std::int64_t{0},
                         std::int64_t{86399}, std::int64_t{1764000000},
                         std::int64_t{4102444800}, std::int64_t{253402300799}})
    EXPECT_EQ(parse_timestamp(format_timestamp(t)), t) << t;
  for (std::int64_t t = -400LL * 86400 * 366; t < 400LL * 86400 * 366; t += 86400 * 13 + 7)
    ASSERT_EQ(parse_timestamp(format_timestamp(t)), t) << t;
}

TEST(rtc_signing, parse_timestamp_rejects_malformed) {
  for (const char* bad :
       {"", "2016-02-23T12:46:24", "2016-02-23 12:46:24Z", "2016-02-23t12:46:24Z",
        "2016-02-23T12:46:24z", "2016-02-23T12:46:24Z ", "2016-2-23T12:46:24Z",
        "2016-02-30T12:46:24Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2016-13-01T00:00:00Z", "2016-00-01T00:00:00Z", "2016-01-00T00:00:00Z",
        "2016-02-23T24:00:00Z", "2016-02-23T12:60:00Z", "2016-02-23T12:46:60Z",
        "+016-02-23T12:46:24Z", "2016-02-23T12:46:24+00:00", "2016-02-23T1a:46:24Z"})
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
  EXPECT_TRUE(parse_timestamp("2000-02-29T00:00:00Z").has_value());
}

TEST(rtc_signing, common_params_fields) {
  auto p = common_params("CreateChannel", "AKID", "cn-hangzhou", 1764000000, "nonce-1");
  rpc_params expected{
    {"Format", "JSON"},
    {"Version", "2018-01-11"},
    {"AccessKeyId", "AKID"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"Timestamp", "2025-11-24T16:00:00Z"},
    {"SignatureVersion", "1.0"},
    {"SignatureNonce", "nonce-1"},
    {"RegionId", "cn-hangzhou"},
    {"Action", "CreateChannel"},
  };
  EXPECT_EQ(p, expected);
}

TEST(rtc_signing, signed_query_matches_vector) {
  auto q = signed_query("GET", aliyun_vector_params(), "testsecret");
  EXPECT_NE(q.find("&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D&"), std::string::npos) << q;
  EXPECT_EQ(q.rfind("AccessKeyId=testid&Action=DescribeRegions&", 0), 0u) << q;
}

TEST(rtc_signing, round_trip_and_tampering) {
  auto p = common_params("RemoveTerminals", "AKID", "cn-hangzhou", 1764000000,
                         "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
  p["AppId"] = "g10dhbxp";
  p["ChannelId"] = "room 42/*~\xe4\xbc\x9a";
  p["TerminalIds.1"] = "alice@example.com";
  auto q = signed_query("GET", p, "s3cr3t");
  auto parsed = parse_query(q);
  ASSERT_EQ(parsed.count("Signature"), 1u);
  EXPECT_EQ(parsed.at("ChannelId"), "room 42/*~\xe4\xbc\x9a");
  EXPECT_TRUE(verify("GET", parsed, "s3cr3t"));
  EXPECT_FALSE(verify("GET", parsed, "s3cr3u"));
  EXPECT_FALSE(verify("POST", parsed, "s3cr3t"));

  const std::vector<std::pair<std::string, std::function<void(rpc_params&)>>> tamperings{
    {"a value changed", [](rpc_params& x) { x["ChannelId"] = "room-43"; }},
    {"a parameter added", [](rpc_params& x) { x["TerminalIds.2"] = "bob"; }},
    {"a parameter removed", [](rpc_params& x) { x.erase("SignatureNonce"); }},
    {"no signature", [](rpc_params& x) { x.erase("Signature"); }},
    {"an empty signature", [](rpc_params& x) { x["Signature"] = ""; }}};
  for (auto& [what, tamper] : tamperings) {
    auto tampered = parsed;
    tamper(tampered);
    EXPECT_FALSE(verify("GET", tampered, "s3cr3t")) << what;
  }
}

TEST(rtc_signing, signed_query_replaces_stale_signature) {
  auto p = aliyun_vector_params();
  p["Signature"] = "stale";
  auto parsed = parse_query(signed_query("GET", p, "testsecret"));
  EXPECT_EQ(parsed.at("Signature"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

TEST(rtc_signing, parse_query_details) {
  auto p = parse_query("?a=1&b=x%20y+z&c&&d=%2a%zz%4&e=f=g&a=2&%41%3D=%26");
  rpc_params expected{
    {"a", "2"}, {"b", "x y z"}, {"c", ""}, {"d", "*%zz%4"}, {"e", "f=g"}, {"A=", "&"},
  };
  EXPECT_EQ(p, expected);
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("?").empty());
  EXPECT_TRUE(parse_query("&&").empty());

  rpc_params original{{"k 1", "v+1"}, {"*", "~"}, {"\xc3\xa9", "="}, {"empty", ""}};
  EXPECT_EQ(parse_query(canonical_query(original)), original);
}
