// The SQLite schema of meetingd and the migrations that build it.
//
// `PRAGMA user_version` is the schema version. A fresh file is version 0;
// each migration moves it up by one in its own transaction, so a crash in the
// middle of a migration leaves the previous version intact. A database written
// by a newer meetingd (a version above the last migration) is refused: this
// binary would not know what its columns mean.
//
// The base tables hold the node's state row by row (docs/database.md):
//   meetings, participants, invitations, users, devices, request_log, node_meta,
//   login_failures, removed_users, webhook_outbox
// Times are INTEGER unix milliseconds in columns named *_at / *_deadline
// (0 = none), enums are readable TEXT ('host', 'ringing', 'active'), flags are
// 0/1. The views are for operators reading the database with `sqlite3`:
//   active_meetings, ended_meetings, meeting_participants,
//   ringing_invitations, online_devices, pending_timers, throttled_logins,
//   recently_removed_users, call_records, webhook_backlog, webhook_failures
// with ISO-8601 UTC times (NULL where a time is 0). Secrets (channel_key,
// password_hash, the replies in request_log) stay in the base tables and
// appear in no view.
#pragma once

#include "persistence/migration.hpp"

#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace meetingd::schema {

using meetingd::migration;

/// All migrations of this build, in order (versions 1, 2, ...).
const std::vector<migration>& migrations();

/// The schema version this build writes (the last migration's).
int latest_version();

/// Reads `PRAGMA user_version`; -1 on error.
int current_version(sqlite3* db);

/// Brings `db` to the last version of `steps`, one transaction per step.
/// Returns an error text (naming the step and SQLite's message) or nullopt.
/// A database whose version is above the last step is refused.
std::optional<std::string>
migrate(sqlite3* db, const std::vector<migration>& steps = migrations());

} // namespace meetingd::schema
