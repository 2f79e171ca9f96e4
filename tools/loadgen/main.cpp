// loadgen: simulated devices over real MQTT connections, many per process,
// driving meetingd (or, with --mode echo, a loopback echo peer: the broker's
// own limit) and reporting throughput and latency per command type.
//
//   loadgen --broker=tcp://127.0.0.1:1883 --devices=500 --mix=create:2,join,leave,end
//           [--rate=2000 | --inflight=2] --duration=30s --warmup=5s --json=out.json
//   loadgen --mode=echo --devices=500 --inflight=2 --duration=30s   (broker alone)
//   loadgen --mode=populate --devices=200 --meetings=100000        (memory, recovery)
//
// Logins: ticket logins when LOGIN_TICKET_SECRET is set (no PBKDF2 cost),
// otherwise the --console admin id adds the users (admin.user.add) and the
// devices log in with passwords. A progress line goes to stderr every second;
// the summary goes to stdout and, with --json, the full results to a file.
// See docs/benchmarks.md.
#include "tools/loadgen/engine.hpp"

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

using namespace meetingd::loadgen;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

std::atomic<bool> interrupted{false};

/// "30s", "500ms", "2min", "1h" or plain seconds.
bool parse_seconds(const std::string& text, double& out) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    auto unit = text.substr(used);
    double scale = 1;
    if (unit.empty() || unit == "s")
      scale = 1;
    else if (unit == "ms")
      scale = 1e-3;
    else if (unit == "min" || unit == "m")
      scale = 60;
    else if (unit == "h")
      scale = 3600;
    else
      return false;
    if (v < 0)
      return false;
    out = v * scale;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<double> loadavg() {
  std::ifstream in{"/proc/loadavg"};
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return {a, b, c};
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double ms(std::uint64_t us) {
  return static_cast<double>(us) / 1000.0;
}

json latency_json(const histogram& h) {
  return {{"p50", ms(h.quantile_us(0.50))},   {"p90", ms(h.quantile_us(0.90))},
          {"p99", ms(h.quantile_us(0.99))},   {"p999", ms(h.quantile_us(0.999))},
          {"max", ms(h.max_us())},            {"mean", h.mean_us() / 1000.0},
          {"min", ms(h.min_us())}};
}

int run_hook(const std::string& cmd, const char* what) {
  if (cmd.empty())
    return 0;
  std::cerr << "loadgen: running " << what << " hook: " << cmd << std::endl;
  int rc = std::system(cmd.c_str());
  if (rc != 0)
    std::cerr << "loadgen: " << what << " hook exited with " << rc << std::endl;
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"loadgen: simulated devices over real MQTT connections, many per thread, "
               "driving meetingd or a loopback echo peer (the broker's own limit)."};
  options o;
  std::string duration = "10s", warmup = "2s", drain = "5s", timeout = "10s",
              setup_timeout = "120s";
  std::string json_file, hook_ready, hook_done, label;
  std::string mode_name = name(o.mode), login_name = name(o.login),
              topics_name = name(o.echo_topics);
  bool quiet = false;
  app.add_option("--broker", o.broker, "tcp://HOST:PORT")->capture_default_str();
  app.add_option("--parent-topic", o.parent, "the node's parent topic")->capture_default_str();
  app.add_option("--mode", mode_name, "node: the command mix against meetingd; echo: the same "
                                   "traffic through a loopback echo peer; populate: create "
                                   "--meetings meetings of --participants users")
    ->check(CLI::IsMember({"node", "echo", "populate"}))
    ->capture_default_str();
  app.add_option("--devices", o.devices, "simulated devices (one MQTT connection each)")
    ->check(CLI::Range(1, 1000000))
    ->capture_default_str();
  app.add_option("--users", o.users, "users the devices log in as, round robin (0: one per device)")
    ->check(CLI::NonNegativeNumber);
  app.add_option("--mix", o.mix,
                 "command weights: login, create, join, accept, decline, leave, mute, renew, "
                 "end, get, invite, kick (NAME or NAME:WEIGHT, comma separated)")
    ->capture_default_str();
  app.add_option("--rate", o.rate, "commands/s over all devices (0: flat out, --inflight each)")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_option("--inflight", o.inflight, "outstanding requests per device")
    ->check(CLI::Range(1, 1000))
    ->capture_default_str();
  app.add_option("--duration", duration, "measured time (30s, 2min)")->capture_default_str();
  app.add_option("--warmup", warmup, "load before measuring")->capture_default_str();
  app.add_option("--drain", drain, "wait for outstanding replies after the run")
    ->capture_default_str();
  app.add_option("--timeout", timeout, "a request without reply after this is an error")
    ->capture_default_str();
  app.add_option("--setup-timeout", setup_timeout, "time allowed to connect and log in")
    ->capture_default_str();
  app.add_option("--threads", o.threads, "worker threads driving the connections")
    ->check(CLI::Range(1, 256))
    ->capture_default_str();
  app.add_option("--login", login_name, "auto (ticket if LOGIN_TICKET_SECRET is set), ticket, password")
    ->check(CLI::IsMember({"auto", "ticket", "password"}))
    ->capture_default_str();
  app.add_option("--console", o.console, "admin client id that adds the users (password logins)")
    ->capture_default_str();
  app.add_option("--prefix", o.device_prefix, "device and user names: PREFIX-dN, PREFIX-uN")
    ->capture_default_str();
  app.add_option("--invitees", o.invitees, "users invited by each create (and invite)")
    ->check(CLI::Range(0, 64))
    ->capture_default_str();
  app.add_option("--max-hosted", o.max_hosted, "meetings a user hosts at once (0: no limit)")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_option("--meeting-size", o.meeting_size, "joins go to meetings smaller than this")
    ->check(CLI::Range(2, 1000))
    ->capture_default_str();
  app.add_option("--connect-batch", o.connect_batch, "connections opened per thread per loop")
    ->check(CLI::Range(1, 100000))
    ->capture_default_str();
  app.add_option("--keepalive", o.keepalive_s, "MQTT keepalive seconds")->capture_default_str();
  app.add_flag("!--no-presence", o.presence, "do not publish presence or set a last will");
  app.add_option("--echo-topics", topics_name,
                 "echo mode topics: bench (bench/echo/+ -> bench/reply/<client>) or node "
                 "(<parent>/up/+ -> <parent>/p2p/<client>, as the node; no node may run)")
    ->check(CLI::IsMember({"bench", "node"}))
    ->capture_default_str();
  app.add_option("--payload-bytes", o.payload_bytes, "echo request size (0: 160 bytes)")
    ->check(CLI::NonNegativeNumber);
  app.add_option("--reply-bytes", o.reply_bytes, "echo reply size (0: as the request)")
    ->check(CLI::NonNegativeNumber);
  app.add_option("--echo-id", o.echo_id, "client id of the echo peer")->capture_default_str();
  app.add_flag("--external-echo-peer", o.external_echo_peer,
               "echo mode: another process answers on the bench topics (bench/mqtt_floor); "
               "start no echo peer here");
  app.add_option("--meetings", o.meetings, "populate: meetings to create")
    ->check(CLI::NonNegativeNumber);
  app.add_option("--participants", o.participants, "populate: participants per meeting (host included)")
    ->check(CLI::Range(1, 1000))
    ->capture_default_str();
  app.add_option("--json", json_file, "write the results here");
  app.add_option("--label", label, "a name for this run, copied into the results");
  app.add_option("--on-ready", hook_ready,
                 "shell command run once every device is logged in, before the load");
  app.add_option("--on-done", hook_done,
                 "shell command run after the load, before the devices disconnect");
  app.add_flag("--quiet", quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);

  auto bad = [](const std::string& line) {
    std::cerr << "loadgen: " << line << std::endl;
    return 2;
  };
  double duration_s = 0;
  if (!parse_seconds(duration, o.duration_s))
    return bad("--duration: '" + duration + "' is not a duration (30s, 500ms, 2min)");
  if (!parse_seconds(warmup, o.warmup_s))
    return bad("--warmup: '" + warmup + "' is not a duration");
  if (!parse_seconds(drain, o.drain_s))
    return bad("--drain: '" + drain + "' is not a duration");
  if (!parse_seconds(timeout, o.timeout_s) || o.timeout_s <= 0)
    return bad("--timeout: '" + timeout + "' is not a positive duration");
  if (!parse_seconds(setup_timeout, o.setup_timeout_s))
    return bad("--setup-timeout: '" + setup_timeout + "' is not a duration");
  duration_s = o.duration_s;
  // CLI11 checked the names.
  o.mode = *parse<mode>(mode_name);
  o.login = *parse<login_method>(login_name);
  o.echo_topics = *parse<echo_topics>(topics_name);
  if (o.external_echo_peer && (o.mode != mode::echo || o.echo_topics != echo_topics::bench))
    return bad("--external-echo-peer: only with --mode=echo and --echo-topics=bench, the topics "
               "bench/mqtt_floor answers on");
  if (o.mode == mode::node) {
    if (auto err = parse_mix(o.mix, o.weights); !err.empty())
      return bad("--mix: " + err);
  }
  if (o.mode == mode::populate) {
    if (o.meetings <= 0)
      return bad("--meetings: populate needs a positive number of meetings");
    if (o.devices % o.participants != 0)
      return bad("--devices: populate needs a multiple of --participants");
    if (app.count("--duration") == 0)
      o.duration_s = duration_s = 24 * 3600; // until done
    o.warmup_s = 0;
  }
  if (const char* s = std::getenv("LOGIN_TICKET_SECRET"))
    o.ticket_secret = s;
  if (const char* s = std::getenv("MQTT_USERNAME"))
    o.mqtt_username = s;
  if (const char* s = std::getenv("MQTT_PASSWORD"))
    o.mqtt_password = s;
  if (o.login == login_method::ticket && o.ticket_secret.empty())
    return bad("--login=ticket: LOGIN_TICKET_SECRET is not set in the environment");
  bool needs_console = o.mode != mode::echo
                       && (o.login == login_method::password
                           || (o.login == login_method::automatic && o.ticket_secret.empty()));
  if (needs_console && o.console.empty())
    return bad("password logins need --console=<admin client id> to add the users "
               "(or set LOGIN_TICKET_SECRET for ticket logins)");

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });

  auto load_start = loadavg();
  auto cpu_start = cpu_seconds();
  engine eng{o};
  auto& eo = eng.opts();
  auto t_setup = steady::now();
  eng.start();

  auto say = [&](const std::string& line) {
    if (!quiet)
      std::cerr << line << std::endl;
  };
  auto fatal = [&](const std::string& why) {
    std::cerr << "loadgen: " << why << std::endl;
    eng.stop();
    return 1;
  };

  // -- setup: connect, subscribe, log in ----------------------------------------------
  int total = eo.devices;
  auto last_line = steady::now();
  while (true) {
    if (interrupted)
      return fatal("interrupted during setup");
    if (auto f = eng.get_fatal(); !f.empty())
      return fatal(f);
    bool peer_ok = eo.mode != mode::echo || eng.peer_ready.load();
    if (eng.ready.load() + eng.failed.load() >= total && peer_ok)
      break;
    auto waited = std::chrono::duration<double>(steady::now() - t_setup).count();
    if (waited > o.setup_timeout_s)
      return fatal("setup did not finish in " + setup_timeout + ": " + std::to_string(eng.ready.load())
                   + "/" + std::to_string(total) + " ready, " + std::to_string(eng.failed.load())
                   + " failed; first failure: " + eng.get_first_failure());
    if (steady::now() - last_line > std::chrono::seconds(1)) {
      std::ostringstream line;
      line << "[setup " << static_cast<int>(waited) << "s] connected " << eng.connected.load()
           << "/" << total << "  ready " << eng.ready.load() << "  failed " << eng.failed.load();
      say(line.str());
      last_line = steady::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double setup_s = std::chrono::duration<double>(steady::now() - t_setup).count();
  if (eng.failed.load() > 0)
    return fatal(std::to_string(eng.failed.load()) + " devices failed in setup; first: "
                 + eng.get_first_failure());
  say("[setup] " + std::to_string(total) + " devices ready in " + std::to_string(setup_s).substr(0, 5)
      + " s (" + name(eng.login_method()) + " logins)");
  run_hook(hook_ready, "--on-ready");

  // -- warmup, measure, drain ----------------------------------------------------------
  json timeline = json::array();
  auto progress = [&](const char* name, double t, bool record) {
    auto s = eng.collect(true);
    auto& w = s.window;
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(2);
    double secs = std::max(1e-3, std::chrono::duration<double>(steady::now() - last_line).count());
    last_line = steady::now();
    double rate = static_cast<double>(w.count()) / secs;
    auto la = loadavg();
    line << "[" << name << " " << static_cast<int>(t) << "s] " << static_cast<long>(rate)
         << " cmd/s  p50 " << ms(w.quantile_us(0.5)) << " p99 " << ms(w.quantile_us(0.99))
         << " max " << ms(w.max_us()) << " ms  errors " << s.window_errors << "  inflight "
         << eng.inflight() << "  load " << la[0];
    if (eo.mode == mode::populate)
      line << "  meetings " << eng.creates_ok.load() << "/" << eo.meetings << " joins "
           << eng.joins_ok.load();
    say(line.str());
    if (record)
      timeline.push_back({{"t", std::round(t)},
                          {"rate", rate},
                          {"p50_ms", ms(w.quantile_us(0.5))},
                          {"p99_ms", ms(w.quantile_us(0.99))},
                          {"errors", s.window_errors},
                          {"load1", la[0]}});
  };

  eng.collect(true);
  last_line = steady::now();
  if (o.warmup_s > 0) {
    eng.set_phase(phase::warmup);
    auto t0 = steady::now();
    auto next = t0 + std::chrono::seconds(1);
    while (!interrupted && std::chrono::duration<double>(steady::now() - t0).count() < o.warmup_s) {
      std::this_thread::sleep_until(std::min(next, t0 + std::chrono::duration_cast<steady::duration>(
                                                          std::chrono::duration<double>(o.warmup_s))));
      if (steady::now() >= next) {
        progress("warmup", std::chrono::duration<double>(steady::now() - t0).count(), false);
        next += std::chrono::seconds(1);
      }
    }
  }
  // Counting starts here: what completes from now on is measured.
  eng.set_phase(phase::measure);
  auto load_measure = loadavg();
  auto cpu_measure = cpu_seconds();
  auto t0 = steady::now();
  auto next = t0 + std::chrono::seconds(1);
  while (!interrupted) {
    auto elapsed = std::chrono::duration<double>(steady::now() - t0).count();
    if (elapsed >= o.duration_s)
      break;
    if (eo.mode == mode::populate && eng.populate_done())
      break;
    if (auto f = eng.get_fatal(); !f.empty())
      return fatal(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(eo.mode == mode::populate ? 20 : 50));
    if (steady::now() >= next) {
      progress("measure", std::chrono::duration<double>(steady::now() - t0).count(), true);
      next += std::chrono::seconds(1);
    }
  }
  // Stop issuing; what completes from now on is not counted.
  eng.set_phase(phase::drain);
  double measured_s = std::chrono::duration<double>(steady::now() - t0).count();
  auto cpu_end = cpu_seconds();
  auto load_end = loadavg();
  auto final_stats = eng.collect(true);
  auto t_drain = steady::now();
  while (eng.inflight() > 0
         && std::chrono::duration<double>(steady::now() - t_drain).count() < o.drain_s)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto outstanding = eng.inflight();
  run_hook(hook_done, "--on-done");
  eng.stop();

  // -- results -----------------------------------------------------------------------------
  auto& s = final_stats;
  json out;
  out["tool"] = "loadgen";
  if (!label.empty())
    out["label"] = label;
  out["mode"] = name(eo.mode);
  out["config"] = {{"broker", eo.broker},
                   {"devices", eo.devices},
                   {"users", eo.users},
                   {"threads", eo.threads},
                   {"mix", eo.mode == mode::node ? json(eo.mix) : json(nullptr)},
                   {"rate", eo.rate},
                   {"inflight", eo.inflight},
                   {"duration_s", eo.duration_s},
                   {"warmup_s", eo.warmup_s},
                   {"timeout_s", eo.timeout_s},
                   {"login", name(eng.login_method())},
                   {"invitees", eo.invitees},
                   {"max_hosted", eo.max_hosted},
                   {"meeting_size", eo.meeting_size}};
  if (eo.mode == mode::echo)
    out["config"]["echo"] = {{"topics", name(eo.echo_topics)},
                             {"external_peer", eo.external_echo_peer},
                             {"payload_bytes", eo.payload_bytes > 0 ? eo.payload_bytes : 160},
                             {"reply_bytes", eo.reply_bytes}};
  if (eo.mode == mode::populate)
    out["config"]["populate"] = {{"meetings", eo.meetings}, {"participants", eo.participants}};
  out["host"] = {{"nproc", std::thread::hardware_concurrency()},
                 {"loadavg_start", load_start},
                 {"loadavg_measure_start", load_measure},
                 {"loadavg_end", load_end}};
  out["setup"] = {{"seconds", setup_s},
                  {"devices_ready", eng.ready.load()},
                  {"requests_ok", s.setup_ok},
                  {"requests_failed", s.setup_failed},
                  {"errors", s.setup_errors},
                  {"latency_ms", latency_json(s.setup_latency)}};
  out["duration_s"] = measured_s;

  cmd_stats all;
  json per = json::object();
  std::map<std::string, std::uint64_t> errors;
  for (int c = 0; c < c_count; ++c) {
    auto& cs = s.cmds[c];
    auto n = cs.ok + cs.failed;
    if (n == 0)
      continue;
    all.merge(cs);
    per[cmd_name(c)] = {{"type", cmd_wire_type(c)},
                        {"count", n},
                        {"ok", cs.ok},
                        {"failed", cs.failed},
                        {"throughput", static_cast<double>(n) / measured_s},
                        {"ok_throughput", static_cast<double>(cs.ok) / measured_s},
                        {"latency_ms", latency_json(cs.latency)},
                        {"bytes_out_mean", static_cast<double>(cs.bytes_out) / static_cast<double>(n)},
                        {"bytes_in_mean", static_cast<double>(cs.bytes_in) / static_cast<double>(n)},
                        {"errors", cs.errors}};
    for (auto& [k, v] : cs.errors)
      errors[k] += v;
  }
  auto n_all = all.ok + all.failed;
  out["total"] = {{"count", n_all},
                  {"ok", all.ok},
                  {"failed", all.failed},
                  {"throughput", static_cast<double>(n_all) / measured_s},
                  {"ok_throughput", static_cast<double>(all.ok) / measured_s},
                  {"latency_ms", latency_json(all.latency)},
                  {"bytes_out_mean", n_all ? static_cast<double>(all.bytes_out) / static_cast<double>(n_all) : 0.0},
                  {"bytes_in_mean", n_all ? static_cast<double>(all.bytes_in) / static_cast<double>(n_all) : 0.0}};
  out["commands"] = per;
  out["errors"] = errors;
  out["events"] = s.events;
  out["events_per_s"] = [&] {
    std::uint64_t n = 0;
    for (auto& [k, v] : s.events)
      n += v;
    return static_cast<double>(n) / measured_s;
  }();
  out["timeouts"] = s.timeouts;
  out["timeout_samples"] = s.timeout_samples;
  out["late_replies"] = s.late_replies;
  out["disconnects"] = s.disconnects;
  out["deferred_sends"] = s.deferred;
  out["outstanding_after_drain"] = outstanding;
  out["loadgen_cpu_s"] = cpu_end - cpu_measure;
  out["loadgen_cpu_s_total"] = cpu_seconds() - cpu_start;
  if (eo.mode == mode::echo)
    out["echoed"] = eng.echoed.load();
  if (eo.mode == mode::populate)
    out["populate"] = {{"meetings", eng.creates_ok.load()},
                       {"joins", eng.joins_ok.load()},
                       {"retries", eng.populate_failed.load()},
                       {"complete", eng.populate_done()},
                       {"meetings_per_s", static_cast<double>(eng.creates_ok.load()) / measured_s}};
  out["timeline"] = timeline;

  // The summary on stdout.
  std::printf("%-8s %9s %10s %8s %8s %8s %8s %8s %7s\n", "command", "count", "per s", "p50 ms",
              "p90 ms", "p99 ms", "p99.9", "max ms", "errors");
  auto row = [&](const std::string& name, const cmd_stats& cs) {
    auto n = cs.ok + cs.failed;
    std::printf("%-8s %9llu %10.1f %8.2f %8.2f %8.2f %8.2f %8.2f %7llu\n", name.c_str(),
                static_cast<unsigned long long>(n), static_cast<double>(n) / measured_s,
                ms(cs.latency.quantile_us(0.5)), ms(cs.latency.quantile_us(0.9)),
                ms(cs.latency.quantile_us(0.99)), ms(cs.latency.quantile_us(0.999)),
                ms(cs.latency.max_us()), static_cast<unsigned long long>(cs.failed));
  };
  for (int c = 0; c < c_count; ++c)
    if (s.cmds[c].ok + s.cmds[c].failed > 0)
      row(cmd_name(c), s.cmds[c]);
  row("all", all);
  for (auto& [k, v] : errors)
    std::printf("  error %-40s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  std::printf("measured %.1f s, %d devices, load %.2f -> %.2f, loadgen cpu %.1f s, "
              "timeouts %llu, outstanding %llu\n",
              measured_s, eo.devices, load_measure[0], load_end[0], cpu_end - cpu_measure,
              static_cast<unsigned long long>(s.timeouts),
              static_cast<unsigned long long>(outstanding));
  if (!json_file.empty()) {
    std::ofstream f{json_file};
    f << out.dump(2) << "\n";
    if (!f)
      return bad("--json: cannot write " + json_file);
  }
  if (eo.mode == mode::populate && !eng.populate_done()) {
    std::cerr << "loadgen: populate did not finish: " << eng.creates_ok.load() << " meetings, "
              << eng.joins_ok.load() << " joins" << std::endl;
    return 1;
  }
  return interrupted ? 130 : 0;
}
