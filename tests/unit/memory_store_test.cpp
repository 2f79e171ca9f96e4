// The behavioural contract of `store` (persistence/store.hpp), run against
// every implementation: the in-memory store, the SQLite store and the
// PostgreSQL store (on a real server the test starts, tests/pg_server).
// Anything the actors may rely on is pinned here once, so they cannot drift
// apart. Properties of one store (file mode, WAL, migrations, views, crash
// safety, reconnects) are in sqlite_store_test.cpp and pg_store_test.cpp.
#include "actors/core/shards.hpp"
#include "persistence/memory_store.hpp"
#include "persistence/store.hpp"
#ifdef MEETINGD_STORE_CONTRACT_ON_PG
#include "pg_server/pg_server.hpp"
#endif
#include "unit/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>
#include <string>

using namespace meetingd;

namespace {

struct memory_kind {
  static std::unique_ptr<store> open(const std::string&) {
    return make_memory_store();
  }
};

struct sqlite_kind {
  static std::unique_ptr<store> open(const std::string& dir) {
    std::string error;
    auto db = open_sqlite_store(dir + "/meetingd.db", false, &error);
    EXPECT_TRUE(db) << error;
    return db;
  }
};

#ifdef MEETINGD_STORE_CONTRACT_ON_PG
struct pg_kind {
  static std::unique_ptr<store> open(const std::string&) {
    std::string error;
    auto* server = test::pg_server::shared(&error);
    EXPECT_TRUE(server) << error;
    if (!server)
      return nullptr;
    auto uri = server->fresh_database(&error);
    EXPECT_FALSE(uri.empty()) << error;
    auto db = open_pg_store(uri, std::chrono::seconds(10), &error);
    EXPECT_TRUE(db) << error;
    return db;
  }
};
#else
struct pg_kind {};
#endif

struct kind_names {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, memory_kind>)
      return "memory";
    else if constexpr (std::is_same_v<T, sqlite_kind>)
      return "sqlite";
    else
      return "postgresql";
  }
};

// -- sample rows with every field set to something other than its default ---

meeting_record sample_meeting(const std::string& id) {
  meeting_record m;
  m.id = id;
  m.title = "standup \"daily\" ü";
  m.creator = "alice";
  m.host = "bob"; // not the creator, so a store that writes one for the other is caught
  m.channel = {"ch-" + id, "key-" + id, "nonce-" + id, 1700000000};
  m.scheme = token_scheme::appkey;
  m.status = meeting_status::active;
  m.end_reason = "";
  m.created_at = 1700000000123;
  m.expires_at = 1700172800123;
  m.ended_at = 0;
  m.idle_deadline = 1700000600123;
  m.expiry_warn_at = 1700172500123;
  m.locked = true;
  m.policy = invite_policy::hosts;
  m.max_participants = 12;
  m.channel_deleted = false;
  m.next_order = 3;
  m.next_event = 9;
  return m;
}

meeting_record ended_meeting(const std::string& id, unix_ms ended_at,
                             bool channel_deleted) {
  auto m = sample_meeting(id);
  m.status = meeting_status::ended;
  m.end_reason = "idle";
  m.ended_at = ended_at;
  m.channel_deleted = channel_deleted;
  return m;
}

participant sample_participant(const std::string& user, role r) {
  participant p;
  p.user = user;
  p.rtc_user = "rtc-" + user;
  p.r = r;
  p.status = participant_status::kicked;
  p.order = 7;
  p.joined_at = 1700000001000;
  p.left_at = 1700000002000;
  p.left_reason = "kicked";
  p.kicked_by = "alice";
  p.audio_muted = true;
  p.video_muted = true;
  p.online = false;
  p.network_lost = true;
  p.grace_deadline = 1700000060000;
  p.session = "sess-" + user;
  p.token_expires_at = 1700086400000;
  p.token_warn_at = 1700086100000;
  p.first_joined_at = 1700000000500;
  p.in_call_ms = 61500;
  return p;
}

invitation sample_invitation(const std::string& invitee) {
  invitation i;
  i.invitee = invitee;
  i.inviter = "alice";
  i.status = invitation_status::timed_out;
  i.created_at = 1700000003000;
  i.ring_deadline = 1700000048000;
  i.answered_at = 1700000010000;
  i.session = "sess-inv-" + invitee;
  i.delivered = true;
  return i;
}

user_record sample_user(const std::string& id) {
  return {id, "Display " + id, "pbkdf2-sha256$1000$c2FsdA$a2V5", 1690000000000};
}

device_record sample_device(const std::string& client, const std::string& user,
                            std::uint64_t seq) {
  device_record d;
  d.client = client;
  d.user = user;
  d.bound_at = 1700000004000;
  d.last_seq = seq;
  d.online = false;
  d.last_seen_at = 1700000005000;
  return d;
}

request_record sample_request(const std::string& id, unix_ms at) {
  return {"GID_MEETING_DOWN@@@phone-1", id,
          R"({"id":")" + id + R"(","type":"reply","code":0})", at};
}

// Each expect_same binds every field of a record by name (a structured binding
// must name them all), so a field added to a record stops this file compiling
// until it is listed, and so compared, here too. A failure names the field.

