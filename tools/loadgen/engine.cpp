// loadgen's workers and the engine that starts them (see engine.hpp).
#include "tools/loadgen/engine.hpp"

#include "actors/core/crypto.hpp"
#include "gateway/codec.hpp"
#include "tools/loadgen/echo_peer.hpp"
#include "tools/loadgen/model.hpp"
#include "tools/loadgen/planner.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace meetingd::loadgen {

namespace {

using steady = std::chrono::steady_clock;

/// A setup login answered "try again" (the node's password checks are
/// saturated by the burst of logins) is sent again, so many times at most.
constexpr int max_login_retries = 1000;

/// Echo requests are this big unless --payload-bytes says otherwise: about
/// the size of a typical command.
constexpr std::size_t default_echo_bytes = 160;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
    .count();
}

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

struct device : link {
  int index = 0;
  int user = 0;
  bool console = false;
  std::string client_id;
  std::string up_topic, reply_topic, presence_topic;
  dstate st = dstate::fresh;
  bool queued = false; // in the worker's ready queue
  std::vector<pending_request> pending;
  std::uint64_t next_req = 1;
  std::deque<std::string> joins; // populate: meetings to join
  bool leader = false;           // populate: creates the meetings
  int group = 0;
  int login_retries = 0; // logins answered "try again" (503, 429)
};

} // namespace

class worker : link_events {
public:
  worker(engine& eng, int id, std::size_t workers)
    : eng_(eng), o_(eng.opts()), id_(id), workers_(workers),
      planner_(o_, world_, eng.login_method(), eng.run_id(), id) {}

  ~worker() override {
    for (auto& d : devices_)
      io_.destroy(*d);
  }

  void add_device(int index, int user, bool console = false) {
    auto d = std::make_unique<device>();
    d->index = index;
    d->user = user;
    d->console = console;
    bool bench_echo = o_.mode == mode::echo && o_.echo_topics == echo_topics::bench;
    if (console) {
      d->client_id = o_.console;
      d->up_topic = o_.parent + "/admin/" + d->client_id;
    } else {
      d->client_id = "GID_MEETING_DOWN@@@" + o_.device_prefix + "-d" + std::to_string(index);
      d->up_topic = bench_echo ? "bench/echo/" + d->client_id : o_.parent + "/up/" + d->client_id;
    }
    d->reply_topic = bench_echo ? "bench/reply/" + d->client_id : o_.parent + "/p2p/" + d->client_id;
    d->presence_topic = o_.parent + "/presence/" + d->client_id;
    if (o_.mode == mode::populate) {
      d->group = index / o_.participants;
      d->leader = index % o_.participants == 0;
    }
    by_index_[index] = d.get();
    links_.push_back(d.get());
    devices_.push_back(std::move(d));
  }

  /// A user of this worker's devices, whom its devices may invite.
  void add_user(int user) {
    world_.add_user(user);
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
    return ledger_.collect(reset_window);
  }

  std::uint64_t inflight() const {
    return inflight_.load(std::memory_order_relaxed);
  }

private:
  // -- the loop --------------------------------------------------------------------

  void run() {
    std::size_t next_connect = 0;
    auto last_misc = steady::now();
    auto last_timeouts = steady::now();
    bool disconnected = false;
    std::vector<link*> touched;
    while (!stop_) {
      // Open connections in batches so the broker's accept queue keeps up.
      if (next_connect < devices_.size()) {
        auto until = std::min(devices_.size(), next_connect + static_cast<std::size_t>(o_.connect_batch));
        for (; next_connect < until; ++next_connect)
          connect(*devices_[next_connect]);
      }
      auto timeout = std::chrono::milliseconds(o_.rate > 0 && issuing() ? 1 : 10);
      touched.clear();
      io_.serve(timeout, false, touched);
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
        issue();
      for (auto l : touched)
        io_.watch(*l);
      for (auto d : issued_)
        io_.watch(*d);
      issued_.clear();
      auto now = steady::now();
      if (now - last_timeouts > std::chrono::milliseconds(200)) {
        check_timeouts();
        last_timeouts = now;
      }
      if (now - last_misc > std::chrono::seconds(1)) {
        io_.keepalive(links_);
        last_misc = now;
      }
      if (eng_.current_phase() == phase::done && !disconnected) {
        for (auto& d : devices_)
          io_.disconnect(*d);
        disconnected = true;
      }
    }
    if (!disconnected)
      for (auto& d : devices_)
        io_.disconnect(*d);
  }

