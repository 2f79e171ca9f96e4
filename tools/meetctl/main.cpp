// meetctl: the admin console (the admin commands of docs/protocol.md) as a
// command-line program.
//
//   meetctl [--broker=tcp://127.0.0.1:1883] [--id=console-1] [--parent-topic=MeetingCtrl]
//           [--username=U] [--password=P] [--timeout=5s] [--json] [--utc] <command>
//
//   ping                                   node, version, uptime
//   stats [--watch [--interval=2s] [--count=N]]
//   nodes                                  the cluster's nodes, their state and leases
//   meetings [--state=active|ended] [--user=U] [--limit=N] [--after=ID] [--all]
//   meeting <id>                           details, participants, invitations
//   end <id> [--reason=R]                  admin.meeting.end
//   kick <id> <user>                       admin.kick
//   mute-all <id> [--video]                admin.mute_all (audio; --video: video too)
//   users [--limit=N] [--after=U] [--all]
//   users add <user> [--display-name=D] [--password=P | --password-stdin]
//   users remove <user>
//
// Global options may come before or after the command; the MQTT login
// (--username/--password, or MQTT_USERNAME/MQTT_PASSWORD) must come before
// `users add`, whose own --password is the new user's. Without --password or
// --password-stdin, `users add` reads the password from stdin (without echo,
// twice, when stdin is a terminal).
//
// The console is one MQTT client with the id --id: it publishes on
// <parent>/admin/<id> and reads its replies on <parent>/p2p/<id>. The broker
// allows one connection per client id, so two meetctl processes with the same
// id at the same time take the connection from each other: give a second
// console (e.g. a long `stats --watch`) an id of its own in --admins.
//
// Exit codes: 0 done; 1 the node answered an error (`error <code> <reason>:
// <message>` on stderr); 2 a usage error; 3 the broker cannot be reached or
// no reply came within --timeout (the message says which and what to check).
// With --json the reply's data is printed as JSON on stdout; an error reply
// is printed there as the whole reply, an exit-3 failure as
// {"type":"meetctl.error","error":{"reason":"broker_unreachable"|"no_reply",..}}.
//
// Commands go out as proto::commands through the wire codec, and each reply
// is decoded as the answer to its command (a reply that does not decode as
// one is an error, exit 1); what is printed is the reply's JSON as it came,
// rendered by render.hpp, which copes with fields missing or of other types.
#include "tools/client/mqtt_session.hpp"
#include "tools/meetctl/render.hpp"

#include <CLI/CLI.hpp>
#include <mosquitto.h>

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace client = meetingd::client;
namespace codec = meetingd::codec;
namespace mc = meetingd::meetctl;
namespace proto = meetingd::proto;
using proto::command_kind;

enum exit_code : int { exit_ok = 0, exit_node_error = 1, exit_usage = 2, exit_unreachable = 3 };

struct global_options {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string id = "console-1";
  std::string parent = "MeetingCtrl";
  std::string username;
  std::string password;
  std::chrono::milliseconds timeout{5000};
  bool json = false;
  bool utc = false;
};

/// Exit 3: the broker cannot be reached, or the node did not reply.
struct unreachable : std::runtime_error {
  unreachable(std::string why, const std::string& message)
    : std::runtime_error(message), reason(std::move(why)) {}
  std::string reason; // broker_unreachable, no_reply
};

/// Exit 1: the node answered with a non-zero code.
struct node_error : std::runtime_error {
  explicit node_error(json r) : std::runtime_error(mc::render_error(r)), reply(std::move(r)) {}
  json reply;
};

/// Exit 2, for what CLI11 cannot check (no password given).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  if (d.count() % 1000 == 0)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(d.count() / 1000));
  else
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string dump(const json& j, int indent = 2) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

// -- what the broker knows about nodes ---------------------------------------------

