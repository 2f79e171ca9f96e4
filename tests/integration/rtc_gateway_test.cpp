// The RTC gateway actor against a fake RTC OpenAPI over real sockets: a
// cpp-httplib server on 127.0.0.1 (port 0) inside the test, a real CAF actor
// system with its default scheduler, and the gateway's curl-multi pool.
// Shows answers parsed for every action, retries (5xx, throttling, timeouts)
// and their absence (signature errors), the circuit breaker, RemoveTerminals
// split in calls of <= 30, calls running concurrently, and a clean shutdown.
#include "gateway/rtc_gateway.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace meetingd;
using namespace std::chrono_literals;

namespace {

const char* kind_name(rtc::failure_kind kind) {
  return kind == rtc::failure_kind::refused ? "refused" : "unavailable";
}

/// For ASSERT_TRUE: the call failed after `attempts` HTTP requests, with this
/// kind and code.
::testing::AssertionResult failed_after(const rtc::answer& a, int attempts,
                                        rtc::failure_kind kind, const std::string& code) {
  if (a.ok())
    return ::testing::AssertionFailure() << "the call worked, after " << a.attempts << " attempts";
  const auto& e = *a.error;
  if (a.attempts == attempts && e.kind == kind && e.code == code)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "failed after " << a.attempts << " attempts, " << kind_name(e.kind) << " " << e.code
         << "; expected after " << attempts << ", " << kind_name(kind) << " " << code;
}

constexpr const char* secret = "fake-secret";

/// What the fake server saw of one request.
struct seen_request {
  rtc::rpc_params params;
  bool signature_ok = false;
};

/// A fake RTC OpenAPI: checks the common parameters and the signature, counts
/// hits per action and answers with a per-test script.
class fake_rtc {
public:
  /// (params, n-th hit of this action starting at 1, response) -> nothing.
  using script = std::function<void(const rtc::rpc_params&, int, httplib::Response&)>;

  fake_rtc() {
    // Enough threads that the server never serializes the client's calls.
    server_.new_task_queue = [] { return new httplib::ThreadPool(80); };
    server_.set_keep_alive_timeout(1);
    server_.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    });
    server_.set_socket_options([this](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      if (listen_fd_ < 0)
        listen_fd_ = sock;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Debian's cpp-httplib listens with a backlog of 5: a burst of 50 connects
    // overflows it and stalls in SYN retransmits (a property of the fake, not
    // of the client). Listening again on the socket raises the backlog.
    if (listen_fd_ >= 0)
      ::listen(listen_fd_, 1024);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) // stop() before listening would be lost
      std::this_thread::sleep_for(1ms);
  }

  ~fake_rtc() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  void set_script(script s) {
    std::lock_guard<std::mutex> guard{mtx_};
    script_ = std::move(s);
  }

  int hits(const std::string& action) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = hits_.find(action);
    return it == hits_.end() ? 0 : it->second;
  }

  std::vector<seen_request> requests() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

  int max_concurrent() const {
    return max_concurrent_;
  }

private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    auto q = req.target.find('?');
    auto params = rtc::parse_query(q == std::string::npos ? "" : req.target.substr(q + 1));
    seen_request seen{params, rtc::verify("GET", params, secret)};
    for (const char* name : {"Format", "Version", "AccessKeyId", "SignatureMethod", "Timestamp",
                             "SignatureVersion", "SignatureNonce", "RegionId", "Action",
                             "Signature", "AppId", "ChannelId"})
      if (!params.count(name))
        seen.signature_ok = false;
    int n = 0;
    script s;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      n = ++hits_[params["Action"]];
      seen_.push_back(seen);
      s = script_;
    }
    if (!seen.signature_ok) {
      res.status = 400;
      res.set_content(R"({"RequestId":"bad","HostId":"fake","Code":"SignatureDoesNotMatch",)"
                      R"("Message":"Specified signature is not matched with our calculation."})",
                      "application/json");
      return;
    }
    auto now = ++concurrent_;
    for (auto prev = max_concurrent_.load(); now > prev && !max_concurrent_.compare_exchange_weak(prev, now);) {
    }
    if (s)
      s(params, n, res);
    else
      ok(res, R"({"RequestId":"r-)" + std::to_string(n) + R"("})");
    --concurrent_;
  }

