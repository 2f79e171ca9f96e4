#include "webhook_receiver.hpp"

#include "harness.hpp"

#include "actors/core/crypto.hpp"
#include "gateway/codec.hpp"

#include <httplib.h>

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace meetingd::testing {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// Threads that may write to a socket the client closed (a held request let
/// go after the node gave up on it) must get EPIPE, not a SIGPIPE that ends
/// the test: Debian's cpp-httplib sends without MSG_NOSIGNAL. The server's
/// workers are started by the listening thread and inherit its mask.
void block_sigpipe_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

} // namespace

std::string webhook_request::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string{} : it->second;
}

bool signature_valid(const webhook_request& r, std::string_view secret) {
  return r.header("X-Meetingd-Signature") == "sha256=" + crypto::hmac_sha256_hex(secret, r.body);
}

std::optional<webhook_event> decode(const webhook_request& r) {
  return codec::decode_webhook(r.body);
}

webhook_receiver::webhook_receiver() : port_(free_port()) {
  start();
}

webhook_receiver::~webhook_receiver() {
  stop();
}

std::string webhook_receiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void webhook_receiver::start() {
  if (running())
    return;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stopping_ = false;
  }
  auto server = std::make_unique<httplib::Server>();
  // Enough workers that held requests do not stop the others for a while.
  server->new_task_queue = [] { return new httplib::ThreadPool(32); };
  // An idle keep-alive connection holds a worker this long after stop().
  server->set_keep_alive_timeout(1);
  // A client that sent half a request holds a worker this long after stop().
  server->set_read_timeout(1, 0);
  int listen_fd = -1;
  server->set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  auto handler = [this](const httplib::Request& in, httplib::Response& res) {
    webhook_request req;
    req.method = in.method;
    req.path = in.path;
    for (auto& [name, value] : in.headers)
      req.headers.emplace(lower(name), value);
    req.body = in.body;
    req.arrived = std::chrono::steady_clock::now();
    int status = 0;
    handle(std::move(req), status);
    // A held request let go by stop(): the node gave up on it long ago.
    res.status = status == 0 ? 503 : status;
    res.set_content(status == 0 ? "stopped" : "ok", "text/plain");
  };
  server->Post(".*", handler);
  server->Put(".*", handler);
  server->Get(".*", handler);
  if (!server->bind_to_port("127.0.0.1", port_))
    throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1:"
                             + std::to_string(port_));
  // Debian's cpp-httplib listens with a backlog of 5; listening again on the
  // socket raises it.
  if (listen_fd >= 0)
    ::listen(listen_fd, 1024);
  server_ = std::move(server);
  auto* s = server_.get();
  thread_ = std::thread{[s] {
    block_sigpipe_in_this_thread();
    s->listen_after_bind();
  }};
  // stop() before the loop runs would be lost.
  while (!server_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void webhook_receiver::stop() {
  if (!server_)
    return;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  server_->stop();
  if (thread_.joinable())
    thread_.join();
  server_.reset();
}

bool webhook_receiver::running() const {
  return server_ != nullptr;
}

void webhook_receiver::answer_always(int status) {
  std::lock_guard<std::mutex> lock{mutex_};
  status_ = status;
}

void webhook_receiver::fail_next(int n, int status) {
  std::lock_guard<std::mutex> lock{mutex_};
  failures_left_ = n;
  failure_status_ = status;
}

void webhook_receiver::hang(bool on) {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    hang_ = on;
  }
  changed_.notify_all();
}

void webhook_receiver::handle(webhook_request req, int& status) {
  std::unique_lock<std::mutex> lock{mutex_};
  if (stopping_) {
    status = 0;
    return;
  }
  if (hang_) {
    requests_.push_back(std::move(req));
    auto index = requests_.size() - 1;
    changed_.notify_all();
    changed_.wait(lock, [this] { return stopping_ || !hang_; });
    if (stopping_) {
      status = 0;
      return;
    }
    // Let go by hang(false): answered as any other from now on. The node
    // stopped waiting for it long ago; what it was answered is recorded.
    status = status_;
    requests_[index].answered = status;
    return;
  }
  if (failures_left_ > 0) {
    --failures_left_;
    status = failure_status_;
  } else {
    status = status_;
  }
  req.answered = status;
  requests_.push_back(std::move(req));
  changed_.notify_all();
}

webhook_receiver::requests_t webhook_receiver::requests() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return requests_;
}

std::size_t webhook_receiver::count() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return requests_.size();
}

bool webhook_receiver::wait_for(const std::function<bool(const requests_t&)>& pred,
                                std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock{mutex_};
  while (!pred(requests_)) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until)
      return false;
    changed_.wait_for(
      lock,
      std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return true;
}

} // namespace meetingd::testing
