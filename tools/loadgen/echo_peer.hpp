// loadgen's echo peer (--mode=echo): one connection that answers every
// message on the echo topic with one message to the sender's reply topic,
// sized like the node's reply, as the node answers every command. It has a
// thread of its own, so the devices' threads measure the broker's round trip
// and not the peer's turn.
#pragma once

#include "tools/loadgen/io.hpp"
#include "tools/loadgen/options.hpp"

#include <atomic>
#include <string>
#include <thread>

namespace meetingd::loadgen {

class engine;

/// An echo request of at least `size` bytes.
std::string echo_request(const std::string& id, std::size_t size);

class echo_peer : link_events {
public:
  explicit echo_peer(engine& eng);
  ~echo_peer() override;

  void start();
  void stop();

private:
  void run();
  std::string sub_topic() const;
  std::string reply_topic(const std::string& client) const;

  void connected(link& l, int rc) override;
  void subscribed(link& l, bool granted) override;
  void message(link& l, std::string_view topic, std::string_view payload) override;
  void disconnected(link& l, int rc) override;
  void lost(link& l, const std::string& why) override;

  engine& eng_;
  const options& o_;
  link link_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace meetingd::loadgen
