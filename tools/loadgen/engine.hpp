// loadgen's engine: many simulated devices per process over real MQTT
// connections, without a thread per connection. Each worker thread owns a
// slice of the devices and takes each through its life: connect, subscribe,
// log in, then send what the planner chooses (planner.hpp, reading the
// shadow model of model.hpp) at the pace asked for, flat out or at a rate,
// and time out what is not answered. io.hpp drives the connections,
// accounting.hpp counts; requests are encoded and replies and events decoded
// by the node's wire codec. Everything a device does is touched by its
// worker's thread only; the main thread reads the workers' counts once a
// second.
#pragma once

#include "tools/loadgen/accounting.hpp"
#include "tools/loadgen/io.hpp"
#include "tools/loadgen/options.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace meetingd::loadgen {

enum class phase : int { setup = 0, warmup = 1, measure = 2, drain = 3, done = 4 };

class worker;
class echo_peer;

class engine {
public:
  explicit engine(options opts);
  ~engine();

  /// Starts the workers (and the echo peer): they connect and log in.
  void start();
  void set_phase(phase p);
  phase current_phase() const {
    return phase_.load(std::memory_order_acquire);
  }
  /// Stops the threads after disconnecting every device.
  void stop();

  /// Sums the workers' statistics; with reset_window, starts a new window.
  worker_stats collect(bool reset_window);
  std::uint64_t inflight() const;

  const options& opts() const {
    return opts_;
  }
  std::string run_id() const {
    return run_id_;
  }
  /// ticket or password (options::login resolved).
  loadgen::login_method login_method() const {
    return login_method_;
  }

  // Setup progress.
  std::atomic<int> connected{0};
  std::atomic<int> ready{0}; // subscribed, logged in (node) / subscribed (echo)
  std::atomic<int> failed{0};
  std::atomic<bool> users_ready{false};
  std::atomic<bool> peer_ready{false};
  /// Set once by a thread that cannot go on.
  void set_fatal(const std::string& what);
  std::string get_fatal();
  /// The first device that failed to connect or log in (not fatal by itself).
  void set_fatal_soft(const std::string& what);
  std::string get_first_failure();

  // populate
  std::atomic<long> creates_reserved{0};
  std::atomic<long> creates_ok{0};
  std::atomic<long> joins_ok{0};
  std::atomic<long> populate_failed{0};
  bool populate_done() const;

  // echo peer counters
  std::atomic<std::uint64_t> echoed{0};

private:
  mqtt_library library_;
  options opts_;
  std::string run_id_;
  loadgen::login_method login_method_ = login_method::password;
  std::atomic<phase> phase_{phase::setup};
  std::mutex fatal_mtx_;
  std::string fatal_;
  std::string first_device_failure_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<echo_peer> peer_;
};

} // namespace meetingd::loadgen