void expect_same(const channel_info& a, const channel_info& b);

template <class T>
void expect_same_field(const T& a, const T& b, const std::string& field) {
  EXPECT_EQ(a, b) << "field " << field;
}

void expect_same_field(const channel_info& a, const channel_info& b, const std::string& field) {
  SCOPED_TRACE("field " + field);
  expect_same(a, b);
}

template <class Fields, std::size_t... I>
void expect_same_each(const Fields& a, const Fields& b, const std::vector<std::string>& names,
                      std::index_sequence<I...>) {
  (expect_same_field(std::get<I>(a), std::get<I>(b), names.at(I)), ...);
}

/// `names` is the comma-separated list `fields_of` ties, in its order.
template <class Record, class FieldsOf>
void expect_same_fields(const Record& a, const Record& b, FieldsOf fields_of,
                        const std::string& names) {
  std::vector<std::string> name_list;
  std::istringstream in{names};
  for (std::string name; std::getline(in >> std::ws, name, ',');)
    name_list.push_back(name);
  using fields = decltype(fields_of(a));
  expect_same_each(fields_of(a), fields_of(b), name_list,
                   std::make_index_sequence<std::tuple_size_v<fields>>{});
}

#define EXPECT_SAME_FIELDS(a, b, ...)                                                        \
  expect_same_fields(                                                                        \
    a, b,                                                                                    \
    [](const auto& record) {                                                                 \
      const auto& [__VA_ARGS__] = record;                                                    \
      return std::tie(__VA_ARGS__);                                                          \
    },                                                                                       \
    #__VA_ARGS__)

void expect_same(const channel_info& a, const channel_info& b) {
  EXPECT_SAME_FIELDS(a, b, id, key, nonce, timestamp);
}

void expect_same(const meeting_record& a, const meeting_record& b) {
  EXPECT_SAME_FIELDS(a, b, id, title, creator, host, channel, scheme, status, end_reason,
                     created_at, expires_at, ended_at, idle_deadline, expiry_warn_at, locked,
                     policy, max_participants, channel_deleted, next_order, next_event);
}

void expect_same(const participant& a, const participant& b) {
  EXPECT_SAME_FIELDS(a, b, user, rtc_user, r, status, order, joined_at, left_at, left_reason,
                     kicked_by, audio_muted, video_muted, online, network_lost, grace_deadline,
                     session, token_expires_at, token_warn_at, first_joined_at, in_call_ms);
}

void expect_same(const invitation& a, const invitation& b) {
  EXPECT_SAME_FIELDS(a, b, invitee, inviter, status, created_at, ring_deadline, answered_at,
                     session, delivered);
}

void expect_same(const user_record& a, const user_record& b) {
  EXPECT_SAME_FIELDS(a, b, id, display_name, password_hash, created_at);
}

void expect_same(const device_record& a, const device_record& b) {
  EXPECT_SAME_FIELDS(a, b, client, user, bound_at, last_seq, online, last_seen_at);
}

void expect_same(const request_record& a, const request_record& b) {
  EXPECT_SAME_FIELDS(a, b, client, id, reply, at);
}

void expect_same(const webhook_record& a, const webhook_record& b) {
  EXPECT_SAME_FIELDS(a, b, endpoint, meeting, seq, id, type, at, body, status, attempts,
                     last_error, settled_at);
}

/// A pending event of `meeting` for `endpoint`.
webhook_record sample_webhook(const std::string& endpoint, const std::string& meeting,
                              std::int64_t seq, unix_ms at) {
  webhook_record w;
  w.endpoint = endpoint;
  w.meeting = meeting;
  w.seq = seq;
  w.id = meeting + "." + std::to_string(seq);
  w.type = "participant.joined";
  w.at = at;
  w.body = R"({"id":")" + w.id + R"(","type":"participant.joined","data":{"user":"ann\tü"}})";
  return w;
}

/// The same row as settled: status, attempts, error, when.
webhook_record settled(webhook_record w, webhook_status status, int attempts,
                       const std::string& error, unix_ms at) {
  w.status = status;
  w.attempts = attempts;
  w.last_error = error;
  w.settled_at = at;
  return w;
}

/// "meeting.seq@endpoint" of each row, in order.
std::vector<std::string> keys_of(const std::vector<webhook_record>& rows) {
  std::vector<std::string> out;
  for (auto& w : rows)
    out.push_back(w.meeting + "." + std::to_string(w.seq) + "@" + w.endpoint);
  return out;
}

template <class Rows, class Key>
auto find_by(const Rows& rows, Key key, const std::string& value)
  -> const typename Rows::value_type* {
  for (auto& row : rows)
    if (row.*key == value)
      return &row;
  return nullptr;
}

const meeting* live(const snapshot& s, const std::string& id) {
  return find_by(s.live_meetings, &meeting::id, id);
}

} // namespace

