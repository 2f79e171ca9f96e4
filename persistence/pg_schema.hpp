// The PostgreSQL schema of meetingd and the migrations that build it.
//
// The tables, their columns and the operator views are those of the SQLite
// schema (persistence/schema.*, docs/database.md), in PostgreSQL's types:
// times are bigint unix milliseconds in the tables (0 = none) and
// `timestamptz` in the views (NULL where a time is 0), flags are boolean,
// enums readable text with CHECKs, ids text in the "C" collation (byte
// order, as SQLite compares them). `"user"` is quoted: a reserved word.
//
// The version lives in the table `meetingd_schema` (one row per migration
// applied, with when). Each migration runs in its own transaction under an
// advisory lock, so two nodes starting at once migrate once, and a crash in
// the middle leaves the previous version intact. A database written by a
// newer meetingd (a version above the last migration) is refused.
//
// Changing the schema: append a migration here AND in schema.cpp (the two
// stores must keep the same columns: persistence/rows.hpp reads and writes
// both); never edit one that has shipped.
#pragma once

#include "persistence/migration.hpp"

#include <optional>
#include <string>
#include <vector>

namespace meetingd::pg_schema {

using meetingd::migration;

/// All migrations of this build, in order (versions 1, 2, ...).
const std::vector<migration>& migrations();

/// The schema version this build writes (the last migration's).
int latest_version();

/// The advisory lock key every node takes while migrating ("meetingd" in
/// ASCII), so an operator can find it in pg_locks.
constexpr long long migration_lock = 0x6d656574696e6764LL;

} // namespace meetingd::pg_schema
