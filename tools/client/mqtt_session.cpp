// The MQTT plumbing of a device session (libmosquitto's own network thread,
// a mutex and a condition variable between it and the waiting caller); the
// wire format is the codec's, see mqtt_session.hpp.
#include "tools/client/mqtt_session.hpp"

#include <mosquitto.h>
#include <sys/socket.h>

#include <atomic>
#include <stdexcept>

namespace meetingd::client {

namespace {

/// Request ids must not repeat for a client id within the node's
/// idempotency window, also across sessions and processes: prefix them with
/// something unique to this session.
std::string session_prefix() {
  static std::atomic<std::uint64_t> sessions{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  return "r" + std::to_string(us % 100000000000) + "." + std::to_string(++sessions) + "-";
}

struct library {
  library() {
    mosquitto_lib_init();
  }
  ~library() {
    mosquitto_lib_cleanup();
  }
};

void ensure_library() {
  static library lib;
}

} // namespace

std::pair<std::string, int> host_port(const std::string& uri) {
  auto rest = uri;
  if (auto at = rest.find("://"); at != std::string::npos)
    rest = rest.substr(at + 3);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos)
    return {rest, 1883};
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

session::session(session_options opts) : opts_(std::move(opts)), id_prefix_(session_prefix()) {
  ensure_library();
  make_client();
}

void session::make_client() {
  mosq_ = mosquitto_new(opts_.client_id.c_str(), true, this);
  if (!mosq_)
    throw std::runtime_error("cannot create an MQTT client for " + opts_.client_id);
  // Small request/reply messages: Nagle would hold each one for the peer's
  // delayed ACK (tens of ms).
  mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(mosq_, &session::on_connect);
  mosquitto_subscribe_callback_set(mosq_, &session::on_subscribe);
  mosquitto_message_callback_set(mosq_, &session::on_message);
  mosquitto_publish_callback_set(mosq_, &session::on_publish);
  mosquitto_disconnect_callback_set(mosq_, &session::on_disconnect);
}

session::~session() {
  // DISCONNECT also when the link is down: it puts the client in the
  // disconnecting state, so the network thread stops reconnecting and ends by
  // itself. Cancelling it (force) could stop it holding one of libmosquitto's
  // mutexes, which mosquitto_destroy then destroys locked (ThreadSanitizer).
  mosquitto_disconnect(mosq_);
  if (loop_started_)
    mosquitto_loop_stop(mosq_, false);
  mosquitto_destroy(mosq_);
}

std::string session::uplink_topic() const {
  return opts_.parent + (opts_.admin ? "/admin/" : "/up/") + opts_.client_id;
}
std::string session::p2p_topic() const {
  return opts_.parent + "/p2p/" + opts_.client_id;
}
std::string session::presence_topic() const {
  return opts_.parent + "/presence/" + opts_.client_id;
}

void session::on_connect(struct mosquitto* mosq, void* self, int rc) {
  auto s = static_cast<session*>(self);
  bool resubscribe = false;
  {
    std::lock_guard<std::mutex> guard{s->mtx_};
    s->connack_ = rc;
    s->connected_ = rc == 0;
    // libmosquitto reconnects by itself; a clean session has lost its
    // subscription and presence, so take them up again.
    resubscribe = rc == 0 && s->subscribed_;
  }
  if (resubscribe) {
    mosquitto_subscribe(mosq, nullptr, s->p2p_topic().c_str(), 1);
    if (s->opts_.presence) {
      auto online = codec::encode_presence(true);
      mosquitto_publish(mosq, nullptr, s->presence_topic().c_str(),
                        static_cast<int>(online.size()), online.data(), 1, true);
    }
  }
  s->cv_.notify_all();
}

void session::on_subscribe(struct mosquitto*, void* self, int mid, int, const int*) {
  auto s = static_cast<session*>(self);
  {
    std::lock_guard<std::mutex> guard{s->mtx_};
    if (mid == s->suback_mid_)
      s->subscribed_ = true;
  }
  s->cv_.notify_all();
}

void session::on_message(struct mosquitto*, void* self, const struct mosquitto_message* msg) {
  auto s = static_cast<session*>(self);
  std::string payload{static_cast<const char*>(msg->payload),
                      static_cast<std::size_t>(msg->payloadlen)};
  s->arrived(msg->topic, payload);
}

void session::on_publish(struct mosquitto*, void* self, int mid) {
  auto s = static_cast<session*>(self);
  {
    std::lock_guard<std::mutex> guard{s->mtx_};
    s->published_[mid] = true;
  }
  s->cv_.notify_all();
}

void session::on_disconnect(struct mosquitto*, void* self, int) {
  auto s = static_cast<session*>(self);
  {
    std::lock_guard<std::mutex> guard{s->mtx_};
    s->connected_ = false;
  }
  s->cv_.notify_all();
}

void session::connect(std::chrono::milliseconds timeout) {
  auto [host, port] = host_port(opts_.broker);
  if (!opts_.username.empty())
    mosquitto_username_pw_set(mosq_, opts_.username.c_str(), opts_.password.c_str());
  if (opts_.presence) {
    auto offline = codec::encode_presence(false);
    mosquitto_will_set(mosq_, presence_topic().c_str(), static_cast<int>(offline.size()),
                       offline.data(), 1, true);
  }
  auto rc = mosquitto_connect_async(mosq_, host.c_str(), port,
                                    static_cast<int>(opts_.keepalive.count()));
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING)
    throw std::runtime_error("cannot connect to " + opts_.broker + ": " + mosquitto_strerror(rc));
  if (!loop_started_) {
    mosquitto_loop_start(mosq_);
    loop_started_ = true;
  }
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, timeout, [&] { return connack_ >= 0; }))
    throw std::runtime_error("no answer from the broker at " + opts_.broker);
  if (connack_ != 0)
    throw std::runtime_error("the broker refused " + opts_.client_id + ": "
                             + mosquitto_connack_string(connack_));
  lock.unlock();
  int mid = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    subscribed_ = false;
    mosquitto_subscribe(mosq_, &mid, p2p_topic().c_str(), 1);
    suback_mid_ = mid;
  }
  lock.lock();
  if (!cv_.wait_for(lock, timeout, [&] { return subscribed_; }))
    throw std::runtime_error("cannot subscribe to " + p2p_topic());
  lock.unlock();
  if (opts_.presence)
    publish(presence_topic(), codec::encode_presence(true), true);
}

