// The meeting's rules (see meeting_core.hpp). Each command handler first
// checks everything that could refuse it, then changes the state, recording
// which rows it touched; `step` turns the touched rows into the changeset.
#include "actors/core/meeting_core.hpp"

#include "actors/core/rtc_token.hpp"

#include <algorithm>

namespace meetingd {

namespace {

using proto::command_kind;
using proto::event_kind;

// -- building effects -------------------------------------------------------------

/// One step of the core: the effects plus the rows it touched.
class step {
public:
  step(meeting& m, const core_context& ctx) : m_(m), ctx_(ctx) {
  }

  meeting& m() {
    return m_;
  }
  const core_context& ctx() const {
    return ctx_;
  }
  unix_ms now() const {
    return ctx_.now;
  }
  const meeting_settings& settings() const {
    return *ctx_.settings;
  }

  void touch_meeting() {
    meeting_dirty_ = true;
  }
  void touch(const participant& p) {
    participants_dirty_.insert(p.user);
  }
  void touch(const invitation& i) {
    invitations_dirty_.insert(i.invitee);
  }

  void reply_ok(proto::reply_data data = {}) {
    proto::reply r;
    r.code = 0;
    r.data = std::move(data);
    out_.reply = std::move(r);
  }

  void emit(std::vector<std::string> users, proto::event ev,
            std::string except_client = {}, bool online_only = false) {
    if (users.empty())
      return;
    ev.meeting = m_.id;
    out_.events.push_back(outgoing_event{std::move(users),
                                         std::move(except_client), online_only,
                                         std::move(ev)});
  }

  /// Sends `ev` to every joined participant except `skip`.
  void emit_to_participants(proto::event ev, const std::string& skip = {}) {
    std::vector<std::string> users;
    for (auto& [id, p] : m_.participants)
      if (p.status == participant_status::joined && id != skip)
        users.push_back(id);
    emit(std::move(users), std::move(ev));
  }

  void membership(const std::string& user, bool joined) {
    out_.memberships.push_back({user, joined});
  }

  /// Records a webhook event (docs/protocol.md §15) as the meeting's next
  /// one, if the node sends webhooks at all.
  void notify(webhook_event ev) {
    if (!settings().webhooks)
      return;
    ev.meeting = m_.id;
    ev.seq = m_.next_event++;
    ev.at = now();
    touch_meeting();
    out_.webhooks.push_back(std::move(ev));
  }

  effects& out() {
    return out_;
  }

