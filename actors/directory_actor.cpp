// The directory actor (see directory_actor.hpp).
#include "actors/directory_actor.hpp"

#include "actors/core/auth.hpp"
#include "actors/directory_login.hpp"
#include "actors/directory_meetings.hpp"
#include "actors/directory_replies.hpp"
#include "actors/directory_shards.hpp"
#include "actors/core/directory_routing.hpp"
#include "config/log.hpp"
#include "config/metrics.hpp"
#include "actors/core/crypto.hpp"

#include <caf/event_based_actor.hpp>

#include <set>

namespace meetingd {

namespace {

using namespace directory_replies;
using proto::command_kind;
namespace meetings = directory_meetings;

/// How often the directory forgets what no longer matters (decayed login
/// failures, creates older than a minute, old removals, meetings that ended
/// longer than --ended-retention ago).
constexpr auto prune_interval = std::chrono::minutes(1);

/// Applies a device presence change and tells the user's meetings if the
/// user as a whole went offline or came back.
void presence(self_ptr self, const std::string& client, bool online) {
  auto& st = self->state;
  changeset rows;
  auto change = st.book.set_presence(client, online, now_of(self), rows);
  commit_then(self, st.links.store, std::move(rows), [] {});
  if (change)
    notify_meetings(self, change->user, change->online);
}

// -- admin -------------------------------------------------------------------------------

/// The directory's own figures, for admin.stats and the metrics.
proto::stats_data own_figures(const directory_actor_state& st) {
  proto::stats_data data;
  data.node = st.env->node_id;
  data.meetings_active = static_cast<std::int64_t>(st.book.meeting_count(meeting_status::active));
  data.meetings_ended = static_cast<std::int64_t>(st.book.meeting_count(meeting_status::ended));
  data.meetings_with_actor = static_cast<std::int64_t>(st.meetings.size());
  data.meetings_dormant = static_cast<std::int64_t>(st.dormant.size());
  data.participants = static_cast<std::int64_t>(st.book.participant_count());
  data.devices_online = static_cast<std::int64_t>(st.book.devices_online());
  data.users = static_cast<std::int64_t>(st.book.user_count());
  data.ringing_invitations = static_cast<std::int64_t>(st.book.ringing_count());
  return data;
}

/// How often the figures go to the metrics: a scrape reads what is at most
/// this old, and the systemd watchdog sees the actors run.
constexpr auto figures_interval = std::chrono::seconds(1);

void publish_figures(self_ptr self) {
  auto& st = self->state;
  auto f = own_figures(st);
  auto& m = metrics::node();
  auto d = [](std::int64_t v) { return static_cast<double>(v); };
  m.meetings.with({"active"}).set(d(f.meetings_active));
  m.meetings.with({"ended"}).set(d(f.meetings_ended));
  m.meetings_dormant.set(d(f.meetings_dormant));
  m.participants.set(d(f.participants));
  m.ringing_invitations.set(d(f.ringing_invitations));
  m.devices_online.set(d(f.devices_online));
  m.users.set(d(f.users));
  if (st.env->ready)
    st.env->ready->directory_heartbeat_ms.store(readiness::steady_ms(),
                                                std::memory_order_relaxed);
  self->delayed_send(self, figures_interval, figures_atom::value);
}

void stats(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto data = own_figures(st);
  // The delivery actor counts in the node's metrics (gateway/webhook_actor.cpp).
  auto& m = metrics::node();
  data.webhooks_delivered = static_cast<std::int64_t>(m.webhooks_delivered.value());
  data.webhooks_failed_attempts = static_cast<std::int64_t>(m.webhook_failures.value());
  data.webhooks_given_up = static_cast<std::int64_t>(m.webhooks_given_up.value());
  data.webhooks_pending = static_cast<std::int64_t>(m.webhooks_pending.value());
  auto finish = [self, in, rp](proto::stats_data complete) mutable {
    reply_with(self, route_of(in), rp, ok(std::move(complete)));
  };
  self->request(st.links.rtc, std::chrono::seconds(5), stats_atom::value)
    .then(
      [self, data, finish](rtc::stats& rs) mutable {
        data.rtc_calls = static_cast<std::int64_t>(rs.calls);
        data.rtc_failures = static_cast<std::int64_t>(rs.failures);
        data.rtc_retries = static_cast<std::int64_t>(rs.retries);
        data.rtc_circuit_open = rs.circuit_open;
        self->request(self->state.links.store, std::chrono::seconds(5), stats_atom::value)
          .then(
            [self, data, finish](store_stats& ss) mutable {
              data.store_commits = static_cast<std::int64_t>(ss.commits);
              data.store_changes_per_commit
                = ss.commits ? static_cast<double>(ss.changesets) / ss.commits : 0.0;
              auto& lmq = self->state.links.lmq;
              if (!lmq) {
                finish(data);
                return;
              }
              self->request(lmq, std::chrono::seconds(5), stats_atom::value)
                .then(
                  [data, finish](gateway_stats& gs) mutable {
                    data.commands_total = static_cast<std::int64_t>(gs.commands);
                    data.commands_per_s = gs.commands_per_s;
                    data.latency_p50_ms = gs.latency_p50_ms;
                    data.latency_p99_ms = gs.latency_p99_ms;
                    finish(data);
                  },
                  [data, finish](caf::error&) mutable { finish(data); });
            },
            [data, finish](caf::error&) mutable { finish(data); });
      },
      [data, finish](caf::error&) mutable { finish(data); });
}

/// admin.nodes: every node that holds or held a lease, as the shards and
/// nodes tables say now; a node on SQLite is the only one.
void nodes(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  if (!st.links.lease) {
    proto::nodes_data data;
    proto::node_info me;
    me.node = st.env->node_id;
    me.state = "serving";
    me.version = MEETINGD_VERSION;
    me.meetings = static_cast<int>(st.book.meeting_count(meeting_status::active));
    data.nodes.push_back(std::move(me));
    data.answered_by = st.env->node_id;
    reply_with(self, route_of(in), rp, ok(std::move(data)));
    return;
  }
  self->request(st.links.lease, std::chrono::seconds(10), nodes_atom::value)
    .then(
      [self, in, rp](cluster_view& view) mutable {
        proto::nodes_data data;
        data.answered_by = self->state.env->node_id;
        for (auto& row : view.nodes) {
          proto::node_info n;
          n.node = row.node;
          bool silent = row.heartbeat_at < view.now - view.lease.count();
          n.state = silent && row.state != "stopped" ? "down" : row.state;
          n.version = row.version;
          n.shards = row.shards;
          n.meetings = row.meetings;
          if (row.lease_until > 0)
            n.lease_expires_at = to_unix_s(row.lease_until);
          n.commands_per_s = row.commands_per_s;
          data.nodes.push_back(std::move(n));
        }
        reply_with(self, route_of(in), rp, ok(std::move(data)));
      },
      [self, in, rp](caf::error& err) mutable {
        MD_LOG_ERROR("admin.nodes_failed", log::kv("error", caf::to_string(err)));
        reply_with(self, route_of(in), rp,
                   refuse_retry_after(refusal::store_unavailable,
                                      "the shards table could not be read just now; try again",
                                      1000));
      });
}

/// Admin commands that the directory answers itself.
void handle_admin(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  switch (cmd.kind) {
    case command_kind::admin_ping: {
      auto now = now_of(self);
      reply_with(self, route_of(in), rp,
                 ok(proto::ping_data{st.env->node_id, MEETINGD_VERSION,
                                     (now - st.env->started_at) / 1000}));
      return;
    }
    case command_kind::admin_stats:
      stats(self, in, rp);
      return;
    case command_kind::admin_nodes:
      nodes(self, in, rp);
      return;
    case command_kind::admin_meetings_list:
      reply_with(self, route_of(in), rp, ok(st.book.list_meetings(cmd)));
      return;
    case command_kind::admin_user_add:
      directory_login::add_user(self, in, rp);
      return;
    case command_kind::admin_user_remove:
      directory_login::remove_user(self, in, rp);
      return;
    case command_kind::admin_users_list:
      reply_with(self, route_of(in), rp, ok(st.book.list_users(cmd.limit, cmd.after)));
      return;
    default:
      reply_with(self, route_of(in), rp,
                 refuse(refusal::internal, "unhandled admin command"));
  }
}

// -- meetings ------------------------------------------------------------------------------

/// 503 shard_moving: the meeting's shard is between nodes just now.
proto::reply shard_moving() {
  return refuse_retry_after(refusal::shard_moving, entry_of(refusal::shard_moving).message, 500);
}

/// Replies right here (a new promise), for paths that end in the directory.
/// Paths that end in a meeting must not make a promise: it would take over
/// the request that `delegate` forwards.
caf::result<final_reply> reply_here(self_ptr self, const reply_route& route,
                                    proto::reply reply) {
  auto rp = self->make_response_promise<final_reply>();
  reply_with(self, route, rp, std::move(reply));
  return rp;
}

caf::result<final_reply> create_meeting(self_ptr self, const inbound_request& in,
                                        const std::string& user) {
  auto& st = self->state;
  auto cmd = in.req.cmd;
  if (auto refusal = st.book.may_create(user, cmd.users.size(), now_of(self))) {
    MD_LOG_WARN("limit.reached", log::kv("user", user), log::kv("client", in.client),
                log::kv("req", in.req.id), log::kv("reason", refusal->reason));
    return reply_here(self, route_of(in, user), std::move(*refusal));
  }
  auto id = cmd.requested_id.value_or("");
  if (id.empty()) {
    // On a shard this node serves, so that no other node is asked.
    auto served = directory_shards::new_served_id(self);
    if (!served)
      return reply_here(self, route_of(in, user), shard_moving());
    id = *served;
  } else if (!directory_shards::serves(self, id)) {
    return reply_here(self, route_of(in, user), shard_moving());
  } else if (st.book.find_meeting(id)) {
    return reply_here(self, route_of(in, user),
                      refuse(refusal::meeting_exists,
                                  "a meeting with id " + id + " exists; choose another id"));
  }
  cmd.requested_id = id;
  cmd.meeting = id;
  st.book.reserve_meeting(id, user, now_of(self));
  st.book.count_create(user, now_of(self));
  auto m = meetings::spawn_new(self, id);
  meeting_request req{caller{user, in.client, false}, in.req.id, cmd,
                      st.book.facts(cmd.users, id)};
  return self->delegate(m, handle_atom::value, std::move(req));
}

/// Hands a command to its meeting's actor, or answers for a meeting that
/// has none left (admin.meeting.get: what the registry remembers; else 410).
void route_to(self_ptr self, inbound_request& in, const caller& who, reply_promise& rp,
              const meeting_actor* actor) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  auto entry = st.book.find_meeting(cmd.meeting);
  if (!actor) {
    if (entry && cmd.kind == command_kind::admin_meeting_get)
      reply_with(self, route_of(in, who.user), rp, ok(registry_view(*entry)));
    else
      reply_with(self, route_of(in, who.user), rp,
                 ended_meeting_reply(entry ? entry->end_reason : std::string{}));
    return;
  }
  std::vector<user_fact> facts;
  if (cmd.kind == command_kind::call_invite) {
    if (auto refusal = st.book.may_invite(cmd.users.size())) {
      reply_with(self, route_of(in, who.user), rp, std::move(*refusal));
      return;
    }
    facts = st.book.facts(cmd.users, cmd.meeting);
  }
  rp.delegate(*actor, handle_atom::value,
              meeting_request{who, std::move(in.req.id), std::move(cmd), std::move(facts)});
}

/// Routes a meeting-scoped command (`in` is taken over).
caf::result<final_reply> to_meeting(self_ptr self, inbound_request& in, const caller& who) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  // Another node's now, or between nodes: the gateway routes it again.
  if (!directory_shards::serves(self, cmd.meeting))
    return reply_here(self, route_of(in, who.user), shard_moving());
  // Answered here, so nothing is sent to a meeting actor about to finish.
  if (auto refusal = refusal_before_meeting(st.book.find_meeting(cmd.meeting), cmd.kind))
    return reply_here(self, route_of(in, who.user), std::move(*refusal));
  auto rp = self->make_response_promise<final_reply>();
  auto id = cmd.meeting;
  meetings::with_actor(self, id, [self, in = std::move(in), who, rp](const meeting_actor* actor) mutable {
    route_to(self, in, who, rp, actor);
  });
  return rp;
}