template <class Kind>
class store_contract : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = test_support::make_temp_dir("meetingd-store");
    db_ = Kind::open(dir_);
    ASSERT_TRUE(db_);
  }

  void TearDown() override {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Applies the changesets as one batch.
  std::optional<store_error> apply(std::vector<changeset> batch) {
    std::vector<const changeset*> ptrs;
    for (auto& cs : batch)
      ptrs.push_back(&cs);
    return db_->apply(ptrs);
  }

  template <class... Changes>
  static changeset set_of(Changes... xs) {
    changeset cs;
    (cs.add(std::move(xs)), ...);
    return cs;
  }

  snapshot load_all() {
    auto s = db_->load(0, 0);
    EXPECT_FALSE(s.error) << s.error->what;
    return s;
  }

  std::string dir_;
  std::unique_ptr<store> db_;
};

// The PostgreSQL run is a binary of its own (pg_store_unit_tests, label pg),
// so that a machine without PostgreSQL's server can leave it out.
#ifdef MEETINGD_STORE_CONTRACT_ON_PG
using store_kinds = ::testing::Types<pg_kind>;
#else
using store_kinds = ::testing::Types<memory_kind, sqlite_kind>;
#endif
TYPED_TEST_SUITE(store_contract, store_kinds, kind_names);

TYPED_TEST(store_contract, empty_store_loads_nothing) {
  auto s = this->load_all();
  EXPECT_TRUE(s.live_meetings.empty());
  EXPECT_TRUE(s.ended_meetings.empty());
  EXPECT_TRUE(s.users.empty());
  EXPECT_TRUE(s.devices.empty());
  EXPECT_TRUE(s.requests.empty());
  EXPECT_TRUE(s.clean_shutdown);
}

TYPED_TEST(store_contract, round_trips_every_field_of_every_record) {
  auto m = sample_meeting("m-1");
  auto host = sample_participant("alice", role::host);
  host.status = participant_status::joined;
  auto co = sample_participant("bob", role::cohost);
  auto member = sample_participant("carol", role::member);
  member.status = participant_status::left;
  auto inv1 = sample_invitation("dave");
  auto inv2 = sample_invitation("erin");
  inv2.status = invitation_status::ringing;
  auto user = sample_user("alice");
  auto device = sample_device("GID_MEETING_DOWN@@@phone-1", "alice", 42);
  auto request = sample_request("r-17", 1700000000999);
  auto cs = this->set_of(change::put_meeting{m},
                         change::put_participant{m.id, host},
                         change::put_participant{m.id, co},
                         change::put_participant{m.id, member},
                         change::put_invitation{m.id, inv1},
                         change::put_invitation{m.id, inv2},
                         change::put_user{user}, change::put_device{device},
                         change::put_request{request});
  ASSERT_FALSE(this->apply({cs}));
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  auto& got = s.live_meetings[0];
  expect_same(got, m);
  ASSERT_EQ(got.participants.size(), 3u);
  expect_same(got.participants.at("alice"), host);
  expect_same(got.participants.at("bob"), co);
  expect_same(got.participants.at("carol"), member);
  ASSERT_EQ(got.invitations.size(), 2u);
  expect_same(got.invitations.at("dave"), inv1);
  expect_same(got.invitations.at("erin"), inv2);
  ASSERT_EQ(s.users.size(), 1u);
  expect_same(s.users[0], user);
  ASSERT_EQ(s.devices.size(), 1u);
  expect_same(s.devices[0], device);
  ASSERT_EQ(s.requests.size(), 1u);
  expect_same(s.requests[0], request);
}

TYPED_TEST(store_contract, every_enum_value_round_trips) {
  const role roles[] = {role::host, role::cohost, role::member};
  const participant_status pstates[] = {participant_status::joined,
                                        participant_status::left,
                                        participant_status::kicked};
  const invitation_status istates[]
    = {invitation_status::ringing, invitation_status::accepted,
       invitation_status::declined, invitation_status::canceled,
       invitation_status::timed_out};
  auto m = sample_meeting("m-enum");
  m.scheme = token_scheme::channel;
  m.policy = invite_policy::anyone;
  changeset cs;
  cs.add(change::put_meeting{m});
  for (int i = 0; i < 3; ++i) {
    auto p = sample_participant("p" + std::to_string(i), roles[i]);
    p.status = pstates[i];
    cs.add(change::put_participant{m.id, p});
  }
  for (int i = 0; i < 5; ++i) {
    auto inv = sample_invitation("i" + std::to_string(i));
    inv.status = istates[i];
    cs.add(change::put_invitation{m.id, inv});
  }
  cs.add(change::put_meeting{ended_meeting("m-ended", 1, false)});
  ASSERT_FALSE(this->apply({cs}));
  auto s = this->load_all();
  auto* got = live(s, "m-enum");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->scheme, token_scheme::channel);
  EXPECT_EQ(got->policy, invite_policy::anyone);
  for (int i = 0; i < 3; ++i) {
    auto& p = got->participants.at("p" + std::to_string(i));
    EXPECT_EQ(p.r, roles[i]);
    EXPECT_EQ(p.status, pstates[i]);
  }
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(got->invitations.at("i" + std::to_string(i)).status, istates[i]);
  ASSERT_TRUE(live(s, "m-ended"));
  EXPECT_EQ(live(s, "m-ended")->status, meeting_status::ended);
}

