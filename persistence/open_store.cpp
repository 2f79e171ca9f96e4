// Which store --db names (see store.hpp): one rule, used by the node and
// the tools that open a node's database.
#include "persistence/pg_connection.hpp"
#include "persistence/store.hpp"

namespace meetingd {

std::unique_ptr<store> open_store(const std::string& db, const store_options& options,
                                  std::string* error) {
  if (pg::is_uri(db))
    return open_pg_store(db, options.server_timeout, error);
  return open_sqlite_store(db, options.synchronous_full, error);
}

} // namespace meetingd