  bool issuing() const {
    auto p = eng_.current_phase();
    return p == phase::warmup || p == phase::measure;
  }

  bool presence(const device& d) const {
    return o_.presence && !d.console && o_.mode != mode::echo;
  }

  // -- connecting and logging in ------------------------------------------------------

  void connect(device& d) {
    link_settings s;
    s.broker = o_.broker;
    s.client_id = d.client_id;
    s.keepalive_s = o_.keepalive_s;
    if (d.console) {
      s.username = o_.mqtt_username;
      s.password = o_.mqtt_password;
    }
    if (presence(d)) {
      s.will_topic = d.presence_topic;
      s.will_payload = codec::encode_presence(false);
    }
    if (!io_.create(d, *this, s))
      return fail(d, "mosquitto_new failed");
    if (auto err = io_.connect(d, s); !err.empty())
      return fail(d, "connect: " + err);
    d.st = dstate::connecting;
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

  void lost(link& l, const std::string& why) override {
    auto& d = static_cast<device&>(l);
    io_.close(d);
    ledger_.disconnected();
    for (auto& p : d.pending)
      finished(d, p, -1, "disconnected", 0, now_ns());
    inflight_.fetch_sub(d.pending.size(), std::memory_order_relaxed);
    d.pending.clear();
    fail(d, "connection lost: " + why);
  }

  void connected(link& l, int rc) override {
    auto& d = static_cast<device&>(l);
    if (rc != 0)
      return fail(d, "broker refused: " + connack_text(rc));
    eng_.connected.fetch_add(1);
    d.st = dstate::subscribing;
    subscribe(d, d.reply_topic);
  }

  void subscribed(link& l, bool granted) override {
    auto& d = static_cast<device&>(l);
    if (!granted)
      return fail(d, "subscription to " + d.reply_topic + " refused (ACL?)");
    if (d.st != dstate::subscribing)
      return;
    if (presence(d))
      publish(d, d.presence_topic, codec::encode_presence(true), true);
    if (d.console || o_.mode == mode::echo) {
      d.st = dstate::ready;
      if (!d.console)
        eng_.ready.fetch_add(1);
      return;
    }
    if (eng_.login_method() == login_method::password && !eng_.users_ready.load()) {
      d.st = dstate::awaiting_users;
      awaiting_.push_back(&d);
      return;
    }
    send_login(d, false);
  }

  void disconnected(link& l, int rc) override {
    auto& d = static_cast<device&>(l);
    if (rc != 0 && d.st != dstate::failed && eng_.current_phase() != phase::done)
      fail(d, "disconnected by the broker");
  }

  void send_login(device& d, bool flush) {
    d.st = dstate::logging_in;
    send(d, planner_.login(d.user), now_ns(), true);
    if (flush)
      issued_.push_back(&d);
  }

  /// The console adds the users of password logins, 32 at a time.
  void console_step(std::vector<link*>& touched) {
    if (eng_.users_ready.load())
      return;
    auto& d = *console_;
    while (d.pending.size() < 32 && next_user_ < o_.users) {
      send(d, planner_.add_user(next_user_++), now_ns(), true);
      touched.push_back(&d);
    }
    if (next_user_ >= o_.users && d.pending.empty())
      eng_.users_ready = true;
  }

  // -- sending ----------------------------------------------------------------------------

  void send(device& d, plan p, std::int64_t intended, bool setup) {
    pending_request r;
    r.id = eng_.run_id() + "." + std::to_string(d.next_req++);
    r.c = p.c;
    r.setup = setup;
    r.intended_ns = intended;
    r.meeting = std::move(p.meeting);
    r.target = p.target;
    auto payload = p.c == c_echo
                     ? echo_request(r.id, o_.payload_bytes > 0
                                            ? static_cast<std::size_t>(o_.payload_bytes)
                                            : default_echo_bytes)
                     : codec::encode_request({r.id, std::move(p.command)});
    r.bytes_out = payload.size();
    if (auto err = publish(d, d.up_topic, payload); !err.empty())
      return lost(d, "publish: " + err);
    d.pending.push_back(std::move(r));
    inflight_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Issues commands: flat out, every device with a free slot; at a rate,
  /// what is due by now.
  void issue() {
    auto now = now_ns();
    if (o_.rate > 0) {
      if (next_due_ == 0)
        next_due_ = now;
      double per_worker = o_.rate / static_cast<double>(workers_);
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
          ledger_.deferred();
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
    world_.sending(d.user, p.c, p.meeting, p.target);
    send(d, std::move(p), intended, false);
    issued_.push_back(&d);
    return true;
  }

  plan choose(device& d) {
    switch (o_.mode) {
      case mode::echo: {
        plan p;
        p.c = c_echo;
        return p;
      }
      case mode::populate:
        return planner_.populate(d.joins, d.leader, eng_.creates_reserved);
      case mode::node:
        break;
    }
    return planner_.next(d.user);
  }

  // -- receiving --------------------------------------------------------------------------

  void message(link& l, std::string_view, std::string_view payload) override {
    auto& d = static_cast<device&>(l);
    auto t = now_ns();
    auto in = codec::decode_downlink(payload);
    if (in.reply)
      answered(d, *in.reply, payload.size(), t);
    else if (in.event)
      event(d, in.event->first);
  }

  void answered(device& d, const proto::reply& reply, std::size_t bytes, std::int64_t t) {
    auto i = !reply.id ? d.pending.end()
                       : std::find_if(d.pending.begin(), d.pending.end(),
                                      [&](const pending_request& p) { return p.id == *reply.id; });
    if (i == d.pending.end()) {
      ledger_.late_reply(); // after its timeout, or a QoS 1 duplicate
      return;
    }
    auto r = std::move(*i);
    d.pending.erase(i);
    inflight_.fetch_sub(1, std::memory_order_relaxed);
    finished(d, r, reply.code, reply.reason, bytes, t);
    replied(d, r, reply.code, reply.reason);
    if (!r.setup)
      push_ready(d);
  }

  void finished(device& d, const pending_request& r, int code, const std::string& reason,
                std::size_t bytes_in, std::int64_t t) {
    request_outcome o;
    o.c = r.c;
    o.setup = r.setup;
    o.console = d.console;
    o.latency_us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, (t - r.intended_ns) / 1000));
    o.bytes_out = r.bytes_out;
    o.bytes_in = bytes_in;
    o.code = code;
    o.reason = reason;
    ledger_.finished(o, eng_.current_phase() == phase::measure);
  }

  /// What a device does about the answer to its request (code -1: none came).
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
    bool populating = o_.mode == mode::populate;
    bool gone = code == 410 || code == 404;
    switch (r.c) {
      case c_create:
        if (code == 0) {
          world_.created(d.user, r.meeting);
          if (populating) {
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
          world_.not_created(d.user, r.meeting);
          if (populating) {
            eng_.creates_reserved.fetch_sub(1); // try again
            eng_.populate_failed.fetch_add(1);
          }
        }
        break;
      case c_join:
      case c_accept:
        if (code == 0) {
          world_.joined(d.user, r.meeting);
          if (populating)
            eng_.joins_ok.fetch_add(1);
        } else if (populating && gone) {
          // Populating never ends a meeting: the node lost one it had just
          // created; retrying would wait forever.
          eng_.set_fatal("populate: " + d.client_id + " joining " + r.meeting + " got "
                         + std::to_string(code) + " " + reason
                         + " right after its creation; see the node's log");
        } else if (gone) {
          world_.ended(r.meeting);
        } else if (populating) {
          eng_.populate_failed.fetch_add(1);
          d.joins.push_back(r.meeting); // try again
        }
        break;
      case c_renew:
      case c_get:
      case c_mute:
      case c_invite:
        if (gone)
          world_.ended(r.meeting);
        break;
      default:
        break;
    }
  }

  void event(device& d, const proto::event& ev) {
    if (eng_.current_phase() == phase::measure)
      ledger_.event(proto::to_string(ev.kind));
    if (o_.mode == mode::node)
      world_.event(d.user, ev.kind, ev.meeting);
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
        ledger_.timed_out(d.client_id + " " + r.id + " " + cmd_wire_type(r.c) + " " + r.meeting);
        finished(d, r, -1, "timeout", 0, now);
        replied(d, r, -1, "timeout");
        if (!r.setup)
          push_ready(d);
      }
    }
  }

  engine& eng_;
  const options& o_;
  int id_;
  std::size_t workers_;
  world world_; // the world as this worker's devices see it
  planner planner_;
  link_set io_;
  ledger ledger_;
  std::vector<std::unique_ptr<device>> devices_;
  std::vector<link*> links_;
  std::unordered_map<int, device*> by_index_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
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
  std::string first_failure_;
};