TYPED_TEST(store_contract, puts_are_upserts) {
  auto m = sample_meeting("m-1");
  auto p = sample_participant("bob", role::member);
  auto inv = sample_invitation("carol");
  auto user = sample_user("bob");
  auto request = sample_request("r-1", 100);
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_meeting{m}, change::put_participant{m.id, p},
    change::put_invitation{m.id, inv}, change::put_user{user},
    change::put_request{request})}));
  m.title = "renamed";
  m.locked = false;
  m.idle_deadline = 0;
  p.r = role::cohost;
  p.audio_muted = false;
  inv.status = invitation_status::accepted;
  user.display_name = "Bobby";
  user.password_hash = "";
  request.reply = "{}";
  request.at = 200;
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_meeting{m}, change::put_participant{m.id, p},
    change::put_invitation{m.id, inv}, change::put_user{user},
    change::put_request{request})}));
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  expect_same(s.live_meetings[0], m);
  ASSERT_EQ(s.live_meetings[0].participants.size(), 1u);
  expect_same(s.live_meetings[0].participants.at("bob"), p);
  ASSERT_EQ(s.live_meetings[0].invitations.size(), 1u);
  expect_same(s.live_meetings[0].invitations.at("carol"), inv);
  ASSERT_EQ(s.users.size(), 1u);
  expect_same(s.users[0], user);
  ASSERT_EQ(s.requests.size(), 1u);
  expect_same(s.requests[0], request);
}

TYPED_TEST(store_contract, later_changes_in_a_batch_win) {
  auto m = sample_meeting("m-1");
  auto first = m;
  first.title = "first";
  auto second = m;
  second.title = "second";
  ASSERT_FALSE(this->apply({this->set_of(change::put_meeting{first}),
                            this->set_of(change::put_meeting{second})}));
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].title, "second");
}

TYPED_TEST(store_contract, rows_may_precede_their_meeting_in_a_changeset) {
  auto m = sample_meeting("m-1");
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_participant{m.id, sample_participant("bob", role::host)},
    change::put_meeting{m})}));
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].participants.size(), 1u);
}

TYPED_TEST(store_contract, delete_meeting_removes_its_rows_only) {
  auto a = sample_meeting("m-a");
  auto b = sample_meeting("m-b");
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_meeting{a}, change::put_meeting{b},
    change::put_participant{a.id, sample_participant("x", role::host)},
    change::put_participant{b.id, sample_participant("x", role::host)},
    change::put_invitation{a.id, sample_invitation("y")},
    change::put_invitation{b.id, sample_invitation("y")})}));
  ASSERT_FALSE(this->apply({this->set_of(change::delete_meeting{"m-a"},
                                         change::delete_meeting{"m-none"})}));
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].id, "m-b");
  EXPECT_EQ(s.live_meetings[0].participants.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].invitations.size(), 1u);
  // A meeting written again after its deletion starts with no rows.
  ASSERT_FALSE(this->apply({this->set_of(change::put_meeting{a})}));
  s = this->load_all();
  auto* again = live(s, "m-a");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->participants.empty());
  EXPECT_TRUE(again->invitations.empty());
}

TYPED_TEST(store_contract, delete_user_and_device) {
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_user{sample_user("a")}, change::put_user{sample_user("b")},
    change::put_device{sample_device("c1", "a", 1)},
    change::put_device{sample_device("c2", "b", 1)})}));
  ASSERT_FALSE(this->apply({this->set_of(change::delete_user{"a"},
                                         change::delete_device{"c2"},
                                         change::delete_user{"nobody"})}));
  auto s = this->load_all();
  ASSERT_EQ(s.users.size(), 1u);
  EXPECT_EQ(s.users[0].id, "b");
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].client, "c1");
}

TYPED_TEST(store_contract, login_failures_and_removed_users_round_trip_and_delete) {
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_login_failures{{"alice", 3, 1700000000123}},
    change::put_login_failures{{"bob", 1, 1700000000456}},
    change::put_login_failures{{"alice", 4, 1700000000789}}, // an upsert
    change::put_removed_user{{"carol", 1700000000999}},
    change::put_removed_user{{"dave", 5}})}));
  auto s = this->load_all();
  ASSERT_EQ(s.login_failures.size(), 2u);
  auto alice = find_by(s.login_failures, &login_failures_record::account, std::string{"alice"});
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->failures, 4);
  EXPECT_EQ(alice->last_failed_at, 1700000000789);
  ASSERT_EQ(s.removed_users.size(), 2u);
  auto carol = find_by(s.removed_users, &removed_user_record::user, std::string{"carol"});
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->removed_at, 1700000000999);
  ASSERT_FALSE(this->apply({this->set_of(change::delete_login_failures{"alice"},
                                         change::delete_removed_user{"dave"},
                                         change::delete_login_failures{"nobody"})}));
  s = this->load_all();
  ASSERT_EQ(s.login_failures.size(), 1u);
  EXPECT_EQ(s.login_failures[0].account, "bob");
  ASSERT_EQ(s.removed_users.size(), 1u);
  EXPECT_EQ(s.removed_users[0].user, "carol");
}

