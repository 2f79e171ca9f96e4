// The dormant meetings (see dormant_meetings.hpp).
#include "actors/core/dormant_meetings.hpp"

#include "actors/core/meeting_core.hpp"

#include <algorithm>

namespace meetingd {

std::vector<meeting> dormant_meetings::adopt(std::vector<meeting> recovered, unix_ms now) {
  std::vector<meeting> awake;
  adopted_ = std::move(recovered);
  adopted_taken_.assign(adopted_.size(), false);
  adopted_by_id_.clear();
  adopted_by_wake_.clear();
  adopted_left_ = 0;
  for (std::uint32_t i = 0; i < adopted_.size(); ++i) {
    if (auto until = dormant_until(adopted_[i], now)) {
      adopted_by_id_.push_back(i);
      adopted_by_wake_.emplace_back(*until, i);
      ++adopted_left_;
    } else {
      awake.push_back(std::move(adopted_[i]));
      adopted_taken_[i] = true;
    }
  }
  std::sort(adopted_by_id_.begin(), adopted_by_id_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return adopted_[a].id < adopted_[b].id; });
  std::sort(adopted_by_wake_.begin(), adopted_by_wake_.end(),
            [](auto& a, auto& b) { return a.first > b.first; });
  return awake;
}

std::optional<std::uint32_t> dormant_meetings::find_adopted(const std::string& id) const {
  auto i = std::lower_bound(adopted_by_id_.begin(), adopted_by_id_.end(), id,
                            [this](std::uint32_t index, const std::string& key) {
                              return adopted_[index].id < key;
                            });
  if (i == adopted_by_id_.end() || adopted_taken_[*i] || adopted_[*i].id != id)
    return std::nullopt;
  return *i;
}

meeting dormant_meetings::take_adopted(std::uint32_t index) {
  adopted_taken_[index] = true;
  --adopted_left_;
  auto m = std::move(adopted_[index]);
  adopted_[index].id = m.id; // keeps the id index sorted
  if (adopted_left_ == 0) {
    adopted_ = {};
    adopted_by_id_ = {};
    adopted_by_wake_ = {};
    adopted_taken_ = {};
  }
  drop_taken_wakes();
  return m;
}

void dormant_meetings::drop_taken_wakes() {
  while (!adopted_by_wake_.empty() && adopted_taken_[adopted_by_wake_.back().second])
    adopted_by_wake_.pop_back();
}

void dormant_meetings::add(meeting m, unix_ms wake_at) {
  auto id = m.id;
  if (auto i = find_adopted(id))
    take_adopted(*i);
  if (auto old = meetings_.find(id); old != meetings_.end())
    by_wake_.erase({old->second.wake_at, id});
  by_wake_.emplace(wake_at, id);
  meetings_.insert_or_assign(std::move(id), entry{std::move(m), wake_at});
}

std::optional<meeting> dormant_meetings::take(const std::string& id) {
  if (auto i = meetings_.find(id); i != meetings_.end()) {
    by_wake_.erase({i->second.wake_at, id});
    auto m = std::move(i->second.m);
    meetings_.erase(i);
    return m;
  }
  if (auto i = find_adopted(id))
    return take_adopted(*i);
  return std::nullopt;
}

std::vector<meeting> dormant_meetings::take_due(unix_ms now) {
  std::vector<meeting> due;
  for (;;) {
    bool single = !by_wake_.empty() && by_wake_.begin()->first <= now;
    bool block = !adopted_by_wake_.empty() && adopted_by_wake_.back().first <= now;
    if (single && (!block || by_wake_.begin()->first <= adopted_by_wake_.back().first)) {
      auto id = by_wake_.begin()->second;
      by_wake_.erase(by_wake_.begin());
      auto i = meetings_.find(id);
      due.push_back(std::move(i->second.m));
      meetings_.erase(i);
    } else if (block) {
      due.push_back(take_adopted(adopted_by_wake_.back().second));
    } else {
      return due;
    }
  }
}

std::optional<unix_ms> dormant_meetings::next_wake() const {
  std::optional<unix_ms> next;
  if (!by_wake_.empty())
    next = by_wake_.begin()->first;
  if (!adopted_by_wake_.empty() && (!next || adopted_by_wake_.back().first < *next))
    next = adopted_by_wake_.back().first;
  return next;
}

std::vector<meeting>
dormant_meetings::take_if(const std::function<bool(const std::string&)>& pred) {
  std::vector<std::string> ids;
  for (auto& [id, e] : meetings_)
    if (pred(id))
      ids.push_back(id);
  for (std::uint32_t i = 0; i < adopted_.size(); ++i)
    if (!adopted_taken_[i] && pred(adopted_[i].id))
      ids.push_back(adopted_[i].id);
  std::vector<meeting> out;
  for (auto& id : ids)
    if (auto m = take(id))
      out.push_back(std::move(*m));
  return out;
}

bool dormant_meetings::contains(const std::string& id) const {
  return meetings_.count(id) != 0 || find_adopted(id).has_value();
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
