// The web console (tools/console, docs/console.md) in a real browser: a
// node behind the production broker with its WebSocket listener serves the
// page at /console/, and headless Chromium, driven by playwright-core
// (tests/console/*.spec.cjs, run by node), logs in, reads and acts. On this
// side: what the devices saw of it (event.kicked, event.ended).
//
// The browser is Debian's /usr/bin/chromium (or $CHROMIUM); it is never
// downloaded. Without it the tests are skipped, except under CI (the
// environment variable CI set), where they must run. Set
// CONSOLE_SCREENSHOT_DIR to keep a PNG of each view (docs/console/*.png
// are made so).
#include "harness.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

using namespace meetingd::testing;
namespace fs = std::filesystem;

namespace {

const std::string source_dir{MEETINGD_SOURCE_DIR};
const std::string node_path{MEETINGD_CONSOLE_NODE_PATH};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string{v} : fallback;
}

std::string chromium() {
  return env_or("CHROMIUM", "/usr/bin/chromium");
}

/// `program` on $PATH (the harness starts processes with execv), or "".
std::string on_path(const std::string& program) {
  std::istringstream dirs{env_or("PATH", "/usr/local/bin:/usr/bin:/bin")};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = fs::path{dir.empty() ? "." : dir} / program;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate.string();
  }
  return {};
}

/// Why the browser tests cannot run here, or "" when they can. The skip
/// is allowed only for a missing browser outside CI.
std::string cannot_run(bool& skip) {
  skip = false;
  if (!fs::exists(chromium())) {
    skip = std::getenv("CI") == nullptr;
    return "no browser at " + chromium() + " (apt-get install chromium)";
  }
  if (on_path("node").empty())
    return "no node on $PATH (the console's tests run with Node.js 18 or later)";
  if (node_path.empty() || !fs::exists(fs::path{node_path} / "playwright-core"))
    return "no playwright-core in '" + node_path
      + "' (MEETINGD_CONSOLE_NODE_PATH: the build's npm ci of tools/console)";
  return {};
}

#define REQUIRE_BROWSER()                                                                          \
  do {                                                                                             \
    bool skip_ = false;                                                                            \
    auto why_ = cannot_run(skip_);                                                                 \
    if (!why_.empty()) {                                                                           \
      if (skip_)                                                                                   \
        GTEST_SKIP() << why_;                                                                      \
      FAIL() << why_;                                                                              \
    }                                                                                              \
  } while (false)

bool has(const std::string& out, const std::string& what) {
  return out.find(what) != std::string::npos;
}

/// Runs a spec script with node; (exit code or -1, stdout + stderr).
std::pair<int, std::string> run_spec(const std::string& script,
                                     std::map<std::string, std::string> env) {
  env["NODE_PATH"] = node_path;
  env["CHROMIUM"] = chromium();
  if (auto shots = env_or("CONSOLE_SCREENSHOT_DIR", ""); !shots.empty())
    env["SCREENSHOT_DIR"] = shots;
  return run_program("console-spec", {on_path("node"), source_dir + "/tests/console/" + script},
                     env, 120s);
}

node_options console_stack() {
  node_options opts;
  opts.production_broker = true;
  opts.websockets = true;
  return opts;
}

std::string console_url(const cluster& c) {
  return "http://127.0.0.1:" + std::to_string(c.http_port()) + "/console/";
}

/// The page and its config.json come from the node, naming the broker's
/// WebSocket listener (a failure here is clearer than one in the browser).
void expect_page_served(cluster& c) {
  auto [status, page] = c.node_http("/console/");
  EXPECT_EQ(status, 200) << page;
  EXPECT_TRUE(has(page, "mqtt.min.js") && has(page, "app.js")) << page;
  auto [config_status, config] = c.node_http("/console/config.json");
  EXPECT_EQ(config_status, 200) << config;
  auto j = json::parse(config, nullptr, false);
  ASSERT_TRUE(j.is_object()) << config;
  EXPECT_EQ(j.value("broker", ""), "ws://127.0.0.1:" + std::to_string(c.ws_port())) << config;
  EXPECT_EQ(j.value("node", ""), "node-1") << config;
  auto [lib_status, lib] = c.node_http("/console/mqtt.min.js");
  EXPECT_EQ(lib_status, 200);
  EXPECT_GT(lib.size(), 10000u) << "mqtt.min.js is not MQTT.js's bundle";
}

} // namespace