/// The retained `<parent>/nodes/+` messages: node id -> state ("ready",
/// "stopping", "down"). Used only to explain a missing reply.
std::map<std::string, std::string> probe_nodes(const global_options& g,
                                               std::chrono::milliseconds wait) {
  struct state {
    std::mutex mtx;
    std::condition_variable cv;
    bool connected = false;
    bool subscribed = false;
    std::string prefix;
    std::map<std::string, std::string> nodes;
  } st;
  st.prefix = g.parent + "/nodes/";
  mosquitto_lib_init();
  auto* m = mosquitto_new(nullptr, true, &st);
  if (!m)
    return {};
  if (!g.username.empty())
    mosquitto_username_pw_set(m, g.username.c_str(), g.password.c_str());
  mosquitto_connect_callback_set(m, [](mosquitto* connection, void* p, int rc) {
    auto& s = *static_cast<state*>(p);
    if (rc == 0) {
      auto topic = s.prefix + "+";
      mosquitto_subscribe(connection, nullptr, topic.c_str(), 0);
    }
    std::lock_guard<std::mutex> guard{s.mtx};
    s.connected = rc == 0;
    s.cv.notify_all();
  });
  mosquitto_subscribe_callback_set(m, [](mosquitto*, void* p, int, int, const int*) {
    auto& s = *static_cast<state*>(p);
    std::lock_guard<std::mutex> guard{s.mtx};
    s.subscribed = true;
    s.cv.notify_all();
  });
  mosquitto_message_callback_set(m, [](mosquitto*, void* p, const mosquitto_message* msg) {
    auto& s = *static_cast<state*>(p);
    std::string topic = msg->topic;
    std::string payload{static_cast<const char*>(msg->payload),
                        static_cast<std::size_t>(msg->payloadlen)};
    auto status = codec::decode_node_status(payload);
    std::string node = topic.substr(std::min(topic.size(), s.prefix.size()));
    std::lock_guard<std::mutex> guard{s.mtx};
    if (!payload.empty())
      s.nodes[node] = status ? status->state : "unknown";
  });
  auto uri = g.broker;
  if (auto at = uri.find("://"); at != std::string::npos)
    uri = uri.substr(at + 3);
  auto colon = uri.rfind(':');
  std::string host = colon == std::string::npos ? uri : uri.substr(0, colon);
  int port = colon == std::string::npos ? 1883 : std::atoi(uri.c_str() + colon + 1);
  std::map<std::string, std::string> result;
  if (mosquitto_connect_async(m, host.c_str(), port, 10) == MOSQ_ERR_SUCCESS
      && mosquitto_loop_start(m) == MOSQ_ERR_SUCCESS) {
    std::unique_lock<std::mutex> lock{st.mtx};
    if (st.cv.wait_for(lock, wait, [&] { return st.subscribed; })) {
      // Retained messages follow the SUBACK at once; give them a moment.
      lock.unlock();
      std::this_thread::sleep_for(200ms);
      lock.lock();
    }
    result = st.nodes;
    lock.unlock();
    mosquitto_disconnect(m);
    // Not forced: the thread ends after the DISCONNECT, cancelling it could
    // leave a libmosquitto mutex locked for mosquitto_destroy.
    mosquitto_loop_stop(m, false);
  }
  mosquitto_destroy(m);
  return result;
}

// -- the console session -------------------------------------------------------------

bool mutating(command_kind kind) {
  return kind == command_kind::admin_meeting_end || kind == command_kind::admin_kick
         || kind == command_kind::admin_mute_all || kind == command_kind::admin_user_add
         || kind == command_kind::admin_user_remove || kind == command_kind::admin_mute
         || kind == command_kind::admin_unmute || kind == command_kind::admin_lock
         || kind == command_kind::admin_unlock;
}

proto::command command(command_kind kind) {
  proto::command c;
  c.kind = kind;
  return c;
}

/// The reply's data as it came, for printing.
json data_of(const client::answer& a) {
  auto d = a.wire.find("data");
  return d != a.wire.end() && !d->is_null() ? *d : json::object();
}

class console {
public:
  explicit console(const global_options& g) : g_(g) {}

  /// Sends an admin command and returns its reply. Throws `unreachable` (no
  /// broker, no reply) or `node_error` (code != 0, or not a reply to it).
  client::answer call(const proto::command& cmd) {
    connect();
    std::string type = proto::to_string(cmd.kind);
    std::string id;
    try {
      id = session_->send(cmd);
    } catch (const std::exception& e) {
      session_.reset();
      throw unreachable("broker_unreachable", "meetctl: lost the broker at " + g_.broker
                                                + " while sending " + type + ": " + e.what());
    }
    std::optional<client::answer> a;
    try {
      a = session_->wait_answer(id, g_.timeout);
    } catch (const client::malformed_message& e) {
      throw node_error(e.wire);
    }
    if (!a)
      throw unreachable("no_reply", no_reply_message(cmd.kind));
    if (a->reply.code != 0)
      throw node_error(a->wire);
    return std::move(*a);
  }

