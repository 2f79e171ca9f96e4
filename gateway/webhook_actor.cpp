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

/// Drops queue `key` if its meeting's shard went to another node (true).
bool moved_away(self_ptr self, const std::string& key, const std::string& meeting) {
  auto& st = self->state;
  if (!st.shards || st.shards->holds(st.shards->shard_of(meeting)))
    return false;
  drop_queue(self, key);
  return true;
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
  if (moved_away(self, key, meeting))
    return;
  if (!may_deliver(self, meeting))
    return; // started when the outbox read for its shard is in
  auto& ep = st.endpoints[q.events.begin()->second.endpoint];
  if (ep.paused) {
    // A probe that went away (its shard moved, its events settled) leaves
    // the place to this queue.
    auto probe = st.queues.find(ep.probe);
    bool probing = probe != st.queues.end() && probe->second.busy;
    if (probing && ep.probe != key) {
      if (!q.parked) {
        q.parked = true;
        ep.parked.push_back(key);
      }
      return; // goes when the probe gets through
    }
    ep.probe = key;
  }
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
    if (!moved_away(self, key, it->second.events.begin()->second.meeting))
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

/// Counts a failed attempt against its URL and logs it: the first failure
/// after a success, then a line a minute with the number since the last, so
/// a receiver that is down for a day costs a few lines, not one per event.
void note_failure(self_ptr self, const std::string& key, const webhook_record& row,
                  const std::string& error) {
  auto& ep = self->state.endpoints[row.endpoint];
  ++ep.failures;
  ++ep.unlogged;
  auto now = std::chrono::steady_clock::now();
  if (ep.failures == 1 || now - ep.logged_at >= std::chrono::minutes(1)) {
    MD_LOG_WARN("webhook.attempt_failed", log::kv("url", row.endpoint),
                log::kv("meeting", row.meeting), log::kv("event", row.id),
                log::kv("type", row.type), log::kv("error", error),
                log::kv("failed_attempts", ep.unlogged), log::kv("in_a_row", ep.failures),
                log::kv("hint", "retried until --webhook-max-age; check that the receiver runs "
                                "and answers 2xx within --webhook-timeout"));
    ep.unlogged = 0;
    ep.logged_at = now;
  }
  if (ep.failures >= webhook_actor_state::pause_after && !ep.paused) {
    ep.paused = true;
    ep.probe = key;
  }
}

/// The URL took an event: every queue parked behind its probe goes again.
void note_success(self_ptr self, const webhook_record& row) {
  auto& st = self->state;
  auto& ep = st.endpoints[row.endpoint];
  if (ep.failures > 0)
    MD_LOG_INFO("webhook.receiver_recovered", log::kv("url", row.endpoint),
                log::kv("failed_in_a_row", ep.failures));
  ep.failures = 0;
  ep.paused = false;
  ep.probe.clear();
  auto parked = std::move(ep.parked);
  ep.parked.clear();
  for (auto& key : parked) {
    auto it = st.queues.find(key);
    if (it == st.queues.end())
      continue;
    it->second.parked = false;
    start(self, key);
  }
}

/// Gives up the first event of queue `key`: logged, counted, settled.
void give_up_first(self_ptr self, const std::string& key, queue& q, std::string error) {
  auto& row = q.events.begin()->second;
  metrics::node().webhooks_given_up.add();
  MD_LOG_ERROR("webhook.given_up", log::kv("meeting", row.meeting), log::kv("event", row.id),
               log::kv("type", row.type), log::kv("url", row.endpoint),
               log::kv("attempts", q.failures), log::kv("error", error),
               log::kv("hint", "the event is kept in the webhook_failures view; the "
                               "receiver must get it from there"));
  settle_first(self, key, q, webhook_status::given_up, std::move(error));
}

/// The probe of a paused URL is done with (its event settled): the next
/// parked queue probes; parked queues whose first event is past the max
/// age give it up without an attempt.
void after_probe(self_ptr self, const std::string& url, const std::string& error) {
  auto& st = self->state;
  auto& ep = st.endpoints[url];
  if (!ep.paused)
    return;
  auto now = now_ms();
  auto parked = std::move(ep.parked);
  ep.parked.clear();
  for (auto& key : parked) {
    auto it = st.queues.find(key);
    while (it != st.queues.end() && !it->second.events.empty()
           && webhooks::expired(it->second.events.begin()->second, now, st.cfg)) {
      give_up_first(self, key, it->second, error);
      it = st.queues.find(key);
    }
    if (it == st.queues.end())
      continue;
    it->second.parked = false;
    start(self, key); // the first becomes the probe, the rest park again
  }
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
    auto delivered = row;
    settle_first(self, key, q, webhook_status::delivered, {});
    note_success(self, delivered);
    return;
  }
  m.webhook_failures.add();
  ++q.failures;
  auto error = webhooks::failure_of(res);
  note_failure(self, key, row, error);
  auto now = now_ms();
  if (webhooks::expired(row, now, st.cfg)) {
    auto url = row.endpoint;
    auto& ep = st.endpoints[url];
    if (ep.probe == key)
      ep.probe.clear();
    give_up_first(self, key, q, error);
    after_probe(self, url, error);
    return;
  }
  auto wait = webhooks::retry_wait(st.cfg, q.failures, st.rng);
  // One last attempt when the window closes, not a wait past it.
  auto left = std::chrono::milliseconds{row.at + st.cfg.max_age.count() - now};
  wait = std::max(std::chrono::milliseconds{0}, std::min(wait, left));
  row.last_error = std::move(error);
  self->delayed_send(self, wait, retry_atom::value, key);
}

/// The wait of queue `key` is over: it starts again as any queue does (its
/// shard may have moved, its URL may be probed by another meeting now).
void on_retry(self_ptr self, const std::string& key) {
  auto it = self->state.queues.find(key);
  if (it == self->state.queues.end())
    return;
  it->second.busy = false;
  start(self, key);
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