TEST(console, a_browser_reads_and_steers_a_live_node) {
  REQUIRE_BROWSER();
  cluster c{console_stack()};
  auto console_password = c.add_broker_login("console", "console-1");
  c.add_broker_login("device", "alice-phone");
  c.add_broker_login("device", "bob-phone");
  c.start_node();
  ASSERT_GT(c.http_port(), 0);
  expect_page_served(c);

  // Set up first: the harness's console sessions (add_user) use console-1
  // too, and the broker keeps one connection per client id.
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  auto created = start_meeting(*alice, {bob.get()}, {{"title", "standup"}});
  std::string meeting = created["meeting"];

  auto [code, output] = run_spec("console.spec.cjs",
                                 {
                                   {"CONSOLE_URL", console_url(c)},
                                   {"CONSOLE_CLIENT", "console-1"},
                                   {"CONSOLE_USERNAME", "console-1"},
                                   {"CONSOLE_PASSWORD", console_password},
                                   {"MEETING_ID", meeting},
                                   {"KICK_USER", "bob"},
                                 });
  std::string missing;
  for (auto step :
       {"wrong_password_refused", "login", "meeting_listed_active", "meeting_participants", "kick",
        "mute_lock_unlock", "end", "users", "nodes", "fragment_login"})
    if (!has(output, std::string{"step "} + step + " ok\n"))
      missing += std::string{missing.empty() ? "" : ", "} + step;
  auto log = c.node_log();
  ASSERT_TRUE(code == 0 && missing.empty())
    << "exit code " << code << "; steps not ok: " << (missing.empty() ? "none" : missing) << "\n"
    << output << "\nnode log (last lines):\n"
    << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);

  // What the devices saw of the console's actions.
  EXPECT_TRUE(event_with(bob->wait_event("event.kicked"), "by", "console-1"));
  auto muted = alice->wait_event("event.mute_request");
  EXPECT_TRUE(event_with(muted, "by", "console-1"));
  EXPECT_TRUE(event_with(muted, "audio", true));
  EXPECT_TRUE(event_with(alice->wait_event("event.mute_request"), "audio", false)); // Unmute
  EXPECT_TRUE(event_with(alice->wait_event("event.ended"), "reason", "admin"));
  // The node logged the console's commands, answered 0.
  for (auto type : {"admin.kick", "admin.mute ", "admin.unmute", "admin.mute_all", "admin.lock",
                    "admin.unlock", "admin.meeting.end", "admin.user.add", "admin.user.remove"})
    EXPECT_TRUE(has(lines_with(c.node_log(), std::string{"type="} + type), "code=0"))
      << type << "\n"
      << lines_with(c.node_log(), "type=admin.");
}

TEST(console, a_client_id_not_in_admins_is_told_so) {
  REQUIRE_BROWSER();
  cluster c{console_stack()};
  c.add_broker_login("console", "console-1");
  // A login the broker takes, for a client id the node does not obey.
  auto password = c.add_broker_login("console", "console-9");
  c.start_node();
  auto [code, output] = run_spec("not_admin.spec.cjs",
                                 {
                                   {"CONSOLE_URL", console_url(c)},
                                   {"CONSOLE_CLIENT", "console-9"},
                                   {"CONSOLE_USERNAME", "console-9"},
                                   {"CONSOLE_PASSWORD", password},
                                 });
  ASSERT_TRUE(code == 0 && has(output, "step not_admin_refused ok\n")
              && has(output, "step fragment_not_admin_refused ok\n"))
    << "exit code " << code << "\n"
    << output;
  // The node refused the page's admin.ping, and nothing else came.
  auto refused = lines_with(c.node_log(), "client=console-9");
  EXPECT_TRUE(has(refused, "not_admin")) << refused;
  EXPECT_FALSE(has(refused, "code=0")) << refused;
}
