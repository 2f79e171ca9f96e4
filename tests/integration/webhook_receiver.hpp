// A webhook receiver for the integration tests (docs/protocol.md §15): a
// real HTTP server (cpp-httplib) on 127.0.0.1 and a free port of the test's
// (harness.hpp: free_port), on threads of its own, that records every
// request it is sent (headers, raw body, arrival time, what it answered) and
// answers as the test tells it:
//
//   - 200 to everything (the default);
//   - `status` to the first N requests from now, then the default
//     (fail_next), or `status` to everything (answer_always);
//   - nothing at all: the request is read and recorded and the connection
//     held open without an answer until stop() or hang(false) (hang);
//   - nothing listening: stop() closes the port; start() opens the same
//     port again.
//
// stop() returns promptly (about a second at most) also with clients
// connected: held requests are let go, idle keep-alive connections are
// dropped. The destructor stops it. Thread-safe.
#pragma once

#include "actors/core/webhook_event.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace httplib {
class Server;
} // namespace httplib

namespace meetingd::testing {

/// One request as the receiver saw it.
struct webhook_request {
  std::string method;
  std::string path;
  /// Header names in lower case (HTTP names are case-insensitive).
  std::multimap<std::string, std::string> headers;
  std::string body; // byte for byte
  std::chrono::steady_clock::time_point arrived;
  /// What it was answered: an HTTP status, or 0 for no answer (hang).
  int answered = 0;

  /// The first value of header `name` (any case), "" if absent.
  std::string header(const std::string& name) const;
  /// The event id of the X-Meetingd-Event-Id header.
  std::string event_id() const { return header("X-Meetingd-Event-Id"); }
  bool delivered() const { return answered >= 200 && answered < 300; }
};

/// Whether X-Meetingd-Signature is `sha256=` and the lowercase hex of
/// HMAC-SHA256(secret, body) (actors/core/crypto.hpp).
bool signature_valid(const webhook_request& r, std::string_view secret);

/// The body read back with the node's codec (codec::decode_webhook):
/// nullopt unless it is a complete event.
std::optional<webhook_event> decode(const webhook_request& r);

class webhook_receiver {
public:
  using requests_t = std::vector<webhook_request>;

  /// Picks a free loopback port and starts listening on it.
  webhook_receiver();
  ~webhook_receiver();
  webhook_receiver(const webhook_receiver&) = delete;
  webhook_receiver& operator=(const webhook_receiver&) = delete;

  int port() const { return port_; }
  /// http://127.0.0.1:<port><path>
  std::string url(const std::string& path = "/meetingd/hooks") const;

  /// Listens (again) on the same port. Throws if the port cannot be bound.
  void start();
  /// Closes the port: lets held requests go, waits until no thread of the
  /// server runs. Requests recorded so far stay.
  void stop();
  bool running() const;

  /// Answers `status` to every request (the default is 200).
  void answer_always(int status);
  /// Answers `status` to the next `n` requests, then as answer_always says.
  void fail_next(int n, int status = 500);
  /// While on, requests are recorded and never answered (the connection
  /// stays open) until stop() or hang(false).
  void hang(bool on);

  /// Every request so far, in the order they arrived.
  requests_t requests() const;
  std::size_t count() const;
  /// Waits until `pred` holds for the requests so far (checked at each
  /// arrival and at least every 50 ms); its last value.
  bool wait_for(const std::function<bool(const requests_t&)>& pred,
                std::chrono::milliseconds timeout) const;

private:
  void handle(webhook_request req, int& status);

  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  requests_t requests_;
  int status_ = 200;
  int failures_left_ = 0;
  int failure_status_ = 500;
  bool hang_ = false;
  bool stopping_ = false;
};

} // namespace meetingd::testing
