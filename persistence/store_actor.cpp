// The store actor (see store_actor.hpp): group commit, held replies on
// failure, periodic pruning, clean shutdown.
#include "persistence/store_actor.hpp"

#include "actors/core/backoff.hpp"
#include "config/log.hpp"
#include "config/metrics.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <exception>
#include <set>

#include <time.h>

namespace meetingd {

std::size_t store_stats::bucket_of(std::size_t n) {
  std::size_t bucket = 0;
  while (n > 1 && bucket + 1 < buckets) {
    n >>= 1;
    ++bucket;
  }
  return bucket;
}

namespace {

using self_ptr = store_actor::stateful_pointer<store_actor_state>;
using steady = std::chrono::steady_clock;

// A commit slower than this gets a warning: the disk is the bottleneck.
constexpr double slow_commit_ms = 500;

/// CPU time of the calling thread in ms.
double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3
         + static_cast<double>(ts.tv_nsec) / 1e6;
}

unix_ms wall_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// The wait before the next attempt of the held group.
std::chrono::milliseconds retry_delay(const store_actor_state& st) {
  return backoff_ceiling(st.cfg.retry_interval,
                         std::max(st.cfg.max_retry_interval, st.cfg.retry_interval),
                         static_cast<int>(std::max<std::size_t>(st.attempts, 1)));
}

/// Says whether the store takes writes, for the gateway.
void set_health(store_actor_state& st, bool available) {
  if (!st.cfg.health)
    return;
  st.cfg.health->retry_after_ms.store(retry_delay(st).count(), std::memory_order_relaxed);
  st.cfg.health->available.store(available, std::memory_order_relaxed);
  metrics::node().store_available.set(available ? 1 : 0);
}

/// Schedules the retry of the held group, unless one is due later anyway.
void schedule_retry(self_ptr self) {
  auto& st = self->state;
  st.backing_off = true;
  set_health(st, false);
  auto now = steady::now();
  if (st.retry_due > now)
    return;
  auto delay = retry_delay(st);
  st.retry_due = now + delay;
  self->delayed_send(self, delay, flush_atom::value);
}

/// Drops every pending changeset that writes for one of `shards` (another
/// node holds them now: none of them can ever commit), with an error that
/// the meeting stays silent on (the gateway publishes nothing for a shard
/// it does not serve).
void drop_fenced(self_ptr self, const std::vector<int>& shards) {
  auto& st = self->state;
  if (st.cfg.shards)
    st.cfg.shards->lose(shards);
  std::set<int> gone(shards.begin(), shards.end());
  std::deque<store_actor_state::held> kept;
  std::size_t dropped = 0;
  for (auto& held : st.pending) {
    bool fenced = false;
    if (st.cfg.shards)
      for (auto& m : meetings_written(held.changes))
        fenced = fenced || gone.count(st.cfg.shards->shard_of(m)) > 0;
    if (!fenced) {
      kept.push_back(std::move(held));
      continue;
    }
    ++dropped;
    held.promise.deliver(caf::make_error(caf::sec::runtime_error,
                                         "fenced: the meeting's shard moved to another node"));
  }
  st.pending = std::move(kept);
  st.stats.fenced += dropped;
  metrics::node().fenced.add(dropped);
  MD_LOG_WARN("store.fenced", log::kv("shards", shards.size()), log::kv("dropped", dropped),
              log::kv("effect", "another node took these shards; their meetings are dropped "
                                "here and carry on there from the database"));
  if (st.cfg.on_fenced)
    st.cfg.on_fenced(shards);
}

/// Commits everything pending in groups of at most max_batch, delivering the
/// promises of each group after its COMMIT. Returns false if a group failed
/// and is held for a retry.
bool commit_pending(self_ptr self) {
  auto& st = self->state;
  while (!st.pending.empty()) {
    // A previous "clean shutdown" mark must go before new writes.
    if (st.marked_clean) {
      if (auto err = st.db->set_clean_shutdown(false)) {
        ++st.stats.failures;
        ++st.attempts;
        MD_LOG_ERROR("store.commit_failed", log::kv("error", err->what),
                     log::kv("held", st.pending.size()),
                     log::kv("attempt", st.attempts),
                     log::kv("retry_in_ms", retry_delay(st).count()));
        schedule_retry(self);
        return false;
      }
      st.marked_clean = false;
    }
    auto limit = st.isolate > 0 ? std::size_t{1}
                                : std::max<std::size_t>(st.cfg.max_batch, 1);
    auto n = std::min(st.pending.size(), limit);
    std::vector<const changeset*> batch;
    batch.reserve(n);
    std::uint64_t changes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(&st.pending[i].changes);
      changes += st.pending[i].changes.changes.size();
    }
    auto start = steady::now();
    auto start_cpu = thread_cpu_ms();
    auto err = st.db->apply(batch);
    double cpu_ms = thread_cpu_ms() - start_cpu;
    double ms = std::chrono::duration<double, std::milli>(steady::now() - start)
                  .count();
    if (err && !err->fenced.empty()) {
      drop_fenced(self, err->fenced);
      continue;
    }
    if (err && !err->retryable) {
      // The data was refused, not the disk: find the culprit by committing
      // this group one changeset at a time.
      if (n > 1) {
        MD_LOG_WARN("store.group_refused", log::kv("changesets", n),
                    log::kv("error", err->what),
                    log::kv("action", "committing one by one"));
        st.isolate = n;
        continue;
      }
      ++st.stats.rejected;
      MD_LOG_ERROR("store.changeset_refused", log::kv("error", err->what),
                   log::kv("changes", changes));
      auto held = std::move(st.pending.front());
      st.pending.pop_front();
      if (st.isolate > 0)
        --st.isolate;
      held.promise.deliver(caf::make_error(caf::sec::runtime_error,
                                           "store refused the change: "
                                             + err->what));
      if (st.cfg.on_refused)
        st.cfg.on_refused(err->what);
      continue;
    }
    if (err && err->conflict && st.conflicts < 5) {
      // Another node's transaction won a race for the same rows: the
      // server rolled this one back; again at once, not after a back-off.
      ++st.conflicts;
      ++st.stats.failures;
      MD_LOG_WARN("store.conflict", log::kv("error", err->what), log::kv("attempt", st.conflicts),
                  log::kv("effect", "sent again at once"));
      continue;
    }
    if (err) {
      // Not durable: hold every reply and try again later.
      ++st.stats.failures;
      metrics::node().commit_failures.add();
      ++st.attempts;
      MD_LOG_ERROR("store.commit_failed", log::kv("error", err->what),
                   log::kv("held", st.pending.size()),
                   log::kv("attempt", st.attempts),
                   log::kv("retry_in_ms", retry_delay(st).count()),
                   log::kv("effect", "replies held until the commit succeeds; new writes are "
                                     "refused with 503 store_unavailable"));
      schedule_retry(self);
      return false;
    }
    st.conflicts = 0;
    auto& s = st.stats;
    ++s.commits;
    s.changesets += n;
    s.changes += changes;
    s.max_batch = std::max<std::uint64_t>(s.max_batch, n);
    s.last_commit_ms = ms;
    s.max_commit_ms = std::max(s.max_commit_ms, ms);
    s.total_commit_ms += ms;
    s.total_commit_cpu_ms += cpu_ms;
    ++s.batch_histogram[store_stats::bucket_of(n)];
    auto& m = metrics::node();
    m.commit_seconds.observe(ms / 1000);
    m.batch_size.observe(static_cast<double>(n));
    if (ms > slow_commit_ms)
      MD_LOG_WARN("store.slow_commit", log::kv("ms", ms),
                  log::kv("changesets", n),
                  log::kv("advice", "the disk is slow; writes queue behind it"));
    if (st.backing_off) {
      MD_LOG_INFO("store.commit_recovered", log::kv("after_attempts", st.attempts),
                  log::kv("changesets", n));
      st.backing_off = false;
      st.attempts = 0;
      set_health(st, true);
    }
    if (st.isolate > 0)
      st.isolate -= std::min(st.isolate, n);
    for (std::size_t i = 0; i < n; ++i) {
      auto held = std::move(st.pending.front());
      st.pending.pop_front();
      held.promise.deliver(s.commits);
    }
  }
  return true;
}