public:
  static void ok(httplib::Response& res, const std::string& body) {
    res.status = 200;
    res.set_content(body, "application/json");
  }

  static void error(httplib::Response& res, int status, const std::string& code) {
    res.status = status;
    res.set_content(R"({"RequestId":"err-1","HostId":"fake","Code":")" + code
                      + R"(","Message":"scripted )" + code + R"("})",
                    "application/json");
  }

private:
  httplib::Server server_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mtx_;
  script script_;
  std::map<std::string, int> hits_;
  std::vector<seen_request> seen_;
  std::atomic<int> concurrent_{0};
  std::atomic<int> max_concurrent_{0};
};

/// The fake server, an actor system and a gateway on it. Members are
/// destroyed in reverse: the gateway stops (and its pool with it) before the
/// actor system, and both before the server.
class RtcGateway : public ::testing::Test {
protected:
  rtc::settings settings() {
    rtc::settings s;
    s.endpoint = rtc.endpoint();
    s.access_key_id = "fake-id";
    s.access_key_secret = secret;
    s.app_id = "app-1";
    s.retries = 3;
    s.timeout = 2000ms;
    s.backoff_base = 10ms;
    s.backoff_cap = 40ms;
    s.circuit_threshold = 5;
    s.circuit_cooldown = 5000ms;
    return s;
  }

  rtc_actor start(rtc::settings s) {
    gw = sys.spawn(rtc_gateway, std::move(s));
    return gw;
  }

  rtc_actor start() {
    return start(settings());
  }

  void TearDown() override {
    if (gw)
      caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  }

  template <class... Ts>
  rtc::answer ask(Ts&&... xs) {
    rtc::answer out;
    caf::scoped_actor self{sys};
    self->request(gw, 10s, std::forward<Ts>(xs)...)
      .receive([&](const rtc::answer& a) { out = a; },
               [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return out;
  }

  rtc::stats stats() {
    rtc::stats out;
    caf::scoped_actor self{sys};
    self->request(gw, 10s, stats_atom::value)
      .receive([&](const rtc::stats& s) { out = s; },
               [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return out;
  }

  fake_rtc rtc;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  rtc_actor gw;
};

} // namespace

TEST_F(RtcGateway, AnswersOfEveryActionAreParsed) {
  rtc.set_script([](const rtc::rpc_params& p, int, httplib::Response& res) {
    auto action = p.at("Action");
    if (action == "CreateChannel") {
      fake_rtc::ok(res, R"({"RequestId":"r-create","ChannelKey":"key-)" + p.at("ChannelId")
                          + R"(","Nonce":"AK-1","Timestamp":1764000000})");
    } else if (action == "DeleteChannel") {
      fake_rtc::ok(res, R"({"RequestId":"r-delete"})");
    } else if (action == "RemoveTerminals") {
      std::string list;
      for (int i = 1; p.count("TerminalIds." + std::to_string(i)); ++i)
        list += std::string{list.empty() ? "" : ","} + R"({"Id":")"
                + p.at("TerminalIds." + std::to_string(i)) + R"(","Code":"0","Message":"ok"})";
      fake_rtc::ok(res, R"({"RequestId":"r-remove","Terminals":{"Terminal":[)" + list + "]}}");
    } else if (action == "DescribeChannelUsers") {
      fake_rtc::ok(res, R"({"RequestId":"r-describe","IsChannelExist":true,"CommTotalNum":2,)"
                        R"("UserList":["alice","bob"]})");
    } else {
      fake_rtc::error(res, 400, "InvalidAction.NotFound");
    }
  });
  start();

  auto created = ask(create_channel_atom::value, std::string{"room-42"});
  ASSERT_TRUE(created.ok()) << created.error->code << ": " << created.error->message;
  EXPECT_EQ(created.request_id, "r-create");
  EXPECT_EQ(created.attempts, 1);
  EXPECT_EQ(created.grant.channel_key, "key-room-42");
  EXPECT_EQ(created.grant.nonce, "AK-1");
  EXPECT_EQ(created.grant.timestamp, 1764000000);

  auto deleted = ask(delete_channel_atom::value, std::string{"room-42"});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted.request_id, "r-delete");

  auto removed = ask(remove_terminals_atom::value, std::string{"room-42"},
                     std::vector<std::string>{"alice", "bob"});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed.request_id, "r-remove");
  ASSERT_EQ(removed.terminals.size(), 2u);
  EXPECT_EQ(removed.terminals[0].id, "alice");
  EXPECT_EQ(removed.terminals[1].id, "bob");
  EXPECT_EQ(removed.terminals[1].code, "0");

  auto users = ask(describe_users_atom::value, std::string{"room-42"});
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE(users.channel_exists);
  EXPECT_EQ(users.users, (std::vector<std::string>{"alice", "bob"}));

  for (const auto& r : rtc.requests()) {
    EXPECT_TRUE(r.signature_ok);
    EXPECT_EQ(r.params.at("AppId"), "app-1");
    EXPECT_EQ(r.params.at("AccessKeyId"), "fake-id");
    EXPECT_EQ(r.params.at("Version"), "2018-01-11");
    EXPECT_EQ(r.params.at("ChannelId"), "room-42");
  }
  auto s = stats();
  EXPECT_EQ(s.calls, 4u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_FALSE(s.circuit_open);
}

