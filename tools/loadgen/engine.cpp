#include "tools/loadgen/engine.hpp"

#include "actors/core/crypto.hpp"
#include "tools/client/mqtt_session.hpp"

#include <mosquitto.h>

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace meetingd::loadgen {

namespace {

constexpr const char* names[c_count] = {"login",  "create", "join",   "accept", "decline",
                                        "leave",  "mute",   "renew",  "end",    "get",
                                        "invite", "kick",   "echo"};
constexpr const char* wire[c_count] = {
  "auth.login",   "meeting.create", "meeting.join", "call.accept",   "call.decline",
  "meeting.leave", "moderate.mute", "meeting.renew", "meeting.end",   "meeting.get",
  "call.invite",  "moderate.kick",  "bench.echo"};

using steady = std::chrono::steady_clock;

/// A setup login answered "try again" (the node's password checks are
/// saturated by the burst of logins) is sent again, so many times at most.
constexpr int max_login_retries = 1000;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
    .count();
}

std::int64_t unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

template <class V, class T>
bool erase_value(V& v, const T& x) {
  auto i = std::find(v.begin(), v.end(), x);
  if (i == v.end())
    return false;
  v.erase(i);
  return true;
}

template <class V, class T>
bool contains(const V& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// A JSON payload padded with an "args.pad" string to at least `size` bytes.
std::string padded(json msg, const char* field, std::size_t size) {
  auto text = msg.dump();
  if (text.size() >= size)
    return text;
  auto base = text.size() + std::string(R"(,"pad":"")").size();
  msg[field]["pad"] = std::string(size > base ? size - base : 0, 'x');
  return msg.dump();
}

} // namespace

const char* cmd_name(int c) {
  return c >= 0 && c < c_count ? names[c] : "?";
}
const char* cmd_wire_type(int c) {
  return c >= 0 && c < c_count ? wire[c] : "?";
}
int cmd_from_name(const std::string& name) {
  for (int c = 0; c < c_count; ++c)
    if (name == names[c])
      return c;
  return -1;
}

std::string parse_mix(const std::string& text, std::array<double, c_count>& weights) {
  weights.fill(0);
  std::size_t at = 0;
  bool any = false;
  while (at <= text.size()) {
    auto comma = text.find(',', at);
    auto item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (item.empty())
      continue;
    double w = 1;
    auto colon = item.find(':');
    auto name = item.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        std::size_t used = 0;
        w = std::stod(item.substr(colon + 1), &used);
        if (used != item.size() - colon - 1 || w < 0)
          throw std::invalid_argument("weight");
      } catch (const std::exception&) {
        return "bad weight in '" + item + "' (expected NAME or NAME:WEIGHT, WEIGHT >= 0)";
      }
    }
    int c = cmd_from_name(name);
    if (c < 0 || c == c_echo) {
      std::string known;
      for (int k = 0; k < c_echo; ++k)
        known += (k ? ", " : "") + std::string(names[k]);
      return "unknown command '" + name + "' (known: " + known + ")";
    }
    weights[c] += w;
    any = any || w > 0;
  }
  if (!any)
    return "the mix has no command with a positive weight";
  return "";
}

void cmd_stats::merge(const cmd_stats& o) {
  latency.merge(o.latency);
  ok += o.ok;
  failed += o.failed;
  bytes_out += o.bytes_out;
  bytes_in += o.bytes_in;
  for (auto& [k, v] : o.errors)
    errors[k] += v;
}

void worker_stats::merge(const worker_stats& o) {
  for (int c = 0; c < c_count; ++c)
    cmds[c].merge(o.cmds[c]);
  for (auto& [k, v] : o.events)
    events[k] += v;
  timeouts += o.timeouts;
  for (auto& t : o.timeout_samples)
    if (timeout_samples.size() < 10)
      timeout_samples.push_back(t);
  late_replies += o.late_replies;
  disconnects += o.disconnects;
  deferred += o.deferred;
  window.merge(o.window);
  window_errors += o.window_errors;
  setup_latency.merge(o.setup_latency);
  setup_ok += o.setup_ok;
  setup_failed += o.setup_failed;
  for (auto& [k, v] : o.setup_errors)
    setup_errors[k] += v;
}

// -- the echo peer ------------------------------------------------------------------

