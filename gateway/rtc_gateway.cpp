// The RTC gateway actor: see rtc_gateway.hpp.
#include "gateway/rtc_gateway.hpp"

#include "config/log.hpp"
#include "config/metrics.hpp"

#include <caf/all.hpp>

#include <utility>

namespace meetingd {

namespace {

using self_ptr = rtc_actor::stateful_pointer<rtc_gateway_state>;
using steady = std::chrono::steady_clock;

std::int64_t unix_seconds_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t ms_since(steady::time_point start) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady::now() - start).count();
}

/// The outcome label of meetingd_rtc_calls_total (docs/monitoring.md).
const char* outcome_of(const rtc::answer& a) {
  if (!a.error)
    return "ok";
  if (a.error->code == rtc::codes::circuit_open)
    return "circuit_open";
  return a.error->kind == rtc::failure_kind::refused ? "refused" : "unavailable";
}

/// Logs a finished call and counts it in the metrics.
void log_call(rtc::action act, const std::string& channel, const rtc::answer& a, int status,
              std::int64_t ms) {
  auto& m = metrics::node();
  auto action = rtc::to_string(act);
  m.rtc_calls.with({action, outcome_of(a)}).add();
  m.rtc_seconds.with({action}).observe(static_cast<double>(ms) / 1000);
  MD_LOG_INFO("rtc.call", log::kv("action", rtc::to_string(act)), log::kv("channel", channel),
              log::kv("attempts", a.attempts), log::kv("status", status),
              log::kv("code", a.error ? a.error->code : std::string{}),
              log::kv("request_id", a.request_id), log::kv("ms", ms));
}

/// Sends (again) the HTTP request of call `id`, with a fresh nonce and
/// timestamp, so a retry is a new signed request.
void send_attempt(self_ptr self, std::uint64_t id) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end())
    return;
  auto& c = it->second;
  ++c.attempts;
  http_request req;
  req.method = "GET";
  req.url = rtc::request_url(st.cfg, c.act, c.params, unix_seconds_now());
  req.timeout = st.cfg.timeout;
  // The callback runs on the pool's thread: it only hands the result in.
  // A weak reference, so pending transfers do not keep the actor alive.
  caf::weak_actor_ptr weak{self->ctrl()};
  st.pool->submit(std::move(req), [weak, id](http_result res) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<rtc_actor>(std::move(strong)), http_done_atom::value, id,
                     std::move(res));
  });
}

void record_outcome(self_ptr self, bool unavailable) {
  auto& st = self->state;
  auto before = st.breaker.current();
  st.breaker.record(unavailable, steady::now());
  auto after = st.breaker.current();
  if (before == after)
    return;
  metrics::node().rtc_circuit_open.set(after == rtc::circuit_breaker::state::open ? 1 : 0);
  if (after == rtc::circuit_breaker::state::open)
    MD_LOG_WARN("rtc.circuit", log::kv("state", "open"),
                log::kv("failures", st.breaker.consecutive_failures()),
                log::kv("cooldown_ms", static_cast<std::int64_t>(st.cfg.circuit_cooldown.count())));
  else if (after == rtc::circuit_breaker::state::closed)
    MD_LOG_INFO("rtc.circuit", log::kv("state", "closed"));
}

/// Call `id` has its final answer: count, log, and answer its request once
/// all of the request's calls are done.
void finish(self_ptr self, std::uint64_t id, rtc::answer a) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end())
    return;
  auto c = std::move(it->second);
  st.calls.erase(it);
  a.attempts = c.attempts;
  record_outcome(self, a.error && a.error->kind == rtc::failure_kind::unavailable);
  ++st.counters.calls;
  if (a.error)
    ++st.counters.failures;
  --st.counters.in_flight;
  log_call(c.act, c.channel, a, c.last_status, ms_since(c.started));
  auto rq = st.requests.find(c.request);
  if (rq == st.requests.end())
    return;
  auto& r = rq->second;
  r.parts[c.part] = std::move(a);
  if (--r.open > 0)
    return;
  auto promise = std::move(r.promise);
  auto parts = std::move(r.parts);
  st.requests.erase(rq);
  if (parts.size() == 1)
    promise.deliver(std::move(parts.front()));
  else
    promise.deliver(rtc::merge_answers(std::move(parts)));
}

