// loadgen's echo peer (see echo_peer.hpp). Its messages are loadgen's own,
// not the protocol's: a request {"id","type":"bench.echo","args":{"pad"}}
// and a reply {"id","type":"reply","code":0,"data":{"pad"}}, padded to the
// sizes of the node's traffic so the broker carries the same bytes.
#include "tools/loadgen/echo_peer.hpp"

#include "tools/loadgen/engine.hpp"

#include <nlohmann/json.hpp>

#include <pthread.h>

namespace meetingd::loadgen {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// `msg` padded with a "<field>.pad" string to at least `size` bytes.
std::string padded(json msg, const char* field, std::size_t size) {
  auto text = msg.dump();
  if (text.size() >= size)
    return text;
  auto base = text.size() + std::string(R"(,"pad":"")").size();
  msg[field]["pad"] = std::string(size > base ? size - base : 0, 'x');
  return msg.dump();
}

} // namespace

std::string echo_request(const std::string& id, std::size_t size) {
  return padded(json{{"id", id}, {"type", cmd_wire_type(c_echo)}, {"args", json::object()}},
                "args", size);
}

echo_peer::echo_peer(engine& eng) : eng_(eng), o_(eng.opts()) {}

echo_peer::~echo_peer() {
  stop();
}

void echo_peer::start() {
  thread_ = std::thread([this] { run(); });
}

void echo_peer::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void echo_peer::run() {
  // bench/mqtt_floor.sh finds this thread by name to read its CPU time.
  pthread_setname_np(pthread_self(), "echo-peer");
  link_set io;
  link_settings s;
  s.broker = o_.broker;
  s.client_id = o_.echo_id;
  s.username = o_.mqtt_username;
  s.password = o_.mqtt_password;
  s.keepalive_s = o_.keepalive_s;
  if (!io.create(link_, *this, s)) {
    eng_.set_fatal("echo peer: cannot make an MQTT client");
    return;
  }
  if (auto err = io.connect(link_, s); !err.empty()) {
    eng_.set_fatal("echo peer: cannot connect to " + o_.broker + ": " + err);
    io.destroy(link_);
    return;
  }
  std::vector<link*> served;
  auto last_misc = steady::now();
  while (!stop_) {
    served.clear();
    // Read everything the socket holds before waiting again.
    io.serve(std::chrono::milliseconds(10), true, served);
    if (stop_)
      break;
    io.write_now(link_);
    io.watch(link_);
    if (steady::now() - last_misc > std::chrono::seconds(1)) {
      io.keepalive({&link_});
      last_misc = steady::now();
    }
  }
  io.disconnect(link_);
  io.destroy(link_);
}

std::string echo_peer::sub_topic() const {
  return o_.echo_topics == echo_topics::node ? o_.parent + "/up/+" : "bench/echo/+";
}

std::string echo_peer::reply_topic(const std::string& client) const {
  return o_.echo_topics == echo_topics::node ? o_.parent + "/p2p/" + client
                                             : "bench/reply/" + client;
}

void echo_peer::connected(link& l, int rc) {
  if (rc != 0)
    return eng_.set_fatal("echo peer: the broker refused: " + connack_text(rc));
  subscribe(l, sub_topic());
}

void echo_peer::subscribed(link&, bool granted) {
  if (!granted)
    return eng_.set_fatal("echo peer: the broker refused the subscription to " + sub_topic()
                          + " (ACL?)");
  eng_.peer_ready = true;
}

void echo_peer::message(link& l, std::string_view topic, std::string_view payload) {
  auto client = std::string{topic.substr(topic.rfind('/') + 1)};
  auto body = json::parse(payload, nullptr, false);
  json reply{{"id", body.is_object() && body.contains("id") ? body["id"] : json(nullptr)},
             {"type", "reply"},
             {"code", 0},
             {"data", json::object()}};
  std::size_t size = o_.reply_bytes > 0 ? static_cast<std::size_t>(o_.reply_bytes) : payload.size();
  publish(l, reply_topic(client), padded(std::move(reply), "data", size));
  eng_.echoed.fetch_add(1, std::memory_order_relaxed);
}

void echo_peer::disconnected(link&, int) {}

void echo_peer::lost(link&, const std::string&) {
  eng_.set_fatal("echo peer: lost the connection to the broker");
  stop_ = true;
}

} // namespace meetingd::loadgen
