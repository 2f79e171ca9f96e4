// Turns Nagle's algorithm off on the node's connection to the broker.
//
// Why: every command is a small PUBLISH in and a small PUBLISH out, right
// after the PUBACK for the command. With Nagle on, the reply waits for the
// broker's delayed ACK of that PUBACK: ~40 ms on every request. Paho C 1.3
// offers no option for TCP_NODELAY and does not expose its socket, so the
// gateway finds the socket connected to the broker's port among the
// process's descriptors, after each (re)connect, and sets the option.
#pragma once

#include <functional>
#include <string>

namespace meetingd::lmq {

/// The port of a broker URI (tcp://host:1883, ssl://host:8883); 0 if none.
int broker_port(const std::string& uri);

/// Calls `fn` with each TCP socket of this process whose peer port is
/// `port`; Paho does not expose its socket. Returns how many there were.
int for_each_socket_towards(int port, const std::function<void(int fd)>& fn);

/// Sets TCP_NODELAY on socket `fd`; false if it could not.
bool set_nodelay(int fd);

} // namespace meetingd::lmq
