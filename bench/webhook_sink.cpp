// webhook_sink: a fast webhook receiver for bench/webhooks.sh. It stands in
// for the application's backend (docs/protocol.md §15): every POST is an
// event; its X-Meetingd-Signature is checked against HMAC-SHA256(secret,
// body) (WEBHOOK_SECRET or --secret, as the node signs), its id is
// remembered so repeats are counted as duplicates, and it is answered 204.
// A bad signature is answered 401 (a real receiver would refuse it; the
// node then retries). --fail-first=N answers the first N events 503 before
// taking any, to see the node's retries. A receiver that is down is this
// program not started.
//
// It counts, for the events it took (first arrival of each id): the time of
// the first and the last arrival, events per second between them, the most
// in one second, the delay from the event's own time ("at" in the body) to
// its arrival (p50/p99/max), arrivals per event type, and arrivals out of
// order within a meeting ("seq" lower than one already taken: the node
// sends one event at a time per meeting, in order).
//
//   webhook_sink --listen=127.0.0.1:0 [--threads=48] [--fail-first=N] [--json=FILE]
//
// Prints `webhook_sink listening on HOST:PORT` once listening. GET /count
// answers the counters so far as JSON (a script polls it); GET /summary the
// whole summary. At SIGTERM or SIGINT it stops listening, prints the summary
// on standard output, writes it to --json and exits at once, closing every
// connection (from then on the receiver is down).
//
// cpp-httplib serves each connection on one of its pool's threads for as
// long as the connection is kept alive, so --threads must exceed the
// connections the node keeps open (32 in flight at most). Its listen backlog
// of 5 is raised to 4096 after binding (listen() again on the bound socket),
// and connections are kept alive for as many requests as they carry.
#include "actors/core/crypto.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using json = nlohmann::json;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Byte-wise comparison that does not stop at the first difference.
bool same(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

class sink {
public:
  sink(std::string secret, std::int64_t fail_first)
    : secret_(std::move(secret)), fail_left_(fail_first) {}

  /// One POST: the status to answer.
  int take(const httplib::Request& req) {
    auto arrived = now_ms();
    received_.fetch_add(1, std::memory_order_relaxed);
    if (fail_left_.load(std::memory_order_relaxed) > 0
        && fail_left_.fetch_sub(1, std::memory_order_relaxed) > 0) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return 503;
    }
    auto sig = req.get_header_value("X-Meetingd-Signature");
    auto expected = "sha256=" + meetingd::crypto::hmac_sha256_hex(secret_, req.body);
    if (!same(sig, expected)) {
      bad_signatures_.fetch_add(1, std::memory_order_relaxed);
      return 401;
    }
    auto id = req.get_header_value("X-Meetingd-Event-Id");
    // The body's own fields; a body that is not the node's is still counted.
    std::int64_t at = 0, seq = -1;
    std::string meeting, type = req.get_header_value("X-Meetingd-Event-Type");
    bool body_ok = false;
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_object() && body.value("id", std::string{}) == id) {
      at = body.value("at", std::int64_t{0});
      seq = body.value("seq", std::int64_t{-1});
      meeting = body.value("meeting", std::string{});
      body_ok = true;
    }
    std::lock_guard<std::mutex> guard{lock_};
    if (!body_ok)
      ++bad_bodies_;
    if (!seen_.insert(id).second) {
      ++duplicates_;
      return 204;
    }
    if (first_ms_ == 0)
      first_ms_ = arrived;
    last_ms_ = std::max(last_ms_, arrived);
    ++per_second_[arrived / 1000];
    ++by_type_[type];
    if (at > 0)
      lags_.push_back(arrived - at);
    if (!meeting.empty() && seq >= 0) {
      auto [it, fresh] = last_seq_.emplace(meeting, seq);
      if (!fresh) {
        if (seq < it->second)
          ++out_of_order_;
        else
          it->second = seq;
      }
    }
    return 204;
  }

  json counts() {
    std::lock_guard<std::mutex> guard{lock_};
    return counts_locked();
  }

  json summary() {
    std::lock_guard<std::mutex> guard{lock_};
    auto j = counts_locked();
    double secs = static_cast<double>(last_ms_ - first_ms_) / 1000.0;
    j["events_per_s"] = secs > 0 ? static_cast<double>(seen_.size()) / secs : 0.0;
    std::uint64_t peak = 0;
    for (auto& [second, n] : per_second_)
      peak = std::max(peak, n);
    j["peak_1s"] = peak;
    json seconds = json::array();
    for (auto& [second, n] : per_second_)
      seconds.push_back({{"t", second}, {"n", n}});
    j["per_second"] = std::move(seconds);
    j["by_type"] = by_type_;
    auto lags = lags_;
    std::sort(lags.begin(), lags.end());
    auto pct = [&lags](double p) -> json {
      if (lags.empty())
        return nullptr;
      auto i = static_cast<std::size_t>(p * static_cast<double>(lags.size() - 1) + 0.5);
      return lags[std::min(i, lags.size() - 1)];
    };
    j["lag_ms"] = {{"p50", pct(0.5)}, {"p99", pct(0.99)}, {"max", pct(1.0)}};
    return j;
  }

