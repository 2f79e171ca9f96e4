// The directory's side of several nodes (see directory_shards.hpp).
#include "actors/directory_shards.hpp"

#include "actors/core/crypto.hpp"
#include "actors/directory_meetings.hpp"
#include "actors/directory_replies.hpp"
#include "config/log.hpp"

#include <map>
#include <set>

namespace meetingd::directory_shards {

namespace {

namespace meetings = directory_meetings;
using directory_replies::now_of;
using steady = std::chrono::steady_clock;

/// How often a hand-over looks again at the meetings still finishing.
constexpr auto handover_recheck = std::chrono::milliseconds(50);
/// How long a failed load of adopted shards waits before the next attempt.
constexpr auto adopt_retry = std::chrono::seconds(1);

std::string list(const std::vector<int>& shards) {
  std::string out;
  for (auto s : shards)
    out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

/// Keeps `m` as a replica: the registry and the busy index know it, no
/// actor serves it.
void keep_replica(self_ptr self, meeting m) {
  auto& st = self->state;
  if (auto old = st.replicas.find(m.id); old != st.replicas.end())
    st.book.forget_meeting(old->second);
  else
    st.book.forget_meeting(m);
  st.book.restore_meeting(m);
  auto id = m.id;
  st.replicas.insert_or_assign(std::move(id), std::move(m));
}

/// Loads the meetings of `shards` from the store and hands each to `use`
/// (then `done`); on failure, `failed`.
template <class Use, class Done, class Failed>
void load_shards(self_ptr self, const std::vector<int>& shards, Use use, Done done,
                 Failed failed) {
  auto& st = self->state;
  self->request(st.links.store, std::chrono::seconds(60), load_atom::value, shards)
    .then(
      [self, use, done, failed](snapshot& s) mutable {
        if (s.error) {
          failed(s.error->what);
          return;
        }
        auto& book = self->state.book;
        for (auto& m : s.ended_meetings)
          if (!book.find_meeting(m.id))
            book.restore_ended(m);
        for (auto& m : s.live_meetings)
          use(std::move(m));
        done(s.live_meetings.size());
      },
      [failed](caf::error& err) mutable { failed(caf::to_string(err)); });
}

bool in_shards(self_ptr self, const std::set<int>& shards, const std::string& id) {
  return shards.count(self->state.env->shards->shard_of(id)) > 0;
}

} // namespace

bool serves(self_ptr self, const std::string& id) {
  auto& map = self->state.env->shards;
  return !map || map->serves(map->shard_of(id));
}

std::vector<meeting> keep_served(self_ptr self, std::vector<meeting> live) {
  auto& map = self->state.env->shards;
  if (!map)
    return live;
  std::vector<meeting> served;
  for (auto& m : live) {
    if (map->epoch_of(map->shard_of(m.id)) > 0)
      served.push_back(std::move(m));
    else
      keep_replica(self, std::move(m));
  }
  return served;
}

std::optional<std::string> new_served_id(self_ptr self) {
  auto& st = self->state;
  for (int attempt = 0; attempt < 4096; ++attempt) {
    auto id = "m-" + crypto::random_hex(8);
    if (serves(self, id) && !st.book.find_meeting(id))
      return id;
    if (!st.env->shards && st.book.find_meeting(id))
      continue;
  }
  return std::nullopt;
}

void on_adopt(self_ptr self, const std::vector<int>& shards) {
  if (!self->state.env->shards)
    return;
  auto t0 = steady::now();
  load_shards(
    self, shards,
    [self](meeting m) {
      auto& st = self->state;
      auto& map = st.env->shards;
      // Lost again while loading: it stays a replica.
      if (map->epoch_of(map->shard_of(m.id)) == 0) {
        keep_replica(self, std::move(m));
        return;
      }
      if (auto old = st.replicas.find(m.id); old != st.replicas.end()) {
        st.book.forget_meeting(old->second);
        st.replicas.erase(old);
      } else {
        st.book.forget_meeting(m);
      }
      st.book.restore_meeting(m);
      meetings::restore_one(self, std::move(m));
    },
    [self, shards, t0](std::size_t n) {
      self->state.env->shards->set_ready(shards);
      report_load(self);
      MD_LOG_INFO("shards.adopted", log::kv("shards", list(shards)), log::kv("meetings", n),
                  log::kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                  steady::now() - t0).count()));
    },
    [self, shards](const std::string& error) {
      MD_LOG_ERROR("shards.adopt_failed", log::kv("shards", list(shards)),
                   log::kv("error", error),
                   log::kv("effect", "their commands wait; loading again in 1 s"));
      self->delayed_send(self, adopt_retry, adopt_atom::value, shards, false);
    });
}

