#include "gateway/tcp_nodelay.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

namespace meetingd::lmq {

int broker_port(const std::string& uri) {
  auto colon = uri.rfind(':');
  auto scheme = uri.find("://");
  if (colon == std::string::npos || (scheme != std::string::npos && colon <= scheme))
    return uri.rfind("ssl://", 0) == 0 ? 8883 : 1883;
  auto end = uri.find('/', colon);
  auto digits = uri.substr(colon + 1, end == std::string::npos ? std::string::npos : end - colon - 1);
  return std::atoi(digits.c_str());
}

int for_each_socket_towards(int port, const std::function<void(int fd)>& fn) {
  if (port <= 0)
    return 0;
  int found = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir)
    return 0;
  while (auto entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || fd < 0)
      continue;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0
        || type != SOCK_STREAM)
      continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
      continue;
    int peer_port = 0;
    if (peer.ss_family == AF_INET)
      peer_port = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
    else if (peer.ss_family == AF_INET6)
      peer_port = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
    if (peer_port != port)
      continue;
    ++found;
    fn(static_cast<int>(fd));
  }
  closedir(dir);
  return found;
}

bool set_nodelay(int fd) {
  int on = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
}

} // namespace meetingd::lmq
