// The meeting actor (see meeting_actor.hpp).
#include "actors/meeting_actor.hpp"

#include "actors/core/backoff.hpp"
#include "actors/reply_commit.hpp"
#include "config/log.hpp"
#include "actors/core/crypto.hpp"

#include <algorithm>

namespace meetingd {

namespace {

using self_ptr = meeting_actor::stateful_pointer<meeting_actor_state>;
using reply_promise = caf::typed_response_promise<final_reply>;

core_context context_of(self_ptr self) {
  auto& env = *self->state.env;
  return core_context{wall_now(self, env), &env.meeting,
                      [] { return "s-" + crypto::random_hex(8); }};
}

reply_route route_of(self_ptr self, const meeting_request& req) {
  return reply_route{req.who.client, req.request_id, req.who.user, self->state.m.id,
                     !proto::changes_state(req.cmd.kind)};
}

/// Arms one delayed tick for the earliest deadline, unless one is armed
/// already for that deadline or an earlier one.
///
/// A later deadline goes to the directory by meeting id, sent anonymously,
/// and the directory passes it on to whatever actor the meeting has then.
/// A delayed message to this actor would hold a reference to it in CAF's
/// clock until it fired: a meeting that passivated with a token warning 24
/// hours away kept its whole actor (1.6 KB) that long (docs/benchmarks.md,
/// "Memory per meeting").
void arm_timer(self_ptr self) {
  auto& st = self->state;
  auto next = next_deadline(st.m);
  if (!next || (st.armed != 0 && st.armed <= *next))
    return;
  st.armed = *next;
  auto delay = *next - wall_now(self, *st.env);
  if (delay <= 0)
    self->send(self, tick_atom::value, *next);
  else
    caf::delayed_anon_send(st.links.directory, std::chrono::milliseconds{delay},
                           tick_atom::value, st.m.id, *next);
}

void start_delete(self_ptr self);

/// The actor's work is over once its channel is deleted and committed, but
/// it stays until every reply it still owes is delivered: a response
/// promise dropped with the actor would leave its sender without an answer.
/// Nor may it quit on its own: a request the directory routed here a moment
/// ago could be waiting in the mailbox and would bounce as an error. So it
/// tells the directory it is finished; the directory stops routing to it and
/// answers `retire`, which arrives after every request it routed here.
void quit_when_done(self_ptr self) {
  auto& st = self->state;
  if (st.phase < meeting_phase::deleted || st.outstanding != 0)
    return;
  if (st.phase == meeting_phase::retired) {
    self->quit();
  } else if (st.phase == meeting_phase::deleted) {
    st.phase = meeting_phase::finished;
    self->send(st.links.directory, finished_atom::value, st.m.id);
  }
}

/// Counts a request whose callback delivers a reply or finishes a step.
void begin_outstanding(self_ptr self) {
  ++self->state.outstanding;
}

void end_outstanding(self_ptr self) {
  --self->state.outstanding;
  quit_when_done(self);
}

/// Performs what the core decided: commit, then the directory update, the
/// reply (if `rp`), events and DeleteChannel. The update goes out before the
/// reply: the directory must know of the change (a meeting created, a user
/// joined) before the caller can act on it with its next command, which
/// reaches the directory through the gateway and could otherwise overtake
/// it. Re-arms the timer at once: the state already changed in memory.
void perform(self_ptr self, effects fx, const reply_route* route, reply_promise* rp) {
  auto& st = self->state;
  auto now = wall_now(self, *st.env);
  bool notify = !fx.changes.empty() || !fx.memberships.empty();
  auto update = notify ? std::optional<meeting_update>{update_of(st.m, std::move(fx.memberships))}
                       : std::nullopt;
  // The backend's events commit with the change they report (the outbox);
  // once durable they go to the delivery actor.
  std::vector<webhook_record> outbox;
  if (!fx.webhooks.empty() && !st.env->webhook_urls.empty()) {
    outbox = webhooks::outbox_rows(fx.webhooks, st.env->webhook_urls);
    for (auto& row : outbox)
      fx.changes.add(change::put_webhook{row});
  }
  begin_outstanding(self);
  auto before = [self, update = std::move(update)]() mutable {
    if (update)
      self->send(self->state.links.directory, update_atom::value, std::move(*update));
  };
  auto after = [self, events = std::move(fx.events), delete_channel = fx.delete_channel,
                outbox = std::move(outbox)]() mutable {
    auto& state = self->state;
    if (!events.empty())
      self->send(state.links.directory, deliver_atom::value, std::move(events));
    if (!outbox.empty() && state.links.webhooks)
      self->send(state.links.webhooks, webhook_atom::value, std::move(outbox));
    if (delete_channel)
      start_delete(self);
    end_outstanding(self);
  };
  if (rp && !fx.reply)
    fx.reply = refuse(refusal::internal,
                           "the meeting produced no reply; this is a bug, see the node's log");
  if (rp) {
    commit_reply(self, st.links.store, *route, std::move(*fx.reply),
                 std::move(fx.changes), now, *rp, std::move(before), std::move(after));
  } else {
    commit_then(self, st.links.store, std::move(fx.changes), [before, after]() mutable {
      before();
      after();
    });
  }
  arm_timer(self);
}

void log_ended(self_ptr self, const std::string& note = {}) {
  auto& m = self->state.m;
  if (note.empty())
    MD_LOG_INFO("meeting.ended", log::kv("meeting", m.id),
                log::kv("reason", m.end_reason), log::kv("channel", m.channel.id));
  else
    MD_LOG_INFO("meeting.ended", log::kv("meeting", m.id),
                log::kv("reason", m.end_reason), log::kv("channel", m.channel.id),
                log::kv("note", note));
}

/// DeleteChannel until it is done; once committed, the actor's work is over.
void start_delete(self_ptr self) {
  auto& st = self->state;
  if (st.phase != meeting_phase::live || st.m.channel_deleted)
    return;
  st.phase = meeting_phase::deleting;
  self->request(st.links.rtc, caf::infinite, delete_channel_atom::value, st.m.channel.id)
    .then([self](rtc::answer& a) {
      auto& state = self->state;
      if (!rtc::channel_is_gone(a)) {
        state.phase = meeting_phase::live;
        auto wait = backoff_ceiling(std::chrono::seconds(1), std::chrono::minutes(5),
                                    ++state.delete_failures);
        MD_LOG_WARN("meeting.delete_channel_failed", log::kv("meeting", state.m.id),
                    log::kv("channel", state.m.channel.id), log::kv("code", a.error->code),
                    log::kv("message", a.error->message),
                    log::kv("retry_in_ms", wait.count()),
                    log::kv("hint", "retried until it succeeds; check the RTC service and credentials"));
        self->delayed_send(self, wait, retry_atom::value);
        return;
      }
      auto fx = channel_deleted(state.m);
      commit_then(self, state.links.store, std::move(fx.changes), [self] {
        MD_LOG_INFO("meeting.channel_deleted", log::kv("meeting", self->state.m.id),
                    log::kv("channel", self->state.m.channel.id));
        self->state.phase = meeting_phase::deleted;
        quit_when_done(self);
      });
    });
}

void run_command(self_ptr self, const meeting_request& req, reply_promise rp) {
  auto& st = self->state;
  auto route = route_of(self, req);
  // Before the command: it changes the state in place.
  bool was_active = st.m.status == meeting_status::active;
  auto fx = handle_command(st.m, req.who, req.cmd, req.facts, context_of(self));
  if (fx.remove_terminals.empty()) {
    auto note = std::move(fx.end_note);
    perform(self, std::move(fx), &route, &rp);
    if (was_active && st.m.status == meeting_status::ended)
      log_ended(self, note);
    return;
  }
  // A kick: the user leaves the channel first, then the state changes.
  auto terminals = std::move(fx.remove_terminals);
  fx.remove_terminals.clear();
  // Deadlines that had passed when the kick came fired first, in memory:
  // what they changed commits now, not with the kick, which may be refused.
  if (!fx.changes.empty() || !fx.events.empty() || !fx.memberships.empty()
      || fx.delete_channel) {
    perform(self, std::move(fx), nullptr, nullptr);
    if (was_active && st.m.status == meeting_status::ended)
      log_ended(self);
  }
  begin_outstanding(self);
  self->request(st.links.rtc, caf::infinite, remove_terminals_atom::value,
                st.m.channel.id, std::move(terminals))
    .then([self, req, route, rp](rtc::answer& a) mutable {
      bool active_before = self->state.m.status == meeting_status::active;
      auto kicked = complete_kick(self->state.m, req.who, req.cmd, a, context_of(self));
      perform(self, std::move(kicked), &route, &rp);
      if (active_before && self->state.m.status == meeting_status::ended)
        log_ended(self); // a deadline that passed while RemoveTerminals ran
      end_outstanding(self);
    });
}

/// A refused creation frees the meeting's id in the directory before the
/// refusal is delivered: a retry with the same id, sent the moment the
/// refusal arrives, must run again and not find the id still taken (409).
/// Nothing is ever routed to a meeting being created, so the actor quits
/// without waiting for `retire`.
void give_up_creation(self_ptr self) {
  self->send(self->state.links.directory, finished_atom::value, self->state.m.id);
}

void create(self_ptr self, const meeting_request& req, reply_promise rp) {
  auto& st = self->state;
  auto id = *req.cmd.requested_id;
  st.m.id = id;
  auto route = route_of(self, req);
  auto ctx = context_of(self);
  if (auto err = check_create(req.cmd, ctx)) {
    // The actor ends once the refusal is durable and delivered.
    commit_reply(self, st.links.store, route, std::move(*err), {}, ctx.now, rp,
                 [self] { give_up_creation(self); }, [self] { self->quit(); });
    return;
  }
  auto build = [self, req, route, rp](channel_info channel) mutable {
    auto& state = self->state;
    auto fx = create_meeting(state.m, channel.id, channel, req.who, req.cmd, req.facts,
                             context_of(self));
    state.phase = meeting_phase::live;
    MD_LOG_INFO("meeting.created", log::kv("meeting", state.m.id),
                log::kv("host", req.who.user), log::kv("channel", channel.id),
                log::kv("req", req.request_id),
                log::kv("scheme", to_string(state.m.scheme)));
    perform(self, std::move(fx), &route, &rp);
  };
  if (st.env->meeting.scheme == token_scheme::appkey) {
    build(channel_info{id, {}, {}, 0});
    return;
  }
  self->request(st.links.rtc, caf::infinite, create_channel_atom::value, id)
    .then([self, route, rp, build, id](rtc::answer& a) mutable {
      if (!a.ok()) {
        // Nothing changed: not recorded, so a retry with the same id may work.
        give_up_creation(self);
        rp.deliver(make_final_reply(route, rtc_failure_reply(*a.error)));
        self->quit();
        return;
      }
      build(channel_info{id, a.grant.channel_key, a.grant.nonce, a.grant.timestamp});
    });
}

} // namespace

meeting_actor::behavior_type
meeting_actor_impl(meeting_actor::stateful_pointer<meeting_actor_state> self,
                   node_env_ptr env, meeting_links links,
                   std::optional<meeting> recovered) {
  auto& st = self->state;
  st.env = std::move(env);
  st.links = std::move(links);
  if (recovered) {
    st.m = std::move(*recovered);
    st.phase = meeting_phase::live;
    if (st.m.status == meeting_status::ended)
      start_delete(self);
    else
      arm_timer(self);
    if (st.links.recovery)
      st.links.recovery->one_done();
  }
  return {
    [self](handle_atom, meeting_request& req) -> caf::result<final_reply> {
      auto rp = self->make_response_promise<final_reply>();
      if (self->state.phase == meeting_phase::unborn) {
        if (req.cmd.kind == proto::command_kind::meeting_create && req.cmd.requested_id)
          create(self, req, rp);
        else
          rp.deliver(make_final_reply(route_of(self, req),
                                      refuse(refusal::meeting_not_found,
                                                  "no such meeting")));
        return rp;
      }
      run_command(self, req, rp);
      return rp;
    },
    [self](presence_atom, const std::string& user, bool online) {
      auto& state = self->state;
      perform(self, presence_changed(state.m, user, online, context_of(self)), nullptr,
              nullptr);
    },
    [self](passivate_atom) -> passivation {
      // Safe to stop only when no reply, commit or RTC call is in flight:
      // the directory holds everything for this meeting until it hears back,
      // and the pending tick is replaced by the directory's wake-up. An ended
      // meeting (deleting its channel, finishing) keeps its actor.
      auto& state = self->state;
      if (state.phase != meeting_phase::live || state.m.status != meeting_status::active
          || state.outstanding != 0)
        return {};
      passivation out{std::move(state.m)};
      self->quit();
      return out;
    },
    [self](tick_atom, unix_ms due) {
      auto& state = self->state;
      if (due != state.armed)
        return; // superseded by an earlier deadline armed since
      state.armed = 0;
      bool was_active = state.m.status == meeting_status::active;
      perform(self, fire_due_timers(state.m, context_of(self)), nullptr, nullptr);
      if (was_active && state.m.status == meeting_status::ended)
        log_ended(self);
    },
    [self](retry_atom) { start_delete(self); },
    [self](retire_atom) {
      self->state.phase = meeting_phase::retired;
      quit_when_done(self);
    },
  };
}

} // namespace meetingd