private:
  json counts_locked() const {
    return {{"received", received_.load()},
            {"refused", refused_.load()},
            {"bad_signatures", bad_signatures_.load()},
            {"bad_bodies", bad_bodies_},
            {"unique", seen_.size()},
            {"duplicates", duplicates_},
            {"out_of_order", out_of_order_},
            {"first_arrival_ms", first_ms_},
            {"last_arrival_ms", last_ms_}};
  }

  const std::string secret_;
  std::atomic<std::int64_t> fail_left_;
  std::atomic<std::uint64_t> received_{0}, refused_{0}, bad_signatures_{0};
  std::mutex lock_;
  std::unordered_set<std::string> seen_;
  std::unordered_map<std::string, std::int64_t> last_seq_;
  std::map<std::int64_t, std::uint64_t> per_second_;
  std::map<std::string, std::uint64_t> by_type_;
  std::vector<std::int64_t> lags_;
  std::uint64_t duplicates_ = 0, out_of_order_ = 0, bad_bodies_ = 0;
  std::int64_t first_ms_ = 0, last_ms_ = 0;
};

int fail(const std::string& what) {
  std::cerr << "webhook_sink: " << what << '\n';
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"webhook_sink: a webhook receiver that checks signatures and counts events"};
  std::string listen = "127.0.0.1:0";
  const char* env_secret = std::getenv("WEBHOOK_SECRET");
  std::string secret = env_secret ? env_secret : "";
  int threads = 48;
  std::int64_t fail_first = 0;
  std::string json_out;
  app.add_option("--listen", listen, "HOST:PORT (port 0: any free one)");
  app.add_option("--secret", secret, "the signing key (default: WEBHOOK_SECRET)");
  app.add_option("--threads", threads, "server threads (one per open connection)")
    ->check(CLI::Range(1, 1024));
  app.add_option("--fail-first", fail_first, "answer the first N events 503")
    ->check(CLI::NonNegativeNumber);
  app.add_option("--json", json_out, "write the summary here at exit");
  CLI11_PARSE(app, argc, argv);
  if (secret.empty())
    return fail("no secret: set WEBHOOK_SECRET or --secret");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return fail("--listen: expected HOST:PORT");
  auto host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);

  // SIGTERM and SIGINT go to the main thread's sigwait only: blocked here,
  // before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  sink s{secret, fail_first};
  httplib::Server svr;
  const auto pool = static_cast<std::size_t>(threads);
  svr.new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  svr.set_payload_max_length(1 << 20);
  svr.set_keep_alive_max_count(1000000);
  svr.set_tcp_nodelay(true);
  int listen_fd = -1;
  // httplib's default sets SO_REUSEPORT (a second sink could share the port);
  // SO_REUSEADDR alone. TCP_NODELAY on the listening socket is inherited by
  // the connections it accepts.
  svr.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    listen_fd = sock;
  });
  svr.Post(R"(/.*)", [&s](const httplib::Request& req, httplib::Response& res) {
    res.status = s.take(req);
  });
  svr.Get("/count", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.counts().dump(), "application/json");
  });
  svr.Get("/summary", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.summary().dump(), "application/json");
  });

  if (port == 0) {
    port = svr.bind_to_any_port(host);
    if (port <= 0)
      return fail("cannot bind " + host);
  } else if (!svr.bind_to_port(host, port)) {
    return fail("cannot bind " + listen);
  }
  // cpp-httplib listens with a backlog of 5: a burst of the node's
  // connections would overflow it. listen() again sets a larger one.
  if (listen_fd >= 0)
    ::listen(listen_fd, 4096);
  std::thread([&svr] { svr.listen_after_bind(); }).detach();
  std::cout << "webhook_sink listening on " << host << ':' << port << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  // No new connections; then the summary, and out without waiting for the
  // pool: its threads sit in keep-alive waits on the node's idle connections
  // (up to the keep-alive timeout) and would still answer on them. Exiting
  // closes every connection at once: from here on the receiver is down.
  svr.stop();
  auto summary = s.summary();
  auto brief = summary;
  brief.erase("per_second");
  std::cout << brief.dump() << std::endl;
  int status = 0;
  if (!json_out.empty()) {
    std::ofstream out{json_out};
    out << summary.dump(2) << '\n';
    out.close();
    if (!out)
      status = fail("cannot write " + json_out);
  }
  std::cout.flush();
  std::_Exit(status);
}
