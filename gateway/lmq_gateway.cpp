// The LMQ gateway actor (see lmq_gateway.hpp).
#include "gateway/lmq_gateway.hpp"

#include "actors/core/backoff.hpp"
#include "actors/core/refusals.hpp"
#include "config/log.hpp"
#include "config/metrics.hpp"
#include "gateway/codec.hpp"
#include "gateway/lmq_credentials.hpp"
#include "gateway/lmq_topics.hpp"
#include "gateway/socket_read_buffer.hpp"
#include "gateway/tcp_nodelay.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <mqtt/async_client.h>

#include <cmath>
#include <optional>

namespace meetingd {

bool broker_uses_tls(const std::string& uri) {
  for (auto scheme : {"ssl://", "mqtts://", "wss://"})
    if (uri.rfind(scheme, 0) == 0)
      return true;
  return false;
}

namespace {

using self_ptr = lmq_actor::stateful_pointer<lmq_actor_state>;
using steady = std::chrono::steady_clock;

constexpr auto housekeeping_interval = std::chrono::seconds(1);
/// After a crash, event numbers jump by this much: more than a device can
/// have received since the last flush, so numbers never repeat.
constexpr std::uint64_t crash_seq_gap = 100000;

const std::string& parent(self_ptr self) {
  return self->state.cfg.parent_topic;
}

unix_ms now_of(self_ptr self) {
  return wall_ms(self->clock().now().time_since_epoch(), self->state.cfg.clock_offset_ms);
}

void publish(self_ptr self, const std::string& topic, const std::string& payload,
             bool retained = false) {
  auto& st = self->state;
  try {
    st.client->publish(topic, payload.data(), payload.size(), 1, retained);
  } catch (const mqtt::exception& e) {
    MD_LOG_ERROR("lmq.publish_failed", log::kv("topic", topic),
                 log::kv("error", e.what()),
                 log::kv("hint", "the outbox is full while the broker is away; "
                                 "the reply stays stored and a retry with the same id gets it"));
  }
}

void publish_reply(self_ptr self, const std::string& client, const std::string& wire) {
  publish(self, lmq::p2p_topic(parent(self), client), wire);
}

/// What to check when the broker cannot be reached; for TLS, how to see
/// the names the broker's certificate carries.
std::string connect_failure_hint(const lmq_settings& cfg) {
  std::string common = "is the broker up, are MQTT_USERNAME/MQTT_PASSWORD right? retrying";
  if (!broker_uses_tls(cfg.broker))
    return common;
  auto address = cfg.broker.substr(cfg.broker.find("://") + 3);
  address = address.substr(0, address.find('/'));
  auto host = address.substr(0, address.rfind(':'));
  bool system = cfg.ca_file == system_trust_store;
  return "the broker's certificate must chain to "
         + (system ? std::string{"a CA of the system's trust store"} : cfg.ca_file)
         + " (--broker-ca) and list " + host + " in its subjectAltName; see what it shows with "
         + "'openssl s_client -connect " + address + (system ? "" : " -CAfile " + cfg.ca_file)
         + " </dev/null | openssl x509 -noout -ext subjectAltName'; " + common;
}

/// Reports a failed first connection attempt back to the actor, which
/// retries; later reconnects are Paho's own.
struct connect_listener : mqtt::iaction_listener {
  caf::weak_actor_ptr target;
  std::string hint;
  void on_failure(const mqtt::token& tok) override {
    MD_LOG_WARN("lmq.connect_failed", log::kv("rc", tok.get_return_code()),
                log::kv("reason_code", static_cast<int>(tok.get_reason_code())),
                log::kv("hint", hint));
    if (auto strong = target.lock())
      caf::anon_send(caf::actor_cast<lmq_actor>(strong), retry_atom::value);
  }
  void on_success(const mqtt::token&) override {
  }
};

/// Reports that the subscriptions were acknowledged (or refused).
struct subscribe_listener : mqtt::iaction_listener {
  caf::weak_actor_ptr target;
  void on_failure(const mqtt::token& tok) override {
    MD_LOG_ERROR("lmq.subscribe_refused", log::kv("rc", static_cast<int>(tok.get_reason_code())),
                 log::kv("hint", "the broker's ACL must let the node read <parent>/up/+, /admin/+, /presence/+"));
  }
  void on_success(const mqtt::token&) override {
    if (auto strong = target.lock())
      caf::anon_send(caf::actor_cast<lmq_actor>(strong), ready_atom::value);
  }
};

/// Connects (first time and after a failed first attempt); Paho reconnects
/// by itself once a connection was made.
void connect(self_ptr self) {
  auto& st = self->state;
  auto& cfg = st.cfg;
  auto status_down = codec::encode_node_status("down", st.cfg.node_id, MEETINGD_VERSION);
  auto builder = mqtt::connect_options_builder()
                   .mqtt_version(MQTTVERSION_3_1_1)
                   // Several nodes: a clean session, so that a node that is
                   // gone keeps no share of the uplinks queued for it
                   // (docs/cluster.md, "The broker").
                   .clean_session(cfg.shards != nullptr)
                   .keep_alive_interval(cfg.keepalive)
                   .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30))
                   .will(mqtt::message(lmq::node_topic(parent(self), st.cfg.node_id),
                                       status_down, 1, true));
  if (cfg.lmq_auth) {
    auto group = lmq::group_of(lmq::node_client_id(st.cfg.node_id));
    builder.user_name(cfg.access_key_id)
      .password(lmq::lmq_password(cfg.access_key_secret, group));
  } else if (!cfg.username.empty()) {
    builder.user_name(cfg.username).password(cfg.password);
  }
  if (broker_uses_tls(cfg.broker)) {
    mqtt::ssl_options ssl;
    // Without a trust store Paho loads OpenSSL's default one
    // (SSL_CTX_set_default_verify_paths); with one, only that file.
    if (cfg.ca_file != system_trust_store)
      ssl.set_trust_store(cfg.ca_file);
    if (!cfg.cert_file.empty())
      ssl.set_key_store(cfg.cert_file);
    if (!cfg.key_file.empty())
      ssl.set_private_key(cfg.key_file);
    // Chain to a trusted CA, and (set_verify, off by default) the host in
    // the URI named by the certificate: a CA's certificate for any other
    // host would otherwise do.
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);
    // No set_error_handler: Paho C keeps a pointer to the ssl_options
    // inside the connect_options that async_client::connect takes by value
    // (Paho C++ 1.2), so the handler would run on a destroyed object.
    builder.ssl(std::move(ssl));
  }
  try {
    st.client->connect(builder.finalize(), nullptr, *st.connect_listener);
  } catch (const mqtt::exception& e) {
    MD_LOG_ERROR("lmq.connect_error", log::kv("broker", cfg.broker), log::kv("error", e.what()));
    self->send(self, retry_atom::value);
  }
}

