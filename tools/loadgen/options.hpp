// loadgen's settings, as main.cpp reads them from the command line, and the
// names of its modes.
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

#include "tools/loadgen/mix.hpp"

#include <array>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace meetingd::loadgen {

enum class mode { node, echo, populate };
/// How devices log in: automatic picks ticket when a ticket secret is set.
enum class login_method { automatic, ticket, password };
/// Echo mode's topics: bench/echo/+ -> bench/reply/<c>, or the node's (up -> p2p).
enum class echo_topics { bench, node };

/// The names of those enums, in their order, as the command line spells
/// them and the report writes them.
template <class E>
struct names;
template <> struct names<mode> { static constexpr const char* all[] = {"node", "echo", "populate"}; };
template <> struct names<login_method> { static constexpr const char* all[] = {"auto", "ticket", "password"}; };
template <> struct names<echo_topics> { static constexpr const char* all[] = {"bench", "node"}; };

template <class E>
const char* name(E x) {
  return names<E>::all[static_cast<std::size_t>(x)];
}

template <class E>
std::optional<E> parse(std::string_view x) {
  for (std::size_t i = 0; i < std::size(names<E>::all); ++i)
    if (x == names<E>::all[i])
      return static_cast<E>(i);
  return std::nullopt;
}

struct options {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string parent = "MeetingCtrl";
  loadgen::mode mode = loadgen::mode::node;
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
  login_method login = login_method::automatic;
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
  loadgen::echo_topics echo_topics = loadgen::echo_topics::bench;
  int payload_bytes = 0; // 0: the size of a typical command (160 bytes)
  int reply_bytes = 0;   // 0: same as the request
  std::string echo_id = "bench-echo-peer";
  bool external_echo_peer = false; // another process answers (bench/mqtt_floor)
  std::string mqtt_username; // the echo peer's and the console's login (MQTT_USERNAME)
  std::string mqtt_password;
  // populate
  long meetings = 0;
  int participants = 2;
};

} // namespace meetingd::loadgen
