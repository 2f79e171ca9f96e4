// Idempotency at the edge (docs/protocol.md §4): which requests of the last
// window (by client and request id) are answered or still in flight, so a
// repeated message is not executed again. A duplicate that arrives while the
// first is in flight waits for it; one of an answered request gets the reply
// stored in the store's request_log table (written in the same transaction
// as the change). Only the keys live here: the replies (some 750 bytes each)
// would cost a busy node hundreds of MB over a 10-minute window.
//
// Even the keys add up: a busy node's window holds hundreds of thousands.
// Each is kept as 128 bits of SHA-256(client, id) rather than as the two
// strings, a third of the memory (bench/request_log_bench measures it;
// docs/benchmarks.md has the figures).
// Two requests would share a key with a chance of about n^2 / 2^129; even
// then an "answered" verdict cannot return another request's reply, since the
// reply is read back from the store by the real client and id.
#pragma once

#include "actors/core/protocol.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace meetingd {

class request_log {
public:
  enum class verdict { fresh, in_flight, answered };

  /// Looks up (client, id); a fresh one is marked in flight, a duplicate of
  /// one in flight is counted as waiting.
  verdict check(const std::string& client, const std::string& id);

  /// Records that a request in flight is answered (its reply is stored).
  /// `replayable` false forgets the request (so a retry runs again).
  /// Returns how many duplicates waited.
  int complete(const std::string& client, const std::string& id, bool replayable,
               unix_ms now);

  /// Forgets an answered request whose stored reply is gone (pruned), so
  /// that its next copy runs as a fresh request.
  void forget(const std::string& client, const std::string& id);

  /// Loads a request answered before a restart.
  void restore(const std::string& client, const std::string& id, unix_ms at);

  /// Forgets replies recorded before `before`.
  std::size_t prune(unix_ms before);

  std::size_t size() const {
    return entries_.size();
  }

private:
  struct key_type {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    bool operator==(const key_type& other) const {
      return high == other.high && low == other.low;
    }
  };
  struct key_hash {
    std::size_t operator()(const key_type& k) const noexcept {
      return static_cast<std::size_t>(k.low); // already a digest
    }
  };
  struct entry {
    bool done = false;
    int waiting = 0;
    unix_ms at = 0;
  };
  static key_type key(const std::string& client, const std::string& id);
  std::unordered_map<key_type, entry, key_hash> entries_;
  std::deque<std::pair<unix_ms, key_type>> order_; // completion order, for pruning
};

} // namespace meetingd
