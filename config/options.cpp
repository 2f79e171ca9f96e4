#include "config/options.hpp"

#include "config/log.hpp"
#include "gateway/codec.hpp"
#include "persistence/pg_connection.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/settings.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace meetingd {

node_config::node_config() {
  opt_group{custom_options_, "global"}
    .add(broker, "broker", "MQTT broker URI: tcp://host:port, or ssl://host:port for TLS")
    .add(broker_ca, "broker-ca",
         "TLS: file of the CA that signed the broker's certificate (required for ssl://), "
         "or 'system' for the system's trust store")
    .add(broker_cert, "broker-cert", "TLS: client certificate file")
    .add(broker_key, "broker-key", "TLS: client private key file")
    .add(lmq_auth, "lmq-auth", "derive the MQTT password from the RTC access key pair the LMQ way")
    .add(parent_topic, "parent-topic", "parent topic of every topic the node uses")
    .add(rtc_endpoint, "rtc-endpoint", "RTC OpenAPI endpoint (production: https://rtc.aliyuncs.com)")
    .add(allow_insecure_rtc, "allow-insecure-rtc",
         "accept an http:// --rtc-endpoint outside loopback (calls and channel keys in clear)")
    .add(region_id, "region-id", "RegionId of RTC OpenAPI calls")
    .add(rtc_retries, "rtc-retries", "retries of an RTC call on 5xx, throttling, transport errors")
    .add(rtc_timeout, "rtc-timeout", "timeout of one RTC HTTP request")
    .add(app_id, "app-id", "RTC application id (required)")
    .add(node_id, "node-id", "this node's id ([A-Za-z0-9_.@-], 1..64)")
    .add(admins, "admins", "client ids obeyed on the admin topic, e.g. console-1,console-2")
    .add(db, "db",
         "SQLite database file (created if missing), or postgresql://USER@HOST:PORT/DBNAME "
         "(password in PGPASSWORD or ~/.pgpass)")
    .add(db_sync, "db-sync",
         "SQLite: full: commits survive power loss; normal: survive process death")
    .add(db_cache_mib, "db-cache",
         "SQLite: the page cache in MiB (commits read no page back from the kernel)")
    .add(db_mmap_mib, "db-mmap",
         "SQLite: MiB of the database file read through a memory map (0: read with pread)")
    .add(db_checkpoint_pages, "db-checkpoint-pages",
         "SQLite: copy the write-ahead log into the database file once it holds this many "
         "pages, between groups (0: only at shutdown)")
    .add(db_timeout, "db-timeout",
         "PostgreSQL: longest wait for the server's answer before the connection is closed and "
         "opened again")
    .add(command_timeout, "command-timeout",
         "longest wait for a command's reply inside the node; then 503 store_unavailable "
         "while the database is away, else 500")
    .add(shards, "shards",
         "PostgreSQL: shards the meetings hash to, fixed for the life of the database")
    .add(lease, "lease",
         "PostgreSQL: how long a node that stops renewing keeps its shards (several nodes)")
    .add(share_group, "share-group",
         "PostgreSQL: the MQTT shared-subscription group of the nodes serving as one")
    .add(ended_retention, "ended-retention", "how long ended meetings are kept and answer 410")
    .add(passivate_after, "passivate-after",
         "a meeting without commands this long gives up its actor until needed (0: never)")
    .add(token_scheme, "token-scheme", "join token scheme: channel (CreateChannel) or appkey")
    .add(token_ttl, "token-ttl", "appkey scheme: token lifetime (at most 24h)")
    .add(token_renew_before, "token-renew-before", "event.token_expiring this long before expiry")
    .add(appkey_nonce, "appkey-nonce", "appkey scheme: nonce put in tokens (default empty)")
    .add(gslb, "gslb", "GSLB addresses handed to devices")
    .add(channel_ttl, "channel-ttl", "channel lifetime; the meeting ends when it expires")
    .add(idle_timeout, "idle-timeout", "a meeting with nobody in it this long is ended")
    .add(ring_timeout, "ring-timeout", "an invitation unanswered this long times out")
    .add(presence_grace, "presence-grace", "a participant offline this long is removed")
    .add(max_participants, "max-participants", "default participant limit of a meeting")
    .add(rate_limit, "rate-limit", "commands per second per client before 429 (0: no limit)")
    .add(pbkdf2_iterations, "pbkdf2-iterations", "PBKDF2-SHA256 iterations of new password hashes")
    .add(hashers, "hashers", "threads hashing and checking passwords")
    .add(ticket_max_age, "ticket-max-age",
         "longest lifetime of a login ticket; longer ones are refused")
    .add(max_meetings_per_user, "max-meetings-per-user",
         "active meetings one user may have created (0: no limit)")
    .add(max_creates_per_minute, "max-creates-per-minute",
         "meeting.create per user per minute (0: no limit)")
    .add(max_invitees, "max-invitees", "users one create or invite may ring (0: no limit)")
    .add(max_devices_per_user, "max-devices-per-user",
         "devices logged in as one user at a time (0: no limit)")
    .add(log_level, "log-level", "trace, debug, info, warn, error or off")
    .add(log_format, "log-format", "text (key=value) or json (one object per line)")
    .add(log_file, "log-file",
         "append the log to this file, opened again on SIGHUP (empty: standard error)")
    .add(http, "http",
         "HOST:PORT of the metrics and health endpoints (off or empty: no HTTP port)")
    .add(console_dir, "console-dir",
         "the web console's files, served at /console/ (empty: the installed or built ones)")
    .add(console_broker, "console-broker",
         "the broker's MQTT-over-WebSocket URL the web console connects to, e.g. "
         "ws://127.0.0.1:9001")
    .add(webhook_urls, "webhook-url",
         "URL(s) the application's backend takes webhook events at, e.g. "
         "https://backend.example.com/meetingd (comma-separated; empty: no webhooks; "
         "WEBHOOK_SECRET signs them)")
    .add(webhook_max_age, "webhook-max-age",
         "how long an event is retried before it is given up (webhook_failures view)")
    .add(webhook_timeout, "webhook-timeout",
         "one webhook attempt: no 2xx within this long counts as a failure");
  // CAF's default, work stealing, keeps idle workers polling and sleeping
  // 50 us at a time, which on a small machine costs the node much of its
  // throughput (docs/benchmarks.md has the figures). A shared queue wakes
  // workers only when there is work. The config file or --caf#scheduler.policy can still
  // choose `stealing`.
  set("scheduler.policy", caf::atom("sharing"));
}