void session::disconnect() {
  if (!connected())
    return;
  if (opts_.presence)
    publish(presence_topic(), codec::encode_presence(false), true);
  mosquitto_disconnect(mosq_);
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, 2s, [&] { return !connected_; });
}

void session::drop() {
  // Close the connection without DISCONNECT: shut the socket down first (the
  // broker sees the link go and publishes the last will), then let the
  // network thread end as in ~session rather than cancel it, which could
  // leave a libmosquitto mutex locked for mosquitto_destroy.
  if (int fd = mosquitto_socket(mosq_); fd >= 0)
    ::shutdown(fd, SHUT_RDWR);
  mosquitto_disconnect(mosq_);
  if (loop_started_) {
    mosquitto_loop_stop(mosq_, false);
    loop_started_ = false;
  }
  mosquitto_destroy(mosq_);
  make_client();
  std::lock_guard<std::mutex> guard{mtx_};
  connected_ = false;
  connack_ = -1;
}

bool session::connected() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return connected_;
}

void session::on_traffic(std::function<void(const traffic&)> observer) {
  std::lock_guard<std::mutex> guard{mtx_};
  observer_ = std::move(observer);
}

void session::publish(const std::string& topic, const std::string& payload, bool retained) {
  std::function<void(const traffic&)> observer;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    observer = observer_;
  }
  if (observer)
    observer(traffic{true, topic, payload});
  int mid = 0;
  auto rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                              payload.data(), 1, retained);
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error("cannot publish to " + topic + ": " + mosquitto_strerror(rc));
  // Wait for PUBACK so the order with later messages of other clients holds.
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, 5s, [&] { return published_.count(mid) > 0 || !connected_; });
  published_.erase(mid);
}

std::string session::next_id(std::string id) {
  if (id.empty()) {
    std::lock_guard<std::mutex> guard{mtx_};
    id = id_prefix_ + std::to_string(next_id_++);
  }
  return id;
}

// -- typed ------------------------------------------------------------------------

std::string session::send(const proto::command& cmd, std::string id) {
  id = next_id(std::move(id));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    sent_kinds_[id] = cmd.kind;
  }
  publish(uplink_topic(), codec::encode_request({id, cmd}));
  return id;
}

