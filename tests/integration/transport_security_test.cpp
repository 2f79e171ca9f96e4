// What the node trusts on the wire: the broker's TLS certificate is checked
// against --broker-ca and the host in --broker; an RTC endpoint in clear is
// refused outside loopback unless --allow-insecure-rtc says so; and a
// command a device left retained on the broker runs once, not again on
// every (re)subscription of the node.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>

using namespace meetingd::testing;

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The harness's broker with one more listener, TLS on `port` with this
/// certificate (made in `certs` by make_tls_files / make_server_certificate).
node_options tls_listener(const temp_dir& certs, int port, const std::string& certificate) {
  node_options opts;
  opts.broker_conf = {"listener " + std::to_string(port) + " 127.0.0.1",
                      "cafile " + certs.path() + "/ca.crt",
                      "certfile " + certs.path() + "/" + certificate + ".crt",
                      "keyfile " + certs.path() + "/" + certificate + ".key"};
  return opts;
}

std::string rtc_port_of(const cluster& c) {
  auto endpoint = c.rtc_endpoint();
  return endpoint.substr(endpoint.rfind(':') + 1);
}

} // namespace

// A certificate from the trusted CA proves nothing about which host sent it:
// one for broker.example.org must not pass for 127.0.0.1, or anyone holding
// any certificate of that CA reads the node's broker password and every
// device's password and join token.
TEST(transport_security, broker_certificate_for_another_host_is_refused) {
  temp_dir certs;
  make_tls_files(certs.path());
  make_server_certificate(certs.path(), "elsewhere", "broker.example.org",
                          "DNS:broker.example.org");
  int tls_port = free_port();
  cluster c{tls_listener(certs, tls_port, "elsewhere")};
  temp_dir node_dir;
  process node{"meetingd",
               {MEETINGD_NODE_BIN, "--app-id=x", "--log-level=debug",
                "--broker=ssl://127.0.0.1:" + std::to_string(tls_port),
                "--broker-ca=" + certs.path() + "/ca.crt", "--db=" + node_dir.path() + "/n.db",
                "--rtc-endpoint=" + c.rtc_endpoint()},
               {{"RTC_ACCESS_KEY_ID", cluster::access_key_id},
                {"RTC_ACCESS_KEY_SECRET", cluster::access_key_secret},
                {"MQTT_USERNAME", "meetingd"},
                {"MQTT_PASSWORD", cluster::node_password}},
               node_dir.path()};
  ASSERT_TRUE(eventually(
    [&] { return node.output().find("lmq.connect_failed") != std::string::npos; }, 10s))
    << node.output();
  auto log = node.output();
  EXPECT_EQ(log.find("lmq.connected"), std::string::npos) << log;
  EXPECT_EQ(log.find("lmq.ready"), std::string::npos) << log;
  // The line says what to look at: the names in the certificate.
  EXPECT_NE(log.find("subjectAltName"), std::string::npos) << log;
  EXPECT_TRUE(node.running()) << "the node keeps retrying\n" << log;
}

