// The option checks that guard the node's connections: TLS to the broker
// needs a CA to check it against, and an RTC endpoint in clear is refused
// outside loopback unless --allow-insecure-rtc says so.
#include "config/options.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace meetingd;

namespace {

secrets rtc_keys() {
  secrets keys;
  keys.access_key_id = "k";
  keys.access_key_secret = "s";
  return keys;
}

struct checked {
  std::optional<node_setup> setup;
  std::string error;
};

checked check(const node_config& cfg) {
  checked out;
  out.setup = make_setup(cfg, rtc_keys(), out.error);
  return out;
}

node_config with_rtc_endpoint(const std::string& endpoint, bool allow_insecure = false) {
  node_config cfg;
  cfg.app_id = "x";
  cfg.rtc_endpoint = endpoint;
  cfg.allow_insecure_rtc = allow_insecure;
  return cfg;
}

} // namespace

TEST(options, rtc_endpoint_in_clear_only_on_loopback) {
  for (auto loopback : {"http://127.0.0.1:8090", "http://127.4.5.6", "http://localhost:8090/",
                        "http://LocalHost", "http://[::1]:8090", "http://user@127.0.0.1:1"}) {
    auto r = check(with_rtc_endpoint(loopback));
    EXPECT_TRUE(r.setup) << loopback << ": " << r.error;
    EXPECT_FALSE(r.setup && r.setup->rtc_in_clear) << loopback;
  }
  for (auto outside : {"http://10.1.2.3:8090", "http://rtc.example.org",
                       "http://127.0.0.1.example.org", "http://localhost.example.org:8090",
                       "http://127.0.0.1@10.1.2.3:8090", "http://[::2]:8090",
                       "http://0.0.0.0:8090", "http://2130706433/"}) {
    auto r = check(with_rtc_endpoint(outside));
    EXPECT_FALSE(r.setup) << outside;
    EXPECT_NE(r.error.find(std::string{"--rtc-endpoint="} + outside), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("--allow-insecure-rtc"), std::string::npos) << r.error;
    auto allowed = check(with_rtc_endpoint(outside, true));
    ASSERT_TRUE(allowed.setup) << outside << ": " << allowed.error;
    EXPECT_TRUE(allowed.setup->rtc_in_clear) << outside;
  }
  auto https = check(with_rtc_endpoint("https://rtc.aliyuncs.com"));
  ASSERT_TRUE(https.setup) << https.error;
  EXPECT_FALSE(https.setup->rtc_in_clear);
}

TEST(options, tls_brokers_need_a_ca) {
  node_config cfg;
  cfg.app_id = "x";
  cfg.broker = "ssl://broker.example.org:8883";
  auto missing = check(cfg);
  EXPECT_FALSE(missing.setup);
  EXPECT_NE(missing.error.find("--broker-ca"), std::string::npos) << missing.error;

  cfg.broker_ca = "system";
  auto system = check(cfg);
  ASSERT_TRUE(system.setup) << system.error;
  EXPECT_EQ(system.setup->lmq.ca_file, system_trust_store);

  cfg.broker_ca = "/nonexistent/ca.crt";
  auto unreadable = check(cfg);
  EXPECT_FALSE(unreadable.setup);
  EXPECT_NE(unreadable.error.find("--broker-ca=/nonexistent/ca.crt"), std::string::npos)
    << unreadable.error;

  auto file = std::string{::testing::TempDir()} + "options_test_ca.crt";
  std::ofstream{file} << "-----BEGIN CERTIFICATE-----\n";
  cfg.broker_ca = file;
  auto readable = check(cfg);
  EXPECT_TRUE(readable.setup) << readable.error;
  std::remove(file.c_str());

  node_config plain;
  plain.app_id = "x";
  plain.broker = "tcp://127.0.0.1:1883";
  EXPECT_TRUE(check(plain).setup);
}