TEST_F(RtcGateway, ServerErrorThenSuccessIsRetried) {
  rtc.set_script([](const rtc::rpc_params&, int n, httplib::Response& res) {
    if (n == 1)
      fake_rtc::error(res, 503, "ServiceUnavailable");
    else
      fake_rtc::ok(res, R"({"RequestId":"r-ok"})");
  });
  start();
  auto a = ask(delete_channel_atom::value, std::string{"c-1"});
  ASSERT_TRUE(a.ok()) << a.error->code;
  EXPECT_EQ(a.attempts, 2);
  EXPECT_EQ(a.request_id, "r-ok");
  EXPECT_EQ(rtc.hits("DeleteChannel"), 2);
  auto reqs = rtc.requests();
  ASSERT_EQ(reqs.size(), 2u);
  // A retry is a new signed request, with its own nonce.
  EXPECT_NE(reqs[0].params.at("SignatureNonce"), reqs[1].params.at("SignatureNonce"));
  auto s = stats();
  EXPECT_EQ(s.calls, 1u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.failures, 0u);
}

TEST_F(RtcGateway, SignatureErrorIsNotRetried) {
  auto s = settings();
  s.access_key_secret = "wrong-secret";
  start(s);
  auto a = ask(create_channel_atom::value, std::string{"c-1"});
  ASSERT_TRUE(failed_after(a, 1, rtc::failure_kind::refused, "SignatureDoesNotMatch"));
  EXPECT_EQ(a.error->http_status, 400);
  EXPECT_EQ(a.error->request_id, "bad");
  EXPECT_FALSE(a.error->message.empty());
  EXPECT_EQ(rtc.hits("CreateChannel"), 1);
  auto st = stats();
  EXPECT_EQ(st.failures, 1u);
  EXPECT_EQ(st.retries, 0u);
}

