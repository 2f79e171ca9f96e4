// The webhook delivery actor (docs/protocol.md §15): sends the outbox's
// events to the application's backend. Meetings commit each event with the
// change it reports (the outbox row) and then hand the row here; the actor
// also reads the outbox at start, and again every few seconds, for the rows
// it does not hold (events of a previous run, of shards it adopted, or more
// than it keeps in memory).
//
// Per meeting and URL one attempt at a time, in the meeting's order; many
// meetings at once through an http_pool of its own (curl multi on the pool's
// thread), so a slow or dead receiver never holds up a meeting or the RTC
// calls. A failed attempt is retried after an exponential wait with jitter
// until the event is older than --webhook-max-age; then it is given up. Both
// outcomes are written back to the outbox (status, attempts, last error).
// Delivery is at least once: an event whose outcome was not yet committed
// when the node died is sent again after the restart, with the same id.
#pragma once

#include "actors/atoms.hpp"
#include "gateway/http_pool.hpp"
#include "gateway/webhook_delivery.hpp"
#include "persistence/shard_map.hpp"
#include "persistence/store_actor.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>


namespace meetingd {

using webhook_actor = caf::typed_actor<
  // Outbox rows a meeting just committed.
  caf::reacts_to<webhook_atom, std::vector<webhook_record>>,
  // Its own round: read the outbox for rows it does not hold.
  caf::reacts_to<outbox_atom>,
  // Internal: attempt `id` finished (from the pool's thread).
  caf::reacts_to<http_done_atom, std::uint64_t, http_result>,
  // Internal: the wait of the queue (URL and meeting) is over; try again.
  caf::reacts_to<retry_atom, std::string>>;

struct webhook_actor_state {
  /// The events of one meeting for one URL, by sequence number; the first
  /// is the one being delivered.
  struct queue {
    std::map<std::int64_t, webhook_record> events;
    int failures = 0;  // failed attempts of the first event
    bool busy = false; // an attempt in flight, waiting for a slot, or a retry waiting
    bool parked = false; // its URL is failing: waits for the probe (endpoint::parked)
  };

  /// One URL. While it keeps failing, one queue at a time (the probe) tries
  /// it, on that queue's backoff; the others wait parked, so a receiver that
  /// is down costs an attempt per backoff step, not one per meeting.
  struct endpoint {
    int failures = 0;       // failed attempts in a row, across meetings
    bool paused = false;    // failures >= pause_after: only the probe goes
    std::string probe;      // the queue whose attempts probe the URL
    std::vector<std::string> parked;
    /// Failure lines: the first of a run, then one a minute with the count.
    std::uint64_t unlogged = 0;
    std::chrono::steady_clock::time_point logged_at{};
  };
  /// Failed attempts in a row after which a URL is probed by one queue only.
  static constexpr int pause_after = 3;

  webhooks::settings cfg;
  store_actor store;
  /// Several nodes: this node delivers the events of the shards it holds.
  std::shared_ptr<shard_map> shards;
  std::unordered_map<std::string, queue> queues; // by queue_key
  std::unordered_map<std::string, endpoint> endpoints; // by URL
  /// Every event held (by row_key), from when it comes in until its outcome
  /// is committed: nothing is queued twice, whichever way it came.
  std::unordered_set<std::string> held;
  /// Queues waiting for an attempt slot, in order.
  std::deque<std::string> waiting;
  std::unordered_map<std::uint64_t, std::string> in_flight; // attempt id -> queue key
  std::uint64_t next_id = 1;
  /// Rows were left in the outbox for want of room: new rows are not taken
  /// until a read of the outbox found it drained, so that no meeting's later
  /// event goes out before an earlier one still in the outbox.
  bool overflowed = false;
  /// A read of the outbox is under way.
  bool reading = false;
  /// A node without shards: the first read is done. With shards: those read
  /// since this node holds them. A queue waits until its meeting's is, so
  /// that older events in the outbox go first.
  bool first_read_done = false;
  std::unordered_set<int> read_shards;
  std::mt19937_64 rng{std::random_device{}()};
  /// Declared last so it is destroyed first: its thread is gone before the
  /// rest of the state.
  std::unique_ptr<http_pool> pool;

  static inline const char* name = "webhooks";
};

/// Spawn with `sys.spawn(webhook_actor_impl, settings, store, shards)`.
webhook_actor::behavior_type
webhook_actor_impl(webhook_actor::stateful_pointer<webhook_actor_state> self,
                   webhooks::settings cfg, store_actor store, std::shared_ptr<shard_map> shards);

} // namespace meetingd
