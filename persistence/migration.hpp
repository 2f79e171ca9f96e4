// One step of a store's schema, for both stores' migration lists
// (schema.hpp for SQLite, pg_schema.hpp for PostgreSQL).
#pragma once

#include <string>

namespace meetingd {

/// Applied to a database at `version - 1`; never edited once shipped.
struct migration {
  int version;
  std::string description;
  std::string sql;
};

} // namespace meetingd
