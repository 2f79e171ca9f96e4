// The option checks that guard the node's connections: TLS to the broker
// needs a CA to check it against, and an RTC endpoint in clear is refused
// outside loopback unless --allow-insecure-rtc says so. And the shipped
// config file, which documents every option with its default, says what the
// code does.
#include "config/options.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>

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

TEST(options, webhooks_need_good_urls_and_a_secret) {
  auto with = [](std::vector<std::string> urls, std::string secret) {
    node_config cfg;
    cfg.app_id = "x";
    cfg.webhook_urls = std::move(urls);
    auto keys = rtc_keys();
    keys.webhook_secret = std::move(secret);
    checked out;
    out.setup = make_setup(cfg, keys, out.error);
    return out;
  };
  const std::string secret = "0123456789abcdef0123";
  auto off = with({}, "");
  ASSERT_TRUE(off.setup) << off.error;
  EXPECT_FALSE(off.setup->webhooks.enabled());
  EXPECT_FALSE(off.setup->env.meeting.webhooks);
  auto on = with({"https://backend.example.com/hooks", "http://127.0.0.1:8080/"}, secret);
  ASSERT_TRUE(on.setup) << on.error;
  EXPECT_TRUE(on.setup->env.meeting.webhooks);
  EXPECT_EQ(on.setup->env.webhook_urls.size(), 2u);
  EXPECT_EQ(on.setup->webhooks.secret, secret);
  for (auto bad : {"ftp://backend/hooks", "http://", "backend.example.com"}) {
    auto r = with({bad}, secret);
    EXPECT_FALSE(r.setup) << bad;
    EXPECT_NE(r.error.find(std::string{"--webhook-url="} + bad), std::string::npos) << r.error;
  }
  auto twice = with({"http://a/x", "http://a/x"}, secret);
  EXPECT_FALSE(twice.setup);
  EXPECT_NE(twice.error.find("given twice"), std::string::npos) << twice.error;
  auto no_secret = with({"http://a/x"}, "");
  EXPECT_FALSE(no_secret.setup);
  EXPECT_NE(no_secret.error.find("WEBHOOK_SECRET"), std::string::npos) << no_secret.error;
  auto short_secret = with({"http://a/x"}, "short");
  EXPECT_FALSE(short_secret.setup);
  EXPECT_NE(short_secret.error.find("too short"), std::string::npos) << short_secret.error;
  EXPECT_EQ(short_secret.error.find("short\""), std::string::npos) << "the secret is not echoed";
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


namespace {

/// A config whose option set can be looked at: each option's name and the
/// value its member holds.
template <class Config>
class inspected : public Config {
public:
  const caf::config_option_set& options() const {
    return this->custom_options_;
  }
};

const std::string shipped_file = MEETINGD_SOURCE_DIR "/config/meetingd.conf";

std::string str(caf::string_view x) {
  return {x.begin(), x.end()};
}

/// "category.name" -> value of every entry the file sets; top-level keys are
/// in CAF's "global" category.
void flatten(const caf::settings& xs, const std::string& category,
             std::map<std::string, caf::config_value>& out) {
  for (auto& [key, value] : xs) {
    if (auto section = caf::get_if<caf::settings>(&value))
      flatten(*section, std::string{key}, out);
    else
      out.emplace(category + "." + std::string{key}, value);
  }
}

} // namespace

TEST(options, the_shipped_config_file_documents_every_option_with_its_default) {
  // The values the file says are the demo's, not the defaults.
  const std::set<std::string> demo_values{"global.app-id", "global.admins"};
  inspected<node_config> compiled;
  inspected<node_config> shipped;
  {
    std::ifstream file{shipped_file};
    ASSERT_TRUE(file) << shipped_file;
    auto err = shipped.parse(caf::actor_system_config::string_list{}, file);
    ASSERT_FALSE(err) << describe_parse_error(shipped, err);
  }
  // What the file sets, read apart (reading stores into the options given,
  // so into a config of its own).
  std::map<std::string, caf::config_value> in_file;
  {
    inspected<node_config> scratch;
    std::ifstream file{shipped_file};
    auto xs = caf::actor_system_config::parse_config(file, scratch.options());
    ASSERT_TRUE(xs) << scratch.render(xs.error());
    flatten(*xs, "global", in_file);
  }
  ASSERT_FALSE(in_file.empty());

  auto option = [](const inspected<node_config>& cfg, const std::string& name) {
    const caf::config_option* found = nullptr;
    for (auto& opt : cfg.options())
      if (str(opt.full_name()) == name)
        found = &opt;
    return found;
  };
  for (auto& [name, value] : in_file) {
    SCOPED_TRACE(name + " = " + caf::to_string(value));
    auto want = option(compiled, name);
    auto got = option(shipped, name);
    ASSERT_TRUE(want && got) << "the file sets an option the node does not have";
    if (demo_values.count(name))
      continue;
    auto default_value = want->get();
    if (default_value) {
      auto file_value = got->get();
      ASSERT_TRUE(file_value);
      EXPECT_EQ(caf::to_string(*file_value), caf::to_string(*default_value))
        << "the file documents another default than the code has";
    } else {
      // A CAF option without a member (scheduler.policy): its default is
      // what the node puts in its settings.
      auto set_by_node = caf::get_if(&compiled.content, name);
      ASSERT_TRUE(set_by_node) << "no compiled default to compare the file's value with";
      EXPECT_EQ(caf::to_string(value), caf::to_string(*set_by_node))
        << "the file documents another default than the code has";
    }
  }

  // Every option meetingd adds to CAF's own is in the file.
  inspected<caf::actor_system_config> caf_only;
  std::set<std::string> cafs;
  for (auto& opt : caf_only.options())
    cafs.insert(str(opt.full_name()));
  std::set<std::string> ours;
  for (auto& opt : compiled.options()) {
    auto name = str(opt.full_name());
    if (cafs.count(name))
      continue;
    ours.insert(name);
    EXPECT_TRUE(in_file.count(name)) << name << " is not documented in " << shipped_file;
  }
  EXPECT_TRUE(ours.count("global.ring-timeout")) << "node_config's own options were not found";
  for (auto& name : demo_values)
    EXPECT_TRUE(in_file.count(name)) << name;
}