TEST(transport_security, tls_brokers_need_broker_ca) {
  for (auto broker : {"ssl://127.0.0.1:8883", "mqtts://127.0.0.1:8883", "wss://127.0.0.1:8883"}) {
    auto [code, out] = run_meetingd({"--app-id=x", std::string{"--broker="} + broker});
    EXPECT_EQ(code, 2) << out;
    EXPECT_EQ(count_lines(out), 1) << out;
    EXPECT_NE(out.find("--broker-ca"), std::string::npos) << out;
    EXPECT_NE(out.find("--broker-ca=system"), std::string::npos) << "says what to do\n" << out;
  }
  auto [code, out] = run_meetingd({"--app-id=x", "--broker=ssl://127.0.0.1:8883",
                                       "--broker-ca=/nonexistent/ca.crt"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_EQ(count_lines(out), 1) << out;
  EXPECT_NE(out.find("--broker-ca=/nonexistent/ca.crt"), std::string::npos) << out;
}

// --broker-ca=system: OpenSSL's default trust store, which SSL_CERT_FILE
// points at the test's CA here; the host name is checked all the same.
TEST(transport_security, broker_ca_system_trusts_the_default_store) {
  temp_dir certs;
  make_tls_files(certs.path());
  int tls_port = free_port();
  auto opts = tls_listener(certs, tls_port, "server");
  opts.flags = {{"broker", "ssl://127.0.0.1:" + std::to_string(tls_port)},
                {"broker-ca", "system"}};
  opts.env = {{"SSL_CERT_FILE", certs.path() + "/ca.crt"}};
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  EXPECT_EQ(code_of(alice->request("meeting.create", json::object())), 0);
}

TEST(transport_security, rtc_endpoint_in_clear_outside_loopback_is_refused) {
  auto [code, out] = run_meetingd({"--app-id=x", "--rtc-endpoint=http://10.1.2.3:8090"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_EQ(count_lines(out), 1) << out;
  EXPECT_NE(out.find("--rtc-endpoint=http://10.1.2.3:8090"), std::string::npos) << out;
  EXPECT_NE(out.find("--allow-insecure-rtc"), std::string::npos) << out;
}

// 0.0.0.0 is not a loopback address by the node's rule, yet as a destination
// Linux takes it for this host: the node's calls reach the test's emulator
// without anything leaving the machine.
TEST(transport_security, allow_insecure_rtc_starts_with_one_warning) {
  cluster c;
  auto endpoint = "http://0.0.0.0:" + rtc_port_of(c);
  c.set_node_flag("rtc-endpoint", endpoint);
  auto [code, out] = run_meetingd({"--app-id=x", "--rtc-endpoint=" + endpoint});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--allow-insecure-rtc"), std::string::npos) << out;

  // CAF's switches take no value on the command line; the line says so.
  auto [valued, said] = run_meetingd({"--app-id=x", "--allow-insecure-rtc=true"});
  EXPECT_EQ(valued, 2) << said;
  EXPECT_EQ(count_lines(said), 1) << said;
  EXPECT_NE(said.find("takes no value"), std::string::npos) << said;

  c.set_node_flag("allow-insecure-rtc", "");
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  EXPECT_EQ(code_of(alice->request("meeting.create", json::object())), 0);
  EXPECT_EQ(code_of(alice->request("meeting.create", json::object())), 0);
  EXPECT_EQ(occurrences(c.node_log(), "rtc.insecure_endpoint"), 1u) << c.node_log();
}

TEST(transport_security, rtc_endpoint_in_clear_on_loopback_is_fine) {
  cluster c; // the harness's endpoint is http://127.0.0.1:<port>
  c.set_node_flag("rtc-endpoint", "http://localhost:" + rtc_port_of(c));
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  EXPECT_EQ(code_of(alice->request("meeting.create", json::object())), 0);
  EXPECT_EQ(c.node_log().find("rtc.insecure_endpoint"), std::string::npos) << c.node_log();
}

// A command published with the retain flag reaches the node live (retain
// off) and is answered; the broker keeps a copy and hands it out, flagged
// retained, whenever the node subscribes again. That copy must not run.
TEST(transport_security, a_retained_command_is_not_run_again_after_a_restart) {
  cluster c;
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  std::string id = "left-retained";
  json command{{"id", id}, {"type", "meeting.create"}, {"args", {{"title", "once"}}}};
  alice->publish(alice->uplink_topic(), command.dump(), true);
  auto first = alice->wait_reply(id);
  ASSERT_TRUE(first) << c.node_log();
  ASSERT_EQ(code_of(*first), 0) << first->dump();

  c.kill_node();
  c.start_node();
  EXPECT_TRUE(eventually(
    [&] {
      return c.node_log().find("lmq.retained_ignored client=GID_MEETING_DOWN@@@alice-phone")
             != std::string::npos;
    },
    5s))
    << c.node_log();
  // Positive control: the node answers alice, and by then the retained copy
  // (delivered right after the SUBACK, before this request) was handled.
  auto fresh = alice->request("meeting.get", {{"meeting", (*first)["data"]["meeting"]}});
  EXPECT_EQ(code_of(fresh), 0) << fresh.dump();
  EXPECT_FALSE(eventually([&] { return alice->reply_count(id) > 1; }, 1s))
    << "the retained command was answered again\n" << c.node_log();
  auto console = c.console();
  auto list = console->request("admin.meetings.list", json::object());
  EXPECT_EQ(list["data"]["meetings"].size(), 1u) << list.dump();
}

// Presence is state, published retained on purpose: a node that subscribes
// afresh (another node id, so no session kept by the broker) learns from the
// retained copy that bob went offline while no node was running.
TEST(transport_security, retained_presence_is_still_taken) {
  cluster c;
  c.start_node();
  auto bob = c.logged_in("bob-phone", "bob");
  auto console = c.console();
  auto online = [&] {
    return console->request("admin.stats", json::object())["data"].value("devices_online", -1);
  };
  ASSERT_EQ(online(), 1);
  ASSERT_EQ(c.stop_node(), 0);
  bob->disconnect(); // {"online":false} retained, acknowledged by the broker
  c.set_node_flag("node-id", "node-2");
  c.start_node();
  EXPECT_TRUE(eventually([&] { return online() == 0; }, 5s)) << c.node_log();
  EXPECT_EQ(c.node_log().find("lmq.retained_ignored"), std::string::npos) << c.node_log();
}
