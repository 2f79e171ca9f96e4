// Whether the node's database takes writes just now: the store actor sets
// it, the LMQ gateway reads it for every command and refuses those that
// would change state with 503 store_unavailable while it is down, instead
// of letting them pile up behind a commit that cannot happen
// (docs/database.md, "When the database is away").
//
// A shared flag, not a message: the gateway reads it on every command, and
// a notice in its mailbox would arrive behind the very commands it is about.
#pragma once

#include <atomic>
#include <cstdint>

namespace meetingd {

struct store_health {
  std::atomic<bool> available{true};
  /// When the store actor tries again: what a refused device is told.
  std::atomic<std::int64_t> retry_after_ms{1000};
};

} // namespace meetingd
