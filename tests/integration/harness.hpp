// The integration test harness: real processes on free loopback ports.
// A `cluster` starts mosquitto (with the project's ACL and a login for the
// node from tools/broker-logins), rtc-emulator and meetingd, each in a temp
// directory that is removed afterwards; every process is killed when the
// test ends, passed or failed.
// Devices are tools/client sessions, playing docs/protocol.md as a phone would.
// The node keeps its state in SQLite by default; node_options::store =
// store_kind::postgres gives it a database on a PostgreSQL server of the
// cluster's own (tests/pg_server), which the test can kill, stop or pause.
#pragma once

#include "pg_server/pg_server.hpp"
#include "tools/client/mqtt_session.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace meetingd::testing {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// A loopback port nobody listens on right now, below the ephemeral range.
int free_port();

/// The lines of `log` that contain `what`, each with its newline.
std::string lines_with(const std::string& log, const std::string& what);

/// Polls `pred` every 20 ms until it holds or `timeout` passes; its last value.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

/// A child process with its output in files; killed (SIGKILL) on destruction.
class process {
public:
  process(std::string name, std::vector<std::string> argv,
          std::map<std::string, std::string> env, const std::string& dir);
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  int pid() const {
    return pid_;
  }
  bool running();
  /// Sends a signal; `wait` for the exit code (nullopt on timeout).
  void signal(int sig);
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill9();
  std::string output() const; // stdout + stderr so far
  const std::string& name() const {
    return name_;
  }

private:
  std::string name_;
  std::string out_path_;
  int pid_ = -1;
  std::optional<int> status_;
};

/// A temp directory removed (recursively) on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

/// Runs `argv` (argv[0]: the program's path) in a temp directory until it
/// exits (at most `timeout`, then it is killed): (exit code or -1, its
/// stdout and stderr).
std::pair<int, std::string> run_program(const std::string& name, std::vector<std::string> argv,
                                        std::map<std::string, std::string> env = {},
                                        std::chrono::milliseconds timeout = 30s);

/// Runs meetingd with these arguments until it exits (at most 10 s):
/// (exit code or -1, its output). The default environment has the RTC key
/// pair, so that only the arguments decide.
std::pair<int, std::string> run_meetingd(std::vector<std::string> args,
                                         std::map<std::string, std::string> env = {
                                           {"RTC_ACCESS_KEY_ID", "k"},
                                           {"RTC_ACCESS_KEY_SECRET", "s"}});

/// How many lines `text` has (one-line errors).
int count_lines(const std::string& text);

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the
/// openssl command line in `dir`: ca.crt (ca.key), server.crt, server.key.
void make_tls_files(const std::string& dir);
/// One more certificate from the CA of make_tls_files: <stem>.crt and
/// <stem>.key for this common name and subjectAltName ("IP:127.0.0.1",
/// "DNS:broker.example.org").
void make_server_certificate(const std::string& dir, const std::string& stem,
                             const std::string& common_name,
                             const std::string& subject_alt_name);

/// Where a cluster's node keeps its state (--db).
enum class store_kind { sqlite, postgres };
std::string to_string(store_kind kind);
/// For GoogleTest's names of value-parameterized tests: CTest names them
/// <suite>.<test>/sqlite and <suite>.<test>/postgres (the PostgreSQL ones
/// are labelled `integration pg`, tests/integration/CMakeLists.txt).
inline void PrintTo(store_kind kind, std::ostream* out) {
  *out << to_string(kind);
}
/// Both stores, for INSTANTIATE_TEST_SUITE_P of a fixture over store_kind.
inline auto both_stores() {
  return ::testing::Values(store_kind::sqlite, store_kind::postgres);
}

struct node_options {
  std::map<std::string, std::string> flags; // extra --name=value; "" gives a bare --switch
  std::map<std::string, std::string> env;   // extra environment
  std::vector<std::string> broker_conf;     // extra mosquitto.conf lines
  /// Run the broker from a copy of the shipped production config
  /// (config/mosquitto.conf: logins only, the username is the client id)
  /// that differs only in port, file paths and persistence location, instead
  /// of the anonymous demo broker. Devices and consoles then need a login
  /// from cluster::add_broker_login.
  bool production_broker = false;
  /// The broker also speaks MQTT over WebSocket on ws_port() (always with
  /// production_broker, whose shipped config has that listener), and the
  /// node is told so (--console-broker): the web console's tests.
  bool websockets = false;
  /// sqlite: a file in the cluster's temp directory. postgres: the cluster
  /// starts a PostgreSQL server of its own (initdb in a temp directory, a
  /// free port; stopped with the cluster, also when the test fails) and
  /// gives the node a fresh database on it, --db=postgresql://...
  store_kind store = store_kind::sqlite;
};

/// Broker + emulator + node for one test.
class cluster {
public:
  explicit cluster(node_options opts = {});
  ~cluster();

  std::string broker_uri() const;
  int broker_port() const {
    return mqtt_port_;
  }
  int ws_port() const {
    return ws_port_;
  }
  /// The node's HTTP port (the harness gives each node one); 0 if none.
  int http_port(const std::string& id = "node-1") const;
  std::string rtc_endpoint() const;
  /// The node's --db: the SQLite file, or the PostgreSQL database's URI.
  const std::string& db_path() const {
    return db_;
  }
  store_kind store() const {
    return opts_.store;
  }
  /// The PostgreSQL server of a store_kind::postgres cluster, for fault
  /// injection (kill9, stop_fast, pause, restart); nullptr on SQLite.
  meetingd::test::pg_server* pg() {
    return pg_.get();
  }
  const temp_dir& dir() const {
    return dir_;
  }

