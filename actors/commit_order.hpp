// The order of an actor's replies and its reads: a read (a command that
// changes nothing) is answered once every reply its actor committed before
// it has been committed, and not before, so that it shows only state whose
// reply may already be out. It waits for nothing else: not for commits of
// other actors, nor for this actor's bookkeeping without a reply (presence,
// pruning, timers, which the actor applies before they are durable anyway).
// So a read is answered while the database is away unless a command of its
// own meeting is waiting there. Used by reply_commit.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace meetingd {

/// Kept by every actor that answers with commit_reply, as `state.commits`.
struct commit_order {
  /// Replies sent to the store so far, and how many of those it answered.
  std::uint64_t asked = 0;
  std::uint64_t answered = 0;
  /// Reads waiting, each for the number of replies asked before it.
  std::vector<std::pair<std::uint64_t, std::function<void()>>> waiting;

  /// A ticket for the next reply's commit.
  std::uint64_t ask() {
    return ++asked;
  }

  /// Runs `fn` now if every reply asked so far is answered, else once it is.
  void after_replies_so_far(std::function<void()> fn) {
    if (answered >= asked) {
      fn();
      return;
    }
    waiting.emplace_back(asked, std::move(fn));
  }

  /// The store answered `ticket` (committed, or failed for good): runs the
  /// reads that waited for it. The store answers in the order it was asked,
  /// so the waiting list is in order too.
  void done(std::uint64_t ticket) {
    answered = std::max(answered, ticket);
    std::size_t ready = 0;
    while (ready < waiting.size() && waiting[ready].first <= answered)
      ++ready;
    if (ready == 0)
      return;
    std::vector<std::function<void()>> run;
    run.reserve(ready);
    for (std::size_t i = 0; i < ready; ++i)
      run.push_back(std::move(waiting[i].second));
    waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(ready));
    for (auto& fn : run)
      fn();
  }
};

} // namespace meetingd