  /// Forgets the connection; the next call connects afresh.
  void reset() {
    session_.reset();
  }

private:
  void connect() {
    if (session_)
      return;
    client::session_options o;
    o.broker = g_.broker;
    o.client_id = g_.id;
    o.parent = g_.parent;
    o.admin = true;
    o.presence = false;
    o.username = g_.username;
    o.password = g_.password;
    auto s = std::make_unique<client::session>(o);
    try {
      s->connect(g_.timeout);
    } catch (const std::exception& e) {
      throw unreachable(
        "broker_unreachable",
        "meetctl: cannot reach the broker at " + g_.broker + " as " + g_.id + ": " + e.what()
          + "\n  check: is the MQTT broker running there (--broker, MEETCTL_BROKER)? does it "
            "need a login (--username/--password, MQTT_USERNAME/MQTT_PASSWORD)?");
    }
    session_ = std::move(s);
  }

  std::string no_reply_message(command_kind kind) const {
    std::string type = proto::to_string(kind);
    std::string out = "meetctl: no reply to " + type + " from the node within "
                      + seconds_text(g_.timeout) + " (broker " + g_.broker + ", topic "
                      + g_.parent + "/admin/" + g_.id + ")\n";
    auto nodes = probe_nodes(g_, std::min<std::chrono::milliseconds>(g_.timeout, 2s));
    std::string ready;
    std::string others;
    for (const auto& [node, state] : nodes) {
      auto& into = state == "ready" ? ready : others;
      into += (into.empty() ? "" : ", ") + node + (state == "ready" ? "" : " (" + state + ")");
    }
    if (!ready.empty())
      out += "  node " + ready + " says it is ready on " + g_.parent
             + "/nodes/+, but did not answer.\n  check: is '" + g_.id
             + "' in its --admins, and may it publish on " + g_.parent + "/admin/" + g_.id
             + " (broker ACL)? is the node overloaded (try a longer --timeout)?";
    else
      out += "  " + (others.empty() ? "no node has announced itself on " + g_.parent + "/nodes/+"
                                    : "no node is ready; last heard: " + others)
             + ".\n  check: is meetingd running, connected to " + g_.broker
             + " with --parent-topic=" + g_.parent + "? is '" + g_.id + "' in its --admins?";
    if (mutating(kind))
      out += "\n  note: the node may still carry out this " + type
             + " when it comes back (it keeps its broker session).";
    return out;
  }

  const global_options& g_;
  std::unique_ptr<client::session> session_;
};

// -- output ------------------------------------------------------------------------

mc::render_options render_opts(const global_options& g) {
  mc::render_options o;
  o.utc = g.utc;
  o.now = static_cast<std::int64_t>(std::time(nullptr));
  return o;
}

void print_json(const json& j) {
  std::cout << dump(j) << std::endl;
}

/// Prints `text` (human mode) or `data` (--json).
void print(const global_options& g, const json& data, const std::string& text) {
  if (g.json)
    print_json(data);
  else
    std::cout << text << std::flush;
}

// -- stdin passwords ---------------------------------------------------------------

termios saved_termios;
volatile sig_atomic_t echo_off = 0;

void restore_echo_and_exit(int sig) {
  if (echo_off)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  const char nl = '\n';
  (void)!write(STDERR_FILENO, &nl, 1);
  _exit(128 + sig);
}