caf::result<final_reply> handle(self_ptr self, inbound_request& in) {
  auto& st = self->state;
  auto r = route_command(in.req.cmd.kind, in.client, in.admin, st.book.user_of(in.client));
  // Any command proves a logged-in device is there.
  if (!r.who.user.empty())
    presence(self, in.client, true);
  // Only paths that end in the directory make a promise: one made on a path
  // that ends in a meeting would take over the request `delegate` forwards.
  auto promise = [self] { return self->make_response_promise<final_reply>(); };
  switch (r.where) {
    case route::to::create:
      return create_meeting(self, in, r.who.user);
    case route::to::meeting:
      return to_meeting(self, in, r.who);
    case route::to::log_in: {
      auto rp = promise();
      directory_login::login(self, in, rp);
      return rp;
    }
    case route::to::log_out: {
      auto rp = promise();
      directory_login::logout(self, in, rp);
      return rp;
    }
    case route::to::admin: {
      auto rp = promise();
      handle_admin(self, in, rp);
      return rp;
    }
    case route::to::refuse:
      break;
  }
  if (r.why == refusal::not_admin)
    MD_LOG_WARN("admin.refused", log::kv("client", in.client),
                log::kv("type", proto::to_string(in.req.cmd.kind)), log::kv("req", in.req.id));
  auto rp = promise();
  if (r.to_stranger)
    reply_to_stranger(rp, route_of(in), refuse(r.why));
  else
    reply_with(self, route_of(in), rp, refuse(r.why));
  return rp;
}

