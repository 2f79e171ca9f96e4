// The meeting actor: the thin shell around actors/meeting_core.*. It feeds
// the core each message with the current wall time, then performs what the
// core decided: commit the changes, release the reply and the events, tell
// the directory, call the RTC service, and arm one tick for the earliest
// deadline (through the directory, so that no timer holds a passivated
// actor). One actor per meeting; nothing here blocks.
#pragma once

#include "actors/commit_order.hpp"
#include "actors/interfaces.hpp"
#include "actors/node_env.hpp"

#include <caf/stateful_actor.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace meetingd {

/// The actors a meeting talks to.
struct meeting_links {
  store_actor store;
  rtc_actor rtc;
  directory_actor directory;
  /// Set for a meeting spawned while the node recovers: told when it is up.
  std::shared_ptr<recovery_tracker> recovery;
  /// Takes the webhook events a commit made durable; unset without webhooks.
  webhook_actor webhooks;
};

/// Where a meeting actor is in its life, in this order.
enum class meeting_phase : std::uint8_t {
  unborn,   // spawned for meeting.create: no meeting yet
  live,     // the meeting exists (active, or ended with its channel still there)
  deleting, // DeleteChannel is under way
  deleted,  // the channel's deletion is committed: only owed replies remain
  finished, // told the directory it is finished; waits for `retire`
  retired,  // `retire` came: quits as soon as nothing is owed
};

struct meeting_actor_state {
  meeting m;
  meeting_phase phase = meeting_phase::unborn;
  node_env_ptr env;
  meeting_links links;
  /// The deadline the pending tick was armed for; 0 = none.
  unix_ms armed = 0;
  /// Replies and steps still waiting on the store or the RTC service.
  int outstanding = 0;
  /// DeleteChannel attempts that failed so far (for the backoff).
  int delete_failures = 0;
  /// This actor's replies in commit order, so that its reads show committed state.
  commit_order commits;
  static inline const char* name = "meeting";
};

/// Spawns a new meeting (its first message is the meeting.create request) or
/// a recovered one (`recovered` set: timers re-armed from their deadlines,
/// due ones fire at once, an unfinished DeleteChannel is retried).
meeting_actor::behavior_type
meeting_actor_impl(meeting_actor::stateful_pointer<meeting_actor_state> self,
                   node_env_ptr env, meeting_links links,
                   std::optional<meeting> recovered);

} // namespace meetingd
