// The meeting's rules (actors/meeting_core.*) tested directly: plain functions
// over a `meeting`, a hand-driven clock and a counter for session ids.
//
// Every step goes through `run`/`tick`/`presence`, which check two things on
// top of what each test asserts:
//  - a refused command (code != 0) changes nothing: the meeting serialised
//    before and after is identical, and the effects carry no changes, no
//    events, no membership changes, no RTC calls;
//  - an accepted step's changeset matches the state after it: every row it
//    puts equals the row in memory, and every row that changed in memory is
//    in the changeset (so the store never lags behind the actor).
//
// Decided semantics (documented here because the core leaves it to ordering):
// the meeting actor processes its mailbox in order and does not fire timers
// before a command, so at the very instant of a ring deadline whichever of
// `fire_due_timers` and `call.accept` is processed first wins: timers first
// -> the accept is refused with 410 invitation_expired; accept first -> it
// succeeds and the later timer finds nothing ringing (RingRace tests).
#include "actors/core/meeting_core.hpp"
#include "actors/core/rtc_token.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace meetingd;
using proto::command_kind;
using proto::event_kind;
using namespace std::chrono_literals;

namespace {

constexpr unix_ms t0 = 1'700'000'000'000; // a whole second

// -- serialising the state ------------------------------------------------------------
//
// Each dump binds every field of its record by name (a structured binding must
// name them all), so a field added to the record stops this file compiling
// until it is dumped here too: the checks below cannot go blind to it.

std::string dump(const channel_info& c) {
  const auto& [id, key, nonce, timestamp] = c;
  std::ostringstream o;
  o << id << "/" << key << "/" << nonce << "/" << timestamp;
  return o.str();
}

std::string dump(const meeting_record& r) {
  const auto& [id, title, creator, host, channel, scheme, status, end_reason, created_at,
               expires_at, ended_at, idle_deadline, expiry_warn_at, locked, policy,
               max_participants, channel_deleted, next_order, next_event] = r;
  std::ostringstream o;
  o << "meeting{id=" << id << " title=" << title << " creator=" << creator
    << " host=" << host << " channel=" << dump(channel) << " scheme=" << to_string(scheme)
    << " status=" << to_string(status) << " end_reason=" << end_reason
    << " created_at=" << created_at << " expires_at=" << expires_at
    << " ended_at=" << ended_at << " idle_deadline=" << idle_deadline
    << " expiry_warn_at=" << expiry_warn_at << " locked=" << locked
    << " policy=" << to_string(policy) << " max=" << max_participants
    << " channel_deleted=" << channel_deleted << " next_order=" << next_order
    << " next_event=" << next_event << "}";
  return o.str();
}

std::string dump(const participant& p) {
  const auto& [user, rtc_user, r, status, order, joined_at, left_at, left_reason, kicked_by,
               audio_muted, video_muted, online, network_lost, grace_deadline, session,
               token_expires_at, token_warn_at, first_joined_at, in_call_ms] = p;
  std::ostringstream o;
  o << "participant{user=" << user << " rtc=" << rtc_user << " role=" << to_string(r)
    << " status=" << to_string(status) << " order=" << order
    << " joined_at=" << joined_at << " left_at=" << left_at
    << " left_reason=" << left_reason << " kicked_by=" << kicked_by
    << " audio_muted=" << audio_muted << " video_muted=" << video_muted
    << " online=" << online << " network_lost=" << network_lost
    << " grace=" << grace_deadline << " session=" << session
    << " token_expires_at=" << token_expires_at << " token_warn_at=" << token_warn_at
    << " first_joined_at=" << first_joined_at << " in_call_ms=" << in_call_ms << "}";
  return o.str();
}

std::string dump(const invitation& i) {
  const auto& [invitee, inviter, status, created_at, ring_deadline, answered_at, session,
               delivered] = i;
  std::ostringstream o;
  o << "invitation{invitee=" << invitee << " inviter=" << inviter
    << " status=" << to_string(status) << " created_at=" << created_at
    << " ring_deadline=" << ring_deadline << " answered_at=" << answered_at
    << " session=" << session << " delivered=" << delivered << "}";
  return o.str();
}

std::string dump(const meeting& m) {
  std::string s = dump(static_cast<const meeting_record&>(m)) + "\n";
  for (auto& [id, p] : m.participants)
    s += id + ": " + dump(p) + "\n";
  for (auto& [id, i] : m.invitations)
    s += id + ": " + dump(i) + "\n";
  return s;
}

/// The rows of a changeset, serialised; what the store would end up with.
std::string dump(const changeset& cs) {
  std::string s;
  for (auto& c : cs.changes)
    std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, change::put_meeting>)
          s += dump(x.row) + "\n";
        else if constexpr (std::is_same_v<T, change::put_participant>)
          s += x.meeting + "/" + dump(x.row) + "\n";
        else if constexpr (std::is_same_v<T, change::put_invitation>)
          s += x.meeting + "/" + dump(x.row) + "\n";
        else
          s += "other change\n";
      },
      c);
  return s;
}

/// Checks that `cs` brings the store from `before` to `after`.
void check_changes(const meeting& before, const meeting& after, const changeset& cs) {
  bool meeting_put = false;
  std::set<std::string> parts;
  std::set<std::string> invs;
  // A participant or invitation row: put once, for this meeting, as it now is.
  auto check_row_put = [&after](const std::string& meeting, const auto& row,
                                const std::string& key, const auto& rows_after,
                                std::set<std::string>& put, const char* what) {
    EXPECT_EQ(meeting, after.id);
    EXPECT_TRUE(put.insert(key).second) << what << " put twice: " << key;
    auto i = rows_after.find(key);
    ASSERT_NE(i, rows_after.end()) << what << " put but not in the meeting: " << key;
    EXPECT_EQ(dump(row), dump(i->second));
  };
  for (auto& c : cs.changes) {
    std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, change::put_meeting>) {
          EXPECT_FALSE(meeting_put) << "meeting row put twice";
          meeting_put = true;
          EXPECT_EQ(dump(x.row), dump(static_cast<const meeting_record&>(after)));
        } else if constexpr (std::is_same_v<T, change::put_participant>) {
          check_row_put(x.meeting, x.row, x.row.user, after.participants, parts, "participant");
        } else if constexpr (std::is_same_v<T, change::put_invitation>) {
          check_row_put(x.meeting, x.row, x.row.invitee, after.invitations, invs, "invitation");
        } else {
          ADD_FAILURE() << "a meeting step produced a non-meeting change";
        }
      },
      c);
  }
  if (dump(static_cast<const meeting_record&>(before))
      != dump(static_cast<const meeting_record&>(after))) {
    EXPECT_TRUE(meeting_put) << "meeting row changed but not in the changeset:\n"
                             << dump(static_cast<const meeting_record&>(after));
  }
  // Rows are never deleted, and every row that is new or changed was put.
  auto check_rows_kept = [](const auto& rows_before, const auto& rows_after,
                            const std::set<std::string>& put, const char* what) {
    for (auto& [id, row] : rows_before)
      EXPECT_TRUE(rows_after.count(id)) << what << " vanished: " << id;
    for (auto& [id, row] : rows_after) {
      auto b = rows_before.find(id);
      if (b == rows_before.end() || dump(b->second) != dump(row)) {
        EXPECT_TRUE(put.count(id)) << what << " changed but not in the changeset: " << dump(row);
      }
    }
  };
  check_rows_kept(before.participants, after.participants, parts, "participant");
  check_rows_kept(before.invitations, after.invitations, invs, "invitation");
}

// -- effects ------------------------------------------------------------------------

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

using names = std::vector<std::string>;

std::vector<const outgoing_event*> events_of(const effects& fx, event_kind k) {
  std::vector<const outgoing_event*> result;
  for (auto& e : fx.events)
    if (e.ev.kind == k)
      result.push_back(&e);
  return result;
}

/// The one event of kind `k`; nullptr (and a failure) if not exactly one.
const outgoing_event* one_event(const effects& fx, event_kind k) {
  auto xs = events_of(fx, k);
  if (xs.size() != 1) {
    ADD_FAILURE() << "expected exactly one " << proto::to_string(k) << ", got "
                  << xs.size();
    return nullptr;
  }
  return xs.front();
}

/// one_event, checking too that it goes to `recipients` (in any order).
const outgoing_event* one_event_to(const effects& fx, event_kind k, const names& recipients) {
  auto ev = one_event(fx, k);
  if (ev) {
    EXPECT_EQ(sorted(ev->users), sorted(recipients)) << "recipients of " << proto::to_string(k);
  }
  return ev;
}

/// Users that get an event of kind `k` (over all such events), sorted.
names recipients(const effects& fx, event_kind k) {
  names result;
  for (auto e : events_of(fx, k))
    result.insert(result.end(), e->users.begin(), e->users.end());
  return sorted(result);
}

std::string kinds(const effects& fx) {
  std::string s;
  for (auto& e : fx.events)
    s += std::string{proto::to_string(e.ev.kind)} + " ";
  return s;
}

#define EXPECT_OK(fx)                                                          \
  do {                                                                         \
    const auto& fx_ = (fx);                                                    \
    EXPECT_TRUE(fx_.reply.has_value()) << "no reply";                          \
    if (fx_.reply) {                                                           \
      EXPECT_EQ(fx_.reply->code, 0) << fx_.reply->reason << ": " << fx_.reply->message; \
    }                                                                          \
  } while (false)

#define EXPECT_REFUSED(fx, want_code, want_reason)                             \
  do {                                                                         \
    const auto& fx_ = (fx);                                                    \
    EXPECT_TRUE(fx_.reply.has_value()) << "no reply";                          \
    if (fx_.reply) {                                                           \
      EXPECT_EQ(fx_.reply->code, want_code) << fx_.reply->reason;              \
      EXPECT_EQ(fx_.reply->reason, want_reason);                               \
    }                                                                          \
  } while (false)

template <class T>
const T* data_of(const effects& fx) {
  if (!fx.reply)
    return nullptr;
  return std::get_if<T>(&fx.reply->data);
}

// -- callers and commands -----------------------------------------------------------

caller dev(const std::string& user, const std::string& device = "phone") {
  return caller{user, "GID_MEETING_DOWN@@@" + user + "-" + device, false};
}

caller admin_console() {
  return caller{"", "console-1", true};
}

proto::command make_cmd(command_kind k, const std::string& meeting) {
  proto::command c;
  c.kind = k;
  c.meeting = meeting;
  return c;
}

// -- the fixture --------------------------------------------------------------------

class meeting_core_test : public ::testing::Test {
public:
  meeting_settings s;
  unix_ms now = t0;
  int sessions = 0;
  meeting m;
  std::map<std::string, user_fact> known;