namespace {

std::string env_or_empty(const char* name) {
  auto value = std::getenv(name);
  return value ? value : "";
}

template <class Rep, class Period>
std::chrono::milliseconds ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

/// The host of an http(s) URL is loopback: 127.0.0.0/8, [::1] or localhost.
/// Parsed as addresses, so 127.0.0.1.example.org is not one, nor is
/// 127.0.0.1@10.1.2.3 (a user name before the host).
bool loopback_url(const std::string& url) {
  auto authority = url.substr(url.find("://") + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  auto host = authority.substr(authority.rfind('@') + 1); // npos + 1 == 0
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  host = host.substr(0, host.find(':'));
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "localhost";
}

} // namespace

std::optional<std::pair<std::string, int>> parse_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return std::nullopt;
  auto host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto port = std::stoi(digits);
  if (port < 1 || port > 65535 || host.empty())
    return std::nullopt;
  return std::pair{host, port};
}

secrets read_secrets() {
  secrets s;
  s.access_key_id = env_or_empty("RTC_ACCESS_KEY_ID");
  s.access_key_secret = env_or_empty("RTC_ACCESS_KEY_SECRET");
  s.app_key = env_or_empty("RTC_APP_KEY");
  s.mqtt_username = env_or_empty("MQTT_USERNAME");
  s.mqtt_password = env_or_empty("MQTT_PASSWORD");
  s.ticket_secret = env_or_empty("LOGIN_TICKET_SECRET");
  s.webhook_secret = env_or_empty("WEBHOOK_SECRET");
  return s;
}