std::string read_line_no_echo(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios t{};
  bool tty = tcgetattr(STDIN_FILENO, &t) == 0;
  struct sigaction sa {}, old_int {}, old_term {};
  if (tty) {
    saved_termios = t;
    sa.sa_handler = restore_echo_and_exit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    echo_off = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    echo_off = 0;
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
  if (!got)
    throw usage_error("no password given (stdin ended)");
  return line;
}

/// The new user's password from stdin: prompted twice without echo on a
/// terminal, else the first line.
std::string read_password(const std::string& user) {
  if (isatty(STDIN_FILENO)) {
    auto first = read_line_no_echo("password for " + user + ": ");
    auto again = read_line_no_echo("again: ");
    if (first != again)
      throw usage_error("the passwords do not match");
    if (first.empty())
      throw usage_error("no password given");
    return first;
  }
  std::string line;
  if (!std::getline(std::cin, line))
    throw usage_error("no password on stdin (pipe one line, or use --password)");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  if (line.empty())
    throw usage_error("the password read from stdin is empty");
  return line;
}

// -- stats --watch -----------------------------------------------------------------

volatile sig_atomic_t interrupted = 0;

void on_interrupt(int) {
  interrupted = 1;
}

void sleep_interruptibly(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!interrupted && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
      50ms, std::chrono::duration_cast<std::chrono::milliseconds>(
              until - std::chrono::steady_clock::now())
              + 1ms));
}

int watch_stats(const global_options& g, console& con, std::chrono::milliseconds interval,
                int count) {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND; // a second Ctrl-C kills at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  bool tty = !g.json && isatty(STDOUT_FILENO);
  int last = exit_ok;
  bool connected_once = false;
  for (int n = 1; !interrupted; ++n) {
    std::string block;
    json data;
    try {
      data = data_of(con.call(command(command_kind::admin_stats)));
      connected_once = true;
      last = exit_ok;
      block = mc::render_stats(data);
    } catch (const unreachable& e) {
      // The very first connection failing is a setup problem: stop. Later
      // the node or broker may be restarting: say so and keep watching.
      if (!connected_once && e.reason == "broker_unreachable")
        throw;
      con.reset();
      last = exit_unreachable;
      data = json{{"type", "meetctl.error"},
                  {"error", {{"reason", e.reason}, {"message", e.what()}}}};
      block = std::string{e.what()} + "\n  (still watching)\n";
    }
    auto stamp = mc::format_time_full(static_cast<std::int64_t>(std::time(nullptr)), g.utc);
    if (g.json) {
      std::cout << dump(data, -1) << std::endl;
    } else if (tty) {
      std::cout << "\033[H\033[2J"
                << "stats at " << stamp << "  (every " << seconds_text(interval)
                << "; Ctrl-C to stop)\n\n"
                << block << std::flush;
    } else {
      std::cout << (n > 1 ? "\n" : "") << "stats at " << stamp << "\n" << block << std::flush;
    }
    if (count > 0 && n >= count)
      break;
    sleep_interruptibly(interval);
  }
  return last;
}

// -- options -----------------------------------------------------------------------

CLI::Validator duration_validator() {
  return CLI::Validator(
    [](std::string& s) -> std::string {
      std::chrono::milliseconds ms{};
      if (!mc::parse_duration(s, ms))
        return "not a duration: '" + s + "' (write e.g. 500ms, 5s, 2min)";
      if (ms.count() <= 0)
        return "must be more than 0";
      return {};
    },
    "DURATION");
}

CLI::Validator broker_validator() {
  return CLI::Validator(
    [](std::string& s) -> std::string {
      static const std::regex form{R"(^((tcp|mqtt)://)?[^:/\s]+(:[0-9]{1,5})?$)"};
      if (!std::regex_match(s, form))
        return "not a broker address: '" + s + "' (write tcp://HOST:PORT; TLS is not supported)";
      auto colon = s.rfind(':');
      if (colon != std::string::npos && s.find("://") != colon) {
        auto port = std::atoi(s.c_str() + colon + 1);
        if (port < 1 || port > 65535)
          return "port out of range in '" + s + "'";
      }
      return {};
    },
    "URI");
}

CLI::Validator client_id_validator() {
  return CLI::Validator(
    [](std::string& s) -> std::string {
      static const std::regex form{R"(^[^/+#\s]{1,128}$)"};
      if (!std::regex_match(s, form))
        return "not a client id: '" + s + "' (no '/', '+', '#' or spaces)";
      return {};
    },
    "ID");
}

std::chrono::milliseconds duration_of(const std::string& s) {
  std::chrono::milliseconds ms{};
  mc::parse_duration(s, ms);
  return ms;
}

/// Where the next page of a list reply starts, if there is one.
std::optional<std::string> next_after(const proto::reply_data& data) {
  if (auto m = std::get_if<proto::meetings_page>(&data))
    return m->next_after;
  if (auto u = std::get_if<proto::users_page>(&data))
    return u->next_after;
  return std::nullopt;
}

