// What every actor of a node shares, read-only, for its whole life: the
// settings that shape meetings, the node's identity, and how to read the
// wall clock from an actor.
//
// Wall time is the actor clock plus a fixed offset (actors/core/clock.hpp).
#pragma once

#include "actors/core/directory_state.hpp"
#include "actors/core/login_rules.hpp"
#include "actors/core/meeting_state.hpp"
#include "actors/recovery_tracker.hpp"
#include "persistence/shard_map.hpp"

#include <caf/actor_clock.hpp>
#include <caf/scheduled_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace meetingd {

struct node_env {
  std::string node_id = "node-1";
  std::string parent_topic = "MeetingCtrl";
  meeting_settings meeting;
  /// Clients obeyed on the admin topic.
  std::vector<std::string> admins;
  /// LOGIN_TICKET_SECRET; empty disables ticket logins.
  std::string ticket_secret;
  /// PBKDF2 iterations for new password hashes (OWASP's advice for
  /// PBKDF2-HMAC-SHA256; older hashes are upgraded at their next login).
  int pbkdf2_iterations = 600000;
  /// Password checks waiting for a hasher at most; more get 503 at once.
  std::size_t max_hashing = 16;
  /// A password check not done by then gets 503.
  std::chrono::milliseconds hash_timeout = std::chrono::seconds(10);
  /// The longest a login ticket may live (docs/security.md, "Login tickets").
  std::chrono::milliseconds ticket_max_age = std::chrono::hours(24);
  /// How much one user may cost the service.
  abuse_limits limits;
  /// The throttle on failed logins.
  login_throttle_settings login_throttle;
  /// How long ended meetings answer 410 rather than 404.
  std::chrono::milliseconds ended_retention = std::chrono::hours(24 * 7);
  /// A meeting without commands this long gives up its actor (its state
  /// waits in the directory, see dormant_meetings.hpp); 0: never.
  std::chrono::milliseconds passivate_after = std::chrono::minutes(1);
  /// Where meetings' webhook events go (--webhook-url, docs/protocol.md §15):
  /// one outbox row per event and URL. Empty: none are recorded.
  std::vector<std::string> webhook_urls;
  /// Idempotency window ([protocol §4](protocol.md#4-idempotency)).
  std::chrono::milliseconds request_ttl = std::chrono::minutes(10);
  /// wall ms = actor clock ms + clock_offset_ms.
  std::int64_t clock_offset_ms = 0;
  /// Wall time when the node started (admin.ping uptime).
  unix_ms started_at = 0;
  /// Told by the directory when it is initialized; the directory hands it to
  /// the meetings it gives an actor at once (null in tests that do not track
  /// recovery).
  std::shared_ptr<recovery_tracker> recovery;
  /// Several nodes (PostgreSQL): the shards this node serves and who serves
  /// the others (docs/cluster.md); null for a node on SQLite, which serves
  /// every meeting.
  std::shared_ptr<shard_map> shards;
  /// Whether the node can serve (gateway/readiness.hpp): the directory
  /// beats its heart in it; null in tests.
  std::shared_ptr<readiness> ready;

  /// The offset that maps `clock` onto the system clock now.
  static std::int64_t offset_for(const caf::actor_clock& clock) {
    return wall_offset_ms(clock.now().time_since_epoch());
  }

  unix_ms wall_now(const caf::actor_clock& clock) const {
    return wall_ms(clock.now().time_since_epoch(), clock_offset_ms);
  }
};

using node_env_ptr = std::shared_ptr<const node_env>;

/// The current wall time as an actor sees it.
template <class Self>
unix_ms wall_now(Self* self, const node_env& env) {
  return env.wall_now(self->clock());
}

} // namespace meetingd