std::optional<node_setup> make_setup(const node_config& cfg, const secrets& keys,
                                     std::string& error) {
  auto bad = [&](std::string line) {
    error = std::move(line);
    return std::nullopt;
  };
  auto positive = [](caf::timespan t) { return t.count() > 0; };
  if (cfg.app_id.empty())
    return bad("--app-id is required: the RTC application id from the RTC console");
  if (!codec::valid_entity_id(cfg.node_id))
    return bad("--node-id=" + cfg.node_id + ": use 1..64 of [A-Za-z0-9_.@-]");
  if (cfg.parent_topic.empty() || cfg.parent_topic.find_first_of("+#") != std::string::npos)
    return bad("--parent-topic=" + cfg.parent_topic + ": must be a topic without wildcards");
  if (cfg.broker.find("://") == std::string::npos)
    return bad("--broker=" + cfg.broker + ": expected tcp://host:port or ssl://host:port");
  if (broker_uses_tls(cfg.broker) && cfg.broker_ca.empty())
    return bad("--broker=" + cfg.broker + " needs --broker-ca: the CA file that signed the "
               "broker's certificate, or --broker-ca=system for the system's trust store");
  if (broker_uses_tls(cfg.broker) && cfg.broker_ca != system_trust_store
      && !std::ifstream{cfg.broker_ca})
    return bad("--broker-ca=" + cfg.broker_ca + ": cannot read it; give the CA file in PEM "
               "(or system for the system's trust store)");
  if (cfg.rtc_endpoint.rfind("http://", 0) != 0 && cfg.rtc_endpoint.rfind("https://", 0) != 0)
    return bad("--rtc-endpoint=" + cfg.rtc_endpoint + ": expected an http:// or https:// URL");
  bool rtc_in_clear = cfg.rtc_endpoint.rfind("http://", 0) == 0 && !loopback_url(cfg.rtc_endpoint);
  if (rtc_in_clear && !cfg.allow_insecure_rtc)
    return bad("--rtc-endpoint=" + cfg.rtc_endpoint + ": plain http outside loopback sends "
               "signed calls and channel keys in clear; use https://, or --allow-insecure-rtc "
               "on a network you trust");
  auto scheme = parse_token_scheme(cfg.token_scheme);
  if (!scheme)
    return bad("--token-scheme=" + cfg.token_scheme + ": expected channel or appkey");
  if (cfg.db_sync != "full" && cfg.db_sync != "normal")
    return bad("--db-sync=" + cfg.db_sync + ": expected full or normal");
  if (cfg.db_cache_mib < 1 || cfg.db_cache_mib > 65536)
    return bad("--db-cache=" + std::to_string(cfg.db_cache_mib) + ": expected 1 to 65536 (MiB)");
  if (cfg.db_mmap_mib < 0 || cfg.db_mmap_mib > 1048576)
    return bad("--db-mmap=" + std::to_string(cfg.db_mmap_mib) + ": expected 0 to 1048576 (MiB)");
  if (cfg.db_checkpoint_pages < 0)
    return bad("--db-checkpoint-pages=" + std::to_string(cfg.db_checkpoint_pages)
               + ": expected 0 or more");
  auto policy = caf::get_or(cfg, "scheduler.policy", caf::atom("sharing"));
  if (policy != caf::atom("sharing") && policy != caf::atom("stealing"))
    return bad("--caf#scheduler.policy=" + caf::to_string(policy)
               + ": expected sharing or stealing");
  if (cfg.db.empty())
    return bad("--db is empty: give the SQLite file (or a postgresql:// URI) to keep the "
               "node's state in");
  if (pg::is_uri(cfg.db))
    if (auto problem = pg::check_uri(cfg.db))
      return bad("--db=" + pg::printable(cfg.db) + ": " + *problem);
  if (!positive(cfg.db_timeout))
    return bad("--db-timeout: must be more than 0");
  if (!positive(cfg.command_timeout))
    return bad("--command-timeout: must be more than 0");
  if (cfg.shards < 1 || cfg.shards > 65536)
    return bad("--shards=" + std::to_string(cfg.shards) + ": expected 1..65536");
  if (ms(cfg.lease) < std::chrono::milliseconds(500))
    return bad("--lease: at least 500ms (a node renews its leases every fifth of it)");
  if (!codec::valid_entity_id(cfg.share_group))
    return bad("--share-group=" + cfg.share_group + ": use 1..64 of [A-Za-z0-9_.@-]");
  if (!log::valid_level(cfg.log_level))
    return bad("--log-level=" + cfg.log_level + ": expected trace, debug, info, warn, error or off");
  if (cfg.log_format != "text" && cfg.log_format != "json")
    return bad("--log-format=" + cfg.log_format + ": expected text or json");
  if (!cfg.http.empty() && cfg.http != "off" && !parse_host_port(cfg.http))
    return bad("--http=" + cfg.http + ": expected HOST:PORT such as 127.0.0.1:9180 "
               "(off turns the HTTP port off)");
  if (!cfg.console_broker.empty() && cfg.console_broker.rfind("ws://", 0) != 0
      && cfg.console_broker.rfind("wss://", 0) != 0)
    return bad("--console-broker=" + cfg.console_broker
               + ": expected a ws:// or wss:// URL such as ws://127.0.0.1:9001");
  if (!positive(cfg.token_ttl) || cfg.token_ttl > std::chrono::hours(24))
    return bad("--token-ttl: must be more than 0 and at most 24h");
  if (cfg.token_renew_before.count() < 0)
    return bad("--token-renew-before: must not be negative");
  if (cfg.passivate_after.count() < 0)
    return bad("--passivate-after: must not be negative (0 keeps every meeting's actor)");
  for (auto [name, value] : {std::pair{"--channel-ttl", cfg.channel_ttl},
                             std::pair{"--idle-timeout", cfg.idle_timeout},
                             std::pair{"--ring-timeout", cfg.ring_timeout},
                             std::pair{"--presence-grace", cfg.presence_grace},
                             std::pair{"--rtc-timeout", cfg.rtc_timeout},
                             std::pair{"--ended-retention", cfg.ended_retention}})
    if (!positive(value))
      return bad(std::string{name} + ": must be a positive duration such as 45s, 10min, 48h");
  if (cfg.rtc_retries < 0 || cfg.rtc_retries > 10)
    return bad("--rtc-retries=" + std::to_string(cfg.rtc_retries) + ": expected 0..10");
  auto most_participants = meeting_settings{}.max_participants_limit;
  if (cfg.max_participants < 2 || cfg.max_participants > most_participants)
    return bad("--max-participants=" + std::to_string(cfg.max_participants) + ": expected 2.."
               + std::to_string(most_participants));
  if (cfg.rate_limit < 0)
    return bad("--rate-limit: must not be negative");
  if (cfg.pbkdf2_iterations < 1000 || cfg.pbkdf2_iterations > 10000000)
    return bad("--pbkdf2-iterations: expected 1000..10000000");
  if (cfg.hashers < 1 || cfg.hashers > 64)
    return bad("--hashers: expected 1..64");
  if (!positive(cfg.ticket_max_age))
    return bad("--ticket-max-age: must be a positive duration such as 5min or 24h");
  for (auto [name, value] : {std::pair{"--max-meetings-per-user", cfg.max_meetings_per_user},
                             std::pair{"--max-creates-per-minute", cfg.max_creates_per_minute},
                             std::pair{"--max-invitees", cfg.max_invitees},
                             std::pair{"--max-devices-per-user", cfg.max_devices_per_user}})
    if (value < 0)
      return bad(std::string{name} + "=" + std::to_string(value)
                 + ": must not be negative (0 turns the limit off)");
  for (auto& a : cfg.admins)
    if (a.empty() || a.find_first_of("/+#") != std::string::npos)
      return bad("--admins: '" + a + "' is not a client id");
  if (*scheme == token_scheme::channel
      && (keys.access_key_id.empty() || keys.access_key_secret.empty()))
    return bad("RTC_ACCESS_KEY_ID and RTC_ACCESS_KEY_SECRET must be set in the environment "
               "(the RTC OpenAPI key pair)");
  if (*scheme == token_scheme::appkey && keys.app_key.empty())
    return bad("--token-scheme=appkey needs RTC_APP_KEY in the environment");
  if (cfg.lmq_auth && (keys.access_key_id.empty() || keys.access_key_secret.empty()))
    return bad("--lmq-auth needs RTC_ACCESS_KEY_ID and RTC_ACCESS_KEY_SECRET in the environment");
  for (std::size_t i = 0; i < cfg.webhook_urls.size(); ++i) {
    auto& url = cfg.webhook_urls[i];
    if (auto problem = webhooks::url_problem(url))
      return bad("--webhook-url=" + url + ": " + *problem);
    if (std::find(cfg.webhook_urls.begin(), cfg.webhook_urls.begin() + static_cast<long>(i), url)
        != cfg.webhook_urls.begin() + static_cast<long>(i))
      return bad("--webhook-url=" + url + ": given twice; each URL gets every event once");
  }
  if (!cfg.webhook_urls.empty() && keys.webhook_secret.empty())
    return bad("--webhook-url needs WEBHOOK_SECRET in the environment: the key that signs "
               "every event (receivers check X-Meetingd-Signature with it)");
  if (!cfg.webhook_urls.empty() && keys.webhook_secret.size() < webhooks::min_secret_bytes)
    return bad("WEBHOOK_SECRET is too short: use at least "
               + std::to_string(webhooks::min_secret_bytes)
               + " characters, e.g. openssl rand -hex 32");
  if (!positive(cfg.webhook_max_age))
    return bad("--webhook-max-age: must be a positive duration such as 1h or 24h");
  if (!positive(cfg.webhook_timeout) || cfg.webhook_timeout > std::chrono::minutes(1))
    return bad("--webhook-timeout: must be more than 0 and at most 1min");

  node_setup s;
  auto& env = s.env;
  env.node_id = cfg.node_id;
  env.parent_topic = cfg.parent_topic;
  env.admins = cfg.admins;
  env.ticket_secret = keys.ticket_secret;
  env.pbkdf2_iterations = cfg.pbkdf2_iterations;
  // A few checks may wait per hasher; beyond that a login gets 503 at once.
  env.max_hashing = static_cast<std::size_t>(cfg.hashers) * 8;
  env.ticket_max_age = ms(cfg.ticket_max_age);
  env.limits.meetings_per_user = cfg.max_meetings_per_user;
  env.limits.creates_per_minute = cfg.max_creates_per_minute;
  env.limits.invitees_per_call = cfg.max_invitees;
  env.limits.devices_per_user = cfg.max_devices_per_user;
  env.ended_retention = ms(cfg.ended_retention);
  env.passivate_after = ms(cfg.passivate_after);
  env.webhook_urls = cfg.webhook_urls;
  auto& m = env.meeting;
  m.app_id = cfg.app_id;
  m.scheme = *scheme;
  m.app_key = keys.app_key;
  m.appkey_nonce = cfg.appkey_nonce;
  m.gslb = cfg.gslb;
  m.channel_ttl = ms(cfg.channel_ttl);
  m.idle_timeout = ms(cfg.idle_timeout);
  m.ring_timeout = ms(cfg.ring_timeout);
  m.presence_grace = ms(cfg.presence_grace);
  m.token_ttl = ms(cfg.token_ttl);
  m.token_renew_before = ms(cfg.token_renew_before);
  m.max_participants = cfg.max_participants;
  m.webhooks = !cfg.webhook_urls.empty();

  auto& l = s.lmq;
  l.node_id = cfg.node_id;
  l.parent_topic = cfg.parent_topic;
  l.admins = cfg.admins;
  l.broker = cfg.broker;
  l.username = keys.mqtt_username;
  l.password = keys.mqtt_password;
  l.lmq_auth = cfg.lmq_auth;
  l.access_key_id = keys.access_key_id;
  l.access_key_secret = keys.access_key_secret;
  l.ca_file = cfg.broker_ca;
  l.cert_file = cfg.broker_cert;
  l.key_file = cfg.broker_key;
  l.rate_limit = cfg.rate_limit;
  l.command_timeout = ms(cfg.command_timeout);
  l.rate_burst = std::max(1, cfg.rate_limit * 2);

  s.rtc_in_clear = rtc_in_clear;
  auto& r = s.rtc;
  r.endpoint = cfg.rtc_endpoint;
  while (!r.endpoint.empty() && r.endpoint.back() == '/')
    r.endpoint.pop_back();
  r.access_key_id = keys.access_key_id;
  r.access_key_secret = keys.access_key_secret;
  r.app_id = cfg.app_id;
  r.region_id = cfg.region_id;
  r.retries = cfg.rtc_retries;
  r.timeout = ms(cfg.rtc_timeout);

  s.db = cfg.db;
  s.db_options.synchronous_full = cfg.db_sync == "full";
  s.db_options.sqlite.cache_kib = std::int64_t{cfg.db_cache_mib} * 1024;
  s.db_options.sqlite.mmap_bytes = std::int64_t{cfg.db_mmap_mib} * 1024 * 1024;
  s.db_options.sqlite.checkpoint_pages = cfg.db_checkpoint_pages;
  s.db_options.server_timeout = ms(cfg.db_timeout);
  s.hashers = cfg.hashers;
  s.log_level = cfg.log_level;
  s.log_format = cfg.log_format;
  s.log_file = cfg.log_file;
  s.http = cfg.http == "off" ? std::string{} : cfg.http;
  s.console_dir = cfg.console_dir;
  s.console_broker = cfg.console_broker;
  s.shards = cfg.shards;
  s.lease.lease = ms(cfg.lease);
  s.lease.version = MEETINGD_VERSION;
  s.webhooks.urls = cfg.webhook_urls;
  s.webhooks.secret = keys.webhook_secret;
  s.webhooks.max_age = ms(cfg.webhook_max_age);
  s.webhooks.timeout = ms(cfg.webhook_timeout);
  if (pg::is_uri(cfg.db)) {
    // A node on PostgreSQL is a cluster of one or more (docs/cluster.md).
    auto map = std::make_shared<shard_map>(cfg.shards, cfg.node_id);
    env.shards = map;
    l.shards = map;
    l.share_group = cfg.share_group;
    l.move_wait = ms(cfg.lease) + std::chrono::seconds(1);
    s.db_options.fence = map;
    s.db_options.idle_transaction_limit = ms(cfg.lease) / 2;
  }
  return s;
}

