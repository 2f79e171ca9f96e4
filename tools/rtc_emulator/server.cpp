#include "tools/rtc_emulator/server.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <stdexcept>

#include "config/log.hpp"
#include "gateway/rtc_signing.hpp"

namespace meetingd::emulator {

namespace {

using meetingd::log::kv;
constexpr const char* json_type = "application/json;charset=utf-8";

void write(httplib::Response& res, const reply& r) {
  res.status = r.status;
  res.set_content(r.body.dump(), json_type);
}

std::string sockaddr_host(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  else if (a.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, buf, sizeof buf);
  return buf;
}

int sockaddr_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// cpp-httplib 0.11 gives a handler no access to its socket, and whatever a
// handler does, a response is written. To drop a request the way a dead
// server or a broken path does (no status line, no byte at all), find this
// connection's descriptor by its address pair and shut it down: the client
// reads EOF (curl: "Empty reply from server", httplib: Error::Read), and
// httplib's own write then fails quietly (it ignores SIGPIPE) and closes it.
bool shutdown_connection(const httplib::Request& req) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir)
    return false;
  bool done = false;
  while (auto* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    int fd = std::atoi(e->d_name);
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0
        || getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0)
      continue;
    if (sockaddr_port(local) == req.local_port && sockaddr_port(peer) == req.remote_port
        && sockaddr_host(peer) == req.remote_addr) {
      done = ::shutdown(fd, SHUT_RDWR) == 0;
      break;
    }
  }
  closedir(dir);
  return done;
}

void drop(const httplib::Request& req, httplib::Response& res) {
  // Fallback if the socket was not found: headers go out, then the body
  // provider fails and httplib closes the connection; the client still sees
  // a transport error (a truncated body), never a usable answer.
  res.status = 200;
  res.set_content_provider(
      1024, "application/json", [](std::size_t, std::size_t, httplib::DataSink&) {
        return false;
      });
  if (!shutdown_connection(req))
    MD_LOG_WARN("rtc.drop_fallback", kv("remote_port", req.remote_port));
}

json parse_body(const httplib::Request& req, bool& ok) {
  auto j = json::parse(req.body, nullptr, false);
  ok = !j.is_discarded();
  return j;
}

reply bad_json() {
  reply r;
  r.status = 400;
  r.body = json{{"Code", "InvalidParameter"}, {"Message", "the body is not valid JSON"}};
  return r;
}

} // namespace

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<std::pair<std::string, int>> parse_listen(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = std::string{text.substr(1, close - 1)};
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    host = std::string{text.substr(0, colon)};
    if (host.find(':') != std::string::npos)
      return std::nullopt; // a bare IPv6 address needs brackets
    port_text = text.substr(colon + 1);
  }
  if (host.empty() || port_text.empty() || port_text.size() > 5)
    return std::nullopt;
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port > 65535)
    return std::nullopt;
  return std::pair{host, port};
}

server::server(emulator& emu, server_options opts, clock_fn now)
    : emu_(emu), opts_(std::move(opts)), now_(std::move(now)),
      svr_(std::make_unique<httplib::Server>()) {
  const auto threads = static_cast<std::size_t>(opts_.threads > 0 ? opts_.threads : 1);
  svr_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr_->set_payload_max_length(1 << 20);
  // httplib's default sets SO_REUSEPORT, which lets a second emulator bind
  // the same port and silently share its requests. SO_REUSEADDR alone still
  // allows a quick restart while old connections sit in TIME_WAIT.
  svr_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  routes();
}

server::~server() {
  stop();
}