  effects finish() {
    // The meeting row remembers its last host, so an ended meeting (whose
    // participants are gone) still names it, also after a restart.
    for (auto& [id, p] : m_.participants)
      if (p.status == participant_status::joined && p.r == role::host && m_.host != id) {
        m_.host = id;
        meeting_dirty_ = true;
      }
    if (meeting_dirty_)
      out_.changes.add(change::put_meeting{static_cast<const meeting_record&>(m_)});
    for (auto& user : participants_dirty_)
      out_.changes.add(change::put_participant{m_.id, m_.participants.at(user)});
    for (auto& user : invitations_dirty_)
      out_.changes.add(change::put_invitation{m_.id, m_.invitations.at(user)});
    return std::move(out_);
  }

private:
  meeting& m_;
  const core_context& ctx_;
  effects out_;
  bool meeting_dirty_ = false;
  std::set<std::string> participants_dirty_;
  std::set<std::string> invitations_dirty_;
};

/// Appends `later` to `earlier`: one step's effects after another's, kept
/// as one changeset so both commit together.
effects merge(effects earlier, effects later) {
  if (later.reply)
    earlier.reply = std::move(later.reply);
  for (auto& e : later.events)
    earlier.events.push_back(std::move(e));
  earlier.changes.append(std::move(later.changes));
  for (auto& m : later.memberships)
    earlier.memberships.push_back(std::move(m));
  for (auto& t : later.remove_terminals)
    earlier.remove_terminals.push_back(std::move(t));
  earlier.delete_channel = earlier.delete_channel || later.delete_channel;
  if (!later.end_note.empty())
    earlier.end_note = std::move(later.end_note);
  for (auto& w : later.webhooks)
    earlier.webhooks.push_back(std::move(w));
  return earlier;
}

/// The effects of a refused command: its reply, nothing else.
effects refused(refusal r, std::string message) {
  return effects::refusal(refuse(r, std::move(message)));
}

proto::event make_event(event_kind kind) {
  proto::event ev;
  ev.kind = kind;
  return ev;
}

proto::event user_event(event_kind kind, const std::string& user,
                        std::string reason = {}) {
  auto ev = make_event(kind);
  ev.user = user;
  ev.reason = std::move(reason);
  return ev;
}

proto::participant_view participant_view_of(const participant& p) {
  proto::participant_view v;
  v.user = p.user;
  v.rtc_userid = p.rtc_user;
  v.r = p.r;
  v.status = p.status;
  v.online = p.online && !p.network_lost;
  v.audio_muted = p.audio_muted;
  v.video_muted = p.video_muted;
  v.joined_at = to_unix_s(p.joined_at);
  return v;
}

proto::event participant_event(const participant& p) {
  auto ev = make_event(event_kind::participant);
  ev.user = p.user;
  ev.participant = participant_view_of(p);
  return ev;
}

// -- queries ---------------------------------------------------------------------

/// What the backend hears when an invitation stops ringing.
const char* outcome_of(invitation_status status) {
  return status == invitation_status::timed_out ? "timeout" : to_string(status);
}

/// Takes a ringing invitation out of ringing with `status`: the row and the
/// webhook event; what the devices hear differs by cause and is the caller's.
void close_invitation(step& st, invitation& inv, invitation_status status) {
  inv.status = status;
  inv.answered_at = st.now();
  st.touch(inv);
  webhook_event ev;
  ev.type = webhook_type::invitation_answered;
  ev.user = inv.invitee;
  ev.inviter = inv.inviter;
  ev.outcome = outcome_of(status);
  st.notify(std::move(ev));
}

/// Closes a participant's stint in the call (it left, was removed, or the
/// meeting ended): its time counts towards the call record.
void close_stint(step& st, participant& p, const std::string& reason) {
  p.left_at = st.now();
  p.left_reason = reason;
  p.in_call_ms += std::max<std::int64_t>(0, p.left_at - p.joined_at);
  p.grace_deadline = 0;
  p.token_warn_at = 0;
  st.touch(p);
  webhook_event ev;
  ev.type = webhook_type::participant_left;
  ev.user = p.user;
  ev.reason = reason;
  st.notify(std::move(ev));
}

participant* find_participant(meeting& m, const std::string& user) {
  auto i = m.participants.find(user);
  return i == m.participants.end() ? nullptr : &i->second;
}

invitation* find_invitation(meeting& m, const std::string& user) {
  auto i = m.invitations.find(user);
  return i == m.invitations.end() ? nullptr : &i->second;
}

bool is_joined(const meeting& m, const std::string& user) {
  auto i = m.participants.find(user);
  return i != m.participants.end()
         && i->second.status == participant_status::joined;
}

bool is_moderator(const meeting& m, const std::string& user) {
  auto i = m.participants.find(user);
  return i != m.participants.end()
         && i->second.status == participant_status::joined
         && (i->second.r == role::host || i->second.r == role::cohost);
}

bool is_host(const meeting& m, const std::string& user) {
  auto i = m.participants.find(user);
  return i != m.participants.end()
         && i->second.status == participant_status::joined
         && i->second.r == role::host;
}

int joined_count(const meeting& m) {
  int n = 0;
  for (auto& [id, p] : m.participants)
    if (p.status == participant_status::joined)
      ++n;
  return n;
}

const user_fact* fact_for(const std::vector<user_fact>& facts,
                          const std::string& user) {
  for (auto& f : facts)
    if (f.user == user)
      return &f;
  return nullptr;
}

effects not_participant() {
  return refused(refusal::not_participant,
                "you are not in this meeting; join it first with meeting.join");
}

effects not_moderator() {
  return refused(refusal::not_host,
                "only the host or a cohost may do this; ask one of them");
}

// -- credentials -------------------------------------------------------------------

unix_ms token_expiry_for(const meeting& m, const meeting_settings& s, unix_ms now) {
  if (m.scheme == token_scheme::appkey)
    return now + s.token_ttl.count();
  return m.expires_at;
}

/// Records when `p`'s token expires and when to warn about it. Scheme
/// channel warns once per meeting near the channel's end (expiry_warn_at);
/// scheme appkey warns each participant before its own token expires.
void set_token_expiry(step& st, participant& p, unix_ms expires_at) {
  p.token_expires_at = expires_at;
  p.token_warn_at = st.m().scheme == token_scheme::appkey
                      ? std::max<unix_ms>(st.now(), expires_at
                                                      - st.settings().token_renew_before.count())
                      : 0;
  st.touch(p);
}

/// Issues fresh credentials to `p` (new session, token, expiry).
proto::credentials issue(step& st, participant& p) {
  p.session = st.ctx().new_session();
  set_token_expiry(st, p, token_expiry_for(st.m(), st.settings(), st.now()));
  return make_credentials(st.m(), p.user, p.session, p.token_expires_at, st.settings());
}

// -- shared transitions ------------------------------------------------------------

/// Makes sure exactly one joined participant is host when anyone is joined:
/// the oldest cohost, else the oldest member, takes over.
void ensure_host(step& st) {
  auto& m = st.m();
  participant* best = nullptr;
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined)
      continue;
    if (p.r == role::host)
      return;
    bool better = !best || (p.r == role::cohost && best->r != role::cohost)
                  || (p.r == best->r && p.order < best->order);
    if (better)
      best = &p;
  }
  if (!best)
    return;
  best->r = role::host;
  st.touch(*best);
  auto ev = user_event(event_kind::role_changed, best->user);
  ev.new_role = role::host;
  st.emit_to_participants(ev);
}

/// Starts the idle timer when nobody is left in the meeting.
void check_idle(step& st) {
  auto& m = st.m();
  if (m.status == meeting_status::active && joined_count(m) == 0
      && m.idle_deadline == 0) {
    m.idle_deadline = st.now() + st.settings().idle_timeout.count();
    st.touch_meeting();
  }
}

/// Takes `p` out of the meeting (left, kicked, offline) and tells the others.
void remove_participant(step& st, participant& p, participant_status status,
                        const std::string& reason) {
  bool was_host = p.r == role::host;
  p.status = status;
  close_stint(st, p, reason);
  if (was_host)
    p.r = role::member;
  st.membership(p.user, false);
  st.emit_to_participants(user_event(event_kind::left, p.user, reason));
  if (was_host)
    ensure_host(st);
  check_idle(st);
}

/// Puts `user` into the meeting (first join or rejoin) with fresh
/// credentials; tells the others.
proto::credentials admit(step& st, const std::string& user, const std::string& client) {
  auto& m = st.m();
  auto [it, is_new] = m.participants.try_emplace(user);
  auto& p = it->second;
  if (is_new) {
    p.user = user;
    p.rtc_user = rtc::rtc_user_id(user);
    p.r = role::member;
    p.order = m.next_order++;
    st.touch_meeting();
  }
  p.status = participant_status::joined;
  p.joined_at = st.now();
  if (p.first_joined_at == 0)
    p.first_joined_at = p.joined_at;
  p.left_at = 0;
  p.left_reason.clear();
  p.online = true;
  p.network_lost = false;
  p.grace_deadline = 0;
  if (m.idle_deadline != 0) {
    m.idle_deadline = 0;
    st.touch_meeting();
  }
  auto creds = issue(st, p);
  webhook_event ev;
  ev.type = webhook_type::participant_joined;
  ev.user = user;
  ev.device = client;
  st.notify(std::move(ev));
  st.membership(user, true);
  st.emit_to_participants(user_event(event_kind::joined, user), user);
  ensure_host(st);
  return creds;
}

