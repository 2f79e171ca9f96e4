// The rules of logging in, as plain C++ (no CAF, no I/O): the throttle on
// failed logins, what a login ticket may do, and when a stored password hash
// is due for more iterations. The directory (actors/directory_core.*) keeps
// the books; actors/directory_login.cpp performs the flows around them.
// docs/security.md, "Logins", explains the choices to operators.
#pragma once

#include "actors/core/auth.hpp"
#include "actors/core/directory_state.hpp"
#include "actors/core/refusals.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace meetingd {

struct login_throttle_settings {
  /// Failures before any wait.
  int free_failures = 5;
  /// The wait after the first failure past the free ones, doubled per failure.
  std::chrono::milliseconds first_delay{std::chrono::seconds(1)};
  std::chrono::milliseconds max_delay{std::chrono::minutes(5)};
  /// Failures older than this no longer count: the throttle decays.
  std::chrono::milliseconds forget_after{std::chrono::minutes(15)};
  /// Most keys tracked at once: a stranger with endless fresh keys (client
  /// ids, made-up user names) cannot grow the node's memory without bound.
  std::size_t max_keys = 100'000;
};

/// Failed logins counted per key (an account, or a client id): after
/// `free_failures`, each further failure doubles the wait before the next
/// attempt; a success forgets the key, and so does a quiet `forget_after`.
class login_throttle {
public:
  explicit login_throttle(login_throttle_settings s = {});

  /// How long `key` must wait before its next attempt, if at all.
  std::optional<std::chrono::milliseconds> wait(const std::string& key, unix_ms now) const;
  /// Counts a failure; returns the key's record as it now stands.
  login_failures_record failed(const std::string& key, unix_ms now);
  /// Forgets the key; true if it had failures.
  bool succeeded(const std::string& key);
  /// A record kept from before a restart.
  void restore(const login_failures_record& r);
  /// Forgets the keys whose last failure is older than `forget_after`, and
  /// returns them.
  std::vector<std::string> prune(unix_ms now);
  std::size_t size() const {
    return entries_.size();
  }

private:
  struct entry {
    int failures = 0;
    unix_ms last = 0;
  };
  bool expired(const entry& e, unix_ms now) const;
  /// Makes room for one more key: drops expired ones, else the oldest.
  void make_room(unix_ms now);

  login_throttle_settings settings_;
  std::unordered_map<std::string, entry> entries_;
};

/// What a ticket login may do (docs/security.md, "Login tickets").
struct ticket_verdict {
  enum outcome { log_in, create_and_log_in, refuse };
  outcome what = refuse;
  /// For refuse: why, and the message for this case.
  refusal why = refusal::bad_credentials;
  std::string message;
  /// For refuse: true when the ticket itself was not genuine (counts as a
  /// failed login); an expired or over-long genuine ticket is not a guess.
  bool counts_as_failure = false;
};

/// The facts a ticket is judged against.
struct ticket_facts {
  std::string requested_user; // auth.login's `user`
  bool user_exists = false;
  /// When the user was removed, if that is recent enough to matter.
  std::optional<unix_ms> removed_at;
  /// --ticket-max-age: the longest a ticket may live.
  std::chrono::milliseconds max_age{std::chrono::hours(24)};
  unix_ms now = 0;
};

/// How far the clocks of the account service and the node may disagree.
inline constexpr std::chrono::seconds ticket_clock_skew{60};

/// Judges a checked ticket. A ticket lives at most `max_age`, so one whose
/// expiry is more than `max_age` away is refused (its issuer ignores the
/// limit), and one expiring before `removed_at + max_age` may have been
/// issued before the user was removed, so it does not bring the user back.
/// Both allow for `ticket_clock_skew`: the first in the ticket's favour, the
/// second against it.
ticket_verdict judge_ticket(const auth::ticket_check& check, const ticket_facts& facts);

/// True if `stored` was hashed with fewer iterations than `iterations`: the
/// next successful login re-hashes the password (OWASP's advice grows).
bool needs_rehash(const std::string& stored, int iterations);

} // namespace meetingd