  void start_broker();
  void stop_broker();
  void start_emulator(std::vector<std::string> extra = {});
  /// Sets a --name=value of the next start_node (for values known only once
  /// the cluster runs, such as the emulator's port).
  void set_node_flag(const std::string& name, const std::string& value) {
    opts_.flags[name] = value;
  }
  /// Starts meetingd and waits until it published its retained "ready".
  /// Several nodes (PostgreSQL, docs/cluster.md) run side by side under
  /// their own --node-id; without one, "node-1".
  void start_node(const std::string& id = "node-1");
  /// SIGTERM and wait; returns the exit code.
  std::optional<int> stop_node(std::chrono::milliseconds timeout = 20s);
  std::optional<int> stop_node(const std::string& id, std::chrono::milliseconds timeout);
  void kill_node(const std::string& id = "node-1");
  process* node(const std::string& id = "node-1") {
    auto i = nodes_.find(id);
    return i == nodes_.end() ? nullptr : i->second.get();
  }
  std::string node_log(const std::string& id = "node-1") const;

  /// A device session (connected, presence announced).
  std::unique_ptr<client::session> device(const std::string& name, bool connect = true);
  /// The admin console session (client id console-1, in --admins).
  std::unique_ptr<client::session> console(const std::string& id = "console-1");
  /// Adds a user through the console.
  void add_user(const std::string& user, const std::string& password);
  /// A device logged in as `user` (creating the user with a password first
  /// if it does not exist).
  std::unique_ptr<client::session> logged_in(const std::string& device,
                                             const std::string& user);

  /// Enters the RTC channel with these credentials at the emulator, which
  /// verifies the token with the formula of docs/protocol.md §6 against the
  /// channel key it issued. The answer carries "_status" (200 or 403).
  json join_channel(const json& creds);

  /// Runs tools/broker-logins with these arguments on this broker's password
  /// and ACL files, `password` on its stdin; a running broker has reloaded
  /// them when this returns. Its output; throws if it fails.
  std::string broker_logins(const std::string& args, const std::string& password = {});
  /// A new login (kind device, console or node) through tools/broker-logins,
  /// in force at once; its password. device() and console() log in with it.
  std::string add_broker_login(const std::string& kind, const std::string& id);

  /// HTTP to the emulator's control endpoints.
  json emulator_get(const std::string& path);
  json emulator_post(const std::string& path, const json& body);
  void emulator_delete(const std::string& path);

  /// GET on a node's HTTP port (the harness gives every node one, on a
  /// free port): (status, body), or (-1, why) if nothing answered.
  std::pair<int, std::string> node_http(const std::string& path,
                                        const std::string& id = "node-1") const;

  static constexpr const char* access_key_id = "test-key-id";
  static constexpr const char* access_key_secret = "test-key-secret";
  static constexpr const char* app_id = "g10dhbxp";
  static constexpr const char* node_username = "GID_MEETING_UP@@@node-1";
  static constexpr const char* node_password = "node-password-for-tests";

private:
  client::session_options session_options_for(const std::string& client_id) const;
  void write_demo_broker_conf(std::ostream& out) const;
  void write_production_broker_conf(std::ostream& out) const;

  node_options opts_;
  temp_dir dir_;
  std::unique_ptr<meetingd::test::pg_server> pg_;
  int mqtt_port_ = 0;
  int ws_port_ = 0;
  int rtc_port_ = 0;
  std::string db_;
  std::unique_ptr<process> broker_;
  std::unique_ptr<process> emulator_;
  std::map<std::string, std::unique_ptr<process>> nodes_;
  std::set<std::string> node_logins_; // broker logins of nodes other than node-1
  std::map<std::string, int> http_ports_; // by node id
  void start_node_once(const std::string& id);
  std::map<std::string, std::string> broker_passwords_; // by client id
};

/// Runs `sql` on the PostgreSQL database at `uri` (libpq, a connection of
/// its own; $1, $2... are `params`); the rows, each column as text (NULL as
/// ""). Throws std::runtime_error with the server's message on failure.
using sql_row = std::vector<std::string>;
std::vector<sql_row> pg_rows(const std::string& uri, const std::string& sql,
                             const std::vector<std::string>& params = {});

/// The reply's code, for EXPECT_EQ.
inline int code_of(const json& reply) {
  return reply.value("code", -1);
}
inline std::string reason_of(const json& reply) {
  if (!reply.contains("error"))
    return {};
  return reply["error"].value("reason", std::string{});
}

/// For EXPECT_TRUE: the event came (wait_event's answer) and the `field` of
/// its data is `value`; the failure shows the event.
inline ::testing::AssertionResult event_with(const std::optional<json>& event,
                                             const std::string& field, const json& value) {
  if (!event)
    return ::testing::AssertionFailure() << "no such event came";
  auto data = event->value("data", json::object());
  if (data.contains(field) && data[field] == value)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected data." << field << " = " << value.dump() << " in " << event->dump();
}

/// Creates a meeting from `host` with `args`, then has each of `guests` join
/// it; the data of the create reply (meeting, channel, credentials, ...).
/// A refused create or join throws, which fails the test with the reply.
json start_meeting(client::session& host, const std::vector<client::session*>& guests = {},
                   const json& args = json::object(), std::chrono::milliseconds timeout = 5s);

/// For EXPECT_TRUE: `reply` is the refusal with this code and reason; the
/// failure shows the whole reply.
inline ::testing::AssertionResult is_refusal(const json& reply, int code,
                                             const std::string& reason) {
  if (code_of(reply) == code && reason_of(reply) == reason)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected refusal " << code << " " << reason << ", got " << reply.dump();
}

} // namespace meetingd::testing
