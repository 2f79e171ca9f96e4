// An asynchronous HTTP client: libcurl's multi interface driven by one thread
// that the pool owns. Many transfers are in flight at once over a shared
// connection cache; `submit` only queues and wakes the thread, so an actor may
// call it without blocking. Results come back through a callback that runs on
// the pool's thread: callers hand them on (the RTC gateway does `anon_send`)
// and never touch their own state from there. DESIGN.md: "Nothing blocks an
// actor".
//
// The header carries no curl types; the curl handles live in http_pool.cpp,
// each owned by a small struct that frees it in its destructor (the style of
// CAF's examples/curl/curl_fuse.cpp).
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace meetingd {

struct http_request {
  /// GET, POST or any other verb; GET when empty.
  std::string method = "GET";
  std::string url;
  /// Sent for any method other than GET and HEAD.
  std::string body;
  /// Full header lines, e.g. `Content-Type: application/json`.
  std::vector<std::string> headers;
  /// The whole transfer, connecting and queueing for a connection included.
  std::chrono::milliseconds timeout{5000};
};

struct http_result {
  /// The HTTP status; 0 for a transport error (see `transport_error`).
  int status = 0;
  std::string body;
  /// curl's description of what went wrong when `status` is 0.
  std::string transport_error;
};

class http_pool {
public:
  struct options {
    /// Parallel connections to one host; further transfers wait in curl.
    long max_host_connections = 64;
    /// Idle connections kept for reuse.
    long max_cached_connections = 64;
    /// Bodies above this size fail the transfer (a broken or hostile peer).
    std::size_t max_body_bytes = 1 << 20;
  };

  using callback = std::function<void(http_result)>;

  http_pool();
  explicit http_pool(options opts);

  /// Stops the thread: transfers in flight and requests not yet started get
  /// a transport error through their callbacks (on the pool's thread), and
  /// every curl handle is freed. Waits for the thread unless called on it
  /// (from inside a callback), in which case the thread finishes on its own.
  ~http_pool();

  http_pool(const http_pool&) = delete;
  http_pool& operator=(const http_pool&) = delete;

  /// Queues a request; thread-safe, never blocks on I/O. `done` runs exactly
  /// once, on the pool's thread. After the pool began to stop, `done` gets a
  /// transport error at once, on the caller's thread.
  void submit(http_request req, callback done);

  struct impl;

private:
  std::shared_ptr<impl> impl_;
  std::thread worker_;
};

} // namespace meetingd

// Results travel to actors (anon_send from the pool's thread).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meetingd::http_result)
