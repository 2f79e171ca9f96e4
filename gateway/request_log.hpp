// Idempotency at the edge (PROTOCOL.md §4): the replies of the last window
// by (client, request id), so a repeated message gets the same reply and is
// not executed again. A duplicate that arrives while the first is still in
// flight waits for it. The durable copy is the store's request_log table
// (written in the same transaction as the change); this is the in-memory
// index in front of it, reloaded from the store at start.
#pragma once

#include "gateway/protocol.hpp"

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace meetingd {

class request_log {
public:
  enum class verdict { fresh, in_flight, answered };

  struct lookup {
    verdict v = verdict::fresh;
    const std::string* reply = nullptr; // for `answered`
  };

  /// Looks up (client, id); a fresh one is marked in flight, a duplicate of
  /// one in flight is counted as waiting.
  lookup check(const std::string& client, const std::string& id);

  /// Records the reply of a request in flight. `replayable` false forgets the
  /// request (so a retry runs again). Returns how many duplicates waited.
  int complete(const std::string& client, const std::string& id,
               const std::string& reply, bool replayable, unix_ms now);

  /// Loads a reply recorded before a restart.
  void restore(const std::string& client, const std::string& id,
               std::string reply, unix_ms at);

  /// Forgets replies recorded before `before`.
  std::size_t prune(unix_ms before);

  std::size_t size() const {
    return entries_.size();
  }

private:
  struct entry {
    bool done = false;
    int waiting = 0;
    std::string reply;
    unix_ms at = 0;
  };
  static std::string key(const std::string& client, const std::string& id);
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<unix_ms, std::string>> order_; // completion order, for pruning
};

} // namespace meetingd
