// How the directory actor answers, shared by its files (directory_actor.cpp,
// directory_login.cpp): a reply that reports a change is committed with it
// (reply_commit.hpp); a reply to a client that is nobody yet (not logged in,
// bad credentials) is sent as it is and never stored, so strangers cannot
// grow the database or force a sync per message.
#pragma once

#include "actors/directory_actor.hpp"
#include "actors/reply_commit.hpp"

namespace meetingd::directory_replies {

using self_ptr = directory_actor::stateful_pointer<directory_actor_state>;
using reply_promise = caf::typed_response_promise<final_reply>;

inline unix_ms now_of(self_ptr self) {
  return wall_now(self, *self->state.env);
}

inline reply_route route_of(const inbound_request& in, std::string user = {}) {
  return reply_route{in.client, in.req.id, std::move(user), in.req.cmd.meeting,
                     !proto::changes_state(in.req.cmd.kind)};
}

inline proto::reply ok(proto::reply_data data = {}) {
  proto::reply r;
  r.data = std::move(data);
  return r;
}

/// Commits `changes` with the reply and delivers it.
inline void reply_with(self_ptr self, const reply_route& route, reply_promise rp,
                       proto::reply reply, changeset changes = {}) {
  commit_reply(self, self->state.links.store, route, std::move(reply), std::move(changes),
               now_of(self), std::move(rp), [] {}, [] {});
}

/// Answers a client that is nobody yet: at once, unstored, not replayed (a
/// duplicate is answered afresh, as the client is then).
inline void reply_to_stranger(reply_promise& rp, const reply_route& route,
                              proto::reply reply) {
  auto final = make_final_reply(route, std::move(reply));
  final.replayable = false;
  rp.deliver(std::move(final));
}

/// Tells the meetings of `user` that its devices went offline or came back.
void notify_meetings(self_ptr self, const std::string& user, bool online);

} // namespace meetingd::directory_replies
