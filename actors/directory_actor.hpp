// The directory actor: the shell around actors/directory_core.*. It is the
// first stop of every command after the LMQ gateway: it resolves the sender
// to a user, answers what is its own (login, logout, users, admin listings),
// spawns meeting actors for meeting.create and hands every other meeting
// command to its meeting with the facts the meeting needs (who is busy,
// online). It fans events out to devices and tells meetings when a user's
// devices go offline or come back. After a restart it keeps the recovered
// meetings dormant (state only, no actor) until one has work to do.
#pragma once

#include "actors/core/directory_core.hpp"
#include "actors/core/dormant_meetings.hpp"
#include "actors/commit_order.hpp"
#include "actors/interfaces.hpp"
#include "actors/lease_actor.hpp"
#include "actors/meeting_actor.hpp"
#include "actors/node_env.hpp"

#include <caf/stateful_actor.hpp>

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace meetingd {

struct directory_links {
  store_actor store;
  rtc_actor rtc;
  hasher_actor hasher;
  lmq_actor lmq; // may be unset in tests: events are then dropped
  lease_actor lease; // several nodes only (admin.nodes)
  webhook_actor webhooks; // unset without --webhook-url
};

/// A graceful hand-over asked by the lease actor: done once none of the
/// shards' meetings has an actor (each finished what it had in flight).
struct pending_handover {
  std::vector<int> shards;
  caf::typed_response_promise<bool> done;
};

/// A meeting with an actor (see directory_meetings.hpp).
struct meeting_slot {
  meeting_actor actor;
  /// When a command or presence change was last routed to it.
  unix_ms last_command = 0;
  /// It was asked to hand over its state: what arrives for it waits in `held`.
  bool passivating = false;
};

struct directory_actor_state {
  directory_core book;
  node_env_ptr env;
  directory_links links;
  std::unordered_map<std::string, meeting_slot> meetings;
  /// The actors in `meetings`, so that the down message of one that is no
  /// longer there (passivated, finished: it quit after the directory let it
  /// go) costs a lookup, not a scan of every meeting.
  std::unordered_set<caf::actor_id> slot_actors;
  /// Meetings without an actor until they have something to do.
  dormant_meetings dormant;
  /// When the armed wake_atom is due; 0: none armed.
  unix_ms wake_armed = 0;
  /// What arrived for meetings while they were handing over their state.
  std::unordered_map<std::string, std::vector<std::function<void()>>> held;
  /// Passivate requests in flight.
  std::size_t asking = 0;
  /// Password hashes and checks asked of the hasher pool and not answered.
  std::size_t hashing = 0;
  /// Actors stopped since memory was last returned to the system.
  std::size_t passivated_since_trim = 0;
  /// This actor's replies in commit order, so that its reads show committed state.
  commit_order commits;
  /// Several nodes: the meetings of shards other nodes serve, as committed,
  /// for the registry (lists, 410) and the busy index (docs/cluster.md).
  std::unordered_map<std::string, meeting> replicas;
  std::vector<pending_handover> handovers;
  static inline const char* name = "directory";
};

/// Spawns the directory over what recovery loaded: users, devices, login
/// failures, removals, and the meetings (live ones dormant, or with an actor
/// if work is due at once; ended ones a registry entry that answers 410).
directory_actor::behavior_type
directory_actor_impl(directory_actor::stateful_pointer<directory_actor_state> self,
                     node_env_ptr env, directory_links links, snapshot recovered);

/// The password hasher: PBKDF2 hashing and checking, meant to run detached.
/// `worker` numbers the workers of a pool (CAF 0.17 dereferences a null
/// argument pack when a function actor is spawned without arguments, which
/// UBSan rightly reports, so every actor here takes at least one).
hasher_actor::behavior_type hasher_impl(hasher_actor::pointer self, int worker);

} // namespace meetingd
