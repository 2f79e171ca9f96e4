// The dormant meetings (see dormant_meetings.hpp).
#include "actors/dormant_meetings.hpp"

#include "actors/meeting_core.hpp"

namespace meetingd {

void dormant_meetings::add(meeting m, unix_ms wake_at) {
  auto id = m.id;
  if (auto old = meetings_.find(id); old != meetings_.end())
    by_wake_.erase({old->second.wake_at, id});
  by_wake_.emplace(wake_at, id);
  meetings_.insert_or_assign(std::move(id), entry{std::move(m), wake_at});
}

std::optional<meeting> dormant_meetings::take(const std::string& id) {
  auto i = meetings_.find(id);
  if (i == meetings_.end())
    return std::nullopt;
  by_wake_.erase({i->second.wake_at, id});
  auto m = std::move(i->second.m);
  meetings_.erase(i);
  return m;
}

std::vector<meeting> dormant_meetings::take_due(unix_ms now) {
  std::vector<meeting> due;
  while (!by_wake_.empty() && by_wake_.begin()->first <= now) {
    auto id = by_wake_.begin()->second;
    by_wake_.erase(by_wake_.begin());
    auto i = meetings_.find(id);
    due.push_back(std::move(i->second.m));
    meetings_.erase(i);
  }
  return due;
}

std::optional<unix_ms> dormant_meetings::next_wake() const {
  if (by_wake_.empty())
    return std::nullopt;
  return by_wake_.begin()->first;
}

std::optional<unix_ms> dormant_until(const meeting& m, unix_ms now) {
  if (m.status != meeting_status::active)
    return std::nullopt;
  auto next = next_deadline(m);
  if (!next || *next <= now)
    return std::nullopt;
  return next;
}

} // namespace meetingd