void on_drop(self_ptr self, const std::vector<int>& shards) {
  auto& st = self->state;
  if (!st.env->shards)
    return;
  std::set<int> gone(shards.begin(), shards.end());
  auto pred = [self, gone](const std::string& id) { return in_shards(self, gone, id); };
  auto killed = meetings::kill_if(self, pred);
  // Dormant state is committed state: it stays as a replica.
  for (auto& m : st.dormant.take_if(pred))
    keep_replica(self, std::move(m));
  // The actors may have held changes that never committed: their replicas
  // come from the database.
  load_shards(
    self, shards, [self](meeting m) { keep_replica(self, std::move(m)); }, [](std::size_t) {},
    [shards](const std::string& error) {
      MD_LOG_WARN("shards.replicas_stale", log::kv("shards", list(shards)),
                  log::kv("error", error));
    });
  for (auto h = st.handovers.begin(); h != st.handovers.end();) {
    bool overlaps = false;
    for (auto s : h->shards)
      overlaps = overlaps || gone.count(s) > 0;
    if (!overlaps) {
      ++h;
      continue;
    }
    h->done.deliver(true);
    h = st.handovers.erase(h);
  }
  report_load(self);
  MD_LOG_WARN("shards.dropped", log::kv("shards", list(shards)),
              log::kv("meetings_with_actor", killed.size()),
              log::kv("effect", "no reply, event or timer for their meetings from this node; "
                                "the new owner carries on from the database"));
}

void on_handover(self_ptr self, const std::vector<int>& shards,
                 caf::typed_response_promise<bool> done) {
  self->state.handovers.push_back({shards, std::move(done)});
  check_handovers(self);
}

void check_handovers(self_ptr self) {
  auto& st = self->state;
  bool waiting = false;
  for (auto h = st.handovers.begin(); h != st.handovers.end();) {
    std::set<int> moving(h->shards.begin(), h->shards.end());
    std::vector<std::string> busy;
    for (auto& [id, slot] : st.meetings)
      if (in_shards(self, moving, id))
        busy.push_back(id);
    if (!busy.empty()) {
      for (auto& id : busy)
        meetings::passivate(self, id);
      waiting = true;
      ++h;
      continue;
    }
    // Every meeting of these shards sleeps: its state is committed.
    auto pred = [self, moving](const std::string& id) { return in_shards(self, moving, id); };
    for (auto& m : st.dormant.take_if(pred))
      keep_replica(self, std::move(m));
    MD_LOG_INFO("shards.handed_over", log::kv("shards", list(h->shards)));
    h->done.deliver(true);
    h = st.handovers.erase(h);
  }
  if (waiting)
    self->delayed_send(self, handover_recheck, handover_atom::value);
  report_load(self);
}

namespace {

/// The meeting a change writes rows of, if any.
const std::string* meeting_of(const any_change& c) {
  if (auto* m = std::get_if<change::put_meeting>(&c))
    return &m->row.id;
  if (auto* p = std::get_if<change::put_participant>(&c))
    return &p->meeting;
  if (auto* i = std::get_if<change::put_invitation>(&c))
    return &i->meeting;
  if (auto* d = std::get_if<change::delete_meeting>(&c))
    return &d->meeting;
  return nullptr;
}

void apply_device(self_ptr self, const device_record& row) {
  auto& book = self->state.book;
  auto* bound = book.user_of(row.client);
  if (!bound || *bound != row.user)
    book.bind(row.client, row.user, row.bound_at);
  changeset ignored;
  if (auto change = book.set_presence(row.client, row.online, row.last_seen_at, ignored))
    directory_replies::notify_meetings(self, change->user, change->online);
}

} // namespace