void server::routes() {
  auto openapi = [this](const httplib::Request& req, httplib::Response& res) {
    const auto started = std::chrono::steady_clock::now();
    rtc::rpc_params params;
    if (auto q = req.target.find('?'); q != std::string::npos)
      params = rtc::parse_query(std::string_view{req.target}.substr(q + 1));
    if (req.method == "POST"
        && req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0)
               == 0)
      for (auto& [k, v] : rtc::parse_query(req.body))
        params[k] = v;

    auto r = emu_.openapi(req.method, params, now_());
    if (r.delay.count() > 0)
      pause(r.delay);
    if (r.drop)
      drop(req, res);
    else
      write(res, r);

    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    MD_LOG_INFO("rtc.request", kv("action", r.action), kv("channel", r.channel),
                kv("method", req.method), kv("status", r.status), kv("code", r.code),
                kv("request_id", r.request_id), kv("injected", r.injected), kv("ms", ms));
  };
  svr_->Get("/", openapi);
  svr_->Post("/", openapi);

  auto control = [this](const httplib::Request& req, httplib::Response& res, const reply& r) {
    write(res, r);
    MD_LOG_DEBUG("rtc.control", kv("method", req.method), kv("path", req.path),
                 kv("status", r.status), kv("code", r.code));
  };

  svr_->Post("/_emulator/join", [this, control](const httplib::Request& req,
                                                httplib::Response& res) {
    bool ok = false;
    auto body = parse_body(req, ok);
    auto r = ok ? emu_.join(body, now_()) : bad_json();
    MD_LOG_INFO("rtc.join", kv("channel", r.channel),
                kv("user", body.is_object() && body.value("userid", json()).is_string()
                               ? body["userid"].get<std::string>()
                               : std::string{}),
                kv("status", r.status),
                kv("scheme", r.body.is_object() && r.body.value("scheme", json()).is_string()
                                 ? r.body["scheme"].get<std::string>()
                                 : std::string{}));
    control(req, res, r);
  });
  svr_->Post("/_emulator/leave", [this, control](const httplib::Request& req,
                                                 httplib::Response& res) {
    bool ok = false;
    auto body = parse_body(req, ok);
    control(req, res, ok ? emu_.leave(body, now_()) : bad_json());
  });
  svr_->Get("/_emulator/channels", [this, control](const httplib::Request& req,
                                                   httplib::Response& res) {
    control(req, res, emu_.list_channels(now_()));
  });
  svr_->Get(R"(/_emulator/channels/([^/]+))", [this, control](const httplib::Request& req,
                                                               httplib::Response& res) {
    control(req, res,
            emu_.get_channel(req.matches[1].str(), req.get_param_value("appid"), now_()));
  });
  svr_->Post("/_emulator/faults", [this, control](const httplib::Request& req,
                                                  httplib::Response& res) {
    bool ok = false;
    auto body = parse_body(req, ok);
    auto r = ok ? emu_.add_fault(body) : bad_json();
    if (r.status == 200)
      MD_LOG_INFO("rtc.fault_added", kv("fault", r.body["fault"].dump()));
    control(req, res, r);
  });
  svr_->Get("/_emulator/faults", [this, control](const httplib::Request& req,
                                                 httplib::Response& res) {
    control(req, res, emu_.list_faults());
  });
  svr_->Delete("/_emulator/faults", [this, control](const httplib::Request& req,
                                                    httplib::Response& res) {
    auto r = emu_.clear_faults();
    MD_LOG_INFO("rtc.faults_cleared", kv("count", r.body["cleared"].get<std::int64_t>()));
    control(req, res, r);
  });
  svr_->Delete(R"(/_emulator/faults/(\d{1,15}))", [this, control](const httplib::Request& req,
                                                                   httplib::Response& res) {
    control(req, res, emu_.clear_fault(std::stoll(req.matches[1].str())));
  });
  svr_->Get("/_emulator/stats", [this, control](const httplib::Request& req,
                                                httplib::Response& res) {
    control(req, res, emu_.stats());
  });
  svr_->Post("/_emulator/reset", [this, control](const httplib::Request& req,
                                                 httplib::Response& res) {
    MD_LOG_INFO("rtc.reset", kv("by", req.remote_addr));
    control(req, res, emu_.reset());
  });
  svr_->Get("/_emulator/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"ok":true})", json_type);
  });

  // Anything else: a JSON error rather than httplib's empty body.
  svr_->set_error_handler(
      httplib::Server::Handler{[](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.content_length_ > 0)
          return;
        res.set_content(json{{"Code", res.status == 404 ? "NotFound" : "BadRequest"},
                             {"Message", req.method + " " + req.path + " is not served here"}}
                            .dump(),
                        json_type);
      }});
}

void server::pause(std::chrono::milliseconds ms) {
  std::unique_lock lock{stop_mu_};
  stop_cv_.wait_for(lock, ms, [this] { return stopping_; });
}

int server::bind() {
  if (opts_.port == 0) {
    port_ = svr_->bind_to_any_port(opts_.host);
    if (port_ < 0)
      throw std::runtime_error("cannot listen on " + opts_.host + ":0");
  } else {
    if (!svr_->bind_to_port(opts_.host, opts_.port))
      throw std::runtime_error("cannot listen on " + opts_.host + ":"
                               + std::to_string(opts_.port));
    port_ = opts_.port;
  }
  return port_;
}

bool server::serve() {
  {
    std::lock_guard lock{stop_mu_};
    if (stopping_)
      return true;
    serving_ = true;
  }
  bool ok = svr_->listen_after_bind();
  served_ = true;
  return ok;
}

int server::start() {
  auto port = bind();
  thread_ = std::thread([this] { serve(); });
  while (!svr_->is_running() && !served_)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  return port;
}

void server::stop() {
  {
    std::lock_guard lock{stop_mu_};
    stopping_ = true;
  }
  stop_cv_.notify_all();
  // serve() may be between deciding to run and httplib marking itself
  // running, when Server::stop() does nothing yet: repeat until it is done.
  while (serving_ && !served_) {
    svr_->stop();
    if (served_)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  svr_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace meetingd::emulator
