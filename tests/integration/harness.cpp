#include "harness.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace meetingd::testing {

namespace fs = std::filesystem;

int free_port() {
  std::string error;
  int port = meetingd::test::free_loopback_port(&error);
  if (port < 0)
    throw std::runtime_error(error);
  return port;
}

std::string lines_with(const std::string& log, const std::string& what) {
  std::istringstream in{log};
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (line.find(what) != std::string::npos)
      out += line + "\n";
  return out;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

namespace {

bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

const std::string source_dir{MEETINGD_SOURCE_DIR};

} // namespace

// -- process --------------------------------------------------------------------

process::process(std::string name, std::vector<std::string> argv,
                 std::map<std::string, std::string> env, const std::string& dir)
  : name_(std::move(name)) {
  out_path_ = dir + "/" + name_ + ".log";
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // The test's own signal mask must not leak into the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (auto& [k, v] : env)
      ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

process::~process() {
  kill9();
#ifdef MEETINGD_TSAN_BUILD
  // The programs a test starts are built with ThreadSanitizer too, and a
  // race reported in one of them must fail the test that started it: the
  // report is in the log, whatever way the process ended (SIGKILL too), and
  // the log goes with the temp directory.
  auto out = output();
  std::string reports;
  for (auto at = out.find("WARNING: ThreadSanitizer"); at != std::string::npos;
       at = out.find("WARNING: ThreadSanitizer", at + 1)) {
    auto end = out.find('\n', out.find("SUMMARY: ThreadSanitizer", at));
    reports += out.substr(at, end == std::string::npos ? end : end + 1 - at);
  }
  if (!reports.empty())
    ADD_FAILURE() << "ThreadSanitizer in " << name_ << " (pid " << pid_ << "):\n" << reports;
#endif
}

bool process::running() {
  if (status_)
    return false;
  int status = 0;
  auto r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
  eventually([&] { return !running(); }, timeout);
  return status_;
}

void process::kill9() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
}

std::string process::output() const {
  return read_file(out_path_);
}

std::pair<int, std::string> run_program(const std::string& name, std::vector<std::string> argv,
                                        std::map<std::string, std::string> env,
                                        std::chrono::milliseconds timeout) {
  temp_dir dir;
  process p{name, argv, env, dir.path()};
  auto code = p.wait(timeout);
  return {code.value_or(-1), p.output()};
}

std::pair<int, std::string> run_meetingd(std::vector<std::string> args,
                                         std::map<std::string, std::string> env) {
  args.insert(args.begin(), MEETINGD_NODE_BIN);
  // Not the default 127.0.0.1:9180, which tests running side by side share.
  if (std::none_of(args.begin(), args.end(),
                   [](const std::string& a) { return a.rfind("--http", 0) == 0; }))
    args.push_back("--http=off");
  return run_program("meetingd", std::move(args), std::move(env), 10s);
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

namespace {

void run_openssl(const std::string& dir, const std::string& cmd) {
  auto full = "cd " + dir + " && " + cmd + " >>openssl.log 2>&1";
  if (std::system(full.c_str()) != 0)
    throw std::runtime_error("openssl failed: " + cmd);
}

} // namespace

void make_tls_files(const std::string& dir) {
  run_openssl(dir, "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=meetingd-test-ca"
                   " -keyout ca.key -out ca.crt");
  make_server_certificate(dir, "server", "127.0.0.1", "IP:127.0.0.1");
}

void make_server_certificate(const std::string& dir, const std::string& stem,
                             const std::string& common_name,
                             const std::string& subject_alt_name) {
  run_openssl(dir, "openssl req -newkey rsa:2048 -nodes -subj /CN=" + common_name + " -keyout "
                     + stem + ".key -out " + stem + ".csr");
  run_openssl(dir, "printf 'subjectAltName=" + subject_alt_name + "' > " + stem + ".ext");
  run_openssl(dir, "openssl x509 -req -in " + stem + ".csr -CA ca.crt -CAkey ca.key"
                     " -CAcreateserial -days 1 -extfile " + stem + ".ext -out " + stem + ".crt");
}

json start_meeting(client::session& host, const std::vector<client::session*>& guests,
                   const json& args, std::chrono::milliseconds timeout) {
  auto created = host.request("meeting.create", args, timeout);
  if (code_of(created) != 0)
    throw std::runtime_error("meeting.create refused: " + created.dump());
  auto data = created["data"];
  for (auto* guest : guests) {
    auto joined = guest->request("meeting.join", {{"meeting", data["meeting"]}}, timeout);
    if (code_of(joined) != 0)
      throw std::runtime_error("meeting.join refused: " + joined.dump());
  }
  return data;
}

std::vector<sql_row> pg_rows(const std::string& uri, const std::string& sql,
                             const std::vector<std::string>& params) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{
    PQconnectdb((uri + (uri.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=10")
                  .c_str()),
    &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw std::runtime_error("cannot connect to " + uri + ": " + PQerrorMessage(conn.get()));
  std::vector<const char*> values;
  for (auto& p : params)
    values.push_back(p.c_str());
  std::unique_ptr<PGresult, decltype(&PQclear)> res{
    PQexecParams(conn.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                 values.data(), nullptr, nullptr, 0),
    &PQclear};
  auto status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(res.get()));
  std::vector<sql_row> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    sql_row row;
    for (int col = 0; col < PQnfields(res.get()); ++col)
      row.emplace_back(PQgetvalue(res.get(), r, col));
    rows.push_back(std::move(row));
  }
  return rows;
}

// -- temp_dir ---------------------------------------------------------------------

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "meetingd-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  // MEETINGD_KEEP_TEST_DIRS=1 keeps logs and databases for a post-mortem.
  if (std::getenv("MEETINGD_KEEP_TEST_DIRS")) {
    std::fprintf(stderr, "kept test dir %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// -- cluster ------------------------------------------------------------------------

std::string to_string(store_kind kind) {
  return kind == store_kind::postgres ? "postgres" : "sqlite";
}

cluster::cluster(node_options opts) : opts_(std::move(opts)) {
  bool own_console_broker = opts_.websockets && !opts_.flags.count("console-broker");
  auto pick_broker_ports = [&] {
    mqtt_port_ = free_port();
    ws_port_ = free_port();
    if (own_console_broker)
      opts_.flags["console-broker"] = "ws://127.0.0.1:" + std::to_string(ws_port_);
  };
  pick_broker_ports();
  if (opts_.store == store_kind::postgres) {
    std::string error;
    pg_ = meetingd::test::pg_server::start(&error);
    if (!pg_)
      throw std::runtime_error("the node's PostgreSQL server did not start: " + error);
    db_ = pg_->fresh_database(&error);
    if (db_.empty())
      throw std::runtime_error("no database for the node: " + error);
  } else {
    db_ = dir_.path() + "/meetingd.db";
  }
  // Test processes reserve their ports (free_loopback_port), but a program
  // outside the suite (a benchmark, a developer's broker) may bind one
  // between its pick and the broker's start: the broker then exits. Other
  // ports, up to three times.
  for (int attempt = 1;; ++attempt) {
    try {
      start_broker();
      break;
    } catch (const std::runtime_error& e) {
      if (attempt == 3)
        throw;
      std::cerr << "harness: " << e.what() << "; trying other ports\n";
      pick_broker_ports();
    }
  }
  start_emulator();
}

cluster::~cluster() {
  nodes_.clear();
  emulator_.reset();
  broker_.reset();
  pg_.reset(); // after the node: it must not see its database go first
}

std::string cluster::broker_uri() const {
  return "tcp://127.0.0.1:" + std::to_string(mqtt_port_);
}

std::string cluster::rtc_endpoint() const {
  return "http://127.0.0.1:" + std::to_string(rtc_port_);
}

void cluster::start_broker() {
  // First start: the shipped ACL and the node's login, as an operator makes them.
  if (!fs::exists(dir_.path() + "/mosquitto.passwd")) {
    fs::copy_file(source_dir + "/config/mosquitto.acl", dir_.path() + "/mosquitto.acl");
    broker_logins("add node node-1 --password-stdin", node_password);
  }
  auto conf = dir_.path() + "/mosquitto.conf";
  std::ofstream out{conf};
  if (opts_.production_broker)
    write_production_broker_conf(out);
  else
    write_demo_broker_conf(out);
  for (auto& line : opts_.broker_conf)
    out << line << "\n";
  out.close();
  broker_ = std::make_unique<process>("mosquitto",
                                      std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf},
                                      std::map<std::string, std::string>{}, dir_.path());
  std::ofstream{dir_.path() + "/mosquitto.pid"} << broker_->pid() << "\n";
  // Ours listening, not another program that holds the port: mosquitto says
  // "running" once every listener is bound (it exits at a failed bind).
  auto listening = [&] {
    return broker_->output().find(" running") != std::string::npos && port_open(mqtt_port_);
  };
  if (!eventually([&] { return !broker_->running() || listening(); }, 10s) || !broker_->running())
    throw std::runtime_error("mosquitto did not start on port " + std::to_string(mqtt_port_) + ": "
                             + broker_->output());
}

void cluster::write_demo_broker_conf(std::ostream& out) const {
  out << "listener " << mqtt_port_ << " 127.0.0.1\n"
      << "allow_anonymous true\n"
      << "persistence false\n"
      << "set_tcp_nodelay true\n"
      << "user root\n"
      << "password_file " << dir_.path() << "/mosquitto.passwd\n"
      << "acl_file " << dir_.path() << "/mosquitto.acl\n";
  if (opts_.websockets)
    out << "listener " << ws_port_ << " 127.0.0.1\nsocket_domain ipv4\nprotocol websockets\n";
}

// The shipped file line by line; only what must differ on a test machine
// changes, so that the test runs what ships.
void cluster::write_production_broker_conf(std::ostream& out) const {
  std::ifstream shipped{source_dir + "/config/mosquitto.conf"};
  std::set<std::string> rewritten;
  std::string line;
  while (std::getline(shipped, line)) {
    std::istringstream words{line};
    std::string directive, value;
    words >> directive >> value;
    if (directive == "listener") {
      std::string host;
      words >> host;
      // The shipped WebSocket listener (9001) gets the test's own port.
      auto port = value == "9001" ? ws_port_ : mqtt_port_;
      line = "listener " + std::to_string(port) + (host.empty() ? "" : " " + host);
    } else if (directive == "password_file") {
      line = "password_file " + dir_.path() + "/mosquitto.passwd";
    } else if (directive == "acl_file") {
      line = "acl_file " + dir_.path() + "/mosquitto.acl";
    } else if (directive == "persistence_location") {
      fs::create_directories(dir_.path() + "/mosquitto-db");
      line = "persistence_location " + dir_.path() + "/mosquitto-db/";
    } else {
      out << line << "\n";
      continue;
    }
    rewritten.insert(directive);
    out << line << "\n";
  }
  for (auto expected : {"listener", "password_file", "acl_file"})
    if (!rewritten.count(expected))
      throw std::runtime_error("config/mosquitto.conf has no " + std::string{expected} + " line");
  // As root, mosquitto would otherwise drop to user mosquitto, who may not
  // read the temp directory.
  if (::getuid() == 0)
    out << "user root\n";
}

void cluster::stop_broker() {
  broker_.reset();
}

void cluster::start_emulator(std::vector<std::string> extra) {
  rtc_port_ = free_port();
  std::vector<std::string> argv{MEETINGD_EMULATOR_BIN,
                                "--listen=127.0.0.1:" + std::to_string(rtc_port_),
                                "--log-level=warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> env{{"RTC_ACCESS_KEY_ID", access_key_id},
                                         {"RTC_ACCESS_KEY_SECRET", access_key_secret}};
  if (auto i = opts_.env.find("RTC_APP_KEY"); i != opts_.env.end())
    env.emplace("RTC_APP_KEY", i->second);
  emulator_ = std::make_unique<process>("rtc-emulator", argv, env, dir_.path());
  if (!eventually([&] { return port_open(rtc_port_); }, 10s))
    throw std::runtime_error("rtc-emulator did not start: " + emulator_->output());
}

void cluster::start_node(const std::string& id) {
  // A first start whose HTTP port another program took meanwhile (outside
  // the suite's port reservations) tries other ports; a restart keeps its port.
  bool first_start = http_ports_[id] == 0;
  for (int attempt = 1;; ++attempt) {
    try {
      start_node_once(id);
      return;
    } catch (const std::runtime_error& e) {
      bool port_taken = std::string{e.what()}.find("cannot listen there (Address already in use)")
                        != std::string::npos;
      if (!first_start || !port_taken || attempt == 3 || opts_.flags.count("http"))
        throw;
      std::cerr << "harness: " << id << "'s HTTP port was taken; trying another\n";
      http_ports_[id] = free_port();
    }
  }
}

void cluster::start_node_once(const std::string& id) {
  std::map<std::string, std::string> flags{
    {"broker", broker_uri()},
    {"rtc-endpoint", rtc_endpoint()},
    {"db", db_},
    {"app-id", app_id},
    {"node-id", id},
    {"admins", "console-1"},
    {"pbkdf2-iterations", "1000"},
    {"log-level", "debug"},
  };
  for (auto& [k, v] : opts_.flags)
    flags[k] = v;
  // Each node its own HTTP port, the same across its restarts.
  if (!opts_.flags.count("http")) {
    auto& port = http_ports_[id];
    if (port == 0)
      port = free_port();
    flags["http"] = "127.0.0.1:" + std::to_string(port);
  }
  std::vector<std::string> argv{MEETINGD_NODE_BIN};
  for (auto& [k, v] : flags)
    argv.push_back(v.empty() ? "--" + k : "--" + k + "=" + v); // CAF's switches take no value
  std::map<std::string, std::string> env{{"RTC_ACCESS_KEY_ID", access_key_id},
                                         {"RTC_ACCESS_KEY_SECRET", access_key_secret},
                                         {"MQTT_USERNAME", node_username},
                                         {"MQTT_PASSWORD", node_password},
                                         {"LOGIN_TICKET_SECRET", "ticket-secret-for-tests"}};
  for (auto& [k, v] : opts_.env)
    env[k] = v;
  if (id != "node-1") {
    // Every node has a login of its own (tools/broker-logins).
    if (!node_logins_.count(id))
      broker_logins("add node " + id + " --password-stdin", node_password);
    node_logins_.insert(id);
    env["MQTT_USERNAME"] = "GID_MEETING_UP@@@" + id;
  }
  auto count_ready = [this, id] { return count_of(node_log(id), "lmq.ready"); };
  auto before = count_ready();
  auto& slot = nodes_[id];
  slot.reset();
  slot = std::make_unique<process>(id == "node-1" ? "meetingd" : "meetingd-" + id, argv, env,
                                   dir_.path());
  // Ready = subscribed (the node logs lmq.ready once its SUBACK arrived).
  bool ok = eventually([&] { return !slot->running() || count_ready() > before; }, 20s);
  if (!ok || !slot->running()) {
    // A node that cannot reach the broker logs only that; the broker's own
    // words say why (not running, port taken, refused login).
    std::string broker = !broker_ ? "not started"
                         : broker_->running() ? "running, its output:\n" + broker_->output()
                                              : "exited, its output:\n" + broker_->output();
    throw std::runtime_error("meetingd " + id + " did not start:\n" + node_log(id)
                             + "\nmosquitto on port " + std::to_string(mqtt_port_) + ": " + broker);
  }
}

std::optional<int> cluster::stop_node(std::chrono::milliseconds timeout) {
  return stop_node("node-1", timeout);
}

std::optional<int> cluster::stop_node(const std::string& id, std::chrono::milliseconds timeout) {
  auto* n = node(id);
  if (!n)
    return std::nullopt;
  n->signal(SIGTERM);
  return n->wait(timeout);
}

void cluster::kill_node(const std::string& id) {
  if (auto* n = node(id))
    n->kill9();
}

// -- the node's --log-file (tests/integration/logging_test.cpp) --------------------------
// A node given --log-file=PATH logs there, not on stderr: node_log (and so
// start_node's wait for lmq.ready) reads that file after the process output.
namespace {
std::string log_file_text(const std::map<std::string, std::string>& flags) {
  auto f = flags.find("log-file");
  return f == flags.end() || f->second.empty() ? std::string{} : read_file(f->second);
}
} // namespace

std::string cluster::node_log(const std::string& id) const {
  auto i = nodes_.find(id);
  return i == nodes_.end() || !i->second ? std::string{}
                                         : i->second->output() + log_file_text(opts_.flags);
}

std::string cluster::broker_logins(const std::string& args, const std::string& password) {
  auto output_path = dir_.path() + "/broker-logins.out";
  auto password_path = dir_.path() + "/broker-logins.in";
  std::ofstream{password_path} << password << "\n";
  bool reload = broker_ && broker_->running();
  auto command = source_dir + "/tools/broker-logins --passwd " + dir_.path()
                 + "/mosquitto.passwd --acl " + dir_.path() + "/mosquitto.acl"
                 + (reload ? " --reload " + dir_.path() + "/mosquitto.pid" : std::string{})
                 + " " + args + " <" + password_path + " >" + output_path + " 2>&1";
  auto reloads_before = reload ? count_of(broker_->output(), "Reloading config.") : 0;
  int status = std::system(command.c_str());
  fs::remove(password_path);
  auto output = read_file(output_path);
  if (status != 0)
    throw std::runtime_error("tools/broker-logins " + args + " failed:\n" + output);
  // mosquitto logs this as it re-reads the files, before it handles anything
  // else: a client that connects after the line sees the new logins.
  if (reload
      && !eventually([&] { return count_of(broker_->output(), "Reloading config.") > reloads_before; },
                     5s))
    throw std::runtime_error("mosquitto did not reload:\n" + broker_->output());
  return output;
}

std::string cluster::add_broker_login(const std::string& kind, const std::string& id) {
  static std::mt19937_64 pick{std::random_device{}()};
  auto password = kind + "-" + id + "-" + std::to_string(pick());
  auto output = broker_logins("add " + kind + " " + id + " --password-stdin", password);
  // The script says which username (= client id) the login has.
  std::smatch username;
  if (!std::regex_search(output, username, std::regex{"username: +(\\S+)"}))
    throw std::runtime_error("tools/broker-logins named no username:\n" + output);
  broker_passwords_[username[1]] = password;
  return password;
}

client::session_options cluster::session_options_for(const std::string& client_id) const {
  client::session_options o;
  o.broker = broker_uri();
  o.client_id = client_id;
  if (auto login = broker_passwords_.find(client_id); login != broker_passwords_.end()) {
    o.username = client_id;
    o.password = login->second;
  }
  return o;
}

std::unique_ptr<client::session> cluster::device(const std::string& name, bool connect) {
  auto o = session_options_for("GID_MEETING_DOWN@@@" + name);
  auto s = std::make_unique<client::session>(o);
  if (connect)
    s->connect();
  return s;
}

std::unique_ptr<client::session> cluster::console(const std::string& id) {
  auto o = session_options_for(id);
  o.admin = true;
  o.presence = false;
  auto s = std::make_unique<client::session>(o);
  s->connect();
  return s;
}

void cluster::add_user(const std::string& user, const std::string& password) {
  auto c = console();
  auto r = c->request("admin.user.add", {{"user", user}, {"password", password}});
  if (code_of(r) != 0 && reason_of(r) != "user_exists")
    throw std::runtime_error("admin.user.add failed: " + r.dump());
}

std::unique_ptr<client::session> cluster::logged_in(const std::string& device_name,
                                                    const std::string& user) {
  add_user(user, user + "-password");
  auto d = device(device_name);
  auto r = d->request("auth.login", {{"user", user}, {"password", user + "-password"}});
  if (code_of(r) != 0)
    throw std::runtime_error("auth.login failed: " + r.dump());
  return d;
}

json cluster::join_channel(const json& creds) {
  return emulator_post("/_emulator/join",
                       {{"appid", creds["appid"]},
                        {"channel", creds["channel"]},
                        {"userid", creds["userid"]},
                        {"session", creds["session"]},
                        {"nonce", creds["nonce"]},
                        {"timestamp", creds["timestamp"]},
                        {"token", creds["token"]}});
}

json cluster::emulator_get(const std::string& path) {
  httplib::Client cli{"127.0.0.1", rtc_port_};
  auto res = cli.Get(path.c_str());
  if (!res)
    throw std::runtime_error("emulator GET " + path + " failed");
  return json::parse(res->body, nullptr, false);
}

json cluster::emulator_post(const std::string& path, const json& body) {
  httplib::Client cli{"127.0.0.1", rtc_port_};
  auto res = cli.Post(path.c_str(), body.dump(), "application/json");
  if (!res)
    throw std::runtime_error("emulator POST " + path + " failed");
  auto parsed = json::parse(res->body, nullptr, false);
  parsed["_status"] = res->status;
  return parsed;
}

int cluster::http_port(const std::string& id) const {
  auto i = http_ports_.find(id);
  return i == http_ports_.end() ? 0 : i->second;
}

std::pair<int, std::string> cluster::node_http(const std::string& path,
                                               const std::string& id) const {
  auto i = http_ports_.find(id);
  if (i == http_ports_.end())
    throw std::runtime_error("node " + id + " has no HTTP port of the harness's");
  httplib::Client cli{"127.0.0.1", i->second};
  cli.set_connection_timeout(2);
  cli.set_read_timeout(5);
  auto res = cli.Get(path.c_str());
  if (!res)
    return {-1, httplib::to_string(res.error())};
  return {res->status, res->body};
}

void cluster::emulator_delete(const std::string& path) {
  httplib::Client cli{"127.0.0.1", rtc_port_};
  cli.Delete(path.c_str());
}

} // namespace meetingd::testing
