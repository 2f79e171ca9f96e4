#include "config/metrics.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace meetingd::metrics {

// -- histogram ----------------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)),
    counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
}

void histogram::observe(double v) noexcept {
  // Buckets are "less or equal": the first bound not below v.
  auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v)
                                    - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  auto sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + v, std::memory_order_relaxed))
    ;
}

histogram::reading histogram::read() const {
  reading r;
  r.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    r.cumulative.push_back(total);
  }
  r.sum = sum_.load(std::memory_order_relaxed);
  return r;
}

// -- rendering ----------------------------------------------------------------------

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<std::int64_t>(v));
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", v);
  return text;
}

namespace {

/// Label values escape backslash, double quote and newline; help text
/// backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes)
      out += "\\\"";
    else
      out += c;
  }
}

} // namespace

family_base::family_base(std::string name, std::string help,
                         std::vector<std::string> label_names)
  : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {
}

std::string family_base::label_text(const std::vector<std::string>& values,
                                    std::string_view extra) const {
  if (values.empty() && extra.empty())
    return {};
  std::string out = "{";
  for (std::size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
    if (i > 0)
      out += ',';
    out += label_names_[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  if (!extra.empty()) {
    if (out.size() > 1)
      out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

void family_base::header(std::string& out, const char* type) const {
  out += "# HELP " + name_ + ' ';
  append_escaped(out, help_, false);
  out += "\n# TYPE " + name_ + ' ' + type + '\n';
}

template <>
void family<counter>::render(std::string& out) const {
  header(out, "counter");
  std::lock_guard lock{mutex_};
  for (auto& [labels, c] : children_)
    out += name_ + label_text(labels) + ' ' + std::to_string(c->value()) + '\n';
}

template <>
void family<gauge>::render(std::string& out) const {
  header(out, "gauge");
  std::lock_guard lock{mutex_};
  for (auto& [labels, g] : children_)
    out += name_ + label_text(labels) + ' ' + format_value(g->value()) + '\n';
}

template <>
void family<histogram>::render(std::string& out) const {
  header(out, "histogram");
  std::lock_guard lock{mutex_};
  for (auto& [labels, h] : children_) {
    auto r = h->read();
    for (std::size_t i = 0; i < r.cumulative.size(); ++i) {
      auto le = i < bounds_.size() ? format_value(bounds_[i]) : std::string{"+Inf"};
      out += name_ + "_bucket" + label_text(labels, "le=\"" + le + '"') + ' '
             + std::to_string(r.cumulative[i]) + '\n';
    }
    out += name_ + "_sum" + label_text(labels) + ' ' + format_value(r.sum) + '\n';
    out += name_ + "_count" + label_text(labels) + ' ' + std::to_string(r.cumulative.back())
           + '\n';
  }
}

void registry::on_scrape(std::function<void()> refresh) {
  std::lock_guard lock{mutex_};
  refreshers_.push_back(std::move(refresh));
}

std::string registry::render() const {
  std::lock_guard lock{mutex_};
  for (auto& refresh : refreshers_)
    refresh();
  std::string out;
  out.reserve(16384);
  for (auto& f : families_)
    f->render(out);
  return out;
}

// -- process metrics ----------------------------------------------------------------

namespace {

/// Fields of /proc/self/stat after the command name (which may hold spaces),
/// numbered as in proc(5) from field 3 (state) on.
std::vector<std::string> own_stat_fields() {
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return fields;
  std::istringstream rest{line.substr(close + 2)};
  for (std::string f; rest >> f;)
    fields.push_back(f);
  return fields;
}

/// Seconds since the epoch when the system booted: the wall clock less the
/// time since boot (not /proc/stat's btime, which a sandboxed service with
/// ProcSubset=pid cannot read).
double boot_time() {
  timespec wall{}, since_boot{};
  clock_gettime(CLOCK_REALTIME, &wall);
  clock_gettime(CLOCK_BOOTTIME, &since_boot);
  return static_cast<double>(wall.tv_sec - since_boot.tv_sec)
         + static_cast<double>(wall.tv_nsec - since_boot.tv_nsec) / 1e9;
}

void gauge_line(std::string& out, const char* name, const char* type, const char* help,
                double v) {
  out += std::string{"# HELP "} + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n'
         + name + ' ' + format_value(v) + '\n';
}

} // namespace

void render_process_metrics(std::string& out) {
  auto f = own_stat_fields();
  // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24; f[0] is field 3.
  if (f.size() < 22)
    return;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto field = [&](int n) { return std::stod(f[static_cast<std::size_t>(n - 3)]); };
  gauge_line(out, "process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.", (field(14) + field(15)) / ticks);
  gauge_line(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             field(24) * page);
  gauge_line(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
             field(23));
  gauge_line(out, "process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.",
             boot_time() + field(22) / ticks);
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator{"/proc/self/fd", ec};
       !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    ++fds;
  gauge_line(out, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    gauge_line(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur));
}

// -- the node's metrics -------------------------------------------------------------

namespace buckets {
const std::vector<double> command_seconds{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                          0.1,    0.2,   0.5,   1,     2,    5,    10};
const std::vector<double> rtc_seconds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1,     2.5,  5,     10};
const std::vector<double> commit_seconds{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,    0.025,  0.05,    0.1,    0.25,  1};
const std::vector<double> batch_size{1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
} // namespace buckets

node_metrics::node_metrics()
  : build_info(reg.add<gauge>("meetingd_build_info",
                              "Always 1; the labels say which meetingd and node this is.",
                              {"version", "node"})),
    ready(reg.add<gauge>("meetingd_ready",
                         "1 once recovered, connected to the broker and able to commit "
                         "(what /readyz answers 200 for).")
            .only()),
    commands(reg.add<counter>("meetingd_commands_total",
                              "Commands answered, by type and reply code (command=\"invalid\" "
                              "for a payload that is not a command).",
                              {"command", "code"})),
    command_seconds(reg.add<histogram>("meetingd_command_duration_seconds",
                                       "From a command's arrival to its reply, by type.",
                                       {"command"}, buckets::command_seconds)),
    duplicates(reg.add<counter>("meetingd_commands_duplicate_total",
                                "Commands repeated with an id already seen: answered with the "
                                "stored reply, not run again.")
                 .only()),
    forwarded(reg.add<counter>("meetingd_commands_forwarded_total",
                               "Commands handed to the node that serves their meeting.")
                .only()),
    events(reg.add<counter>("meetingd_events_published_total", "Events published to devices.")
             .only()),
    meetings(reg.add<gauge>("meetingd_meetings",
                            "Meetings this node holds, by state (active, ended).", {"state"})),
    meetings_dormant(reg.add<gauge>("meetingd_meetings_dormant",
                                    "Active meetings kept as state only, without an actor.")
                       .only()),
    participants(reg.add<gauge>("meetingd_participants",
                                "Participants of the active meetings this node holds.")
                   .only()),
    ringing_invitations(reg.add<gauge>("meetingd_invitations_ringing",
                                       "Invitations not yet answered.")
                          .only()),
    devices_online(reg.add<gauge>("meetingd_devices_online",
                                  "Devices online (their presence message seen).")
                     .only()),
    users(reg.add<gauge>("meetingd_users", "Users known to the node.").only()),
    rtc_calls(reg.add<counter>("meetingd_rtc_calls_total",
                               "RTC OpenAPI calls finished, by action and outcome (ok, refused, "
                               "unavailable, circuit_open).",
                               {"action", "outcome"})),
    rtc_seconds(reg.add<histogram>("meetingd_rtc_call_duration_seconds",
                                   "RTC OpenAPI call time with its retries, by action.",
                                   {"action"}, buckets::rtc_seconds)),
    rtc_retries(reg.add<counter>("meetingd_rtc_retries_total",
                                 "RTC HTTP requests sent again after a retryable failure.")
                  .only()),
    rtc_circuit_open(reg.add<gauge>("meetingd_rtc_circuit_open",
                                    "1 while the RTC circuit breaker fails calls fast.")
                       .only()),
    commit_seconds(reg.add<histogram>("meetingd_store_commit_duration_seconds",
                                      "Time of one database transaction (a batch of changes).",
                                      {}, buckets::commit_seconds)
                     .only()),
    batch_size(reg.add<histogram>("meetingd_store_batch_size",
                                  "Changesets (one per command or timer) per transaction.", {},
                                  buckets::batch_size)
                 .only()),
    checkpoint_seconds(reg.add<histogram>("meetingd_store_checkpoint_duration_seconds",
                                          "Time of one SQLite write-ahead log checkpoint, run "
                                          "between groups.",
                                          {}, buckets::commit_seconds)
                         .only()),
    commit_failures(reg.add<counter>("meetingd_store_commit_failures_total",
                                     "Transactions that failed and were held for a retry.")
                      .only()),
    fenced(reg.add<counter>("meetingd_store_fenced_total",
                            "Changes dropped because their shard moved to another node.")
             .only()),
    store_available(reg.add<gauge>("meetingd_store_available",
                                   "1 while the database takes writes.")
                      .only()),
    broker_connected(reg.add<gauge>("meetingd_broker_connected",
                                    "1 while connected to the MQTT broker.")
                       .only()),
    broker_disconnects(reg.add<counter>("meetingd_broker_disconnects_total",
                                        "Connections to the MQTT broker lost.")
                         .only()),
    webhooks_delivered(reg.add<counter>("meetingd_webhooks_delivered_total",
                                        "Webhook events the backend answered with 2xx.")
                         .only()),
    webhook_failures(reg.add<counter>("meetingd_webhook_failed_attempts_total",
                                      "Webhook attempts that failed (non-2xx, timeout, "
                                      "connection error) and were retried or given up.")
                       .only()),
    webhooks_given_up(reg.add<counter>("meetingd_webhooks_given_up_total",
                                       "Webhook events given up after --webhook-max-age "
                                       "(the webhook_failures view lists them).")
                        .only()),
    webhooks_pending(reg.add<gauge>("meetingd_webhooks_pending",
                                    "Webhook events this node holds for delivery now.")
                       .only()),
    shards_owned(reg.add<gauge>("meetingd_shards_owned",
                                "Shards whose lease this node holds (0 on SQLite: one node "
                                "serves every meeting).")
                   .only()),
    shards_total(reg.add<gauge>("meetingd_shards", "Shards of the database (--shards; 0 on "
                                                   "SQLite).")
                   .only()) {
  store_available.set(1);
}

node_metrics& node() {
  static node_metrics instance;
  return instance;
}

} // namespace meetingd::metrics
