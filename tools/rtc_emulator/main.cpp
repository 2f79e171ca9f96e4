// rtc-emulator: the project's stand-in for Aliyun's RTC OpenAPI.
//
//   RTC_ACCESS_KEY_ID=... RTC_ACCESS_KEY_SECRET=... [RTC_APP_KEY=...]
//     rtc-emulator --listen=127.0.0.1:8090 [--channel-ttl=48h] [--latency=0ms]
//                  [--threads=64] [--log-level=info]
//
// Prints exactly one line to stdout once listening,
// `rtc-emulator listening on <host>:<port>`, logs to stderr, and exits 0 on
// SIGTERM or SIGINT. A bad option or a missing key exits 2 with one line.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "config/log.hpp"
#include "tools/rtc_emulator/emulator.hpp"
#include "tools/rtc_emulator/server.hpp"

namespace {

int fail(const std::string& line) {
  std::cerr << "rtc-emulator: " << line << std::endl;
  return 2;
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    return std::nullopt;
  return std::string{v};
}

} // namespace

int main(int argc, char** argv) {
  namespace emu = meetingd::emulator;
  using meetingd::log::kv;

  CLI::App app{"rtc-emulator: a stand-in for Aliyun's RTC OpenAPI (CreateChannel, "
               "DeleteChannel, RemoveTerminals, DescribeChannelUsers) with real request "
               "signing, channel expiry and fault injection. Keys come from the environment: "
               "RTC_ACCESS_KEY_ID, RTC_ACCESS_KEY_SECRET (required), RTC_APP_KEY (optional)."};
  std::string listen = "127.0.0.1:8090";
  std::string channel_ttl = "48h";
  std::string latency = "0ms";
  int threads = 64;
  std::string log_level = "info";
  app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--channel-ttl", channel_ttl,
                 "channel lifetime from creation (500ms, 45s, 10min, 48h)")
      ->capture_default_str();
  app.add_option("--latency", latency, "delay added to every OpenAPI answer")
      ->capture_default_str();
  app.add_option("--threads", threads,
                 "HTTP worker threads (each slow answer in progress holds one)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0)
      return app.exit(e); // --help
    return fail(e.what());
  }

  auto addr = emu::parse_listen(listen);
  if (!addr)
    return fail("--listen: '" + listen + "' is not HOST:PORT with a port 0..65535");
  auto ttl = emu::parse_duration(channel_ttl);
  if (!ttl || ttl->count() <= 0)
    return fail("--channel-ttl: '" + channel_ttl
                + "' is not a positive duration (e.g. 500ms, 45s, 10min, 48h)");
  auto lat = emu::parse_duration(latency);
  if (!lat || lat->count() > 600'000)
    return fail("--latency: '" + latency + "' is not a duration of at most 10min (e.g. 0ms, 250ms)");
  if (threads < 1 || threads > 4096)
    return fail("--threads: " + std::to_string(threads) + " is not in 1..4096");
  if (!meetingd::log::valid_level(log_level))
    return fail("--log-level: '" + log_level
                + "' is not one of trace, debug, info, warn, error, off");

  emu::options opts;
  auto key_id = env("RTC_ACCESS_KEY_ID");
  auto secret = env("RTC_ACCESS_KEY_SECRET");
  if (!key_id)
    return fail("RTC_ACCESS_KEY_ID is not set in the environment");
  if (!secret)
    return fail("RTC_ACCESS_KEY_SECRET is not set in the environment");
  opts.access_key_id = *key_id;
  opts.access_key_secret = *secret;
  opts.app_key = env("RTC_APP_KEY");
  opts.channel_ttl = *ttl;
  opts.latency = *lat;

  meetingd::log::configure(log_level);

  // Signals are taken by one thread with sigwait(); block them before any
  // other thread exists so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  emu::emulator emulator{opts};
  emu::server server{emulator, emu::server_options{addr->first, addr->second, threads}};
  int port = 0;
  try {
    port = server.bind();
  } catch (const std::exception& e) {
    return fail(std::string{"--listen: "} + e.what());
  }

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    MD_LOG_INFO("rtc.stopping", kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    server.stop();
  });

  const auto& host = addr->first;
  std::cout << "rtc-emulator listening on "
            << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ':' << port
            << std::endl;
  MD_LOG_INFO("rtc.listening", kv("host", host), kv("port", port),
              kv("channel_ttl_ms", static_cast<std::int64_t>(ttl->count())),
              kv("latency_ms", static_cast<std::int64_t>(lat->count())),
              kv("threads", threads), kv("appkey_scheme", opts.app_key.has_value()));

  const bool ok = server.serve();
  if (!ok) {
    // Listening failed on its own: wake the signal thread so it can finish.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  server.stop();
  MD_LOG_INFO("rtc.stopped", kv("ok", ok));
  return ok ? 0 : 1;
}