void on_connected(self_ptr self) {
  auto& st = self->state;
  st.connected = true;
  st.counters.connected = true;
  metrics::node().broker_connected.set(1);
  auto p = parent(self);
  // With TLS, OpenSSL reads the socket itself: nothing to buffer.
  bool tls = broker_uses_tls(st.cfg.broker);
  bool tuned = false;
  bool buffered = false;
  lmq::for_each_socket_towards(lmq::broker_port(st.cfg.broker), [&](int fd) {
    tuned = lmq::set_nodelay(fd) || tuned;
    buffered = (!tls && lmq::buffer_reads_of(fd)) || buffered;
  });
  MD_LOG_INFO("lmq.connected", log::kv("broker", st.cfg.broker),
              log::kv("node", st.cfg.node_id), log::kv("nodelay", tuned),
              log::kv("read_buffer", buffered));
  try {
    auto filters = std::make_shared<mqtt::string_collection>();
    auto& group = st.cfg.share_group;
    for (auto f : {lmq::device_filter(p), lmq::admin_filter(p), lmq::presence_filter(p)})
      filters->push_back(st.cfg.shards ? lmq::shared_filter(group, f) : f);
    if (st.cfg.shards) {
      filters->push_back(lmq::node_inbox_topic(p, st.cfg.node_id));
      filters->push_back(lmq::node_status_filter(p));
    }
    mqtt::iasync_client::qos_collection qos(filters->size(), 1);
    st.client->subscribe(filters, qos, nullptr, *st.subscribe_listener);
  } catch (const mqtt::exception& e) {
    MD_LOG_ERROR("lmq.subscribe_failed", log::kv("error", e.what()));
  }
}

