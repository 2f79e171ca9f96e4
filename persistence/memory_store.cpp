// The in-memory store (see memory_store.hpp).
#include "persistence/memory_store.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace meetingd {

namespace {

/// All rows (first, *) of a table keyed by pairs: (meeting, user), (client, id).
template <class Table>
auto rows_of(Table& table, const std::string& first) {
  auto from = table.lower_bound({first, std::string{}});
  auto to = from;
  while (to != table.end() && to->first.first == first)
    ++to;
  return std::make_pair(from, to);
}

/// Erases the rows of `table` that `doomed` says so of; how many.
template <class Table, class Pred>
std::size_t erase_where(Table& table, Pred doomed) {
  std::size_t erased = 0;
  for (auto i = table.begin(); i != table.end();) {
    if (doomed(i->second)) {
      i = table.erase(i);
      ++erased;
    } else {
      ++i;
    }
  }
  return erased;
}

} // namespace

std::unique_ptr<store> make_memory_store() {
  return std::make_unique<memory_store>();
}

template <class Table>
void memory_store::remember(Table& table, const typename Table::key_type& key) {
  auto i = table.find(key);
  if (i == table.end()) {
    undo_.emplace_back([&table, key] { table.erase(key); });
  } else {
    undo_.emplace_back(
      [&table, key, old = i->second] { table.insert_or_assign(key, old); });
  }
}

template <class Table, class Key, class Row>
void memory_store::put(Table& table, const Key& key, const Row& row) {
  remember(table, key);
  table.insert_or_assign(key, row);
}

template <class Table, class Key>
void memory_store::drop(Table& table, const Key& key) {
  remember(table, key);
  table.erase(key);
}

template <class Table>
void memory_store::erase_rows(Table& table, const std::string& first) {
  auto [from, to] = rows_of(table, first);
  std::vector<pair_key> keys;
  for (auto i = from; i != to; ++i)
    keys.push_back(i->first);
  for (auto& k : keys)
    drop(table, k);
}

void memory_store::apply_one(const any_change& change) {
  std::visit(
    [this](const auto& c) {
      using T = std::decay_t<decltype(c)>;
      if constexpr (std::is_same_v<T, change::put_meeting>) {
        put(meetings_, c.row.id, c.row);
      } else if constexpr (std::is_same_v<T, change::put_participant>) {
        put(participants_, pair_key{c.meeting, c.row.user}, c.row);
      } else if constexpr (std::is_same_v<T, change::put_invitation>) {
        put(invitations_, pair_key{c.meeting, c.row.invitee}, c.row);
      } else if constexpr (std::is_same_v<T, change::delete_meeting>) {
        erase_rows(participants_, c.meeting);
        erase_rows(invitations_, c.meeting);
        drop(meetings_, c.meeting);
      } else if constexpr (std::is_same_v<T, change::put_user>) {
        put(users_, c.row.id, c.row);
      } else if constexpr (std::is_same_v<T, change::delete_user>) {
        drop(users_, c.user);
      } else if constexpr (std::is_same_v<T, change::put_device>) {
        remember(devices_, c.row.client);
        auto row = c.row;
        if (auto i = devices_.find(row.client); i != devices_.end())
          row.last_seq = std::max(row.last_seq, i->second.last_seq);
        devices_.insert_or_assign(row.client, std::move(row));
      } else if constexpr (std::is_same_v<T, change::delete_device>) {
        drop(devices_, c.client);
      } else if constexpr (std::is_same_v<T, change::put_device_seq>) {
        if (auto i = devices_.find(c.client); i != devices_.end()) {
          remember(devices_, c.client);
          i->second.last_seq = std::max(i->second.last_seq, c.last_seq);
        }
      } else if constexpr (std::is_same_v<T, change::put_request>) {
        put(requests_, pair_key{c.row.client, c.row.id}, c.row);
      } else if constexpr (std::is_same_v<T, change::delete_requests_of>) {
        erase_rows(requests_, c.client);
      } else if constexpr (std::is_same_v<T, change::put_login_failures>) {
        put(login_failures_, c.row.account, c.row);
      } else if constexpr (std::is_same_v<T, change::delete_login_failures>) {
        drop(login_failures_, c.account);
      } else if constexpr (std::is_same_v<T, change::put_removed_user>) {
        put(removed_users_, c.row.user, c.row);
      } else if constexpr (std::is_same_v<T, change::delete_removed_user>) {
        drop(removed_users_, c.user);
      } else if constexpr (std::is_same_v<T, change::put_webhook>) {
        webhook_key key{c.row.endpoint, c.row.meeting, c.row.seq};
        if (webhooks_.count(key) == 0)
          put(webhooks_, key, c.row);
      } else {
        static_assert(std::is_same_v<T, change::settle_webhook>);
        webhook_key key{c.row.endpoint, c.row.meeting, c.row.seq};
        if (auto i = webhooks_.find(key); i != webhooks_.end()) {
          remember(webhooks_, key);
          i->second.status = c.row.status;
          i->second.attempts = c.row.attempts;
          i->second.last_error = c.row.last_error;
          i->second.settled_at = c.row.settled_at;
        }
      }
    },
    change);
}

