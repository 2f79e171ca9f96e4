// The rules of logging in (see login_rules.hpp).
#include "actors/core/login_rules.hpp"

#include <algorithm>

namespace meetingd {

// -- the throttle ------------------------------------------------------------------------

login_throttle::login_throttle(login_throttle_settings s) : settings_(s) {
}

bool login_throttle::expired(const entry& e, unix_ms now) const {
  return now - e.last > settings_.forget_after.count();
}

std::optional<std::chrono::milliseconds>
login_throttle::wait(const std::string& key, unix_ms now) const {
  auto i = entries_.find(key);
  if (i == entries_.end() || i->second.failures < settings_.free_failures
      || expired(i->second, now))
    return std::nullopt;
  // Capped before shifting: 2^20 s is far past any max_delay.
  auto excess = std::min(i->second.failures - settings_.free_failures, 20);
  auto delay = std::min<std::int64_t>(settings_.first_delay.count() << excess,
                                      settings_.max_delay.count());
  auto ready = i->second.last + delay;
  if (now >= ready)
    return std::nullopt;
  return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(ready - now)};
}

login_failures_record login_throttle::failed(const std::string& key, unix_ms now) {
  auto i = entries_.find(key);
  if (i == entries_.end()) {
    make_room(now);
    i = entries_.emplace(key, entry{}).first;
  }
  auto& e = i->second;
  if (expired(e, now))
    e.failures = 0;
  ++e.failures;
  e.last = now;
  return {key, e.failures, e.last};
}

bool login_throttle::succeeded(const std::string& key) {
  return entries_.erase(key) > 0;
}

void login_throttle::restore(const login_failures_record& r) {
  if (entries_.size() >= settings_.max_keys)
    return;
  entries_[r.account] = entry{r.failures, r.last_failed_at};
}

std::vector<std::string> login_throttle::prune(unix_ms now) {
  std::vector<std::string> forgotten;
  for (auto i = entries_.begin(); i != entries_.end();) {
    if (expired(i->second, now)) {
      forgotten.push_back(i->first);
      i = entries_.erase(i);
    } else {
      ++i;
    }
  }
  return forgotten;
}

void login_throttle::make_room(unix_ms now) {
  if (entries_.size() < settings_.max_keys)
    return;
  prune(now);
  if (entries_.size() < settings_.max_keys)
    return;
  // Full of recent failures (an attack from many keys): the oldest goes.
  auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
    return a.second.last < b.second.last;
  });
  entries_.erase(oldest);
}

// -- tickets ---------------------------------------------------------------------------------

ticket_verdict judge_ticket(const auth::ticket_check& check, const ticket_facts& facts) {
  ticket_verdict v;
  auto refuse = [&](refusal why, std::string message, bool failure) {
    v.what = ticket_verdict::refuse;
    v.why = why;
    v.message = std::move(message);
    v.counts_as_failure = failure;
    return v;
  };
  bool genuine = check.status == auth::ticket_status::ok
                 || check.status == auth::ticket_status::expired;
  if (!genuine || check.user != facts.requested_user)
    return refuse(refusal::bad_credentials, "the login ticket is not valid", true);
  if (check.status == auth::ticket_status::expired)
    return refuse(refusal::ticket_expired, entry_of(refusal::ticket_expired).message, false);
  auto now_s = facts.now / 1000;
  auto max_age_s = static_cast<std::int64_t>(facts.max_age.count() / 1000);
  auto skew_s = static_cast<std::int64_t>(ticket_clock_skew.count());
  if (check.expiry - now_s > max_age_s + skew_s)
    return refuse(refusal::bad_credentials,
                  "the login ticket lives longer than the node accepts (--ticket-max-age); "
                  "issue tickets that expire sooner",
                  false);
  // The ticket was issued no earlier than expiry - max_age (give or take the
  // skew): if that is before the removal, it may predate it.
  if (facts.removed_at && (check.expiry - max_age_s - skew_s) * 1000 <= *facts.removed_at)
    return refuse(refusal::user_removed, entry_of(refusal::user_removed).message, false);
  v.what = facts.user_exists ? ticket_verdict::log_in : ticket_verdict::create_and_log_in;
  return v;
}

bool needs_rehash(const std::string& stored, int iterations) {
  auto had = auth::hash_iterations(stored);
  return had && *had < iterations;
}

} // namespace meetingd
