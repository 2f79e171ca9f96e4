// libFuzzer target for the meeting's functional core: the input is read as a
// script of steps (commands from a small cast of users, time passing,
// presence changes, RTC answers to kicks), played against one meeting. After
// every step the invariants of docs/protocol.md §7 must hold:
//   - a refused command changes nothing but what due timers did;
//   - while anyone is in an active meeting, exactly one of them is host;
//   - the changeset written equals the rows in memory;
//   - no deadline is left due after the timers fired.
// Any violation aborts, which libFuzzer reports with the input.
#include "actors/core/meeting_core.hpp"
#include "actors/core/rtc_outcome.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace meetingd;

namespace {

const char* const cast[] = {"alice", "bob", "carol", "dave", "erin"};
constexpr int cast_size = 5;

struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool done() const {
    return at >= size;
  }
  std::uint8_t byte() {
    return at < size ? data[at++] : 0;
  }
  int pick(int n) {
    return byte() % n;
  }
};

[[noreturn]] void fail(const char* what, const meeting& m) {
  std::fprintf(stderr, "invariant violated: %s (meeting %s)\n", what, m.id.c_str());
  std::abort();
}

/// A full copy of the rows, comparable.
std::string rows(const meeting& m) {
  std::string out;
  auto add = [&](const std::string& s) {
    out += s;
    out += '|';
  };
  add(m.title);
  add(to_string(m.status));
  add(m.end_reason);
  add(std::to_string(m.idle_deadline) + "," + std::to_string(m.expiry_warn_at) + ","
      + std::to_string(m.locked) + "," + std::to_string(m.channel_deleted) + ","
      + std::to_string(m.next_order));
  for (auto& [id, p] : m.participants)
    add(id + ":" + to_string(p.r) + ":" + to_string(p.status) + ":" + std::to_string(p.online)
        + ":" + std::to_string(p.grace_deadline) + ":" + p.session + ":"
        + std::to_string(p.audio_muted) + std::to_string(p.video_muted) + ":"
        + std::to_string(p.token_warn_at));
  for (auto& [id, i] : m.invitations)
    add(id + ":" + to_string(i.status) + ":" + std::to_string(i.ring_deadline) + ":"
        + i.session);
  return out;
}

void check_host(const meeting& m) {
  if (m.status != meeting_status::active)
    return;
  int joined = 0;
  int hosts = 0;
  for (auto& [id, p] : m.participants) {
    if (p.status != participant_status::joined)
      continue;
    ++joined;
    hosts += p.r == role::host;
  }
  if (joined > 0 && hosts != 1)
    fail("exactly one host while anyone is in the meeting", m);
}

void check_changes(const meeting& m, const effects& fx) {
  for (auto& c : fx.changes.changes) {
    if (auto pp = std::get_if<change::put_participant>(&c)) {
      auto i = m.participants.find(pp->row.user);
      if (i == m.participants.end() || i->second.status != pp->row.status
          || i->second.r != pp->row.r || i->second.session != pp->row.session)
        fail("a participant row differs from memory", m);
    } else if (auto pi = std::get_if<change::put_invitation>(&c)) {
      auto i = m.invitations.find(pi->row.invitee);
      if (i == m.invitations.end() || i->second.status != pi->row.status)
        fail("an invitation row differs from memory", m);
    } else if (auto pm = std::get_if<change::put_meeting>(&c)) {
      if (pm->row.status != m.status || pm->row.locked != m.locked
          || pm->row.idle_deadline != m.idle_deadline)
        fail("the meeting row differs from memory", m);
    }
  }
}

