// meetingd's options (docs/operators-guide.md, docs/protocol.md §12) as a CAF actor_system_config: every
// option can be set in the config file (`--config-file=FILE`, see
// config/meetingd.conf) or on the command line, which wins. Secrets are never
// options: they come from the environment (see `read_secrets`).
#pragma once

#include "actors/lease_actor.hpp"
#include "actors/node_env.hpp"
#include "gateway/lmq_gateway.hpp"
#include "gateway/rtc_types.hpp"
#include "gateway/webhook_delivery.hpp"
#include "persistence/store.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

#include <optional>
#include <string>
#include <vector>

namespace meetingd {

/// Everything the node is made of (make_setup below checks and fills it).
struct node_setup {
  node_env env;
  lmq_settings lmq;
  rtc::settings rtc;
  /// An http:// RTC endpoint outside loopback, let through by
  /// --allow-insecure-rtc: the node warns at start.
  bool rtc_in_clear = false;
  /// A SQLite file, or a postgresql:// URI (persistence/store.hpp).
  std::string db = "var/meetingd.db";
  store_options db_options = [] {
    store_options o;
    o.synchronous_full = true;
    return o;
  }();
  int hashers = 2;
  std::string log_level = "info";
  /// text: `time LEVEL event k=v ...`; json: one JSON object per line with
  /// the same fields (config/log.hpp).
  std::string log_format = "text";
  /// Empty: standard error (the journal under systemd); else a file the
  /// node appends to and opens again on SIGHUP (logrotate).
  std::string log_file;
  /// The HTTP port (metrics, health; docs/monitoring.md): HOST:PORT, empty
  /// (--http=off) turns it off.
  std::string http = "127.0.0.1:9180";
  /// The web console (docs/console.md): where its files are (empty: next to
  /// the program, share/meetingd/console, else the build tree's), and the
  /// broker's WebSocket URL the page connects to (told to it in
  /// /console/config.json; empty: the page asks).
  std::string console_dir;
  std::string console_broker;
  /// Several nodes (PostgreSQL only, docs/cluster.md): how many shards the
  /// meetings hash to (fixed per database), and the leases on them.
  int shards = 256;
  lease_settings lease;
  /// Webhooks to the application's backend (docs/protocol.md §15); off
  /// without --webhook-url.
  webhooks::settings webhooks;
};

/// The defaults of every option, taken from the settings they fill: each
/// default is written once, where the setting is declared.
namespace option_defaults {
inline const node_env env{};
inline const meeting_settings meeting = env.meeting;
inline const lmq_settings lmq{};
inline const rtc::settings rtc{};
inline const abuse_limits limits = env.limits;
inline const node_setup setup{};
} // namespace option_defaults

class node_config : public caf::actor_system_config {
public:
  // connections
  std::string broker = option_defaults::lmq.broker;
  std::string broker_ca;
  std::string broker_cert;
  std::string broker_key;
  bool lmq_auth = option_defaults::lmq.lmq_auth;
  std::string parent_topic = option_defaults::env.parent_topic;
  std::string rtc_endpoint = option_defaults::rtc.endpoint;
  bool allow_insecure_rtc = false;
  std::string region_id = option_defaults::rtc.region_id;
  int rtc_retries = option_defaults::rtc.retries;
  caf::timespan rtc_timeout = option_defaults::rtc.timeout;
  // identity
  std::string app_id;
  std::string node_id = option_defaults::env.node_id;
  std::vector<std::string> admins;
  // state
  std::string db = option_defaults::setup.db;
  std::string db_sync = option_defaults::setup.db_options.synchronous_full ? "full" : "normal";
  int db_cache_mib = static_cast<int>(option_defaults::setup.db_options.sqlite.cache_kib / 1024);
  int db_mmap_mib =
    static_cast<int>(option_defaults::setup.db_options.sqlite.mmap_bytes / (1024 * 1024));
  int db_checkpoint_pages = option_defaults::setup.db_options.sqlite.checkpoint_pages;
  caf::timespan db_timeout = option_defaults::setup.db_options.server_timeout;
  caf::timespan command_timeout = option_defaults::lmq.command_timeout;
  // several nodes (PostgreSQL)
  int shards = option_defaults::setup.shards;
  caf::timespan lease = option_defaults::setup.lease.lease;
  std::string share_group = option_defaults::lmq.share_group;
  caf::timespan ended_retention = option_defaults::env.ended_retention;
  caf::timespan passivate_after = option_defaults::env.passivate_after;
  // tokens
  std::string token_scheme = to_string(option_defaults::meeting.scheme);
  caf::timespan token_ttl = option_defaults::meeting.token_ttl;
  caf::timespan token_renew_before = option_defaults::meeting.token_renew_before;
  std::string appkey_nonce = option_defaults::meeting.appkey_nonce;
  std::vector<std::string> gslb = option_defaults::meeting.gslb;
  // timers
  caf::timespan channel_ttl = option_defaults::meeting.channel_ttl;
  caf::timespan idle_timeout = option_defaults::meeting.idle_timeout;
  caf::timespan ring_timeout = option_defaults::meeting.ring_timeout;
  caf::timespan presence_grace = option_defaults::meeting.presence_grace;
  // limits
  int max_participants = option_defaults::meeting.max_participants;
  int rate_limit = static_cast<int>(option_defaults::lmq.rate_limit);
  int pbkdf2_iterations = option_defaults::env.pbkdf2_iterations;
  int hashers = option_defaults::setup.hashers;
  caf::timespan ticket_max_age = option_defaults::env.ticket_max_age;
  int max_meetings_per_user = option_defaults::limits.meetings_per_user;
  int max_creates_per_minute = option_defaults::limits.creates_per_minute;
  int max_invitees = option_defaults::limits.invitees_per_call;
  int max_devices_per_user = option_defaults::limits.devices_per_user;
  // operations
  std::string log_level = option_defaults::setup.log_level;
  std::string log_format = option_defaults::setup.log_format;
  std::string log_file = option_defaults::setup.log_file;
  std::string http = option_defaults::setup.http;
  std::string console_dir = option_defaults::setup.console_dir;
  std::string console_broker = option_defaults::setup.console_broker;
  // webhooks
  std::vector<std::string> webhook_urls;
  caf::timespan webhook_max_age = option_defaults::setup.webhooks.max_age;
  caf::timespan webhook_timeout = option_defaults::setup.webhooks.timeout;

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
  std::string webhook_secret;    // WEBHOOK_SECRET
};
secrets read_secrets();

/// Checks the options and fills the node's settings: nullopt and `error`
/// set to one line naming the option and what is wrong with it.
std::optional<node_setup> make_setup(const node_config& cfg, const secrets& keys,
                                     std::string& error);

/// `HOST:PORT` (an IPv6 host in brackets) as host and port; nullopt unless
/// the port is 1..65535 and the host is not empty.
std::optional<std::pair<std::string, int>> parse_host_port(const std::string& text);

/// Turns a CAF parse error into one line naming the option.
std::string describe_parse_error(const node_config& cfg, const caf::error& err);

} // namespace meetingd
