// mqtt_floor: what the node's MQTT client costs per command when it does
// nothing else. An echo peer on Paho MQTT C++'s async_client, set up as the
// node's gateway sets it up (MQTT 3.1.1, QoS 1 both ways, a delivery token
// per publish): each message on bench/echo/<client> is parsed as JSON and
// answered on bench/reply/<client> with a reply of the node's size, as
// loadgen's own echo peer answers. `loadgen --mode=echo --external-echo-peer`
// drives it; bench/mqtt_floor.sh reads its CPU time from /proc.
//
// --handoff=callback answers from Paho's callback thread (the least this
// client can cost); --handoff=thread passes each message to another thread
// through a mutex and a condition variable first, as the node passes it to a
// CAF worker, and publishes from there.
//
// Prints "ready" on standard output once subscribed; stops at SIGTERM or
// SIGINT and prints {"messages": N} as JSON.
#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace {

using json = nlohmann::json;

std::atomic<bool> stop_requested{false};

/// `reply` padded with data.pad to at least `size` bytes, as loadgen pads.
std::string padded_reply(json reply, std::size_t size) {
  auto text = reply.dump();
  if (text.size() >= size)
    return text;
  auto base = text.size() + std::string(R"(,"pad":"")").size();
  reply["data"]["pad"] = std::string(size > base ? size - base : 0, 'x');
  return reply.dump();
}

class echo_peer : public mqtt::callback {
public:
  echo_peer(mqtt::async_client& client, bool handoff, std::size_t reply_bytes)
    : client_(client), handoff_(handoff), reply_bytes_(reply_bytes) {
    if (handoff_)
      worker_ = std::thread([this] { drain(); });
  }

  ~echo_peer() override {
    {
      std::lock_guard<std::mutex> guard{lock_};
      closing_ = true;
    }
    wake_.notify_one();
    if (worker_.joinable())
      worker_.join();
  }

  std::uint64_t messages() const {
    return messages_.load();
  }

  void message_arrived(mqtt::const_message_ptr msg) override {
    if (!handoff_)
      return answer(*msg);
    {
      std::lock_guard<std::mutex> guard{lock_};
      queue_.push_back(std::move(msg));
    }
    wake_.notify_one();
  }

private:
  void drain() {
    std::unique_lock<std::mutex> guard{lock_};
    for (;;) {
      wake_.wait(guard, [this] { return closing_ || !queue_.empty(); });
      if (closing_)
        return;
      auto msg = std::move(queue_.front());
      queue_.pop_front();
      guard.unlock();
      answer(*msg);
      guard.lock();
    }
  }

  void answer(const mqtt::message& msg) {
    const auto& topic = msg.get_topic();
    auto client = topic.substr(topic.rfind('/') + 1);
    const auto& payload = msg.get_payload_ref();
    auto body = json::parse(payload.data(), payload.data() + payload.size(), nullptr, false);
    json reply{{"id", body.is_object() && body.contains("id") ? body["id"] : json(nullptr)},
               {"type", "reply"},
               {"code", 0},
               {"data", json::object()}};
    auto wire = padded_reply(std::move(reply), reply_bytes_ ? reply_bytes_ : payload.size());
    try {
      client_.publish("bench/reply/" + client, wire.data(), wire.size(), 1, false);
    } catch (const mqtt::exception& e) {
      std::cerr << "mqtt_floor: publish failed: " << e.what() << "\n";
    }
    messages_.fetch_add(1, std::memory_order_relaxed);
  }

  mqtt::async_client& client_;
  bool handoff_;
  std::size_t reply_bytes_;
  std::atomic<std::uint64_t> messages_{0};
  std::mutex lock_;
  std::condition_variable wake_;
  std::deque<mqtt::const_message_ptr> queue_;
  bool closing_ = false;
  std::thread worker_;
};

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"An echo peer on Paho MQTT C++, set up as meetingd's gateway: the MQTT "
               "client's own cost per command (bench/mqtt_floor.sh)."};
  std::string broker = "tcp://127.0.0.1:1883";
  std::string handoff = "thread";
  std::string client_id = "bench-echo-peer";
  std::size_t reply_bytes = 0;
  app.add_option("--broker", broker, "the broker's URI")->capture_default_str();
  app.add_option("--handoff", handoff,
                 "callback: answer on Paho's callback thread; thread: hand each message to "
                 "another thread first, as the node hands it to a CAF worker")
    ->check(CLI::IsMember({"callback", "thread"}))
    ->capture_default_str();
  app.add_option("--client-id", client_id, "MQTT client id")->capture_default_str();
  app.add_option("--reply-bytes", reply_bytes, "reply size (0: as the request)");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGTERM, [](int) { stop_requested = true; });
  std::signal(SIGINT, [](int) { stop_requested = true; });

  mqtt::async_client client{broker, client_id, mqtt::create_options(MQTTVERSION_3_1_1)};
  auto peer = std::make_unique<echo_peer>(client, handoff == "thread", reply_bytes);
  client.set_callback(*peer);
  auto options = mqtt::connect_options_builder()
                   .mqtt_version(MQTTVERSION_3_1_1)
                   .clean_session(true)
                   .keep_alive_interval(std::chrono::seconds(60))
                   .finalize();
  if (const char* user = std::getenv("MQTT_USERNAME")) {
    options.set_user_name(user);
    if (const char* password = std::getenv("MQTT_PASSWORD"))
      options.set_password(password);
  }
  try {
    client.connect(options)->wait();
    client.subscribe("bench/echo/+", 1)->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << "mqtt_floor: cannot connect and subscribe to " << broker << ": " << e.what()
              << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  while (!stop_requested)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  try {
    client.disconnect()->wait();
  } catch (const mqtt::exception&) {
    // the broker may be gone first; the count below is what matters
  }
  std::cout << json{{"messages", peer->messages()}}.dump() << std::endl;
  return 0;
}