/// Fetches every page of a list command (following next_after) into one.
json all_pages(console& con, proto::command cmd, const char* key) {
  json merged = json::object();
  merged[key] = json::array();
  std::optional<std::string> last;
  for (;;) {
    auto a = con.call(cmd);
    auto page = data_of(a);
    if (page.contains(key) && page[key].is_array())
      for (auto& x : page[key])
        merged[key].push_back(x);
    auto next = next_after(a.reply.data);
    if (!next)
      break;
    if (last && *last == *next) // a node that does not advance: stop, do not loop
      break;
    last = next;
    cmd.after = *next;
  }
  return merged;
}

void hint_more(const global_options& g, const proto::reply_data& page, const char* what) {
  auto next = next_after(page);
  if (g.json || !next)
    return;
  std::cerr << "(more " << what << " after " << mc::sanitize(*next) << ": use --all, or --after="
            << mc::sanitize(*next) << ")\n";
}

/// Prints a list command's reply: every page with `all`, else one and a
/// hint on stderr when more follow.
template <class Render>
void print_list(const global_options& g, console& con, const proto::command& cmd, bool all,
                const char* key, Render render) {
  if (all) {
    auto d = all_pages(con, cmd, key);
    print(g, d, render(d, render_opts(g)));
    return;
  }
  auto a = con.call(cmd);
  auto d = data_of(a);
  print(g, d, render(d, render_opts(g)));
  hint_more(g, a.reply.data, key);
}

} // namespace