std::optional<store_error>
memory_store::apply(const std::vector<const changeset*>& batch) {
  undo_.clear();
  std::set<std::string> touched; // meetings that got participant/invitation rows
  for (const auto* cs : batch) {
    for (const auto& change : cs->changes) {
      if (auto* p = std::get_if<change::put_participant>(&change))
        touched.insert(p->meeting);
      else if (auto* i = std::get_if<change::put_invitation>(&change))
        touched.insert(i->meeting);
      apply_one(change);
    }
  }
  // The deferred foreign key, checked at "COMMIT" as SQLite does.
  for (auto& id : touched) {
    if (meetings_.count(id) != 0)
      continue;
    auto [p_first, p_last] = rows_of(participants_, id);
    auto [i_first, i_last] = rows_of(invitations_, id);
    if (p_first == p_last && i_first == i_last)
      continue;
    for (auto u = undo_.rbegin(); u != undo_.rend(); ++u)
      (*u)();
    undo_.clear();
    return store_error{"committing in memory failed: FOREIGN KEY constraint "
                       "failed (rows of meeting "
                         + id + " without its meeting row): a bug",
                       false};
  }
  undo_.clear();
  return std::nullopt;
}

snapshot memory_store::load(unix_ms requests_since, unix_ms ended_since) {
  snapshot result;
  for (auto& [id, row] : meetings_) {
    if (row.status == meeting_status::active || !row.channel_deleted) {
      meeting m;
      static_cast<meeting_record&>(m) = row;
      auto [p_first, p_last] = rows_of(participants_, id);
      for (auto i = p_first; i != p_last; ++i)
        m.participants.emplace(i->first.second, i->second);
      auto [i_first, i_last] = rows_of(invitations_, id);
      for (auto i = i_first; i != i_last; ++i)
        m.invitations.emplace(i->first.second, i->second);
      result.live_meetings.push_back(std::move(m));
    } else if (row.ended_at >= ended_since) {
      result.ended_meetings.push_back(row);
    }
  }
  for (auto& [id, row] : users_)
    result.users.push_back(row);
  for (auto& [id, row] : devices_)
    result.devices.push_back(row);
  for (auto& [key, row] : requests_)
    if (row.at >= requests_since)
      result.requests.push_back(row);
  for (auto& [account, row] : login_failures_)
    result.login_failures.push_back(row);
  for (auto& [user, row] : removed_users_)
    result.removed_users.push_back(row);
  result.clean_shutdown = clean_shutdown_;
  return result;
}

reply_lookup memory_store::stored_reply(const std::string& client, const std::string& id) {
  auto i = requests_.find(pair_key{client, id});
  if (i == requests_.end())
    return {};
  return {i->second.reply, std::nullopt};
}

std::size_t memory_store::prune(unix_ms requests_before,
                                unix_ms ended_before) {
  std::size_t deleted = 0;
  deleted += erase_where(requests_,
                         [&](const request_record& r) { return r.at < requests_before; });
  for (auto i = meetings_.begin(); i != meetings_.end();) {
    auto& row = i->second;
    if (row.status != meeting_status::ended || row.ended_at >= ended_before) {
      ++i;
      continue;
    }
    auto [p_first, p_last] = rows_of(participants_, i->first);
    deleted += static_cast<std::size_t>(std::distance(p_first, p_last));
    participants_.erase(p_first, p_last);
    auto [i_first, i_last] = rows_of(invitations_, i->first);
    deleted += static_cast<std::size_t>(std::distance(i_first, i_last));
    invitations_.erase(i_first, i_last);
    i = meetings_.erase(i);
    ++deleted;
  }
  // Webhook events by their own age: a pending one stays, whatever its meeting.
  deleted += erase_where(webhooks_, [&](const webhook_record& w) {
    return w.status != webhook_status::pending && w.settled_at < ended_before;
  });
  return deleted;
}

std::vector<webhook_record> memory_store::pending_webhooks(const std::vector<int>& shards,
                                                           int count, std::size_t limit) {
  std::vector<webhook_record> out;
  for (auto& row : webhooks_)
    if (row.second.status == webhook_status::pending
        && in_shards(row.second.meeting, shards, count))
      out.push_back(row.second);
  auto order = [](const webhook_record& w) {
    return std::tie(w.at, w.meeting, w.seq, w.endpoint);
  };
  std::sort(out.begin(), out.end(),
            [&](const webhook_record& a, const webhook_record& b) { return order(a) < order(b); });
  if (out.size() > limit)
    out.resize(limit);
  return out;
}

std::optional<store_error> memory_store::set_clean_shutdown(bool clean) {
  clean_shutdown_ = clean;
  return std::nullopt;
}

std::optional<store_error> memory_store::checkpoint() {
  return std::nullopt;
}

} // namespace meetingd