/// After a group's replies are out: the SQLite log copied into the database
/// file if it has grown past its limit and no commit waits in the mailbox,
/// or far past it (store::log_checkpoint_due).
void checkpoint_if_due(self_ptr self) {
  auto& st = self->state;
  if (!st.db->log_checkpoint_due(self->mailbox().empty()))
    return;
  auto start = steady::now();
  auto err = st.db->checkpoint_log();
  metrics::node().checkpoint_seconds.observe(
    std::chrono::duration<double>(steady::now() - start).count());
  if (err)
    MD_LOG_WARN("store.checkpoint_failed", log::kv("error", err->what),
                log::kv("effect", "the write-ahead log grows until the next checkpoint "
                                  "succeeds; the data is safe in it"));
}

} // namespace

store_actor::behavior_type
store_actor_impl(store_actor::stateful_pointer<store_actor_state> self,
                 std::unique_ptr<store> db, store_settings cfg) {
  auto& st = self->state;
  st.db = std::move(db);
  st.cfg = cfg;
  // Until `checkpoint`, a restart from this database is a crash recovery.
  if (auto err = st.db->set_clean_shutdown(false)) {
    MD_LOG_ERROR("store.mark_running_failed", log::kv("error", err->what));
    st.marked_clean = true; // retried before the first commit
  }
  self->delayed_send(self, cfg.prune_interval, prune_atom::value);
  return {
    [=](commit_atom, changeset& cs) -> caf::result<std::uint64_t> {
      auto& state = self->state;
      auto promise = self->make_response_promise<std::uint64_t>();
      state.pending.push_back({std::move(cs), promise});
      if (state.backing_off)
        return promise; // waits for the timed retry
      if (state.pending.size() >= state.cfg.max_batch) {
        if (commit_pending(self))
          checkpoint_if_due(self);
      } else if (!state.flush_scheduled) {
        state.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return promise;
    },
    [=](flush_atom) {
      auto& state = self->state;
      state.flush_scheduled = false;
      // While backing off, only the timed retry commits; a flush sent before
      // the failure is early and ignored.
      if (state.backing_off
          && steady::now() + std::chrono::milliseconds(1) < state.retry_due)
        return;
      if (commit_pending(self))
        checkpoint_if_due(self);
    },
    [=](prune_atom) {
      auto& state = self->state;
      auto now = wall_now();
      auto deleted = state.db->prune(now - state.cfg.request_ttl.count(),
                                  now - state.cfg.ended_retention.count());
      state.stats.pruned += deleted;
      if (deleted > 0)
        MD_LOG_INFO("store.pruned", log::kv("rows", deleted));
      self->delayed_send(self, state.cfg.prune_interval, prune_atom::value);
    },
    [=](lookup_atom, const std::string& client,
        const std::string& id) -> caf::result<std::string> {
      auto& state = self->state;
      auto found = state.db->stored_reply(client, id);
      // Not stored yet, it may be among the changesets held here (a command
      // whose reply timed out while the database was away): commit them and
      // look again, so that "not stored" means it never will be. While
      // backing off the database is known to be away: a "try again".
      if (!found.error && !found.reply && !state.pending.empty()) {
        if (state.backing_off || !commit_pending(self))
          return caf::make_error(caf::sec::runtime_error,
                                 "changes are held until the database is back");
        found = state.db->stored_reply(client, id);
      }
      if (found.error) {
        MD_LOG_ERROR("store.lookup_failed", log::kv("client", client), log::kv("req", id),
                     log::kv("error", found.error->what));
        return caf::make_error(caf::sec::runtime_error, found.error->what);
      }
      return found.reply.value_or("");
    },
    [=](checkpoint_atom) -> bool {
      auto& state = self->state;
      if (!commit_pending(self)) {
        MD_LOG_ERROR("store.shutdown_unclean",
                     log::kv("held", state.pending.size()),
                     log::kv("effect", "these changes were not acknowledged"));
        return false;
      }
      if (auto err = state.db->set_clean_shutdown(true)) {
        MD_LOG_ERROR("store.shutdown_unclean", log::kv("error", err->what));
        return false;
      }
      state.marked_clean = true;
      if (auto err = state.db->checkpoint())
        MD_LOG_WARN("store.checkpoint_incomplete", log::kv("error", err->what),
                    log::kv("effect", "the data is safe in the -wal file"));
      MD_LOG_INFO("store.checkpoint", log::kv("commits", state.stats.commits),
                  log::kv("changesets", state.stats.changesets));
      return true;
    },
    [=](load_atom, const std::vector<int>& shards) -> snapshot {
      auto& state = self->state;
      auto count = state.cfg.shards ? state.cfg.shards->count() : 1;
      auto ended_since = wall_now() - state.cfg.ended_retention.count();
      if (shards.empty())
        return state.db->load(wall_now() - state.cfg.request_ttl.count(), ended_since);
      return state.db->load_shards(shards, count, ended_since);
    },
    [=](outbox_atom, std::uint64_t limit) -> caf::result<std::vector<webhook_record>> {
      auto& state = self->state;
      // The shards this node holds, or every meeting on a node without shards.
      std::vector<int> shards;
      int count = 0;
      if (state.cfg.shards) {
        count = state.cfg.shards->count();
        for (auto& held : state.cfg.shards->held())
          shards.push_back(held.first);
      }
      try {
        return state.db->pending_webhooks(shards, count, static_cast<std::size_t>(limit));
      } catch (const std::exception& e) {
        // An error, not an empty list: "nothing pending" would tell the
        // sender that the outbox is drained and the shards read.
        MD_LOG_WARN("store.outbox_failed", log::kv("error", e.what()),
                    log::kv("effect", "pending webhook events are not handed to the sender "
                                      "now; they stay in the outbox for its next read"));
        return caf::make_error(caf::sec::runtime_error, e.what());
      }
    },
    [=](stats_atom) -> store_stats {
      auto s = self->state.stats;
      s.pending = self->state.pending.size();
      return s;
    },
  };
}

} // namespace meetingd