/// One connection that answers every message on the echo topic with one
/// message to the sender's reply topic, as the node answers every command.
class echo_peer {
public:
  echo_peer(engine& eng) : eng_(eng) {}
  ~echo_peer() {
    stop();
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

private:
  void run() {
    auto& o = eng_.opts();
    mosq_ = mosquitto_new(o.echo_id.c_str(), true, this);
    mosquitto_max_inflight_messages_set(mosq_, 0);
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    if (!o.mqtt_username.empty())
      mosquitto_username_pw_set(mosq_, o.mqtt_username.c_str(), o.mqtt_password.c_str());
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* self, int rc) {
      auto p = static_cast<echo_peer*>(self);
      if (rc != 0) {
        p->eng_.set_fatal(std::string{"echo peer: the broker refused: "}
                          + mosquitto_connack_string(rc));
        return;
      }
      mosquitto_subscribe(m, nullptr, p->sub_topic().c_str(), 1);
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int n, const int* q) {
      auto p = static_cast<echo_peer*>(self);
      if (n < 1 || q[0] > 2) {
        p->eng_.set_fatal("echo peer: the broker refused the subscription to "
                          + p->sub_topic() + " (ACL?)");
        return;
      }
      p->eng_.peer_ready = true;
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto* m, void* self, const mosquitto_message* msg) {
      static_cast<echo_peer*>(self)->answer(m, msg);
    });
    auto [host, port] = client::host_port(o.broker);
    int rc = mosquitto_connect(mosq_, host.c_str(), port, o.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      eng_.set_fatal("echo peer: cannot connect to " + o.broker + ": " + mosquitto_strerror(rc));
      mosquitto_destroy(mosq_);
      return;
    }
    int ep = epoll_create1(0);
    int fd = mosquitto_socket(mosq_);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    bool armed = false;
    auto last_misc = steady::now();
    while (!stop_) {
      epoll_event out[4];
      int n = epoll_wait(ep, out, 4, 10);
      for (int i = 0; i < n; ++i) {
        if (out[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          // Read everything the socket holds before waiting again.
          for (int k = 0; k < 256; ++k) {
            if (mosquitto_loop_read(mosq_, 1) != MOSQ_ERR_SUCCESS) {
              eng_.set_fatal("echo peer: lost the connection to the broker");
              stop_ = true;
              break;
            }
            int avail = 0;
            if (ioctl(fd, FIONREAD, &avail) != 0 || avail <= 0)
              break;
          }
        }
        if (!stop_ && (out[i].events & EPOLLOUT))
          mosquitto_loop_write(mosq_, 1);
      }
      if (stop_)
        break;
      if (mosquitto_want_write(mosq_))
        mosquitto_loop_write(mosq_, 1);
      bool want = mosquitto_want_write(mosq_);
      if (want != armed) {
        ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        armed = want;
      }
      if (steady::now() - last_misc > std::chrono::seconds(1)) {
        mosquitto_loop_misc(mosq_);
        last_misc = steady::now();
      }
    }
    mosquitto_disconnect(mosq_);
    mosquitto_loop_write(mosq_, 1);
    close(ep);
    mosquitto_destroy(mosq_);
  }

  std::string sub_topic() const {
    auto& o = eng_.opts();
    return o.echo_topics == "node" ? o.parent + "/up/+" : "bench/echo/+";
  }
  std::string reply_topic(const std::string& client) const {
    auto& o = eng_.opts();
    return o.echo_topics == "node" ? o.parent + "/p2p/" + client : "bench/reply/" + client;
  }

  void answer(mosquitto* m, const mosquitto_message* msg) {
    std::string topic = msg->topic;
    auto slash = topic.rfind('/');
    auto client = topic.substr(slash + 1);
    auto body = json::parse(static_cast<const char*>(msg->payload),
                            static_cast<const char*>(msg->payload) + msg->payloadlen, nullptr,
                            false);
    json reply{{"id", body.is_object() && body.contains("id") ? body["id"] : json(nullptr)},
               {"type", "reply"},
               {"code", 0},
               {"data", json::object()}};
    auto& o = eng_.opts();
    std::size_t size = o.reply_bytes > 0 ? static_cast<std::size_t>(o.reply_bytes)
                                         : static_cast<std::size_t>(msg->payloadlen);
    auto text = padded(std::move(reply), "data", size);
    mosquitto_publish(m, nullptr, reply_topic(client).c_str(), static_cast<int>(text.size()),
                      text.data(), 1, false);
    eng_.echoed.fetch_add(1, std::memory_order_relaxed);
  }

  engine& eng_;
  mosquitto* mosq_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// -- devices and their world -----------------------------------------------------------

namespace {

struct pending_request {
  std::string id;
  int c = 0;
  bool setup = false;
  std::int64_t intended_ns = 0; // when it was due (rate mode) or sent
  std::string meeting;
  int target = -1; // the user a mute/kick is about
  std::size_t bytes_out = 0;
};

enum class dstate { fresh, connecting, subscribing, awaiting_users, logging_in, ready, failed };

struct device {
  worker* owner = nullptr;
  int index = 0;
  int user = 0;
  bool console = false;
  std::string client_id;
  std::string up_topic, reply_topic, presence_topic;
  mosquitto* m = nullptr;
  int fd = -1;
  dstate st = dstate::fresh;
  bool out_armed = false;
  bool queued = false; // in the worker's ready queue
  std::vector<pending_request> pending;
  std::uint64_t next_req = 1;
  std::deque<std::string> joins; // populate: meetings to join
  bool leader = false;           // populate: creates the meetings
  int group = 0;
  int login_retries = 0;         // logins answered "try again" (503, 429)
};

struct meeting_model {
  int host = -1;
  std::vector<int> parts; // users, the host first
  bool live = false;      // created (reply 0) and not ended
};

struct user_model {
  std::vector<std::string> hosted;  // meetings the user created and that are not ended
  std::vector<std::string> joined;  // meetings joined as a non-host
  std::vector<std::string> invites; // ringing invitations
};

struct plan {
  int c = -1;
  std::string payload;
  std::string meeting;
  int target = -1;
};

} // namespace

class worker {
public:
  worker(engine& eng, int id) : eng_(eng), o_(eng.opts()), id_(id), rng_(0x5eed + id) {}

  ~worker() {
    for (auto& d : devices_)
      if (d->m)
        mosquitto_destroy(d->m);
    if (ep_ >= 0)
      close(ep_);
  }

