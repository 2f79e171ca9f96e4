// Meetings without an actor. A restarting node used to spawn one actor per
// live meeting at once: at 100k meetings that was most of the recovery time
// (each actor's first run faults in its memory) and ~1.5 KiB each, for
// meetings that may see no command for hours; a meeting quiet for
// --passivate-after gives its actor up too. A dormant meeting is only its
// state; the directory wakes it (spawns its actor with that state) on the
// first command or presence change for it, or when its earliest deadline
// comes. Plain C++, no CAF: the directory actor holds one.
#pragma once

#include "actors/core/meeting_state.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace meetingd {

class dormant_meetings {
public:
  /// Takes the meetings recovered at start as one block: they stay where the
  /// store loaded them, indexed by id and wake time, with no allocation per
  /// meeting. Returns those that cannot sleep (see dormant_until).
  std::vector<meeting> adopt(std::vector<meeting> recovered, unix_ms now);

  /// Keeps `m` until it is taken or `wake_at` comes.
  void add(meeting m, unix_ms wake_at);

  /// Removes and returns meeting `id`, if it is dormant.
  std::optional<meeting> take(const std::string& id);

  /// Removes and returns every meeting whose wake time is at or before `now`,
  /// earliest first.
  std::vector<meeting> take_due(unix_ms now);

  /// The earliest wake time, if any meeting is dormant.
  std::optional<unix_ms> next_wake() const;

  bool contains(const std::string& id) const;

  /// Removes and returns every dormant meeting whose id `pred` accepts (the
  /// meetings of shards that move to another node).
  std::vector<meeting> take_if(const std::function<bool(const std::string&)>& pred);
  std::size_t size() const {
    return meetings_.size() + adopted_left_;
  }

private:
  struct entry {
    meeting m;
    unix_ms wake_at;
  };
  /// The recovered block: `adopted_` in load order, `adopted_by_id_` indexes
  /// sorted by id, `adopted_by_wake_` (wake time, index) sorted latest first
  /// so the earliest is at the back. Taken slots are marked, not erased.
  std::vector<meeting> adopted_;
  std::vector<std::uint32_t> adopted_by_id_;
  std::vector<std::pair<unix_ms, std::uint32_t>> adopted_by_wake_;
  std::vector<bool> adopted_taken_;
  std::size_t adopted_left_ = 0;
  /// Meetings put to sleep later, one by one.
  std::unordered_map<std::string, entry> meetings_;
  std::set<std::pair<unix_ms, std::string>> by_wake_;

  std::optional<std::uint32_t> find_adopted(const std::string& id) const;
  meeting take_adopted(std::uint32_t index);
  void drop_taken_wakes();
};

/// Whether a meeting can sleep, and until when: it is active and has a
/// deadline after `now`. An ended meeting still owes DeleteChannel and a
/// meeting with a deadline passed (while the node was down) has work at once.
std::optional<unix_ms> dormant_until(const meeting& m, unix_ms now);

} // namespace meetingd
