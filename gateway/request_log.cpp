#include "gateway/request_log.hpp"

#include "actors/core/crypto.hpp"

#include <cstring>

namespace meetingd {

request_log::key_type request_log::key(const std::string& client,
                                       const std::string& id) {
  std::string joined;
  joined.reserve(client.size() + id.size() + 1);
  joined += client;
  joined += '\n'; // cannot occur in a client id or a request id
  joined += id;
  auto digest = crypto::sha256(joined);
  key_type k;
  std::memcpy(&k.high, digest.data(), sizeof k.high);
  std::memcpy(&k.low, digest.data() + sizeof k.high, sizeof k.low);
  return k;
}

request_log::verdict request_log::check(const std::string& client,
                                        const std::string& id) {
  auto [it, fresh] = entries_.try_emplace(key(client, id));
  if (fresh)
    return verdict::fresh;
  auto& e = it->second;
  if (e.done)
    return verdict::answered;
  ++e.waiting;
  return verdict::in_flight;
}

int request_log::complete(const std::string& client, const std::string& id,
                          bool replayable, unix_ms now) {
  auto k = key(client, id);
  auto it = entries_.find(k);
  if (it == entries_.end())
    return 0;
  auto waiting = it->second.waiting;
  if (!replayable) {
    entries_.erase(it);
    return waiting;
  }
  auto& e = it->second;
  e.done = true;
  e.waiting = 0;
  e.at = now;
  order_.emplace_back(now, k);
  return waiting;
}

void request_log::forget(const std::string& client, const std::string& id) {
  // Its record in order_ finds no entry (or a newer one) and is skipped.
  auto it = entries_.find(key(client, id));
  if (it != entries_.end() && it->second.done)
    entries_.erase(it);
}

void request_log::restore(const std::string& client, const std::string& id, unix_ms at) {
  auto k = key(client, id);
  auto& e = entries_[k];
  e.done = true;
  e.at = at;
  order_.emplace_back(at, k);
}

std::size_t request_log::prune(unix_ms before) {
  std::size_t n = 0;
  while (!order_.empty() && order_.front().first < before) {
    auto it = entries_.find(order_.front().second);
    // Only forget the entry this record was made for, not a newer one.
    if (it != entries_.end() && it->second.done && it->second.at == order_.front().first) {
      entries_.erase(it);
      ++n;
    }
    order_.pop_front();
  }
  return n;
}

} // namespace meetingd