/// Ends the meeting: everyone in it and every ringing invitee is told.
void end_meeting(step& st, const std::string& reason) {
  auto& m = st.m();
  std::vector<std::string> told;
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined)
      continue;
    told.push_back(id);
    st.membership(id, false);
    p.status = participant_status::left;
    close_stint(st, p, "ended");
  }
  for (auto& [id, inv] : m.invitations) {
    if (inv.status != invitation_status::ringing)
      continue;
    close_invitation(st, inv, invitation_status::canceled);
    if (std::find(told.begin(), told.end(), id) == told.end())
      told.push_back(id);
  }
  auto ev = make_event(event_kind::ended);
  ev.reason = reason;
  st.emit(std::move(told), std::move(ev));
  m.status = meeting_status::ended;
  m.end_reason = reason;
  m.ended_at = st.now();
  m.idle_deadline = 0;
  m.expiry_warn_at = 0;
  st.touch_meeting();
  st.out().delete_channel = !m.channel_deleted;
  st.notify(call_record_of(m));
}

/// Rings `user`: a ringing invitation and event.invite to their online devices.
void ring(step& st, const std::string& inviter, const std::string& user) {
  auto& m = st.m();
  auto& s = st.settings();
  auto& inv = m.invitations[user];
  inv.invitee = user;
  inv.inviter = inviter;
  inv.status = invitation_status::ringing;
  inv.created_at = st.now();
  inv.ring_deadline = st.now() + s.ring_timeout.count();
  inv.answered_at = 0;
  inv.delivered = false;
  inv.session = st.ctx().new_session();
  st.touch(inv);
  auto ev = make_event(event_kind::invite);
  ev.from = inviter;
  ev.title = m.title;
  ev.ring_expires_at = to_unix_s(inv.ring_deadline);
  ev.creds = make_credentials(m, user, inv.session,
                              token_expiry_for(m, s, st.now()), s);
  st.emit({user}, std::move(ev), {}, true);
}

/// The outcome of inviting one user (docs/protocol.md §7 call.invite).
std::string invite_one(step& st, const std::string& inviter,
                       const std::string& user, const user_fact* fact) {
  auto& m = st.m();
  if (user == inviter || is_joined(m, user))
    return "already_participant";
  if (!fact || !fact->exists)
    return "user_not_found";
  if (auto p = find_participant(m, user); p && p->status == participant_status::kicked)
    return "kicked";
  if (fact->busy)
    return "busy";
  if (!fact->online)
    return "offline";
  ring(st, inviter, user);
  return "ringing";
}

/// Invites each user once, in order, recording each outcome.
void invite_all(step& st, const std::string& inviter,
                const std::vector<std::string>& users,
                const std::vector<user_fact>& facts,
                std::vector<proto::invite_outcome>& out) {
  std::set<std::string> seen;
  for (auto& user : users)
    if (seen.insert(user).second)
      out.push_back({user, invite_one(st, inviter, user, fact_for(facts, user))});
}

/// Takes a ringing invitation out of ringing, telling the invitee's other
/// devices that the call was answered on `client`.
void answer_invitation(step& st, invitation& inv, invitation_status status,
                       const std::string& client) {
  close_invitation(st, inv, status);
  auto ev = make_event(event_kind::answered_elsewhere);
  ev.by = client;
  st.emit({inv.invitee}, std::move(ev), client);
}

std::optional<proto::reply> check_answerable(const invitation* inv) {
  if (!inv)
    return refuse(refusal::no_invitation,
                       "you have no invitation to this meeting");
  switch (inv->status) {
    case invitation_status::ringing:
      return std::nullopt;
    case invitation_status::timed_out:
      return refuse(refusal::invitation_expired,
                         "the invitation timed out; ask to be invited again");
    case invitation_status::canceled:
      return refuse(refusal::invitation_canceled,
                         "the invitation was canceled");
    default:
      return refuse(refusal::already_answered,
                         "the invitation was already answered");
  }
}

/// Whether `user` may enter now: not kicked, room left. Locks are checked
/// by the callers that care (join from a non-invitee).
std::optional<proto::reply> check_admission(const meeting& m,
                                            const std::string& user) {
  auto i = m.participants.find(user);
  if (i != m.participants.end() && i->second.status == participant_status::kicked)
    return refuse(refusal::kicked,
                       "you were removed from this meeting and cannot rejoin");
  bool rejoining = i != m.participants.end()
                   && i->second.status == participant_status::joined;
  if (!rejoining && joined_count(m) >= m.max_participants)
    return refuse(refusal::meeting_full,
                       "the meeting has reached its participant limit ("
                         + std::to_string(m.max_participants) + ")");
  return std::nullopt;
}

// -- command handlers -----------------------------------------------------------------

proto::join_data join_data_of(const meeting& m, proto::credentials creds) {
  proto::join_data data;
  data.creds = std::move(creds);
  for (auto& [id, p] : m.participants)
    if (p.status == participant_status::joined)
      data.participants.push_back(participant_view_of(p));
  return data;
}

