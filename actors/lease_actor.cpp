// The lease actor (see lease_actor.hpp).
#include "actors/lease_actor.hpp"

#include "config/log.hpp"

#include <caf/event_based_actor.hpp>

#include <cstdlib>

namespace meetingd {

namespace {

using self_ptr = lease_actor::stateful_pointer<lease_actor_state>;
using steady = std::chrono::steady_clock;

std::chrono::milliseconds round_interval(const lease_settings& cfg) {
  return std::max(cfg.lease / 5, std::chrono::milliseconds{100});
}

/// While shards move (a node joined or left), rounds come this often: one
/// shard moves at a time, each in a few milliseconds when its meetings are
/// quiet, and the nodes reach their shares in seconds, not minutes.
constexpr auto moving_interval = std::chrono::milliseconds(50);

/// The nodes that serve: heartbeat within a lease, not leaving or stopped.
std::vector<std::string> live_nodes(const shard_leases::table& t, std::chrono::milliseconds lease) {
  std::vector<std::string> live;
  for (auto& n : t.nodes)
    if ((n.state == "serving" || n.state == "starting") && n.heartbeat_at >= t.now - lease.count())
      live.push_back(n.node);
  return live;
}

/// Every shard's owner by a valid lease, empty where there is none.
std::vector<std::string> owners_of(const shard_leases::table& t) {
  std::vector<std::string> owners(t.rows.size());
  for (auto& r : t.rows)
    if (r.shard >= 0 && static_cast<std::size_t>(r.shard) < owners.size()
        && r.lease_until >= t.now)
      owners[static_cast<std::size_t>(r.shard)] = r.owner;
  return owners;
}

std::string list(const std::vector<int>& shards) {
  std::string out;
  for (auto s : shards)
    out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

std::vector<int> keys(const held_shards& held) {
  std::vector<int> out;
  for (auto& [s, e] : held)
    out.push_back(s);
  return out;
}

/// What one round changed.
struct round_outcome {
  bool balanced = true; // holds its fair share
  bool from_the_dead = false; // some taken shards were a dead node's
  std::vector<int> taken;
  std::vector<int> lost;
  std::vector<int> release;
  std::optional<pg::failure> error;
};

/// Heartbeat, renewal, the table, the plan, the takes: one round.
round_outcome run_round(shard_leases& leases, shard_map& map, const lease_settings& cfg,
                        bool leaving) {
  round_outcome out;
  node_report report;
  report.state = leaving ? "leaving" : "serving";
  report.version = cfg.version;
  report.meetings = map.meetings.load(std::memory_order_relaxed);
  report.commands_per_s = map.commands_per_s.load(std::memory_order_relaxed);
  bool clash = false;
  if ((out.error = leases.heartbeat(report, &clash)))
    return out;
  if (clash) {
    MD_LOG_ERROR("node.duplicate_id", log::kv("node", leases.node_id()),
                 log::kv("effect", "another meetingd started with this --node-id and took its "
                                   "shards; this one stops (exit 70)"),
                 log::kv("hint", "give every node its own --node-id"));
    std::_Exit(70);
  }
  auto held = map.held();
  held_shards kept;
  unix_ms until = 0;
  if ((out.error = leases.renew(held, cfg.lease, kept, until)))
    return out;
  for (auto& [s, e] : held)
    if (!kept.count(s))
      out.lost.push_back(s);
  if (!out.lost.empty())
    map.lose(out.lost);
  shard_leases::table table;
  if ((out.error = leases.read(table)))
    return out;
  auto plan = shards::plan_round(table.rows, live_nodes(table, cfg.lease), keys(kept),
                                 leases.node_id(), table.now, leaving);
  held_shards got;
  if ((out.error = leases.take(plan.take, cfg.lease, got, until, &out.from_the_dead)))
    return out;
  for (auto& [s, e] : got)
    kept[s] = e;
  out.taken = keys(got);
  out.release = plan.release;
  out.balanced = plan.take.empty() && plan.release.empty()
                 && static_cast<int>(kept.size())
                      == shards::fair_share(live_nodes(table, cfg.lease), leases.node_id(),
                                            leases.shard_count());
  map.update(kept, owners_of(table));
  return out;
}

/// Frees `shards` (handed over by the directory) in the database.
void free_shards(self_ptr self, const std::vector<int>& shards) {
  auto& st = self->state;
  held_shards held;
  auto now_held = st.map->held();
  for (auto s : shards) {
    st.handing_over.erase(s);
    if (auto it = now_held.find(s); it != now_held.end())
      held[s] = it->second;
  }
  if (auto err = st.leases->release(held)) {
    // Its lease runs out by itself; the next owner waits for that.
    MD_LOG_WARN("lease.release_failed", log::kv("shards", list(shards)),
                log::kv("error", err->what));
  }
  st.map->lose(shards);
  MD_LOG_INFO("lease.released", log::kv("node", st.leases->node_id()),
              log::kv("shards", list(shards)), log::kv("held", st.map->held().size()));
}

/// Asks the directory to hand `shards` over, then frees them.
void hand_over(self_ptr self, std::vector<int> shards, std::function<void()> then = [] {}) {
  auto& st = self->state;
  std::vector<int> fresh;
  for (auto s : shards)
    if (st.handing_over.insert(s).second)
      fresh.push_back(s);
  if (fresh.empty() || !st.directory) {
    if (!st.directory)
      free_shards(self, fresh);
    then();
    return;
  }
  MD_LOG_INFO("lease.handing_over", log::kv("node", st.leases->node_id()),
              log::kv("shards", list(fresh)));
  st.map->set_moving(fresh);
  self->request(st.directory, st.cfg.lease, handover_atom::value, fresh)
    .then(
      [self, fresh, then](bool) {
        free_shards(self, fresh);
        then();
      },
      [self, fresh, then](caf::error& err) {
        MD_LOG_WARN("lease.handover_slow", log::kv("shards", list(fresh)),
                    log::kv("error", caf::to_string(err)),
                    log::kv("effect", "freed anyway; commits still under way are fenced"));
        free_shards(self, fresh);
        then();
      });
}

/// One round; returns when the next is due.
std::chrono::milliseconds round(self_ptr self) {
  auto& st = self->state;
  auto out = run_round(*st.leases, *st.map, st.cfg, st.leaving);
  auto next = out.balanced || st.leaving ? round_interval(st.cfg) : moving_interval;
  if (st.cfg.ready)
    st.cfg.ready->leases_renewed.store(!out.error, std::memory_order_relaxed);
  if (out.error) {
    if (st.failed_rounds++ == 0)
      MD_LOG_ERROR("lease.round_failed", log::kv("node", st.leases->node_id()),
                   log::kv("error", out.error->what),
                   log::kv("effect", "leases not renewed: other nodes adopt this node's "
                                     "shards when they run out, unless the database answers "
                                     "again first"));
    return round_interval(st.cfg);
  }
  if (st.failed_rounds > 0)
    MD_LOG_INFO("lease.rounds_back", log::kv("after_failed", st.failed_rounds));
  st.failed_rounds = 0;
  if (!out.lost.empty()) {
    MD_LOG_WARN("lease.lost", log::kv("node", st.leases->node_id()),
                log::kv("shards", list(out.lost)),
                log::kv("effect", "another node took them; their meetings are dropped here"));
    if (st.directory)
      self->send(st.directory, drop_atom::value, out.lost);
  }
  if (!out.taken.empty()) {
    MD_LOG_INFO("lease.taken", log::kv("node", st.leases->node_id()),
                log::kv("shards", list(out.taken)), log::kv("held", st.map->held().size()));
    if (st.directory)
      self->send(st.directory, adopt_atom::value, out.taken, out.from_the_dead);
    else
      st.map->set_ready(out.taken);
  }
  if (!out.release.empty() && !st.leaving)
    hand_over(self, out.release);
  return next;
}

} // namespace

std::optional<std::string> first_lease_round(shard_leases& leases, shard_map& map,
                                             const lease_settings& cfg) {
  auto out = run_round(leases, map, cfg, false);
  if (out.error)
    return out.error->what;
  MD_LOG_INFO("lease.taken", log::kv("node", leases.node_id()),
              log::kv("shards", map.held().size()), log::kv("of", leases.shard_count()));
  return std::nullopt;
}

lease_actor::behavior_type lease_actor_impl(lease_actor::stateful_pointer<lease_actor_state> self,
                                            std::unique_ptr<shard_leases> leases,
                                            std::shared_ptr<shard_map> map, lease_settings cfg) {
  auto& st = self->state;
  st.leases = std::move(leases);
  st.map = std::move(map);
  st.cfg = cfg;
  self->delayed_send(self, round_interval(cfg), tick_atom::value, unix_ms{0});
  return {
    [self](attach_atom, shard_listener& directory) { self->state.directory = directory; },
    [self](tick_atom, unix_ms) {
      auto next = round(self);
      self->delayed_send(self, next, tick_atom::value, unix_ms{0});
    },
    [self](fenced_atom, const std::vector<int>& shards) {
      // The store marked them lost in the map already.
      if (self->state.directory)
        self->send(self->state.directory, drop_atom::value, shards);
    },
    [self](leave_atom) -> caf::result<bool> {
      auto& state = self->state;
      state.leaving = true;
      auto rp = self->make_response_promise<bool>();
      auto all = keys(state.map->held());
      hand_over(self, all, [self, rp]() mutable {
        node_report report;
        report.state = "stopped";
        report.version = self->state.cfg.version;
        bool clash = false;
        self->state.leases->heartbeat(report, &clash);
        rp.deliver(true);
      });
      return rp;
    },
    [self](nodes_atom) -> caf::result<cluster_view> {
      auto& state = self->state;
      shard_leases::table table;
      if (auto err = state.leases->read(table))
        return caf::make_error(caf::sec::runtime_error,
                               "the shards table could not be read: " + err->what);
      return cluster_view{table.now, state.cfg.lease, std::move(table.nodes)};
    },
  };
}

} // namespace meetingd
