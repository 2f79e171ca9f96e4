// The webhook delivery actor: see webhook_actor.hpp.
#include "gateway/webhook_actor.hpp"

#include "config/log.hpp"
#include "config/metrics.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

namespace meetingd {

namespace {

using self_ptr = webhook_actor::stateful_pointer<webhook_actor_state>;
using queue = webhook_actor_state::queue;

unix_ms now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string queue_key(const webhook_record& row) {
  return row.endpoint + '\n' + row.meeting;
}

std::string row_key(const webhook_record& row) {
  return queue_key(row) + '\n' + std::to_string(row.seq);
}

void update_gauge(self_ptr self) {
  metrics::node().webhooks_pending.set(static_cast<double>(self->state.held.size()));
}

/// Whether this node delivers the meeting's events now: it holds its shard
/// (several nodes) and has read the outbox for it since.
bool may_deliver(self_ptr self, const std::string& meeting) {
  auto& st = self->state;
  if (!st.shards)
    return st.first_read_done;
  auto shard = st.shards->shard_of(meeting);
  return st.shards->holds(shard) && st.read_shards.count(shard) > 0;
}

/// Forgets a queue whose meeting's shard went to another node: that node
/// delivers its events from the outbox now.
void drop_queue(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto it = st.queues.find(key);
  if (it == st.queues.end())
    return;
  for (auto& [seq, row] : it->second.events)
    st.held.erase(row_key(row));
  st.queues.erase(it);
  update_gauge(self);
}

void send_first(self_ptr self, const std::string& key);

/// Starts the next attempt of queue `key` if it has an event and may go.
void start(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto it = st.queues.find(key);
  if (it == st.queues.end())
    return;
  auto& q = it->second;
  if (q.busy)
    return;
  if (q.events.empty()) {
    st.queues.erase(it);
    return;
  }
  auto& meeting = q.events.begin()->second.meeting;
  if (st.shards && !st.shards->holds(st.shards->shard_of(meeting))) {
    drop_queue(self, key);
    return;
  }
  if (!may_deliver(self, meeting))
    return; // started when the outbox read for its shard is in
  q.busy = true;
  if (st.in_flight.size() >= st.cfg.max_in_flight) {
    st.waiting.push_back(key);
    return;
  }
  send_first(self, key);
}

void send_first(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto it = st.queues.find(key);
  if (it == st.queues.end() || it->second.events.empty())
    return;
  auto id = st.next_id++;
  st.in_flight.emplace(id, key);
  auto req = webhooks::request_for(it->second.events.begin()->second, st.cfg);
  // The callback runs on the pool's thread: it only hands the result in. A
  // weak reference, so transfers in flight do not keep the actor alive.
  caf::weak_actor_ptr weak{self->ctrl()};
  st.pool->submit(std::move(req), [weak, id](http_result res) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<webhook_actor>(std::move(strong)), http_done_atom::value,
                     id, std::move(res));
  });
}

/// A slot came free: the longest-waiting queue that still may go takes it.
void fill_slot(self_ptr self) {
  auto& st = self->state;
  while (!st.waiting.empty() && st.in_flight.size() < st.cfg.max_in_flight) {
    auto key = std::move(st.waiting.front());
    st.waiting.pop_front();
    auto it = st.queues.find(key);
    if (it == st.queues.end() || it->second.events.empty())
      continue;
    auto& meeting = it->second.events.begin()->second.meeting;
    if (st.shards && !st.shards->holds(st.shards->shard_of(meeting))) {
      drop_queue(self, key);
      continue;
    }
    send_first(self, key);
  }
}

