// meetingd: the process. Parses the options (one clear line and a non-zero
// exit for a bad one), opens the database, starts the node, and waits for
// SIGTERM or SIGINT to stop it in order (docs/operators-guide.md).
#include "actors/huge_page_heap.hpp"
#include "actors/node.hpp"
#include "actors/systemd_notifier.hpp"
#include "config/log.hpp"
#include "config/options.hpp"
#include "gateway/http_port.hpp"

#include <caf/actor_system.hpp>

#include <csignal>
#include <filesystem>
#include <vector>
#include <iostream>

using namespace meetingd;

namespace {

/// Where the web console's files are: --console-dir, else those installed
/// beside the program (<prefix>/share/meetingd/console), else the build
/// tree's; empty if none has an index.html.
std::string console_dir(const std::string& configured) {
  if (!configured.empty())
    return configured;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::filesystem::path> candidates;
  if (!ec)
    candidates.push_back(exe.parent_path().parent_path() / "share/meetingd/console");
#ifdef MEETINGD_BUILD_CONSOLE_DIR
  candidates.emplace_back(MEETINGD_BUILD_CONSOLE_DIR);
#endif
  for (auto& dir : candidates)
    if (std::filesystem::exists(dir / "index.html", ec))
      return dir.string();
  return {};
}

} // namespace

int main(int argc, char** argv) {
  restart_with_huge_page_heap(argv);
  node_config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "meetingd: " << describe_parse_error(cfg, err) << "\n";
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  if (!cfg.remainder.empty()) {
    std::cerr << "meetingd: unexpected argument '" << cfg.remainder.front()
              << "' (options look like --name=value)\n";
    return 2;
  }
  std::string error;
  auto setup = make_setup(cfg, read_secrets(), error);
  if (!setup) {
    std::cerr << "meetingd: " << error << "\n";
    return 2;
  }
  if (!log::configure(setup->log_level, setup->log_format, setup->log_file, &error)) {
    std::cerr << "meetingd: " << error << "\n";
    return 2;
  }
  if (setup->rtc_in_clear)
    MD_LOG_WARN("rtc.insecure_endpoint", log::kv("endpoint", setup->rtc.endpoint),
                log::kv("hint", "--allow-insecure-rtc: signed OpenAPI calls and the channel keys "
                                "in their answers cross the network in clear; use https://"));
  auto db = open_store(setup->db, setup->db_options, &error);
  if (!db) {
    std::cerr << "meetingd: " << error << "\n";
    return 1;
  }
  auto db_name = db->describe();
  // Every thread the actor system starts inherits this mask, so only
  // sigwait below sees SIGTERM and SIGINT (stop), and SIGHUP (reopen the
  // log file, for logrotate).
  sigset_t waited_signals;
  sigemptyset(&waited_signals);
  sigaddset(&waited_signals, SIGTERM);
  sigaddset(&waited_signals, SIGINT);
  sigaddset(&waited_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &waited_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // The HTTP port opens before the state is loaded, so that /healthz and
  // /readyz ("recovering") answer during a long recovery.
  auto ready = std::make_shared<readiness>();
  setup->env.ready = ready;
  std::unique_ptr<http_port> http;
  if (auto address = parse_host_port(setup->http)) {
    console_site console{console_dir(setup->console_dir), setup->console_broker,
                         setup->env.parent_topic, setup->env.node_id};
    http = http_port::open(address->first, address->second, ready, console, &error);
    if (!http) {
      std::cerr << "meetingd: " << error << "\n";
      return 2;
    }
  }
  systemd_notifier systemd{ready};
  int exit_code = 0;
  {
    caf::actor_system sys{cfg};
    recovery_report report;
    auto node = start_node(sys, *setup, std::move(db), report);
    if (!report.error.empty()) {
      std::cerr << "meetingd: cannot load the state from " << db_name << ": "
                << report.error << "\n";
      return 1;
    }
    MD_LOG_INFO("node.started", log::kv("node", setup->env.node_id),
                log::kv("version", MEETINGD_VERSION), log::kv("broker", setup->lmq.broker),
                log::kv("rtc", setup->rtc.endpoint), log::kv("db", db_name),
                log::kv("scheme", to_string(setup->env.meeting.scheme)),
                log::kv("meetings", report.live_meetings),
                log::kv("ended", report.ended_meetings), log::kv("users", report.users),
                log::kv("devices", report.devices), log::kv("requests", report.requests),
                log::kv("clean_shutdown", report.clean_shutdown),
                log::kv("load_ms", report.load_ms),
                log::kv("heap", heap_on_huge_pages() ? "huge_pages" : "default"));
    int sig = 0;
    for (sigwait(&waited_signals, &sig); sig == SIGHUP; sigwait(&waited_signals, &sig)) {
      auto path = log::file();
      if (log::reopen()) // else it logged log.reopen_failed
        MD_LOG_INFO("log.reopened", log::kv("file", path.empty() ? "stderr" : path));
    }
    MD_LOG_INFO("node.stopping", log::kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    ready->stopping.store(true);
    systemd.stopping();
    if (!stop_node(sys, node, std::chrono::seconds(30)))
      exit_code = 1;
  }
  MD_LOG_INFO("node.stopped", log::kv("clean", exit_code == 0));
  return exit_code;
}
