// A device's or console's side of PROTOCOL.md, for the tools and tests that
// play devices: call-demo, meetctl, loadgen and the integration tests. One
// MQTT connection with the device's last will on its presence topic, its own
// P2P topic subscribed, requests matched to replies by id, and events queued
// in arrival order.
//
// The node uses Paho; the tools use libmosquitto, because Debian's Paho C
// 1.3.11 stalls ~2 s on every connect while another client of the same
// process is connected (eclipse-paho/paho.mqtt.c#1430, fixed in 1.3.14), and
// the tools open many connections per process.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

struct mosquitto;
struct mosquitto_message;

namespace meetingd::client {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// tcp://host:port -> host, port (1883 if the URI has no port).
std::pair<std::string, int> host_port(const std::string& uri);

struct session_options {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string client_id;              // e.g. GID_MEETING_DOWN@@@alice-phone
  std::string parent = "MeetingCtrl";
  bool admin = false;                 // publish on the admin topic instead of up
  bool presence = true;               // last will + retained online message
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{10};
};

/// What went over the wire, for tools that show it.
struct traffic {
  bool outgoing = false;
  std::string topic;
  std::string payload;
};

class session {
public:
  explicit session(session_options opts);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Connects, subscribes to the own P2P topic and announces presence.
  /// Throws std::runtime_error with the broker's reason on failure.
  void connect(std::chrono::milliseconds timeout = 5s);
  /// Announces offline and disconnects cleanly.
  void disconnect();
  /// Drops the connection without DISCONNECT, as a lost network would: the
  /// broker publishes the last will.
  void drop();
  bool connected() const;

  /// Sends a request and returns its id (generated if empty).
  std::string send(const std::string& type, const json& args = json::object(),
                   std::string id = {});
  /// Publishes any payload on the uplink topic (tests of malformed input).
  void send_raw(const std::string& payload);
  void publish(const std::string& topic, const std::string& payload, bool retained = false);
  /// Waits for the reply with this id.
  std::optional<json> wait_reply(const std::string& id, std::chrono::milliseconds timeout = 5s);
  /// send + wait_reply; throws std::runtime_error on timeout.
  json request(const std::string& type, const json& args = json::object(),
               std::chrono::milliseconds timeout = 5s, std::string id = {});

  /// The next event of this type (earlier events of other types stay queued).
  std::optional<json> wait_event(const std::string& type, std::chrono::milliseconds timeout = 5s);
  /// The next event of any type.
  std::optional<json> next_event(std::chrono::milliseconds timeout = 5s);
  /// Events received and not yet taken.
  std::size_t pending_events() const;
  /// Replies received with no id (malformed requests).
  std::optional<json> wait_null_reply(std::chrono::milliseconds timeout = 5s);
  /// How many replies arrived for this id (duplicate checks).
  int reply_count(const std::string& id) const;

  /// Called for every message sent or received (on Paho's thread).
  void on_traffic(std::function<void(const traffic&)> observer);

  const std::string& client_id() const {
    return opts_.client_id;
  }
  std::string uplink_topic() const;
  std::string p2p_topic() const;
  std::string presence_topic() const;

private:
  void arrived(const std::string& topic, const std::string& payload);
  void make_client();
  static void on_connect(struct mosquitto*, void* self, int rc);
  static void on_subscribe(struct mosquitto*, void* self, int mid, int n, const int* qos);
  static void on_message(struct mosquitto*, void* self, const struct mosquitto_message* msg);
  static void on_publish(struct mosquitto*, void* self, int mid);
  static void on_disconnect(struct mosquitto*, void* self, int rc);

  session_options opts_;
  struct mosquitto* mosq_ = nullptr;
  bool loop_started_ = false;
  int connack_ = -1;      // CONNACK code once it arrived
  bool connected_ = false;
  int suback_mid_ = -1;   // the pending SUBSCRIBE
  bool subscribed_ = false;
  std::map<int, bool> published_; // QoS 1 mids acknowledged
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<json>> replies_;
  std::map<std::string, int> reply_counts_;
  std::deque<json> null_replies_;
  std::deque<json> events_;
  std::function<void(const traffic&)> observer_;
  std::string id_prefix_;
  std::uint64_t next_id_ = 1;
};

} // namespace meetingd::client
