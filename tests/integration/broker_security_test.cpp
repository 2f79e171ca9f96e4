// The shipped production broker (config/mosquitto.conf + config/mosquitto.acl,
// logins made with tools/broker-logins) against logins that try what they
// should not: a login is bound to one client id and so to its own topics,
// only nodes write P2P and nodes/ topics, bad logins are refused, a removed
// login is gone at the reload; and a real node serves devices behind it.
// docs/security.md, "The broker: one identity per login".
#include "harness.hpp"

#include <gtest/gtest.h>
#include <mosquitto.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace meetingd::testing;

namespace {

std::string topic(const std::string& kind, const std::string& client_id) {
  return "MeetingCtrl/" + kind + "/" + client_id;
}

struct login {
  std::string username; // = the client id the broker gives it
  std::string password;
};

login add_login(cluster& c, const std::string& kind, const std::string& id) {
  auto password = c.add_broker_login(kind, id);
  if (kind == "device")
    return {"GID_MEETING_DOWN@@@" + id, password};
  if (kind == "node")
    return {"GID_MEETING_UP@@@" + id, password};
  return {id, password};
}

node_options production() {
  node_options opts;
  opts.production_broker = true;
  return opts;
}

/// A bare MQTT client for probing the broker: any login, any requested
/// client id, any topic, and every message it receives kept. (A
/// client::session plays a device: it subscribes only to its own P2P topic.)
class probe {
public:
  probe(int port, std::string requested_id, const login& credentials) : port_(port) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(requested_id.c_str(), true, this);
    if (!credentials.username.empty())
      mosquitto_username_pw_set(mosq_, credentials.username.c_str(),
                                credentials.password.c_str());
    mosquitto_connect_callback_set(mosq_, &probe::on_connect);
    mosquitto_disconnect_callback_set(mosq_, &probe::on_disconnect);
    mosquitto_subscribe_callback_set(mosq_, &probe::on_subscribe);
    mosquitto_publish_callback_set(mosq_, &probe::on_publish);
    mosquitto_message_callback_set(mosq_, &probe::on_message);
  }
  probe(int port, const login& credentials) : probe(port, credentials.username, credentials) {
  }
  ~probe() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false); // not forced: see client::session::~session
    mosquitto_destroy(mosq_);
    mosquitto_lib_cleanup();
  }
  probe(const probe&) = delete;
  probe& operator=(const probe&) = delete;

  /// The broker's CONNACK code (0: accepted), -1 without an answer.
  int connect() {
    mosquitto_connect_async(mosq_, "127.0.0.1", port_, 10);
    mosquitto_loop_start(mosq_);
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait_for(lock, 5s, [&] { return connack_ >= 0; });
    return connack_;
  }
  bool connected() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return connected_;
  }
  /// Waits for the SUBACK; the broker acknowledges what it refuses too.
  void subscribe(const std::string& filter) {
    int mid = 0;
    std::unique_lock<std::mutex> lock{mtx_};
    mosquitto_subscribe(mosq_, &mid, filter.c_str(), 1);
    if (!cv_.wait_for(lock, 5s, [&] { return acknowledged_.erase(mid) > 0; }))
      throw std::runtime_error("no SUBACK for " + filter);
  }
  /// QoS 1, waits for the PUBACK (which a refused message gets as well).
  void publish(const std::string& to, const std::string& payload, bool retained = false) {
    int mid = 0;
    std::unique_lock<std::mutex> lock{mtx_};
    mosquitto_publish(mosq_, &mid, to.c_str(), static_cast<int>(payload.size()), payload.data(),
                      1, retained);
    if (!cv_.wait_for(lock, 5s, [&] { return acknowledged_.erase(mid) > 0; }))
      throw std::runtime_error("no PUBACK for " + to);
  }
  bool received(const std::string& on, const std::string& payload) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return messages_.count({on, payload}) > 0;
  }
  bool received_on(const std::string& on) const {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [message_topic, payload] : messages_)
      if (message_topic == on)
        return true;
    return false;
  }
  /// Every message so far, for failure messages.
  std::string received_text() const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::string text;
    for (auto& [message_topic, payload] : messages_)
      text += message_topic + " " + payload + "\n";
    return text.empty() ? "(nothing received)" : text;
  }

