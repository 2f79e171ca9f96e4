// call-demo: plays the seed's call (seed-rtc-lmq-call.md) between simulated
// devices against a running broker, meetingd and rtc-emulator, and prints
// every MQTT message as it flows, so a person can watch a call.
//
//   call-demo [--broker=tcp://127.0.0.1:1883] [--rtc-endpoint=http://127.0.0.1:8090]
//             [--parent-topic=MeetingCtrl] [--console=console-1] [--pace=400ms]
//             [--timeout=5s] [--color=auto|always|never] [--quiet]
//
// The story: the console adds alice and bob; alice-phone, bob-phone and
// bob-laptop come online and log in; alice calls bob; both of bob's devices
// ring; the laptop answers, the phone is told; alice and bob enter the RTC
// channel (the emulator verifies their tokens); bob leaves and rejoins with a
// new session and token; alice mutes bob (if the node knows moderate.mute);
// alice ends the meeting and the channel is deleted at the RTC service.
//
// Exit codes: 0 every expected reply and event arrived; 1 something was
// missing or refused (the last line says what); 2 a bad option, or the
// broker or the RTC emulator cannot be reached (the line says which).
//
// The devices speak through tools/client's typed API, so what they send is
// encoded and what they read decoded by the node's own wire codec; the
// printer shows each message as it went over the wire.
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/duration_text.hpp"
#include "tools/call_demo/printer.hpp"
#include "tools/client/mqtt_session.hpp"

namespace {

using namespace std::chrono_literals;
using meetingd::call_demo::printer;
using json = nlohmann::json;
namespace client = meetingd::client;
namespace demo_ns = meetingd::call_demo;
namespace proto = meetingd::proto;
using proto::command_kind;
using proto::event_kind;

constexpr const char* device_prefix = "GID_MEETING_DOWN@@@";

struct options {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string rtc_endpoint = "http://127.0.0.1:8090";
  std::string parent = "MeetingCtrl";
  std::string console = "console-1";
  std::chrono::milliseconds pace{400};
  std::chrono::milliseconds timeout{5000};
  bool quiet = false;
};

/// Something expected did not happen: the demo stops and says what.
struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The broker or the RTC emulator cannot be reached: exit 2.
struct unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string str(const json& j, const char* key) {
  if (j.is_object()) {
    auto i = j.find(key);
    if (i != j.end() && i->is_string())
      return i->get<std::string>();
  }
  return {};
}

std::string describe_error(const proto::reply& r) {
  std::string out = std::to_string(r.code);
  if (r.code != 0) {
    out += " " + r.reason;
    if (!r.message.empty())
      out += " (" + r.message + ")";
  }
  return out;
}

proto::command command(command_kind kind, const std::string& meeting = {}) {
  proto::command c;
  c.kind = kind;
  c.meeting = meeting;
  return c;
}

std::string short_secret(const std::string& s) {
  return s.size() > 12 ? s.substr(0, 8) + "…" : s;
}

class demo {
public:
  demo(options opts, printer& out) : opts_(std::move(opts)), out_(out) {}

  ~demo() {
    for (auto& [name, s] : sessions_)
      if (s->connected())
        s->disconnect();
  }

  /// Plays the story; throws failure or unreachable.
  void run() {
    check_rtc();
    step1_users();
    step2_devices();
    step3_create();
    step4_ring();
    step5_accept();
    step6_enter_channel();
    step7_rejoin();
    step8_mute();
    step9_end();
  }

  /// After a failure: end the meeting if it was created and is still on, so
  /// that a rerun finds bob free and the RTC channel gone. Never throws.
  void cleanup() {
    try {
      if (!meeting_.empty() && !ended_ && sessions_.count("alice-phone")
          && sessions_["alice-phone"]->connected()) {
        out_.heading(0, "cleanup: alice ends the meeting so that a rerun starts clean");
        auto& alice = *sessions_["alice-phone"];
        auto id = alice.send(command(command_kind::meeting_end, meeting_));
        if (auto r = alice.wait_answer(id, opts_.timeout))
          out_.wait_printed("alice-phone", r->wire);
      }
    } catch (const std::exception&) {
    }
    disconnect_all();
  }

private:
  // -- plumbing ---------------------------------------------------------------

  void step(int n, const std::string& title) {
    if (n > 1 && opts_.pace.count() > 0 && !opts_.quiet) // nobody watches a quiet run
      std::this_thread::sleep_for(opts_.pace);
    step_ = n;
    out_.heading(n, title);
  }

  [[noreturn]] void fail(const std::string& what) {
    throw failure("step " + std::to_string(step_) + ": " + what);
  }