effects on_join(meeting& m, const caller& who, const core_context& ctx) {
  if (auto p = find_participant(m, who.user);
      p && p->status == participant_status::joined) {
    // Joining again (another device, or a lost reply): fresh credentials,
    // nothing to tell the others.
    step st{m, ctx};
    auto creds = issue(st, *p);
    st.reply_ok(join_data_of(m, std::move(creds)));
    return st.finish();
  }
  if (auto err = check_admission(m, who.user))
    return effects::refusal(std::move(err));
  auto inv = find_invitation(m, who.user);
  bool invited = inv && inv->status == invitation_status::ringing;
  bool was_participant = m.participants.count(who.user) > 0;
  if (m.locked && !invited && !was_participant)
    return refused(refusal::meeting_locked,
                  "the meeting is locked; only invitees and earlier participants may join");
  step st{m, ctx};
  if (invited) {
    answer_invitation(st, *inv, invitation_status::accepted, who.client);
    st.emit({inv->inviter}, user_event(event_kind::accepted, who.user));
  }
  auto creds = admit(st, who.user, who.client);
  st.reply_ok(join_data_of(m, std::move(creds)));
  return st.finish();
}

effects on_leave(meeting& m, const caller& who, const core_context& ctx) {
  auto p = find_participant(m, who.user);
  if (!p || p->status != participant_status::joined)
    return not_participant();
  step st{m, ctx};
  remove_participant(st, *p, participant_status::left, "left");
  st.reply_ok();
  return st.finish();
}

effects on_end(meeting& m, const caller& who, const proto::command& cmd,
               const core_context& ctx) {
  if (!who.admin && !is_host(m, who.user))
    return refused(refusal::not_host,
                  "only the host may end the meeting; ask the host, or an admin");
  step st{m, ctx};
  end_meeting(st, who.admin ? "admin" : "ended");
  if (who.admin)
    st.out().end_note = cmd.reason.value_or("");
  st.reply_ok();
  return st.finish();
}

effects on_get(meeting& m, const caller& who, const core_context& ctx) {
  auto p = find_participant(m, who.user);
  bool kicked = p && p->status == participant_status::kicked;
  bool allowed = who.admin || (!kicked && (p || m.invitations.count(who.user) > 0));
  if (!allowed)
    return refused(refusal::not_participant,
                  "only participants and invitees may see this meeting");
  step st{m, ctx};
  st.reply_ok(view_of(m));
  return st.finish();
}

effects on_renew(meeting& m, const caller& who, const core_context& ctx) {
  auto p = find_participant(m, who.user);
  if (!p || p->status != participant_status::joined)
    return not_participant();
  step st{m, ctx};
  st.reply_ok(proto::credentials_data{issue(st, *p)});
  return st.finish();
}

effects on_invite(meeting& m, const caller& who, const proto::command& cmd,
                  const std::vector<user_fact>& facts, const core_context& ctx) {
  if (!is_joined(m, who.user))
    return not_participant();
  if (m.policy == invite_policy::hosts && !is_moderator(m, who.user))
    return refused(refusal::not_host,
                  "in this meeting only the host and cohosts may invite");
  step st{m, ctx};
  proto::invite_data data;
  invite_all(st, who.user, cmd.users, facts, data.invitations);
  st.reply_ok(std::move(data));
  return st.finish();
}

effects on_ringing(meeting& m, const caller& who, const core_context& ctx) {
  auto inv = find_invitation(m, who.user);
  if (auto err = check_answerable(inv))
    return effects::refusal(std::move(err));
  step st{m, ctx};
  if (!inv->delivered) {
    inv->delivered = true;
    st.touch(*inv);
    st.emit({inv->inviter}, user_event(event_kind::ringing, who.user));
  }
  st.reply_ok();
  return st.finish();
}

effects on_accept(meeting& m, const caller& who, const core_context& ctx) {
  auto inv = find_invitation(m, who.user);
  if (auto err = check_answerable(inv))
    return effects::refusal(std::move(err));
  if (auto err = check_admission(m, who.user))
    return effects::refusal(std::move(err));
  step st{m, ctx};
  answer_invitation(st, *inv, invitation_status::accepted, who.client);
  st.emit({inv->inviter}, user_event(event_kind::accepted, who.user));
  st.reply_ok(proto::credentials_data{admit(st, who.user, who.client)});
  return st.finish();
}

effects on_decline(meeting& m, const caller& who, const proto::command& cmd,
                   const core_context& ctx) {
  auto inv = find_invitation(m, who.user);
  if (auto err = check_answerable(inv))
    return effects::refusal(std::move(err));
  step st{m, ctx};
  answer_invitation(st, *inv, invitation_status::declined, who.client);
  st.emit({inv->inviter},
          user_event(event_kind::declined, who.user, cmd.reason.value_or("")));
  st.reply_ok();
  return st.finish();
}

effects on_cancel(meeting& m, const caller& who, const proto::command& cmd,
                  const core_context& ctx) {
  bool moderator = is_moderator(m, who.user);
  std::vector<invitation*> targets;
  if (cmd.users.empty()) {
    for (auto& [id, inv] : m.invitations)
      if (inv.status == invitation_status::ringing
          && (inv.inviter == who.user || moderator))
        targets.push_back(&inv);
  } else {
    for (auto& user : cmd.users) {
      auto inv = find_invitation(m, user);
      if (!inv || inv->status != invitation_status::ringing)
        continue;
      if (inv->inviter != who.user && !moderator)
        return refused(refusal::not_host,
                      "only the inviter or a host may cancel the invitation of "
                        + user);
      targets.push_back(inv);
    }
  }
  if (targets.empty())
    return refused(refusal::no_invitation, "there is no ringing invitation to cancel");
  step st{m, ctx};
  for (auto inv : targets) {
    close_invitation(st, *inv, invitation_status::canceled);
    auto ev = make_event(event_kind::canceled);
    ev.by = who.user;
    st.emit({inv->invitee}, std::move(ev));
  }
  st.reply_ok();
  return st.finish();
}