TYPED_TEST(store_contract, delete_requests_of_forgets_one_clients_replies_only) {
  auto mine1 = sample_request("r-1", 10);
  auto mine2 = sample_request("r-2", 11);
  auto theirs = sample_request("r-1", 12);
  theirs.client = mine1.client + "-other";
  ASSERT_FALSE(this->apply({this->set_of(change::put_request{mine1}, change::put_request{mine2},
                                         change::put_request{theirs})}));
  // In one changeset with a new reply of the same client: the delete comes
  // first, the new reply stays (a logout's own reply).
  auto after = sample_request("r-3", 13);
  ASSERT_FALSE(this->apply({this->set_of(change::delete_requests_of{mine1.client},
                                         change::put_request{after})}));
  EXPECT_FALSE(this->db_->stored_reply(mine1.client, "r-1"));
  EXPECT_FALSE(this->db_->stored_reply(mine1.client, "r-2"));
  EXPECT_TRUE(this->db_->stored_reply(mine1.client, "r-3"));
  EXPECT_TRUE(this->db_->stored_reply(theirs.client, "r-1"));
  EXPECT_EQ(this->load_all().requests.size(), 2u);
}

TYPED_TEST(store_contract, a_failing_batch_applies_nothing) {
  auto m = sample_meeting("m-1");
  auto event = sample_webhook("https://a.example/hook", m.id, 1, 10);
  ASSERT_FALSE(
    this->apply({this->set_of(change::put_meeting{m}, change::put_webhook{event})}));
  auto changed = m;
  changed.title = "changed";
  // The second changeset writes a participant of a meeting that does not
  // exist: the foreign key fails at commit, after everything else was written.
  auto good = this->set_of(
    change::put_meeting{changed}, change::put_meeting{sample_meeting("m-2")},
    change::put_participant{m.id, sample_participant("bob", role::host)},
    change::put_user{sample_user("u")},
    change::put_device{sample_device("c", "u", 5)},
    change::put_request{sample_request("r-1", 100)}, change::delete_meeting{"m-1"},
    change::put_login_failures{{"u", 1, 5}}, change::put_removed_user{{"v", 5}},
    change::put_webhook{sample_webhook("https://a.example/hook", "m-2", 1, 20)},
    change::settle_webhook{settled(event, webhook_status::delivered, 1, "", 30)});
  auto bad = this->set_of(
    change::put_participant{"m-missing", sample_participant("eve", role::host)});
  auto err = this->apply({good, bad});
  ASSERT_TRUE(err);
  EXPECT_FALSE(err->retryable) << err->what;
  auto what = err->what;
  for (auto& ch : what)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(what.find("foreign key"), std::string::npos) << err->what;
  auto s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  expect_same(s.live_meetings[0], m);
  EXPECT_TRUE(s.live_meetings[0].participants.empty());
  EXPECT_TRUE(s.users.empty());
  EXPECT_TRUE(s.devices.empty());
  EXPECT_TRUE(s.requests.empty());
  EXPECT_TRUE(s.login_failures.empty());
  EXPECT_TRUE(s.removed_users.empty());
  auto pending = this->db_->pending_webhooks({}, 0, 10);
  ASSERT_EQ(pending.size(), 1u) << "neither the new event nor the settling is kept";
  expect_same(pending[0], event);
  // The store stays usable, and the good changeset alone commits.
  ASSERT_FALSE(this->apply({good}));
  s = this->load_all();
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].id, "m-2");
  EXPECT_EQ(s.users.size(), 1u);
  EXPECT_EQ(keys_of(this->db_->pending_webhooks({}, 0, 10)),
            std::vector<std::string>{"m-2.1@https://a.example/hook"});
}

TYPED_TEST(store_contract, device_seq_never_goes_down) {
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_device{sample_device("c1", "alice", 5)})}));
  auto seq = [&] {
    auto s = this->load_all();
    EXPECT_EQ(s.devices.size(), 1u);
    return s.devices.empty() ? 0 : s.devices[0].last_seq;
  };
  ASSERT_FALSE(this->apply({this->set_of(change::put_device_seq{"c1", 3})}));
  EXPECT_EQ(seq(), 5u);
  ASSERT_FALSE(this->apply({this->set_of(change::put_device_seq{"c1", 9})}));
  EXPECT_EQ(seq(), 9u);
  // Re-binding the device updates the row but keeps the higher seq.
  auto rebound = sample_device("c1", "bob", 2);
  rebound.online = true;
  ASSERT_FALSE(this->apply({this->set_of(change::put_device{rebound})}));
  auto s = this->load_all();
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].user, "bob");
  EXPECT_TRUE(s.devices[0].online);
  EXPECT_EQ(s.devices[0].last_seq, 9u);
  // A seq for an unknown device creates nothing.
  ASSERT_FALSE(this->apply({this->set_of(change::put_device_seq{"c9", 4})}));
  EXPECT_EQ(this->load_all().devices.size(), 1u);
  // After a delete the device starts over.
  ASSERT_FALSE(this->apply({this->set_of(change::delete_device{"c1"},
                                         change::put_device{rebound})}));
  EXPECT_EQ(seq(), 2u);
}

