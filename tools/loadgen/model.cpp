// The shadow model (see model.hpp).
#include "tools/loadgen/model.hpp"

#include "tools/loadgen/mix.hpp"

#include <algorithm>

namespace meetingd::loadgen {

namespace {

template <class V, class T>
bool erase_value(V& v, const T& x) {
  auto i = std::find(v.begin(), v.end(), x);
  if (i == v.end())
    return false;
  v.erase(i);
  return true;
}

template <class V, class T>
bool contains(const V& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace

void world::add_user(int user) {
  users_.push_back(user);
}

meeting_model* world::live(const std::string& id) {
  auto i = meetings_.find(id);
  return i != meetings_.end() && i->second.live ? &i->second : nullptr;
}

void world::compact_joinable(int meeting_size) {
  if (joinable_.size() < 64)
    return;
  std::vector<std::string> keep;
  for (auto& id : joinable_)
    if (auto m = live(id); m && static_cast<int>(m->parts.size()) < meeting_size)
      keep.push_back(id);
  joinable_.swap(keep);
}

void world::sending(int user, int c, const std::string& meeting, int target) {
  auto& u = user_models_[user];
  switch (c) {
    case c_create: {
      auto& m = meetings_[meeting];
      m.host = user;
      u.hosted.push_back(meeting);
      break;
    }
    case c_accept:
    case c_decline:
      erase_value(u.invites, meeting);
      break;
    case c_leave:
      if (auto m = live(meeting))
        erase_value(m->parts, user);
      erase_value(u.joined, meeting);
      break;
    case c_kick:
      if (auto m = live(meeting))
        erase_value(m->parts, target);
      erase_value(user_models_[target].joined, meeting);
      break;
    case c_end:
      ended(meeting);
      break;
    default:
      break;
  }
}

void world::created(int host, const std::string& meeting) {
  auto& m = meetings_[meeting];
  m.live = true;
  m.host = host;
  m.parts = {host};
  joinable_.push_back(meeting);
}

void world::not_created(int host, const std::string& meeting) {
  erase_value(user_models_[host].hosted, meeting);
  meetings_.erase(meeting);
}

void world::joined(int user, const std::string& meeting) {
  auto m = live(meeting);
  if (!m || contains(m->parts, user))
    return;
  m->parts.push_back(user);
  auto& u = user_models_[user];
  if (m->host != user && !contains(u.joined, meeting))
    u.joined.push_back(meeting);
}

void world::ended(const std::string& meeting) {
  auto i = meetings_.find(meeting);
  if (i == meetings_.end())
    return;
  for (int p : i->second.parts)
    erase_value(user_models_[p].joined, meeting);
  if (i->second.host >= 0)
    erase_value(user_models_[i->second.host].hosted, meeting);
  meetings_.erase(i);
}

void world::event(int user, proto::event_kind kind, const std::string& meeting) {
  using k = proto::event_kind;
  auto& u = user_models_[user];
  switch (kind) {
    case k::invite:
      if (!contains(u.invites, meeting))
        u.invites.push_back(meeting);
      break;
    case k::canceled:
    case k::invite_timeout:
    case k::answered_elsewhere:
      erase_value(u.invites, meeting);
      break;
    case k::ended:
      ended(meeting);
      erase_value(u.invites, meeting);
      break;
    case k::kicked:
      if (auto m = live(meeting))
        erase_value(m->parts, user);
      erase_value(u.joined, meeting);
      break;
    default:
      break;
  }
}

} // namespace meetingd::loadgen