/// Checks a kick; returns the target if it may go ahead.
std::variant<participant*, proto::reply>
check_kick(meeting& m, const caller& who, const proto::command& cmd) {
  if (!who.admin && !is_moderator(m, who.user))
    return refuse(refusal::not_host,
                       "only the host or a cohost may kick; ask one of them");
  auto p = find_participant(m, cmd.user);
  if (!p)
    return refuse(refusal::participant_not_found,
                       cmd.user + " is not a participant of this meeting");
  if (p->status == participant_status::kicked)
    return refuse(refusal::already_kicked,
                       cmd.user + " was already kicked");
  if (p->user == who.user)
    return refuse(refusal::cannot_kick_self,
                       "use meeting.leave to leave the meeting");
  if (!who.admin && p->r == role::host && p->status == participant_status::joined)
    return refuse(refusal::cannot_kick_host,
                       "the host cannot be kicked; the host may hand over with moderate.set_role");
  return p;
}

effects on_kick(meeting& m, const caller& who, const proto::command& cmd,
                const core_context& ctx) {
  auto checked = check_kick(m, who, cmd);
  if (auto err = std::get_if<proto::reply>(&checked))
    return effects::refusal(std::move(*err));
  auto p = std::get<participant*>(checked);
  effects out;
  // Only someone in the channel has a terminal to remove; the rest is bookkeeping.
  if (p->status == participant_status::joined) {
    out.remove_terminals.push_back(p->rtc_user);
    return out;
  }
  return complete_kick(m, who, cmd, rtc::answer{}, ctx);
}

/// Sets the mute state of `p` and asks its devices to follow.
void request_mute(step& st, participant& p, std::optional<bool> audio,
                  std::optional<bool> video, bool mute, const std::string& by) {
  if (audio && *audio)
    p.audio_muted = mute;
  if (video && *video)
    p.video_muted = mute;
  st.touch(p);
  auto ev = make_event(event_kind::mute_request);
  if (audio && *audio)
    ev.audio = mute;
  if (video && *video)
    ev.video = mute;
  ev.by = by;
  st.emit({p.user}, std::move(ev));
}

/// moderate.mute with neither audio nor video means audio.
std::pair<std::optional<bool>, std::optional<bool>>
mute_targets(const proto::command& cmd) {
  bool audio = cmd.audio.value_or(false);
  bool video = cmd.video.value_or(false);
  if (!cmd.audio && !cmd.video)
    audio = true;
  return {audio, video};
}

effects on_mute(meeting& m, const caller& who, const proto::command& cmd,
                bool mute, const core_context& ctx) {
  if (!who.admin && !is_moderator(m, who.user))
    return not_moderator();
  auto p = find_participant(m, cmd.user);
  if (!p || p->status != participant_status::joined)
    return refused(refusal::participant_not_found,
                  cmd.user + " is not in this meeting");
  auto [audio, video] = mute_targets(cmd);
  step st{m, ctx};
  request_mute(st, *p, audio, video, mute, who.admin ? who.client : who.user);
  st.reply_ok();
  return st.finish();
}

effects on_mute_all(meeting& m, const caller& who, const proto::command& cmd,
                    bool mute, const core_context& ctx) {
  if (!who.admin && !is_moderator(m, who.user))
    return not_moderator();
  auto [audio, video] = mute_targets(cmd);
  step st{m, ctx};
  for (auto& [id, p] : m.participants)
    if (p.status == participant_status::joined && p.r == role::member)
      request_mute(st, p, audio, video, mute, who.admin ? who.client : who.user);
  st.reply_ok();
  return st.finish();
}

effects on_lock(meeting& m, const caller& who, bool lock, const core_context& ctx) {
  if (!who.admin && !is_moderator(m, who.user))
    return not_moderator();
  step st{m, ctx};
  if (m.locked != lock) {
    m.locked = lock;
    st.touch_meeting();
  }
  st.reply_ok();
  return st.finish();
}

effects on_set_role(meeting& m, const caller& who, const proto::command& cmd,
                    const core_context& ctx) {
  if (!is_host(m, who.user))
    return refused(refusal::not_host, "only the host may change roles");
  auto p = find_participant(m, cmd.user);
  if (!p || p->status != participant_status::joined)
    return refused(refusal::participant_not_found,
                  cmd.user + " is not in this meeting");
  auto new_role = *cmd.new_role;
  if (p->user == who.user && new_role != role::host)
    return refused(refusal::host_required,
                  "a meeting always has one host; make someone else host first");
  step st{m, ctx};
  auto announce = [&](participant& x) {
    st.touch(x);
    auto ev = user_event(event_kind::role_changed, x.user);
    ev.new_role = x.r;
    st.emit_to_participants(ev);
  };
  if (p->r != new_role) {
    if (new_role == role::host) {
      // Handing over: the old host stays on as cohost.
      auto& old_host = m.participants.at(who.user);
      old_host.r = role::cohost;
      announce(old_host);
    }
    p->r = new_role;
    announce(*p);
  }
  st.reply_ok();
  return st.finish();
}

