// The directory's books (see directory_core.hpp).
#include "actors/directory_core.hpp"

#include <algorithm>

namespace meetingd {

namespace {

constexpr int default_page = 50;
constexpr int max_page = 1000;

int page_size(std::optional<int> limit) {
  return std::clamp(limit.value_or(default_page), 1, max_page);
}

} // namespace

directory_core::directory_core(login_throttle_settings throttle)
  : throttle_(throttle) {
}

// -- users ------------------------------------------------------------------------

const user_record* directory_core::find_user(const std::string& id) const {
  auto i = users_.find(id);
  return i == users_.end() ? nullptr : &i->second;
}

std::size_t directory_core::user_count() const {
  return users_.size();
}

changeset directory_core::add_user(user_record u) {
  changeset out;
  out.add(change::put_user{u});
  users_[u.id] = std::move(u);
  return out;
}

changeset directory_core::remove_user(const std::string& id) {
  changeset out;
  if (users_.erase(id) == 0)
    return out;
  out.add(change::delete_user{id});
  if (auto i = devices_by_user_.find(id); i != devices_by_user_.end()) {
    for (auto& client : std::set<std::string>{i->second})
      out.append(unbind(client));
  }
  return out;
}

proto::users_page
directory_core::list_users(std::optional<int> limit,
                           const std::optional<std::string>& after) const {
  proto::users_page page;
  auto n = page_size(limit);
  auto i = after ? users_.upper_bound(*after) : users_.begin();
  for (; i != users_.end() && static_cast<int>(page.users.size()) < n; ++i) {
    proto::user_summary s;
    s.user = i->first;
    s.display_name = i->second.display_name;
    s.created_at = to_unix_s(i->second.created_at);
    s.devices_online = static_cast<int>(devices_of(i->first, true).size());
    page.users.push_back(std::move(s));
  }
  if (i != users_.end() && !page.users.empty())
    page.next_after = page.users.back().user;
  return page;
}

// -- devices ------------------------------------------------------------------------

const std::string* directory_core::user_of(const std::string& client) const {
  auto i = devices_.find(client);
  return i == devices_.end() ? nullptr : &i->second.user;
}

changeset directory_core::bind(const std::string& client, const std::string& user,
                               unix_ms now) {
  changeset out;
  if (auto i = devices_.find(client); i != devices_.end() && i->second.user != user)
    devices_by_user_[i->second.user].erase(client);
  auto& d = devices_[client];
  d.client = client;
  d.user = user;
  d.bound_at = now;
  d.online = true;
  d.last_seen_at = now;
  devices_by_user_[user].insert(client);
  out.add(change::put_device{d});
  return out;
}

changeset directory_core::unbind(const std::string& client) {
  changeset out;
  auto i = devices_.find(client);
  if (i == devices_.end())
    return out;
  auto& by_user = devices_by_user_[i->second.user];
  by_user.erase(client);
  if (by_user.empty())
    devices_by_user_.erase(i->second.user);
  devices_.erase(i);
  out.add(change::delete_device{client});
  return out;
}

std::optional<directory_core::presence_change>
directory_core::set_presence(const std::string& client, bool online, unix_ms now,
                             changeset& out) {
  auto i = devices_.find(client);
  if (i == devices_.end())
    return std::nullopt;
  auto& d = i->second;
  d.last_seen_at = now;
  if (d.online == online)
    return std::nullopt;
  bool user_was_online = user_online(d.user);
  d.online = online;
  out.add(change::put_device{d});
  bool user_is_online = user_online(d.user);
  if (user_was_online == user_is_online)
    return std::nullopt;
  return presence_change{d.user, user_is_online};
}

bool directory_core::user_online(const std::string& user) const {
  auto i = devices_by_user_.find(user);
  if (i == devices_by_user_.end())
    return false;
  for (auto& client : i->second)
    if (devices_.at(client).online)
      return true;
  return false;
}

std::size_t directory_core::devices_online() const {
  return static_cast<std::size_t>(
    std::count_if(devices_.begin(), devices_.end(),
                  [](auto& kv) { return kv.second.online; }));
}

std::vector<std::string> directory_core::devices_of(const std::string& user,
                                                    bool online_only,
                                                    const std::string& except) const {
  std::vector<std::string> result;
  auto i = devices_by_user_.find(user);
  if (i == devices_by_user_.end())
    return result;
  for (auto& client : i->second) {
    if (client == except)
      continue;
    if (online_only && !devices_.at(client).online)
      continue;
    result.push_back(client);
  }
  return result;
}

// -- meetings --------------------------------------------------------------------------

const registry_entry* directory_core::find_meeting(const std::string& id) const {
  auto i = meetings_.find(id);
  return i == meetings_.end() ? nullptr : &i->second;
}

void directory_core::reserve_meeting(const std::string& id,
                                     const std::string& creator, unix_ms now) {
  auto& e = meetings_[id];
  e.creating = true;
  e.summary.meeting = id;
  e.summary.host = creator;
  e.summary.created_at = to_unix_s(now);
}

void directory_core::forget_meeting(const std::string& id) {
  auto i = meetings_.find(id);
  if (i == meetings_.end())
    return;
  for (auto& [user, ids] : meetings_by_user_)
    ids.erase(id);
  meetings_.erase(i);
}

void directory_core::apply(meeting_update update) {
  auto& e = meetings_[update.summary.meeting];
  auto& id = e.summary.meeting;
  e.creating = false;
  e.summary = std::move(update.summary);
  e.ended_at = update.ended_at;
  e.end_reason = std::move(update.end_reason);
  e.ringing = update.ringing;
  for (auto& change : update.memberships) {
    if (change.joined) {
      meetings_by_user_.try_emplace(std::move(change.user)).first->second.insert(id);
    } else if (auto i = meetings_by_user_.find(change.user);
               i != meetings_by_user_.end()) {
      i->second.erase(id);
      if (i->second.empty())
        meetings_by_user_.erase(i);
    }
  }
}

void directory_core::restore_meeting(const meeting& m) {
  std::vector<membership_change> members;
  if (m.status == meeting_status::active)
    for (auto& [user, p] : m.participants)
      if (p.status == participant_status::joined)
        members.push_back({user, true});
  apply(update_of(m, std::move(members)));
}

void directory_core::expect_meetings(std::size_t n) {
  meetings_by_user_.reserve(meetings_by_user_.size() + 2 * n);
}

void directory_core::restore_ended(const meeting_record& m) {
  auto& e = meetings_[m.id];
  e.summary.meeting = m.id;
  e.summary.title = m.title;
  e.summary.host = m.host.empty() ? m.creator : m.host;
  e.summary.status = meeting_status::ended;
  e.summary.created_at = to_unix_s(m.created_at);
  e.summary.expires_at = to_unix_s(m.expires_at);
  e.ended_at = m.ended_at;
  e.end_reason = m.end_reason;
}

std::vector<std::string> directory_core::meetings_of(const std::string& user) const {
  auto i = meetings_by_user_.find(user);
  if (i == meetings_by_user_.end())
    return {};
  return {i->second.begin(), i->second.end()};
}

std::vector<user_fact> directory_core::facts(const std::vector<std::string>& users,
                                             const std::string& meeting) const {
  std::vector<user_fact> result;
  for (auto& user : users) {
    user_fact f;
    f.user = user;
    f.exists = users_.count(user) > 0;
    auto in = meetings_of(user);
    f.busy = std::any_of(in.begin(), in.end(),
                         [&](auto& id) { return id != meeting; });
    f.online = user_online(user);
    result.push_back(std::move(f));
  }
  return result;
}

proto::meetings_page
directory_core::list_meetings(const proto::command& filter) const {
  proto::meetings_page page;
  auto n = page_size(filter.limit);
  std::set<std::string> of_user;
  if (!filter.user.empty()) {
    auto in = meetings_of(filter.user);
    of_user.insert(in.begin(), in.end());
  }
  auto i = filter.after ? meetings_.upper_bound(*filter.after) : meetings_.begin();
  for (; i != meetings_.end(); ++i) {
    auto& e = i->second;
    if (e.creating)
      continue;
    if (filter.state && e.summary.status != *filter.state)
      continue;
    if (!filter.user.empty() && e.summary.host != filter.user
        && of_user.count(i->first) == 0)
      continue;
    if (static_cast<int>(page.meetings.size()) == n) {
      page.next_after = page.meetings.back().meeting;
      break;
    }
    page.meetings.push_back(e.summary);
  }
  return page;
}

std::size_t directory_core::meeting_count(meeting_status status) const {
  return static_cast<std::size_t>(
    std::count_if(meetings_.begin(), meetings_.end(), [&](auto& kv) {
      return !kv.second.creating && kv.second.summary.status == status;
    }));
}

std::size_t directory_core::participant_count() const {
  std::size_t n = 0;
  for (auto& [user, ids] : meetings_by_user_)
    n += ids.size();
  return n;
}

std::size_t directory_core::ringing_count() const {
  std::size_t n = 0;
  for (auto& [id, e] : meetings_)
    n += static_cast<std::size_t>(e.ringing);
  return n;
}

void directory_core::prune_ended(unix_ms before) {
  for (auto i = meetings_.begin(); i != meetings_.end();) {
    auto& e = i->second;
    if (e.summary.status == meeting_status::ended && e.ended_at < before)
      i = meetings_.erase(i);
    else
      ++i;
  }
}

// -- bad logins -------------------------------------------------------------------------

std::optional<std::chrono::milliseconds>
directory_core::login_wait(const std::string& client, unix_ms now) const {
  auto i = failures_.find(client);
  if (i == failures_.end() || i->second.count < throttle_.free_failures)
    return std::nullopt;
  if (now - i->second.last > throttle_.forget_after.count())
    return std::nullopt;
  auto excess = std::min(i->second.count - throttle_.free_failures, 20);
  auto delay = std::min<std::int64_t>(throttle_.first_delay.count() << excess,
                                      throttle_.max_delay.count());
  auto ready = i->second.last + delay;
  if (now >= ready)
    return std::nullopt;
  return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(ready - now)};
}

void directory_core::login_failed(const std::string& client, unix_ms now) {
  auto& f = failures_[client];
  if (now - f.last > throttle_.forget_after.count())
    f.count = 0;
  ++f.count;
  f.last = now;
}

void directory_core::login_succeeded(const std::string& client) {
  failures_.erase(client);
}

} // namespace meetingd