/// Subscribed: the node is ready for commands, and says so (retained).
void on_subscribed(self_ptr self) {
  auto& st = self->state;
  publish(self, lmq::node_topic(parent(self), st.cfg.node_id),
          codec::encode_node_status(st.shutting_down ? "stopping" : "ready",
                                    st.cfg.node_id, MEETINGD_VERSION),
          true);
  if (st.cfg.ready)
    st.cfg.ready->broker_connected.store(true, std::memory_order_relaxed);
  MD_LOG_INFO("lmq.ready", log::kv("node", st.cfg.node_id),
              log::kv("subscriptions", st.cfg.shards ? 5 : 3),
              log::kv("shared", st.cfg.shards ? st.cfg.share_group : std::string{}));
}

void finish_drain(self_ptr self) {
  auto& st = self->state;
  if (!st.shutting_down || st.in_flight > 0 || st.drained.empty())
    return;
  for (auto& rp : st.drained)
    rp.deliver(true);
  st.drained.clear();
}

void flush_seqs(self_ptr self) {
  auto& st = self->state;
  if (st.dirty_seqs.empty())
    return;
  changeset rows;
  for (auto& client : st.dirty_seqs)
    rows.add(change::put_device_seq{client, st.seqs[client]});
  st.dirty_seqs.clear();
  commit_then(self, st.store, std::move(rows), [] {});
}

/// Whether the store says the database takes no writes just now.
bool database_away(const lmq_settings& cfg) {
  return cfg.database_health && !cfg.database_health->available.load(std::memory_order_relaxed);
}

/// When to try again while the database is away: the store's next attempt.
std::int64_t database_retry_after_ms(const lmq_settings& cfg) {
  return std::max<std::int64_t>(
    cfg.database_health->retry_after_ms.load(std::memory_order_relaxed), 100);
}

/// False if this node must say nothing about `meeting`: several nodes, and
/// its shard is no longer this node's (lost, or its lease over: a node
/// resumed after a pause). The next owner answers from the database.
bool may_publish(self_ptr self, const std::string& meeting) {
  auto& map = self->state.cfg.shards;
  return !map || meeting.empty() || map->holds(map->shard_of(meeting));
}

void finish(self_ptr self, const std::string& client, const std::string& id,
            proto::command_kind kind, const final_reply& r, steady::time_point t0,
            const std::string& meeting = {}) {
  auto& st = self->state;
  auto now = now_of(self);
  auto waiting = st.requests.complete(client, id, r.replayable, now);
  if (!may_publish(self, meeting) || !may_publish(self, r.meeting)) {
    ++st.counters.suppressed;
    MD_LOG_WARN("cmd.silenced", log::kv("client", client), log::kv("req", id),
                log::kv("meeting", meeting.empty() ? r.meeting : meeting),
                log::kv("why", "its shard is another node's now; that node answers a retry"));
    --st.in_flight;
    finish_drain(self);
    return;
  }
  for (int i = 0; i <= waiting; ++i)
    publish_reply(self, client, r.wire);
  auto ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
  st.latency.record(ms, now);
  ++st.counters.commands;
  auto& m = metrics::node();
  auto command = proto::to_string(kind);
  m.commands.with({command, std::to_string(r.code)}).add();
  m.command_seconds.with({command}).observe(ms / 1000);
  auto level = r.code == 0 || r.code < 500 ? spdlog::level::info : spdlog::level::err;
  MD_LOG_AT(level, "cmd", log::kv("type", proto::to_string(kind)),
            log::kv("client", client), log::kv("user", r.user),
            log::kv("meeting", r.meeting), log::kv("req", id),
            log::kv("code", r.code), log::kv("reason", r.reason),
            log::kv("ms", static_cast<std::int64_t>(ms * 1000) / 1000.0));
  --st.in_flight;
  finish_drain(self);
}

