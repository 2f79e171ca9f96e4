// Whether the node can serve (GET /readyz, systemd's READY=1, the metric
// meetingd_ready): recovered, connected to the broker, and its database
// taking writes. Each part is set by the one who knows it (the recovery
// tracker, the LMQ gateway, the store actor through store_health, the lease
// actor) and read by the HTTP port and the systemd notifier, from their own
// threads: shared atomics, like store_health, so that a health check never
// waits behind an actor's mailbox.
#pragma once

#include "persistence/store_health.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace meetingd {

struct readiness {
  /// The snapshot is loaded and the actors it needed at once are running.
  std::atomic<bool> recovered{false};
  /// Subscribed at the broker (set after the SUBACK, cleared on a loss).
  std::atomic<bool> broker_connected{false};
  /// Several nodes: the last lease round reached the database.
  std::atomic<bool> leases_renewed{true};
  /// Set by the store actor: its last commit worked. Made here, once, so
  /// that readers on other threads never see the pointer change.
  const std::shared_ptr<store_health> store = std::make_shared<store_health>();
  /// SIGTERM: the node drains and leaves; load balancers should stop
  /// sending it anything new.
  std::atomic<bool> stopping{false};
  /// Steady-clock milliseconds when the directory last published its
  /// figures (every second): the actors run. The systemd watchdog is fed
  /// only while this moves.
  std::atomic<std::int64_t> directory_heartbeat_ms{0};

  /// Empty when ready; else why not, for an operator ("broker
  /// disconnected; database unavailable").
  std::string why_not() const {
    std::string reasons;
    auto add = [&](const char* reason) {
      if (!reasons.empty())
        reasons += "; ";
      reasons += reason;
    };
    if (stopping.load(std::memory_order_relaxed))
      add("stopping: handing over and draining (SIGTERM)");
    if (!recovered.load(std::memory_order_relaxed))
      add("recovering: the state is still being loaded");
    if (!broker_connected.load(std::memory_order_relaxed))
      add("broker disconnected: not subscribed at the MQTT broker (log: lmq.connection_lost)");
    if (!store->available.load(std::memory_order_relaxed))
      add("database unavailable: commits fail (log: store.commit_failed)");
    if (!leases_renewed.load(std::memory_order_relaxed))
      add("database unavailable: lease rounds fail (log: lease.round_failed)");
    return reasons;
  }
  bool ready() const {
    return why_not().empty();
  }

  static std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
  }
};

} // namespace meetingd