effects on_rtc_event(meeting& m, const caller& who, const proto::command& cmd,
                     const core_context& ctx) {
  auto ev = *cmd.event;
  auto p = find_participant(m, who.user);
  // Joining the channel directly with the invitation's credentials counts
  // as accepting it (docs/protocol.md §8, event.invite).
  if (ev == sdk_event::joined && (!p || p->status != participant_status::joined)) {
    auto inv = find_invitation(m, who.user);
    bool rejoining = p && p->status == participant_status::left;
    if (inv && !rejoining) {
      if (auto err = check_answerable(inv))
        return effects::refusal(std::move(err));
      if (auto err = check_admission(m, who.user))
        return effects::refusal(std::move(err));
      step st{m, ctx};
      answer_invitation(st, *inv, invitation_status::accepted, who.client);
      st.emit({inv->inviter}, user_event(event_kind::accepted, who.user));
      admit(st, who.user, who.client);
      // The device entered with the invitation's credentials: those are the
      // session and token expiry it holds.
      auto& joined = m.participants.at(who.user);
      joined.session = inv->session;
      set_token_expiry(st, joined, token_expiry_for(m, st.settings(), inv->created_at));
      st.reply_ok();
      return st.finish();
    }
  }
  if (!p || p->status != participant_status::joined)
    return not_participant();
  if (ev == sdk_event::left)
    return on_leave(m, who, ctx);
  step st{m, ctx};
  // Each event sets one flag of the participant: on for the first of its
  // pair, off for the second.
  switch (ev) {
    case sdk_event::joined:
    case sdk_event::network_recovered:
    case sdk_event::network_lost:
      p->network_lost = ev == sdk_event::network_lost;
      break;
    case sdk_event::audio_muted:
    case sdk_event::audio_unmuted:
      p->audio_muted = ev == sdk_event::audio_muted;
      break;
    case sdk_event::video_muted:
    case sdk_event::video_unmuted:
      p->video_muted = ev == sdk_event::video_muted;
      break;
    case sdk_event::left:
      break;
  }
  st.touch(*p);
  st.emit_to_participants(participant_event(*p), p->user);
  st.reply_ok();
  return st.finish();
}

} // namespace

// -- creation -------------------------------------------------------------------

std::optional<proto::reply> check_create(const proto::command& cmd,
                                         const core_context& ctx) {
  auto& s = *ctx.settings;
  if (cmd.max_participants
      && (*cmd.max_participants < 2 || *cmd.max_participants > s.max_participants_limit))
    return refuse_about(refusal::bad_value, "args.max_participants",
                       "max_participants must be between 2 and "
                         + std::to_string(s.max_participants_limit));
  return std::nullopt;
}

effects create_meeting(meeting& m, const std::string& id,
                       const channel_info& channel, const caller& who,
                       const proto::command& cmd,
                       const std::vector<user_fact>& facts,
                       const core_context& ctx) {
  auto& s = *ctx.settings;
  m = meeting{};
  m.id = id;
  m.title = cmd.title.value_or("");
  m.creator = who.user;
  m.channel = channel;
  m.scheme = s.scheme;
  m.status = meeting_status::active;
  m.created_at = ctx.now;
  m.expires_at = ctx.now + s.channel_ttl.count();
  if (m.scheme == token_scheme::channel)
    m.expiry_warn_at = std::max(ctx.now, m.expires_at - s.token_renew_before.count());
  m.policy = cmd.policy.value_or(invite_policy::anyone);
  m.max_participants = cmd.max_participants.value_or(s.max_participants);
  step st{m, ctx};
  st.touch_meeting();
  auto& host = m.participants[who.user];
  host.user = who.user;
  host.rtc_user = rtc::rtc_user_id(who.user);
  host.r = role::host;
  host.order = m.next_order++;
  webhook_event created;
  created.type = webhook_type::meeting_created;
  created.host = who.user;
  created.title = m.title;
  created.channel = m.channel.id;
  st.notify(std::move(created));
  auto creds = admit(st, who.user, who.client);
  proto::create_data data;
  data.meeting = m.id;
  data.channel = m.channel.id;
  data.expires_at = to_unix_s(m.expires_at);
  data.creds = std::move(creds);
  invite_all(st, who.user, cmd.users, facts, data.invitations);
  st.reply_ok(std::move(data));
  return st.finish();
}

// -- commands -------------------------------------------------------------------

namespace {

effects decide_command(meeting& m, const caller& who, const proto::command& cmd,
                       const std::vector<user_fact>& facts, const core_context& ctx) {
  if (auto err = refusal_if_ended(m.status, m.end_reason, cmd.kind))
    return effects::refusal(std::move(err));
  if (proto::reads_meeting(cmd.kind))
    return on_get(m, who, ctx);
  switch (cmd.kind) {
    case command_kind::meeting_join:
      return on_join(m, who, ctx);
    case command_kind::meeting_leave:
      return on_leave(m, who, ctx);
    case command_kind::meeting_end:
    case command_kind::admin_meeting_end:
      return on_end(m, who, cmd, ctx);
    case command_kind::meeting_renew:
      return on_renew(m, who, ctx);
    case command_kind::call_invite:
      return on_invite(m, who, cmd, facts, ctx);
    case command_kind::call_ringing:
      return on_ringing(m, who, ctx);
    case command_kind::call_accept:
      return on_accept(m, who, ctx);
    case command_kind::call_decline:
      return on_decline(m, who, cmd, ctx);
    case command_kind::call_cancel:
      return on_cancel(m, who, cmd, ctx);
    case command_kind::moderate_kick:
    case command_kind::admin_kick:
      return on_kick(m, who, cmd, ctx);
    case command_kind::moderate_mute:
    case command_kind::admin_mute:
      return on_mute(m, who, cmd, true, ctx);
    case command_kind::moderate_unmute:
    case command_kind::admin_unmute:
      return on_mute(m, who, cmd, false, ctx);
    case command_kind::moderate_mute_all:
    case command_kind::admin_mute_all:
      return on_mute_all(m, who, cmd, true, ctx);
    case command_kind::moderate_unmute_all:
      return on_mute_all(m, who, cmd, false, ctx);
    case command_kind::moderate_lock:
    case command_kind::admin_lock:
      return on_lock(m, who, true, ctx);
    case command_kind::moderate_unlock:
    case command_kind::admin_unlock:
      return on_lock(m, who, false, ctx);
    case command_kind::moderate_set_role:
      return on_set_role(m, who, cmd, ctx);
    case command_kind::rtc_event:
      return on_rtc_event(m, who, cmd, ctx);
    default:
      return refused(refusal::internal,
                    std::string{"the meeting cannot handle "} + proto::to_string(cmd.kind));
  }
}

} // namespace

