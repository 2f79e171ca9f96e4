// The directory's meeting actors: which meetings have one, which are dormant
// (their state only, see dormant_meetings.hpp), and the moves between the
// two. A command, a presence change or a deadline wakes a dormant meeting; a
// meeting without commands for --passivate-after hands its state back and
// stops. Part of the directory actor (directory_actor.cpp), which routes
// through `with_actor` and never touches the actors' map itself.
#pragma once

#include "actors/directory_actor.hpp"

#include <string>
#include <utility>
#include <vector>

namespace meetingd::directory_meetings {

using self_ptr = directory_actor::stateful_pointer<directory_actor_state>;

/// At the directory's start: the recovered live meetings. Those with work to
/// do now get an actor (counted by the recovery tracker), the others sleep.
void restore(self_ptr self, std::vector<meeting> live);

/// One meeting with its state (a shard adopted): sleeps or gets its actor.
void restore_one(self_ptr self, meeting m);

/// Asks meeting `id`'s actor for its state (a hand-over), unless asked already.
void passivate(self_ptr self, const std::string& id);

/// Stops the actors of the meetings `pred` accepts at once (their shard is
/// another node's now): no reply, event or timer of theirs goes out. What
/// waited for them is dropped. Returns their ids.
std::vector<std::string> kill_if(self_ptr self,
                                 const std::function<bool(const std::string&)>& pred);

/// The actor of a meeting being created (its first message: meeting.create).
meeting_actor spawn_new(self_ptr self, const std::string& id);

/// The slot of meeting `id`, its actor spawned if it was dormant; null if it
/// has none (unknown, refused at creation, or finished).
meeting_slot* find_or_wake(self_ptr self, const std::string& id);

/// Holds `again` until the passivation of meeting `id` is settled.
void hold(self_ptr self, const std::string& id, std::function<void()> again);

/// Calls `send` with meeting `id`'s actor (woken if dormant), or with null if
/// it has none. While the meeting is handing over its state, `send` waits and
/// is routed afresh once that is settled, in arrival order.
template <class Send>
void with_actor(self_ptr self, const std::string& id, Send send) {
  auto* slot = find_or_wake(self, id);
  if (!slot) {
    send(nullptr);
  } else if (slot->passivating) {
    hold(self, id, [self, id, send]() mutable { with_actor(self, id, std::move(send)); });
  } else {
    slot->last_command = wall_now(self, *self->state.env);
    send(&slot->actor);
  }
}

/// wake_atom: the dormant meetings whose deadline has come get their actor.
void on_wake(self_ptr self, unix_ms due);

/// tick_atom from a meeting's arm_timer: on to the meeting's actor, if it has one.
void on_tick(self_ptr self, const std::string& id, unix_ms due);

/// sweep_atom: meetings quiet for --passivate-after are asked for their state.
void on_sweep(self_ptr self);

/// finished_atom from a meeting actor (see meeting_actor.cpp, quit_when_done).
void on_finished(self_ptr self, const std::string& id);

/// A meeting actor went down without finishing (crashed, or refused at
/// creation before reporting): forget it.
void on_down(self_ptr self, const caf::down_msg& msg);

/// The directory stops: so do its meetings.
void stop_all(self_ptr self, const caf::error& reason);

} // namespace meetingd::directory_meetings