TYPED_TEST(store_contract, load_filters_live_ended_and_old) {
  const unix_ms horizon = 1'000'000;
  auto active = sample_meeting("m-active");
  auto undeleted = ended_meeting("m-undeleted", 10, false); // old, channel alive
  auto recent = ended_meeting("m-recent", horizon + 5, true);
  auto at_horizon = ended_meeting("m-at-horizon", horizon, true);
  auto old = ended_meeting("m-old", horizon - 1, true);
  changeset cs;
  for (auto* m : {&active, &undeleted, &recent, &at_horizon, &old}) {
    cs.add(change::put_meeting{*m});
    cs.add(change::put_participant{m->id, sample_participant("p", role::host)});
    cs.add(change::put_invitation{m->id, sample_invitation("i")});
  }
  cs.add(change::put_request{sample_request("r-old", 99)});
  cs.add(change::put_request{sample_request("r-edge", 100)});
  cs.add(change::put_request{sample_request("r-new", 101)});
  ASSERT_FALSE(this->apply({cs}));
  auto s = this->db_->load(100, horizon);
  ASSERT_FALSE(s.error);
  ASSERT_EQ(s.live_meetings.size(), 2u);
  for (auto id : {"m-active", "m-undeleted"}) {
    auto* m = live(s, id);
    ASSERT_TRUE(m) << id;
    EXPECT_EQ(m->participants.size(), 1u);
    EXPECT_EQ(m->invitations.size(), 1u);
  }
  ASSERT_EQ(s.ended_meetings.size(), 2u);
  EXPECT_TRUE(find_by(s.ended_meetings, &meeting_record::id, "m-recent"));
  EXPECT_TRUE(find_by(s.ended_meetings, &meeting_record::id, "m-at-horizon"));
  expect_same(*find_by(s.ended_meetings, &meeting_record::id, "m-recent"),
              recent);
  ASSERT_EQ(s.requests.size(), 2u);
  EXPECT_TRUE(find_by(s.requests, &request_record::id, "r-edge"));
  EXPECT_TRUE(find_by(s.requests, &request_record::id, "r-new"));
}

// Recovery reads participants and invitations in one pass each and finds
// their meeting by walking forward: meetings without rows (and ended ones
// between live ones) must not throw rows onto the wrong meeting.
TYPED_TEST(store_contract, each_row_loads_into_its_own_meeting) {
  changeset cs;
  const int meetings = 40;
  for (int i = 0; i < meetings; ++i) {
    auto id = "m-" + std::to_string(i);
    auto m = i % 7 == 3 ? ended_meeting(id, 5, true) : sample_meeting(id);
    cs.add(change::put_meeting{m});
    for (int p = 0; p < i % 3; ++p) // 0, 1 or 2 participants
      cs.add(change::put_participant{id, sample_participant(id + "-p" + std::to_string(p),
                                                            role::member)});
    if (i % 4 == 1) // invitations for a few only
      cs.add(change::put_invitation{id, sample_invitation(id + "-i")});
  }
  ASSERT_FALSE(this->apply({cs}));
  auto s = this->load_all();
  EXPECT_EQ(s.live_meetings.size(), static_cast<std::size_t>(meetings - 6));
  for (auto& m : s.live_meetings) {
    auto i = std::stoi(m.id.substr(2));
    EXPECT_EQ(m.participants.size(), static_cast<std::size_t>(i % 3)) << m.id;
    for (auto& [user, p] : m.participants)
      EXPECT_EQ(user.rfind(m.id + "-p", 0), 0u) << m.id << " got " << user;
    EXPECT_EQ(m.invitations.size(), i % 4 == 1 ? 1u : 0u) << m.id;
    for (auto& [invitee, inv] : m.invitations)
      EXPECT_EQ(invitee, m.id + "-i") << m.id;
  }
}

// The node keeps only request keys in memory; a duplicate's reply is read
// back from the store, byte for byte, until the request is pruned.
TYPED_TEST(store_contract, stored_reply_reads_a_request_back_until_pruned) {
  auto request = sample_request("r-1", 10);
  ASSERT_FALSE(this->apply({this->set_of(change::put_request{request})}));
  auto reply = this->db_->stored_reply(request.client, "r-1");
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, request.reply);
  EXPECT_FALSE(this->db_->stored_reply(request.client, "r-2"));
  EXPECT_FALSE(this->db_->stored_reply("GID_MEETING_DOWN@@@other", "r-1"));
  this->db_->prune(11, 0);
  EXPECT_FALSE(this->db_->stored_reply(request.client, "r-1"));
}

