// metrics_bench: what the metrics (config/metrics.hpp, docs/monitoring.md)
// cost: the time the LMQ gateway adds per command to count it (a labelled
// counter and a histogram observation), with one thread and with several
// updating at once, and the time and size of one /metrics scrape of a node
// whose every command type has been answered with a few codes.
//
//   metrics_bench [--updates 2000000] [--threads 4] [--scrapes 200]
//
// Prints JSON.
#include "config/metrics.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace meetingd;
using steady = std::chrono::steady_clock;

namespace {

// As many command types as the protocol has, with the codes they answer.
const std::vector<std::string> command_types{
  "auth.login",        "auth.logout",         "meeting.create",     "meeting.join",
  "meeting.leave",     "meeting.end",         "meeting.get",        "call.invite",
  "call.accept",       "call.decline",        "call.cancel",        "moderate.kick",
  "moderate.mute",     "moderate.unmute",     "moderate.mute_all",  "moderate.lock",
  "moderate.unlock",   "moderate.set_role",   "session.renew",      "admin.ping",
  "admin.stats",       "admin.nodes",         "admin.user.add",     "admin.user.remove",
  "admin.users.list",  "admin.meetings.list", "admin.meeting.get",  "admin.meeting.end",
  "admin.kick",        "admin.mute_all"};
const std::vector<std::string> codes{"0", "400", "403", "404", "503"};

/// What lmq_gateway.cpp's finish() does per command.
void count_one(metrics::node_metrics& m, const std::string& type, const std::string& code,
               double seconds) {
  m.commands.with({type, code}).add();
  m.command_seconds.with({type}).observe(seconds);
}

double ns_per_update(int threads, long updates) {
  auto& m = metrics::node();
  auto per_thread = updates / threads;
  auto t0 = steady::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        auto n = static_cast<std::size_t>(i + t);
        count_one(m, command_types[n % command_types.size()], codes[n % codes.size()],
                  0.001 * static_cast<double>(n % 50));
      }
    });
  for (auto& w : workers)
    w.join();
  auto ns = std::chrono::duration<double, std::nano>(steady::now() - t0).count();
  return ns / static_cast<double>(per_thread * threads);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"metrics_bench: the cost of counting commands and of a scrape"};
  long updates = 2000000;
  int threads = 4;
  int scrapes = 200;
  app.add_option("--updates", updates, "commands counted per run")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads counting at once")->check(CLI::PositiveNumber);
  app.add_option("--scrapes", scrapes, "scrapes timed")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  nlohmann::json out;
  out["ns_per_command_1_thread"] = ns_per_update(1, updates);
  out["ns_per_command_wall_" + std::to_string(threads) + "_threads"]
    = ns_per_update(threads, updates);

  auto& m = metrics::node();
  std::size_t bytes = 0;
  auto t0 = steady::now();
  for (int i = 0; i < scrapes; ++i) {
    auto text = m.reg.render();
    metrics::render_process_metrics(text);
    bytes = text.size();
  }
  auto us = std::chrono::duration<double, std::micro>(steady::now() - t0).count() / scrapes;
  out["scrape_us"] = us;
  out["scrape_bytes"] = bytes;
  out["series"] = command_types.size() * codes.size()
                  + command_types.size() * (metrics::buckets::command_seconds.size() + 3);
  std::cout << out.dump(2) << "\n";
}
