// Recovered meetings that need no actor yet. A restarting node used to spawn
// one actor per live meeting at once: at 100k meetings that was most of the
// recovery time (each actor's first run faults in its memory) and ~1.5 KiB
// each, for meetings that may see no command for hours. A dormant meeting is
// only its state; the directory wakes it (spawns its actor with that state)
// on the first command or presence change for it, or when its earliest
// deadline comes. Plain C++, no CAF: the directory actor holds one.
#pragma once

#include "actors/meeting_state.hpp"

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace meetingd {

class dormant_meetings {
public:
  /// Keeps `m` until it is taken or `wake_at` comes.
  void add(meeting m, unix_ms wake_at);

  /// Removes and returns meeting `id`, if it is dormant.
  std::optional<meeting> take(const std::string& id);

  /// Removes and returns every meeting whose wake time is at or before `now`,
  /// earliest first.
  std::vector<meeting> take_due(unix_ms now);

  /// The earliest wake time, if any meeting is dormant.
  std::optional<unix_ms> next_wake() const;

  bool contains(const std::string& id) const {
    return meetings_.count(id) != 0;
  }
  std::size_t size() const {
    return meetings_.size();
  }

private:
  struct entry {
    meeting m;
    unix_ms wake_at;
  };
  std::unordered_map<std::string, entry> meetings_;
  std::set<std::pair<unix_ms, std::string>> by_wake_;
};

/// Whether a recovered meeting can stay dormant: it is active and has a
/// deadline after `now`. An ended meeting still owes DeleteChannel and a
/// meeting with a deadline passed while the node was down has work at once.
std::optional<unix_ms> dormant_until(const meeting& m, unix_ms now);

} // namespace meetingd