/// Answers at the edge, without the directory: malformed, not allowed,
/// over the rate, shutting down.
/// The metrics' name of the command in `payload`: its type, or "invalid".
std::string_view command_name(const std::string& payload) {
  auto decoded = codec::decode_request(payload);
  return decoded.request ? proto::to_string(decoded.request->cmd.kind) : "invalid";
}

void refuse(self_ptr self, const std::string& client, std::optional<std::string> id,
            proto::reply reply, std::string_view command) {
  reply.id = id;
  publish_reply(self, client, codec::encode_reply(reply));
  metrics::node().commands.with({command, std::to_string(reply.code)}).add();
  MD_LOG_WARN("cmd.refused", log::kv("client", client), log::kv("req", id.value_or("")),
              log::kv("code", reply.code), log::kv("reason", reply.reason));
}

void on_command(self_ptr self, const std::string& client, bool admin_topic,
                const std::string& payload, int hops = 0, bool store_checked = false);

/// The command numbered `number`, taken out of those waiting for the
/// directory; none if it was answered already (at its deadline).
std::optional<pending_command> take_pending(self_ptr self, std::uint64_t number) {
  auto& pending = self->state.pending;
  auto found = pending.find(number);
  if (found == pending.end())
    return std::nullopt;
  auto command = std::move(found->second);
  pending.erase(found);
  return command;
}

/// A command the node could not answer (the directory failed it, or its
/// --command-timeout passed): 503 while the database is away, else 500.
void fail_command(self_ptr self, const pending_command& command, const std::string& error) {
  auto& cfg = self->state.cfg;
  bool away = database_away(cfg);
  MD_LOG_ERROR("cmd.failed", log::kv("client", command.client), log::kv("req", command.id),
               log::kv("error", error), log::kv("database", away ? "away" : "up"));
  auto r = make_final_reply(
    reply_route{command.client, command.id, {}, {}},
    away ? refuse_retry_after(refusal::store_unavailable,
                              "the command is waiting for the database, which is "
                              "away; send the same request (same id) again after "
                              "retry_after_ms to get its reply",
                              database_retry_after_ms(cfg))
         : meetingd::refuse(refusal::internal));
  // The command may still commit: a repeat of this id asks the store
  // (replay), which has its reply if it did and runs it again if it did not.
  r.replayable = true;
  finish(self, command.client, command.id, command.kind, r, command.started, command.meeting);
}

/// Answers the commands whose --command-timeout has passed (their replies,
/// should they come later, are dropped). Commands are numbered in the order
/// sent and share one timeout, so the oldest come first.
void expire_commands(self_ptr self) {
  auto& st = self->state;
  auto now = steady::now();
  while (!st.pending_order.empty()) {
    auto number = st.pending_order.front();
    auto found = st.pending.find(number);
    if (found != st.pending.end() && found->second.deadline > now)
      return;
    st.pending_order.pop_front();
    if (auto command = take_pending(self, number))
      fail_command(self, *command, "timeout: no reply within --command-timeout");
  }
}

/// The meeting a command is routed by: the one it names, or the id a
/// meeting.create asks for; empty for commands handled where they land.
std::string routing_key(const proto::request& req) {
  if (!req.cmd.meeting.empty())
    return req.cmd.meeting;
  if (req.cmd.kind == proto::command_kind::meeting_create)
    return req.cmd.requested_id.value_or("");
  return {};
}

/// At most this many nodes pass a command on (a shard that moved again on
/// the way); then it waits where it is.
constexpr int max_hops = 2;

void arm_waiting(self_ptr self) {
  auto& st = self->state;
  if (st.waiting_armed || st.waiting.empty())
    return;
  st.waiting_armed = true;
  self->delayed_send(self, std::chrono::milliseconds(100), forward_atom::value);
}

