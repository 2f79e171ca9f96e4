// The broker connection's read buffer (gateway/socket_read_buffer.hpp) on a
// real loopback TCP connection: the bytes come out in order whatever the
// read sizes, poll says readable while bytes are buffered, the kernel is
// read once per burst, and a closed descriptor's number reused by another
// socket gets nothing of the old one's.
#include "gateway/socket_read_buffer.hpp"
#include "gateway/tcp_nodelay.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

using namespace meetingd::lmq;

/// A listening loopback socket and a client connected to it.
struct connection {
  int listener = -1;
  int client = -1;
  int server = -1;
  int port = 0;

  connection() {
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener, 4);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    client = connect_to(port);
    server = ::accept(listener, nullptr, nullptr);
  }

  static int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return fd;
  }

  ~connection() {
    for (int fd : {client, server, listener})
      if (fd >= 0)
        ::close(fd);
  }

  void send_text(const std::string& text) const {
    ASSERT_EQ(::send(server, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  }
};

/// Buffers every socket towards `port`, as the gateway does at connect;
/// returns how many it took.
int buffer_towards(int port) {
  int taken = 0;
  for_each_socket_towards(port, [&](int fd) { taken += buffer_reads_of(fd) ? 1 : 0; });
  return taken;
}

/// Waits until `fd` is readable (as poll reports it).
bool readable(int fd, int timeout_ms = 2000) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

std::string read_exactly(int fd, std::size_t n, std::size_t piece) {
  std::string out;
  while (out.size() < n) {
    if (!readable(fd))
      break;
    char buf[64];
    auto want = std::min({piece, n - out.size(), sizeof buf});
    auto got = ::recv(fd, buf, want, 0);
    if (got <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

TEST(socket_read_buffer, bytes_come_out_in_order_whatever_the_read_sizes) {
  connection c;
  ASSERT_EQ(buffer_towards(c.port), 1);
  std::string burst;
  for (int i = 0; i < 500; ++i)
    burst += "packet-" + std::to_string(i) + ";";
  c.send_text(burst);
  auto before = read_buffer_figures();
  // As Paho reads: one byte, one byte, then the rest of a "packet".
  std::string got;
  for (std::size_t piece : {1, 1, 7, 1, 13, 64})
    got += read_exactly(c.client, std::min<std::size_t>(piece, burst.size() - got.size()), piece);
  got += read_exactly(c.client, burst.size() - got.size(), 5);
  EXPECT_EQ(got, burst);
  auto after = read_buffer_figures();
  // The burst fits the buffer: a few refills at most, many reads served.
  EXPECT_GT(after.served - before.served, 100U);
  EXPECT_LE(after.refills - before.refills, 4U);
}

TEST(socket_read_buffer, poll_reports_buffered_bytes_without_the_kernel) {
  connection c;
  ASSERT_EQ(buffer_towards(c.port), 1);
  c.send_text("abcdef");
  ASSERT_TRUE(readable(c.client));
  char one = 0;
  ASSERT_EQ(::recv(c.client, &one, 1, 0), 1);
  EXPECT_EQ(one, 'a');
  // The kernel's queue is empty now; the buffer still holds "bcdef".
  EXPECT_TRUE(readable(c.client, 0));
  EXPECT_EQ(read_exactly(c.client, 5, 1), "bcdef");
  EXPECT_FALSE(readable(c.client, 50));
}

TEST(socket_read_buffer, an_orderly_close_by_the_peer_reads_as_end_of_stream) {
  connection c;
  ASSERT_EQ(buffer_towards(c.port), 1);
  c.send_text("xy");
  ::close(c.server);
  c.server = -1;
  EXPECT_EQ(read_exactly(c.client, 2, 1), "xy");
  ASSERT_TRUE(readable(c.client));
  char buf[4];
  EXPECT_EQ(::recv(c.client, buf, sizeof buf, 0), 0);
}

TEST(socket_read_buffer, a_reused_descriptor_gets_nothing_of_the_closed_one) {
  connection c;
  ASSERT_EQ(buffer_towards(c.port), 1);
  c.send_text("old-bytes");
  char one = 0;
  ASSERT_TRUE(readable(c.client));
  ASSERT_EQ(::recv(c.client, &one, 1, 0), 1); // the rest stays buffered
  int old_fd = c.client;
  ::close(c.client);
  c.client = -1;
  // The lowest free number: the closed one, for a new connection.
  int fresh = connection::connect_to(c.port);
  ASSERT_EQ(fresh, old_fd);
  int accepted = ::accept(c.listener, nullptr, nullptr);
  ASSERT_EQ(::send(accepted, "new", 3, 0), 3);
  EXPECT_EQ(read_exactly(fresh, 3, 1), "new");
  ::close(accepted);
  ::close(fresh);
}

TEST(socket_read_buffer, sockets_towards_other_ports_are_left_alone) {
  connection broker;
  connection other;
  ASSERT_EQ(buffer_towards(broker.port), 1);
  auto before = read_buffer_figures();
  other.send_text("plain");
  EXPECT_EQ(read_exactly(other.client, 5, 1), "plain");
  EXPECT_EQ(read_buffer_figures().served, before.served);
}

} // namespace
