// Reads of the node's connection to the broker through a buffer in the
// process, so that Paho's receive thread takes a burst of MQTT packets from
// the kernel in one recv instead of three or more per packet.
//
// Why: Paho C 1.3 reads each packet with one recv for the header byte, one
// per byte of the remaining length, and one for the rest (Socket_getch,
// Socket_getdata), and polls before each packet. A command costs the node
// three inbound packets (the command, the PUBACKs of its reply and of its
// events), so about ten recv and seven poll calls; on a virtual machine a
// syscall costs microseconds (docs/benchmarks.md, "Cost per command").
// Paho offers no hook for its socket I/O, so this file interposes the C
// library's recv, poll and close for the process: for a socket registered
// here, recv is answered from a 64 KiB buffer, refilled with one recv from
// the kernel when empty; poll reports such a socket readable at once while
// its buffer holds data; close forgets the buffer before the descriptor can
// be reused. Every other descriptor, and every call while nothing is
// registered, goes straight to the C library.
//
// Plain TCP only: with TLS, OpenSSL reads the socket itself (with read) and
// the gateway registers nothing. MEETINGD_MQTT_READ_BUFFER=0 in the
// environment turns it off (for comparisons).
#pragma once

#include <cstdint>

namespace meetingd::lmq {

/// Buffers the reads of socket `fd` (the broker connection, found with
/// for_each_socket_towards) until it is closed. False if turned off or if
/// every slot is taken.
bool buffer_reads_of(int fd);

/// Whether MEETINGD_MQTT_READ_BUFFER allows buffering.
bool read_buffer_enabled();

/// recv calls answered from a buffer, and reads that refilled one.
struct read_buffer_counts {
  std::uint64_t served = 0;
  std::uint64_t refills = 0;
};
read_buffer_counts read_buffer_figures();

} // namespace meetingd::lmq