/// Several nodes: true if this node handles the command for `meeting` now;
/// else it is forwarded to the node serving it, or waits for the shard's
/// next owner.
bool routed_here(self_ptr self, const std::string& client, bool admin_topic,
                 const std::string& payload, int hops, const std::string& meeting) {
  auto& st = self->state;
  auto& map = *st.cfg.shards;
  auto shard = map.shard_of(meeting);
  if (map.serves(shard))
    return true;
  auto owner = map.owner_of(shard);
  if (!owner.empty() && owner != st.cfg.node_id && !st.nodes_down.count(owner)
      && hops < max_hops) {
    publish(self, lmq::node_inbox_topic(parent(self), owner),
            codec::encode_forward({client, admin_topic, hops + 1, payload}));
    ++st.counters.forwarded;
    metrics::node().forwarded.add();
    MD_LOG_DEBUG("cmd.forwarded", log::kv("client", client), log::kv("meeting", meeting),
                 log::kv("shard", shard), log::kv("to", owner));
    return false;
  }
  st.waiting.push_back({client, admin_topic, hops, payload, steady::now() + st.cfg.move_wait});
  arm_waiting(self);
  return false;
}

/// Routes the waiting commands again; those waiting past --lease + 1 s get
/// 503 shard_moving.
void retry_waiting(self_ptr self) {
  auto& st = self->state;
  st.waiting_armed = false;
  auto now = steady::now();
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting) {
    auto decoded = codec::decode_request(w.payload);
    auto key = decoded.request ? routing_key(*decoded.request) : std::string{};
    auto& map = *st.cfg.shards;
    if (now >= w.until && !key.empty() && !map.serves(map.shard_of(key))) {
      refuse(self, w.client, decoded.request ? std::optional{decoded.request->id} : std::nullopt,
             refuse_retry_after(refusal::shard_moving, entry_of(refusal::shard_moving).message,
                                500),
             decoded.request ? proto::to_string(decoded.request->cmd.kind) : "invalid");
      continue;
    }
    // Routed afresh: handled, forwarded, or waiting again (with its own
    // deadline kept).
    auto before = st.waiting.size();
    on_command(self, w.client, w.admin, w.payload, w.hops);
    if (st.waiting.size() > before)
      st.waiting.back().until = w.until;
  }
  arm_waiting(self);
}

/// A duplicate of an answered request gets the reply the store kept. Should
/// the store have pruned it meanwhile (the window is over), the request runs
/// again as a fresh one, as any request older than the window would.
void replay(self_ptr self, const std::string& client, bool admin_topic,
            const std::string& payload, const std::string& id, int hops = 0) {
  self->request(self->state.store, std::chrono::seconds(10), lookup_atom::value, client, id)
    .then(
      [self, client, admin_topic, payload, id, hops](std::string& reply) {
        if (reply.empty()) {
          self->state.requests.forget(client, id);
          on_command(self, client, admin_topic, payload, hops, true);
          return;
        }
        publish_reply(self, client, reply);
        MD_LOG_DEBUG("cmd.replayed", log::kv("client", client), log::kv("req", id));
      },
      [self, client, id, payload](caf::error& err) {
        MD_LOG_ERROR("cmd.replay_failed", log::kv("client", client), log::kv("req", id),
                     log::kv("error", caf::to_string(err)));
        refuse(self, client, id,
               refuse_retry_after(refusal::store_unavailable,
                                  "the stored reply to this request could not be read just now; "
                                  "send the same request again after retry_after_ms",
                                  1000),
               command_name(payload));
      });
}