  meeting_core_test() {
    s.app_id = "g10dhbxp";
    for (auto u : {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"})
      known[u] = user_fact{u, true, false, true};
  }

  core_context ctx() {
    return core_context{now, &s, [this] {
                          char buf[32];
                          std::snprintf(buf, sizeof buf, "sess-%04d", ++sessions);
                          return std::string{buf};
                        }};
  }

  std::vector<user_fact> facts_for(const proto::command& c) {
    std::vector<user_fact> result;
    auto add = [&](const std::string& u) {
      if (u.empty())
        return;
      auto i = known.find(u);
      result.push_back(i != known.end() ? i->second : user_fact{u, false, false, false});
    };
    for (auto& u : c.users)
      add(u);
    add(c.user);
    return result;
  }

  /// Checks the generic properties of a step (see the file comment).
  /// `due`: what the timers due at ctx().now did at the start of the step
  /// (commands fire them first); a refused step may contain only that.
  void check_step(const meeting& before, const effects& fx, const effects* due = nullptr) {
    bool refused = fx.reply && fx.reply->code != 0;
    bool pending_kick = !fx.remove_terminals.empty();
    if (refused || pending_kick) {
      EXPECT_EQ(dump(m), dump(before)) << "a refused step changed the meeting";
      if (due) {
        EXPECT_EQ(dump(fx.changes), dump(due->changes));
        EXPECT_EQ(fx.events.size(), due->events.size()) << kinds(fx);
        EXPECT_EQ(fx.webhooks.size(), due->webhooks.size());
        EXPECT_EQ(fx.memberships.size(), due->memberships.size());
        EXPECT_EQ(fx.delete_channel, due->delete_channel);
      } else {
        EXPECT_TRUE(fx.changes.empty()) << dump(fx.changes);
        EXPECT_TRUE(fx.events.empty()) << kinds(fx);
        EXPECT_TRUE(fx.memberships.empty());
        EXPECT_FALSE(fx.delete_channel);
        EXPECT_TRUE(fx.webhooks.empty());
      }
      if (refused) {
        EXPECT_TRUE(fx.remove_terminals.empty());
      }
      if (pending_kick) {
        EXPECT_FALSE(fx.reply.has_value());
      }
      return;
    }
    check_changes(before, m, fx.changes);
    for (auto& e : fx.events) {
      EXPECT_FALSE(e.users.empty()) << proto::to_string(e.ev.kind);
      EXPECT_EQ(e.ev.meeting, m.id) << proto::to_string(e.ev.kind);
    }
    check_webhooks(before, fx);
  }

  /// Webhook events: only when enabled, numbered on from the meeting's
  /// counter without gaps, stamped now; all of them are collected in
  /// `webhooks_seen` for the tests that follow a whole call.
  std::vector<webhook_event> webhooks_seen;
  void check_webhooks(const meeting& before, const effects& fx) {
    if (!s.webhooks) {
      EXPECT_TRUE(fx.webhooks.empty());
      return;
    }
    auto expected = before.id.empty() ? 1 : before.next_event;
    for (auto& w : fx.webhooks) {
      EXPECT_EQ(w.meeting, m.id);
      EXPECT_EQ(w.seq, expected++);
      EXPECT_EQ(w.at, now);
      webhooks_seen.push_back(w);
    }
    EXPECT_EQ(m.next_event, expected);
  }
  /// The types and subjects of the webhooks seen so far: "participant.left:bob:kicked".
  names webhook_log() {
    names out;
    for (auto& w : webhooks_seen) {
      std::string line = to_string(w.type);
      for (auto* part : {&w.user, &w.reason, &w.outcome})
        if (!part->empty())
          line += ":" + *part;
      out.push_back(line);
    }
    return out;
  }

  effects run(const caller& who, const proto::command& c) {
    // The state after the due timers: what a refused command must leave.
    meeting settled = m;
    auto due = fire_due_timers(settled, ctx());
    auto fx = handle_command(m, who, c, facts_for(c), ctx());
    check_step(settled, fx, &due);
    return fx;
  }

  effects create(const std::string& host = "alice", names invitees = {},
                 std::optional<int> max_participants = std::nullopt,
                 std::optional<invite_policy> policy = std::nullopt,
                 std::string id = "m-1", channel_info chan = {}) {
    auto c = make_cmd(command_kind::meeting_create, "");
    c.title = "standup";
    c.users = std::move(invitees);
    c.requested_id = id;
    c.max_participants = max_participants;
    c.policy = policy;
    if (chan.id.empty())
      chan = channel_info{id, "d3adbeefchannelkey", "AK-5f2c9e", 1764000000};
    if (s.scheme == token_scheme::appkey)
      chan = channel_info{id, {}, {}, 0};
    EXPECT_FALSE(check_create(c, ctx()).has_value());
    meeting before;
    auto fx = create_meeting(m, id, chan, dev(host), c, facts_for(c), ctx());
    EXPECT_OK(fx);
    check_changes(before, m, fx.changes);
    check_webhooks(before, fx);
    return fx;
  }

  effects simple(command_kind k, const caller& who) {
    return run(who, make_cmd(k, m.id));
  }
  effects join(const std::string& user, const std::string& device = "phone") {
    return simple(command_kind::meeting_join, dev(user, device));
  }
  effects leave(const std::string& user) {
    return simple(command_kind::meeting_leave, dev(user));
  }
  effects renew(const std::string& user) {
    return simple(command_kind::meeting_renew, dev(user));
  }
  effects invite(const std::string& by, names users) {
    auto c = make_cmd(command_kind::call_invite, m.id);
    c.users = std::move(users);
    return run(dev(by), c);
  }
  effects accept(const std::string& user, const std::string& device = "phone") {
    return simple(command_kind::call_accept, dev(user, device));
  }
  effects decline(const std::string& user, std::optional<std::string> reason = {},
                  const std::string& device = "phone") {
    auto c = make_cmd(command_kind::call_decline, m.id);
    c.reason = std::move(reason);
    return run(dev(user, device), c);
  }
  effects ringing(const std::string& user) {
    return simple(command_kind::call_ringing, dev(user));
  }
  effects cancel(const std::string& by, names users = {}) {
    auto c = make_cmd(command_kind::call_cancel, m.id);
    c.users = std::move(users);
    return run(dev(by), c);
  }
  effects with_user(command_kind k, const caller& who, const std::string& user) {
    auto c = make_cmd(k, m.id);
    c.user = user;
    return run(who, c);
  }
  effects set_role(const std::string& by, const std::string& user, role r) {
    auto c = make_cmd(command_kind::moderate_set_role, m.id);
    c.user = user;
    c.new_role = r;
    return run(dev(by), c);
  }
  effects mute(const std::string& by, const std::string& user, bool on,
               std::optional<bool> audio = {}, std::optional<bool> video = {}) {
    auto c = make_cmd(on ? command_kind::moderate_mute : command_kind::moderate_unmute, m.id);
    c.user = user;
    c.audio = audio;
    c.video = video;
    return run(dev(by), c);
  }
  effects rtc_event(const std::string& user, sdk_event e,
                    const std::string& device = "phone") {
    auto c = make_cmd(command_kind::rtc_event, m.id);
    c.event = e;
    return run(dev(user, device), c);
  }

  /// The first half of a kick; expects remove_terminals for a joined target.
  effects kick_start(const caller& who, const std::string& user,
                     command_kind k = command_kind::moderate_kick) {
    return with_user(k, who, user);
  }
  effects kick_complete(const caller& who, const std::string& user,
                        rtc::answer answer = {},
                        command_kind k = command_kind::moderate_kick) {
    auto c = make_cmd(k, m.id);
    c.user = user;
    meeting settled = m;
    auto due = answer.error ? effects{} : fire_due_timers(settled, ctx());
    auto fx = complete_kick(m, who, c, answer, ctx());
    check_step(settled, fx, &due);
    return fx;
  }
  /// A whole kick of a joined user that RemoveTerminals accepted.
  effects kick(const caller& who, const std::string& user) {
    auto first = kick_start(who, user);
    if (first.reply)
      return first;
    EXPECT_EQ(first.remove_terminals, names{m.participants.at(user).rtc_user});
    return kick_complete(who, user);
  }

  effects tick() {
    meeting before = m;
    auto fx = fire_due_timers(m, ctx());
    check_step(before, fx);
    EXPECT_FALSE(fx.reply.has_value());
    if (auto next = next_deadline(m)) {
      EXPECT_GT(*next, now) << "a deadline is still due after fire_due_timers";
    }
    return fx;
  }
  effects tick_at(unix_ms t) {
    now = t;
    return tick();
  }
  effects presence(const std::string& user, bool online) {
    meeting settled = m;
    auto due = fire_due_timers(settled, ctx());
    auto fx = presence_changed(m, user, online, ctx());
    check_step(settled, fx, &due);
    return fx;
  }

  const participant& p(const std::string& user) {
    return m.participants.at(user);
  }
  const invitation& inv(const std::string& user) {
    return m.invitations.at(user);
  }
  int hosts_joined() {
    int n = 0;
    for (auto& [id, x] : m.participants)
      if (x.status == participant_status::joined && x.r == role::host)
        ++n;
    return n;
  }
  void expect_one_host() {
    if (m.status != meeting_status::active)
      return;
    EXPECT_EQ(hosts_joined(), joined_users(m).empty() ? 0 : 1) << dump(m);
    for (auto& [id, x] : m.participants)
      if (x.status != participant_status::joined) {
        EXPECT_NE(x.r, role::host) << "a host outside the meeting: " << id;
      }
  }
};

// -- the harness itself ---------------------------------------------------------------

TEST_F(meeting_core_test, harness_catches_unrecorded_and_refused_changes) {
  create();
  meeting before = m;
  m.participants.at("alice").audio_muted = true;
  EXPECT_NONFATAL_FAILURE(check_changes(before, m, changeset{}),
                          "participant changed but not in the changeset");
  before = m;
  m.locked = true;
  EXPECT_NONFATAL_FAILURE(check_changes(before, m, changeset{}), "meeting row changed");
  changeset stale;
  stale.add(change::put_meeting{static_cast<const meeting_record&>(before)});
  EXPECT_NONFATAL_FAILURE(check_changes(before, m, stale), "locked=");
  before = m;
  m.title = "changed";
  effects refused;
  refused.reply = proto::fail(std::nullopt, 403, "not_host", "no");
  EXPECT_NONFATAL_FAILURE(check_step(before, refused), "a refused step changed the meeting");
}

// -- create -------------------------------------------------------------------------

TEST_F(meeting_core_test, create_makes_caller_joined_host) {
  auto fx = create();
  EXPECT_EQ(host_of(m), "alice");
  EXPECT_EQ(p("alice").r, role::host);
  EXPECT_EQ(p("alice").status, participant_status::joined);
  EXPECT_EQ(p("alice").rtc_user, rtc::rtc_user_id("alice"));
  EXPECT_EQ(m.creator, "alice");
  EXPECT_EQ(m.title, "standup");
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_EQ(m.created_at, now);
  EXPECT_EQ(m.expires_at, now + std::chrono::milliseconds{48h}.count());
  EXPECT_EQ(m.max_participants, s.max_participants);
  EXPECT_EQ(m.policy, invite_policy::anyone);
  EXPECT_EQ(m.idle_deadline, 0);
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_EQ(fx.memberships[0].user, "alice");
  EXPECT_TRUE(fx.memberships[0].joined);
  EXPECT_TRUE(fx.events.empty()) << kinds(fx);
  EXPECT_FALSE(fx.delete_channel);
  EXPECT_TRUE(fx.remove_terminals.empty());
  auto d = data_of<proto::create_data>(fx);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->meeting, "m-1");
  EXPECT_EQ(d->channel, "m-1");
  EXPECT_EQ(d->expires_at, to_unix_s(m.expires_at));
  EXPECT_TRUE(d->invitations.empty());
  // The changeset is the whole meeting.
  EXPECT_EQ(dump(fx.changes), dump(full_changeset(m)));
}

TEST_F(meeting_core_test, create_credentials_channel_scheme_match_protocol_vector) {
  auto fx = create("alice", {}, {}, {}, "m-8f3a",
                   channel_info{"room-42", "d3adbeefchannelkey", "AK-5f2c9e", 1764000000});
  auto d = data_of<proto::create_data>(fx);
  ASSERT_NE(d, nullptr);
  auto& c = d->creds;
  EXPECT_EQ(c.appid, "g10dhbxp");
  EXPECT_EQ(c.channel, "room-42");
  EXPECT_EQ(c.meeting, "m-8f3a");
  // The RTC user id is derived from the user, of fixed length (the token
  // formula itself is checked against its vector in rtc_token_test.cpp).
  auto alice_rtc = rtc::rtc_user_id("alice");
  EXPECT_EQ(c.userid, alice_rtc);
  EXPECT_EQ(c.gslb, names{"https://rgslb.rtc.aliyuncs.com"});
  EXPECT_EQ(c.session, "sess-0001");
  EXPECT_EQ(c.nonce, "AK-5f2c9e");
  EXPECT_EQ(c.timestamp, 1764000000);
  EXPECT_EQ(c.token, rtc::channel_token("room-42", "d3adbeefchannelkey", "g10dhbxp", alice_rtc,
                                        "sess-0001", "AK-5f2c9e", 1764000000));
  EXPECT_EQ(c.turn_username, alice_rtc + "?appid=g10dhbxp&session=sess-0001&channel=room-42"
                                         "&nonce=AK-5f2c9e&timestamp=1764000000");
  EXPECT_EQ(c.turn_password, c.token);
  EXPECT_EQ(p("alice").session, "sess-0001");
  // Scheme channel: the token lives as long as the channel.
  EXPECT_EQ(p("alice").token_expires_at, m.expires_at);
  EXPECT_EQ(d->channel, "room-42");
  // The channel key never leaves the node: not in any credentials field.
  for (auto& field : {c.appid, c.channel, c.meeting, c.userid, c.session, c.token, c.nonce,
                      c.turn_username, c.turn_password})
    EXPECT_EQ(field.find("d3adbeefchannelkey"), std::string::npos);
}

TEST_F(meeting_core_test, create_credentials_appkey_scheme_match_protocol_vector) {
  s.scheme = token_scheme::appkey;
  s.app_id = "abc";
  s.app_key = "abckey";
  s.gslb = {"https://a.example", "https://b.example"};
  now = (1699423634 - 24 * 3600) * 1000LL;
  auto fx = create("abcUser", {}, {}, {}, "abcChannel");
  auto d = data_of<proto::create_data>(fx);
  ASSERT_NE(d, nullptr);
  auto& c = d->creds;
  EXPECT_EQ(c.appid, "abc");
  EXPECT_EQ(c.channel, "abcChannel");
  auto user_rtc = rtc::rtc_user_id("abcUser");
  EXPECT_EQ(c.userid, user_rtc);
  EXPECT_EQ(c.gslb, (names{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.nonce, "");
  EXPECT_EQ(c.timestamp, 1699423634);
  EXPECT_EQ(c.timestamp, to_unix_s(now + s.token_ttl.count()));
  EXPECT_EQ(c.token, rtc::appkey_token("abc", "abckey", "abcChannel", user_rtc, "", 1699423634));
  EXPECT_EQ(c.turn_username, user_rtc + "?appid=abc&session=sess-0001&channel=abcChannel"
                                        "&nonce=&timestamp=1699423634");
  EXPECT_EQ(c.turn_password, c.token);
  EXPECT_EQ(p("abcUser").token_expires_at, now + s.token_ttl.count());
  EXPECT_EQ(p("abcUser").token_warn_at,
            now + s.token_ttl.count() - s.token_renew_before.count());
  EXPECT_EQ(c.token.find("abckey"), std::string::npos);
}

TEST_F(meeting_core_test, create_appkey_nonce_is_used_when_set) {
  s.scheme = token_scheme::appkey;
  s.app_key = "k";
  s.appkey_nonce = "N-1";
  auto fx = create();
  auto& c = data_of<proto::create_data>(fx)->creds;
  EXPECT_EQ(c.nonce, "N-1");
  EXPECT_EQ(c.token, rtc::appkey_token("g10dhbxp", "k", "m-1", rtc::rtc_user_id("alice"), "N-1",
                                       c.timestamp));
}

TEST_F(meeting_core_test, create_invitee_outcomes) {
  known["carol"].busy = true;
  known["dave"].online = false;
  struct row {
    std::string user;
    std::string outcome;
  };
  std::vector<row> table{{"bob", "ringing"},      {"carol", "busy"},
                         {"dave", "offline"},     {"zoe", "user_not_found"},
                         {"alice", "already_participant"}};
  names users;
  for (auto& r : table)
    users.push_back(r.user);
  auto fx = create("alice", users);
  auto d = data_of<proto::create_data>(fx);
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->invitations.size(), table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(d->invitations[i].user, table[i].user);
    EXPECT_EQ(d->invitations[i].status, table[i].outcome) << table[i].user;
  }
  // Only the ringing invitee has an invitation (and a row for it).
  ASSERT_EQ(m.invitations.size(), 1u);
  EXPECT_EQ(inv("bob").status, invitation_status::ringing);
  EXPECT_EQ(inv("bob").inviter, "alice");
  EXPECT_EQ(inv("bob").ring_deadline, now + 45'000);
  // Exactly one event: event.invite to bob's online devices.
  ASSERT_EQ(fx.events.size(), 1u) << kinds(fx);
  auto ev = one_event_to(fx, event_kind::invite, {"bob"});
  ASSERT_NE(ev, nullptr);
  EXPECT_TRUE(ev->online_only);
  EXPECT_EQ(ev->except_client, "");
  EXPECT_EQ(ev->ev.from, "alice");
  EXPECT_EQ(ev->ev.title, "standup");
  EXPECT_EQ(ev->ev.ring_expires_at, to_unix_s(now + 45'000));
  ASSERT_TRUE(ev->ev.creds.has_value());
  auto& c = *ev->ev.creds;
  EXPECT_EQ(c.meeting, "m-1");
  EXPECT_EQ(c.channel, "m-1");
  EXPECT_EQ(c.userid, rtc::rtc_user_id("bob"));
  EXPECT_EQ(c.session, inv("bob").session);
  EXPECT_NE(c.session, p("alice").session);
  EXPECT_EQ(c.token, rtc::channel_token("m-1", "d3adbeefchannelkey", "g10dhbxp", rtc::rtc_user_id("bob"),
                                        c.session, "AK-5f2c9e", 1764000000));
  EXPECT_EQ(c.turn_password, c.token);
  // Rows: meeting, host participant, bob's invitation.
  EXPECT_EQ(dump(fx.changes), dump(full_changeset(m)));
  EXPECT_EQ(fx.changes.changes.size(), 3u);
}

TEST_F(meeting_core_test, check_create_refuses_bad_max_participants) {
  struct row {
    std::optional<int> max;
    bool ok;
  };
  for (auto r : std::vector<row>{{std::nullopt, true}, {2, true}, {1000, true}, {16, true},
                                 {1, false}, {0, false}, {-5, false}, {1001, false}}) {
    auto c = make_cmd(command_kind::meeting_create, "");
    c.requested_id = "m-1";
    c.max_participants = r.max;
    auto err = check_create(c, ctx());
    EXPECT_EQ(!err.has_value(), r.ok) << (r.max ? *r.max : -999);
    if (err) {
      EXPECT_EQ(err->code, 400);
      EXPECT_EQ(err->reason, "bad_value:args.max_participants");
    }
  }
}

TEST_F(meeting_core_test, create_keeps_max_participants_and_policy) {
  create("alice", {}, 3, invite_policy::hosts);
  EXPECT_EQ(m.max_participants, 3);
  EXPECT_EQ(m.policy, invite_policy::hosts);
  auto fx = simple(command_kind::meeting_get, dev("alice"));
  auto v = data_of<proto::meeting_view>(fx);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->max_participants, 3);
  EXPECT_EQ(v->policy, invite_policy::hosts);
}

// -- join / leave / rejoin ----------------------------------------------------------------

TEST_F(meeting_core_test, join_gives_credentials_and_participants_and_tells_others) {
  create();
  join("carol");
  now += 1000;
  auto fx = join("bob");
  EXPECT_OK(fx);
  auto d = data_of<proto::join_data>(fx);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->creds.userid, rtc::rtc_user_id("bob"));
  EXPECT_EQ(d->creds.meeting, "m-1");
  EXPECT_EQ(d->creds.session, p("bob").session);
  EXPECT_EQ(d->creds.token, rtc::channel_token("m-1", "d3adbeefchannelkey", "g10dhbxp", rtc::rtc_user_id("bob"),
                                               d->creds.session, "AK-5f2c9e", 1764000000));
  names in;
  for (auto& x : d->participants)
    in.push_back(x.user);
  EXPECT_EQ(sorted(in), (names{"alice", "bob", "carol"}));
  ASSERT_EQ(fx.events.size(), 1u) << kinds(fx);
  auto ev = one_event_to(fx, event_kind::joined, {"alice", "carol"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "bob");
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_EQ(fx.memberships[0].user, "bob");
  EXPECT_TRUE(fx.memberships[0].joined);
  EXPECT_EQ(p("bob").r, role::member);
  EXPECT_EQ(p("bob").joined_at, now);
  EXPECT_EQ(p("bob").order, 3);
}

TEST_F(meeting_core_test, second_join_gives_fresh_credentials_and_no_events) {
  create();
  auto first = join("bob");
  auto session1 = p("bob").session;
  auto fx = join("bob", "laptop");
  EXPECT_OK(fx);
  auto d = data_of<proto::join_data>(fx);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->creds.session, session1);
  EXPECT_NE(d->creds.token, data_of<proto::join_data>(first)->creds.token);
  EXPECT_EQ(d->creds.userid, rtc::rtc_user_id("bob"));
  EXPECT_TRUE(fx.events.empty()) << kinds(fx);
  EXPECT_TRUE(fx.memberships.empty());
  EXPECT_EQ(p("bob").session, d->creds.session);
}

TEST_F(meeting_core_test, leave_tells_others) {
  create();
  join("bob");
  join("carol");
  now += 5000;
  auto fx = leave("bob");
  EXPECT_OK(fx);
  auto ev = one_event_to(fx, event_kind::left, {"alice", "carol"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "bob");
  EXPECT_EQ(ev->ev.reason, "left");
  EXPECT_EQ(fx.events.size(), 1u) << kinds(fx);
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_FALSE(fx.memberships[0].joined);
  EXPECT_EQ(p("bob").status, participant_status::left);
  EXPECT_EQ(p("bob").left_at, now);
  EXPECT_EQ(p("bob").left_reason, "left");
  EXPECT_EQ(m.idle_deadline, 0);
  // Leaving twice: not a participant any more.
  EXPECT_REFUSED(leave("bob"), 403, "not_participant");
}

TEST_F(meeting_core_test, last_leaving_starts_idle_timer) {
  create();
  join("bob");
  leave("bob");
  EXPECT_EQ(m.idle_deadline, 0);
  now += 7000;
  auto fx = leave("alice");
  EXPECT_OK(fx);
  EXPECT_EQ(m.idle_deadline, now + std::chrono::milliseconds{10min}.count());
  EXPECT_TRUE(events_of(fx, event_kind::role_changed).empty()) << kinds(fx);
  EXPECT_EQ(host_of(m), "");
  EXPECT_EQ(next_deadline(m), m.idle_deadline);
}

TEST_F(meeting_core_test, rejoin_gets_new_session_and_token_same_rtc_user) {
  create();
  auto a = data_of<proto::join_data>(join("bob"))->creds;
  leave("bob");
  now += 60'000;
  auto fx = join("bob");
  EXPECT_OK(fx);
  auto b = data_of<proto::join_data>(fx)->creds;
  EXPECT_NE(a.session, b.session);
  EXPECT_NE(a.token, b.token);
  EXPECT_EQ(a.userid, b.userid);
  EXPECT_EQ(p("bob").rtc_user, b.userid);
  EXPECT_EQ(p("bob").order, 2) << "first-join order survives a rejoin";
  EXPECT_EQ(p("bob").status, participant_status::joined);
  EXPECT_EQ(p("bob").left_reason, "");
  EXPECT_EQ(recipients(fx, event_kind::joined), names{"alice"});
}

TEST_F(meeting_core_test, renew_gives_fresh_credentials) {
  create();
  auto before = p("alice").session;
  auto fx = renew("alice");
  EXPECT_OK(fx);
  auto d = data_of<proto::credentials_data>(fx);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->creds.session, before);
  EXPECT_EQ(d->creds.userid, rtc::rtc_user_id("alice"));
  EXPECT_TRUE(fx.events.empty());
  EXPECT_REFUSED(renew("bob"), 403, "not_participant");
}

TEST_F(meeting_core_test, locked_meeting_admits_only_invitees_and_earlier_participants) {
  create("alice", {"bob"});
  join("dave");
  leave("dave");
  EXPECT_OK(simple(command_kind::moderate_lock, dev("alice")));
  EXPECT_TRUE(m.locked);
  EXPECT_REFUSED(join("carol"), 409, "meeting_locked");
  // An invitee may join; joining answers the invitation.
  auto fx = join("bob");
  EXPECT_OK(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::accepted);
  auto acc = one_event_to(fx, event_kind::accepted, {"alice"});
  ASSERT_NE(acc, nullptr);
  // An earlier participant may come back.
  EXPECT_OK(join("dave"));
  // Unlocked: anyone.
  EXPECT_OK(simple(command_kind::moderate_unlock, dev("alice")));
  EXPECT_OK(join("carol"));
}

TEST_F(meeting_core_test, full_meeting_refuses_join_and_accept) {
  create("alice", {"carol"}, 2);
  EXPECT_OK(join("bob"));
  EXPECT_REFUSED(join("dave"), 409, "meeting_full");
  EXPECT_REFUSED(accept("carol"), 409, "meeting_full");
  EXPECT_EQ(inv("carol").status, invitation_status::ringing);
  // A joined user joining again is not refused.
  EXPECT_OK(join("bob", "laptop"));
  leave("bob");
  EXPECT_OK(accept("carol"));
}

TEST_F(meeting_core_test, kicked_user_cannot_rejoin) {
  create();
  join("bob");
  EXPECT_OK(kick(dev("alice"), "bob"));
  EXPECT_REFUSED(join("bob"), 403, "kicked");
  EXPECT_REFUSED(join("bob", "laptop"), 403, "kicked");
  EXPECT_EQ(invite("alice", {"bob"}).reply->code, 0);
  EXPECT_TRUE(m.invitations.empty());
}

TEST_F(meeting_core_test, ended_meeting_refuses_everything_but_get) {
  create("alice", {"carol"});
  join("bob");
  auto end = simple(command_kind::meeting_end, dev("alice"));
  EXPECT_OK(end);
  for (auto k : {command_kind::meeting_join, command_kind::meeting_leave,
                 command_kind::meeting_renew, command_kind::meeting_end,
                 command_kind::call_accept, command_kind::call_decline,
                 command_kind::call_ringing, command_kind::moderate_lock}) {
    for (auto who : {"alice", "bob", "carol", "dave"}) {
      auto fx = simple(k, dev(who));
      EXPECT_REFUSED(fx, 410, "meeting_ended");
    }
  }
  EXPECT_REFUSED(invite("alice", {"dave"}), 410, "meeting_ended");
  EXPECT_REFUSED(kick_start(dev("alice"), "bob"), 410, "meeting_ended");
  EXPECT_REFUSED(mute("alice", "bob", true), 410, "meeting_ended");
  EXPECT_REFUSED(rtc_event("bob", sdk_event::audio_muted), 410, "meeting_ended");
  EXPECT_REFUSED(set_role("alice", "bob", role::cohost), 410, "meeting_ended");
  // meeting.get still shows the ended meeting.
  auto get = simple(command_kind::meeting_get, dev("bob"));
  EXPECT_OK(get);
  auto v = data_of<proto::meeting_view>(get);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->status, meeting_status::ended);
  EXPECT_EQ(v->end_reason, "ended");
}

TEST_F(meeting_core_test, expired_meeting_refuses_with_meeting_expired) {
  create();
  tick_at(m.expires_at);
  EXPECT_EQ(m.status, meeting_status::ended);
  EXPECT_REFUSED(join("bob"), 410, "meeting_expired");
  EXPECT_REFUSED(join("alice"), 410, "meeting_expired");
  EXPECT_REFUSED(renew("alice"), 410, "meeting_expired");
}

TEST_F(meeting_core_test, non_participants_are_refused) {
  create();
  EXPECT_REFUSED(leave("bob"), 403, "not_participant");
  EXPECT_REFUSED(renew("bob"), 403, "not_participant");
  EXPECT_REFUSED(invite("bob", {"carol"}), 403, "not_participant");
  EXPECT_REFUSED(simple(command_kind::meeting_get, dev("bob")), 403, "not_participant");
  EXPECT_REFUSED(rtc_event("bob", sdk_event::audio_muted), 403, "not_participant");
  EXPECT_REFUSED(rtc_event("bob", sdk_event::joined), 403, "not_participant");
  EXPECT_REFUSED(simple(command_kind::meeting_end, dev("bob")), 403, "not_host");
}

TEST_F(meeting_core_test, get_shows_the_meeting_to_participants_invitees_and_admins) {
  create("alice", {"bob"});
  join("carol");
  simple(command_kind::moderate_lock, dev("alice"));
  for (auto who : {dev("alice"), dev("bob"), dev("carol"), admin_console()}) {
    auto fx = simple(command_kind::meeting_get, who);
    EXPECT_OK(fx);
    EXPECT_TRUE(fx.changes.empty());
    EXPECT_TRUE(fx.events.empty());
    auto v = data_of<proto::meeting_view>(fx);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->meeting, "m-1");
    EXPECT_EQ(v->title, "standup");
    EXPECT_EQ(v->host, "alice");
    EXPECT_TRUE(v->locked);
    EXPECT_EQ(v->expires_at, to_unix_s(m.expires_at));
    EXPECT_EQ(v->participants.size(), 2u);
    ASSERT_EQ(v->invitations.size(), 1u);
    EXPECT_EQ(v->invitations[0].user, "bob");
    EXPECT_EQ(v->invitations[0].status, invitation_status::ringing);
    EXPECT_EQ(v->invitations[0].ring_expires_at, to_unix_s(inv("bob").ring_deadline));
  }
  auto admin_get = make_cmd(command_kind::admin_meeting_get, m.id);
  EXPECT_OK(run(admin_console(), admin_get));
}

// -- ending ----------------------------------------------------------------------------

TEST_F(meeting_core_test, host_ends_meeting_for_participants_and_ringing_invitees) {
  create("alice", {"carol"});
  join("bob");
  known["dave"].online = true;
  invite("bob", {"dave"});
  decline("dave");
  join("erin");
  leave("erin");
  set_role("alice", "bob", role::cohost);
  EXPECT_REFUSED(simple(command_kind::meeting_end, dev("bob")), 403, "not_host");
  now += 3000;
  auto fx = simple(command_kind::meeting_end, dev("alice"));
  EXPECT_OK(fx);
  EXPECT_EQ(m.status, meeting_status::ended);
  EXPECT_EQ(m.end_reason, "ended");
  EXPECT_EQ(m.ended_at, now);
  EXPECT_TRUE(fx.delete_channel);
  auto ev = one_event(fx, event_kind::ended);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.reason, "ended");
  // Participants and the ringing invitee; not the one who declined or left.
  EXPECT_EQ(sorted(ev->users), (names{"alice", "bob", "carol"}));
  EXPECT_EQ(inv("carol").status, invitation_status::canceled);
  EXPECT_EQ(inv("dave").status, invitation_status::declined);
  names left;
  for (auto& x : fx.memberships) {
    EXPECT_FALSE(x.joined);
    left.push_back(x.user);
  }
  EXPECT_EQ(sorted(left), (names{"alice", "bob"}));
  EXPECT_FALSE(next_deadline(m).has_value());
  // DeleteChannel done: recorded once.
  auto del = channel_deleted(m);
  EXPECT_TRUE(m.channel_deleted);
  EXPECT_EQ(del.changes.changes.size(), 1u);
  EXPECT_TRUE(channel_deleted(m).changes.empty());
}