TYPED_TEST(store_contract, prune_deletes_old_requests_and_ended_meetings) {
  changeset cs;
  auto old = ended_meeting("m-old", 500, true);
  auto old_undeleted = ended_meeting("m-old-undeleted", 400, false);
  auto recent = ended_meeting("m-recent", 5000, true);
  auto active = sample_meeting("m-active");
  active.created_at = 1; // age of an active meeting does not matter
  for (auto* m : {&old, &old_undeleted, &recent, &active})
    cs.add(change::put_meeting{*m});
  cs.add(change::put_participant{old.id, sample_participant("a", role::host)});
  cs.add(change::put_participant{old.id, sample_participant("b", role::member)});
  cs.add(change::put_invitation{old.id, sample_invitation("c")});
  cs.add(change::put_participant{recent.id, sample_participant("a", role::host)});
  cs.add(change::put_participant{active.id, sample_participant("a", role::host)});
  cs.add(change::put_request{sample_request("r-1", 10)});
  cs.add(change::put_request{sample_request("r-2", 20)});
  cs.add(change::put_request{sample_request("r-3", 30)});
  ASSERT_FALSE(this->apply({cs}));
  // 2 requests + m-old (1 meeting, 2 participants, 1 invitation) + m-old-undeleted.
  EXPECT_EQ(this->db_->prune(30, 1000), 2u + 4u + 1u);
  EXPECT_EQ(this->db_->prune(30, 1000), 0u);
  auto s = this->load_all();
  ASSERT_EQ(s.requests.size(), 1u);
  EXPECT_EQ(s.requests[0].id, "r-3");
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].id, "m-active");
  EXPECT_EQ(s.live_meetings[0].participants.size(), 1u);
  ASSERT_EQ(s.ended_meetings.size(), 1u);
  EXPECT_EQ(s.ended_meetings[0].id, "m-recent");
  // Pruned meeting ids are free again, without stale rows.
  ASSERT_FALSE(this->apply({this->set_of(change::put_meeting{sample_meeting("m-old")})}));
  s = this->load_all();
  ASSERT_TRUE(live(s, "m-old"));
  EXPECT_TRUE(live(s, "m-old")->participants.empty());
}

// -- the webhook outbox (docs/protocol.md §15) ------------------------------------

TYPED_TEST(store_contract, a_webhook_event_is_written_once_and_then_only_settled) {
  const std::string a = "https://a.example/hook";
  auto first = sample_webhook(a, "m-1", 1, 1700000000100);
  auto second = sample_webhook(a, "m-1", 2, 1700000000200);
  ASSERT_FALSE(
    this->apply({this->set_of(change::put_webhook{first}, change::put_webhook{second})}));
  // The same key again (a batch applied twice, a bug): the first row stays,
  // its delivery state included.
  auto again = first;
  again.body = "{}";
  again.type = "meeting.ended";
  again.at = 5;
  ASSERT_FALSE(this->apply({this->set_of(change::put_webhook{again})}));
  auto pending = this->db_->pending_webhooks({}, 0, 10);
  ASSERT_EQ(pending.size(), 2u);
  expect_same(pending[0], first);
  expect_same(pending[1], second);
  // A failed attempt recorded, then delivery; and a settle of an event that
  // is not there creates nothing.
  auto retried = settled(first, webhook_status::pending, 2, "HTTP 503", 0);
  ASSERT_FALSE(this->apply({this->set_of(
    change::settle_webhook{retried},
    change::settle_webhook{settled(second, webhook_status::delivered, 1, "", 1700000000300)},
    change::settle_webhook{settled(sample_webhook(a, "m-9", 1, 1), webhook_status::given_up, 9,
                                   "timeout", 1)})}));
  pending = this->db_->pending_webhooks({}, 0, 10);
  ASSERT_EQ(pending.size(), 1u);
  expect_same(pending[0], retried);
  // A settled event is no longer put back to pending by a put of its key.
  ASSERT_FALSE(this->apply({this->set_of(change::put_webhook{second})}));
  EXPECT_EQ(this->db_->pending_webhooks({}, 0, 10).size(), 1u);
  // Every status round-trips (seen through prune, which counts the settled).
  ASSERT_FALSE(this->apply({this->set_of(change::settle_webhook{
    settled(retried, webhook_status::given_up, 8, "HTTP 500", 1700000000400)})}));
  EXPECT_TRUE(this->db_->pending_webhooks({}, 0, 10).empty());
  EXPECT_EQ(this->db_->prune(0, 1700000000401), 2u);
}