private:
  static probe& of(void* self) {
    return *static_cast<probe*>(self);
  }
  void update(const std::function<void()>& change) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      change();
    }
    cv_.notify_all();
  }
  static void on_connect(struct mosquitto*, void* self, int rc) {
    auto& p = of(self);
    p.update([&] {
      p.connack_ = rc;
      p.connected_ = rc == 0;
    });
  }
  static void on_disconnect(struct mosquitto*, void* self, int) {
    auto& p = of(self);
    p.update([&] { p.connected_ = false; });
  }
  static void on_subscribe(struct mosquitto*, void* self, int mid, int, const int*) {
    auto& p = of(self);
    p.update([&] { p.acknowledged_.insert(mid); });
  }
  static void on_publish(struct mosquitto*, void* self, int mid) {
    auto& p = of(self);
    p.update([&] { p.acknowledged_.insert(mid); });
  }
  static void on_message(struct mosquitto*, void* self, const struct mosquitto_message* msg) {
    auto& p = of(self);
    std::string payload{static_cast<const char*>(msg->payload),
                        static_cast<std::size_t>(msg->payloadlen)};
    p.update([&] { p.messages_.insert({msg->topic, payload}); });
  }

  int port_;
  struct mosquitto* mosq_ = nullptr;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  int connack_ = -1;
  bool connected_ = false;
  std::set<int> acknowledged_;
  std::set<std::pair<std::string, std::string>> messages_;
};

/// Connected, or the test stops here.
void connect_or_throw(probe& p) {
  if (auto code = p.connect(); code != 0)
    throw std::runtime_error("the broker refused a probe: CONNACK " + std::to_string(code));
}

/// What the broker refused never arrives; what it let through arrives in
/// order, before the positive control that followed it. The bounded wait
/// after the control is a margin, not the synchronisation.
void wait_for_stragglers() {
  std::this_thread::sleep_for(500ms);
}

} // namespace

// The review's finding: valid credentials of one's own plus someone else's
// client id gave that client's topics through the ACL's %c patterns.
TEST(broker_security, a_login_cannot_take_another_client_id) {
  cluster c{production()};
  add_login(c, "device", "alice-phone");
  add_login(c, "console", "console-1");
  auto mallory = add_login(c, "device", "mallory-phone");
  probe node{c.broker_port(), add_login(c, "node", "watcher")};
  connect_or_throw(node);
  for (auto kind : {"up", "presence", "admin"})
    node.subscribe(topic(kind, "+"));

  for (const std::string victim : {"GID_MEETING_DOWN@@@alice-phone", "console-1"}) {
    SCOPED_TRACE("mallory's login asks for client id " + victim);
    probe impostor{c.broker_port(), victim, mallory};
    ASSERT_EQ(impostor.connect(), 0);
    impostor.subscribe(topic("p2p", victim));
    impostor.subscribe(topic("p2p", mallory.username));

    // The node writes to the victim, then to mallory (the control).
    node.publish(topic("p2p", victim), "invitation for the victim");
    node.publish(topic("p2p", mallory.username), "control");
    EXPECT_TRUE(eventually(
      [&] { return impostor.received_on(topic("p2p", mallory.username))
                   || impostor.received_on(topic("p2p", victim)); }, 5s));
    wait_for_stragglers();
    EXPECT_FALSE(impostor.received_on(topic("p2p", victim)))
      << "mallory read the victim's P2P topic:\n" << impostor.received_text();
    EXPECT_TRUE(impostor.received(topic("p2p", mallory.username), "control"))
      << impostor.received_text();

    // Mallory writes as the victim, then as herself (the control).
    for (auto kind : {"up", "presence", "admin"})
      impostor.publish(topic(kind, victim), "sent as the victim");
    impostor.publish(topic("up", mallory.username), "control");
    EXPECT_TRUE(eventually(
      [&] { return node.received_on(topic("up", mallory.username))
                   || node.received_on(topic("up", victim)); }, 5s));
    wait_for_stragglers();
    for (auto kind : {"up", "presence", "admin"})
      EXPECT_FALSE(node.received_on(topic(kind, victim)))
        << "mallory wrote on the victim's " << kind << " topic:\n" << node.received_text();
    EXPECT_TRUE(node.received(topic("up", mallory.username), "control")) << node.received_text();
  }
}