  void add_device(int index, int user, bool console = false) {
    auto d = std::make_unique<device>();
    d->owner = this;
    d->index = index;
    d->user = user;
    d->console = console;
    if (console) {
      d->client_id = o_.console;
      d->up_topic = o_.parent + "/admin/" + d->client_id;
    } else {
      d->client_id = "GID_MEETING_DOWN@@@" + o_.device_prefix + "-d" + std::to_string(index);
      if (o_.mode == "echo" && o_.echo_topics == "bench")
        d->up_topic = "bench/echo/" + d->client_id;
      else
        d->up_topic = o_.parent + "/up/" + d->client_id;
    }
    if (o_.mode == "echo" && o_.echo_topics == "bench")
      d->reply_topic = "bench/reply/" + d->client_id;
    else
      d->reply_topic = o_.parent + "/p2p/" + d->client_id;
    d->presence_topic = o_.parent + "/presence/" + d->client_id;
    if (o_.mode == "populate") {
      d->group = index / o_.participants;
      d->leader = index % o_.participants == 0;
    }
    by_index_[index] = d.get();
    devices_.push_back(std::move(d));
  }

  std::size_t size() const {
    return devices_.size();
  }

  void start() {
    thread_ = std::thread([this] {
      try {
        run();
      } catch (const std::exception& e) {
        eng_.set_fatal("worker " + std::to_string(id_) + ": " + e.what());
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  worker_stats collect(bool reset_window) {
    std::lock_guard<std::mutex> g{mtx_};
    worker_stats copy = stats_;
    if (reset_window) {
      stats_.window.reset();
      stats_.window_errors = 0;
    }
    return copy;
  }

  std::uint64_t inflight() const {
    return inflight_.load(std::memory_order_relaxed);
  }

private:
  // -- the loop --------------------------------------------------------------------

  void run() {
    ep_ = epoll_create1(0);
    if (ep_ < 0)
      throw std::runtime_error("epoll_create1 failed");
    std::size_t next_connect = 0;
    auto last_misc = steady::now();
    auto last_timeouts = steady::now();
    bool disconnected = false;
    std::vector<epoll_event> events(512);
    std::vector<device*> touched;
    while (!stop_) {
      // Open connections in batches so the broker's accept queue keeps up.
      if (next_connect < devices_.size()) {
        auto until = std::min(devices_.size(), next_connect + static_cast<std::size_t>(o_.connect_batch));
        for (; next_connect < until; ++next_connect)
          connect(*devices_[next_connect]);
      }
      int timeout = 10;
      if (o_.rate > 0 && issuing())
        timeout = 1;
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
      touched.clear();
      for (int i = 0; i < n; ++i) {
        auto d = static_cast<device*>(events[i].data.ptr);
        if (!d->m || d->fd < 0)
          continue;
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          int rc = mosquitto_loop_read(d->m, 1);
          if (rc != MOSQ_ERR_SUCCESS) {
            lost(*d, mosquitto_strerror(rc));
            continue;
          }
        }
        if (d->fd >= 0 && (events[i].events & EPOLLOUT)) {
          int rc = mosquitto_loop_write(d->m, 1);
          if (rc != MOSQ_ERR_SUCCESS) {
            lost(*d, mosquitto_strerror(rc));
            continue;
          }
        }
        touched.push_back(d);
      }
      // Devices waiting for the console's users.
      if (!awaiting_.empty() && eng_.users_ready.load()) {
        for (auto d : awaiting_) {
          send_login(*d, true);
          touched.push_back(d);
        }
        awaiting_.clear();
      }
      if (console_ && console_->st == dstate::ready)
        console_step(touched);
      if (issuing())
        issue(touched);
      for (auto d : touched)
        update_interest(*d);
      for (auto d : issued_)
        update_interest(*d);
      issued_.clear();
      auto now = steady::now();
      if (now - last_timeouts > std::chrono::milliseconds(200)) {
        check_timeouts();
        last_timeouts = now;
      }
      if (now - last_misc > std::chrono::seconds(1)) {
        for (auto& d : devices_)
          if (d->m && d->fd >= 0) {
            if (mosquitto_loop_misc(d->m) != MOSQ_ERR_SUCCESS)
              lost(*d, "keepalive");
            else
              update_interest(*d);
          }
        last_misc = now;
      }
      if (eng_.current_phase() == phase::done && !disconnected) {
        disconnect_all();
        disconnected = true;
      }
    }
    if (!disconnected)
      disconnect_all();
  }

  bool issuing() const {
    auto p = eng_.current_phase();
    return p == phase::warmup || p == phase::measure;
  }

  void update_interest(device& d) {
    if (!d.m || d.fd < 0)
      return;
    bool want = mosquitto_want_write(d.m);
    if (want == d.out_armed)
      return;
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.ptr = &d;
    epoll_ctl(ep_, EPOLL_CTL_MOD, d.fd, &ev);
    d.out_armed = want;
  }

  // -- connecting and logging in ------------------------------------------------------

  void connect(device& d) {
    d.m = mosquitto_new(d.client_id.c_str(), true, &d);
    if (!d.m) {
      fail(d, "mosquitto_new failed");
      return;
    }
    mosquitto_max_inflight_messages_set(d.m, 0);
    // Without it Nagle's algorithm holds small packets back for the peer's
    // delayed ACK (40 ms on Linux): a benchmark of latency must not.
    mosquitto_int_option(d.m, MOSQ_OPT_TCP_NODELAY, 1);
    if (d.console && !o_.mqtt_username.empty())
      mosquitto_username_pw_set(d.m, o_.mqtt_username.c_str(), o_.mqtt_password.c_str());
    mosquitto_connect_callback_set(d.m, &worker::on_connect);
    mosquitto_subscribe_callback_set(d.m, &worker::on_subscribe);
    mosquitto_message_callback_set(d.m, &worker::on_message);
    mosquitto_disconnect_callback_set(d.m, &worker::on_disconnect);
    bool presence = o_.presence && !d.console && o_.mode != "echo";
    if (presence) {
      static const std::string offline = R"({"online":false})";
      mosquitto_will_set(d.m, d.presence_topic.c_str(), static_cast<int>(offline.size()),
                         offline.data(), 1, true);
    }
    auto [host, port] = client::host_port(o_.broker);
    int rc = mosquitto_connect(d.m, host.c_str(), port, o_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      fail(d, std::string{"connect: "} + mosquitto_strerror(rc));
      return;
    }
    d.fd = mosquitto_socket(d.m);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &d;
    epoll_ctl(ep_, EPOLL_CTL_ADD, d.fd, &ev);
    d.st = dstate::connecting;
    update_interest(d);
    if (d.console)
      console_ = &d;
  }

  void fail(device& d, const std::string& why) {
    if (d.st == dstate::failed)
      return;
    bool was_ready = d.st == dstate::ready;
    d.st = dstate::failed;
    eng_.failed.fetch_add(1);
    if (d.console)
      eng_.set_fatal("console " + d.client_id + ": " + why);
    if (!was_ready && first_failure_.empty()) {
      first_failure_ = why;
      eng_.set_fatal_soft(d.client_id + ": " + why);
    }
  }

  void lost(device& d, const std::string& why) {
    if (d.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, d.fd, nullptr);
      d.fd = -1;
    }
    {
      std::lock_guard<std::mutex> g{mtx_};
      ++stats_.disconnects;
    }
    for (auto& p : d.pending)
      complete(d, p, -1, "disconnected", 0, now_ns());
    inflight_.fetch_sub(d.pending.size(), std::memory_order_relaxed);
    d.pending.clear();
    fail(d, "connection lost: " + why);
  }

  static void on_connect(mosquitto* m, void* ud, int rc) {
    auto d = static_cast<device*>(ud);
    if (rc != 0) {
      d->owner->fail(*d, std::string{"broker refused: "} + mosquitto_connack_string(rc));
      return;
    }
    d->owner->eng_.connected.fetch_add(1);
    d->st = dstate::subscribing;
    mosquitto_subscribe(m, nullptr, d->reply_topic.c_str(), 1);
  }

  static void on_subscribe(mosquitto* m, void* ud, int, int n, const int* granted) {
    auto d = static_cast<device*>(ud);
    auto& w = *d->owner;
    if (n < 1 || granted[0] > 2) {
      w.fail(*d, "subscription to " + d->reply_topic + " refused (ACL?)");
      return;
    }
    if (d->st != dstate::subscribing)
      return;
    bool presence = w.o_.presence && !d->console && w.o_.mode != "echo";
    if (presence) {
      static const std::string online = R"({"online":true})";
      mosquitto_publish(m, nullptr, d->presence_topic.c_str(), static_cast<int>(online.size()),
                        online.data(), 1, true);
    }
    if (d->console || w.o_.mode == "echo") {
      d->st = dstate::ready;
      if (!d->console)
        w.eng_.ready.fetch_add(1);
      return;
    }
    if (w.eng_.login_method() == "password" && !w.eng_.users_ready.load()) {
      d->st = dstate::awaiting_users;
      w.awaiting_.push_back(d);
      return;
    }
    w.send_login(*d, false);
  }

  void send_login(device& d, bool flush) {
    d.st = dstate::logging_in;
    plan p;
    p.c = c_login;
    p.payload = login_payload(d, next_id(d));
    send(d, std::move(p), now_ns(), true);
    if (flush)
      issued_.push_back(&d);
  }

  std::string next_id(device& d) {
    return eng_.run_id() + "." + std::to_string(d.next_req++);
  }

  std::string login_payload(device& d, const std::string& id) {
    auto user = eng_.user_name(d.user);
    json args{{"user", user}};
    if (eng_.login_method() == "ticket") {
      // An hour: well within the node's --ticket-max-age.
      auto expiry = std::to_string(unix_s() + 3600);
      auto body = user + "." + expiry;
      args["ticket"] = body + "." + crypto::hmac_sha256_hex(o_.ticket_secret, body);
    } else {
      args["password"] = "pw-" + user;
    }
    return json{{"id", id}, {"type", "auth.login"}, {"args", std::move(args)}}.dump();
  }

  // -- the console adds the users (password logins) -------------------------------------

  void console_step(std::vector<device*>& touched) {
    if (eng_.users_ready.load())
      return;
    auto& d = *console_;
    int total = o_.users;
    while (d.pending.size() < 32 && next_user_ < total) {
      auto user = eng_.user_name(next_user_++);
      plan p;
      p.c = c_login; // recorded as setup
      json msg{{"id", next_id(d)},
               {"type", "admin.user.add"},
               {"args", {{"user", user}, {"password", "pw-" + user}}}};
      p.payload = msg.dump();
      send(d, std::move(p), now_ns(), true);
      touched.push_back(&d);
    }
    if (next_user_ >= total && d.pending.empty())
      eng_.users_ready = true;
  }

  // -- sending ----------------------------------------------------------------------------

  void send(device& d, plan p, std::int64_t intended, bool setup) {
    pending_request r;
    auto at = p.payload.find(R"("id":")");
    auto end = p.payload.find('"', at + 6);
    r.id = p.payload.substr(at + 6, end - at - 6);
    r.c = p.c;
    r.setup = setup;
    r.intended_ns = intended;
    r.meeting = std::move(p.meeting);
    r.target = p.target;
    r.bytes_out = p.payload.size();
    int rc = mosquitto_publish(d.m, nullptr, d.up_topic.c_str(), static_cast<int>(p.payload.size()),
                               p.payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      lost(d, std::string{"publish: "} + mosquitto_strerror(rc));
      return;
    }
    d.pending.push_back(std::move(r));
    inflight_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Issues commands: flat out, every device with a free slot; at a rate,
  /// what is due by now.
  void issue(std::vector<device*>& touched) {
    auto now = now_ns();
    if (o_.rate > 0) {
      if (next_due_ == 0)
        next_due_ = now;
      double per_worker = o_.rate / static_cast<double>(eng_.workers_.size());
      auto interval = static_cast<std::int64_t>(1e9 / per_worker);
      while (next_due_ <= now) {
        bool sent = false;
        for (std::size_t tries = 0; tries < devices_.size() && !sent; ++tries) {
          device* d = next_free_device();
          if (!d)
            break;
          sent = issue_one(*d, next_due_);
        }
        if (!sent) {
          std::lock_guard<std::mutex> g{mtx_};
          ++stats_.deferred;
          break; // the latency of what is late counts from when it was due
        }
        next_due_ += interval;
      }
      return;
    }
    if (!seeded_) {
      for (auto& d : devices_)
        if (!d->console)
          push_ready(*d);
      seeded_ = true;
    }
    // Devices with nothing to do now are retried a little later.
    if (!parked_.empty() && steady::now() - last_unpark_ > std::chrono::milliseconds(20)) {
      for (auto d : parked_)
        push_ready(*d);
      parked_.clear();
      last_unpark_ = steady::now();
    }
    std::size_t budget = ready_.size();
    while (budget-- > 0 && !ready_.empty()) {
      auto d = ready_.front();
      ready_.pop_front();
      d->queued = false;
      if (d->st != dstate::ready)
        continue;
      while (static_cast<int>(d->pending.size()) < o_.inflight) {
        if (!issue_one(*d, now_ns())) {
          parked_.push_back(d);
          break;
        }
      }
    }
    (void)touched;
  }

  device* next_free_device() {
    for (std::size_t k = 0; k < devices_.size(); ++k) {
      auto& d = *devices_[rr_++ % devices_.size()];
      if (d.console || d.st != dstate::ready)
        continue;
      if (static_cast<int>(d.pending.size()) < o_.inflight)
        return &d;
    }
    return nullptr;
  }

  void push_ready(device& d) {
    if (d.queued || d.st != dstate::ready || d.console)
      return;
    d.queued = true;
    ready_.push_back(&d);
  }

  bool issue_one(device& d, std::int64_t intended) {
    auto p = choose(d);
    if (p.c < 0)
      return false;
    sent_effects(d, p);
    send(d, std::move(p), intended, false);
    issued_.push_back(&d);
    return true;
  }

  // -- what to send ------------------------------------------------------------------------

  plan make(device& d, int c, json args, std::string meeting = {}, int target = -1) {
    plan p;
    p.c = c;
    p.meeting = std::move(meeting);
    p.target = target;
    p.payload = json{{"id", next_id(d)}, {"type", wire[c]}, {"args", std::move(args)}}.dump();
    return p;
  }

  std::string new_meeting_id() {
    return eng_.run_id() + "-" + std::to_string(id_) + "-" + std::to_string(++meeting_seq_);
  }

  plan choose(device& d) {
    if (o_.mode == "echo") {
      plan p;
      p.c = c_echo;
      json msg{{"id", next_id(d)}, {"type", wire[c_echo]}, {"args", json::object()}};
      p.payload = padded(std::move(msg), "args",
                         static_cast<std::size_t>(o_.payload_bytes > 0 ? o_.payload_bytes : 160));
      return p;
    }
    if (o_.mode == "populate")
      return choose_populate(d);
    std::array<double, c_count> w = o_.weights;
    for (int attempt = 0; attempt < c_count; ++attempt) {
      double total = 0;
      for (double x : w)
        total += x;
      if (total <= 0)
        break;
      std::uniform_real_distribution<double> pick(0, total);
      double r = pick(rng_);
      int c = 0;
      for (; c < c_count - 1; ++c) {
        if (r < w[c] && w[c] > 0)
          break;
        r -= w[c];
      }
      if (w[c] <= 0)
        continue;
      auto p = build(d, c);
      if (p.c >= 0)
        return p;
      w[c] = 0; // not possible for this device now
    }
    return {};
  }

  plan choose_populate(device& d) {
    if (!d.joins.empty()) {
      auto m = d.joins.front();
      d.joins.pop_front();
      return make(d, c_join, {{"meeting", m}}, m);
    }
    if (!d.leader)
      return {};
    if (eng_.creates_reserved.fetch_add(1) >= o_.meetings) {
      eng_.creates_reserved.fetch_sub(1);
      return {};
    }
    auto id = new_meeting_id();
    return make(d, c_create, {{"meeting", id}, {"title", "bench " + id}}, id);
  }

  template <class V>
  const typename V::value_type* random_of(const V& v) {
    if (v.empty())
      return nullptr;
    std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
    return &v[pick(rng_)];
  }

  meeting_model* live(const std::string& id) {
    auto i = meetings_.find(id);
    return i != meetings_.end() && i->second.live ? &i->second : nullptr;
  }

  plan build(device& d, int c) {
    auto& u = users_[d.user];
    switch (c) {
      case c_login:
        return [&] {
          plan p;
          p.c = c_login;
          p.payload = login_payload(d, next_id(d));
          return p;
        }();
      case c_create: {
        if (o_.max_hosted > 0 && static_cast<int>(u.hosted.size()) >= o_.max_hosted)
          return {};
        auto id = new_meeting_id();
        json args{{"meeting", id}, {"title", "bench " + id}};
        auto inv = pick_invitees(d.user, o_.invitees, nullptr);
        if (!inv.empty())
          args["invitees"] = inv;
        return make(d, c, std::move(args), id);
      }
      case c_join: {
        for (int k = 0; k < 8 && !joinable_.empty(); ++k) {
          auto id = *random_of(joinable_);
          auto m = live(id);
          if (!m)
            continue;
          if (static_cast<int>(m->parts.size()) >= o_.meeting_size || contains(m->parts, d.user))
            continue;
          return make(d, c, {{"meeting", id}}, id);
        }
        compact_joinable();
        return {};
      }
      case c_accept:
      case c_decline: {
        if (u.invites.empty())
          return {};
        auto id = u.invites.back();
        return make(d, c, {{"meeting", id}}, id);
      }
      case c_leave: {
        auto id = random_of(u.joined);
        if (!id)
          return {};
        return make(d, c, {{"meeting", *id}}, *id);
      }
      case c_mute:
      case c_kick: {
        for (auto& id : u.hosted) {
          auto m = live(id);
          if (!m || m->parts.size() < 2)
            continue;
          std::vector<int> others;
          for (int p : m->parts)
            if (p != d.user)
              others.push_back(p);
          if (others.empty())
            continue;
          int target = *random_of(others);
          json args{{"meeting", id}, {"user", eng_.user_name(target)}};
          if (c == c_mute)
            args["audio"] = true;
          return make(d, c, std::move(args), id, target);
        }
        return {};
      }
      case c_renew:
      case c_get: {
        std::vector<std::string> mine;
        for (auto& id : u.hosted)
          if (live(id))
            mine.push_back(id);
        for (auto& id : u.joined)
          mine.push_back(id);
        auto id = random_of(mine);
        if (!id)
          return {};
        return make(d, c, {{"meeting", *id}}, *id);
      }
      case c_end: {
        for (auto& id : u.hosted)
          if (live(id))
            return make(d, c, {{"meeting", id}}, id);
        return {};
      }
      case c_invite: {
        for (auto& id : u.hosted) {
          auto m = live(id);
          if (!m)
            continue;
          auto inv = pick_invitees(d.user, std::max(1, o_.invitees), m);
          if (inv.empty())
            return {};
          return make(d, c, {{"meeting", id}, {"users", inv}}, id);
        }
        return {};
      }
      default:
        return {};
    }
  }

  /// Users of this worker to invite: preferably ones in no meeting (an
  /// invitee in another meeting is "busy" and not rung).
  std::vector<std::string> pick_invitees(int self, int k, const meeting_model* m) {
    std::vector<std::string> out;
    if (k <= 0 || worker_users_.size() < 2)
      return out;
    std::vector<int> chosen;
    for (int tries = 0; tries < 8 * k && static_cast<int>(chosen.size()) < k; ++tries) {
      int u = *random_of(worker_users_);
      if (u == self || contains(chosen, u) || (m && contains(m->parts, u)))
        continue;
      auto& um = users_[u];
      bool idle = um.hosted.empty() && um.joined.empty();
      if (!idle && tries < 4 * k)
        continue;
      chosen.push_back(u);
    }
    for (int u : chosen)
      out.push_back(eng_.user_name(u));
    return out;
  }

  void compact_joinable() {
    if (joinable_.size() < 64)
      return;
    std::vector<std::string> keep;
    for (auto& id : joinable_)
      if (auto m = live(id); m && static_cast<int>(m->parts.size()) < o_.meeting_size)
        keep.push_back(id);
    joinable_.swap(keep);
  }

  // -- the model: effects of sending and of replies -----------------------------------------

  void sent_effects(device& d, const plan& p) {
    auto& u = users_[d.user];
    switch (p.c) {
      case c_create: {
        auto& m = meetings_[p.meeting];
        m.host = d.user;
        u.hosted.push_back(p.meeting);
        break;
      }
      case c_accept:
      case c_decline:
        erase_value(u.invites, p.meeting);
        break;
      case c_leave:
        if (auto m = live(p.meeting))
          erase_value(m->parts, d.user);
        erase_value(u.joined, p.meeting);
        break;
      case c_kick:
        if (auto m = live(p.meeting))
          erase_value(m->parts, p.target);
        erase_value(users_[p.target].joined, p.meeting);
        break;
      case c_end:
        end_meeting(p.meeting);
        break;
      default:
        break;
    }
  }

  void end_meeting(const std::string& id) {
    auto i = meetings_.find(id);
    if (i == meetings_.end())
      return;
    for (int p : i->second.parts)
      erase_value(users_[p].joined, id);
    if (i->second.host >= 0)
      erase_value(users_[i->second.host].hosted, id);
    meetings_.erase(i);
  }

  void joined(int user, const std::string& id) {
    auto m = live(id);
    if (!m || contains(m->parts, user))
      return;
    m->parts.push_back(user);
    auto& u = users_[user];
    if (m->host != user && !contains(u.joined, id))
      u.joined.push_back(id);
  }

  void replied(device& d, const pending_request& r, int code, const std::string& reason) {
    if (r.setup) {
      if (d.console)
        return;
      if (code == 0) {
        d.st = dstate::ready;
        eng_.ready.fetch_add(1);
        push_ready(d);
      } else if ((code == 503 || code == 429) && ++d.login_retries <= max_login_retries) {
        // The node's password checks are busy (a burst of logins): again.
        send_login(d, true);
      } else {
        fail(d, "login refused: " + std::to_string(code) + " " + reason);
      }
      return;
    }
    auto& u = users_[d.user];
    switch (r.c) {
      case c_create:
        if (code == 0) {
          auto& m = meetings_[r.meeting];
          m.live = true;
          m.host = d.user;
          m.parts = {d.user};
          joinable_.push_back(r.meeting);
          if (o_.mode == "populate") {
            eng_.creates_ok.fetch_add(1);
            // The other members of the group join it.
            int first = d.group * o_.participants;
            for (int k = first + 1; k < first + o_.participants; ++k)
              if (auto other = by_index_.find(k); other != by_index_.end()) {
                other->second->joins.push_back(r.meeting);
                push_ready(*other->second);
              }
          }
        } else {
          erase_value(u.hosted, r.meeting);
          meetings_.erase(r.meeting);
          if (o_.mode == "populate") {
            eng_.creates_reserved.fetch_sub(1); // try again
            eng_.populate_failed.fetch_add(1);
          }
        }
        break;
      case c_join:
      case c_accept:
        if (code == 0) {
          joined(d.user, r.meeting);
          if (o_.mode == "populate")
            eng_.joins_ok.fetch_add(1);
        } else if (o_.mode == "populate" && (code == 410 || code == 404)) {
          // Populating never ends a meeting: the node lost one it had just
          // created; retrying would wait forever.
          eng_.set_fatal("populate: " + d.client_id + " joining " + r.meeting + " got "
                         + std::to_string(code) + " " + reason
                         + " right after its creation; see the node's log");
        } else if (code == 410 || code == 404) {
          end_meeting(r.meeting);
        } else if (o_.mode == "populate") {
          eng_.populate_failed.fetch_add(1);
          d.joins.push_back(r.meeting); // try again
        }
        break;
      case c_renew:
      case c_get:
      case c_mute:
      case c_invite:
        if (code == 410 || code == 404)
          end_meeting(r.meeting);
        break;
      default:
        break;
    }
  }

  void event(device& d, const json& msg) {
    auto type = msg.value("type", std::string{});
    auto meeting = msg.value("meeting", std::string{});
    if (eng_.current_phase() == phase::measure) {
      std::lock_guard<std::mutex> g{mtx_};
      ++stats_.events[type];
    }
    if (o_.mode != "node")
      return;
    auto& u = users_[d.user];
    if (type == "event.invite") {
      if (!contains(u.invites, meeting))
        u.invites.push_back(meeting);
    } else if (type == "event.canceled" || type == "event.invite_timeout"
               || type == "event.answered_elsewhere") {
      erase_value(u.invites, meeting);
    } else if (type == "event.ended") {
      end_meeting(meeting);
      erase_value(u.invites, meeting);
    } else if (type == "event.kicked") {
      if (auto m = live(meeting))
        erase_value(m->parts, d.user);
      erase_value(u.joined, meeting);
    }
  }

  // -- receiving --------------------------------------------------------------------------

  static void on_message(mosquitto*, void* ud, const mosquitto_message* msg) {
    auto d = static_cast<device*>(ud);
    d->owner->received(*d, msg);
  }

  void received(device& d, const mosquitto_message* msg) {
    auto t = now_ns();
    auto text = static_cast<const char*>(msg->payload);
    auto body = json::parse(text, text + msg->payloadlen, nullptr, false);
    if (!body.is_object())
      return;
    auto type = body.find("type");
    if (type != body.end() && type->is_string() && type->get_ref<const std::string&>() != "reply") {
      event(d, body);
      return;
    }
    auto idv = body.find("id");
    if (idv == body.end() || !idv->is_string()) {
      std::lock_guard<std::mutex> g{mtx_};
      ++stats_.late_replies;
      return;
    }
    auto& id = idv->get_ref<const std::string&>();
    auto i = std::find_if(d.pending.begin(), d.pending.end(),
                          [&](const pending_request& p) { return p.id == id; });
    if (i == d.pending.end()) {
      std::lock_guard<std::mutex> g{mtx_};
      ++stats_.late_replies; // after its timeout, or a QoS 1 duplicate
      return;
    }
    int code = body.value("code", 0);
    std::string reason;
    if (code != 0) {
      if (auto e = body.find("error"); e != body.end() && e->is_object())
        reason = e->value("reason", std::string{});
    }
    auto r = std::move(*i);
    d.pending.erase(i);
    inflight_.fetch_sub(1, std::memory_order_relaxed);
    complete(d, r, code, reason, static_cast<std::size_t>(msg->payloadlen), t);
    replied(d, r, code, reason);
    if (!r.setup)
      push_ready(d);
  }

  void complete(device& d, const pending_request& r, int code, const std::string& reason,
                std::size_t bytes_in, std::int64_t t) {
    auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, (t - r.intended_ns) / 1000));
    std::lock_guard<std::mutex> g{mtx_};
    auto key = code < 0 ? reason : std::to_string(code) + (reason.empty() ? "" : " " + reason);
    if (r.setup) {
      stats_.setup_latency.record(us);
      if (code == 0 || (d.console && reason == "user_exists"))
        ++stats_.setup_ok;
      else {
        ++stats_.setup_failed;
        ++stats_.setup_errors[key];
      }
      return;
    }
    stats_.window.record(us);
    if (code != 0)
      ++stats_.window_errors;
    if (eng_.current_phase() != phase::measure)
      return;
    auto& s = stats_.cmds[r.c];
    s.latency.record(us);
    s.bytes_out += r.bytes_out;
    s.bytes_in += bytes_in;
    if (code == 0) {
      ++s.ok;
    } else {
      ++s.failed;
      ++s.errors[key];
    }
  }

  void check_timeouts() {
    auto now = now_ns();
    auto limit = static_cast<std::int64_t>(o_.timeout_s * 1e9);
    for (auto& dp : devices_) {
      auto& d = *dp;
      for (std::size_t i = 0; i < d.pending.size();) {
        if (now - d.pending[i].intended_ns < limit) {
          ++i;
          continue;
        }
        auto r = std::move(d.pending[i]);
        d.pending.erase(d.pending.begin() + static_cast<long>(i));
        inflight_.fetch_sub(1, std::memory_order_relaxed);
        {
          std::lock_guard<std::mutex> g{mtx_};
          ++stats_.timeouts;
          if (stats_.timeout_samples.size() < 10)
            stats_.timeout_samples.push_back(d.client_id + " " + r.id + " " + wire[r.c] + " "
                                             + r.meeting);
        }
        complete(d, r, -1, "timeout", 0, now);
        replied(d, r, -1, "timeout");
        if (!r.setup)
          push_ready(d);
      }
    }
  }

  static void on_disconnect(mosquitto*, void* ud, int rc) {
    auto d = static_cast<device*>(ud);
    if (rc != 0 && d->st != dstate::failed && d->owner->eng_.current_phase() != phase::done)
      d->owner->fail(*d, "disconnected by the broker");
  }

  void disconnect_all() {
    for (auto& d : devices_) {
      if (!d->m || d->fd < 0)
        continue;
      mosquitto_disconnect(d->m);
      mosquitto_loop_write(d->m, 1);
      epoll_ctl(ep_, EPOLL_CTL_DEL, d->fd, nullptr);
      d->fd = -1;
    }
  }

  engine& eng_;
  const options& o_;
  int id_;
  std::mt19937_64 rng_;
  int ep_ = -1;
  std::vector<std::unique_ptr<device>> devices_;
  std::unordered_map<int, device*> by_index_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mtx_;
  worker_stats stats_;
  std::atomic<std::uint64_t> inflight_{0};
  std::deque<device*> ready_;
  std::vector<device*> parked_;
  std::vector<device*> awaiting_;
  std::vector<device*> issued_;
  steady::time_point last_unpark_ = steady::now();
  bool seeded_ = false;
  std::int64_t next_due_ = 0;
  std::size_t rr_ = 0;
  device* console_ = nullptr;
  int next_user_ = 0;
  std::uint64_t meeting_seq_ = 0;
  std::string first_failure_;
  // The world as this worker's devices see it.
  std::unordered_map<std::string, meeting_model> meetings_;
  std::unordered_map<int, user_model> users_;
  std::vector<int> worker_users_;
  std::vector<std::string> joinable_;
  friend class engine;
};

// -- engine ------------------------------------------------------------------------------

engine::engine(options opts) : opts_(std::move(opts)) {
  mosquitto_lib_init();
  if (opts_.users <= 0 || opts_.mode == "populate")
    opts_.users = opts_.devices;
  if (opts_.login == "auto")
    login_method_ = opts_.ticket_secret.empty() ? "password" : "ticket";
  else
    login_method_ = opts_.login;
  auto t = std::chrono::system_clock::now().time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  run_id_ = "lg" + crypto::to_hex(crypto::random_bytes(3)) + std::to_string(ms % 1000);
  int threads = std::max(1, opts_.threads);
  for (int i = 0; i < threads; ++i)
    workers_.push_back(std::make_unique<worker>(*this, i));
  for (int i = 0; i < opts_.devices; ++i) {
    int user = i % opts_.users;
    int w = opts_.mode == "populate" ? (i / opts_.participants) % threads : user % threads;
    workers_[w]->add_device(i, user);
    if (i < opts_.users)
      workers_[w]->worker_users_.push_back(user);
  }
  if (opts_.mode != "echo" && login_method_ == "password")
    workers_[0]->add_device(-1, -1, true);
  else
    users_ready = true;
  if (opts_.mode == "echo")
    peer_ = std::make_unique<echo_peer>(*this);
}

engine::~engine() {
  stop();
  workers_.clear();
  mosquitto_lib_cleanup();
}

void engine::start() {
  if (peer_)
    peer_->start();
  for (auto& w : workers_)
    w->start();
}

void engine::set_phase(phase p) {
  phase_.store(p, std::memory_order_release);
}

void engine::stop() {
  set_phase(phase::done);
  // Let the workers send their DISCONNECTs.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (auto& w : workers_)
    w->stop();
  if (peer_)
    peer_->stop();
}

worker_stats engine::collect(bool reset_window) {
  worker_stats sum;
  for (auto& w : workers_)
    sum.merge(w->collect(reset_window));
  return sum;
}

std::uint64_t engine::inflight() const {
  std::uint64_t n = 0;
  for (auto& w : workers_)
    n += w->inflight();
  return n;
}

void engine::set_fatal(const std::string& what) {
  std::lock_guard<std::mutex> g{fatal_mtx};
  if (fatal.empty())
    fatal = what;
}

void engine::set_fatal_soft(const std::string& what) {
  std::lock_guard<std::mutex> g{fatal_mtx};
  if (first_device_failure.empty())
    first_device_failure = what;
}

std::string engine::get_fatal() {
  std::lock_guard<std::mutex> g{fatal_mtx};
  return fatal;
}

std::string engine::get_first_failure() {
  std::lock_guard<std::mutex> g{fatal_mtx};
  return first_device_failure;
}

bool engine::populate_done() const {
  long target = opts_.meetings;
  return creates_ok.load() >= target && joins_ok.load() >= target * (opts_.participants - 1);
}

int engine::devices_total() const {
  return opts_.devices;
}

std::string engine::user_name(int user) const {
  return opts_.device_prefix + "-u" + std::to_string(user);
}

} // namespace meetingd::loadgen
