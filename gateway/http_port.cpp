#include "gateway/http_port.hpp"

#include "config/log.hpp"
#include "config/metrics.hpp"

#include <httplib.h>

#include <cerrno>
#include <cstring>

namespace meetingd {

namespace {

/// Prometheus' text exposition format.
constexpr const char* metrics_type = "text/plain; version=0.0.4; charset=utf-8";

void routes(httplib::Server& server, std::shared_ptr<const readiness> ready) {
  server.Get("/metrics", [ready](const httplib::Request&, httplib::Response& res) {
    auto& m = metrics::node();
    m.ready.set(ready->ready() ? 1 : 0);
    auto text = m.reg.render();
    metrics::render_process_metrics(text);
    res.set_content(std::move(text), metrics_type);
  });
  // Alive: the process answers. Restarting it would not help anything
  // /readyz reports, so that stays out of this one.
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    auto why = ready->why_not();
    if (why.empty()) {
      res.set_content("ready\n", "text/plain");
      return;
    }
    res.status = 503;
    res.set_content("not ready: " + why + "\n", "text/plain");
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404)
      res.set_content("no such page: " + req.path + " (try /metrics, /healthz, /readyz)\n",
                      "text/plain");
  });
}

} // namespace

std::unique_ptr<http_port> http_port::open(const std::string& host, int port,
                                           std::shared_ptr<const readiness> ready,
                                           std::string* error) {
  std::unique_ptr<http_port> p{new http_port};
  p->server_ = std::make_unique<httplib::Server>();
  auto& server = *p->server_;
  // Scrapes and probes are few: two threads, not one per core.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  routes(server, std::move(ready));
  errno = 0;
  if (port == 0) {
    p->port_ = server.bind_to_any_port(host);
  } else if (server.bind_to_port(host, port)) {
    p->port_ = port;
  }
  if (p->port_ <= 0) {
    if (error)
      *error = "--http=" + host + ":" + std::to_string(port) + ": cannot listen there ("
               + (errno ? std::strerror(errno) : "bad address")
               + "); pick a free HOST:PORT, or --http=off to turn the HTTP port off";
    return nullptr;
  }
  p->thread_ = std::thread{[&server] { server.listen_after_bind(); }};
  // Server::stop() does nothing before the loop runs: wait for it, so that
  // a node stopped at once still stops its HTTP thread.
  for (int i = 0; i < 1000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  MD_LOG_INFO("http.listening", log::kv("address", host + ":" + std::to_string(p->port_)),
              log::kv("paths", "/metrics /healthz /readyz"));
  return p;
}

http_port::~http_port() {
  if (server_)
    server_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace meetingd