proto::command make(reader& in, const meeting& m) {
  using k = proto::command_kind;
  static const k kinds[] = {k::meeting_join,       k::meeting_leave,      k::meeting_end,
                            k::meeting_get,        k::meeting_renew,      k::call_invite,
                            k::call_ringing,       k::call_accept,        k::call_decline,
                            k::call_cancel,        k::moderate_kick,      k::moderate_mute,
                            k::moderate_unmute,    k::moderate_mute_all,  k::moderate_unmute_all,
                            k::moderate_lock,      k::moderate_unlock,    k::moderate_set_role,
                            k::rtc_event,          k::admin_kick,         k::admin_meeting_end,
                            k::admin_mute_all};
  proto::command c;
  c.kind = kinds[in.pick(sizeof kinds / sizeof kinds[0])];
  c.meeting = m.id;
  c.user = cast[in.pick(cast_size)];
  int n = in.pick(3);
  for (int i = 0; i < n; ++i)
    c.users.push_back(cast[in.pick(cast_size)]);
  if (in.pick(2))
    c.audio = in.pick(2) == 1;
  if (in.pick(2))
    c.video = in.pick(2) == 1;
  c.new_role = static_cast<role>(in.pick(3));
  c.event = static_cast<sdk_event>(in.pick(8));
  return c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  meeting_settings s;
  s.app_id = "fuzz";
  s.scheme = in.pick(2) ? token_scheme::channel : token_scheme::appkey;
  s.app_key = "key";
  s.max_participants = 2 + in.pick(4);
  s.webhooks = in.pick(4) != 0;
  unix_ms now = 1'000'000'000'000;
  int sessions = 0;
  auto ctx = [&] {
    return core_context{now, &s, [&] { return "s-" + std::to_string(++sessions); }};
  };
  std::vector<user_fact> facts;
  for (int i = 0; i < cast_size; ++i)
    facts.push_back({cast[i], true, false, true});
  meeting m;
  proto::command create;
  create.kind = proto::command_kind::meeting_create;
  create.users = {"bob", "carol"};
  auto created = create_meeting(m, "m-fuzz", channel_info{"m-fuzz", "key", "nonce", 1},
                                caller{"alice", "c-alice"}, create, facts, ctx());
  check_host(m);
  // Webhook events are numbered 1, 2, ... without gaps over the whole
  // meeting, and nobody is in the call longer than the meeting lasted.
  std::int64_t next_seq = 1;
  auto check_webhooks = [&](const effects& fx) {
    for (auto& w : fx.webhooks)
      if (!s.webhooks || w.seq != next_seq++ || w.meeting != m.id)
        fail("a webhook event out of sequence", m);
    if (m.next_event != next_seq)
      fail("the meeting's event counter disagrees with its events", m);
    for (auto& [id, p] : m.participants)
      if (p.in_call_ms < 0 || p.in_call_ms > now - m.created_at)
        fail("a participant's time in the call is impossible", m);
  };
  check_webhooks(created);
  while (!in.done()) {
    switch (in.pick(8)) {
      case 0: { // time passes: up to ~70 s, sometimes hours
        now += in.pick(2) ? in.byte() * 300 : in.byte() * 1000 * 60 * 15;
        auto fx = fire_due_timers(m, ctx());
        check_changes(m, fx);
        check_webhooks(fx);
        if (auto next = next_deadline(m); next && *next <= now)
          fail("a deadline is still due after the timers fired", m);
        break;
      }
      case 1: { // presence
        auto fx = presence_changed(m, cast[in.pick(cast_size)], in.pick(2) == 1, ctx());
        check_changes(m, fx);
        check_webhooks(fx);
        break;
      }
      default: { // a command
        bool admin = in.pick(10) == 0;
        caller who{admin ? "" : cast[in.pick(cast_size)], "c-" + std::to_string(in.pick(3)), admin};
        auto cmd = make(in, m);
        meeting settled = m;
        auto due = fire_due_timers(settled, ctx());
        auto before = rows(settled);
        auto fx = handle_command(m, who, cmd, facts, ctx());
        if (!fx.remove_terminals.empty()) {
          if (rows(m) != before)
            fail("a kick changed state before RemoveTerminals answered", m);
          // What deadlines did before the kick is the actor's to commit first.
          check_changes(m, fx);
          check_webhooks(fx);
          rtc::answer a;
          if (in.pick(3) == 0)
            a.error = rtc::failure{rtc::failure_kind::refused, 403, "Forbidden", "no", "r"};
          fx = complete_kick(m, who, cmd, a, ctx());
          if (a.error && rows(m) != before)
            fail("a refused kick changed state", m);
        } else if (fx.reply && fx.reply->code != 0 && rows(m) != before) {
          fail("a refused command changed state", m);
        }
        if (!fx.reply)
          fail("a command got no reply", m);
        check_changes(m, fx);
        check_webhooks(fx);
        break;
      }
    }
    check_host(m);
  }
  return 0;
}