  client::session& connect(const std::string& name, bool admin) {
    client::session_options o;
    o.broker = opts_.broker;
    o.parent = opts_.parent;
    o.client_id = admin ? name : device_prefix + name;
    o.admin = admin;
    o.presence = !admin;
    auto s = std::make_unique<client::session>(o);
    s->on_traffic([this, name](const client::traffic& t) {
      out_.message(name, t.outgoing, t.topic, t.payload);
    });
    try {
      s->connect(opts_.timeout);
    } catch (const std::exception& e) {
      throw unreachable(std::string{"cannot reach the broker (--broker="} + opts_.broker
                        + ") as " + o.client_id + ": " + e.what());
    }
    auto& ref = *s;
    sessions_[name] = std::move(s);
    return ref;
  }

  client::session& device(const std::string& name) {
    return *sessions_.at(name);
  }

  /// Sends a command and waits for its reply; fails on no reply, on one
  /// that is not a reply to it, and on a non-zero code unless `accept_error`.
  client::answer request(const std::string& name, const proto::command& cmd,
                         bool accept_error = false) {
    auto& s = device(name);
    std::string type = proto::to_string(cmd.kind);
    auto id = s.send(cmd);
    std::optional<client::answer> reply;
    try {
      reply = s.wait_answer(id, opts_.timeout);
    } catch (const client::malformed_message& e) {
      out_.wait_printed(name, e.wire);
      fail(name + "'s " + type + " got an answer that is no reply to it: " + e.wire.dump());
    }
    if (!reply) {
      std::string hint;
      if (!node_answered_)
        hint = " (is meetingd running, connected to " + opts_.broker + " with --parent-topic="
               + opts_.parent + (name == opts_.console ? " and --admins=" + opts_.console : "")
               + "?)";
      fail(name + " got no reply to " + type + " within " + seconds_text(opts_.timeout) + hint);
    }
    node_answered_ = true;
    out_.wait_printed(name, reply->wire);
    if (!accept_error && reply->reply.code != 0)
      fail(name + "'s " + type + " was refused: " + describe_error(reply->reply));
    return std::move(*reply);
  }

  /// Waits for an event of this meeting (about `user`, if given); fails if
  /// it does not come.
  proto::event expect_event(const std::string& name, event_kind kind,
                            const std::string& user = {}) {
    std::string type = proto::to_string(kind);
    std::optional<client::incoming_event> ev;
    try {
      ev = device(name).wait_event(kind, opts_.timeout);
    } catch (const client::malformed_message& e) {
      out_.wait_printed(name, e.wire);
      fail(name + " got a malformed " + type + ": " + e.wire.dump());
    }
    if (!ev)
      fail(name + " did not get " + type + " within " + seconds_text(opts_.timeout));
    out_.wait_printed(name, ev->wire);
    if (ev->event.meeting != meeting_)
      fail(name + " got " + type + " for meeting '" + ev->event.meeting + "', expected '"
           + meeting_ + "'");
    if (!user.empty() && ev->event.user != user)
      fail(name + " got " + type + " about '" + ev->event.user + "', expected '" + user + "'");
    return std::move(ev->event);
  }

  httplib::Client http() {
    httplib::Client cli{opts_.rtc_endpoint};
    cli.set_connection_timeout(opts_.timeout);
    cli.set_read_timeout(opts_.timeout);
    cli.set_write_timeout(opts_.timeout);
    return cli;
  }

  void check_rtc() {
    auto cli = http();
    auto res = cli.Get("/_emulator/health");
    if (!res)
      throw unreachable("cannot reach the RTC emulator (--rtc-endpoint=" + opts_.rtc_endpoint
                        + "): " + httplib::to_string(res.error()));
    if (res->status != 200)
      throw unreachable("--rtc-endpoint=" + opts_.rtc_endpoint
                        + " is not an rtc-emulator: GET /_emulator/health answered "
                        + std::to_string(res->status));
  }

  /// POSTs the RTC emulator's control endpoint on behalf of a device.
  std::pair<int, json> rtc_post(const std::string& who, const std::string& path,
                                const json& body) {
    out_.http(who, true, "POST " + path, body);
    auto cli = http();
    auto res = cli.Post(path, body.dump(), "application/json");
    if (!res)
      fail("the RTC emulator did not answer POST " + path + ": "
           + httplib::to_string(res.error()));
    auto parsed = json::parse(res->body, nullptr, false);
    if (parsed.is_discarded())
      parsed = res->body;
    out_.http(who, false, std::to_string(res->status), parsed);
    return {res->status, parsed};
  }

