// net_preload: an LD_PRELOAD shim for measuring, used by bench/lib.sh.
//
//   NET_PRELOAD_NODELAY=1   sets TCP_NODELAY on every TCP socket the process
//                           connects or accepts. meetingd's MQTT connection
//                           (Paho C) does not set it, so a reply published
//                           right after the PUBACK of its command waits for
//                           the broker's delayed ACK (up to 40 ms on Linux):
//                           NODE_NODELAY=1 runs the node with it to show what
//                           that costs. The rtc-emulator's cpp-httplib does
//                           not set it either (CPPHTTPLIB_TCP_NODELAY is off):
//                           it writes headers and body separately, so every
//                           OpenAPI answer waits 40 ms for curl's delayed ACK.
//                           EMULATOR_NODELAY=1 runs the emulator with it.
//   NET_PRELOAD_BACKLOG=N   raises the backlog of listen() to at least N.
//                           The rtc-emulator's cpp-httplib (Debian's compiled
//                           0.11) listens with a backlog of 5 and closes a
//                           keep-alive connection after 5 requests: bursts of
//                           reconnects from the node overflow the backlog, the
//                           kernel drops the SYNs and curl retries after 1 s.
//                           EMULATOR_BACKLOG=N runs the emulator with it.
//
// A measuring aid only: the programs themselves should do this.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

namespace {

long env_long(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::strtol(v, nullptr, 10) : 0;
}

} // namespace

extern "C" int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  using connect_fn = int (*)(int, const struct sockaddr*, socklen_t);
  static auto real = reinterpret_cast<connect_fn>(dlsym(RTLD_NEXT, "connect"));
  static const bool nodelay = env_long("NET_PRELOAD_NODELAY") == 1;
  if (nodelay && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  return real(fd, addr, len);
}

namespace {

void set_nodelay(int fd) {
  static const bool nodelay = env_long("NET_PRELOAD_NODELAY") == 1;
  if (!nodelay || fd < 0)
    return;
  sockaddr_storage addr{};
  socklen_t alen = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0
      || (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
    return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

} // namespace

extern "C" int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  using accept_fn = int (*)(int, struct sockaddr*, socklen_t*);
  static auto real = reinterpret_cast<accept_fn>(dlsym(RTLD_NEXT, "accept"));
  int s = real(fd, addr, len);
  set_nodelay(s);
  return s;
}

extern "C" int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  using accept4_fn = int (*)(int, struct sockaddr*, socklen_t*, int);
  static auto real = reinterpret_cast<accept4_fn>(dlsym(RTLD_NEXT, "accept4"));
  int s = real(fd, addr, len, flags);
  set_nodelay(s);
  return s;
}

extern "C" int listen(int fd, int backlog) {
  using listen_fn = int (*)(int, int);
  static auto real = reinterpret_cast<listen_fn>(dlsym(RTLD_NEXT, "listen"));
  static const long at_least = env_long("NET_PRELOAD_BACKLOG");
  if (at_least > backlog)
    backlog = static_cast<int>(at_least);
  return real(fd, backlog);
}
