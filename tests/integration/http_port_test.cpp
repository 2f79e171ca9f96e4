// The node's HTTP port (docs/monitoring.md) against a real broker, emulator
// and node: /metrics in a form promtool accepts, with the figures of what
// the devices did and no label that names a meeting, user or client;
// /healthz and /readyz following the broker and the database as they go and
// come back; a port that cannot be bound stops the node with one line; and
// what systemd hears on its notify socket (READY=1, WATCHDOG=1, STOPPING=1).
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace meetingd::testing;

namespace {

/// The value of the series `name_and_labels` (exactly as rendered) in a
/// scrape; nullopt if absent.
std::optional<double> series(const std::string& scrape, const std::string& name_and_labels) {
  std::istringstream in{scrape};
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name_and_labels + " ", 0) == 0)
      return std::stod(line.substr(name_and_labels.size() + 1));
  return std::nullopt;
}

/// Every label value in a scrape.
std::set<std::string> label_values(const std::string& scrape) {
  std::set<std::string> values;
  static const std::regex label_re{R"re([a-z_]+="((?:[^"\\]|\\.)*)")re"};
  std::istringstream in{scrape};
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    for (std::sregex_iterator i{line.begin(), line.end(), label_re}, end; i != end; ++i)
      values.insert((*i)[1]);
  }
  return values;
}

std::string scrape(cluster& c, const std::string& id = "node-1") {
  auto [status, body] = c.node_http("/metrics", id);
  EXPECT_EQ(status, 200) << body;
  return body;
}

bool ready(cluster& c) {
  return c.node_http("/readyz").first == 200;
}

/// Waits for /readyz to answer 503 with `reason` in its body.
bool not_ready_for(cluster& c, const std::string& reason) {
  return eventually(
    [&] {
      auto [status, body] = c.node_http("/readyz");
      return status == 503 && body.find(reason) != std::string::npos;
    },
    20s);
}

TEST(HttpPort, MetricsPassPromtoolAndCountWhatDevicesDid) {
  cluster c;
  c.start_node();
  auto alice = c.logged_in("dev-alice", "alice");
  auto bob = c.logged_in("dev-bob", "bob");
  auto created = alice->request("meeting.create", {{"title", "metrics"}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  ASSERT_EQ(code_of(bob->request("meeting.join", {{"meeting", meeting}})), 0);
  // A refusal and a payload that is not a command are counted too.
  EXPECT_EQ(code_of(bob->request("meeting.end", {{"meeting", meeting}})), 403);
  bob->send_raw("{not json");
  bob->wait_null_reply();

  // The directory publishes its figures every second.
  std::string text;
  ASSERT_TRUE(eventually(
    [&] {
      text = scrape(c);
      return series(text, R"(meetingd_meetings{state="active"})") == 1.0
             && series(text, "meetingd_participants") == 2.0;
    },
    10s))
    << text;

  auto file = c.dir().path() + "/scrape.txt";
  std::ofstream{file} << text;
  auto [code, output]
    = run_program("promtool", {"/bin/sh", "-c", "promtool check metrics < " + file + " 2>&1"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_EQ(output, "") << "promtool's advice on the metrics";

  EXPECT_GE(series(text, R"(meetingd_commands_total{command="meeting.create",code="0"})"), 1.0);
  EXPECT_EQ(series(text, R"(meetingd_commands_total{command="meeting.end",code="403"})"), 1.0);
  EXPECT_EQ(series(text, R"(meetingd_commands_total{command="invalid",code="400"})"), 1.0);
  EXPECT_GE(series(text, R"(meetingd_command_duration_seconds_count{command="meeting.create"})"),
            1.0);
  EXPECT_GE(series(text, R"(meetingd_rtc_calls_total{action="CreateChannel",outcome="ok"})"),
            1.0);
  EXPECT_GE(series(text, "meetingd_store_commit_duration_seconds_count"), 1.0);
  EXPECT_GE(series(text, R"(meetingd_store_batch_size_bucket{le="+Inf"})"), 1.0);
  EXPECT_EQ(series(text, "meetingd_broker_connected"), 1.0);
  EXPECT_EQ(series(text, "meetingd_store_available"), 1.0);
  EXPECT_EQ(series(text, "meetingd_ready"), 1.0);
  EXPECT_EQ(series(text, "meetingd_devices_online"), 2.0);
  EXPECT_GT(series(text, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GT(series(text, "process_open_fds").value_or(0), 3);
  EXPECT_GT(series(text, "process_start_time_seconds").value_or(0), 1.7e9);

  // Bounded cardinality: no series per meeting, user or device.
  for (auto& value : label_values(text))
    for (auto& id : {meeting, std::string{"alice"}, std::string{"bob"},
                     std::string{"dev-alice"}, std::string{"dev-bob"}})
      EXPECT_EQ(value.find(id), std::string::npos) << "label value " << value;

  auto [health, body] = c.node_http("/healthz");
  EXPECT_EQ(health, 200);
  EXPECT_EQ(body, "ok\n");
  EXPECT_EQ(c.node_http("/readyz"), (std::pair<int, std::string>{200, "ready\n"}));
  EXPECT_EQ(c.node_http("/nothing-here").first, 404);
}

TEST(HttpPort, ReadyzFollowsTheBroker) {
  cluster c;
  c.start_node();
  ASSERT_TRUE(ready(c));
  c.stop_broker();
  ASSERT_TRUE(not_ready_for(c, "broker disconnected"));
  EXPECT_EQ(c.node_http("/healthz").first, 200) << "alive all the same";
  EXPECT_EQ(series(scrape(c), "meetingd_broker_connected"), 0.0);
  EXPECT_EQ(series(scrape(c), "meetingd_ready"), 0.0);
  c.start_broker();
  EXPECT_TRUE(eventually([&] { return ready(c); }, 60s)) << c.node_http("/readyz").second;
  EXPECT_EQ(series(scrape(c), "meetingd_broker_disconnects_total"), 1.0);
}

/// Over a store whose server the test can stop: PostgreSQL.
class HttpPortDatabase : public ::testing::TestWithParam<store_kind> {};

TEST_P(HttpPortDatabase, ReadyzFollowsTheDatabase) {
  node_options opts;
  opts.store = GetParam();
  opts.flags["db-timeout"] = "2s";
  cluster c{opts};
  c.start_node();
  ASSERT_TRUE(ready(c));
  c.pg()->stop_fast();
  ASSERT_TRUE(not_ready_for(c, "database unavailable"));
  EXPECT_EQ(c.node_http("/healthz").first, 200);
  std::string error;
  ASSERT_TRUE(c.pg()->restart(&error)) << error;
  EXPECT_TRUE(eventually([&] { return ready(c); }, 60s)) << c.node_http("/readyz").second;
  EXPECT_GE(series(scrape(c), "meetingd_shards_owned"), 1.0);
}

INSTANTIATE_TEST_SUITE_P(, HttpPortDatabase, ::testing::Values(store_kind::postgres));

TEST(HttpPort, ReadyzSaysStoppingOnSigterm) {
  cluster c;
  c.start_node();
  ASSERT_TRUE(ready(c));
  // Hold the drain open with a command the emulator answers slowly.
  auto fault = c.emulator_post("/_emulator/faults",
                              {{"action", "CreateChannel"}, {"latency_ms", 1500}, {"count", 1}});
  ASSERT_EQ(fault["_status"], 200) << fault.dump();
  auto alice = c.logged_in("dev-alice", "alice");
  auto id = alice->send("meeting.create", {{"title", "slow"}});
  std::this_thread::sleep_for(200ms);
  c.node()->signal(SIGTERM);
  EXPECT_TRUE(not_ready_for(c, "stopping")) << c.node_log();
  EXPECT_EQ(c.node()->wait(20s), 0);
  EXPECT_TRUE(alice->wait_reply(id, 5s).has_value());
}

/// A listening TCP socket on a free loopback port, held for the test.
struct taken_port {
  int fd = -1;
  int port = 0;
  taken_port() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~taken_port() {
    ::close(fd);
  }
};

TEST(HttpPort, APortInUseOrABadAddressStopsTheNodeWithOneLine) {
  temp_dir dir;
  taken_port taken;
  std::vector<std::string> args{"--app-id=a", "--db=" + dir.path() + "/m.db",
                                "--broker=tcp://127.0.0.1:1"};
  auto in_use = args;
  in_use.push_back("--http=127.0.0.1:" + std::to_string(taken.port));
  auto [code, output] = run_meetingd(in_use);
  EXPECT_EQ(code, 2) << output;
  auto line = lines_with(output, "meetingd: --http=");
  EXPECT_NE(line.find("cannot listen there"), std::string::npos) << output;
  EXPECT_EQ(count_lines(line), 1) << output;

  for (auto bad : {"--http=9180", "--http=127.0.0.1:", "--http=127.0.0.1:70000"}) {
    auto bad_args = args;
    bad_args.push_back(bad);
    auto [bad_code, bad_output] = run_meetingd(bad_args);
    EXPECT_EQ(bad_code, 2) << bad;
    EXPECT_EQ(count_lines(bad_output), 1) << bad_output;
    EXPECT_NE(bad_output.find("expected HOST:PORT"), std::string::npos) << bad_output;
  }


}

TEST(HttpPort, ServesTheConsoleAndTellsItWhereTheBrokerIs) {
  node_options opts;
  opts.websockets = true;
  cluster c{opts};
  c.start_node();
  auto [status, page] = c.node_http("/console/");
  EXPECT_EQ(status, 200);
  EXPECT_NE(page.find("<html"), std::string::npos) << page.substr(0, 200);
  EXPECT_EQ(c.node_http("/console/mqtt.min.js").first, 200) << "MQTT.js is served, not fetched";
  auto [config_status, config] = c.node_http("/console/config.json");
  ASSERT_EQ(config_status, 200);
  auto j = json::parse(config);
  EXPECT_EQ(j["broker"], "ws://127.0.0.1:" + std::to_string(c.ws_port()));
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["parent_topic"], "MeetingCtrl");
  EXPECT_EQ(c.node_http("/console/../../etc/passwd").first, 404);
}

TEST(HttpPort, OffMeansNoListener) {
  node_options opts;
  opts.flags["http"] = "off";
  cluster c{opts};
  c.start_node();
  EXPECT_EQ(c.node_log().find("http.listening"), std::string::npos) << c.node_log();
}

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
struct notify_socket {
  int fd = -1;
  std::string path;
  explicit notify_socket(std::string at) : path(std::move(at)) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind " + path);
  }
  ~notify_socket() {
    ::close(fd);
    ::unlink(path.c_str());
  }
  /// The next datagram within `timeout`, or nullopt.
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return std::nullopt;
    char buffer[4096];
    auto n = ::recv(fd, buffer, sizeof buffer, 0);
    return n < 0 ? std::nullopt : std::optional{std::string(buffer, static_cast<std::size_t>(n))};
  }
  /// Waits for a datagram containing `what`; everything seen goes to `seen`.
  bool wait_for(const std::string& what, std::chrono::milliseconds timeout, std::string& seen) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
      auto msg = next(std::max(left, 1ms));
      if (!msg)
        return false;
      seen += *msg + "|";
      if (msg->find(what) != std::string::npos)
        return true;
    }
    return false;
  }
};

TEST(HttpPort, SystemdHearsReadyWatchdogAndStopping) {
  temp_dir sock_dir;
  notify_socket systemd{sock_dir.path() + "/notify"};
  node_options opts;
  opts.env["NOTIFY_SOCKET"] = systemd.path;
  opts.env["WATCHDOG_USEC"] = "600000"; // fed every 300 ms
  cluster c{opts};
  c.start_node();
  std::string seen;
  ASSERT_TRUE(systemd.wait_for("READY=1", 20s, seen)) << seen;
  EXPECT_TRUE(ready(c)) << "READY=1 only once /readyz answers 200";
  ASSERT_TRUE(systemd.wait_for("WATCHDOG=1", 5s, seen)) << seen;
  ASSERT_TRUE(systemd.wait_for("WATCHDOG=1", 5s, seen)) << seen;

  // A broker away is said in the status line.
  c.stop_broker();
  ASSERT_TRUE(systemd.wait_for("STATUS=not ready: broker disconnected", 20s, seen)) << seen;
  c.start_broker();
  ASSERT_TRUE(systemd.wait_for("STATUS=serving", 60s, seen)) << seen;

  c.node()->signal(SIGTERM);
  EXPECT_TRUE(systemd.wait_for("STOPPING=1", 20s, seen)) << seen;
  EXPECT_EQ(c.node()->wait(20s), 0);
}

} // namespace