void on_command(self_ptr self, const std::string& client, bool admin_topic,
                const std::string& payload, int hops, bool store_checked) {
  auto& st = self->state;
  auto t0 = steady::now();
  auto decoded = codec::decode_request(payload);
  if (decoded.error) {
    ++st.counters.malformed;
    auto& e = *decoded.error;
    refuse(self, client, e.id, proto::fail(e.id, e.code, e.reason, e.message), "invalid");
    return;
  }
  auto& req = *decoded.request;
  if (admin_topic && st.admins.count(client) == 0) {
    refuse(self, client, req.id,
           meetingd::refuse(refusal::not_admin,
                            "this client id is not in --admins; admin commands are refused"),
           proto::to_string(req.cmd.kind));
    return;
  }
  std::string meeting;
  if (st.cfg.shards) {
    meeting = routing_key(req);
    if (!meeting.empty() && !routed_here(self, client, admin_topic, payload, hops, meeting))
      return;
  }
  auto seen = st.requests.check(client, req.id);
  // Several nodes: a meeting.create handled where it lands may be the
  // duplicate of one another node answered a moment ago, before the feed
  // brought its key here: the store has its reply if so (run again, it
  // would make a second meeting). Other commands handled where they land
  // leave the same state when run twice.
  if (seen == request_log::verdict::fresh && st.cfg.shards && meeting.empty() && !store_checked
      && req.cmd.kind == proto::command_kind::meeting_create && !database_away(st.cfg)) {
    st.requests.complete(client, req.id, true, now_of(self));
    replay(self, client, admin_topic, payload, req.id, hops);
    return;
  }
  if (seen == request_log::verdict::answered) {
    ++st.counters.duplicates;
    metrics::node().duplicates.add();
    replay(self, client, admin_topic, payload, req.id);
    return;
  }
  if (seen == request_log::verdict::in_flight) {
    ++st.counters.duplicates;
    metrics::node().duplicates.add();
    return; // answered together with the first copy
  }
  auto forget = [&](proto::reply reply) {
    st.requests.complete(client, req.id, false, now_of(self));
    refuse(self, client, req.id, std::move(reply), proto::to_string(req.cmd.kind));
  };
  if (st.shutting_down) {
    forget(refuse_retry_after(refusal::shutting_down, entry_of(refusal::shutting_down).message,
                              1000));
    return;
  }
  if (!st.limiter.allow(client, now_of(self))) {
    ++st.counters.rate_limited;
    // One more command fits once a token has come back.
    auto retry_ms = static_cast<std::int64_t>(std::ceil(1000.0 / st.cfg.rate_limit));
    forget(refuse_retry_after(refusal::rate_limited,
                              "this client sends commands faster than "
                                + std::to_string(static_cast<int>(st.cfg.rate_limit))
                                + "/s; slow down and retry",
                              retry_ms));
    return;
  }
  if (proto::changes_state(req.cmd.kind) && database_away(st.cfg)) {
    ++st.counters.store_unavailable;
    forget(refuse_retry_after(refusal::store_unavailable,
                              entry_of(refusal::store_unavailable).message,
                              database_retry_after_ms(st.cfg)));
    return;
  }
  ++st.in_flight;
  auto number = ++st.last_command;
  st.pending.emplace(number, pending_command{client, req.id, req.cmd.kind, t0,
                                             t0 + st.cfg.command_timeout, meeting});
  st.pending_order.push_back(number);
  // No CAF timeout: --command-timeout is the tick's (expire_commands), so
  // that the client gets an answer even if its reply is lost inside the
  // node or held by a database that is away, and the drain on shutdown
  // completes.
  self->request(st.directory, caf::infinite, handle_atom::value,
                inbound_request{client, admin_topic, std::move(req)})
    .then([self, number](final_reply& r) {
            if (auto command = take_pending(self, number))
              finish(self, command->client, command->id, command->kind, r, command->started,
                     command->meeting);
          },
          [self, number](caf::error& err) {
            if (auto command = take_pending(self, number))
              fail_command(self, *command, caf::to_string(err));
          });
}

/// Several nodes: a command forwarded to this node, or a node's status.
void on_node_message(self_ptr self, const lmq::node_message& node, const std::string& payload) {
  auto& st = self->state;
  if (node.inbox) {
    if (node.node != st.cfg.node_id)
      return;
    auto fwd = codec::decode_forward(payload);
    if (!fwd || fwd->client.empty()) {
      MD_LOG_WARN("lmq.bad_forward", log::kv("bytes", payload.size()));
      return;
    }
    if (!st.directory)
      return;
    on_command(self, fwd->client, fwd->admin, fwd->payload, fwd->hops);
    return;
  }
  if (node.node == st.cfg.node_id)
    return;
  auto status = codec::decode_node_status(payload);
  if (status && status->state == "down")
    st.nodes_down.insert(node.node);
  else if (status)
    st.nodes_down.erase(node.node);
}

