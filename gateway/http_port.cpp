#include "gateway/http_port.hpp"

#include "config/log.hpp"
#include "config/metrics.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

namespace meetingd {

namespace {

/// Prometheus' text exposition format.
constexpr const char* metrics_type = "text/plain; version=0.0.4; charset=utf-8";

/// /console/: the page's files, and config.json that tells it where the
/// broker is. The page talks to the broker, never to this port.
void console_routes(httplib::Server& server, const console_site& console) {
  server.Get("/console", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/console/");
  });
  nlohmann::json config{{"broker", console.broker},
                        {"parent_topic", console.parent_topic},
                        {"node", console.node_id},
                        {"version", MEETINGD_VERSION}};
  server.Get("/console/config.json", [text = config.dump()](const httplib::Request&,
                                                            httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(text, "application/json");
  });
  if (!server.set_mount_point("/console", console.dir))
    MD_LOG_WARN("http.console_missing", log::kv("dir", console.dir),
                log::kv("effect", "/console/ answers 404"),
                log::kv("hint", "build the console (ninja console) or set --console-dir"));
  // The page loads only its own files and connects only to a WebSocket.
  server.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/console", 0) != 0)
      return;
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                   "style-src 'self'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
  });
}

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
      res.set_content("no such page: " + req.path
                        + " (try /metrics, /healthz, /readyz, /console/)\n",
                      "text/plain");
  });
}

} // namespace

std::unique_ptr<http_port> http_port::open(const std::string& host, int port,
                                           std::shared_ptr<const readiness> ready,
                                           const console_site& console, std::string* error) {
  std::unique_ptr<http_port> p{new http_port};
  p->server_ = std::make_unique<httplib::Server>();
  auto& server = *p->server_;
  // httplib gives each connection a thread for as long as it stays open: a
  // browser loading the console opens six and keeps them alive. Eight
  // threads and a short keep-alive serve the page and a scrape at once
  // (with two and httplib's 5 s, the page's files came in 5 s waves).
  server.new_task_queue = [] { return new httplib::ThreadPool(8); };
  server.set_keep_alive_timeout(1);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  routes(server, std::move(ready));
  if (!console.dir.empty())
    console_routes(server, console);
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
              log::kv("paths", console.dir.empty() ? "/metrics /healthz /readyz"
                                                   : "/metrics /healthz /readyz /console/"),
              log::kv("console_dir", console.dir));
  return p;
}

http_port::~http_port() {
  if (server_)
    server_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace meetingd
