// meetingd: the process. Parses the options (one clear line and a non-zero
// exit for a bad one), opens the database, starts the node, and waits for
// SIGTERM or SIGINT to stop it in order (docs/operators-guide.md).
#include "actors/huge_page_heap.hpp"
#include "actors/node.hpp"
#include "config/log.hpp"
#include "config/options.hpp"

#include <caf/actor_system.hpp>

#include <csignal>
#include <iostream>

using namespace meetingd;

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
  log::configure(setup->log_level);
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
  // sigwait below sees SIGTERM and SIGINT.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
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
    sigwait(&stop_signals, &sig);
    MD_LOG_INFO("node.stopping", log::kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    if (!stop_node(sys, node, std::chrono::seconds(30)))
      exit_code = 1;
  }
  MD_LOG_INFO("node.stopped", log::kv("clean", exit_code == 0));
  return exit_code;
}