TYPED_TEST(store_contract, pending_webhooks_come_in_order_up_to_the_limit_and_by_shard) {
  const std::string a = "https://a.example/hook", b = "https://b.example/hook";
  changeset cs;
  // Written out of order: by time, then meeting, then seq, then endpoint.
  for (int i = 9; i >= 0; --i) {
    auto meeting = "m-" + std::to_string(i % 5);
    auto at = 1700000000000 + (i / 5) * 1000; // two per meeting, a second apart
    for (auto* endpoint : {&b, &a})
      cs.add(change::put_webhook{sample_webhook(*endpoint, meeting, 1 + i / 5, at)});
  }
  cs.add(change::put_webhook{sample_webhook(a, "m-0", 3, 1700000000000)}); // same time as seq 1
  auto done = sample_webhook(a, "m-1", 7, 1);
  cs.add(change::put_webhook{done});
  cs.add(change::settle_webhook{settled(done, webhook_status::delivered, 1, "", 2)});
  ASSERT_FALSE(this->apply({cs}));
  std::vector<std::string> all;
  for (int round = 0; round < 2; ++round)
    for (int m = 0; m < 5; ++m) {
      auto meeting = "m-" + std::to_string(m);
      auto seq = std::to_string(round + 1);
      all.push_back(meeting + "." + seq + "@" + a);
      all.push_back(meeting + "." + seq + "@" + b);
      if (round == 0 && m == 0)
        all.push_back("m-0.3@" + a);
    }
  EXPECT_EQ(keys_of(this->db_->pending_webhooks({}, 0, 100)), all);
  EXPECT_EQ(keys_of(this->db_->pending_webhooks({}, 0, 3)),
            std::vector<std::string>(all.begin(), all.begin() + 3));
  EXPECT_TRUE(this->db_->pending_webhooks({}, 0, 0).empty());
  // By shard: the meetings of the shards asked for only, in the same order
  // and under the same limit; a node that holds no shard gets nothing.
  const int count = 4;
  for (std::vector<int> shards : {std::vector<int>{0}, {1, 3}, {2}, {0, 1, 2, 3}}) {
    std::vector<std::string> want;
    for (auto& key : all)
      if (std::count(shards.begin(), shards.end(),
                     shards::shard_of(key.substr(0, key.find('.')), count)))
        want.push_back(key);
    EXPECT_EQ(keys_of(this->db_->pending_webhooks(shards, count, 100)), want)
      << "shards " << ::testing::PrintToString(shards);
    want.resize(std::min<std::size_t>(want.size(), 2));
    EXPECT_EQ(keys_of(this->db_->pending_webhooks(shards, count, 2)), want);
  }
  EXPECT_TRUE(this->db_->pending_webhooks({}, count, 100).empty());
}

TYPED_TEST(store_contract, prune_deletes_settled_webhook_events_by_age_and_never_pending_ones) {
  const std::string a = "https://a.example/hook";
  auto ended = ended_meeting("m-old", 500, true);
  auto stuck = sample_webhook(a, ended.id, 1, 100); // pending for ages
  auto delivered = settled(sample_webhook(a, ended.id, 2, 200), webhook_status::delivered, 1, "",
                           999);
  auto at_cutoff = settled(sample_webhook(a, ended.id, 3, 300), webhook_status::delivered, 1, "",
                           1000);
  auto given_up = settled(sample_webhook(a, "m-new", 1, 400), webhook_status::given_up, 12,
                          "HTTP 410", 400);
  auto recent = settled(sample_webhook(a, "m-new", 2, 500), webhook_status::delivered, 1, "",
                        5000);
  changeset cs;
  cs.add(change::put_meeting{ended});
  for (auto* w : {&stuck, &delivered, &at_cutoff, &given_up, &recent}) {
    cs.add(change::put_webhook{sample_webhook(a, w->meeting, w->seq, w->at)});
    if (w->status != webhook_status::pending)
      cs.add(change::settle_webhook{*w});
  }
  ASSERT_FALSE(this->apply({cs}));
  // The ended meeting, and the two events settled before the cutoff.
  EXPECT_EQ(this->db_->prune(0, 1000), 1u + 2u);
  EXPECT_EQ(this->db_->prune(0, 1000), 0u);
  auto pending = this->db_->pending_webhooks({}, 0, 10);
  ASSERT_EQ(pending.size(), 1u) << "a pending event outlives its meeting";
  expect_same(pending[0], stuck);
  EXPECT_EQ(this->db_->prune(0, 5001), 2u); // at_cutoff and recent
  EXPECT_EQ(this->db_->pending_webhooks({}, 0, 10).size(), 1u);
}

TYPED_TEST(store_contract, deleting_a_meeting_keeps_its_webhook_events) {
  const std::string a = "https://a.example/hook";
  auto m = sample_meeting("m-1");
  auto pending = sample_webhook(a, m.id, 2, 20);
  auto delivered = sample_webhook(a, m.id, 1, 10);
  ASSERT_FALSE(this->apply({this->set_of(
    change::put_meeting{m}, change::put_participant{m.id, sample_participant("x", role::host)},
    change::put_webhook{delivered}, change::put_webhook{pending},
    change::settle_webhook{settled(delivered, webhook_status::delivered, 1, "", 30)})}));
  ASSERT_FALSE(this->apply({this->set_of(change::delete_meeting{m.id})}));
  EXPECT_TRUE(this->load_all().live_meetings.empty());
  auto left = this->db_->pending_webhooks({}, 0, 10);
  ASSERT_EQ(left.size(), 1u);
  expect_same(left[0], pending);
  EXPECT_EQ(this->db_->prune(0, 31), 1u) << "the delivered one, pruned by its own age";
}

TYPED_TEST(store_contract, clean_shutdown_flag) {
  EXPECT_TRUE(this->load_all().clean_shutdown);
  ASSERT_FALSE(this->db_->set_clean_shutdown(false));
  EXPECT_FALSE(this->load_all().clean_shutdown);
  ASSERT_FALSE(this->db_->set_clean_shutdown(true));
  EXPECT_TRUE(this->load_all().clean_shutdown);
  EXPECT_FALSE(this->db_->checkpoint());
}

TYPED_TEST(store_contract, empty_batches_and_changesets_are_fine) {
  EXPECT_FALSE(this->apply({}));
  EXPECT_FALSE(this->apply({changeset{}, changeset{}}));
  EXPECT_TRUE(this->load_all().live_meetings.empty());
}