int main(int argc, char** argv) {
  global_options g;
  std::string timeout = "5s";

  CLI::App app{"meetctl: the meetingd admin console (docs/protocol.md).\n"
               "Exit codes: 0 done, 1 the node answered an error, 2 usage error, "
               "3 broker unreachable or no reply."};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.fallthrough(); // global options also after the command
  app.require_subcommand(1);
  app.add_option("--broker", g.broker, "MQTT broker, tcp://HOST:PORT")
    ->envname("MEETCTL_BROKER")
    ->check(broker_validator())
    ->capture_default_str();
  app.add_option("--id", g.id, "the console's MQTT client id (must be in the node's --admins)")
    ->envname("MEETCTL_ID")
    ->check(client_id_validator())
    ->capture_default_str();
  app.add_option("--parent-topic", g.parent, "the node's parent topic")->capture_default_str();
  app.add_option("--username,--mqtt-username", g.username,
                 "MQTT login, if the broker requires one (give it before the command)")
    ->envname("MQTT_USERNAME");
  app.add_option("--password,--mqtt-password", g.password,
                 "MQTT password (prefer the environment; give it before the command)")
    ->envname("MQTT_PASSWORD");
  app.add_option("--timeout", timeout, "how long to wait for the broker and for each reply")
    ->check(duration_validator())
    ->capture_default_str();
  app.add_flag("--json", g.json, "print the reply's data as JSON (for scripts)");
  app.add_flag("--utc", g.utc, "show times in UTC instead of the local time zone");

  // ping
  auto* ping = app.add_subcommand("ping", "the node's id, version and uptime");

  // stats
  auto* stats = app.add_subcommand("stats", "counts, command rate and latency, RTC and store");
  bool watch = false;
  std::string interval = "2s";
  int count = 0;
  stats->add_flag("--watch,-w", watch, "refresh until Ctrl-C");
  auto* interval_opt = stats->add_option("--interval", interval, "refresh interval with --watch")
                         ->check(duration_validator())
                         ->capture_default_str();
  auto* count_opt = stats->add_option("--count", count, "stop after N refreshes (with --watch)")
                      ->check(CLI::PositiveNumber);

  // nodes
  auto* nodes = app.add_subcommand("nodes", "the cluster's nodes: state, shards, lease, load");

  // meetings
  auto* meetings = app.add_subcommand("meetings", "list meetings");
  std::string m_state, m_user, m_after;
  int m_limit = 0;
  bool m_all = false;
  meetings->add_option("--state", m_state, "active or ended")
    ->check(CLI::IsMember({"active", "ended"}));
  meetings->add_option("--user", m_user, "only meetings this user hosts or is part of");
  meetings->add_option("--limit", m_limit, "page size (1-1000; the node's default if not given)")
    ->check(CLI::Range(1, 1000));
  meetings->add_option("--after", m_after, "start after this meeting id (the next page)");
  meetings->add_flag("--all", m_all, "follow the pages to the end");

  // meeting <id>
  auto* meeting = app.add_subcommand("meeting", "one meeting: details, participants, invitations");
  std::string meeting_id;
  meeting->add_option("id", meeting_id, "meeting id")->required();

  // end <id>
  auto* end = app.add_subcommand("end", "end a meeting (everyone gets event.ended, reason admin)");
  std::string end_id, end_reason;
  end->add_option("id", end_id, "meeting id")->required();
  end->add_option("--reason", end_reason, "why, for the node's log");

  // kick <id> <user>
  auto* kick = app.add_subcommand("kick", "remove a user from a meeting (they cannot rejoin)");
  std::string kick_id, kick_user;
  kick->add_option("id", kick_id, "meeting id")->required();
  kick->add_option("user", kick_user, "user id")->required();

  // mute-all <id>
  auto* mute_all = app.add_subcommand("mute-all", "ask every member (not hosts) to mute");
  std::string mute_id;
  bool mute_video = false;
  mute_all->add_option("id", mute_id, "meeting id")->required();
  mute_all->add_flag("--video", mute_video, "turn off video too");

  // mute <id> <user> [--video] [--undo]
  auto* mute = app.add_subcommand("mute", "ask one participant to mute (--undo: to unmute)");
  std::string mute_one_id, mute_one_user;
  bool mute_one_video = false, mute_undo = false;
  mute->add_option("id", mute_one_id, "meeting id")->required();
  mute->add_option("user", mute_one_user, "user id")->required();
  mute->add_flag("--video", mute_one_video, "video too");
  mute->add_flag("--undo", mute_undo, "ask to unmute instead");

  // lock <id>, unlock <id>
  auto* lock = app.add_subcommand("lock", "lock a meeting: only invitees and earlier participants may join");
  std::string lock_id;
  lock->add_option("id", lock_id, "meeting id")->required();
  auto* unlock = app.add_subcommand("unlock", "unlock a meeting");
  std::string unlock_id;
  unlock->add_option("id", unlock_id, "meeting id")->required();

  // users [add|remove]
  auto* users = app.add_subcommand("users", "list users; `users add`, `users remove`");
  users->require_subcommand(0, 1);
  int u_limit = 0;
  std::string u_after;
  bool u_all = false;
  users->add_option("--limit", u_limit, "page size (1-1000)")->check(CLI::Range(1, 1000));
  users->add_option("--after", u_after, "start after this user id (the next page)");
  users->add_flag("--all", u_all, "follow the pages to the end");
  auto* users_add = users->add_subcommand("add", "add a user who logs in with a password");
  std::string add_user, add_display, add_password;
  bool add_password_stdin = false;
  users_add->add_option("user", add_user, "user id")->required();
  users_add->add_option("--display-name", add_display, "the name others see");
  auto* pw_opt = users_add->add_option(
    "--password", add_password, "the password (visible in the process list: prefer stdin)");
  users_add->add_flag("--password-stdin", add_password_stdin, "read the password from stdin")
    ->excludes(pw_opt);
  auto* users_remove = users->add_subcommand("remove", "remove a user");
  std::string remove_user;
  users_remove->add_option("user", remove_user, "user id")->required();

  try {
    app.parse(argc, argv);
    if ((interval_opt->count() > 0 || count_opt->count() > 0) && !watch)
      throw CLI::ValidationError("--interval/--count", "only with --watch");
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as "A subcommand is required": name it.
    if (e.get_exit_code() != 0 && app.get_subcommands().empty() && !app.remaining().empty()) {
      std::cerr << "meetctl: unknown command '" << mc::sanitize(app.remaining().front())
                << "' (commands: ping, stats, nodes, meetings, meeting, end, kick, mute-all, users)\n"
                << "Run with --help for more information." << std::endl;
      return exit_usage;
    }
    auto rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  g.timeout = duration_of(timeout);

  console con{g};
  try {
    if (*ping) {
      auto d = data_of(con.call(command(command_kind::admin_ping)));
      print(g, d, mc::render_ping(d));
    } else if (*stats) {
      if (watch)
        return watch_stats(g, con, duration_of(interval), count);
      auto d = data_of(con.call(command(command_kind::admin_stats)));
      print(g, d, mc::render_stats(d));
    } else if (*nodes) {
      auto d = data_of(con.call(command(command_kind::admin_nodes)));
      print(g, d, mc::render_nodes(d, render_opts(g)));
    } else if (*meetings) {
      auto c = command(command_kind::admin_meetings_list);
      if (!m_state.empty())
        c.state = meetingd::parse_meeting_status(m_state);
      c.user = m_user;
      if (m_limit > 0)
        c.limit = m_limit;
      if (!m_after.empty())
        c.after = m_after;
      print_list(g, con, c, m_all, "meetings", mc::render_meetings);
    } else if (*meeting) {
      auto c = command(command_kind::admin_meeting_get);
      c.meeting = meeting_id;
      auto d = data_of(con.call(c));
      print(g, d, mc::render_meeting(d, render_opts(g)));
    } else if (*end) {
      auto c = command(command_kind::admin_meeting_end);
      c.meeting = end_id;
      if (!end_reason.empty())
        c.reason = end_reason;
      auto d = data_of(con.call(c));
      print(g, d, "ended meeting " + mc::sanitize(end_id) + "\n");
    } else if (*kick) {
      auto c = command(command_kind::admin_kick);
      c.meeting = kick_id;
      c.user = kick_user;
      auto d = data_of(con.call(c));
      print(g, d, "kicked " + mc::sanitize(kick_user) + " from " + mc::sanitize(kick_id) + "\n");
    } else if (*mute_all) {
      auto c = command(command_kind::admin_mute_all);
      c.meeting = mute_id;
      c.audio = true;
      if (mute_video)
        c.video = true;
      auto d = data_of(con.call(c));
      print(g, d,
            "asked the members of " + mc::sanitize(mute_id) + " to mute audio"
              + (mute_video ? " and video" : "") + "\n");
    } else if (*mute) {
      auto c = command(mute_undo ? command_kind::admin_unmute : command_kind::admin_mute);
      c.meeting = mute_one_id;
      c.user = mute_one_user;
      c.audio = true;
      if (mute_one_video)
        c.video = true;
      auto d = data_of(con.call(c));
      print(g, d,
            "asked " + mc::sanitize(mute_one_user) + " in " + mc::sanitize(mute_one_id) + " to "
              + (mute_undo ? "unmute" : "mute") + " audio" + (mute_one_video ? " and video" : "")
              + "\n");
    } else if (*lock || *unlock) {
      auto c = command(*lock ? command_kind::admin_lock : command_kind::admin_unlock);
      c.meeting = *lock ? lock_id : unlock_id;
      auto d = data_of(con.call(c));
      print(g, d, std::string{*lock ? "locked " : "unlocked "} + mc::sanitize(c.meeting) + "\n");
    } else if (*users_add) {
      auto c = command(command_kind::admin_user_add);
      c.user = add_user;
      c.password = add_password;
      if (pw_opt->count() == 0)
        c.password = read_password(add_user); // --password-stdin, or neither given
      if (!add_display.empty())
        c.display_name = add_display;
      auto d = data_of(con.call(c));
      print(g, d, "added user " + mc::sanitize(add_user) + "\n");
    } else if (*users_remove) {
      auto c = command(command_kind::admin_user_remove);
      c.user = remove_user;
      auto d = data_of(con.call(c));
      print(g, d, "removed user " + mc::sanitize(remove_user) + "\n");
    } else if (*users) {
      auto c = command(command_kind::admin_users_list);
      if (u_limit > 0)
        c.limit = u_limit;
      if (!u_after.empty())
        c.after = u_after;
      print_list(g, con, c, u_all, "users", mc::render_users);
    }
  } catch (const node_error& e) {
    if (g.json)
      print_json(e.reply);
    std::cerr << e.what() << std::endl;
    return exit_node_error;
  } catch (const unreachable& e) {
    if (g.json)
      print_json(json{{"type", "meetctl.error"},
                      {"error", {{"reason", e.reason}, {"message", e.what()}}}});
    std::cerr << e.what() << std::endl;
    return exit_unreachable;
  } catch (const usage_error& e) {
    std::cerr << "meetctl: " << e.what() << std::endl;
    return exit_usage;
  }
  return exit_ok;
}
