// meetingd's options (PROTOCOL.md §9) as a CAF actor_system_config: every
// option can be set in the config file (`--config-file=FILE`, see
// config/meetingd.conf) or on the command line, which wins. Secrets are never
// options: they come from the environment (see `read_secrets`).
#pragma once

#include "actors/node_env.hpp"
#include "gateway/lmq_gateway.hpp"
#include "gateway/rtc_types.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

#include <optional>
#include <string>
#include <vector>

namespace meetingd {

class node_config : public caf::actor_system_config {
public:
  // connections
  std::string broker = "tcp://127.0.0.1:1883";
  std::string broker_ca;
  std::string broker_cert;
  std::string broker_key;
  bool lmq_auth = false;
  std::string parent_topic = "MeetingCtrl";
  std::string rtc_endpoint = "http://127.0.0.1:8090";
  bool allow_insecure_rtc = false;
  std::string region_id = "cn-hangzhou";
  int rtc_retries = 3;
  caf::timespan rtc_timeout = std::chrono::seconds(5);
  // identity
  std::string app_id;
  std::string node_id = "node-1";
  std::vector<std::string> admins;
  // state
  std::string db = "var/meetingd.db";
  std::string db_sync = "full";
  caf::timespan ended_retention = std::chrono::hours(24 * 7);
  caf::timespan passivate_after = std::chrono::minutes(1);
  // tokens
  std::string token_scheme = "channel";
  caf::timespan token_ttl = std::chrono::hours(24);
  caf::timespan token_renew_before = std::chrono::minutes(5);
  std::string appkey_nonce;
  std::vector<std::string> gslb{"https://rgslb.rtc.aliyuncs.com"};
  // timers
  caf::timespan channel_ttl = std::chrono::hours(48);
  caf::timespan idle_timeout = std::chrono::minutes(10);
  caf::timespan ring_timeout = std::chrono::seconds(45);
  caf::timespan presence_grace = std::chrono::seconds(60);
  // limits
  int max_participants = 16;
  int rate_limit = 50;
  int pbkdf2_iterations = 600000;
  int hashers = 2;
  caf::timespan ticket_max_age = std::chrono::hours(24);
  int max_meetings_per_user = 5;
  int max_creates_per_minute = 10;
  int max_invitees = 32;
  int max_devices_per_user = 10;
  // operations
  std::string log_level = "info";

  node_config();
};

/// Secrets, from the environment only.
struct secrets {
  std::string access_key_id;     // RTC_ACCESS_KEY_ID
  std::string access_key_secret; // RTC_ACCESS_KEY_SECRET
  std::string app_key;           // RTC_APP_KEY
  std::string mqtt_username;     // MQTT_USERNAME
  std::string mqtt_password;     // MQTT_PASSWORD
  std::string ticket_secret;     // LOGIN_TICKET_SECRET
};
secrets read_secrets();

/// Everything the node is made of, checked: nullopt and `error` set to one
/// line naming the option and what is wrong with it.
struct node_setup {
  node_env env;
  lmq_settings lmq;
  rtc::settings rtc;
  /// An http:// RTC endpoint outside loopback, let through by
  /// --allow-insecure-rtc: the node warns at start.
  bool rtc_in_clear = false;
  std::string db;
  bool db_sync_full = true;
  int hashers = 2;
  std::string log_level;
};
std::optional<node_setup> make_setup(const node_config& cfg, const secrets& keys,
                                     std::string& error);

/// Turns a CAF parse error into one line naming the option.
std::string describe_parse_error(const node_config& cfg, const caf::error& err);

} // namespace meetingd
