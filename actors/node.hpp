// A meetingd node: recovery from the store, the actor graph, and an orderly
// shutdown. `meetingd_main.cpp` is the process around it; tests and
// benchmarks can run a node in-process the same way.
#pragma once

#include "actors/directory_actor.hpp"
#include "config/options.hpp"
#include "gateway/lmq_gateway.hpp"
#include "persistence/change_feed.hpp"

#include <caf/actor_system.hpp>

#include <memory>
#include <optional>
#include <string>

namespace meetingd {

/// What recovery found, for the start-up log line and the benchmarks.
struct recovery_report {
  std::size_t live_meetings = 0;
  std::size_t ended_meetings = 0;
  std::size_t users = 0;
  std::size_t devices = 0;
  std::size_t requests = 0;
  bool clean_shutdown = true;
  double load_ms = 0;
  /// Set if the state could not be loaded: the node must not start.
  std::string error;
};

struct node_actors {
  store_actor store;
  rtc_actor rtc;
  hasher_actor hasher;
  lmq_actor lmq;
  directory_actor directory;
  lease_actor lease; // several nodes (PostgreSQL) only
  webhook_actor webhooks; // with --webhook-url only
  /// Several nodes: what the other nodes commit, heard from the database.
  std::shared_ptr<change_feed::listener> feed;
};

/// Spawns the whole node over `db` (already opened): loads the snapshot,
/// spawns store, RTC gateway, hashers, LMQ gateway and directory (which keeps
/// the recovered meetings dormant, spawning actors only for those with work
/// due), then attaches the gateway so it connects.
node_actors start_node(caf::actor_system& sys, const node_setup& setup,
                       std::unique_ptr<store> db, recovery_report& report);

/// Orderly stop: on several nodes the shards are handed over first (their
/// meetings finish what is in flight; other nodes take them at once); the
/// gateway stops taking commands and answers those in flight, the store
/// commits what is pending, marks the shutdown clean and checkpoints. Returns false if something did not finish in time.
bool stop_node(caf::actor_system& sys, const node_actors& node,
               std::chrono::seconds timeout);

/// A pool in front of detached hasher workers (PBKDF2 is CPU-bound).
hasher_actor spawn_hashers(caf::actor_system& sys, int workers);

} // namespace meetingd
