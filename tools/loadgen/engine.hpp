// loadgen's engine: many simulated devices per process over real MQTT
// connections, without a thread per connection. Each worker thread owns a
// slice of the devices (libmosquitto handles in non-threaded mode) and drives
// them with mosquitto_loop_read/write/misc over one epoll set; everything a
// device does (its pending requests, the meetings its user is in) is touched
// by that thread only. The main thread reads the workers' statistics under a
// per-worker mutex once a second.
//
// Modes:
//   node      devices send the command mix to meetingd and wait for replies;
//   echo      devices publish the same kind of message to bench/echo/<client>,
//             a loopback peer inside loadgen republishes each one to
//             bench/reply/<client>: the broker's own round trip, measured the
//             same way (QoS 1 both ways, same sizes);
//   populate  groups of P devices: the first creates meetings, the others
//             join each one; stops at --meetings (memory and recovery benches).
#pragma once

#include "tools/loadgen/histogram.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meetingd::loadgen {

using json = nlohmann::json;

enum cmd : int {
  c_login,
  c_create,
  c_join,
  c_accept,
  c_decline,
  c_leave,
  c_mute,
  c_renew,
  c_end,
  c_get,
  c_invite,
  c_kick,
  c_echo,
  c_count
};

/// Short names as --mix spells them, and the wire types.
const char* cmd_name(int c);
const char* cmd_wire_type(int c);
int cmd_from_name(const std::string& name); // -1 if unknown

struct options {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string parent = "MeetingCtrl";
  std::string mode = "node"; // node | echo | populate
  int devices = 100;
  int users = 0; // 0: one user per device
  std::string mix = "login,create:2,accept,join,leave,mute,renew,end";
  std::array<double, c_count> weights{};
  double rate = 0;   // commands/s over all devices; 0 = flat out
  int inflight = 1;  // outstanding requests per device
  double duration_s = 10;
  double warmup_s = 2;
  double drain_s = 5;
  double timeout_s = 10;
  double setup_timeout_s = 120;
  int threads = 2;
  std::string login = "auto"; // auto | ticket | password
  std::string console;        // admin client id that adds users (password logins)
  std::string ticket_secret;  // LOGIN_TICKET_SECRET
  std::string device_prefix = "lg";
  int invitees = 1;
  int max_hosted = 2;   // meetings a user hosts at once (0: no limit)
  int meeting_size = 4; // joins go to meetings with fewer participants
  int connect_batch = 200; // connections opened per worker per 10 ms during setup
  int keepalive_s = 60;
  bool presence = true;
  // echo
  std::string echo_topics = "bench"; // bench: bench/echo/+ -> bench/reply/<c>; node: up -> p2p
  int payload_bytes = 0; // 0: the size of a typical command (see engine.cpp)
  int reply_bytes = 0;   // 0: same as the request
  std::string echo_id = "bench-echo-peer";
  std::string mqtt_username; // the echo peer's login (MQTT_USERNAME)
  std::string mqtt_password;
  // populate
  long meetings = 0;
  int participants = 2;
};

/// Parses "login,create:2,join" into weights; returns an error text or "".
std::string parse_mix(const std::string& text, std::array<double, c_count>& weights);

struct cmd_stats {
  histogram latency;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  std::map<std::string, std::uint64_t> errors; // "409 meeting_full", "timeout"
  void merge(const cmd_stats& o);
};

/// What one worker measured (the measure phase) and its current window.
struct worker_stats {
  std::array<cmd_stats, c_count> cmds;
  std::map<std::string, std::uint64_t> events;
  std::uint64_t timeouts = 0;
  std::vector<std::string> timeout_samples; // "client id type meeting", the first few
  std::uint64_t late_replies = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t deferred = 0; // rate mode: sends that found no device with a free slot
  // The window since the last progress line (all phases).
  histogram window;
  std::uint64_t window_errors = 0;
  // Setup requests (initial logins, admin.user.add).
  histogram setup_latency;
  std::uint64_t setup_ok = 0;
  std::uint64_t setup_failed = 0;
  std::map<std::string, std::uint64_t> setup_errors;
  void merge(const worker_stats& o);
};

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

  // Setup progress.
  std::atomic<int> connected{0};
  std::atomic<int> ready{0}; // subscribed, logged in (node) / subscribed (echo)
  std::atomic<int> failed{0};
  std::atomic<bool> users_ready{false};
  std::atomic<int> users_added{0};
  std::atomic<bool> peer_ready{false};
  std::string fatal; // set once by a thread that cannot go on
  std::mutex fatal_mtx;
  void set_fatal(const std::string& what);
  std::string get_fatal();
  /// The first device that failed to connect or log in (not fatal by itself).
  void set_fatal_soft(const std::string& what);
  std::string get_first_failure();
  std::string first_device_failure;

  // populate
  std::atomic<long> creates_reserved{0};
  std::atomic<long> creates_ok{0};
  std::atomic<long> joins_ok{0};
  std::atomic<long> populate_failed{0};
  bool populate_done() const;

  // echo peer counters
  std::atomic<std::uint64_t> echoed{0};

  int devices_total() const;
  std::string user_name(int user) const;
  std::string login_method() const {
    return login_method_;
  }

private:
  options opts_;
  std::string run_id_;
  std::string login_method_;
  std::atomic<phase> phase_{phase::setup};
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<echo_peer> peer_;
  friend class worker;
};

} // namespace meetingd::loadgen