/// Starts a request: one call, or one per chunk of ≤ 30 terminal ids.
caf::typed_response_promise<rtc::answer> start(self_ptr self, rtc::action act,
                                               std::string channel,
                                               std::vector<std::string> terminal_ids = {}) {
  auto& st = self->state;
  auto promise = self->make_response_promise<rtc::answer>();
  auto now = steady::now();
  if (!st.breaker.allow(now)) {
    rtc::answer a;
    a.error = st.breaker.open_failure(now);
    ++st.counters.calls;
    ++st.counters.failures;
    log_call(act, channel, a, 0, 0);
    promise.deliver(std::move(a));
    return promise;
  }
  auto chunks = act == rtc::action::remove_terminals
                  ? rtc::split_terminals(terminal_ids)
                  : std::vector<std::vector<std::string>>(1);
  auto request_id = st.next_id++;
  auto& r = st.requests[request_id];
  r.promise = promise;
  r.parts.resize(chunks.size());
  r.open = chunks.size();
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    auto id = st.next_id++;
    auto& c = st.calls[id];
    c.act = act;
    c.channel = channel;
    c.params = rtc::action_params(act, st.cfg.app_id, channel, chunks[i]);
    c.started = now;
    c.request = request_id;
    c.part = i;
    ++st.counters.in_flight;
    ids.push_back(id);
  }
  for (auto id : ids)
    send_attempt(self, id);
  return promise;
}

} // namespace

rtc_gateway_state::~rtc_gateway_state() {
  pool.reset(); // no more callbacks after this
  for (auto& [id, r] : requests) {
    rtc::answer a;
    rtc::failure f;
    f.kind = rtc::failure_kind::unavailable;
    f.code = "ShuttingDown";
    f.message = "the RTC gateway stopped before the call finished";
    a.error = std::move(f);
    r.promise.deliver(std::move(a));
  }
}

rtc_actor::behavior_type rtc_gateway(self_ptr self, rtc::settings cfg) {
  auto& st = self->state;
  st.breaker = rtc::circuit_breaker{cfg.circuit_threshold, cfg.circuit_cooldown};
  st.cfg = std::move(cfg);
  st.pool = std::make_unique<http_pool>();
  return {
    [=](create_channel_atom, const std::string& channel) {
      return start(self, rtc::action::create_channel, channel);
    },
    [=](delete_channel_atom, const std::string& channel) {
      return start(self, rtc::action::delete_channel, channel);
    },
    [=](remove_terminals_atom, const std::string& channel,
        const std::vector<std::string>& ids) {
      return start(self, rtc::action::remove_terminals, channel, ids);
    },
    [=](describe_users_atom, const std::string& channel) {
      return start(self, rtc::action::describe_channel_users, channel);
    },
    [=](stats_atom) {
      auto s = self->state.counters;
      s.circuit_open = self->state.breaker.is_open();
      return s;
    },
    [=](http_done_atom, std::uint64_t id, const http_result& res) {
      auto& state = self->state;
      auto it = state.calls.find(id);
      if (it == state.calls.end())
        return;
      auto& c = it->second;
      c.last_status = res.status;
      auto a = rtc::parse_answer(c.act, res.status, res.body, res.transport_error);
      if (a.error && rtc::retryable(*a.error) && c.attempts <= state.cfg.retries) {
        ++state.counters.retries;
        metrics::node().rtc_retries.add();
        auto delay = rtc::backoff_delay(state.cfg, c.attempts, state.rng);
        MD_LOG_DEBUG("rtc.retry", log::kv("action", rtc::to_string(c.act)),
                     log::kv("channel", c.channel), log::kv("attempt", c.attempts),
                     log::kv("status", res.status), log::kv("code", a.error->code),
                     log::kv("delay_ms", static_cast<std::int64_t>(delay.count())));
        self->delayed_send(self, delay, retry_atom::value, id);
        return;
      }
      finish(self, id, std::move(a));
    },
    [=](retry_atom, std::uint64_t id) { send_attempt(self, id); },
  };
}

} // namespace meetingd