TEST(broker_security, a_device_writes_no_p2p_or_nodes_topic_and_reads_only_node_status) {
  cluster c{production()};
  auto alice_login = add_login(c, "device", "alice-phone");
  auto mallory_login = add_login(c, "device", "mallory-phone");
  probe node{c.broker_port(), add_login(c, "node", "watcher")};
  probe alice{c.broker_port(), alice_login};
  probe mallory{c.broker_port(), mallory_login};
  for (auto* p : {&node, &alice, &mallory})
    connect_or_throw(*p);
  node.subscribe("MeetingCtrl/nodes/#");
  alice.subscribe(topic("p2p", alice_login.username));
  alice.subscribe("MeetingCtrl/nodes/#");
  mallory.subscribe(topic("p2p", mallory_login.username));

  const std::vector<std::string> forbidden{
    topic("p2p", alice_login.username), topic("p2p", mallory_login.username),
    topic("p2p", "GID_MEETING_UP@@@node-1"), "MeetingCtrl/nodes/node-1",
    "MeetingCtrl/nodes/node-1/in", topic("nodes", mallory_login.username)};
  for (auto& to : forbidden)
    mallory.publish(to, "forged", to == "MeetingCtrl/nodes/node-1");
  // A node forwards to another node, then says it is ready (the control).
  node.publish("MeetingCtrl/nodes/node-1/in", "forwarded command");
  for (auto& to : {topic("p2p", alice_login.username), topic("p2p", mallory_login.username),
                   std::string{"MeetingCtrl/nodes/watcher"}})
    node.publish(to, "control");

  ASSERT_TRUE(eventually(
    [&] { return alice.received(topic("p2p", alice_login.username), "control")
                 && alice.received("MeetingCtrl/nodes/watcher", "control")
                 && mallory.received(topic("p2p", mallory_login.username), "control")
                 && node.received("MeetingCtrl/nodes/watcher", "control"); }, 5s))
    << "alice:\n" << alice.received_text() << "mallory:\n" << mallory.received_text()
    << "node:\n" << node.received_text();
  wait_for_stragglers();
  for (auto& to : forbidden) {
    EXPECT_FALSE(alice.received(to, "forged")) << to << "\n" << alice.received_text();
    EXPECT_FALSE(mallory.received(to, "forged")) << to << "\n" << mallory.received_text();
    EXPECT_FALSE(node.received(to, "forged")) << to << "\n" << node.received_text();
  }
  EXPECT_TRUE(node.received("MeetingCtrl/nodes/node-1/in", "forwarded command"));
  EXPECT_FALSE(alice.received_on("MeetingCtrl/nodes/node-1/in"))
    << "a device read a node's inbox:\n" << alice.received_text();
}

TEST(broker_security, wrong_password_unknown_login_and_anonymous_are_refused) {
  cluster c{production()};
  auto alice = add_login(c, "device", "alice-phone");

  probe wrong_password{c.broker_port(), login{alice.username, alice.password + "x"}};
  EXPECT_GT(wrong_password.connect(), 0);
  probe unknown{c.broker_port(), login{"GID_MEETING_DOWN@@@nobody", alice.password}};
  EXPECT_GT(unknown.connect(), 0);
  probe anonymous{c.broker_port(), alice.username, login{}};
  EXPECT_GT(anonymous.connect(), 0);
  probe right{c.broker_port(), alice};
  EXPECT_EQ(right.connect(), 0);
}

TEST(broker_security, a_removed_login_is_disconnected_and_refused_at_the_reload) {
  cluster c{production()};
  auto alice = add_login(c, "device", "alice-phone");
  probe before{c.broker_port(), alice};
  connect_or_throw(before);

  c.broker_logins("remove device alice-phone");
  EXPECT_TRUE(eventually([&] { return !before.connected(); }, 5s));
  probe after{c.broker_port(), alice};
  EXPECT_GT(after.connect(), 0);
}

TEST(broker_security, a_node_serves_devices_behind_the_production_broker) {
  cluster c{production()};
  c.add_broker_login("console", "console-1");
  c.add_broker_login("device", "alice-phone");
  c.start_node(); // logs in as GID_MEETING_UP@@@node-1, ready once subscribed
  auto alice = c.logged_in("alice-phone", "alice");
  auto created = alice->request("meeting.create", json::object());
  EXPECT_EQ(code_of(created), 0) << created.dump() << "\n" << c.node_log();
}