TEST_F(RtcGateway, OtherRefusalsAreNotRetried) {
  rtc.set_script([](const rtc::rpc_params&, int, httplib::Response& res) {
    fake_rtc::error(res, 403, "Forbidden.RAM");
  });
  start();
  auto a = ask(describe_users_atom::value, std::string{"c-1"});
  ASSERT_TRUE(failed_after(a, 1, rtc::failure_kind::refused, "Forbidden.RAM"));
  EXPECT_EQ(rtc.hits("DescribeChannelUsers"), 1);
}

TEST_F(RtcGateway, ThrottlingIsRetried) {
  rtc.set_script([](const rtc::rpc_params&, int n, httplib::Response& res) {
    if (n <= 2)
      fake_rtc::error(res, 400, "Throttling.User");
    else
      fake_rtc::ok(res, R"({"RequestId":"r-ok"})");
  });
  start();
  auto a = ask(delete_channel_atom::value, std::string{"c-1"});
  ASSERT_TRUE(a.ok()) << a.error->code;
  EXPECT_EQ(a.attempts, 3);
  EXPECT_EQ(stats().retries, 2u);
}

TEST_F(RtcGateway, PersistentThrottlingEndsUnavailableAfterRetries) {
  rtc.set_script([](const rtc::rpc_params&, int, httplib::Response& res) {
    fake_rtc::error(res, 400, "Throttling.Api");
  });
  auto s = settings();
  s.retries = 2;
  start(s);
  auto a = ask(delete_channel_atom::value, std::string{"c-1"});
  ASSERT_TRUE(failed_after(a, 3, rtc::failure_kind::unavailable, "Throttling.Api"));
  EXPECT_EQ(rtc.hits("DeleteChannel"), 3);
}

TEST_F(RtcGateway, TimeoutIsUnavailableAfterRetries) {
  rtc.set_script([](const rtc::rpc_params&, int, httplib::Response& res) {
    std::this_thread::sleep_for(400ms);
    fake_rtc::ok(res, R"({"RequestId":"late"})");
  });
  auto s = settings();
  s.timeout = 100ms;
  s.retries = 2;
  start(s);
  auto t0 = std::chrono::steady_clock::now();
  auto a = ask(create_channel_atom::value, std::string{"c-1"});
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(failed_after(a, 3, rtc::failure_kind::unavailable, "TransportError"));
  EXPECT_EQ(a.error->http_status, 0);
  EXPECT_NE(a.error->message.find("timed out"), std::string::npos) << a.error->message;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(rtc.hits("CreateChannel"), 3);
  auto st = stats();
  EXPECT_EQ(st.retries, 2u);
  EXPECT_EQ(st.failures, 1u);
}

