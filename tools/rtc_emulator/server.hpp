// rtc-emulator's HTTP side (cpp-httplib): the RPC-style OpenAPI at `/`
// (GET with a query, or POST with a form body) and the control endpoints under
// `/_emulator/`. All decisions are made by `emulator`; this layer decodes,
// waits the answer's latency without holding any lock, writes the JSON (or
// drops the connection) and logs one line per OpenAPI request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tools/rtc_emulator/emulator.hpp"

namespace httplib {
class Server;
}

namespace meetingd::emulator {

struct server_options {
  std::string host = "127.0.0.1";
  /// 0 picks a free port.
  int port = 8090;
  /// HTTP worker threads: each request being delayed (latency) holds one.
  int threads = 64;
};

/// Current time in unix milliseconds.
using clock_fn = std::function<std::int64_t()>;
std::int64_t system_now_ms();

/// Splits `HOST:PORT` (or `[V6]:PORT`); nullopt if malformed or the port is
/// outside 0..65535.
std::optional<std::pair<std::string, int>> parse_listen(std::string_view text);

class server {
 public:
  server(emulator& emu, server_options opts, clock_fn now = system_now_ms);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds the listening socket and returns the port (the chosen one for port
  /// 0). Throws std::runtime_error if it cannot.
  int bind();
  /// Serves until stop(); bind() first. Returns false if listening failed.
  bool serve();
  /// bind(), then serve() on a background thread; returns once accepting.
  int start();
  /// Stops accepting, wakes requests sleeping on latency, waits for the
  /// workers (and the background thread of start()). Safe to call from any
  /// thread, more than once, and before serve() has started.
  void stop();

  int port() const { return port_; }

 private:
  void routes();
  /// Sleeps up to `ms`; returns early when the server stops.
  void pause(std::chrono::milliseconds ms);

  emulator& emu_;
  server_options opts_;
  clock_fn now_;
  std::unique_ptr<httplib::Server> svr_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<bool> serving_{false};
  std::atomic<bool> served_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

} // namespace meetingd::emulator