std::string describe_parse_error(const node_config& cfg, const caf::error& err) {
  auto text = cfg.render(err);
  std::string argument;
  auto key = std::string{"\"argument\" = \""};
  if (auto at = text.find(key); at != std::string::npos) {
    auto start = at + key.size();
    argument = text.substr(start, text.find('"', start) - start);
  }
  if (text.find("not_an_option") != std::string::npos)
    return "unknown option " + argument + " (meetingd --help lists the options)";
  if (auto is = argument.find('='); is != std::string::npos
      && (argument.substr(is) == "=true" || argument.substr(is) == "=false"))
    return "bad value in " + argument + " (a switch takes no value on the command line: "
           + argument.substr(0, is) + "; in the config file: " + argument.substr(2) + ")";
  if (!argument.empty())
    return "bad value in " + argument
           + " (durations look like 500ms, 45s, 10min, 48h; lists like a,b)";
  auto number_after = [&](const std::string& name) -> std::string {
    auto at = text.find("\"" + name + "\" = ");
    if (at == std::string::npos)
      return {};
    auto start = at + name.size() + 5;
    return text.substr(start, text.find_first_not_of("0123456789", start) - start);
  };
  auto line = number_after("line");
  if (!line.empty())
    return "cannot read the config file " + cfg.config_file_path + " at line " + line
           + ", column " + number_after("column")
           + " (comments start with ';', strings are quoted, durations look like 45s)";
  return "cannot read the configuration: " + text;
}

} // namespace meetingd
