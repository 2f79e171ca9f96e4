// The node's HTTP port (--http, docs/monitoring.md): GET /metrics,
// /healthz and /readyz, on cpp-httplib's threads, outside the actor system.
// Every answer is made from what the actors already published (atomics in
// config/metrics.hpp and gateway/readiness.hpp), so a scrape or a health
// check never waits on an actor, and a busy node still answers them.
#pragma once

#include "gateway/readiness.hpp"

#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace meetingd {

/// The web console (docs/console.md): its static files, and what the page
/// is told in /console/config.json.
struct console_site {
  std::string dir;    // empty: no console
  std::string broker; // ws:// URL of the broker's WebSocket listener
  std::string parent_topic;
  std::string node_id;
};

class http_port {
public:
  /// Binds `host`:`port` (port 0: any free one) and serves in the
  /// background; nullptr and `error` set if the address cannot be bound.
  static std::unique_ptr<http_port> open(const std::string& host, int port,
                                         std::shared_ptr<const readiness> ready,
                                         const console_site& console, std::string* error);
  ~http_port();
  http_port(const http_port&) = delete;
  http_port& operator=(const http_port&) = delete;

  /// The port bound (the one picked when 0 was asked).
  int port() const {
    return port_;
  }

private:
  http_port() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

} // namespace meetingd