  /// The device enters the RTC channel with its credentials: the emulator
  /// checks the token against the channel key it issued (docs/protocol.md,
  /// "Join credentials").
  void enter_channel(const std::string& device_name, const std::string& user,
                     const proto::credentials& creds) {
    auto [status, body] = rtc_post(device_name, "/_emulator/join",
                                   {{"appid", creds.appid},
                                    {"channel", creds.channel},
                                    {"userid", creds.userid},
                                    {"session", creds.session},
                                    {"nonce", creds.nonce},
                                    {"timestamp", creds.timestamp},
                                    {"token", creds.token}});
    if (status != 200) {
      auto why = std::to_string(status) + " " + str(body, "Code") + ": " + str(body, "Message");
      out_.note(user + "'s token refused by RTC: " + why, printer::tone::bad);
      fail("the RTC service refused " + user + "'s token: " + why);
    }
    out_.note(user + " (" + device_name + ") token verified by RTC, scheme "
                  + str(body, "scheme") + ", session " + creds.session,
              printer::tone::ok);
  }

  void disconnect_all() {
    for (auto& [name, s] : sessions_)
      if (s->connected())
        s->disconnect();
  }

  // -- the story --------------------------------------------------------------

  void step1_users() {
    connect(opts_.console, true); // first: an unreachable broker is said before anything
    step(1, opts_.console + " creates the users alice and bob");
    for (auto user : {"alice", "bob"}) {
      auto add = command(command_kind::admin_user_add);
      add.user = user;
      add.password = password(user);
      auto r = request(opts_.console, add, true).reply;
      if (r.code == 0)
        out_.note(std::string{"user "} + user + " created", printer::tone::ok);
      else if (r.reason == "user_exists")
        out_.note(std::string{"user "} + user + " exists already (a previous run): fine");
      else
        fail(opts_.console + "'s admin.user.add " + user + " was refused: " + describe_error(r));
    }
  }

  static std::string password(const std::string& user) {
    return user + "-password";
  }

  void step2_devices() {
    step(2, "devices connect (presence online) and log in");
    const std::vector<std::pair<std::string, std::string>> devs{
        {"alice-phone", "alice"}, {"bob-phone", "bob"}, {"bob-laptop", "bob"}};
    for (auto& [name, user] : devs)
      connect(name, false);
    for (auto& [name, user] : devs) {
      auto login = command(command_kind::auth_login);
      login.user = user;
      login.password = password(user);
      auto r = request(name, login, true).reply;
      if (r.code != 0) {
        std::string hint =
          r.reason == "bad_credentials" ? " (the user existed with another password?)" : "";
        fail(name + "'s auth.login as " + user + " was refused: " + describe_error(r) + hint);
      }
      out_.note(name + " is logged in as " + user, printer::tone::ok);
    }
  }

  void step3_create() {
    step(3, "alice creates the meeting \"demo call\" and invites bob");
    auto create = command(command_kind::meeting_create);
    create.title = "demo call";
    create.users = {"bob"};
    auto r = request("alice-phone", create);
    const auto& data = std::get<proto::create_data>(r.reply.data);
    meeting_ = data.meeting;
    channel_ = data.channel;
    alice_creds_ = data.creds;
    if (meeting_.empty() || alice_creds_.token.empty())
      fail("meeting.create answered without meeting or credentials: " + r.wire.dump());
    out_.note("meeting " + meeting_ + ", RTC channel " + channel_ + ", alice's session "
              + alice_creds_.session);
    std::string list;
    std::optional<std::string> bob;
    for (const auto& [user, state] : data.invitations) {
      list += (list.empty() ? "" : ", ") + user + ": " + state;
      if (user == "bob")
        bob = state;
    }
    out_.note("invitations: " + (list.empty() ? std::string{"(none)"} : list));
    if (bob != "ringing")
      fail("bob's invitation is '" + (bob ? json(*bob).dump() : std::string{"missing"})
           + "', expected 'ringing'" + (bob == "busy" ? " (bob is still in an earlier meeting)" : ""));
  }

  void step4_ring() {
    step(4, "both of bob's devices ring; bob-phone shows the call");
    for (auto name : {"bob-phone", "bob-laptop"}) {
      auto ev = expect_event(name, event_kind::invite);
      if (ev.from != "alice")
        fail(std::string{name} + "'s event.invite is from '" + ev.from + "', expected 'alice'");
      out_.note(std::string{name} + " rings: \"" + ev.title + "\" from alice");
    }
    request("bob-phone", command(command_kind::call_ringing, meeting_));
    expect_event("alice-phone", event_kind::ringing, "bob");
    out_.note("alice hears it ringing at bob's", printer::tone::ok);
  }