TEST_F(meeting_core_test, admin_ends_meeting_with_reason_admin) {
  create();
  join("bob");
  auto end = make_cmd(command_kind::admin_meeting_end, m.id);
  end.reason = "abuse report 4711";
  auto fx = run(admin_console(), end);
  EXPECT_OK(fx);
  EXPECT_EQ(m.end_reason, "admin");
  auto ev = one_event(fx, event_kind::ended);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.reason, "admin");
  EXPECT_EQ(sorted(ev->users), (names{"alice", "bob"}));
  EXPECT_TRUE(fx.delete_channel);
  // The admin's reason is a note for the node's log, not the end reason.
  EXPECT_EQ(fx.end_note, "abuse report 4711");
}

TEST_F(meeting_core_test, only_an_admin_end_carries_a_note) {
  create();
  auto host_end = make_cmd(command_kind::meeting_end, m.id);
  host_end.reason = "not the host's to give";
  auto fx = run(dev("alice"), host_end);
  EXPECT_OK(fx);
  EXPECT_EQ(fx.end_note, "");

  m = meeting{};
  create("alice", {}, std::nullopt, std::nullopt, "m-2");
  auto fx2 = run(admin_console(), make_cmd(command_kind::admin_meeting_end, m.id));
  EXPECT_OK(fx2);
  EXPECT_EQ(fx2.end_note, "");
}