effects handle_command(meeting& m, const caller& who, const proto::command& cmd,
                       const std::vector<user_fact>& facts,
                       const core_context& ctx) {
  // A deadline at or before now has passed, whether or not its timer message
  // arrived yet: commands are decided after it (the timer wins a tie).
  auto due = fire_due_timers(m, ctx);
  return merge(std::move(due), decide_command(m, who, cmd, facts, ctx));
}

namespace {
effects finish_kick(meeting& m, const caller& who, const proto::command& cmd,
                    const core_context& ctx);
} // namespace

effects complete_kick(meeting& m, const caller& who, const proto::command& cmd,
                      const rtc::answer& answer, const core_context& ctx) {
  if (answer.error)
    return effects::refusal(rtc_failure_reply(*answer.error));
  auto due = fire_due_timers(m, ctx);
  return merge(std::move(due), finish_kick(m, who, cmd, ctx));
}

namespace {

effects finish_kick(meeting& m, const caller& who, const proto::command& cmd,
                    const core_context& ctx) {
  // The state may have moved on while RemoveTerminals was under way.
  if (auto err = refusal_if_ended(m.status, m.end_reason, cmd.kind))
    return effects::refusal(std::move(err));
  auto checked = check_kick(m, who, cmd);
  if (auto err = std::get_if<proto::reply>(&checked))
    return effects::refusal(std::move(*err));
  auto p = std::get<participant*>(checked);
  step st{m, ctx};
  auto by = who.admin ? who.client : who.user;
  bool was_joined = p->status == participant_status::joined;
  p->kicked_by = by;
  if (was_joined) {
    remove_participant(st, *p, participant_status::kicked, "kicked");
  } else {
    p->status = participant_status::kicked;
    st.touch(*p);
  }
  if (auto inv = find_invitation(m, p->user);
      inv && inv->status == invitation_status::ringing) {
    close_invitation(st, *inv, invitation_status::canceled);
  }
  auto ev = make_event(event_kind::kicked);
  ev.by = by;
  st.emit({p->user}, std::move(ev));
  st.reply_ok();
  return st.finish();
}

} // namespace

// -- what is not a command ----------------------------------------------------------

effects presence_changed(meeting& m, const std::string& user, bool online,
                         const core_context& ctx) {
  auto due = fire_due_timers(m, ctx);
  auto p = find_participant(m, user);
  if (m.status != meeting_status::active || !p
      || p->status != participant_status::joined || p->online == online)
    return due;
  step st{m, ctx};
  p->online = online;
  p->grace_deadline = online ? 0 : ctx.now + ctx.settings->presence_grace.count();
  st.touch(*p);
  st.emit_to_participants(participant_event(*p), p->user);
  return merge(std::move(due), st.finish());
}

effects fire_due_timers(meeting& m, const core_context& ctx) {
  step st{m, ctx};
  auto now = ctx.now;
  if (m.status != meeting_status::active)
    return st.finish();
  if (m.expires_at != 0 && m.expires_at <= now) {
    end_meeting(st, "expired");
    return st.finish();
  }
  // Ring timeouts first: an invitation due now is over even if the meeting
  // goes on.
  for (auto& [id, inv] : m.invitations) {
    if (inv.status != invitation_status::ringing || inv.ring_deadline > now)
      continue;
    close_invitation(st, inv, invitation_status::timed_out);
    st.emit({inv.inviter, inv.invitee},
            user_event(event_kind::invite_timeout, inv.invitee));
  }
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined)
      continue;
    if (p.grace_deadline != 0 && p.grace_deadline <= now && !p.online)
      remove_participant(st, p, participant_status::left, "offline");
  }
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined || p.token_warn_at == 0
        || p.token_warn_at > now)
      continue;
    p.token_warn_at = 0;
    st.touch(p);
    auto ev = make_event(event_kind::token_expiring);
    ev.expires_at = to_unix_s(p.token_expires_at);
    st.emit({p.user}, std::move(ev));
  }
  if (m.expiry_warn_at != 0 && m.expiry_warn_at <= now) {
    m.expiry_warn_at = 0;
    st.touch_meeting();
    auto ev = make_event(event_kind::token_expiring);
    ev.expires_at = to_unix_s(m.expires_at);
    st.emit_to_participants(ev);
  }
  if (m.idle_deadline != 0 && m.idle_deadline <= now) {
    if (joined_count(m) == 0) {
      end_meeting(st, "idle");
    } else {
      m.idle_deadline = 0;
      st.touch_meeting();
    }
  }
  return st.finish();
}

std::optional<unix_ms> next_deadline(const meeting& m) {
  if (m.status != meeting_status::active)
    return std::nullopt;
  std::optional<unix_ms> next;
  auto consider = [&](unix_ms t) {
    if (t != 0 && (!next || t < *next))
      next = t;
  };
  consider(m.expires_at);
  consider(m.idle_deadline);
  consider(m.expiry_warn_at);
  for (auto& [id, inv] : m.invitations)
    if (inv.status == invitation_status::ringing)
      consider(inv.ring_deadline);
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined)
      continue;
    consider(p.grace_deadline);
    consider(p.token_warn_at);
  }
  return next;
}

effects channel_deleted(meeting& m) {
  effects out;
  if (!m.channel_deleted) {
    m.channel_deleted = true;
    out.changes.add(change::put_meeting{static_cast<const meeting_record&>(m)});
  }
  return out;
}

