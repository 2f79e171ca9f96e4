// The records the directory owns: users (who may log in) and devices (which
// MQTT client is bound to which user). Both are persisted by the store.
#pragma once

#include "actors/core/protocol.hpp"

#include <cstdint>
#include <string>

namespace meetingd {

struct user_record {
  std::string id;
  std::string display_name;
  std::string password_hash; // "pbkdf2-sha256$iter$salt$key"; empty: ticket-only user
  unix_ms created_at = 0;
};

struct device_record {
  std::string client; // the MQTT client id, e.g. GID_MEETING_DOWN@@@phone-1
  std::string user;
  unix_ms bound_at = 0;
  std::uint64_t last_seq = 0; // the last event seq sent to this device
  bool online = true;          // last presence seen (will or online message)
  unix_ms last_seen_at = 0;    // last uplink or presence message
};

/// How much one user may cost the service (docs/security.md, "Limits").
/// 0 turns a limit off.
struct abuse_limits {
  /// Active meetings one user has created: each is a billed RTC channel.
  int meetings_per_user = 5;
  /// meeting.create per user per minute.
  int creates_per_minute = 10;
  /// Users one meeting.create or call.invite may ring.
  int invitees_per_call = 32;
  /// Devices bound to one user at a time.
  int devices_per_user = 10;
};

/// Failed logins of one account since its last success (docs/security.md,
/// "Logins"): kept across restarts so a restart does not reset the throttle.
struct login_failures_record {
  std::string account; // the user id that was tried
  int failures = 0;
  unix_ms last_failed_at = 0;
};

/// A user removed by admin.user.remove: a login ticket that may have been
/// issued before `removed_at` must not bring the user back.
struct removed_user_record {
  std::string user;
  unix_ms removed_at = 0;
};

} // namespace meetingd
