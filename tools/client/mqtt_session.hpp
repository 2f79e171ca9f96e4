// A device's or console's side of the protocol (docs/protocol.md), for the
// tools and tests that play devices: call-demo, meetctl, loadgen and the
// integration tests. One MQTT connection with the device's last will on its
// presence topic, its own P2P topic subscribed, requests matched to replies
// by id, and events queued in arrival order.
//
// Two ways to talk, over the same queues:
//  - typed, for the tools: a proto::command goes out encoded by the wire
//    codec (gateway/codec.hpp), and its reply comes back decoded by the codec
//    as the answer to that command; events come back decoded too. Each keeps
//    the JSON it came as, for tools that print the traffic.
//  - raw JSON, for the integration tests: requests are written and replies
//    and events read as JSON without the codec, so the tests check the wire
//    independently of the code under test (and can send what the codec would
//    refuse to encode).
//
// The node uses Paho; the tools use libmosquitto, because Debian's Paho C
// 1.3.11 stalls ~2 s on every connect while another client of the same
// process is connected (eclipse-paho/paho.mqtt.c#1430, fixed in 1.3.14), and
// the tools open many connections per process.
#pragma once

#include "gateway/codec.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
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

/// The reply to a command sent typed: decoded for that command, and the
/// JSON it came as (for printing).
struct answer {
  proto::reply reply;
  json wire;
};

/// An event decoded by the codec, its sequence number and the JSON it came as.
struct incoming_event {
  proto::event event;
  std::uint64_t seq = 0;
  json wire;
};

/// A message that came but does not decode as what was awaited.
struct malformed_message : std::runtime_error {
  malformed_message(const std::string& what, json message)
    : std::runtime_error(what), wire(std::move(message)) {}
  json wire;
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

  // -- typed ----------------------------------------------------------------

  /// Sends a command encoded by the codec; returns the request id (generated
  /// if empty).
  std::string send(const proto::command& cmd, std::string id = {});
  /// Waits for the reply to a command sent with send(proto::command) and
  /// decodes it as the answer to that command. Throws malformed_message if it
  /// does not decode as one.
  std::optional<answer> wait_answer(const std::string& id,
                                    std::chrono::milliseconds timeout = 5s);
  /// The next event of this kind (earlier events of other kinds stay
  /// queued). Throws malformed_message if it does not decode.
  std::optional<incoming_event> wait_event(proto::event_kind kind,
                                           std::chrono::milliseconds timeout = 5s);

  // -- raw JSON ---------------------------------------------------------------

  /// Sends a request written as JSON and returns its id (generated if empty).
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
  /// A message as it came: parsed for the JSON API, its bytes for the codec.
  struct received {
    json wire;
    std::string payload;
  };

  std::string next_id(std::string id);
  std::optional<received> take_reply(const std::string& id, std::chrono::milliseconds timeout);
  std::optional<received> take_event(const std::string& type, std::chrono::milliseconds timeout);
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
  std::map<std::string, std::deque<received>> replies_;
  std::map<std::string, int> reply_counts_;
  std::map<std::string, proto::command_kind> sent_kinds_; // typed requests awaiting their answer
  std::deque<json> null_replies_;
  std::deque<received> events_;
  std::function<void(const traffic&)> observer_;
  std::string id_prefix_;
  std::uint64_t next_id_ = 1;
};

} // namespace meetingd::client