/// Writes the outcome of the first event of `q` and moves on to the next.
void settle_first(self_ptr self, const std::string& key, queue& q, webhook_status status,
                  std::string error) {
  auto& st = self->state;
  auto row = std::move(q.events.begin()->second);
  q.events.erase(q.events.begin());
  row.status = status;
  row.attempts = q.failures + (status == webhook_status::delivered ? 1 : 0);
  row.last_error = std::move(error);
  row.settled_at = now_ms();
  q.failures = 0;
  q.busy = false;
  auto held = row_key(row);
  changeset cs;
  cs.add(change::settle_webhook{std::move(row)});
  // Held until the outcome is committed: a read of the outbox meanwhile
  // still finds the row pending and must not queue it again.
  auto forget = [self, held] {
    self->state.held.erase(held);
    update_gauge(self);
  };
  self->request(st.store, caf::infinite, commit_atom::value, std::move(cs))
    .then([forget](std::uint64_t) { forget(); },
          [forget](caf::error&) {
            // Fenced (the shard moved) or the node is stopping: the row
            // stays pending and is delivered again by whoever serves it.
            forget();
          });
  start(self, key);
}

/// Logs a failed attempt: the first of an event, then at 2, 4, 8, ...
/// attempts, so a receiver that is down for a day costs a few lines per
/// event rather than one per retry.
void log_failure(const webhook_record& row, int failures, const std::string& error,
                 std::chrono::milliseconds retry_in) {
  if ((failures & (failures - 1)) != 0)
    return;
  MD_LOG_WARN("webhook.attempt_failed", log::kv("meeting", row.meeting), log::kv("event", row.id),
              log::kv("type", row.type), log::kv("url", row.endpoint),
              log::kv("attempts", failures), log::kv("error", error),
              log::kv("retry_in_ms", retry_in.count()),
              log::kv("hint", "retried until --webhook-max-age; check that the receiver runs "
                              "and answers 2xx within --webhook-timeout"));
}

void on_done(self_ptr self, std::uint64_t id, const http_result& res) {
  auto& st = self->state;
  auto flight = st.in_flight.find(id);
  if (flight == st.in_flight.end())
    return;
  auto key = std::move(flight->second);
  st.in_flight.erase(flight);
  fill_slot(self);
  auto it = st.queues.find(key);
  if (it == st.queues.end() || it->second.events.empty())
    return;
  auto& q = it->second;
  auto& row = q.events.begin()->second;
  auto& m = metrics::node();
  if (webhooks::delivered(res)) {
    m.webhooks_delivered.add();
    MD_LOG_DEBUG("webhook.delivered", log::kv("meeting", row.meeting), log::kv("event", row.id),
                 log::kv("type", row.type), log::kv("url", row.endpoint),
                 log::kv("attempts", q.failures + 1), log::kv("status", res.status));
    settle_first(self, key, q, webhook_status::delivered, {});
    return;
  }
  m.webhook_failures.add();
  ++q.failures;
  auto error = webhooks::failure_of(res);
  auto now = now_ms();
  if (webhooks::expired(row, now, st.cfg)) {
    m.webhooks_given_up.add();
    MD_LOG_ERROR("webhook.given_up", log::kv("meeting", row.meeting), log::kv("event", row.id),
                 log::kv("type", row.type), log::kv("url", row.endpoint),
                 log::kv("attempts", q.failures), log::kv("error", error),
                 log::kv("hint", "the event is kept in the webhook_failures view; the "
                                 "receiver must get it from there"));
    settle_first(self, key, q, webhook_status::given_up, std::move(error));
    return;
  }
  auto wait = webhooks::retry_wait(st.cfg, q.failures, st.rng);
  // One last attempt when the window closes, not a wait past it.
  auto left = std::chrono::milliseconds{row.at + st.cfg.max_age.count() - now};
  wait = std::max(std::chrono::milliseconds{0}, std::min(wait, left));
  log_failure(row, q.failures, error, wait);
  row.last_error = std::move(error);
  self->delayed_send(self, wait, retry_atom::value, key);
}

void on_retry(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto it = st.queues.find(key);
  if (it == st.queues.end())
    return;
  if (it->second.events.empty()) {
    st.queues.erase(it);
    return;
  }
  auto& meeting = it->second.events.begin()->second.meeting;
  if (st.shards && !st.shards->holds(st.shards->shard_of(meeting))) {
    drop_queue(self, key);
    return;
  }
  if (st.in_flight.size() >= st.cfg.max_in_flight)
    st.waiting.push_back(key);
  else
    send_first(self, key);
}