// -- engine ------------------------------------------------------------------------------

engine::engine(options opts) : opts_(std::move(opts)) {
  if (opts_.users <= 0 || opts_.mode == mode::populate)
    opts_.users = opts_.devices;
  if (opts_.login == login_method::automatic)
    login_method_ = opts_.ticket_secret.empty() ? login_method::password : login_method::ticket;
  else
    login_method_ = opts_.login;
  auto t = std::chrono::system_clock::now().time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  run_id_ = "lg" + crypto::to_hex(crypto::random_bytes(3)) + std::to_string(ms % 1000);
  auto threads = static_cast<std::size_t>(std::max(1, opts_.threads));
  for (std::size_t i = 0; i < threads; ++i)
    workers_.push_back(std::make_unique<worker>(*this, static_cast<int>(i), threads));
  for (int i = 0; i < opts_.devices; ++i) {
    int user = i % opts_.users;
    auto w = static_cast<std::size_t>(opts_.mode == mode::populate ? i / opts_.participants : user)
             % threads;
    workers_[w]->add_device(i, user);
    if (i < opts_.users)
      workers_[w]->add_user(user);
  }
  if (opts_.mode != mode::echo && login_method_ == login_method::password)
    workers_[0]->add_device(-1, -1, true);
  else
    users_ready = true;
  if (opts_.mode == mode::echo && !opts_.external_echo_peer)
    peer_ = std::make_unique<echo_peer>(*this);
  else if (opts_.mode == mode::echo)
    peer_ready = true; // the bench script started it and waited for its "ready"
}

engine::~engine() {
  stop();
  workers_.clear();
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
  std::lock_guard<std::mutex> g{fatal_mtx_};
  if (fatal_.empty())
    fatal_ = what;
}

void engine::set_fatal_soft(const std::string& what) {
  std::lock_guard<std::mutex> g{fatal_mtx_};
  if (first_device_failure_.empty())
    first_device_failure_ = what;
}

std::string engine::get_fatal() {
  std::lock_guard<std::mutex> g{fatal_mtx_};
  return fatal_;
}

std::string engine::get_first_failure() {
  std::lock_guard<std::mutex> g{fatal_mtx_};
  return first_device_failure_;
}

bool engine::populate_done() const {
  long target = opts_.meetings;
  return creates_ok.load() >= target && joins_ok.load() >= target * (opts_.participants - 1);
}

} // namespace meetingd::loadgen
