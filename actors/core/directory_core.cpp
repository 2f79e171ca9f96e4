// The directory's books (see directory_core.hpp).
#include "actors/core/directory_core.hpp"

#include <algorithm>

namespace meetingd {

namespace {

constexpr int default_page = 50;
constexpr int max_page = 1000;

int page_size(std::optional<int> limit) {
  return std::clamp(limit.value_or(default_page), 1, max_page);
}

} // namespace

directory_core::directory_core(login_throttle_settings throttle, abuse_limits limits)
  : limits_(limits), account_logins_(throttle), client_logins_(throttle) {
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
  if (removed_.erase(u.id) > 0)
    out.add(change::delete_removed_user{u.id});
  out.add(change::put_user{u});
  users_[u.id] = std::move(u);
  return out;
}

changeset directory_core::update_user(user_record u) {
  changeset out;
  out.add(change::put_user{u});
  users_[u.id] = std::move(u);
  return out;
}

changeset directory_core::remove_user(const std::string& id, unix_ms now) {
  changeset out;
  if (users_.erase(id) == 0)
    return out;
  out.add(change::delete_user{id});
  removed_[id] = now;
  out.add(change::put_removed_user{{id, now}});
  if (account_logins_.succeeded(id))
    out.add(change::delete_login_failures{id});
  if (auto i = devices_by_user_.find(id); i != devices_by_user_.end()) {
    for (auto& client : std::set<std::string>{i->second})
      out.append(unbind(client));
  }
  return out;
}

std::optional<unix_ms> directory_core::removed_at(const std::string& user) const {
  auto i = removed_.find(user);
  if (i == removed_.end())
    return std::nullopt;
  return i->second;
}

void directory_core::restore_removed(const removed_user_record& r) {
  removed_[r.user] = r.removed_at;
}

changeset directory_core::prune_removed(unix_ms before) {
  changeset out;
  for (auto i = removed_.begin(); i != removed_.end();) {
    if (i->second < before) {
      out.add(change::delete_removed_user{i->first});
      i = removed_.erase(i);
    } else {
      ++i;
    }
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
  if (auto i = devices_.find(client); i != devices_.end() && i->second.user != user) {
    auto& before = devices_by_user_[i->second.user];
    before.erase(client);
    if (before.empty())
      devices_by_user_.erase(i->second.user);
    out.add(change::delete_requests_of{client});
  }
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
  out.add(change::delete_requests_of{client});
  return out;
}

device_room directory_core::room_for_device(const std::string& user,
                                            const std::string& client) const {
  device_room room;
  if (limits_.devices_per_user <= 0)
    return room;
  auto i = devices_by_user_.find(user);
  if (i == devices_by_user_.end() || i->second.count(client) > 0
      || static_cast<int>(i->second.size()) < limits_.devices_per_user)
    return room;
  const device_record* quietest = nullptr;
  for (auto& other : i->second) {
    auto& d = devices_.at(other);
    if (!d.online && (!quietest || d.last_seen_at < quietest->last_seen_at))
      quietest = &d;
  }
  if (quietest) {
    room.evict = quietest->client;
    return room;
  }
  room.refusal = refuse(refusal::limit_devices,
    user + " has " + std::to_string(limits_.devices_per_user)
      + " devices logged in and online (--max-devices-per-user); log one out first");
  return room;
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
  e.creator = creator;
  ++created_active_[creator];
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
  if (i->second.summary.status == meeting_status::active)
    uncount_created(i->second.creator);
  meetings_.erase(i);
}

void directory_core::forget_meeting(const meeting& m) {
  auto i = meetings_.find(m.id);
  if (i == meetings_.end())
    return;
  for (auto& [user, p] : m.participants)
    if (auto u = meetings_by_user_.find(user); u != meetings_by_user_.end()) {
      u->second.erase(m.id);
      if (u->second.empty())
        meetings_by_user_.erase(u);
    }
  if (i->second.summary.status == meeting_status::active)
    uncount_created(i->second.creator);
  meetings_.erase(i);
}

void directory_core::uncount_created(const std::string& creator) {
  auto i = created_active_.find(creator);
  if (i != created_active_.end() && --i->second <= 0)
    created_active_.erase(i);
}

void directory_core::apply(meeting_update update) {
  auto [at, added] = meetings_.try_emplace(update.summary.meeting);
  auto& e = at->second;
  auto& id = e.summary.meeting;
  bool was_active = !added && e.summary.status == meeting_status::active;
  e.creating = false;
  e.summary = std::move(update.summary);
  if (was_active && e.summary.status == meeting_status::ended)
    uncount_created(e.creator);
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
  meetings_[m.id].creator = m.creator;
  if (m.status == meeting_status::active)
    ++created_active_[m.creator];
}

void directory_core::expect_meetings(std::size_t n) {
  meetings_by_user_.reserve(meetings_by_user_.size() + 2 * n);
}

void directory_core::restore_ended(const meeting_record& m) {
  // Its rows are not loaded: the summary comes from the meeting row alone,
  // by the same rule as every other (update_of).
  meeting ended;
  static_cast<meeting_record&>(ended) = m;
  apply(update_of(ended, {}));
  meetings_[m.id].creator = m.creator;
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

// -- what one user may cost ----------------------------------------------------------

std::optional<proto::reply> directory_core::may_create(const std::string& user,
                                                       std::size_t invitees,
                                                       unix_ms now) const {
  if (auto refusal = may_invite(invitees))
    return refusal;
  if (limits_.meetings_per_user > 0 && meetings_created_by(user) >= limits_.meetings_per_user)
    return refuse(refusal::limit_meetings,
                       user + " has " + std::to_string(limits_.meetings_per_user)
                         + " active meetings (--max-meetings-per-user); end one first");
  if (limits_.creates_per_minute <= 0)
    return std::nullopt;
  auto i = recent_creates_.find(user);
  if (i == recent_creates_.end())
    return std::nullopt;
  auto minute_ago = now - 60'000;
  auto recent = std::count_if(i->second.begin(), i->second.end(),
                              [&](unix_ms t) { return t > minute_ago; });
  if (recent < limits_.creates_per_minute)
    return std::nullopt;
  // The oldest create within the minute leaves the window first.
  auto oldest = *std::find_if(i->second.begin(), i->second.end(),
                              [&](unix_ms t) { return t > minute_ago; });
  return refuse_retry_after(refusal::limit_creates,
    user + " created " + std::to_string(limits_.creates_per_minute)
      + " meetings in the last minute (--max-creates-per-minute); try again later",
    oldest + 60'000 - now);
}

std::optional<proto::reply> directory_core::may_invite(std::size_t invitees) const {
  if (limits_.invitees_per_call <= 0
      || invitees <= static_cast<std::size_t>(limits_.invitees_per_call))
    return std::nullopt;
  return refuse(refusal::limit_invitees,
                     "one call may ring at most " + std::to_string(limits_.invitees_per_call)
                       + " users (--max-invitees); invite the others in a second call.invite");
}

void directory_core::count_create(const std::string& user, unix_ms now) {
  if (limits_.creates_per_minute <= 0)
    return;
  auto& times = recent_creates_[user];
  times.push_back(now);
  // Only the last `creates_per_minute` matter.
  while (times.size() > static_cast<std::size_t>(limits_.creates_per_minute))
    times.pop_front();
}

int directory_core::meetings_created_by(const std::string& user) const {
  auto i = created_active_.find(user);
  return i == created_active_.end() ? 0 : i->second;
}

void directory_core::prune_creates(unix_ms now) {
  for (auto i = recent_creates_.begin(); i != recent_creates_.end();) {
    if (i->second.back() <= now - 60'000)
      i = recent_creates_.erase(i);
    else
      ++i;
  }
}

// -- bad logins -------------------------------------------------------------------------

std::optional<std::chrono::milliseconds>
directory_core::login_wait(const std::string& client, const std::string& account,
                           unix_ms now) const {
  auto by_client = client_logins_.wait(client, now);
  auto bound = user_of(client);
  if (bound && *bound == account)
    return by_client;
  auto by_account = account_logins_.wait(account, now);
  if (!by_client)
    return by_account;
  if (!by_account)
    return by_client;
  return std::max(*by_client, *by_account);
}

changeset directory_core::login_failed(const std::string& client, const std::string& account,
                                       unix_ms now) {
  changeset out;
  client_logins_.failed(client, now);
  auto row = account_logins_.failed(account, now);
  // Only real accounts are kept across a restart: made-up names must not
  // grow the database.
  if (find_user(account))
    out.add(change::put_login_failures{std::move(row)});
  return out;
}

changeset directory_core::login_succeeded(const std::string& client,
                                          const std::string& account) {
  changeset out;
  client_logins_.succeeded(client);
  if (account_logins_.succeeded(account))
    out.add(change::delete_login_failures{account});
  return out;
}

void directory_core::restore_login_failures(const login_failures_record& r) {
  account_logins_.restore(r);
}

changeset directory_core::prune_logins(unix_ms now) {
  changeset out;
  client_logins_.prune(now);
  for (auto& account : account_logins_.prune(now))
    if (find_user(account))
      out.add(change::delete_login_failures{account});
  return out;
}

} // namespace meetingd
