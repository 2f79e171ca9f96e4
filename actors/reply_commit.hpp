// The one way a command's reply leaves an actor: the reply is encoded, stored
// with the changes it reports in one changeset (the request record makes it
// replayable, docs/protocol.md §4), and released only when the store has committed
// that changeset (§5). A read's reply is not stored: it is released once the
// replies its actor committed before it are durable (commit_order.hpp).
// Shared by the directory and the meeting actors.
#pragma once

#include "actors/commit_order.hpp"
#include "actors/interfaces.hpp"
#include "gateway/final_reply.hpp"

#include <caf/typed_response_promise.hpp>

#include <string>
#include <utility>

namespace meetingd {

/// Adds the request record for `reply` to `changes`, commits, then runs
/// `before` (what others must know before the caller can act on the reply:
/// the directory's view of the meeting), delivers the reply, and runs `after`
/// (events, follow-up work) in that order. A read skips the commit.
template <class Self, class Before, class After>
void commit_reply(Self* self, const store_actor& store, const reply_route& route,
                  proto::reply reply, changeset changes, unix_ms now,
                  caf::typed_response_promise<final_reply> rp, Before before, After after) {
  auto final = make_final_reply(route, std::move(reply));
  if (final.replayable)
    changes.add(change::put_request{
      request_record{route.client, route.request_id, final.wire, now}});
  auto release = [rp, final = std::move(final), before, after]() mutable {
    before();
    rp.deliver(std::move(final));
    after();
  };
  auto& order = self->state.commits;
  if (route.reads_only) {
    order.after_replies_so_far(std::move(release));
    return;
  }
  auto ticket = order.ask();
  commit_then(
    self, store, std::move(changes),
    [self, ticket, release]() mutable {
      release();
      self->state.commits.done(ticket);
    },
    [self, ticket] { self->state.commits.done(ticket); });
}

} // namespace meetingd
