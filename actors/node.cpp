#include "actors/node.hpp"

#include "config/log.hpp"
#include "config/metrics.hpp"

#include <caf/scoped_actor.hpp>

#include <cstdlib>

namespace meetingd {

namespace {

struct hasher_pool_state {
  std::vector<hasher_actor> workers;
  std::size_t next = 0;
  static inline const char* name = "hasher-pool";
};

hasher_actor::behavior_type
hasher_pool(hasher_actor::stateful_pointer<hasher_pool_state> self,
            std::vector<hasher_actor> workers) {
  self->state.workers = std::move(workers);
  // Workers stop with the pool.
  for (auto& w : self->state.workers)
    self->link_to(w);
  auto pick = [self]() -> hasher_actor& {
    auto& st = self->state;
    return st.workers[st.next++ % st.workers.size()];
  };
  return {
    [self, pick](hash_atom a, std::string& password, int iterations, hash_deadline by) {
      return self->delegate(pick(), a, std::move(password), iterations, by);
    },
    [self, pick](verify_atom a, std::string& password, std::string& stored, int iterations,
                 hash_deadline by) {
      return self->delegate(pick(), a, std::move(password), std::move(stored), iterations, by);
    },
  };
}

/// The figures of the node that are not counted as they happen: its
/// identity, and the shards it holds (read from the shard map per scrape).
void publish_identity(const node_env& env) {
  auto& m = metrics::node();
  m.build_info.with({MEETINGD_VERSION, env.node_id}).set(1);
  if (auto map = env.shards) {
    m.shards_total.set(map->count());
    m.reg.on_scrape([map, &m] { m.shards_owned.set(static_cast<double>(map->held().size())); });
  }
}

} // namespace

hasher_actor spawn_hashers(caf::actor_system& sys, int workers) {
  std::vector<hasher_actor> pool;
  for (int i = 0; i < workers; ++i)
    pool.push_back(sys.spawn<caf::detached>(hasher_impl, i));
  return sys.spawn(hasher_pool, std::move(pool));
}

node_actors start_node(caf::actor_system& sys, const node_setup& setup,
                       std::unique_ptr<store> db, recovery_report& report) {
  auto env = std::make_shared<node_env>(setup.env);
  publish_identity(*env);
  env->clock_offset_ms = node_env::offset_for(sys.clock());
  env->started_at = env->wall_now(sys.clock());
  auto now = env->started_at;

  // Several nodes: this node's shards first, so that the load below knows
  // which meetings it serves and which are replicas.
  std::unique_ptr<shard_leases> leases;
  if (env->shards) {
    std::string error;
    leases = shard_leases::open(setup.db, setup.db_options.server_timeout, env->node_id,
                                env->shards->count(), &error);
    if (!leases) {
      report.error = error;
      return {};
    }
    if (auto err = first_lease_round(*leases, *env->shards, setup.lease)) {
      report.error = "the first lease round failed: " + *err;
      return {};
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto snap = db->load(now - env->request_ttl.count(), now - env->ended_retention.count());
  if (snap.error) {
    report.error = snap.error->what;
    return {};
  }
  report.load_ms
    = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  report.live_meetings = snap.live_meetings.size();
  report.ended_meetings = snap.ended_meetings.size();
  report.users = snap.users.size();
  report.devices = snap.devices.size();
  report.requests = snap.requests.size();
  report.clean_shutdown = snap.clean_shutdown;
  env->recovery = std::make_shared<recovery_tracker>(snap.live_meetings.size(), t0, env->ready);

  auto health = env->ready ? env->ready->store : std::make_shared<store_health>();
  store_settings store_cfg;
  store_cfg.request_ttl = env->request_ttl;
  store_cfg.ended_retention = env->ended_retention;
  store_cfg.health = health;
  // The meetings hold a change the database refused for good (a bug): they
  // must not carry on from a state that is not durable. Everything else
  // acknowledged is committed; the restart reloads it, and devices that
  // miss a reply send the same request again and get the stored one.
  store_cfg.on_refused = [](const std::string& error) {
    MD_LOG_ERROR("node.fatal", log::kv("error", error),
                 log::kv("effect", "the node stops (exit 70) and restarts from the database"),
                 log::kv("hint", "report this line: a change the schema refuses is a bug"));
    std::_Exit(70);
  };
  // A commit that finds shards fenced tells the directory to drop them.
  auto directory_slot = std::make_shared<directory_actor>();
  store_cfg.shards = env->shards;
  store_cfg.on_fenced = [directory_slot](const std::vector<int>& shards) {
    if (*directory_slot)
      caf::anon_send(*directory_slot, drop_atom::value, shards);
  };
  node_actors node;
  node.store = sys.spawn<caf::detached>(store_actor_impl, std::move(db), store_cfg);
  node.rtc = sys.spawn(rtc_gateway, setup.rtc);
  node.hasher = spawn_hashers(sys, setup.hashers);
  lmq_recovery lr;
  lr.devices = snap.devices;
  lr.requests = std::move(snap.requests);
  // Several nodes: others may have sent events since the numbers were
  // stored, whatever this node's last stop was.
  lr.crashed = !snap.clean_shutdown || env->shards != nullptr;
  auto lmq_cfg = setup.lmq;
  lmq_cfg.clock_offset_ms = env->clock_offset_ms;
  lmq_cfg.request_ttl = env->request_ttl;
  lmq_cfg.database_health = health;
  lmq_cfg.ready = env->ready;
  node.lmq = sys.spawn(lmq_gateway_impl, std::move(lmq_cfg), node.store, std::move(lr));
  if (leases) {
    auto lease_cfg = setup.lease;
    lease_cfg.ready = env->ready;
    node.lease = sys.spawn<caf::detached>(lease_actor_impl, std::move(leases), env->shards,
                                          std::move(lease_cfg));
  }
  if (setup.webhooks.enabled())
    node.webhooks = sys.spawn(webhook_actor_impl, setup.webhooks, node.store, env->shards);
  node.directory = sys.spawn(directory_actor_impl, env,
                             directory_links{node.store, node.rtc, node.hasher, node.lmq,
                                             node.lease, node.webhooks},
                             std::move(snap));
  *directory_slot = node.directory;
  if (env->shards) {
    auto directory = node.directory;
    auto lmq = node.lmq;
    node.feed = std::make_shared<change_feed::listener>(
      setup.db, setup.db_options.server_timeout, env->node_id,
      [directory, lmq](change_feed::message m) {
        std::vector<request_record> keys;
        std::vector<change::put_device_seq> seqs;
        for (auto& c : m.changes)
          if (auto* r = std::get_if<change::put_request>(&c))
            keys.push_back(r->row);
          else if (auto* s = std::get_if<change::put_device_seq>(&c))
            seqs.push_back(*s);
        if (!keys.empty())
          caf::anon_send(lmq, remote_atom::value, std::move(keys));
        if (!seqs.empty())
          caf::anon_send(lmq, remote_atom::value, std::move(seqs));
        caf::anon_send(directory, remote_atom::value, std::move(m.changes));
      },
      [directory] { caf::anon_send(directory, remote_atom::value); });
  }
  if (node.lease)
    caf::anon_send(node.lease, attach_atom::value,
                   caf::actor_cast<shard_listener>(node.directory));
  // The gateway sees the directory only as the handler of its commands.
  command_handler handler = node.directory;
  caf::anon_send(node.lmq, attach_atom::value, std::move(handler));
  return node;
}

bool stop_node(caf::actor_system& sys, const node_actors& node,
               std::chrono::seconds timeout) {
  caf::scoped_actor self{sys};
  bool ok = true;
  if (node.lease)
    self->request(node.lease, timeout, leave_atom::value)
      .receive([](bool) {},
               [&](caf::error& err) {
                 MD_LOG_WARN("node.handover_incomplete", log::kv("error", sys.render(err)),
                             log::kv("effect", "other nodes adopt the rest when the leases run "
                                               "out"));
               });
  self->request(node.lmq, timeout, shutdown_atom::value)
    .receive([](bool) {},
             [&](caf::error& err) {
               ok = false;
               MD_LOG_WARN("node.drain_incomplete", log::kv("error", sys.render(err)));
             });
  // Before the store's last commit: the outcomes it recorded so far are in
  // the store's mailbox and commit with it; attempts still in flight are
  // sent again after the restart (at least once, docs/protocol.md §15).
  if (node.webhooks)
    self->send_exit(node.webhooks, caf::exit_reason::user_shutdown);
  self->request(node.store, timeout, checkpoint_atom::value)
    .receive([&](bool committed) { ok = ok && committed; },
             [&](caf::error& err) {
               ok = false;
               MD_LOG_ERROR("node.checkpoint_failed", log::kv("error", sys.render(err)));
             });
  if (node.lease)
    self->send_exit(node.lease, caf::exit_reason::user_shutdown);

  for (auto a : {caf::actor_cast<caf::actor>(node.directory), caf::actor_cast<caf::actor>(node.lmq),
                 caf::actor_cast<caf::actor>(node.rtc), caf::actor_cast<caf::actor>(node.hasher),
                 caf::actor_cast<caf::actor>(node.store)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
  return ok;
}

} // namespace meetingd