  void step5_accept() {
    step(5, "bob-laptop accepts; bob-phone stops ringing");
    auto r = request("bob-laptop", command(command_kind::call_accept, meeting_));
    bob_creds_ = std::get<proto::credentials_data>(r.reply.data).creds;
    if (bob_creds_.token.empty())
      fail("call.accept answered without credentials: " + r.wire.dump());
    expect_event("alice-phone", event_kind::accepted, "bob");
    expect_event("alice-phone", event_kind::joined, "bob");
    expect_event("bob-phone", event_kind::answered_elsewhere);
    out_.note("bob answered on his laptop; his phone was told", printer::tone::ok);
  }

  void step6_enter_channel() {
    step(6, "alice and bob enter the RTC channel " + channel_);
    enter_channel("alice-phone", "alice", alice_creds_);
    enter_channel("bob-laptop", "bob", bob_creds_);
  }

  void step7_rejoin() {
    step(7, "bob leaves and rejoins: new session, new token");
    request("bob-laptop", command(command_kind::meeting_leave, meeting_));
    rtc_post("bob-laptop", "/_emulator/leave",
             {{"appid", bob_creds_.appid},
              {"channel", bob_creds_.channel},
              {"userid", bob_creds_.userid}});
    expect_event("alice-phone", event_kind::left, "bob");
    auto r = request("bob-laptop", command(command_kind::meeting_join, meeting_));
    auto fresh = std::get<proto::join_data>(r.reply.data).creds;
    if (fresh.token.empty())
      fail("meeting.join answered without credentials: " + r.wire.dump());
    expect_event("alice-phone", event_kind::joined, "bob");
    auto old_session = bob_creds_.session, new_session = fresh.session;
    auto old_token = bob_creds_.token, new_token = fresh.token;
    out_.note("bob's session: " + old_session + " → " + new_session);
    out_.note("bob's token:   " + short_secret(old_token) + " → " + short_secret(new_token));
    out_.note("bob's RTC userid stays " + fresh.userid);
    if (fresh.userid != bob_creds_.userid)
      fail("bob's RTC userid changed on rejoin: " + bob_creds_.userid + " → " + fresh.userid);
    if (new_session == old_session)
      fail("bob's session did not change on rejoin (" + new_session + ")");
    if (new_token == old_token)
      fail("bob's token did not change on rejoin");
    enter_channel("bob-laptop", "bob", fresh);
    bob_creds_ = fresh;
  }

  void step8_mute() {
    step(8, "alice asks bob to mute (moderate.mute)");
    auto mute = command(command_kind::moderate_mute, meeting_);
    mute.user = "bob";
    mute.audio = true;
    auto r = request("alice-phone", mute, true).reply;
    if (r.code == 400 && r.reason == "unknown_type") {
      out_.note("this node does not implement moderate.mute (400 unknown_type): skipped");
      return;
    }
    if (r.code != 0)
      fail("alice-phone's moderate.mute was refused: " + describe_error(r));
    expect_event("bob-laptop", event_kind::mute_request);
    out_.note("bob-laptop was asked to mute its microphone", printer::tone::ok);
  }

  void step9_end() {
    step(9, "alice ends the meeting; the RTC channel is deleted");
    request("alice-phone", command(command_kind::meeting_end, meeting_));
    ended_ = true;
    auto ev = expect_event("bob-laptop", event_kind::ended);
    out_.note("bob was told the meeting ended (reason " + ev.reason + ")", printer::tone::ok);

    // DeleteChannel happens as part of the end; poll the emulator's list
    // briefly in case the node answers before the call completes.
    auto until = std::chrono::steady_clock::now() + opts_.timeout;
    json channels;
    bool gone = false;
    out_.http("demo", true, "GET /_emulator/channels", json());
    for (;;) {
      auto cli = http();
      auto res = cli.Get("/_emulator/channels");
      if (!res)
        fail("the RTC emulator did not answer GET /_emulator/channels: "
             + httplib::to_string(res.error()));
      channels = json::parse(res->body, nullptr, false);
      gone = true;
      if (channels.is_object() && channels["channels"].is_array()) {
        for (auto& c : channels["channels"])
          if (c.is_object() && str(c, "channel") == channel_)
            gone = false;
      }
      if (gone || std::chrono::steady_clock::now() >= until)
        break;
      std::this_thread::sleep_for(50ms);
    }
    out_.http("demo", false, "200", channels);
    if (!gone)
      fail("the RTC channel " + channel_ + " still exists after meeting.end (no DeleteChannel)");
    auto left = channels.is_object() && channels["channels"].is_array()
                    ? channels["channels"].size()
                    : 0;
    if (left == 0)
      out_.note("channel " + channel_ + " deleted: the emulator's channel list is empty",
                printer::tone::ok);
    else
      out_.note("channel " + channel_ + " deleted (" + std::to_string(left)
                    + " channel(s) of other meetings remain)",
                printer::tone::ok);
    disconnect_all();
  }