TEST_F(RtcGateway, TransportErrorWhenNobodyListens) {
  auto s = settings();
  {
    // A port that was just free and has no listener: connecting is refused.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ::close(fd);
    s.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  s.retries = 1;
  start(s);
  auto a = ask(delete_channel_atom::value, std::string{"c-1"});
  ASSERT_TRUE(failed_after(a, 2, rtc::failure_kind::unavailable, "TransportError"));
}

TEST_F(RtcGateway, CircuitOpensThenHalfOpensAndCloses) {
  std::atomic<bool> healthy{false};
  rtc.set_script([&](const rtc::rpc_params&, int, httplib::Response& res) {
    if (!healthy) {
      fake_rtc::error(res, 503, "ServiceUnavailable");
      return;
    }
    std::this_thread::sleep_for(200ms); // keeps the probe in flight a while
    fake_rtc::ok(res, R"({"RequestId":"r-ok"})");
  });
  auto s = settings();
  s.retries = 0;
  s.circuit_threshold = 3;
  s.circuit_cooldown = 400ms;
  start(s);
  for (int i = 0; i < 3; ++i) {
    auto a = ask(delete_channel_atom::value, std::string{"c-1"});
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error->code, "ServiceUnavailable");
    EXPECT_EQ(a.error->kind, rtc::failure_kind::unavailable);
  }
  EXPECT_EQ(rtc.hits("DeleteChannel"), 3);
  EXPECT_TRUE(stats().circuit_open);

  // Open: fails fast without calling the service.
  auto fast = ask(delete_channel_atom::value, std::string{"c-1"});
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.error->code, "CircuitOpen");
  EXPECT_EQ(fast.error->kind, rtc::failure_kind::unavailable);
  EXPECT_EQ(fast.attempts, 0);
  EXPECT_NE(fast.error->message.find("considered down"), std::string::npos);
  EXPECT_EQ(rtc.hits("DeleteChannel"), 3);

  // After the cooldown one probe goes out; a call meanwhile still fails fast.
  healthy = true;
  std::this_thread::sleep_for(450ms);
  caf::scoped_actor first{sys};
  caf::scoped_actor second{sys};
  auto probe = first->request(gw, 10s, delete_channel_atom::value, std::string{"c-1"});
  std::this_thread::sleep_for(50ms);
  auto during = second->request(gw, 10s, delete_channel_atom::value, std::string{"c-2"});
  during.receive(
    [&](const rtc::answer& a) {
      ASSERT_FALSE(a.ok());
      EXPECT_EQ(a.error->code, "CircuitOpen");
    },
    [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
  probe.receive(
    [&](const rtc::answer& a) {
      EXPECT_TRUE(a.ok());
      EXPECT_EQ(a.attempts, 1);
    },
    [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(rtc.hits("DeleteChannel"), 4);

  // Closed again: calls go out.
  EXPECT_FALSE(stats().circuit_open);
  auto after = ask(delete_channel_atom::value, std::string{"c-3"});
  EXPECT_TRUE(after.ok());
  EXPECT_EQ(rtc.hits("DeleteChannel"), 5);
  auto st = stats();
  EXPECT_EQ(st.calls, 7u);
  EXPECT_EQ(st.failures, 5u);
}

TEST_F(RtcGateway, FortyTerminalsTakeTwoCalls) {
  rtc.set_script([](const rtc::rpc_params& p, int n, httplib::Response& res) {
    std::string list;
    for (int i = 1; p.count("TerminalIds." + std::to_string(i)); ++i)
      list += std::string{list.empty() ? "" : ","} + R"({"Id":")"
              + p.at("TerminalIds." + std::to_string(i)) + R"(","Code":"0","Message":""})";
    fake_rtc::ok(res, R"({"RequestId":"r-)" + std::to_string(n) + R"(","Terminals":[)" + list + "]}");
  });
  start();
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i)
    ids.push_back("user-" + std::to_string(i));
  auto a = ask(remove_terminals_atom::value, std::string{"room"}, ids);
  ASSERT_TRUE(a.ok()) << a.error->code;
  EXPECT_EQ(rtc.hits("RemoveTerminals"), 2);
  EXPECT_EQ(a.attempts, 2);
  ASSERT_EQ(a.terminals.size(), 40u);
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ(a.terminals[i].id, ids[i]);
  EXPECT_EQ(a.request_id.find(','), a.request_id.rfind(',')); // two ids
  EXPECT_NE(a.request_id.find(','), std::string::npos);
  for (const auto& r : rtc.requests()) {
    EXPECT_TRUE(r.signature_ok);
    EXPECT_FALSE(r.params.count("TerminalIds.31"));
  }
  EXPECT_EQ(stats().calls, 2u);
}