// -- views and helpers ---------------------------------------------------------------

proto::meeting_view view_of(const meeting& m) {
  proto::meeting_view v;
  v.meeting = m.id;
  v.title = m.title;
  v.host = host_of(m);
  v.channel = m.channel.id;
  v.status = m.status;
  v.end_reason = m.end_reason;
  v.created_at = to_unix_s(m.created_at);
  v.expires_at = to_unix_s(m.expires_at);
  v.locked = m.locked;
  v.policy = m.policy;
  v.max_participants = m.max_participants;
  for (auto& [id, p] : m.participants)
    v.participants.push_back(participant_view_of(p));
  for (auto& [id, inv] : m.invitations)
    v.invitations.push_back(proto::invitation_view{
      inv.invitee, inv.inviter, inv.status, to_unix_s(inv.ring_deadline)});
  return v;
}

std::string host_of(const meeting& m) {
  for (auto& [id, p] : m.participants)
    if (p.status == participant_status::joined && p.r == role::host)
      return id;
  if (m.status == meeting_status::ended)
    return m.host.empty() ? m.creator : m.host;
  return {};
}

std::vector<std::string> joined_users(const meeting& m) {
  std::vector<std::string> result;
  for (auto& [id, p] : m.participants)
    if (p.status == participant_status::joined)
      result.push_back(id);
  return result;
}

std::optional<proto::reply> refusal_if_ended(meeting_status status, std::string_view end_reason,
                                             proto::command_kind kind) {
  if (status != meeting_status::ended || proto::reads_meeting(kind))
    return std::nullopt;
  return ended_meeting_reply(end_reason);
}

proto::reply ended_meeting_reply(std::string_view end_reason) {
  if (end_reason == "expired")
    return refuse(refusal::meeting_expired,
                       "the meeting's channel expired; create a new meeting");
  return refuse(refusal::meeting_ended,
                     "the meeting has ended; create a new meeting");
}

proto::reply rtc_failure_reply(const rtc::failure& f) {
  auto detail = f.message.empty() ? f.code : f.code + ": " + f.message;
  if (!f.request_id.empty())
    detail += " (RequestId " + f.request_id + ")";
  if (f.kind == rtc::failure_kind::unavailable)
    return refuse(refusal::rtc_unavailable,
                       "the RTC service could not be reached, nothing changed; "
                       "try again later. " + detail);
  return refuse_about(refusal::rtc_error, f.code,
                     "the RTC service refused the call: " + detail);
}

proto::credentials make_credentials(const meeting& m, const std::string& user,
                                    const std::string& session,
                                    unix_ms token_expires_at,
                                    const meeting_settings& s) {
  proto::credentials c;
  c.appid = s.app_id;
  c.channel = m.channel.id;
  c.meeting = m.id;
  // A participant keeps the id it first had (rows from before ids were
  // derived keep theirs); an invitee gets the id it will have.
  auto p = m.participants.find(user);
  c.userid = p != m.participants.end() ? p->second.rtc_user : rtc::rtc_user_id(user);
  c.gslb = s.gslb;
  c.session = session;
  if (m.scheme == token_scheme::channel) {
    c.nonce = m.channel.nonce;
    c.timestamp = m.channel.timestamp;
    c.token = rtc::channel_token(c.channel, m.channel.key, c.appid, c.userid,
                                 c.session, c.nonce, c.timestamp);
  } else {
    c.nonce = s.appkey_nonce;
    c.timestamp = to_unix_s(token_expires_at);
    c.token = rtc::appkey_token(c.appid, s.app_key, c.channel, c.userid, c.nonce,
                                c.timestamp);
  }
  c.turn_username = c.userid + "?appid=" + c.appid + "&session=" + c.session
                    + "&channel=" + c.channel + "&nonce=" + c.nonce
                    + "&timestamp=" + std::to_string(c.timestamp);
  c.turn_password = c.token;
  return c;
}

meeting_update update_of(const meeting& m, std::vector<membership_change> changes) {
  meeting_update u;
  u.summary.meeting = m.id;
  u.summary.title = m.title;
  u.summary.host = host_of(m);
  u.summary.status = m.status;
  u.summary.participants = static_cast<int>(joined_users(m).size());
  u.summary.created_at = to_unix_s(m.created_at);
  u.summary.expires_at = to_unix_s(m.expires_at);
  u.ended_at = m.ended_at;
  u.end_reason = m.end_reason;
  for (auto& [id, inv] : m.invitations)
    if (inv.status == invitation_status::ringing)
      ++u.ringing;
  u.memberships = std::move(changes);
  return u;
}

webhook_event call_record_of(const meeting& m) {
  webhook_event ev;
  ev.type = webhook_type::meeting_ended;
  ev.reason = m.end_reason;
  ev.duration_s = std::max<std::int64_t>(0, m.ended_at - m.created_at) / 1000;
  std::vector<const participant*> joined;
  for (auto& [id, p] : m.participants)
    if (p.first_joined_at != 0)
      joined.push_back(&p);
  // In the order they first joined, as the call_records view lists them.
  std::sort(joined.begin(), joined.end(),
            [](const participant* a, const participant* b) { return a->order < b->order; });
  for (auto* p : joined)
    ev.seconds.emplace_back(p->user, p->in_call_ms / 1000);
  return ev;
}

changeset full_changeset(const meeting& m) {
  changeset cs;
  cs.add(change::put_meeting{static_cast<const meeting_record&>(m)});
  for (auto& [id, p] : m.participants)
    cs.add(change::put_participant{m.id, p});
  for (auto& [id, inv] : m.invitations)
    cs.add(change::put_invitation{m.id, inv});
  return cs;
}

} // namespace meetingd