void on_message(self_ptr self, const std::string& topic, const std::string& payload,
                bool retained) {
  auto& st = self->state;
  if (st.cfg.shards)
    if (auto node = lmq::parse_node_topic(parent(self), topic)) {
      on_node_message(self, *node, payload);
      return;
    }
  auto in = lmq::parse_inbound(parent(self), topic);
  if (!in) {
    MD_LOG_DEBUG("lmq.ignored", log::kv("topic", topic));
    return;
  }
  // A command published with the retain flag was run when it arrived live
  // (a live publish reaches subscribers with retain off); the broker's copy
  // comes back flagged on every subscribe, and must not run again. Presence
  // is state, retained on purpose, and is taken either way.
  if (retained && in->kind != lmq::inbound_kind::presence) {
    ++st.counters.retained_ignored;
    MD_LOG_WARN("lmq.retained_ignored", log::kv("client", in->client), log::kv("topic", topic),
                log::kv("hint", "the device published a command with the retain flag; clear the "
                                "broker's copy by publishing an empty retained message there"));
    return;
  }
  if (in->kind == lmq::inbound_kind::presence) {
    auto online = codec::decode_presence(payload);
    if (!online) {
      MD_LOG_DEBUG("lmq.bad_presence", log::kv("client", in->client));
      return;
    }
    if (st.directory)
      self->send(st.directory, presence_atom::value, in->client, *online);
    return;
  }
  if (!st.directory) {
    refuse(self, in->client, std::nullopt,
           meetingd::refuse(refusal::shutting_down, "the node is starting; try again in a moment"),
           command_name(payload));
    return;
  }
  on_command(self, in->client, in->kind == lmq::inbound_kind::admin, payload);
}

} // namespace

lmq_actor_state::lmq_actor_state() = default;

lmq_actor_state::~lmq_actor_state() {
  if (!client)
    return;
  try {
    if (client->is_connected()) {
      auto down = codec::encode_node_status("down", cfg.node_id, MEETINGD_VERSION);
      client->publish(lmq::node_topic(cfg.parent_topic, cfg.node_id), down.data(),
                      down.size(), 1, true);
      client->disconnect()->wait_for(std::chrono::seconds(2));
    }
  } catch (const mqtt::exception&) {
    // Going away anyway; the broker publishes our last will.
  }
}