TEST_F(RtcGateway, CallsRunConcurrently) {
  rtc.set_script([](const rtc::rpc_params& p, int, httplib::Response& res) {
    std::this_thread::sleep_for(200ms);
    fake_rtc::ok(res, R"({"RequestId":"r-)" + p.at("ChannelId") + R"("})");
  });
  start();
  constexpr int n = 50;
  caf::scoped_actor self{sys};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<decltype(self->request(gw, 10s, delete_channel_atom::value, std::string{}))> pending;
  for (int i = 0; i < n; ++i)
    pending.push_back(self->request(gw, 10s, delete_channel_atom::value, "c-" + std::to_string(i)));
  // Meanwhile the gateway keeps answering: it never blocks on HTTP.
  auto s = stats();
  EXPECT_GT(s.in_flight, 0u);
  int ok = 0;
  for (int i = 0; i < n; ++i)
    pending[i].receive(
      [&](const rtc::answer& a) {
        EXPECT_TRUE(a.ok()) << a.error->code << " " << a.error->message;
        EXPECT_EQ(a.request_id, "r-c-" + std::to_string(i));
        ok += a.ok();
      },
      [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ok, n);
  EXPECT_LT(took, 3s) << "calls are serialized: "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_GT(rtc.max_concurrent(), 10);
  std::cerr << "50 calls: " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, max concurrent " << rtc.max_concurrent() << "\n";
  EXPECT_EQ(stats().in_flight, 0u);
}

TEST_F(RtcGateway, StoppingAnswersOpenCallsShuttingDown) {
  rtc.set_script([](const rtc::rpc_params&, int, httplib::Response& res) {
    std::this_thread::sleep_for(500ms);
    fake_rtc::ok(res, R"({"RequestId":"late"})");
  });
  start();
  caf::scoped_actor self{sys};
  auto pending = self->request(gw, 10s, delete_channel_atom::value, std::string{"c-1"});
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  pending.receive(
    [&](const rtc::answer& a) {
      ASSERT_FALSE(a.ok());
      EXPECT_EQ(a.error->code, "ShuttingDown");
      EXPECT_EQ(a.error->kind, rtc::failure_kind::unavailable);
    },
    [&](const caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 400ms);
}

// --- the pool on its own -------------------------------------------------------

TEST(HttpPool, StopFailsPendingRequestsAndReturnsQuickly) {
  fake_rtc rtc;
  rtc.set_script([](const rtc::rpc_params&, int, httplib::Response& res) {
    std::this_thread::sleep_for(600ms);
    fake_rtc::ok(res, "{}");
  });
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<http_result> results;
  auto t0 = std::chrono::steady_clock::now();
  {
    http_pool pool;
    rtc::settings s;
    s.endpoint = rtc.endpoint();
    s.access_key_secret = secret;
    for (int i = 0; i < 5; ++i) {
      http_request req;
      req.url = rtc::request_url(s, rtc::action::delete_channel,
                                 rtc::action_params(rtc::action::delete_channel, "a", "c"), 1700000000);
      req.timeout = 5s;
      pool.submit(req, [&](http_result r) {
        std::lock_guard<std::mutex> guard{mtx};
        results.push_back(std::move(r));
        cv.notify_all();
      });
    }
    std::this_thread::sleep_for(100ms);
  } // ~http_pool
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  ASSERT_EQ(results.size(), 5u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.transport_error, "http pool stopped");
  }
}

TEST(HttpPool, ManyTransfersCompleteOnThePoolThread) {
  fake_rtc rtc;
  std::mutex mtx;
  std::condition_variable cv;
  int done = 0;
  std::set<std::thread::id> threads;
  {
    http_pool pool;
    rtc::settings s;
    s.endpoint = rtc.endpoint();
    s.access_key_secret = secret;
    s.access_key_id = "id";
    for (int i = 0; i < 100; ++i) {
      http_request req;
      req.url = rtc::request_url(s, rtc::action::delete_channel,
                                 rtc::action_params(rtc::action::delete_channel, "a", "c"), 1700000000);
      pool.submit(req, [&](http_result r) {
        std::lock_guard<std::mutex> guard{mtx};
        EXPECT_EQ(r.status, 200) << r.transport_error;
        ++done;
        threads.insert(std::this_thread::get_id());
        cv.notify_all();
      });
    }
    bool all = false;
    {
      std::unique_lock<std::mutex> lock{mtx};
      all = cv.wait_for(lock, 10s, [&] { return done == 100; });
    }
    EXPECT_TRUE(all);
  }
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}