TEST_F(meeting_core_test, an_admin_end_keeps_its_note_when_a_deadline_fires_first) {
  create("alice", {"carol"});
  now = inv("carol").ring_deadline;
  auto end = make_cmd(command_kind::admin_meeting_end, m.id);
  end.reason = "maintenance";
  auto fx = run(admin_console(), end);
  EXPECT_OK(fx);
  EXPECT_EQ(recipients(fx, event_kind::invite_timeout), (names{"alice", "carol"}));
  EXPECT_EQ(fx.end_note, "maintenance");
}

// -- host succession --------------------------------------------------------------------

TEST_F(meeting_core_test, host_leaving_hands_over_to_oldest_cohost) {
  create();
  join("bob");   // member, order 2
  join("carol"); // cohost, order 3
  join("dave");  // cohost, order 4
  set_role("alice", "dave", role::cohost);
  set_role("alice", "carol", role::cohost);
  auto fx = leave("alice");
  EXPECT_OK(fx);
  EXPECT_EQ(host_of(m), "carol");
  EXPECT_EQ(p("dave").r, role::cohost);
  EXPECT_EQ(p("bob").r, role::member);
  EXPECT_EQ(p("alice").r, role::member);
  auto ev = one_event(fx, event_kind::role_changed);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "carol");
  ASSERT_TRUE(ev->ev.new_role.has_value());
  EXPECT_EQ(*ev->ev.new_role, role::host);
  EXPECT_EQ(sorted(ev->users), (names{"bob", "carol", "dave"}));
  expect_one_host();
}

TEST_F(meeting_core_test, host_leaving_without_cohost_hands_over_to_oldest_member) {
  create();
  join("dave");
  join("bob");
  join("carol");
  auto fx = leave("alice");
  EXPECT_EQ(host_of(m), "dave");
  auto ev = one_event(fx, event_kind::role_changed);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "dave");
  expect_one_host();
  // The old host comes back as a member.
  join("alice");
  EXPECT_EQ(p("alice").r, role::member);
  EXPECT_EQ(host_of(m), "dave");
  // Everyone leaves; the first to come back is host.
  for (auto u : {"alice", "bob", "carol", "dave"})
    leave(u);
  EXPECT_EQ(hosts_joined(), 0);
  auto back = join("carol");
  EXPECT_EQ(host_of(m), "carol");
  expect_one_host();
}