lmq_actor::behavior_type
lmq_gateway_impl(lmq_actor::stateful_pointer<lmq_actor_state> self, lmq_settings cfg,
                 store_actor store, lmq_recovery recovered) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = std::move(store);
  st.limiter = rate_limiter{st.cfg.rate_limit, std::max(st.cfg.rate_burst, 1.0)};
  st.admins.insert(st.cfg.admins.begin(), st.cfg.admins.end());
  for (auto& d : recovered.devices)
    st.seqs[d.client] = d.last_seq + (recovered.crashed ? crash_seq_gap : 0);
  for (auto& r : recovered.requests)
    st.requests.restore(r.client, r.id, r.at);
  mqtt::create_options opts(MQTTVERSION_3_1_1, st.cfg.max_buffered);
  opts.set_send_while_disconnected(true, true);
  st.client = std::make_unique<mqtt::async_client>(
    st.cfg.broker, lmq::node_client_id(st.cfg.node_id), opts, nullptr);
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(self);
  auto listener = std::make_unique<connect_listener>();
  listener->target = weak;
  listener->hint = connect_failure_hint(st.cfg);
  st.connect_listener = std::move(listener);
  auto on_sub = std::make_unique<subscribe_listener>();
  on_sub->target = weak;
  st.subscribe_listener = std::move(on_sub);
  auto tell = [weak](auto... xs) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<lmq_actor>(strong), xs...);
  };
  st.client->set_message_callback([tell](mqtt::const_message_ptr msg) {
    tell(mqtt_in_atom::value, msg->get_topic(), msg->to_string(), msg->is_retained());
  });
  st.client->set_connected_handler([tell](const std::string&) {
    tell(connected_atom::value, true);
  });
  st.client->set_connection_lost_handler([tell](const std::string&) {
    tell(connected_atom::value, false);
  });
  self->delayed_send(self, housekeeping_interval, tick_atom::value, unix_ms{0});
  return {
    [self](attach_atom, command_handler& directory) {
      self->state.directory = std::move(directory);
      connect(self);
    },
    [self](mqtt_in_atom, const std::string& topic, const std::string& payload, bool retained) {
      on_message(self, topic, payload, retained);
    },
    [self](connected_atom, bool up) {
      auto& state = self->state;
      if (up) {
        on_connected(self);
        return;
      }
      if (state.connected) {
        MD_LOG_WARN("lmq.connection_lost", log::kv("broker", state.cfg.broker),
                    log::kv("hint", "reconnecting with backoff; replies are buffered meanwhile"));
        metrics::node().broker_disconnects.add();
      }
      state.connected = false;
      state.counters.connected = false;
      metrics::node().broker_connected.set(0);
      if (state.cfg.ready)
        state.cfg.ready->broker_connected.store(false, std::memory_order_relaxed);
    },
    [self](forward_atom) { retry_waiting(self); },
    [self](remote_atom, const std::vector<request_record>& keys) {
      for (auto& r : keys)
        self->state.requests.restore(r.client, r.id, r.at);
    },
    [self](remote_atom, const std::vector<change::put_device_seq>& sent) {
      auto& seqs = self->state.seqs;
      for (auto& s : sent) {
        auto& mine = seqs[s.client];
        mine = std::max(mine, s.last_seq);
      }
    },
    [self](adopt_atom) {
      // The dead node may have sent events it had not yet recorded.
      auto& state = self->state;
      for (auto& [client, seq] : state.seqs) {
        seq += crash_seq_gap;
        state.dirty_seqs.insert(client);
      }
      MD_LOG_INFO("lmq.seq_jump", log::kv("devices", state.seqs.size()),
                  log::kv("by", crash_seq_gap),
                  log::kv("why", "meetings taken over from a node that died"));
    },
    [self](ready_atom) {
      self->state.connect_failures = 0;
      on_subscribed(self);
    },
    [self](retry_atom) {
      // A failed first connection: try again after a growing pause (Paho
      // takes over reconnecting once a connection was made).
      auto& state = self->state;
      if (state.connected || state.retry_pending)
        return;
      state.retry_pending = true;
      auto wait = backoff_ceiling(std::chrono::seconds(1), std::chrono::seconds(30),
                                  ++state.connect_failures);
      self->delayed_send(self, wait, connect_atom::value);
    },
    [self](connect_atom) {
      auto& state = self->state;
      state.retry_pending = false;
      if (!state.connected)
        connect(self);
    },
    [self](tick_atom, unix_ms) {
      auto& state = self->state;
      expire_commands(self);
      flush_seqs(self);
      auto now = now_of(self);
      state.requests.prune(now - state.cfg.request_ttl.count());
      state.limiter.prune(now - 60000);
      if (state.cfg.shards)
        state.cfg.shards->commands_per_s.store(state.latency.per_second(now),
                                               std::memory_order_relaxed);
      self->delayed_send(self, housekeeping_interval, tick_atom::value, unix_ms{0});
    },
    [self](publish_atom, const std::vector<std::string>& clients, const proto::event& ev) {
      auto& state = self->state;
      if (!may_publish(self, ev.meeting)) {
        state.counters.suppressed += clients.size();
        return;
      }
      for (auto& client : clients) {
        auto seq = ++state.seqs[client];
        state.dirty_seqs.insert(client);
        publish(self, lmq::p2p_topic(parent(self), client), codec::encode_event(ev, seq));
        ++state.counters.events;
        metrics::node().events.add();
      }
    },
    [self](shutdown_atom) -> caf::result<bool> {
      auto& state = self->state;
      state.shutting_down = true;
      flush_seqs(self);
      if (state.connected)
        publish(self, lmq::node_topic(parent(self), state.cfg.node_id),
                codec::encode_node_status("stopping", state.cfg.node_id, MEETINGD_VERSION),
                true);
      auto rp = self->make_response_promise<bool>();
      state.drained.push_back(rp);
      finish_drain(self);
      return rp;
    },
    [self](stats_atom) {
      auto& state = self->state;
      auto s = state.counters;
      auto now = now_of(self);
      s.commands_per_s = state.latency.per_second(now);
      s.latency_p50_ms = state.latency.quantile(0.5);
      s.latency_p99_ms = state.latency.quantile(0.99);
      return s;
    },
  };
}

} // namespace meetingd
