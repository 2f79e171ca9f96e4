// The directory's meeting actors (see directory_meetings.hpp).
#include "actors/directory_meetings.hpp"

#include "config/log.hpp"

#include <algorithm>
#include <chrono>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace meetingd::directory_meetings {

namespace {

unix_ms now_of(self_ptr self) {
  return wall_now(self, *self->state.env);
}

meeting_actor spawn(self_ptr self, std::optional<meeting> state,
                    std::shared_ptr<recovery_tracker> recovery = nullptr) {
  auto& st = self->state;
  auto m = self->spawn(meeting_actor_impl, st.env,
                       meeting_links{st.links.store, st.links.rtc, self, std::move(recovery),
                                     st.links.webhooks},
                       std::move(state));
  self->monitor(m);
  return m;
}

meeting_slot& add_slot(self_ptr self, const std::string& id, meeting_actor actor) {
  auto& st = self->state;
  auto& slot = st.meetings[id];
  if (slot.actor)
    st.slot_actors.erase(slot.actor.id());
  st.slot_actors.insert(actor.id());
  slot = meeting_slot{std::move(actor), now_of(self), false};
  return slot;
}

/// Every removal from `meetings` goes through here, to keep `slot_actors`.
std::unordered_map<std::string, meeting_slot>::iterator
erase_slot(self_ptr self, std::unordered_map<std::string, meeting_slot>::iterator i) {
  self->state.slot_actors.erase(i->second.actor.id());
  return self->state.meetings.erase(i);
}

/// Gives a meeting with state (recovered or dormant) its actor.
meeting_slot& give_actor(self_ptr self, meeting m,
                         std::shared_ptr<recovery_tracker> recovery = nullptr) {
  auto id = m.id;
  return add_slot(self, id, spawn(self, std::move(m), std::move(recovery)));
}

/// Arms the wake-up for the earliest dormant deadline, unless one is armed
/// for it or earlier.
void arm_wake(self_ptr self) {
  auto& st = self->state;
  auto next = st.dormant.next_wake();
  if (!next || (st.wake_armed != 0 && st.wake_armed <= *next))
    return;
  st.wake_armed = *next;
  auto delay = std::max<unix_ms>(0, *next - now_of(self));
  self->delayed_send(self, std::chrono::milliseconds{delay}, wake_atom::value, *next);
}

/// Puts `m` to sleep until its earliest deadline, or gives it an actor at
/// once if that deadline has come already.
void sleep_or_wake(self_ptr self, meeting m) {
  auto& st = self->state;
  if (auto until = dormant_until(m, now_of(self))) {
    st.dormant.add(std::move(m), *until);
    arm_wake(self);
  } else {
    give_actor(self, std::move(m));
  }
}

void arm_sweep(self_ptr self) {
  auto after = self->state.env->passivate_after;
  if (after.count() <= 0)
    return;
  // Twice per period: a meeting sleeps between 1 and 1.5 periods after its
  // last command.
  auto every = std::max(after / 2, std::chrono::milliseconds{500});
  self->delayed_send(self, every, sweep_atom::value);
}

/// Memory freed by stopped actors stays resident until glibc is asked to
/// give back what lies in the middle of its heap; a node that put many
/// meetings to sleep should shrink. Once per sweep, when its last answer is in.
void return_memory(self_ptr self) {
  auto& st = self->state;
  if (st.passivated_since_trim < 256)
    return;
  st.passivated_since_trim = 0;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

/// The meeting answered `passivate` (or is gone): it sleeps or keeps its
/// actor, then what arrived for it meanwhile is routed afresh, in order.
void settle(self_ptr self, const std::string& id, std::optional<meeting> state) {
  auto& st = self->state;
  std::vector<std::function<void()>> waiting;
  if (auto h = st.held.find(id); h != st.held.end()) {
    waiting = std::move(h->second);
    st.held.erase(h);
  }
  auto slot = st.meetings.find(id);
  if (state) {
    if (slot != st.meetings.end()) {
      self->demonitor(slot->second.actor.address());
      erase_slot(self, slot);
    }
    ++st.passivated_since_trim;
    MD_LOG_DEBUG("meeting.passivated", log::kv("meeting", id));
    sleep_or_wake(self, std::move(*state));
  } else if (slot != st.meetings.end()) {
    // Busy (or ended): asked again after another quiet period.
    slot->second.passivating = false;
    slot->second.last_command = now_of(self);
  }
  for (auto& again : waiting)
    again();
  if (--st.asking == 0)
    return_memory(self);
}

/// A meeting whose actor is gone while its creation was still pending was
/// refused: its id is free again. True if so.
bool free_refused_id(self_ptr self, const std::string& id) {
  auto& book = self->state.book;
  auto entry = book.find_meeting(id);
  if (!entry || !entry->creating)
    return false;
  book.forget_meeting(id);
  return true;
}

void ask_to_passivate(self_ptr self, const std::string& id, meeting_slot& slot) {
  slot.passivating = true;
  ++self->state.asking;
  self->request(slot.actor, caf::infinite, passivate_atom::value)
    .then([self, id](passivation& p) { settle(self, id, std::move(p.state)); },
          [self, id](caf::error&) { settle(self, id, std::nullopt); });
}

} // namespace

void restore_one(self_ptr self, meeting m) {
  sleep_or_wake(self, std::move(m));
}

void passivate(self_ptr self, const std::string& id) {
  auto i = self->state.meetings.find(id);
  if (i != self->state.meetings.end() && !i->second.passivating)
    ask_to_passivate(self, id, i->second);
}

std::vector<std::string> kill_if(self_ptr self,
                                 const std::function<bool(const std::string&)>& pred) {
  auto& st = self->state;
  std::vector<std::string> killed;
  for (auto i = st.meetings.begin(); i != st.meetings.end();) {
    if (!pred(i->first)) {
      ++i;
      continue;
    }
    self->demonitor(i->second.actor.address());
    self->send_exit(i->second.actor, caf::exit_reason::kill);
    st.held.erase(i->first);
    killed.push_back(i->first);
    i = erase_slot(self, i);
  }
  return killed;
}

void restore(self_ptr self, std::vector<meeting> live) {
  auto& st = self->state;
  st.book.expect_meetings(live.size());
  for (auto& m : live)
    st.book.restore_meeting(m);
  auto wake_now = st.dormant.adopt(std::move(live), now_of(self));
  // Counted before any is spawned: one could finish its start before the
  // directory's own one_done otherwise.
  if (st.env->recovery)
    st.env->recovery->expect(wake_now.size());
  for (auto& m : wake_now)
    give_actor(self, std::move(m), st.env->recovery);
  arm_wake(self);
  arm_sweep(self);
}

meeting_actor spawn_new(self_ptr self, const std::string& id) {
  return add_slot(self, id, spawn(self, std::nullopt)).actor;
}

meeting_slot* find_or_wake(self_ptr self, const std::string& id) {
  auto& st = self->state;
  if (auto i = st.meetings.find(id); i != st.meetings.end())
    return &i->second;
  auto m = st.dormant.take(id);
  if (!m)
    return nullptr;
  MD_LOG_DEBUG("meeting.woken", log::kv("meeting", id));
  return &give_actor(self, std::move(*m));
}

void hold(self_ptr self, const std::string& id, std::function<void()> again) {
  self->state.held[id].push_back(std::move(again));
}

void on_wake(self_ptr self, unix_ms due) {
  auto& st = self->state;
  if (due == st.wake_armed)
    st.wake_armed = 0;
  for (auto& m : st.dormant.take_due(now_of(self)))
    give_actor(self, std::move(m));
  arm_wake(self);
}

void on_tick(self_ptr self, const std::string& id, unix_ms due) {
  // Not a command: last_command stays, so the tick does not keep the meeting
  // from passivating. A meeting without an actor now is dormant (its
  // deadlines are the wake-up's), finished, or another node's.
  auto i = self->state.meetings.find(id);
  if (i != self->state.meetings.end())
    self->send(i->second.actor, tick_atom::value, due);
}

void on_sweep(self_ptr self) {
  auto& st = self->state;
  auto quiet_since = now_of(self) - st.env->passivate_after.count();
  for (auto& [id, slot] : st.meetings)
    if (!slot.passivating && slot.last_command <= quiet_since)
      ask_to_passivate(self, id, slot);
  arm_sweep(self);
}

void on_finished(self_ptr self, const std::string& id) {
  // From here on the registry answers for the meeting (to_meeting).
  auto& st = self->state;
  auto i = st.meetings.find(id);
  if (i == st.meetings.end() || i->second.actor.address() != self->current_sender())
    return;
  auto actor = i->second.actor;
  erase_slot(self, i);
  self->demonitor(actor.address());
  if (free_refused_id(self, id))
    return; // the actor of a refused creation quits by itself
  self->send(actor, retire_atom::value);
}

void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  // Passivated and finished meetings quit after the directory let them go;
  // their down message may still come (it was on its way before the
  // demonitor). Only an actor still in a slot is looked for.
  if (!st.slot_actors.count(msg.source.id()))
    return;
  for (auto i = st.meetings.begin(); i != st.meetings.end(); ++i) {
    if (i->second.actor.address() != msg.source)
      continue;
    free_refused_id(self, i->first);
    MD_LOG_WARN("meeting.actor_down", log::kv("meeting", i->first),
                log::kv("reason", caf::to_string(msg.reason)));
    erase_slot(self, i);
    return;
  }
}

void stop_all(self_ptr self, const caf::error& reason) {
  for (auto& [id, slot] : self->state.meetings)
    self->send_exit(slot.actor, reason);
}

} // namespace meetingd::directory_meetings
