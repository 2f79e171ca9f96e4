// Metrics in the Prometheus text format (docs/monitoring.md): counters,
// gauges and histograms that actors update with atomics as things happen,
// and a registry that renders them when /metrics is scraped. A scrape never
// asks an actor anything: it reads what the actors published.
//
// Labels are for bounded sets only (a command type, a reply code, an RTC
// action): never a meeting, user or client id, which would make a series per
// meeting and a scrape as large as the database.
//
//   auto& m = metrics::node();
//   m.commands.with({"meeting.create", "200"}).add();
//   m.command_seconds.with({"meeting.create"}).observe(0.004);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace meetingd::metrics {

class counter {
public:
  void add(std::uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
public:
  void set(double v) noexcept {
    value_.store(v, std::memory_order_relaxed);
  }
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

class histogram {
public:
  /// `bounds`: the upper bounds of the buckets, ascending (+Inf is implied).
  explicit histogram(std::vector<double> bounds);
  void observe(double v) noexcept;

  struct reading {
    std::vector<std::uint64_t> cumulative; // one per bound, then +Inf
    double sum = 0;
  };
  reading read() const;
  const std::vector<double>& bounds() const {
    return bounds_;
  }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

/// What a family needs of the registry: its name, help and how to render.
class family_base {
public:
  family_base(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~family_base() = default;
  virtual void render(std::string& out) const = 0;
  const std::string& name() const {
    return name_;
  }

protected:
  /// `{a="x",b="y"}` for these values (and `extra`, e.g. le="0.5"), or
  /// nothing without labels.
  std::string label_text(const std::vector<std::string>& values,
                         std::string_view extra = {}) const;
  void header(std::string& out, const char* type) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};

/// The metrics of one name, one per combination of label values, made on
/// first use. `with` takes a lock: callers on a hot path keep the reference
/// it returns (it stays valid for the registry's life).
template <class Metric>
class family : public family_base {
public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
    : family_base(std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(bounds)) {
  }

  Metric& with(std::initializer_list<std::string_view> values) {
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard lock{mutex_};
    auto& slot = children_[std::move(key)];
    if (!slot)
      slot = make();
    return *slot;
  }
  /// The one metric of a family without labels.
  Metric& only() {
    return with({});
  }

  void render(std::string& out) const override;

private:
  std::unique_ptr<Metric> make() const {
    if constexpr (std::is_same_v<Metric, histogram>)
      return std::make_unique<histogram>(bounds_);
    else
      return std::make_unique<Metric>();
  }

  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

template <>
void family<counter>::render(std::string& out) const;
template <>
void family<gauge>::render(std::string& out) const;
template <>
void family<histogram>::render(std::string& out) const;

class registry {
public:
  template <class Metric>
  family<Metric>& add(std::string name, std::string help,
                      std::vector<std::string> label_names = {}, std::vector<double> bounds = {}) {
    auto f = std::make_unique<family<Metric>>(std::move(name), std::move(help),
                                              std::move(label_names), std::move(bounds));
    auto& ref = *f;
    std::lock_guard lock{mutex_};
    families_.push_back(std::move(f));
    return ref;
  }
  /// Runs before every rendering, for figures read rather than counted
  /// (a shard map's size, the process's memory).
  void on_scrape(std::function<void()> refresh);
  /// Every family in the text format, version 0.0.4.
  std::string render() const;

private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family_base>> families_;
  std::vector<std::function<void()>> refreshers_;
};

/// A number as the text format writes it: integers without a fraction,
/// +Inf, -Inf, NaN.
std::string format_value(double v);

/// The `process_*` metrics Prometheus' client libraries export, read from
/// /proc/self: CPU seconds, resident and virtual memory, open and maximum
/// file descriptors, start time. Nothing on a system without /proc.
void render_process_metrics(std::string& out);

/// Bucket bounds fitted to what the benchmarks measured (docs/benchmarks.md):
/// commands take a millisecond or two and up to a few hundred with an RTC
/// call; a commit a tenth of a millisecond on SQLite to a few on PostgreSQL.
namespace buckets {
extern const std::vector<double> command_seconds;
extern const std::vector<double> rtc_seconds;
extern const std::vector<double> commit_seconds;
extern const std::vector<double> batch_size;
} // namespace buckets

/// The node's metrics, one set per process (a node is a process; the
/// Prometheus client libraries keep a default registry the same way).
struct node_metrics {
  registry reg;

  family<gauge>& build_info;
  gauge& ready;
  // commands
  family<counter>& commands;
  family<histogram>& command_seconds;
  counter& duplicates;
  counter& forwarded;
  counter& events;
  // meetings, as the directory last published them
  family<gauge>& meetings;
  gauge& meetings_dormant;
  gauge& participants;
  gauge& ringing_invitations;
  gauge& devices_online;
  gauge& users;
  // the RTC OpenAPI
  family<counter>& rtc_calls;
  family<histogram>& rtc_seconds;
  counter& rtc_retries;
  gauge& rtc_circuit_open;
  // the store
  histogram& commit_seconds;
  histogram& batch_size;
  histogram& checkpoint_seconds;
  counter& commit_failures;
  counter& fenced;
  gauge& store_available;
  // the broker
  gauge& broker_connected;
  counter& broker_disconnects;
  // webhooks to the application's backend
  counter& webhooks_delivered;
  counter& webhook_failures;
  counter& webhooks_given_up;
  gauge& webhooks_pending;
  // several nodes
  gauge& shards_owned;
  gauge& shards_total;

  node_metrics();
};

node_metrics& node();

} // namespace meetingd::metrics