void deliver(self_ptr self, std::vector<outgoing_event>& events) {
  auto& st = self->state;
  if (!st.links.lmq)
    return;
  for (auto& out : events) {
    std::set<std::string> clients;
    for (auto& user : out.users)
      for (auto& client : st.book.devices_of(user, out.online_only, out.except_client))
        clients.insert(client);
    if (clients.empty())
      continue;
    self->send(st.links.lmq, publish_atom::value,
               std::vector<std::string>{clients.begin(), clients.end()}, std::move(out.ev));
  }
}

/// Forgets what no longer matters, with its rows; re-arms itself.
void prune_books(self_ptr self) {
  auto& st = self->state;
  auto now = now_of(self);
  auto rows = st.book.prune_logins(now);
  rows.append(st.book.prune_removed(now - st.env->ticket_max_age.count()));
  st.book.prune_creates(now);
  // The store deletes their rows on its own round; from now on they are 404.
  auto ended_before = now - st.env->ended_retention.count();
  st.book.prune_ended(ended_before);
  // Several nodes: so are the other nodes' meetings kept as replicas.
  for (auto r = st.replicas.begin(); r != st.replicas.end();)
    if (r->second.status == meeting_status::ended && r->second.ended_at < ended_before)
      r = st.replicas.erase(r);
    else
      ++r;
  commit_then(self, st.links.store, std::move(rows), [] {});
  self->delayed_send(self, prune_interval, prune_atom::value);
}

} // namespace