/// Takes a row in unless it is held already or there is no room for it.
void take(self_ptr self, webhook_record row) {
  auto& st = self->state;
  auto held = row_key(row);
  if (st.held.count(held))
    return;
  if (st.held.size() >= st.cfg.max_held) {
    st.overflowed = true;
    return;
  }
  st.held.insert(std::move(held));
  auto key = queue_key(row);
  auto seq = row.seq;
  st.queues[key].events.emplace(seq, std::move(row));
  start(self, key);
}

void read_outbox(self_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.cfg.rescan_interval, outbox_atom::value);
  if (st.reading || st.held.size() >= st.cfg.max_held)
    return;
  st.reading = true;
  auto room = st.cfg.max_held - st.held.size();
  // The shards this read covers: those held now (the store reads the same).
  std::vector<int> covered;
  if (st.shards)
    for (auto& [shard, epoch] : st.shards->held())
      covered.push_back(shard);
  self->request(st.store, std::chrono::minutes(1), outbox_atom::value,
                static_cast<std::uint64_t>(room))
    .then(
      [self, room, covered](std::vector<webhook_record>& rows) {
        auto& state = self->state;
        state.reading = false;
        if (rows.size() < room)
          state.overflowed = false;
        bool first = !state.first_read_done;
        state.first_read_done = true;
        if (state.shards) {
          std::unordered_set<int> now_read;
          for (auto shard : covered)
            if (state.shards->holds(shard))
              now_read.insert(shard);
          state.read_shards = std::move(now_read);
        }
        std::size_t taken = state.held.size();
        for (auto& row : rows)
          take(self, std::move(row));
        taken = state.held.size() - taken;
        if (first || taken > 0)
          MD_LOG_INFO("webhook.outbox_read", log::kv("pending", rows.size()),
                      log::kv("taken", taken), log::kv("held", state.held.size()));
        // Queues that waited for this read go now.
        std::vector<std::string> keys;
        keys.reserve(state.queues.size());
        for (auto& [key, q] : state.queues)
          if (!q.busy)
            keys.push_back(key);
        for (auto& key : keys)
          start(self, key);
        update_gauge(self);
      },
      [self](caf::error& err) {
        self->state.reading = false;
        MD_LOG_WARN("webhook.outbox_read_failed", log::kv("error", caf::to_string(err)),
                    log::kv("hint", "read again at the next round; check the store"));
      });
}

} // namespace

webhook_actor::behavior_type
webhook_actor_impl(webhook_actor::stateful_pointer<webhook_actor_state> self,
                   webhooks::settings cfg, store_actor store, std::shared_ptr<shard_map> shards) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = std::move(store);
  st.shards = std::move(shards);
  http_pool::options pool_options;
  pool_options.max_host_connections = static_cast<long>(st.cfg.max_in_flight);
  pool_options.max_cached_connections = static_cast<long>(st.cfg.max_in_flight);
  pool_options.max_body_bytes = webhooks::max_answer_bytes;
  st.pool = std::make_unique<http_pool>(pool_options);
  MD_LOG_INFO("webhook.started", log::kv("urls", st.cfg.urls.size()),
              log::kv("max_age_s", std::chrono::duration_cast<std::chrono::seconds>(
                                     st.cfg.max_age).count()));
  read_outbox(self);
  return {
    [self](webhook_atom, std::vector<webhook_record>& rows) {
      if (self->state.overflowed)
        return; // in the outbox; read when there is room
      for (auto& row : rows)
        take(self, std::move(row));
      update_gauge(self);
    },
    [self](outbox_atom) { read_outbox(self); },
    [self](http_done_atom, std::uint64_t id, http_result& res) { on_done(self, id, res); },
    [self](retry_atom, const std::string& key) { on_retry(self, key); },
  };
}

} // namespace meetingd
