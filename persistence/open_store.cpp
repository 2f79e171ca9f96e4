// Which store --db names (see store.hpp): one rule, used by the node and
// the tools that open a node's database.
#include "persistence/pg_connection.hpp"
#include "persistence/store.hpp"

#include "actors/core/shards.hpp"

#include <algorithm>

namespace meetingd {

std::unique_ptr<store> open_store(const std::string& db, const store_options& options,
                                  std::string* error) {
  if (pg::is_uri(db))
    return open_pg_store(db, options, error);
  return open_sqlite_store(db, options.synchronous_full, error, options.sqlite);
}

} // namespace meetingd

namespace meetingd {

bool in_shards(const std::string& meeting, const std::vector<int>& shards, int count) {
  if (shards.empty())
    return count == 0;
  auto s = shards::shard_of(meeting, count);
  return std::find(shards.begin(), shards.end(), s) != shards.end();
}

snapshot store::load_shards(const std::vector<int>& shards, int count, unix_ms ended_since) {
  auto all = load(0, ended_since);
  snapshot out;
  out.error = std::move(all.error);
  auto wanted = [&](const std::string& id) { return in_shards(id, shards, count); };
  for (auto& m : all.live_meetings)
    if (wanted(m.id))
      out.live_meetings.push_back(std::move(m));
  for (auto& m : all.ended_meetings)
    if (wanted(m.id))
      out.ended_meetings.push_back(std::move(m));
  return out;
}

} // namespace meetingd