std::optional<answer> session::wait_answer(const std::string& id,
                                           std::chrono::milliseconds timeout) {
  proto::command_kind kind{};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = sent_kinds_.find(id);
    if (i == sent_kinds_.end())
      throw std::invalid_argument("no command was sent with id " + id);
    kind = i->second;
  }
  auto r = take_reply(id, timeout);
  if (!r)
    return std::nullopt;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    sent_kinds_.erase(id);
  }
  auto reply = codec::decode_reply(r->payload, kind);
  if (!reply)
    throw malformed_message(std::string{"the reply to "} + proto::to_string(kind) + " (id " + id
                              + ") is not one: " + r->payload,
                            std::move(r->wire));
  return answer{std::move(*reply), std::move(r->wire)};
}

std::optional<incoming_event> session::wait_event(proto::event_kind kind,
                                                  std::chrono::milliseconds timeout) {
  auto r = take_event(proto::to_string(kind), timeout);
  if (!r)
    return std::nullopt;
  auto ev = codec::decode_event(r->payload);
  if (!ev)
    throw malformed_message(std::string{"a malformed "} + proto::to_string(kind) + ": "
                              + r->payload,
                            std::move(r->wire));
  return incoming_event{std::move(ev->first), ev->second, std::move(r->wire)};
}

// -- raw JSON ---------------------------------------------------------------------

std::string session::send(const std::string& type, const json& args, std::string id) {
  id = next_id(std::move(id));
  json msg{{"id", id}, {"type", type}};
  if (!args.empty())
    msg["args"] = args;
  publish(uplink_topic(), msg.dump());
  return id;
}

void session::send_raw(const std::string& payload) {
  publish(uplink_topic(), payload);
}

void session::arrived(const std::string& topic, const std::string& payload) {
  std::function<void(const traffic&)> observer;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    observer = observer_;
    auto msg = json::parse(payload, nullptr, false);
    if (msg.is_object()) {
      auto type = msg.value("type", std::string{});
      if (type == "reply") {
        if (msg.contains("id") && msg["id"].is_string()) {
          auto id = msg["id"].get<std::string>();
          replies_[id].push_back({msg, payload});
          ++reply_counts_[id];
        } else {
          null_replies_.push_back(msg);
        }
      } else if (type.rfind("event.", 0) == 0) {
        events_.push_back({msg, payload});
      }
    }
  }
  cv_.notify_all();
  if (observer)
    observer(traffic{false, topic, payload});
}

std::optional<session::received> session::take_reply(const std::string& id,
                                                     std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, timeout, [&] {
        auto i = replies_.find(id);
        return i != replies_.end() && !i->second.empty();
      }))
    return std::nullopt;
  auto& queue = replies_[id];
  auto reply = std::move(queue.front());
  queue.pop_front();
  return reply;
}

std::optional<json> session::wait_reply(const std::string& id, std::chrono::milliseconds timeout) {
  if (auto r = take_reply(id, timeout))
    return std::move(r->wire);
  return std::nullopt;
}

json session::request(const std::string& type, const json& args,
                      std::chrono::milliseconds timeout, std::string id) {
  auto sent = send(type, args, std::move(id));
  auto reply = wait_reply(sent, timeout);
  if (!reply)
    throw std::runtime_error("no reply to " + type + " (id " + sent + ") within "
                             + std::to_string(timeout.count()) + " ms");
  return *reply;
}

std::optional<session::received> session::take_event(const std::string& type,
                                                     std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  std::optional<received> found;
  cv_.wait_for(lock, timeout, [&] {
    for (auto i = events_.begin(); i != events_.end(); ++i) {
      if (i->wire["type"] == type) {
        found = std::move(*i);
        events_.erase(i);
        return true;
      }
    }
    return false;
  });
  return found;
}

std::optional<json> session::wait_event(const std::string& type, std::chrono::milliseconds timeout) {
  if (auto r = take_event(type, timeout))
    return std::move(r->wire);
  return std::nullopt;
}

std::optional<json> session::next_event(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); }))
    return std::nullopt;
  auto ev = std::move(events_.front().wire);
  events_.pop_front();
  return ev;
}

std::size_t session::pending_events() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return events_.size();
}

std::optional<json> session::wait_null_reply(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, timeout, [&] { return !null_replies_.empty(); }))
    return std::nullopt;
  auto r = std::move(null_replies_.front());
  null_replies_.pop_front();
  return r;
}

int session::reply_count(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = reply_counts_.find(id);
  return i == reply_counts_.end() ? 0 : i->second;
}

} // namespace meetingd::client