namespace directory_replies {

void notify_meetings(self_ptr self, const std::string& user, bool online) {
  auto& st = self->state;
  for (auto& id : st.book.meetings_of(user))
    meetings::with_actor(self, id, [self, user, online](const meeting_actor* m) {
      if (m)
        self->send(*m, presence_atom::value, user, online);
    });
}

} // namespace directory_replies

directory_actor::behavior_type
directory_actor_impl(directory_actor::stateful_pointer<directory_actor_state> self,
                     node_env_ptr env, directory_links links, snapshot recovered) {
  auto& st = self->state;
  st.env = std::move(env);
  st.links = std::move(links);
  st.book = directory_core{st.env->login_throttle, st.env->limits};
  for (auto& u : recovered.users)
    st.book.add_user(std::move(u));
  for (auto& f : recovered.login_failures)
    st.book.restore_login_failures(f);
  for (auto& r : recovered.removed_users)
    st.book.restore_removed(r);
  for (auto& d : recovered.devices) {
    changeset ignored;
    st.book.bind(d.client, d.user, d.bound_at);
    st.book.set_presence(d.client, d.online, d.last_seen_at, ignored);
  }
  for (auto& m : recovered.ended_meetings)
    st.book.restore_ended(m);
  meetings::restore(self, directory_shards::keep_served(self, std::move(recovered.live_meetings)));
  if (st.env->shards) {
    std::vector<int> held;
    for (auto& [shard, epoch] : st.env->shards->held())
      held.push_back(shard);
    st.env->shards->set_ready(held);
    directory_shards::report_load(self);
  }
  if (st.env->recovery)
    st.env->recovery->one_done();
  // The directory owns the meetings: when it is told to stop, they stop.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    meetings::stop_all(self, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](const caf::down_msg& msg) { meetings::on_down(self, msg); });
  self->delayed_send(self, prune_interval, prune_atom::value);
  publish_figures(self);
  return {
    [self](handle_atom, inbound_request& in) { return handle(self, in); },
    [self](presence_atom, const std::string& client, bool online) {
      presence(self, client, online);
    },
    [self](deliver_atom, std::vector<outgoing_event>& events) { deliver(self, events); },
    [self](update_atom, meeting_update& update) { self->state.book.apply(std::move(update)); },
    [self](finished_atom, const std::string& id) { meetings::on_finished(self, id); },
    [self](wake_atom, unix_ms due) { meetings::on_wake(self, due); },
    [self](tick_atom, const std::string& id, unix_ms due) { meetings::on_tick(self, id, due); },
    [self](sweep_atom) {
      meetings::on_sweep(self);
      directory_shards::report_load(self);
    },
    [self](prune_atom) { prune_books(self); },
    [self](figures_atom) { publish_figures(self); },
    [self](adopt_atom, const std::vector<int>& shards, bool from_the_dead) {
      // Events of the dead node's meetings may have gone out unrecorded.
      if (from_the_dead && self->state.links.lmq)
        self->send(self->state.links.lmq, adopt_atom::value);
      directory_shards::on_adopt(self, shards);
    },
    [self](drop_atom, const std::vector<int>& shards) {
      directory_shards::on_drop(self, shards);
    },
    [self](handover_atom, const std::vector<int>& shards) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      directory_shards::on_handover(self, shards, rp);
      return rp;
    },
    [self](handover_atom) { directory_shards::check_handovers(self); },
    [self](remote_atom, std::vector<any_change>& changes) {
      directory_shards::on_remote(self, changes);
    },
    [self](remote_atom) { directory_shards::on_gap(self); },
  };
}

hasher_actor::behavior_type hasher_impl(hasher_actor::pointer self, int) {
  // The asker gave up already (it answered 503): the work would be wasted.
  auto too_late = [self](hash_deadline by) {
    auto now = self->clock().now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() > by;
  };
  return {
    [too_late](hash_atom, const std::string& password, int iterations, hash_deadline by) {
      if (too_late(by))
        return std::string{};
      return auth::hash_password(password, iterations);
    },
    [too_late](verify_atom, const std::string& password, const std::string& stored,
               int iterations, hash_deadline by) {
      if (too_late(by))
        return false;
      if (stored.empty())
        return auth::verify_against_nothing(password, iterations);
      return auth::verify_password(password, stored);
    },
  };
}

} // namespace meetingd