TEST_F(meeting_core_test, exactly_one_host_through_a_scripted_random_sequence) {
  s.idle_timeout = 24h; // keep the meeting alive; idle is tested elsewhere
  const names users{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
  std::map<std::string, int> seen; // what the sequences exercised
  auto ok = [](const effects& fx) { return fx.reply && fx.reply->code == 0; };
  auto note = [&](const effects& fx) {
    for (auto& e : fx.events) {
      if (e.ev.kind == event_kind::role_changed && e.ev.new_role == role::host)
        ++seen["new host"];
      if (e.ev.kind == event_kind::left)
        ++seen["left:" + e.ev.reason];
      if (e.ev.kind == event_kind::invite_timeout)
        ++seen["ring timeout"];
    }
  };
  for (unsigned seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    m = meeting{};
    now = t0;
    create();
    std::mt19937 rng{seed};
    auto pick = [&](const names& xs) { return xs[rng() % xs.size()]; };
    for (int step = 0; step < 200 && m.status == meeting_status::active; ++step) {
      auto u = pick(users);
      auto joined = joined_users(m);
      effects fx;
      switch (rng() % 10) {
        case 0:
        case 1:
          fx = join(u);
          break;
        case 2:
          fx = leave(u);
          break;
        case 3:
          if (auto h = host_of(m); !h.empty()) {
            fx = set_role(h, u, static_cast<role>(rng() % 3));
            if (ok(fx) && u != h && p(u).r == role::host)
              ++seen["handover"];
          }
          break;
        case 4:
          if (!joined.empty() && rng() % 3 == 0) {
            fx = rng() % 4 == 0 ? kick(admin_console(), u) : kick(dev(pick(joined)), u);
            if (ok(fx))
              ++seen["kick"];
          }
          break;
        case 5:
          fx = presence(u, rng() % 3 == 0);
          break;
        case 6:
          now += static_cast<unix_ms>(rng() % 90'000);
          fx = tick();
          break;
        case 7:
          fx = rtc_event(u, static_cast<sdk_event>(rng() % 8));
          break;
        case 8:
          if (!joined.empty()) {
            note(invite(pick(joined), {u}));
            switch (rng() % 3) {
              case 0: fx = accept(u); break;
              case 1: fx = decline(u); break;
              default: break;
            }
          }
          break;
        case 9:
          if (!joined.empty()) {
            note(mute(pick(joined), u, rng() % 2 == 0));
            fx = set_role(pick(joined), pick(users), role::host);
          }
          break;
      }
      note(fx);
      expect_one_host();
      if (::testing::Test::HasFailure())
        return;
    }
  }
  // The sequences did reach the interesting transitions.
  for (auto what : {"new host", "handover", "kick", "left:left", "left:kicked",
                    "left:offline", "ring timeout"})
    EXPECT_GT(seen[what], 0) << what;
}

// -- calls -------------------------------------------------------------------------------

TEST_F(meeting_core_test, ringing_tells_the_inviter_once) {
  create("alice", {"bob"});
  auto fx = ringing("bob");
  EXPECT_OK(fx);
  auto ev = one_event_to(fx, event_kind::ringing, {"alice"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "bob");
  EXPECT_TRUE(inv("bob").delivered);
  auto again = ringing("bob");
  EXPECT_OK(again);
  EXPECT_TRUE(again.events.empty()) << kinds(again);
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(inv("bob").status, invitation_status::ringing);
}

TEST_F(meeting_core_test, accept_joins_and_tells_everyone_concerned) {
  create("alice", {"bob"});
  join("carol");
  now += 4000;
  auto fx = accept("bob", "laptop");
  EXPECT_OK(fx);
  auto d = data_of<proto::credentials_data>(fx);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->creds.userid, rtc::rtc_user_id("bob"));
  EXPECT_EQ(d->creds.session, p("bob").session);
  EXPECT_EQ(inv("bob").status, invitation_status::accepted);
  EXPECT_EQ(inv("bob").answered_at, now);
  EXPECT_EQ(p("bob").status, participant_status::joined);
  auto acc = one_event_to(fx, event_kind::accepted, {"alice"});
  ASSERT_NE(acc, nullptr);
  EXPECT_EQ(acc->ev.user, "bob");
  auto elsewhere = one_event_to(fx, event_kind::answered_elsewhere, {"bob"});
  ASSERT_NE(elsewhere, nullptr);
  EXPECT_EQ(elsewhere->except_client, dev("bob", "laptop").client);
  auto joined = one_event_to(fx, event_kind::joined, {"alice", "carol"});
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(joined->ev.user, "bob");
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_TRUE(fx.memberships[0].joined);
  // Answered: no timeout later.
  auto t = tick_at(inv("bob").ring_deadline);
  EXPECT_TRUE(events_of(t, event_kind::invite_timeout).empty());
}

TEST_F(meeting_core_test, decline_tells_the_inviter_with_reason) {
  create("alice", {"bob", "carol"});
  auto fx = decline("bob", std::string{"in a meeting"}, "tablet");
  EXPECT_OK(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::declined);
  auto ev = one_event_to(fx, event_kind::declined, {"alice"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "bob");
  EXPECT_EQ(ev->ev.reason, "in a meeting");
  auto elsewhere = one_event(fx, event_kind::answered_elsewhere);
  ASSERT_NE(elsewhere, nullptr);
  EXPECT_EQ(elsewhere->except_client, dev("bob", "tablet").client);
  EXPECT_TRUE(fx.memberships.empty());
  EXPECT_FALSE(m.participants.count("bob"));
  auto plain = decline("carol");
  auto ev2 = one_event(plain, event_kind::declined);
  ASSERT_NE(ev2, nullptr);
  EXPECT_EQ(ev2->ev.reason, "");
}

TEST_F(meeting_core_test, cancel_by_inviter_or_host_and_not_by_others) {
  create("alice", {"bob", "carol"});
  join("dave");
  join("erin");
  invite("dave", {"frank", "grace"});
  // Someone else (a member who is not the inviter) may not.
  EXPECT_REFUSED(cancel("erin", {"frank"}), 403, "not_host");
  EXPECT_REFUSED(cancel("erin", {"bob", "frank"}), 403, "not_host");
  // With no users, a member cancels only their own invitations: none here.
  EXPECT_REFUSED(cancel("erin"), 404, "no_invitation");
  // The inviter may.
  auto fx = cancel("dave", {"frank"});
  EXPECT_OK(fx);
  auto ev = one_event_to(fx, event_kind::canceled, {"frank"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.by, "dave");
  EXPECT_EQ(inv("frank").status, invitation_status::canceled);
  EXPECT_EQ(inv("grace").status, invitation_status::ringing);
  // The host may cancel someone else's invitation.
  auto host = cancel("alice", {"grace"});
  EXPECT_OK(host);
  EXPECT_EQ(recipients(host, event_kind::canceled), names{"grace"});
  // The host with no users cancels every ringing invitation.
  auto all = cancel("alice");
  EXPECT_OK(all);
  EXPECT_EQ(recipients(all, event_kind::canceled), (names{"bob", "carol"}));
  EXPECT_REFUSED(cancel("alice"), 404, "no_invitation");
}

TEST_F(meeting_core_test, answering_a_finished_invitation_is_refused) {
  struct row {
    const char* name;
    std::function<void(meeting_core_test&)> finish;
    int code;
    const char* reason;
  };
  std::vector<row> table{
    {"declined", [](meeting_core_test& t) { t.decline("bob"); }, 409, "already_answered"},
    {"timed out",
     [](meeting_core_test& t) { t.tick_at(t.inv("bob").ring_deadline); }, 410,
     "invitation_expired"},
    {"canceled", [](meeting_core_test& t) { t.cancel("alice", {"bob"}); }, 409,
     "invitation_canceled"},
    {"accepted then left",
     [](meeting_core_test& t) {
       t.accept("bob");
       t.leave("bob");
     },
     409, "already_answered"},
  };
  for (auto& r : table) {
    SCOPED_TRACE(r.name);
    m = meeting{};
    now = t0;
    create("alice", {"bob"});
    now += 1000;
    r.finish(*this);
    EXPECT_REFUSED(accept("bob"), r.code, r.reason);
    EXPECT_REFUSED(decline("bob"), r.code, r.reason);
    EXPECT_REFUSED(ringing("bob"), r.code, r.reason);
  }
  // No invitation at all.
  m = meeting{};
  create();
  EXPECT_REFUSED(accept("bob"), 404, "no_invitation");
  EXPECT_REFUSED(decline("bob"), 404, "no_invitation");
  EXPECT_REFUSED(ringing("bob"), 404, "no_invitation");
  EXPECT_REFUSED(cancel("alice", {"bob"}), 404, "no_invitation");
}

TEST_F(meeting_core_test, rtc_joined_by_ringing_invitee_counts_as_accepting) {
  create("alice", {"bob"});
  join("carol");
  auto invite_session = inv("bob").session;
  auto fx = rtc_event("bob", sdk_event::joined);
  EXPECT_OK(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::accepted);
  EXPECT_EQ(p("bob").status, participant_status::joined);
  EXPECT_EQ(p("bob").session, invite_session) << "the session the device joined with";
  EXPECT_EQ(recipients(fx, event_kind::accepted), names{"alice"});
  EXPECT_EQ(recipients(fx, event_kind::joined), (names{"alice", "carol"}));
  EXPECT_EQ(recipients(fx, event_kind::answered_elsewhere), names{"bob"});
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_TRUE(fx.memberships[0].joined);
  // The invitee is now a participant; another rtc.event joined just updates state.
  auto again = rtc_event("bob", sdk_event::joined);
  EXPECT_OK(again);
  EXPECT_TRUE(events_of(again, event_kind::accepted).empty());
}

TEST_F(meeting_core_test, rtc_joined_by_invitee_keeps_the_invite_token_expiry_appkey) {
  // The invitee enters with the credentials of event.invite; its token
  // expires at their timestamp, so event.token_expiring must be about that
  // token, not about one issued later and never sent.
  s.scheme = token_scheme::appkey;
  s.app_key = "k";
  auto fx0 = create("alice", {"bob"});
  auto creds = *one_event(fx0, event_kind::invite)->ev.creds;
  now += 30'000;
  EXPECT_OK(rtc_event("bob", sdk_event::joined));
  EXPECT_EQ(to_unix_s(p("bob").token_expires_at), creds.timestamp)
    << "BUG? the token_expires_at recorded for bob is that of credentials never sent";
  EXPECT_EQ(p("bob").token_warn_at,
            creds.timestamp * 1000 - s.token_renew_before.count());
}

TEST_F(meeting_core_test, invite_outcomes_by_call_invite) {
  create();
  join("bob");
  known["carol"].busy = true;
  known["dave"].online = false;
  join("heidi");
  kick(dev("alice"), "heidi");
  auto fx = invite("bob", {"carol", "dave", "zoe", "alice", "bob", "heidi", "erin"});
  EXPECT_OK(fx);
  auto d = data_of<proto::invite_data>(fx);
  ASSERT_NE(d, nullptr);
  std::map<std::string, std::string> got;
  for (auto& x : d->invitations)
    got[x.user] = x.status;
  std::map<std::string, std::string> want{
    {"carol", "busy"},  {"dave", "offline"}, {"zoe", "user_not_found"},
    {"alice", "already_participant"}, {"bob", "already_participant"},
    {"heidi", "kicked"}, {"erin", "ringing"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(m.invitations.size(), 1u);
  EXPECT_EQ(inv("erin").inviter, "bob");
  EXPECT_EQ(recipients(fx, event_kind::invite), names{"erin"});
  EXPECT_EQ(fx.events.size(), 1u) << kinds(fx);
}

TEST_F(meeting_core_test, invite_policy_hosts_refuses_members) {
  create("alice", {}, {}, invite_policy::hosts);
  join("bob");
  join("carol");
  EXPECT_REFUSED(invite("bob", {"dave"}), 403, "not_host");
  set_role("alice", "carol", role::cohost);
  EXPECT_OK(invite("carol", {"dave"}));
  EXPECT_OK(invite("alice", {"erin"}));
  EXPECT_EQ(m.invitations.size(), 2u);
}

TEST_F(meeting_core_test, reinvite_after_decline_rings_again) {
  create("alice", {"bob"});
  decline("bob");
  now += 10'000;
  auto fx = invite("alice", {"bob"});
  EXPECT_OK(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::ringing);
  EXPECT_EQ(inv("bob").ring_deadline, now + 45'000);
  EXPECT_FALSE(inv("bob").delivered);
  EXPECT_OK(accept("bob"));
}

// -- moderation --------------------------------------------------------------------------

TEST_F(meeting_core_test, kick_refusals) {
  create();
  join("bob");
  join("carol");
  join("dave");
  set_role("alice", "carol", role::cohost);
  EXPECT_REFUSED(kick_start(dev("bob"), "dave"), 403, "not_host");
  EXPECT_REFUSED(kick_start(dev("erin"), "dave"), 403, "not_host");
  EXPECT_REFUSED(kick_start(dev("carol"), "alice"), 403, "cannot_kick_host");
  EXPECT_REFUSED(kick_start(dev("carol"), "carol"), 409, "cannot_kick_self");
  EXPECT_REFUSED(kick_start(dev("alice"), "alice"), 409, "cannot_kick_self");
  EXPECT_REFUSED(kick_start(dev("alice"), "zoe"), 404, "participant_not_found");
  // The second half re-checks too.
  EXPECT_REFUSED(kick_complete(dev("bob"), "dave"), 403, "not_host");
  EXPECT_REFUSED(kick_complete(dev("carol"), "alice"), 403, "cannot_kick_host");
}

TEST_F(meeting_core_test, kick_of_joined_user_waits_for_remove_terminals) {
  create();
  join("bob");
  join("carol");
  auto fx = kick_start(dev("alice"), "bob"); // run() asserts nothing changed
  EXPECT_FALSE(fx.reply.has_value());
  EXPECT_EQ(fx.remove_terminals, names{rtc::rtc_user_id("bob")});
  EXPECT_EQ(p("bob").status, participant_status::joined);
}

TEST_F(meeting_core_test, complete_kick_with_rtc_failure_changes_nothing) {
  create();
  join("bob");
  struct row {
    rtc::failure_kind kind;
    std::string code;
    int want_code;
    std::string want_reason;
  };
  for (auto r : std::vector<row>{
         {rtc::failure_kind::refused, "Forbidden.RAM", 502, "rtc_error:Forbidden.RAM"},
         {rtc::failure_kind::refused, "InvalidChannelId.NotFound", 502,
          "rtc_error:InvalidChannelId.NotFound"},
         {rtc::failure_kind::unavailable, "TransportError", 503, "rtc_unavailable"},
         {rtc::failure_kind::unavailable, "CircuitOpen", 503, "rtc_unavailable"}}) {
    SCOPED_TRACE(r.code);
    EXPECT_EQ(kick_start(dev("alice"), "bob").remove_terminals,
              names{rtc::rtc_user_id("bob")});
    rtc::answer a;
    a.error = rtc::failure{r.kind, 403, r.code, "no", "REQ-1"};
    auto fx = kick_complete(dev("alice"), "bob", a);
    EXPECT_REFUSED(fx, r.want_code, r.want_reason);
    EXPECT_NE(fx.reply->message.find("REQ-1"), std::string::npos) << fx.reply->message;
    EXPECT_EQ(p("bob").status, participant_status::joined);
  }
}

TEST_F(meeting_core_test, complete_kick_removes_the_user_for_good) {
  create();
  join("bob");
  join("carol");
  now += 2000;
  kick_start(dev("alice"), "bob");
  auto fx = kick_complete(dev("alice"), "bob");
  EXPECT_OK(fx);
  EXPECT_EQ(p("bob").status, participant_status::kicked);
  EXPECT_EQ(p("bob").kicked_by, "alice");
  EXPECT_EQ(p("bob").left_reason, "kicked");
  EXPECT_EQ(p("bob").left_at, now);
  auto kicked = one_event_to(fx, event_kind::kicked, {"bob"});
  ASSERT_NE(kicked, nullptr);
  EXPECT_EQ(kicked->ev.by, "alice");
  auto left = one_event_to(fx, event_kind::left, {"alice", "carol"});
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->ev.user, "bob");
  EXPECT_EQ(left->ev.reason, "kicked");
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_EQ(fx.memberships[0].user, "bob");
  EXPECT_FALSE(fx.memberships[0].joined);
  EXPECT_REFUSED(join("bob"), 403, "kicked");
  EXPECT_REFUSED(kick_start(dev("alice"), "bob"), 409, "already_kicked");
  // The answer may come after the user left on their own: still kicked.
  join("dave");
  kick_start(dev("alice"), "dave");
  leave("dave");
  auto late = kick_complete(dev("alice"), "dave");
  EXPECT_OK(late);
  EXPECT_EQ(p("dave").status, participant_status::kicked);
  EXPECT_REFUSED(join("dave"), 403, "kicked");
}

TEST_F(meeting_core_test, kick_of_a_user_who_left_needs_no_rtc_call) {
  create("alice");
  join("bob");
  leave("bob");
  auto fx = kick_start(dev("alice"), "bob");
  EXPECT_OK(fx);
  EXPECT_TRUE(fx.remove_terminals.empty());
  EXPECT_EQ(p("bob").status, participant_status::kicked);
  EXPECT_EQ(recipients(fx, event_kind::kicked), names{"bob"});
  EXPECT_TRUE(events_of(fx, event_kind::left).empty());
  EXPECT_REFUSED(join("bob"), 403, "kicked");
}

TEST_F(meeting_core_test, admin_may_kick_the_host) {
  create();
  join("bob");
  join("carol");
  set_role("alice", "carol", role::cohost);
  auto first = kick_start(admin_console(), "alice", command_kind::admin_kick);
  EXPECT_EQ(first.remove_terminals, names{rtc::rtc_user_id("alice")});
  auto fx = kick_complete(admin_console(), "alice", {}, command_kind::admin_kick);
  EXPECT_OK(fx);
  EXPECT_EQ(p("alice").status, participant_status::kicked);
  EXPECT_EQ(p("alice").kicked_by, "console-1");
  EXPECT_EQ(host_of(m), "carol");
  EXPECT_EQ(recipients(fx, event_kind::kicked), names{"alice"});
  EXPECT_EQ(one_event(fx, event_kind::kicked)->ev.by, "console-1");
  EXPECT_EQ(recipients(fx, event_kind::role_changed), (names{"bob", "carol"}));
  expect_one_host();
}

TEST_F(meeting_core_test, mute_and_unmute) {
  create();
  join("bob");
  join("carol");
  set_role("alice", "carol", role::cohost);
  EXPECT_REFUSED(mute("bob", "carol", true), 403, "not_host");
  EXPECT_REFUSED(mute("alice", "zoe", true), 404, "participant_not_found");
  struct row {
    bool on;
    std::optional<bool> audio, video;
    bool want_audio_muted, want_video_muted;
    std::optional<bool> ev_audio, ev_video;
  };
  std::vector<row> table{
    {true, {}, {}, true, false, true, std::nullopt},      // neither: audio
    {true, {}, true, true, true, std::nullopt, true},      // video only
    {false, true, {}, false, true, false, std::nullopt},   // unmute audio
    {false, true, true, false, false, false, false},       // unmute both
    {true, true, true, true, true, true, true},
    {false, {}, {}, false, true, false, std::nullopt},     // neither: audio
  };
  for (auto& r : table) {
    auto fx = mute("carol", "bob", r.on, r.audio, r.video);
    EXPECT_OK(fx);
    EXPECT_EQ(p("bob").audio_muted, r.want_audio_muted);
    EXPECT_EQ(p("bob").video_muted, r.want_video_muted);
    auto ev = one_event_to(fx, event_kind::mute_request, {"bob"});
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->ev.by, "carol");
    EXPECT_EQ(ev->ev.audio, r.ev_audio);
    EXPECT_EQ(ev->ev.video, r.ev_video);
  }
}

TEST_F(meeting_core_test, mute_all_skips_host_and_cohosts) {
  create();
  join("bob");
  join("carol");
  join("dave");
  set_role("alice", "carol", role::cohost);
  auto c = make_cmd(command_kind::moderate_mute_all, m.id);
  EXPECT_REFUSED(run(dev("bob"), c), 403, "not_host");
  auto fx = run(dev("carol"), c);
  EXPECT_OK(fx);
  EXPECT_EQ(recipients(fx, event_kind::mute_request), (names{"bob", "dave"}));
  EXPECT_TRUE(p("bob").audio_muted);
  EXPECT_TRUE(p("dave").audio_muted);
  EXPECT_FALSE(p("alice").audio_muted);
  EXPECT_FALSE(p("carol").audio_muted);
  auto un = make_cmd(command_kind::moderate_unmute_all, m.id);
  un.video = true;
  un.audio = true;
  EXPECT_OK(run(dev("alice"), un));
  EXPECT_FALSE(p("bob").audio_muted);
  auto admin = make_cmd(command_kind::admin_mute_all, m.id);
  admin.video = true;
  auto afx = run(admin_console(), admin);
  EXPECT_OK(afx);
  EXPECT_TRUE(p("bob").video_muted);
  EXPECT_FALSE(p("bob").audio_muted);
  for (auto e : events_of(afx, event_kind::mute_request))
    EXPECT_EQ(e->ev.by, "console-1");
}

TEST_F(meeting_core_test, lock_and_unlock_by_moderators_only) {
  create();
  join("bob");
  join("carol");
  set_role("alice", "carol", role::cohost);
  EXPECT_REFUSED(simple(command_kind::moderate_lock, dev("bob")), 403, "not_host");
  EXPECT_REFUSED(simple(command_kind::moderate_lock, dev("dave")), 403, "not_host");
  EXPECT_OK(simple(command_kind::moderate_lock, dev("carol")));
  EXPECT_TRUE(m.locked);
  auto again = simple(command_kind::moderate_lock, dev("alice"));
  EXPECT_OK(again);
  EXPECT_TRUE(again.changes.empty());
  EXPECT_REFUSED(simple(command_kind::moderate_unlock, dev("bob")), 403, "not_host");
  EXPECT_OK(simple(command_kind::moderate_unlock, dev("alice")));
  EXPECT_FALSE(m.locked);
}

TEST_F(meeting_core_test, an_admin_locks_unlocks_and_mutes_one_participant) {
  create();
  join("bob");
  EXPECT_OK(simple(command_kind::admin_lock, admin_console()));
  EXPECT_TRUE(m.locked);
  EXPECT_REFUSED(join("dave"), 409, "meeting_locked");
  EXPECT_OK(simple(command_kind::admin_unlock, admin_console()));
  EXPECT_FALSE(m.locked);

  auto mute = make_cmd(command_kind::admin_mute, m.id);
  mute.user = "bob";
  mute.audio = true;
  auto fx = run(admin_console(), mute);
  EXPECT_OK(fx);
  EXPECT_TRUE(p("bob").audio_muted);
  EXPECT_EQ(recipients(fx, event_kind::mute_request), (names{"bob"}));
  for (auto e : events_of(fx, event_kind::mute_request))
    EXPECT_EQ(e->ev.by, "console-1");
  auto unmute = make_cmd(command_kind::admin_unmute, m.id);
  unmute.user = "bob";
  unmute.audio = true;
  EXPECT_OK(run(admin_console(), unmute));
  EXPECT_FALSE(p("bob").audio_muted);
  auto nobody = make_cmd(command_kind::admin_mute, m.id);
  nobody.user = "zed";
  EXPECT_REFUSED(run(admin_console(), nobody), 404, "participant_not_found");
}

TEST_F(meeting_core_test, set_role_rules) {
  create();
  join("bob");
  join("carol");
  EXPECT_REFUSED(set_role("bob", "carol", role::cohost), 403, "not_host");
  EXPECT_REFUSED(set_role("alice", "zoe", role::cohost), 404, "participant_not_found");
  EXPECT_REFUSED(set_role("alice", "alice", role::member), 409, "host_required");
  EXPECT_REFUSED(set_role("alice", "alice", role::cohost), 409, "host_required");
  auto fx = set_role("alice", "carol", role::cohost);
  EXPECT_OK(fx);
  EXPECT_EQ(p("carol").r, role::cohost);
  auto ev = one_event(fx, event_kind::role_changed);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "carol");
  EXPECT_EQ(ev->ev.new_role, role::cohost);
  EXPECT_EQ(sorted(ev->users), (names{"alice", "bob", "carol"}));
  // A cohost may not set roles.
  EXPECT_REFUSED(set_role("carol", "bob", role::cohost), 403, "not_host");
  // Handing over: the old host becomes cohost.
  auto hand = set_role("alice", "bob", role::host);
  EXPECT_OK(hand);
  EXPECT_EQ(p("bob").r, role::host);
  EXPECT_EQ(p("alice").r, role::cohost);
  EXPECT_EQ(host_of(m), "bob");
  auto changes = events_of(hand, event_kind::role_changed);
  ASSERT_EQ(changes.size(), 2u);
  std::map<std::string, role> roles;
  for (auto e : changes)
    roles[e->ev.user] = *e->ev.new_role;
  EXPECT_EQ(roles["alice"], role::cohost);
  EXPECT_EQ(roles["bob"], role::host);
  expect_one_host();
  EXPECT_REFUSED(set_role("alice", "carol", role::member), 403, "not_host");
  // Same role again: nothing to announce.
  auto same = set_role("bob", "carol", role::cohost);
  EXPECT_OK(same);
  EXPECT_TRUE(same.events.empty());
  EXPECT_OK(set_role("bob", "carol", role::member));
  EXPECT_EQ(p("carol").r, role::member);
}

TEST_F(meeting_core_test, rtc_events_update_state_and_tell_others) {
  create();
  join("bob");
  join("carol");
  struct row {
    sdk_event e;
    bool online, audio, video;
  };
  std::vector<row> table{
    {sdk_event::network_lost, false, false, false},
    {sdk_event::network_recovered, true, false, false},
    {sdk_event::audio_muted, true, true, false},
    {sdk_event::video_muted, true, true, true},
    {sdk_event::audio_unmuted, true, false, true},
    {sdk_event::network_lost, false, false, true},
    {sdk_event::joined, true, false, true},
    {sdk_event::video_unmuted, true, false, false},
  };
  for (auto& r : table) {
    SCOPED_TRACE(to_string(r.e));
    auto fx = rtc_event("bob", r.e);
    EXPECT_OK(fx);
    EXPECT_EQ(p("bob").network_lost, !r.online);
    EXPECT_EQ(p("bob").audio_muted, r.audio);
    EXPECT_EQ(p("bob").video_muted, r.video);
    auto ev = one_event_to(fx, event_kind::participant, {"alice", "carol"});
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->ev.user, "bob");
    ASSERT_TRUE(ev->ev.participant.has_value());
    EXPECT_EQ(ev->ev.participant->online, r.online);
    EXPECT_EQ(ev->ev.participant->audio_muted, r.audio);
    EXPECT_EQ(ev->ev.participant->video_muted, r.video);
  }
  // rtc.event left is leaving.
  auto fx = rtc_event("bob", sdk_event::left);
  EXPECT_OK(fx);
  EXPECT_EQ(p("bob").status, participant_status::left);
  EXPECT_EQ(recipients(fx, event_kind::left), (names{"alice", "carol"}));
}

// -- timers ---------------------------------------------------------------------------------

TEST_F(meeting_core_test, ring_timeout_fires_exactly_at_the_deadline) {
  create("alice", {"bob"});
  auto deadline = inv("bob").ring_deadline;
  EXPECT_EQ(deadline, t0 + 45'000);
  EXPECT_EQ(next_deadline(m), deadline);
  auto early = tick_at(deadline - 1);
  EXPECT_TRUE(early.events.empty()) << kinds(early);
  EXPECT_TRUE(early.changes.empty());
  EXPECT_EQ(inv("bob").status, invitation_status::ringing);
  auto fx = tick_at(deadline);
  EXPECT_EQ(inv("bob").status, invitation_status::timed_out);
  EXPECT_EQ(inv("bob").answered_at, deadline);
  auto ev = one_event_to(fx, event_kind::invite_timeout, {"alice", "bob"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.user, "bob");
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_NE(next_deadline(m), deadline);
  // Nothing left to fire at the same instant.
  auto again = tick();
  EXPECT_TRUE(again.events.empty());
  EXPECT_TRUE(again.changes.empty());
}

TEST_F(meeting_core_test, ring_race_timer_first_refuses_accept) {
  create("alice", {"bob"});
  tick_at(inv("bob").ring_deadline);
  EXPECT_REFUSED(accept("bob"), 410, "invitation_expired");
  EXPECT_FALSE(m.participants.count("bob"));
}

TEST_F(meeting_core_test, ring_race_at_the_deadline_the_timer_wins_even_if_its_tick_is_late) {
  // A command decided at the deadline fires the due timers first, so the
  // outcome does not depend on whether the tick message arrived yet.
  create("alice", {"bob"});
  now = inv("bob").ring_deadline;
  auto fx = accept("bob");
  EXPECT_EQ(fx.reply->code, 410);
  EXPECT_EQ(fx.reply->reason, "invitation_expired");
  EXPECT_EQ(events_of(fx, event_kind::invite_timeout).size(), 1u) << kinds(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::timed_out);
  EXPECT_FALSE(m.participants.count("bob"));
}

TEST_F(meeting_core_test, ring_race_accept_one_ms_before_the_deadline_wins) {
  create("alice", {"bob"});
  now = inv("bob").ring_deadline - 1;
  EXPECT_OK(accept("bob"));
  now += 1;
  auto fx = tick();
  EXPECT_TRUE(events_of(fx, event_kind::invite_timeout).empty()) << kinds(fx);
  EXPECT_EQ(inv("bob").status, invitation_status::accepted);
  EXPECT_EQ(p("bob").status, participant_status::joined);
}

TEST_F(meeting_core_test, accept_after_the_ring_deadline_is_refused_even_before_the_timer) {
  // docs/protocol.md §9: an invitation not answered within --ring-timeout ends.
  // A tick that is still queued (or late) must not let an answer through
  // past the deadline: commands fire due timers first.
  create("alice", {"bob", "carol"});
  now = inv("bob").ring_deadline + 1;
  EXPECT_REFUSED(accept("bob"), 410, "invitation_expired");
  EXPECT_REFUSED(rtc_event("carol", sdk_event::joined), 410, "invitation_expired");
  EXPECT_FALSE(m.participants.count("bob") && p("bob").status == participant_status::joined);
}

TEST_F(meeting_core_test, join_after_channel_expiry_is_refused_even_before_the_timer) {
  // docs/protocol.md §9: the channel lives 48h; past expires_at a join must not
  // hand out credentials for a channel the RTC service has dropped.
  // (At the very instant of expires_at the order decides, as for the ring
  // deadline; one millisecond later there is nothing left to decide.)
  create();
  join("bob");
  now = m.expires_at + 1;
  EXPECT_REFUSED(join("carol"), 410, "meeting_expired");
  EXPECT_REFUSED(renew("bob"), 410, "meeting_expired");
}

TEST_F(meeting_core_test, presence_grace_keeps_the_seat_if_back_in_time) {
  create();
  join("bob");
  now += 1000;
  auto off = presence("bob", false);
  EXPECT_FALSE(p("bob").online);
  EXPECT_EQ(p("bob").grace_deadline, now + 60'000);
  EXPECT_EQ(next_deadline(m), now + 60'000);
  auto ev = one_event(off, event_kind::participant);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->users, names{"alice"});
  EXPECT_FALSE(ev->ev.participant->online);
  EXPECT_TRUE(off.memberships.empty());
  auto deadline = p("bob").grace_deadline;
  // Same presence again: nothing.
  auto same = presence("bob", false);
  EXPECT_TRUE(same.changes.empty());
  EXPECT_TRUE(same.events.empty());
  EXPECT_EQ(p("bob").grace_deadline, deadline);
  now = deadline - 1;
  auto on = presence("bob", true);
  EXPECT_TRUE(p("bob").online);
  EXPECT_EQ(p("bob").grace_deadline, 0);
  EXPECT_TRUE(one_event(on, event_kind::participant)->ev.participant->online);
  auto fx = tick_at(deadline);
  EXPECT_TRUE(fx.events.empty()) << kinds(fx);
  EXPECT_EQ(p("bob").status, participant_status::joined);
  // Presence of strangers and of users who left changes nothing.
  EXPECT_TRUE(presence("zoe", false).changes.empty());
  leave("bob");
  EXPECT_TRUE(presence("bob", false).changes.empty());
}

TEST_F(meeting_core_test, presence_grace_removes_a_user_still_offline) {
  create();
  join("bob");
  join("carol");
  presence("alice", false);
  auto deadline = p("alice").grace_deadline;
  auto early = tick_at(deadline - 1);
  EXPECT_EQ(p("alice").status, participant_status::joined);
  EXPECT_TRUE(early.events.empty());
  auto fx = tick_at(deadline);
  EXPECT_EQ(p("alice").status, participant_status::left);
  EXPECT_EQ(p("alice").left_reason, "offline");
  auto left = one_event(fx, event_kind::left);
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->ev.reason, "offline");
  EXPECT_EQ(left->ev.user, "alice");
  EXPECT_EQ(sorted(left->users), (names{"bob", "carol"}));
  ASSERT_EQ(fx.memberships.size(), 1u);
  EXPECT_EQ(fx.memberships[0].user, "alice");
  EXPECT_FALSE(fx.memberships[0].joined);
  // The host went: succession.
  EXPECT_EQ(host_of(m), "bob");
  expect_one_host();
  // An offline user who rejoins is online again.
  auto back = join("alice");
  EXPECT_OK(back);
  EXPECT_TRUE(p("alice").online);
  EXPECT_EQ(p("alice").grace_deadline, 0);
}

TEST_F(meeting_core_test, idle_meeting_ends_at_the_deadline) {
  create("alice", {"bob"});
  leave("alice");
  auto deadline = m.idle_deadline;
  ASSERT_NE(deadline, 0);
  tick_at(inv("bob").ring_deadline); // the invitation times out meanwhile
  auto early = tick_at(deadline - 1);
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_TRUE(early.events.empty());
  EXPECT_EQ(next_deadline(m), deadline);
  auto fx = tick_at(deadline);
  EXPECT_EQ(m.status, meeting_status::ended);
  EXPECT_EQ(m.end_reason, "idle");
  EXPECT_EQ(m.ended_at, deadline);
  EXPECT_TRUE(fx.delete_channel);
  EXPECT_FALSE(next_deadline(m).has_value());
  EXPECT_REFUSED(join("alice"), 410, "meeting_ended");
}

TEST_F(meeting_core_test, idle_end_tells_ringing_invitees) {
  s.ring_timeout = 1h;
  create("alice", {"bob"});
  leave("alice");
  auto fx = tick_at(m.idle_deadline);
  EXPECT_EQ(m.status, meeting_status::ended);
  auto ev = one_event_to(fx, event_kind::ended, {"bob"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.reason, "idle");
  EXPECT_EQ(inv("bob").status, invitation_status::canceled);
}

TEST_F(meeting_core_test, join_before_idle_deadline_cancels_it_and_leave_restarts_it) {
  create();
  leave("alice");
  auto deadline = m.idle_deadline;
  now = deadline - 1;
  auto fx = join("bob");
  EXPECT_OK(fx);
  EXPECT_EQ(m.idle_deadline, 0);
  EXPECT_EQ(host_of(m), "bob");
  EXPECT_EQ(recipients(fx, event_kind::role_changed), names{"bob"});
  now = deadline;
  leave("bob");
  EXPECT_EQ(m.idle_deadline, deadline + std::chrono::milliseconds{10min}.count());
  auto t = tick();
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_TRUE(t.events.empty());
  tick_at(m.idle_deadline);
  EXPECT_EQ(m.status, meeting_status::ended);
  EXPECT_EQ(m.end_reason, "idle");
}

TEST_F(meeting_core_test, channel_expiry_ends_the_meeting) {
  s.ring_timeout = 72h; // still ringing at expiry
  create("alice", {"carol"});
  join("bob");
  tick_at(m.expires_at - std::chrono::milliseconds{5min}.count()); // the warning
  auto early = tick_at(m.expires_at - 1);
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_TRUE(early.events.empty()) << kinds(early);
  auto fx = tick_at(m.expires_at);
  EXPECT_EQ(m.status, meeting_status::ended);
  EXPECT_EQ(m.end_reason, "expired");
  EXPECT_TRUE(fx.delete_channel);
  auto ev = one_event(fx, event_kind::ended);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.reason, "expired");
  EXPECT_EQ(sorted(ev->users), (names{"alice", "bob", "carol"}));
  EXPECT_EQ(fx.memberships.size(), 2u);
  EXPECT_REFUSED(join("bob"), 410, "meeting_expired");
  EXPECT_REFUSED(accept("carol"), 410, "meeting_expired");
  // After DeleteChannel, a later end does not ask for it again.
  channel_deleted(m);
  EXPECT_FALSE(tick().delete_channel);
}

TEST_F(meeting_core_test, appkey_token_warning_and_renew) {
  s.scheme = token_scheme::appkey;
  s.app_key = "k";
  s.channel_ttl = 48h;
  create();
  auto ttl = s.token_ttl.count();
  auto before = s.token_renew_before.count();
  EXPECT_EQ(p("alice").token_expires_at, t0 + ttl);
  EXPECT_EQ(m.expiry_warn_at, 0) << "scheme appkey warns per token";
  EXPECT_EQ(next_deadline(m), t0 + ttl - before);
  // Renewing moves the warning.
  now = t0 + 3600'000;
  auto r = renew("alice");
  auto creds = data_of<proto::credentials_data>(r)->creds;
  EXPECT_EQ(creds.timestamp, to_unix_s(now + ttl));
  EXPECT_EQ(p("alice").token_expires_at, now + ttl);
  EXPECT_EQ(next_deadline(m), now + ttl - before);
  auto old_warn = t0 + ttl - before;
  auto none = tick_at(old_warn);
  EXPECT_TRUE(events_of(none, event_kind::token_expiring).empty());
  auto warn_at = p("alice").token_warn_at;
  tick_at(warn_at - 1);
  auto fx = tick_at(warn_at);
  auto ev = one_event_to(fx, event_kind::token_expiring, {"alice"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.expires_at, to_unix_s(p("alice").token_expires_at));
  EXPECT_EQ(p("alice").token_warn_at, 0);
  // Sent once.
  auto again = tick_at(warn_at + 1000);
  EXPECT_TRUE(events_of(again, event_kind::token_expiring).empty());
}

TEST_F(meeting_core_test, appkey_token_warning_is_per_participant) {
  s.scheme = token_scheme::appkey;
  s.app_key = "k";
  create();
  now += 60'000;
  join("bob");
  auto fx = tick_at(p("alice").token_warn_at);
  EXPECT_EQ(recipients(fx, event_kind::token_expiring), names{"alice"});
  auto fx2 = tick_at(p("bob").token_warn_at);
  EXPECT_EQ(recipients(fx2, event_kind::token_expiring), names{"bob"});
  // A participant who left is not warned.
  m = meeting{};
  now = t0;
  create();
  join("bob");
  leave("bob");
  EXPECT_EQ(recipients(tick_at(p("alice").token_warn_at), event_kind::token_expiring),
            names{"alice"});
}

TEST_F(meeting_core_test, channel_scheme_warns_participants_before_expiry) {
  create();
  join("bob");
  join("carol");
  leave("carol");
  auto warn = m.expires_at - s.token_renew_before.count();
  EXPECT_EQ(m.expiry_warn_at, warn);
  EXPECT_EQ(p("alice").token_warn_at, 0) << "scheme channel warns per meeting";
  EXPECT_EQ(next_deadline(m), warn);
  EXPECT_TRUE(tick_at(warn - 1).events.empty());
  auto fx = tick_at(warn);
  auto ev = one_event_to(fx, event_kind::token_expiring, {"alice", "bob"});
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->ev.expires_at, to_unix_s(m.expires_at));
  EXPECT_EQ(m.expiry_warn_at, 0);
  EXPECT_EQ(m.status, meeting_status::active);
  EXPECT_EQ(next_deadline(m), m.expires_at);
}

TEST_F(meeting_core_test, next_deadline_is_the_earliest_pending_one) {
  create("alice", {"bob"});
  join("carol");
  EXPECT_EQ(next_deadline(m), inv("bob").ring_deadline);
  now += 10'000;
  presence("carol", false);
  EXPECT_EQ(next_deadline(m), inv("bob").ring_deadline);
  cancel("alice", {"bob"});
  EXPECT_EQ(next_deadline(m), p("carol").grace_deadline);
  presence("carol", true);
  EXPECT_EQ(next_deadline(m), m.expiry_warn_at);
  simple(command_kind::meeting_end, dev("alice"));
  EXPECT_FALSE(next_deadline(m).has_value());
  // Timers of an ended meeting do nothing.
  auto fx = tick_at(m.expires_at + 1);
  EXPECT_TRUE(fx.events.empty());
  EXPECT_TRUE(fx.changes.empty());
}

TEST_F(meeting_core_test, update_of_summarises_the_meeting) {
  create("alice", {"bob"});
  auto fx = join("carol");
  auto u = update_of(m, fx.memberships);
  EXPECT_EQ(u.summary.meeting, "m-1");
  EXPECT_EQ(u.summary.host, "alice");
  EXPECT_EQ(u.summary.participants, 2);
  EXPECT_EQ(u.summary.status, meeting_status::active);
  EXPECT_EQ(u.ringing, 1);
  ASSERT_EQ(u.memberships.size(), 1u);
  EXPECT_EQ(u.memberships[0].user, "carol");
}

TEST_F(meeting_core_test, rtc_failure_reply_maps_kinds) {
  auto r = rtc_failure_reply(rtc::failure{rtc::failure_kind::refused, 400, "InvalidAppId",
                                          "bad app", "R-9"});
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.reason, "rtc_error:InvalidAppId");
  EXPECT_NE(r.message.find("bad app"), std::string::npos);
  EXPECT_NE(r.message.find("R-9"), std::string::npos);
  auto u = rtc_failure_reply(rtc::failure{rtc::failure_kind::unavailable, 0, "TransportError",
                                          "", ""});
  EXPECT_EQ(u.code, 503);
  EXPECT_EQ(u.reason, "rtc_unavailable");
}

// -- webhooks (docs/protocol.md §15) ------------------------------------------------

TEST_F(meeting_core_test, no_webhook_events_when_the_node_sends_none) {
  create("alice", {"bob"});
  accept("bob");
  leave("bob");
  simple(command_kind::meeting_end, dev("alice"));
  EXPECT_TRUE(webhooks_seen.empty());
  EXPECT_EQ(m.next_event, 1);
}

TEST_F(meeting_core_test, a_whole_call_tells_the_backend_each_step_in_order) {
  s.webhooks = true;
  create("alice", {"bob"});
  ASSERT_EQ(webhooks_seen.size(), 2u);
  EXPECT_EQ(webhooks_seen[0].host, "alice");
  EXPECT_EQ(webhooks_seen[0].title, "standup");
  EXPECT_EQ(webhooks_seen[0].channel, "m-1");
  EXPECT_EQ(webhooks_seen[1].device, dev("alice").client);
  now += 5'000;
  accept("bob", "tablet");
  EXPECT_EQ(webhooks_seen.back().device, dev("bob", "tablet").client);
  EXPECT_EQ(webhooks_seen[2].inviter, "alice");
  now += 60'000;
  leave("bob");
  now += 20'000;
  join("bob");
  now += 10'500;
  simple(command_kind::meeting_end, dev("alice"));
  EXPECT_EQ(webhook_log(),
            (names{"meeting.created", "participant.joined:alice",
                   "invitation.answered:bob:accepted", "participant.joined:bob",
                   "participant.left:bob:left", "participant.joined:bob",
                   "participant.left:alice:ended", "participant.left:bob:ended",
                   "meeting.ended:ended"}));
  // The call record: alice was in for all 95.5 s, bob for 60 s and 10.5 s.
  auto& ended = webhooks_seen.back();
  EXPECT_EQ(ended.duration_s, 95);
  EXPECT_EQ(ended.seconds, (std::vector<std::pair<std::string, std::int64_t>>{
                             {"alice", 95}, {"bob", 70}}));
  EXPECT_EQ(p("bob").in_call_ms, 70'500);
  EXPECT_EQ(p("bob").first_joined_at, t0 + 5'000);
  EXPECT_EQ(call_record_of(m).seconds, ended.seconds);
}

TEST_F(meeting_core_test, every_way_an_invitation_stops_ringing_is_an_answer) {
  s.webhooks = true;
  s.ring_timeout = 30s;
  create("alice", {"bob", "carol", "dave", "erin"});
  decline("bob");
  cancel("alice", {"carol"});
  now += 10'000;
  invite("alice", {"frank"});
  now += 20'000;
  tick(); // dave and erin time out; frank rings on
  kick(dev("alice"), "frank");
  invite("alice", {"grace"});
  simple(command_kind::meeting_end, dev("alice"));
  names answers;
  for (auto& line : webhook_log())
    if (line.rfind("invitation.answered", 0) == 0)
      answers.push_back(line);
  EXPECT_EQ(answers, (names{"invitation.answered:bob:declined",
                            "invitation.answered:carol:canceled",
                            "invitation.answered:dave:timeout",
                            "invitation.answered:erin:timeout",
                            "invitation.answered:frank:canceled",
                            "invitation.answered:grace:canceled"}));
}

TEST_F(meeting_core_test, a_participant_leaves_kicked_or_offline_as_the_backend_hears_it) {
  s.webhooks = true;
  s.presence_grace = 60s;
  create("alice");
  join("bob");
  join("carol");
  kick(dev("alice"), "bob");
  presence("carol", false);
  tick_at(now + 60'000);
  names lefts;
  for (auto& line : webhook_log())
    if (line.rfind("participant.left", 0) == 0)
      lefts.push_back(line);
  EXPECT_EQ(lefts, (names{"participant.left:bob:kicked", "participant.left:carol:offline"}));
  EXPECT_EQ(p("carol").in_call_ms, 60'000);
}

TEST_F(meeting_core_test, a_refused_command_tells_the_backend_nothing) {
  s.webhooks = true;
  create("alice");
  auto next = m.next_event;
  auto fx = leave("bob"); // not a participant
  EXPECT_NE(fx.reply->code, 0);
  EXPECT_TRUE(fx.webhooks.empty());
  EXPECT_EQ(m.next_event, next);
}

} // namespace
