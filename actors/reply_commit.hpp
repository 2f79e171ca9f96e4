// The one way a command's reply leaves an actor: the reply is encoded, stored
// with the changes it reports in one changeset (the request record makes it
// replayable, PROTOCOL.md §4), and released only when the store has committed
// that changeset (§5). Shared by the directory and the meeting actors.
#pragma once

#include "actors/interfaces.hpp"
#include "config/log.hpp"
#include "gateway/codec.hpp"

#include <caf/typed_response_promise.hpp>

#include <string>
#include <utility>

namespace meetingd {

/// Where a reply goes and what its log line names.
struct reply_route {
  std::string client;
  std::string request_id;
  std::string user;
  std::string meeting;
};

/// 429, 500, 502 and 503 changed nothing and say "try again": a retry with
/// the same id must run again, not get the old answer, so they are neither
/// stored nor replayed.
inline bool is_replayable(int code) {
  return code != 429 && code != 500 && code != 502 && code != 503;
}

inline final_reply make_final_reply(const reply_route& route, proto::reply reply) {
  reply.id = route.request_id;
  final_reply out;
  out.code = reply.code;
  out.reason = reply.reason;
  out.wire = codec::encode_reply(reply);
  out.user = route.user;
  out.meeting = route.meeting;
  out.replayable = is_replayable(reply.code);
  return out;
}

/// Commits `changes` (if any) and then runs `after` in the actor. If the
/// store is gone, `after` never runs and the error is logged; a pending
/// response promise then breaks, which the gateway answers with 500.
template <class Self, class After>
void commit_then(Self* self, const store_actor& store, changeset changes,
                 After after) {
  if (changes.empty()) {
    after();
    return;
  }
  self->request(store, caf::infinite, commit_atom::value, std::move(changes))
    .then([after](std::uint64_t) mutable { after(); },
          [](caf::error& err) {
            MD_LOG_ERROR("store.commit_failed",
                         log::kv("error", caf::to_string(err)),
                         log::kv("hint", "the store actor is gone; the node is shutting down or broken"));
          });
}

/// Adds the request record for `reply` to `changes`, commits, then runs
/// `before` (what others must know before the caller can act on the reply:
/// the directory's view of the meeting), delivers the reply, and runs `after`
/// (events, follow-up work) in that order.
template <class Self, class Before, class After>
void commit_reply(Self* self, const store_actor& store, const reply_route& route,
                  proto::reply reply, changeset changes, unix_ms now,
                  caf::typed_response_promise<final_reply> rp, Before before, After after) {
  auto final = make_final_reply(route, std::move(reply));
  if (final.replayable)
    changes.add(change::put_request{
      request_record{route.client, route.request_id, final.wire, now}});
  commit_then(self, store, std::move(changes),
              [rp, final = std::move(final), before, after]() mutable {
                before();
                rp.deliver(std::move(final));
                after();
              });
}

} // namespace meetingd