  options opts_;
  printer& out_;
  std::map<std::string, std::unique_ptr<client::session>> sessions_;
  int step_ = 0;
  bool node_answered_ = false;
  bool ended_ = false;
  std::string meeting_;
  std::string channel_;
  proto::credentials alice_creds_;
  proto::credentials bob_creds_;
};

int bad_option(const std::string& line) {
  std::cerr << "call-demo: " << line << std::endl;
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"call-demo: plays the seed's call between simulated devices (alice-phone, "
               "bob-phone, bob-laptop) through a running broker, meetingd and rtc-emulator, "
               "printing every MQTT message as it flows. Exit 0 when every expected reply and "
               "event arrived, 1 otherwise, 2 for a bad option or an unreachable broker or "
               "emulator."};
  // A repeated option: the last one wins (scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  options opts;
  std::string pace = "400ms", timeout = "5s", color = "auto";
  app.add_option("--broker", opts.broker, "MQTT broker, tcp://HOST:PORT")->capture_default_str();
  app.add_option("--rtc-endpoint", opts.rtc_endpoint,
                 "the rtc-emulator, where devices enter channels (/_emulator/join)")
      ->capture_default_str();
  app.add_option("--parent-topic", opts.parent, "the node's parent topic")->capture_default_str();
  app.add_option("--console", opts.console,
                 "admin client id (in the node's --admins) that creates the demo users")
      ->capture_default_str();
  app.add_option("--pace", pace, "pause between steps so a person can follow (0, 250ms, 1s; none with --quiet)")->capture_default_str();
  app.add_option("--timeout", timeout, "how long to wait for each reply or event")
      ->capture_default_str();
  app.add_option("--color", color, "colour the output: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_flag("--quiet,-q", opts.quiet, "print only the summary");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0)
      return app.exit(e); // --help
    return bad_option(e.what());
  }

  auto pace_ms = meetingd::parse_duration_text(pace, meetingd::duration_style::option);
  if (!pace_ms)
    return bad_option("--pace: '" + pace + "' is not a duration (e.g. 0, 250ms, 1s)");
  opts.pace = *pace_ms;
  auto timeout_ms = meetingd::parse_duration_text(timeout, meetingd::duration_style::option);
  if (!timeout_ms || *timeout_ms < 100ms)
    return bad_option("--timeout: '" + timeout + "' is not a duration of at least 100ms (e.g. 5s)");
  opts.timeout = *timeout_ms;
  // Each text option against the form it must have, and what it is when not.
  const struct {
    const char* option;
    const std::string& value;
    const char* form;
    const char* expected;
  } forms[] = {
    {"--broker", opts.broker, R"(^(tcp|mqtt)://[A-Za-z0-9._-]+:[0-9]{1,5}$)", "tcp://HOST:PORT"},
    {"--rtc-endpoint", opts.rtc_endpoint, R"(^https?://[A-Za-z0-9._-]+(:[0-9]{1,5})?/?$)",
     "http://HOST:PORT"},
    {"--parent-topic", opts.parent, R"(^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$)",
     "a topic without wildcards"},
    {"--console", opts.console, R"(^[A-Za-z0-9_.@:-]{1,64}$)", "a client id"},
  };
  for (const auto& f : forms) {
    if (!std::regex_match(f.value, std::regex{f.form}))
      return bad_option(std::string{f.option} + ": '" + f.value + "' is not " + f.expected);
  }
  if (opts.rtc_endpoint.back() == '/')
    opts.rtc_endpoint.pop_back();

  printer out{stdout, demo_ns::parse_color_mode(color), opts.quiet};
  demo d{opts, out};
  try {
    d.run();
  } catch (const unreachable& e) {
    out.error(std::string{"call-demo: "} + e.what());
    return 2;
  } catch (const failure& e) {
    d.cleanup();
    out.summary(false, e.what());
    return 1;
  } catch (const std::exception& e) {
    d.cleanup();
    out.summary(false, std::string{"unexpected error: "} + e.what());
    return 1;
  }
  out.summary(true, {});
  return 0;
}