void on_remote(self_ptr self, std::vector<any_change>& changes) {
  auto& st = self->state;
  auto& map = st.env->shards;
  if (!map)
    return;
  // Meetings touched, with their state before, to re-index once each.
  std::map<std::string, std::optional<meeting>> touched;
  for (auto& c : changes) {
    if (auto* id = meeting_of(c)) {
      // This node's own meetings are its own to write.
      if (map->epoch_of(map->shard_of(*id)) > 0)
        continue;
      if (!touched.count(*id)) {
        auto r = st.replicas.find(*id);
        touched[*id] = r == st.replicas.end() ? std::nullopt : std::optional{r->second};
      }
      auto& m = st.replicas[*id];
      if (auto* pm = std::get_if<change::put_meeting>(&c)) {
        static_cast<meeting_record&>(m) = pm->row;
      } else if (auto* pp = std::get_if<change::put_participant>(&c)) {
        m.id = pp->meeting;
        m.participants[pp->row.user] = pp->row;
      } else if (auto* pi = std::get_if<change::put_invitation>(&c)) {
        m.id = pi->meeting;
        m.invitations[pi->row.invitee] = pi->row;
      } else {
        st.replicas.erase(*id);
      }
      continue;
    }
    std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        auto now = now_of(self);
        if constexpr (std::is_same_v<T, change::put_user>) {
          if (st.book.find_user(x.row.id))
            st.book.update_user(x.row);
          else
            st.book.add_user(x.row);
        } else if constexpr (std::is_same_v<T, change::delete_user>) {
          st.book.remove_user(x.user, now);
        } else if constexpr (std::is_same_v<T, change::put_device>) {
          apply_device(self, x.row);
        } else if constexpr (std::is_same_v<T, change::delete_device>) {
          st.book.unbind(x.client);
        } else if constexpr (std::is_same_v<T, change::put_removed_user>) {
          st.book.restore_removed(x.row);
        }
      },
      c);
  }
  for (auto& [id, before] : touched) {
    if (before)
      st.book.forget_meeting(*before);
    auto r = st.replicas.find(id);
    if (r == st.replicas.end()) {
      if (!before)
        st.book.forget_meeting(id);
      continue;
    }
    // A row that came before its meeting's (never in one commit): wait.
    if (r->second.created_at == 0 && r->second.creator.empty())
      continue;
    st.book.restore_meeting(r->second);
  }
}

void on_gap(self_ptr self) {
  auto& st = self->state;
  auto& map = st.env->shards;
  if (!map)
    return;
  std::vector<int> others;
  for (int s = 0; s < map->count(); ++s)
    if (map->epoch_of(s) == 0)
      others.push_back(s);
  self->request(st.links.store, std::chrono::seconds(60), load_atom::value, std::vector<int>{})
    .then(
      [self](snapshot& s) {
        if (s.error) {
          MD_LOG_ERROR("feed.reload_failed", log::kv("error", s.error->what));
          return;
        }
        auto& book = self->state.book;
        for (auto& u : s.users)
          if (book.find_user(u.id))
            book.update_user(u);
          else
            book.add_user(u);
        for (auto& d : s.devices)
          apply_device(self, d);
        for (auto& m : s.live_meetings)
          if (!serves(self, m.id) && self->state.env->shards->epoch_of(
                                        self->state.env->shards->shard_of(m.id)) == 0)
            keep_replica(self, std::move(m));
        MD_LOG_INFO("feed.reloaded", log::kv("users", s.users.size()),
                    log::kv("devices", s.devices.size()));
      },
      [](caf::error& err) {
        MD_LOG_ERROR("feed.reload_failed", log::kv("error", caf::to_string(err)));
      });
}

void report_load(self_ptr self) {
  auto& st = self->state;
  if (st.env->shards)
    st.env->shards->meetings.store(static_cast<int>(st.meetings.size() + st.dormant.size()),
                                   std::memory_order_relaxed);
}

} // namespace meetingd::directory_shards
