// request_log_bench: what the gateway's idempotency index (docs/protocol.md §4,
// gateway/request_log.*) costs per request it remembers for the 10-minute
// window: resident memory and time per check + complete.
//
//   request_log_bench [--requests 600000] [--devices 200]
//
// 600k is the window of a node answering 1000 commands/s. Client ids and
// request ids look like loadgen's. Prints JSON.
#include "gateway/request_log.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace meetingd;

namespace {

long rss_kib() {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"request_log_bench: memory and time per remembered request"};
  int requests = 600000;
  int devices = 200;
  app.add_option("--requests", requests, "requests in the window")->check(CLI::PositiveNumber);
  app.add_option("--devices", devices, "distinct client ids")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> clients;
  for (int d = 0; d < devices; ++d)
    clients.push_back("GID_MEETING_DOWN@@@lg-d" + std::to_string(d));
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(requests));
  for (int i = 0; i < requests; ++i)
    ids.push_back("lgc2ae6f331." + std::to_string(i));

  auto rss_before = rss_kib();
  request_log log;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < requests; ++i) {
    auto& client = clients[static_cast<std::size_t>(i % devices)];
    log.check(client, ids[static_cast<std::size_t>(i)]);
    log.complete(client, ids[static_cast<std::size_t>(i)], true, 1000 + i);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto rss_after = rss_kib();
  nlohmann::json out{
    {"requests", requests},
    {"remembered", log.size()},
    {"bytes_per_request", static_cast<double>(rss_after - rss_before) * 1024.0 / requests},
    {"ns_per_check_and_complete", seconds * 1e9 / requests},
  };
  std::cout << out.dump(2) << "\n";
}
