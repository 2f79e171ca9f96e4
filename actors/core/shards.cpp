// The shard rules (see shards.hpp).
#include "actors/core/shards.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <set>

namespace meetingd::shards {

int shard_of(std::string_view id, int count) {
  if (count <= 1)
    return 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(id.data(), id.size(), digest, &n, EVP_md5(), nullptr);
  std::uint32_t head = (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16)
                       | (std::uint32_t{digest[2]} << 8) | std::uint32_t{digest[3]};
  return static_cast<int>(head % static_cast<std::uint32_t>(count));
}

std::string shard_of_sql(const std::string& column, int count) {
  return "(('x' || substr(md5(" + column + "), 1, 8))::bit(32)::bigint % "
         + std::to_string(count < 1 ? 1 : count) + ")::integer";
}

int fair_share(const std::vector<std::string>& live, const std::string& node, int count) {
  std::set<std::string> nodes(live.begin(), live.end());
  auto it = nodes.find(node);
  if (it == nodes.end() || count <= 0)
    return 0;
  auto n = static_cast<int>(nodes.size());
  auto rank = static_cast<int>(std::distance(nodes.begin(), it));
  return count / n + (rank < count % n ? 1 : 0);
}

bool claimable(const lease_row& row, const std::string& me, unix_ms now) {
  return row.owner.empty() || row.owner == me || row.lease_until < now;
}

round_plan plan_round(const std::vector<lease_row>& table, std::vector<std::string> live,
                      const std::vector<int>& held, const std::string& me, unix_ms now,
                      bool leaving) {
  round_plan plan;
  if (leaving) {
    plan.release = held;
    return plan;
  }
  if (std::find(live.begin(), live.end(), me) == live.end())
    live.push_back(me);
  auto count = static_cast<int>(table.size());
  std::set<int> mine(held.begin(), held.end());
  // Who holds how many valid leases, by the table.
  std::map<std::string, int> owned;
  bool any_free = false;
  for (auto& row : table) {
    bool valid = !row.owner.empty() && row.lease_until >= now;
    if (valid && row.owner != me)
      ++owned[row.owner];
    if (!valid && row.owner != me)
      any_free = true;
  }
  auto share = fair_share(live, me, count);
  auto have = static_cast<int>(mine.size());
  // Its own from an earlier run first: those meetings have nobody else.
  std::vector<int> others_free;
  for (auto& row : table) {
    if (mine.count(row.shard) || !claimable(row, me, now))
      continue;
    if (row.owner == me) {
      plan.take.push_back(row.shard);
      ++have;
    } else {
      others_free.push_back(row.shard);
    }
  }
  // Start from a different place per node, so that nodes taking at the same
  // moment mostly ask for different shards.
  if (!others_free.empty()) {
    auto start = static_cast<std::size_t>(shard_of(me, static_cast<int>(others_free.size())));
    std::rotate(others_free.begin(), others_free.begin() + static_cast<std::ptrdiff_t>(start),
                others_free.end());
  }
  for (auto shard : others_free) {
    if (have >= share)
      break;
    plan.take.push_back(shard);
    ++have;
  }
  if (have > share && !any_free && plan.take.empty() && !mine.empty()) {
    bool someone_needs = false;
    for (auto& node : live)
      if (node != me && owned[node] < fair_share(live, node, count))
        someone_needs = true;
    if (someone_needs)
      plan.release.push_back(*mine.rbegin());
  }
  return plan;
}

} // namespace meetingd::shards
