// Webhooks to the application's backend (docs/protocol.md §15, issue 18),
// end to end: a real node posts its events to a real HTTP receiver
// (webhook_receiver.hpp) on a loopback port.
//
//   - a call between two users: every event arrives once, exactly as
//     documented, signed with WEBHOOK_SECRET, in the meeting's order, and
//     the outbox, admin.stats and the metrics say they were delivered;
//   - two URLs: each gets every event;
//   - a receiver failing its first attempts: everything arrives later, the
//     failed events with the same ids and bytes, nothing lost or reordered;
//   - a receiver that never answers: the call's commands are answered as
//     ever, the events wait (admin.stats pending);
//   - kill -9 between commit and delivery: what the outbox held at the kill
//     arrives after the restart, in order, and numbering goes on;
//   - --webhook-max-age passed: given up, logged, counted, and listed in the
//     webhook_failures view with the receiver's last answer;
//   - bad options stop the node with one line; without --webhook-url the
//     outbox stays empty.
//
// The tests with a database to look at run on both stores
// (webhooks.<test>/sqlite, webhooks.<test>/postgres).
#include "harness.hpp"
#include "webhook_receiver.hpp"

#include "gateway/webhook_delivery.hpp"

#include <gtest/gtest.h>

#include <httplib.h>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace meetingd::testing;
using steady = std::chrono::steady_clock;

namespace {

constexpr const char* k_secret = "webhook-secret-for-the-tests-0123456789";

long long now_unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// A node that posts its events to `urls`, signed with k_secret.
node_options with_webhooks(store_kind store, const std::vector<std::string>& urls,
                           std::map<std::string, std::string> flags = {}) {
  node_options o;
  o.store = store;
  std::string list;
  for (auto& u : urls)
    list += (list.empty() ? "" : ",") + u;
  o.flags = std::move(flags);
  o.flags["webhook-url"] = list;
  o.env["WEBHOOK_SECRET"] = k_secret;
  return o;
}

// -- the node's database ------------------------------------------------------------

/// `sql` on an SQLite file, read-only, as an operator's sqlite3 would run
/// it; each column as text (NULL as "").
std::vector<sql_row> sqlite_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string error = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path + ": " + error);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    std::string error = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error(sql + ": " + error);
  }
  std::vector<sql_row> rows;
  int rc = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    sql_row row;
    for (int col = 0; col < sqlite3_column_count(stmt); ++col) {
      auto* text = sqlite3_column_text(stmt, col);
      row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
    }
    rows.push_back(std::move(row));
  }
  std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (!error.empty())
    throw std::runtime_error(sql + ": " + error);
  return rows;
}

/// `sql` on the node's database, whichever store the cluster has.
std::vector<sql_row> db_rows(cluster& c, const std::string& sql) {
  return c.store() == store_kind::postgres ? pg_rows(c.db_path(), sql)
                                           : sqlite_rows(c.db_path(), sql);
}

std::string dump(const std::vector<sql_row>& rows) {
  std::string s;
  for (auto& row : rows) {
    for (auto& col : row)
      s += col + " | ";
    s += "\n";
  }
  return s.empty() ? "(no rows)\n" : s;
}

// -- the node's figures ---------------------------------------------------------------

/// admin.stats' webhooks: {delivered, failed_attempts, given_up, pending}.
json webhook_stats(meetingd::client::session& console) {
  auto r = console.request("admin.stats");
  if (code_of(r) != 0)
    throw std::runtime_error("admin.stats refused: " + r.dump());
  return r["data"]["webhooks"];
}

long long stat(const json& stats, const char* name) {
  return stats.value(name, -1LL);
}

/// The value of an unlabelled metric on the node's /metrics; -1 if absent.
double metric(cluster& c, const std::string& name) {
  auto [status, body] = c.node_http("/metrics");
  if (status != 200)
    return -1;
  std::istringstream in{body};
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0)
      return std::stod(line.substr(name.size() + 1));
  return -1;
}

// -- what the receiver saw ------------------------------------------------------------

using requests_t = webhook_receiver::requests_t;

/// The requests about `meeting` (by the body's meeting), in arrival order.
requests_t of_meeting(const requests_t& all, const std::string& meeting) {
  requests_t out;
  for (auto& r : all) {
    auto body = json::parse(r.body, nullptr, false);
    if (body.is_object() && body.value("meeting", "") == meeting)
      out.push_back(r);
  }
  return out;
}

std::set<std::string> delivered_ids(const requests_t& all) {
  std::set<std::string> ids;
  for (auto& r : all)
    if (r.delivered())
      ids.insert(r.event_id());
  return ids;
}

/// Whether every id of `ids` has a request answered 2xx.
bool all_delivered(const requests_t& all, const std::vector<std::string>& ids) {
  auto got = delivered_ids(all);
  return std::all_of(ids.begin(), ids.end(), [&](auto& id) { return got.count(id) > 0; });
}

std::string describe(const requests_t& all) {
  std::string s;
  for (auto& r : all)
    s += std::to_string(r.answered) + " " + r.method + " " + r.path + " " + r.event_id() + " "
      + r.body + "\n";
  return s.empty() ? "(no requests)\n" : s;
}

/// For EXPECT_TRUE: the request is what the node promises for every event:
/// a POST of JSON to the URL's path, under the size limit, whose event id
/// and type headers match the body, signed with k_secret, and which the
/// node's codec reads back.
::testing::AssertionResult well_formed(const webhook_request& r, const std::string& path) {
  auto fail = [&r]() {
    return ::testing::AssertionFailure()
      << " in " << r.method << " " << r.path << " " << r.body << ": ";
  };
  if (r.method != "POST" || r.path != path)
    return fail() << "expected POST " << path;
  if (r.header("Content-Type").rfind("application/json", 0) != 0)
    return fail() << "Content-Type is '" << r.header("Content-Type") << "'";
  if (r.body.size() >= meetingd::webhooks::max_body_bytes)
    return fail() << "the body has " << r.body.size() << " bytes";
  auto body = json::parse(r.body, nullptr, false);
  if (!body.is_object())
    return fail() << "the body is not a JSON object";
  if (r.event_id().empty() || r.event_id() != body.value("id", ""))
    return fail() << "X-Meetingd-Event-Id is '" << r.event_id() << "'";
  if (r.header("X-Meetingd-Event-Type") != body.value("type", ""))
    return fail() << "X-Meetingd-Event-Type is '" << r.header("X-Meetingd-Event-Type") << "'";
  if (!signature_valid(r, k_secret))
    return fail() << "X-Meetingd-Signature '" << r.header("X-Meetingd-Signature")
                  << "' does not verify with the secret";
  if (signature_valid(r, "another-secret-of-enough-length"))
    return fail() << "the signature verifies with another secret too";
  auto ev = decode(r);
  if (!ev)
    return fail() << "codec::decode_webhook refuses it";
  if (ev->id() != r.event_id() || ev->meeting != body.value("meeting", "")
      || ev->seq != body.value("seq", -1LL))
    return fail() << "decoded as " << ev->id();
  return ::testing::AssertionSuccess();
}

/// For EXPECT_TRUE: per meeting, the attempts came in the meeting's order
/// (never an event before an earlier one of its meeting was delivered), and
/// the delivered events are 1..n with none missing.
::testing::AssertionResult in_order(const requests_t& all) {
  std::map<std::string, std::vector<const webhook_request*>> by_meeting;
  for (auto& r : all) {
    auto body = json::parse(r.body, nullptr, false);
    by_meeting[body.value("meeting", "")].push_back(&r);
  }
  for (auto& [meeting, reqs] : by_meeting) {
    long long delivered_up_to = 0; // the highest seq delivered so far
    for (auto* r : reqs) {
      auto seq = json::parse(r->body).value("seq", -1LL);
      if (seq > delivered_up_to + 1)
        return ::testing::AssertionFailure()
          << meeting << "." << seq << " was sent before " << meeting << "." << delivered_up_to + 1
          << " was delivered:\n"
          << describe(all);
      if (r->delivered() && seq == delivered_up_to + 1)
        delivered_up_to = seq;
    }
  }
  return ::testing::AssertionSuccess();
}

/// For EXPECT_TRUE: per meeting, the attempts never go back to an earlier
/// event (for events given up, which in_order cannot tell from a failure).
::testing::AssertionResult never_back(const requests_t& all) {
  std::map<std::string, long long> last;
  for (auto& r : all) {
    auto body = json::parse(r.body, nullptr, false);
    auto& seq = last[body.value("meeting", "")];
    auto now = body.value("seq", -1LL);
    if (now < seq)
      return ::testing::AssertionFailure() << "an attempt went back to " << r.event_id() << ":\n"
                                           << describe(all);
    seq = now;
  }
  return ::testing::AssertionSuccess();
}

// -- a call -----------------------------------------------------------------------

/// What a call left to check its events against.
/// What a call left to check its events against, and its devices: they stay
/// connected as long as the test needs (a device gone offline would leave
/// the meeting after its grace period: events of its own).
struct call_facts {
  std::unique_ptr<meetingd::client::session> alice, bob;
  std::string meeting, channel, title;
  std::string alice_client, bob_client;
  long long started_ms = 0, ended_ms = 0;
};

/// Alice calls Bob, who answers; with `pause`, time passes in the call (so
/// that each has whole seconds in it); Bob leaves; with `end`, Alice ends it.
/// Every command is answered with code 0 within the session's usual wait.
void a_call(cluster& c, call_facts& f, bool end = true,
            std::chrono::milliseconds pause = std::chrono::milliseconds{0},
            const std::string& suffix = "") {
  f.alice = c.logged_in("alice-phone" + suffix, "alice" + suffix);
  f.bob = c.logged_in("bob-phone" + suffix, "bob" + suffix);
  auto& alice = f.alice;
  auto& bob = f.bob;
  f.alice_client = alice->client_id();
  f.bob_client = bob->client_id();
  if (f.title.empty())
    f.title = "webhooks" + suffix;
  f.started_ms = now_unix_ms();
  auto created
    = alice->request("meeting.create", {{"title", f.title}, {"invitees", {"bob" + suffix}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  f.meeting = created["data"]["meeting"];
  f.channel = created["data"]["channel"];
  ASSERT_TRUE(bob->wait_event("event.invite"));
  auto accepted = bob->request("call.accept", {{"meeting", f.meeting}});
  ASSERT_EQ(code_of(accepted), 0) << accepted.dump();
  if (pause.count() > 0)
    std::this_thread::sleep_for(pause); // time in the call, not a wait for anything
  auto left = bob->request("meeting.leave", {{"meeting", f.meeting}});
  ASSERT_EQ(code_of(left), 0) << left.dump();
  if (end) {
    auto ended = alice->request("meeting.end", {{"meeting", f.meeting}});
    ASSERT_EQ(code_of(ended), 0) << ended.dump();
  }
  f.ended_ms = now_unix_ms();
}

/// The bodies a_call's events have, without "at" (checked apart) and, for
/// meeting.ended, without duration_s and seconds (idem); `ended`: with the
/// last two.
std::vector<json> expected_bodies(const call_facts& f, const std::string& alice,
                                  const std::string& bob, bool ended = true) {
  auto body = [&f](int seq, const char* type, json data) {
    return json{{"id", f.meeting + "." + std::to_string(seq)},
                {"type", type},
                {"meeting", f.meeting},
                {"seq", seq},
                {"data", std::move(data)}};
  };
  std::vector<json> out{
    body(1, "meeting.created", {{"host", alice}, {"title", f.title}, {"channel", f.channel}}),
    body(2, "participant.joined", {{"user", alice}, {"device", f.alice_client}}),
    body(3, "invitation.answered", {{"user", bob}, {"outcome", "accepted"}, {"inviter", alice}}),
    body(4, "participant.joined", {{"user", bob}, {"device", f.bob_client}}),
    body(5, "participant.left", {{"user", bob}, {"reason", "left"}}),
  };
  if (ended) {
    out.push_back(body(6, "participant.left", {{"user", alice}, {"reason", "ended"}}));
    out.push_back(body(7, "meeting.ended", {{"reason", "ended"}}));
  }
  return out;
}

std::vector<std::string> ids_of(const std::vector<json>& bodies) {
  std::vector<std::string> ids;
  for (auto& b : bodies)
    ids.push_back(b["id"]);
  return ids;
}

/// For EXPECT_TRUE: the delivered requests of `f`'s meeting, first arrival
/// of each id, are `expected` exactly, in order; "at" is within the call and
/// never goes back; meeting.ended has whole seconds for both users.
::testing::AssertionResult events_are(const requests_t& all, const call_facts& f,
                                      const std::vector<json>& expected, const std::string& alice,
                                      const std::string& bob, bool time_passed = false) {
  requests_t firsts;
  std::set<std::string> seen;
  for (auto& r : of_meeting(all, f.meeting))
    if (r.delivered() && seen.insert(r.event_id()).second)
      firsts.push_back(r);
  if (firsts.size() != expected.size())
    return ::testing::AssertionFailure() << "expected " << expected.size() << " events, got:\n"
                                         << describe(all);
  long long last_at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto got = json::parse(firsts[i].body);
    auto at = got.value("at", -1LL);
    if (at < f.started_ms - 1000 || at > f.ended_ms + 1000 || at < last_at)
      return ::testing::AssertionFailure()
        << "\"at\" of " << got.dump() << " is not within the call (" << f.started_ms << ".."
        << f.ended_ms << ") after " << last_at;
    last_at = at;
    got.erase("at");
    auto want = expected[i];
    if (want["type"] == "meeting.ended" && got.contains("data")) {
      auto& data = got["data"];
      if (!data.contains("duration_s") || !data["duration_s"].is_number_integer()
          || !data.contains("seconds") || !data["seconds"].is_object()
          || data["seconds"].size() != 2 || !data["seconds"].contains(alice)
          || !data["seconds"].contains(bob))
        return ::testing::AssertionFailure() << "meeting.ended: " << firsts[i].body;
      long long duration = data["duration_s"], a = data["seconds"][alice], b = data["seconds"][bob];
      // Alice was in from the start to the end, Bob for a while in between.
      if (!(0 <= b && b <= a && a <= duration) || (time_passed && b < 1))
        return ::testing::AssertionFailure()
          << "meeting.ended's seconds do not add up: " << firsts[i].body;
      // In the order they first joined (the call_records view's).
      auto ev = decode(firsts[i]);
      if (!ev || ev->seconds.size() != 2 || ev->seconds[0].first != alice)
        return ::testing::AssertionFailure() << "meeting.ended's seconds are not in the order "
                                             << "of joining: " << firsts[i].body;
      data.erase("duration_s");
      data.erase("seconds");
    }
    if (got != want)
      return ::testing::AssertionFailure() << "event " << i + 1 << ": expected " << want.dump()
                                           << "\n got " << got.dump() << "\nall:\n"
                                           << describe(all);
  }
  return ::testing::AssertionSuccess();
}

/// The cluster's node on the test's store.
class webhooks : public ::testing::TestWithParam<store_kind> {};

} // namespace

INSTANTIATE_TEST_SUITE_P(, webhooks, both_stores());

// (a) Every event of a call, once each, exactly as documented.
TEST_P(webhooks, a_call_delivers_every_event_once_signed_and_in_order) {
  webhook_receiver receiver;
  cluster c{with_webhooks(GetParam(), {receiver.url()})};
  c.start_node();
  call_facts f;
  // Signed over the bytes as sent: escapes and UTF-8 included.
  f.title = "Ünïcode \"quoted\" \\ / 会议 \t tab";
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, true, std::chrono::milliseconds{1500}));
  auto expected = expected_bodies(f, "alice", "bob");
  auto ids = ids_of(expected);
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, ids); }, 20s))
    << describe(receiver.requests());

  // Nothing more is on its way: the node counts all seven delivered.
  auto console = c.console();
  json stats;
  EXPECT_TRUE(eventually(
    [&] {
      stats = webhook_stats(*console);
      return stat(stats, "pending") == 0 && stat(stats, "delivered") == 7;
    },
    10s))
    << stats.dump();
  EXPECT_EQ(stat(stats, "given_up"), 0) << stats.dump();

  auto all = receiver.requests();
  EXPECT_EQ(all.size(), expected.size()) << describe(all);
  for (auto& r : all)
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  EXPECT_TRUE(in_order(all));
  EXPECT_TRUE(events_are(all, f, expected, "alice", "bob", true));
  // Once each: a 2xx is never sent again.
  std::map<std::string, int> times;
  for (auto& r : all)
    ++times[r.event_id()];
  for (auto& [id, n] : times)
    EXPECT_EQ(n, 1) << id << "\n" << describe(all);

  // The outbox says delivered. (An attempt on a kept-alive connection that
  // the receiver closed at that instant fails before reaching it and is
  // retried, so the attempts are not asserted to be one.)
  std::vector<sql_row> rows;
  EXPECT_TRUE(eventually(
    [&] {
      rows = db_rows(c,
                     "SELECT id, type, status, attempts, last_error, endpoint "
                     "FROM webhook_outbox ORDER BY meeting, seq");
      return rows.size() == 7
        && std::all_of(rows.begin(), rows.end(), [](auto& row) { return row[2] == "delivered"; });
    },
    10s))
    << dump(rows);
  for (std::size_t i = 0; i < rows.size() && i < expected.size(); ++i) {
    EXPECT_EQ(rows[i][0], expected[i]["id"]) << dump(rows);
    EXPECT_EQ(rows[i][1], expected[i]["type"]) << dump(rows);
    EXPECT_GE(std::stoi(rows[i][3]), 1) << dump(rows);
    EXPECT_EQ(rows[i][5], receiver.url()) << dump(rows);
  }
  EXPECT_EQ(metric(c, "meetingd_webhooks_delivered_total"), 7);
  EXPECT_EQ(metric(c, "meetingd_webhooks_pending"), 0);
  EXPECT_EQ(metric(c, "meetingd_webhooks_given_up_total"), 0);
}

// (d) Events committed but not delivered when the node is killed (the
// receiver is down, so none could be) are all in the outbox and arrive after
// the restart, in order; the meeting's numbering goes on after them.
TEST_P(webhooks, events_committed_before_a_kill_arrive_after_the_restart) {
  webhook_receiver receiver;
  cluster c{with_webhooks(GetParam(), {receiver.url()})};
  c.start_node();
  receiver.stop(); // the port is closed: every attempt fails to connect
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, false));
  auto expected = expected_bodies(f, "alice", "bob", false);
  EXPECT_EQ(receiver.count(), 0u);

  c.kill_node();
  auto pending = db_rows(c,
                         "SELECT id FROM webhook_outbox WHERE status = 'pending' "
                         "ORDER BY meeting, seq");
  std::vector<std::string> pending_ids;
  for (auto& row : pending)
    pending_ids.push_back(row[0]);
  // Every event of the call was committed with its change before the reply.
  ASSERT_EQ(pending_ids, ids_of(expected)) << dump(pending);

  receiver.start();
  c.start_node();
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, pending_ids); }, 20s))
    << describe(receiver.requests()) << c.node_log();
  auto all = receiver.requests();
  for (auto& r : all)
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  EXPECT_TRUE(in_order(all));
  f.ended_ms = now_unix_ms();
  EXPECT_TRUE(events_are(all, f, expected, "alice", "bob"));

  // The call goes on: the end's events are numbered after those.
  auto ended = f.alice->request("meeting.end", {{"meeting", f.meeting}});
  ASSERT_EQ(code_of(ended), 0) << ended.dump();
  f.ended_ms = now_unix_ms();
  auto full = expected_bodies(f, "alice", "bob", true);
  ASSERT_TRUE(receiver.wait_for([&](auto& got) { return all_delivered(got, ids_of(full)); }, 20s))
    << describe(receiver.requests());
  all = receiver.requests();
  EXPECT_TRUE(in_order(all));
  EXPECT_TRUE(events_are(all, f, full, "alice", "bob"));
  auto rows = db_rows(c, "SELECT count(*) FROM webhook_outbox");
  EXPECT_EQ(rows.at(0).at(0), "7");
}

// (e) An event the receiver refuses past --webhook-max-age is given up:
// logged as an error, counted, and listed in the webhook_failures view with
// the receiver's last answer.
TEST_P(webhooks, events_refused_past_the_max_age_are_given_up) {
  webhook_receiver receiver;
  receiver.answer_always(503);
  cluster c{with_webhooks(GetParam(), {receiver.url()}, {{"webhook-max-age", "2s"}})};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto created = alice->request("meeting.create", {{"title", "nobody listens"}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  // meeting.created and participant.joined.
  auto console = c.console();
  json stats;
  ASSERT_TRUE(eventually(
    [&] {
      stats = webhook_stats(*console);
      return stat(stats, "given_up") >= 2;
    },
    20s))
    << stats.dump() << "\n"
    << describe(receiver.requests());
  EXPECT_EQ(stat(stats, "delivered"), 0) << stats.dump();
  EXPECT_GE(stat(stats, "failed_attempts"), 2) << stats.dump();

  auto given_up = lines_with(c.node_log(), "webhook.given_up");
  EXPECT_NE(given_up.find(" error webhook.given_up"), std::string::npos) << c.node_log();
  EXPECT_NE(given_up.find(meeting + ".1"), std::string::npos) << given_up;
  EXPECT_GE(metric(c, "meetingd_webhooks_given_up_total"), 2);

  std::vector<sql_row> rows;
  EXPECT_TRUE(eventually(
    [&] {
      rows = db_rows(c,
                     "SELECT id, type, last_error, attempts, endpoint, body FROM webhook_failures "
                     "ORDER BY meeting, seq");
      return rows.size() >= 2;
    },
    10s))
    << dump(rows);
  ASSERT_EQ(rows.size(), 2u) << dump(rows);
  EXPECT_EQ(rows[0][0], meeting + ".1");
  EXPECT_EQ(rows[0][1], "meeting.created");
  EXPECT_EQ(rows[1][0], meeting + ".2");
  EXPECT_EQ(rows[1][1], "participant.joined");
  for (auto& row : rows) {
    EXPECT_EQ(row[2], "HTTP 503") << dump(rows);
    EXPECT_GE(std::stoi(row[3]), 1) << dump(rows);
    if (row[0] == meeting + ".1") {
      EXPECT_GE(std::stoi(row[3]), 2) << dump(rows);
    }
    EXPECT_EQ(row[4], receiver.url()) << dump(rows);
  }
  // Every attempt reached the receiver, well formed, and was refused.
  auto all = receiver.requests();
  // The view keeps the body that was sent, to hand over by other means.
  for (auto& row : rows) {
    auto sent
      = std::find_if(all.begin(), all.end(), [&](auto& r) { return r.event_id() == row[0]; });
    ASSERT_NE(sent, all.end()) << row[0] << " never reached the receiver";
    EXPECT_EQ(row[5], sent->body);
  }
  EXPECT_GE(all.size(), 2u);
  for (auto& r : all) {
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
    EXPECT_EQ(r.answered, 503);
  }
  // The first event was tried again within its window.
  EXPECT_GE(
    std::count_if(all.begin(), all.end(), [&](auto& r) { return r.event_id() == meeting + ".1"; }),
    2)
    << describe(all);
  // The second event went only once the first was given up.
  EXPECT_TRUE(never_back(all));
}

// (g) Off by default: no --webhook-url, no outbox rows, nothing counted.
TEST_P(webhooks, without_a_url_the_outbox_stays_empty) {
  node_options o;
  o.store = GetParam();
  o.env["WEBHOOK_SECRET"] = k_secret; // a secret alone turns nothing on
  cluster c{o};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, true));
  auto rows = db_rows(c, "SELECT count(*) FROM webhook_outbox");
  EXPECT_EQ(rows.at(0).at(0), "0");
  auto console = c.console();
  auto stats = webhook_stats(*console);
  EXPECT_EQ(stats,
            (json{{"delivered", 0}, {"failed_attempts", 0}, {"given_up", 0}, {"pending", 0}}));
  EXPECT_EQ(c.node_log().find("webhook.started"), std::string::npos) << c.node_log();
}

// Several URLs: each gets every event, in order, on its own.
TEST(webhook_urls, every_url_gets_every_event) {
  webhook_receiver first, second;
  first.answer_always(204); // any 2xx is delivered
  // A redirect is not a delivery (it is not followed): tried again. One
  // receiver's trouble does not hold up the other.
  second.fail_next(1, 302);
  cluster c{with_webhooks(store_kind::sqlite, {first.url("/a"), second.url("/b")})};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, true));
  auto expected = expected_bodies(f, "alice", "bob");
  auto ids = ids_of(expected);
  for (auto* r : {&first, &second})
    ASSERT_TRUE(r->wait_for([&](auto& all) { return all_delivered(all, ids); }, 20s))
      << describe(r->requests());
  for (auto [r, path] : {std::pair{&first, "/a"}, std::pair{&second, "/b"}}) {
    auto all = r->requests();
    for (auto& req : all)
      EXPECT_TRUE(well_formed(req, path));
    EXPECT_TRUE(in_order(all));
    EXPECT_TRUE(events_are(all, f, expected, "alice", "bob"));
  }
  // The same event has the same bytes at both.
  auto a = first.requests(), b = second.requests();
  for (auto& ra : a)
    for (auto& rb : b)
      if (ra.event_id() == rb.event_id()) {
        EXPECT_EQ(ra.body, rb.body) << ra.event_id();
      }
  auto rows = db_rows(c, "SELECT count(*) FROM webhook_outbox");
  EXPECT_EQ(rows.at(0).at(0), "14");
}

// (b) A receiver that fails the first attempts: the same events arrive later,
// with the same ids and bytes, none lost, none out of order.
TEST(webhook_retries, failed_attempts_are_retried_until_delivered) {
  constexpr int failures = 3;
  webhook_receiver receiver;
  receiver.fail_next(failures, 500);
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()})};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, true));
  auto expected = expected_bodies(f, "alice", "bob");
  auto ids = ids_of(expected);
  // Backoff of about 0.5-1 s, then 1-2 s, then 2-4 s.
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, ids); }, 30s))
    << describe(receiver.requests());
  auto all = receiver.requests();
  for (auto& r : all)
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  EXPECT_TRUE(in_order(all));
  EXPECT_TRUE(events_are(all, f, expected, "alice", "bob"));

  // The failed attempts: the first ones, and each of their events arrived
  // later with the very same bytes.
  int failed = 0;
  std::map<std::string, std::string> delivered_body;
  for (auto& r : all)
    if (r.delivered())
      delivered_body.emplace(r.event_id(), r.body);
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].delivered())
      continue;
    ++failed;
    EXPECT_LT(i, static_cast<std::size_t>(failures)) << describe(all);
    EXPECT_EQ(all[i].answered, 500);
    auto got = delivered_body.find(all[i].event_id());
    ASSERT_NE(got, delivered_body.end()) << all[i].event_id() << " never delivered";
    EXPECT_EQ(got->second, all[i].body);
  }
  EXPECT_EQ(failed, failures) << describe(all);
  // Exponential backoff from about 0.5-1 s: the waits between the attempts
  // of the first event are at least 0.5, 1 and 2 s (less a margin for the
  // clocks; a busy machine only makes them longer).
  if (all.size() > static_cast<std::size_t>(failures)) {
    std::vector<std::chrono::milliseconds> floors{400ms, 900ms, 1900ms};
    for (int i = 0; i < failures; ++i)
      EXPECT_GE(all[i + 1].arrived - all[i].arrived, floors[static_cast<std::size_t>(i)])
        << "retry " << i + 1 << " came too soon";
  }
  // One attempt at a time and in order: the first event took them all.
  EXPECT_EQ(all.size(), expected.size() + failures) << describe(all);
  EXPECT_EQ(all.front().event_id(), f.meeting + ".1");

  auto console = c.console();
  json stats;
  EXPECT_TRUE(eventually(
    [&] {
      stats = webhook_stats(*console);
      return stat(stats, "pending") == 0 && stat(stats, "delivered") == 7;
    },
    10s))
    << stats.dump();
  EXPECT_GE(stat(stats, "failed_attempts"), failures) << stats.dump();
  EXPECT_EQ(stat(stats, "given_up"), 0) << stats.dump();
  EXPECT_GE(metric(c, "meetingd_webhook_failed_attempts_total"), failures);
  // The log says so (the first failure of an event, then at 2, 4, ...).
  EXPECT_NE(lines_with(c.node_log(), "webhook.attempt_failed").find(f.meeting + ".1"),
            std::string::npos)
    << c.node_log();
  // The outbox counts the attempts of the first event.
  std::vector<sql_row> rows;
  EXPECT_TRUE(eventually(
    [&] {
      rows = db_rows(c, "SELECT seq, status, attempts FROM webhook_outbox ORDER BY seq");
      return rows.size() == 7
        && std::all_of(rows.begin(), rows.end(), [](auto& row) { return row[1] == "delivered"; });
    },
    10s))
    << dump(rows);
  if (!rows.empty()) {
    EXPECT_EQ(rows[0][2], std::to_string(failures + 1)) << dump(rows);
  }
}

// (c) A receiver that accepts the connection and never answers: the call is
// answered as ever (each command within the session's usual wait), the
// events wait in the node. Stopping the receiver does not wait for the
// connections it holds.
TEST(webhook_hang, a_receiver_that_never_answers_holds_up_no_command) {
  webhook_receiver receiver;
  receiver.hang(true);
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()}, {{"webhook-timeout", "1s"}})};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, true));
  // A second call while the first's events are stuck.
  call_facts g;
  ASSERT_NO_FATAL_FAILURE(a_call(c, g, true, std::chrono::milliseconds{0}, "-2"));

  auto console = c.console();
  json stats;
  EXPECT_TRUE(eventually(
    [&] {
      stats = webhook_stats(*console);
      return stat(stats, "pending") > 0 && stat(stats, "failed_attempts") >= 1;
    },
    15s))
    << stats.dump();
  EXPECT_EQ(stat(stats, "delivered"), 0) << stats.dump();
  EXPECT_GT(metric(c, "meetingd_webhooks_pending"), 0);
  auto all = receiver.requests();
  EXPECT_FALSE(all.empty());
  for (auto& r : all) {
    EXPECT_EQ(r.answered, 0) << describe(all);
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  }
  EXPECT_TRUE(in_order(all));
  // An attempt counts as failed after --webhook-timeout (1 s), not the
  // default 5 s: the first event's second attempt came well before 5 s
  // after its first (the timeout, then a wait of 0.5-1 s).
  ASSERT_TRUE(receiver.wait_for(
    [&](auto& got) {
      return std::count_if(got.begin(), got.end(),
                           [&](auto& r) { return r.event_id() == f.meeting + ".1"; })
        >= 2;
    },
    15s))
    << describe(receiver.requests());
  all = receiver.requests();
  std::vector<steady::time_point> first_event;
  for (auto& r : all)
    if (r.event_id() == f.meeting + ".1")
      first_event.push_back(r.arrived);
  EXPECT_GE(first_event[1] - first_event[0], 1400ms) << describe(all);
  // With the default 5 s it could not come before 5.5 s.
  EXPECT_LT(first_event[1] - first_event[0], 5400ms) << describe(all);
  EXPECT_NE(lines_with(c.node_log(), "webhook.attempt_failed").find(f.meeting + ".1"),
            std::string::npos)
    << c.node_log();

  // The commands are still answered as ever.
  auto again = f.alice->request("meeting.create", {{"title", "still answered"}});
  EXPECT_EQ(code_of(again), 0) << again.dump();

  // SIGTERM with an attempt held open by the receiver: the node stops
  // cleanly all the same.
  auto code = c.stop_node();
  EXPECT_EQ(code, 0) << c.node_log();
  EXPECT_NE(c.node_log().find("node.stopped clean=true"), std::string::npos) << c.node_log();

  // Stopping the receiver with connections held open.
  auto before = steady::now();
  receiver.stop();
  EXPECT_LT(steady::now() - before, 10s) << "stopping the receiver waited for its clients";
}

// At least once: the receiver takes an event in but the node is killed
// before the answer reaches it. After the restart the event is sent again,
// with the same id and bytes, and the rest follow in order.
TEST(webhook_kill, an_event_in_flight_at_a_kill_is_sent_again) {
  webhook_receiver receiver;
  receiver.hang(true); // takes requests in and does not answer yet
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()})};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, false));
  ASSERT_TRUE(receiver.wait_for([](auto& got) { return !got.empty(); }, 10s));
  c.kill_node();
  receiver.hang(false); // the held request is answered 200, to nobody
  auto before = receiver.requests();
  ASSERT_FALSE(before.empty());
  auto in_flight = before.front();
  EXPECT_EQ(in_flight.event_id(), f.meeting + ".1");

  c.start_node();
  auto expected = expected_bodies(f, "alice", "bob", false);
  auto ids = ids_of(expected);
  ASSERT_TRUE(receiver.wait_for(
    [&](auto& got) {
      return all_delivered(requests_t(got.begin() + static_cast<long>(before.size()), got.end()),
                           ids);
    },
    20s))
    << describe(receiver.requests()) << c.node_log();
  auto all = receiver.requests();
  requests_t after(all.begin() + static_cast<long>(before.size()), all.end());
  for (auto& r : after)
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  EXPECT_TRUE(in_order(after));
  f.ended_ms = now_unix_ms();
  EXPECT_TRUE(events_are(after, f, expected, "alice", "bob"));
  EXPECT_EQ(after.front().event_id(), in_flight.event_id()) << describe(all);
  EXPECT_EQ(after.front().body, in_flight.body);
  EXPECT_EQ(after.front().header("X-Meetingd-Signature"), in_flight.header("X-Meetingd-Signature"));
}

// The events left in the outbox by a killed node and those of the meeting
// after the restart go out as one sequence: the receiver is down until both
// are committed, and then gets 1..7 in order.
TEST(webhook_kill, events_from_before_and_after_a_restart_go_out_in_one_order) {
  webhook_receiver receiver;
  receiver.stop();
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()})};
  c.start_node();
  call_facts f;
  ASSERT_NO_FATAL_FAILURE(a_call(c, f, false));
  c.kill_node();
  c.start_node();
  auto ended = f.alice->request("meeting.end", {{"meeting", f.meeting}});
  ASSERT_EQ(code_of(ended), 0) << ended.dump();
  f.ended_ms = now_unix_ms();
  auto pending = db_rows(c,
                         "SELECT seq FROM webhook_outbox WHERE status = 'pending' "
                         "ORDER BY seq");
  EXPECT_EQ(pending.size(), 7u) << dump(pending);

  receiver.start();
  auto expected = expected_bodies(f, "alice", "bob", true);
  // The first event waits out its backoff (a few seconds at most by now).
  ASSERT_TRUE(
    receiver.wait_for([&](auto& all) { return all_delivered(all, ids_of(expected)); }, 30s))
    << describe(receiver.requests()) << c.node_log();
  auto all = receiver.requests();
  EXPECT_TRUE(in_order(all));
  EXPECT_TRUE(events_are(all, f, expected, "alice", "bob"));
  EXPECT_EQ(all.size(), expected.size()) << describe(all);
}

// A receiver that is down while many meetings have events: after a few
// failed attempts in a row one meeting probes the URL on its backoff and the
// others wait, so the node does not try every meeting's event over and over
// (nor log each); once the receiver is back, every event arrives, in order.
TEST(webhook_down, a_failing_url_is_probed_by_one_meeting_and_all_go_when_it_answers) {
  webhook_receiver receiver;
  receiver.stop(); // the port is closed: every attempt fails to connect
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()})};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  constexpr int meetings = 8;
  for (int i = 0; i < meetings; ++i) {
    auto id = "down-" + std::to_string(i);
    start_meeting(*alice, {}, {{"meeting", id}});
    ASSERT_EQ(code_of(alice->request("meeting.end", {{"meeting", id}})), 0);
  }
  // created, joined, left, ended for each.
  std::vector<std::string> ids;
  for (int i = 0; i < meetings; ++i)
    for (int seq = 1; seq <= 4; ++seq)
      ids.push_back("down-" + std::to_string(i) + "." + std::to_string(seq));
  // Without the probe, each meeting would try again after ~0.75, 2.25 and
  // 5.25 s: some 30 attempts by now. A slower machine only makes fewer.
  std::this_thread::sleep_for(6s);
  auto failed = metric(c, "meetingd_webhook_failed_attempts_total");
  EXPECT_GE(failed, 3);
  EXPECT_LT(failed, 20) << c.node_log();
  auto lines = lines_with(c.node_log(), "webhook.attempt_failed");
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;

  receiver.start();
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, ids); }, 40s))
    << describe(receiver.requests()) << c.node_log();
  auto all = receiver.requests();
  EXPECT_TRUE(in_order(all));
  EXPECT_NE(c.node_log().find("webhook.receiver_recovered"), std::string::npos) << c.node_log();
}

// (f) Bad webhook options stop the node at start with one line naming them.
TEST(webhook_options, bad_ones_stop_the_node_with_one_line) {
  std::map<std::string, std::string> good_env{
    {"RTC_ACCESS_KEY_ID", "k"}, {"RTC_ACCESS_KEY_SECRET", "s"}, {"WEBHOOK_SECRET", k_secret}};
  auto without_secret = good_env;
  without_secret.erase("WEBHOOK_SECRET");
  auto short_secret = good_env;
  short_secret["WEBHOOK_SECRET"] = "12345";
  temp_dir dir;
  auto db = "--db=" + dir.path() + "/meetingd.db";
  struct bad_start {
    std::string url;
    std::map<std::string, std::string> env;
    std::vector<std::string> names; // each in the line
  };
  std::vector<bad_start> cases{
    {"ftp://x", good_env, {"--webhook-url", "ftp://x"}},
    {"http://", good_env, {"--webhook-url", "http://", "host"}},
    {"http://127.0.0.1:9/hooks,http://127.0.0.1:9/hooks",
     good_env,
     {"--webhook-url", "http://127.0.0.1:9/hooks", "twice"}},
    {"http://127.0.0.1:9/hooks", without_secret, {"WEBHOOK_SECRET"}},
    {"http://127.0.0.1:9/hooks", short_secret, {"WEBHOOK_SECRET", "16"}},
    {"http://bad host/hooks", good_env, {"--webhook-url"}},
  };
  std::vector<std::pair<std::string, std::string>> bad_durations{
    {"--webhook-timeout=0s", "--webhook-timeout"},
    {"--webhook-timeout=2min", "--webhook-timeout"},
    {"--webhook-max-age=0s", "--webhook-max-age"},
  };
  for (auto& [flag, name] : bad_durations) {
    auto [code, out]
      = run_meetingd({"--app-id=x", db, "--webhook-url=http://127.0.0.1:9/hooks", flag}, good_env);
    EXPECT_NE(code, 0) << flag << ": " << out;
    EXPECT_NE(code, -1) << flag << ": still running after 10 s: " << out;
    EXPECT_EQ(count_lines(out), 1) << flag << ": " << out;
    EXPECT_NE(out.find(name), std::string::npos) << flag << ": " << out;
  }
  for (auto& bad : cases) {
    auto [code, out] = run_meetingd({"--app-id=x", db, "--webhook-url=" + bad.url}, bad.env);
    EXPECT_NE(code, 0) << bad.url << ": " << out;
    EXPECT_NE(code, -1) << bad.url << ": still running after 10 s: " << out;
    EXPECT_EQ(count_lines(out), 1) << bad.url << ": " << out;
    for (auto& name : bad.names)
      EXPECT_NE(out.find(name), std::string::npos) << bad.url << ": " << out;
    // The secret is never shown, whichever way it is wrong.
    EXPECT_EQ(out.find(k_secret), std::string::npos) << out;
    EXPECT_EQ(out.find("12345"), std::string::npos) << out;
  }
}

// Every outcome of an invitation and every reason to leave, with the data
// the documentation gives each: declined, canceled, accepted, timeout (the
// ring timer); left by kick, by going offline (the presence grace), by the
// end; a meeting ended by the host and one by an admin.
TEST(webhook_types, every_outcome_and_reason_is_reported) {
  webhook_receiver receiver;
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()},
                          {{"ring-timeout", "2s"}, {"presence-grace", "2s"}})};
  c.start_node();
  std::map<std::string, std::unique_ptr<meetingd::client::session>> dev;
  for (auto user : {"alice", "bob", "carol", "dave", "erin", "frank"})
    dev[user] = c.logged_in(std::string{user} + "-phone", user);
  auto& alice = dev["alice"];
  auto created = alice->request(
    "meeting.create",
    {{"title", "all of it"}, {"invitees", {"bob", "carol", "dave", "erin", "frank"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  std::string meeting = created["data"]["meeting"];
  std::string channel = created["data"]["channel"];
  for (auto user : {"bob", "carol", "dave", "erin", "frank"})
    ASSERT_EQ(created["data"]["invitations"][user], "ringing") << created.dump();
  auto ok = [](const json& r) { return code_of(r) == 0; };
  ASSERT_TRUE(ok(dev["bob"]->request("call.decline", {{"meeting", meeting}, {"reason", "busy"}})));
  ASSERT_TRUE(ok(alice->request("call.cancel", {{"meeting", meeting}, {"users", {"carol"}}})));
  ASSERT_TRUE(ok(dev["erin"]->request("call.accept", {{"meeting", meeting}})));
  ASSERT_TRUE(ok(dev["frank"]->request("call.accept", {{"meeting", meeting}})));
  ASSERT_TRUE(ok(alice->request("moderate.kick", {{"meeting", meeting}, {"user", "erin"}})));
  dev["frank"]->drop(); // gone without a word: removed after the grace
  ASSERT_TRUE(alice->wait_event("event.invite_timeout", 10s)) << c.node_log();
  std::optional<json> left;
  for (auto deadline = steady::now() + 10s; steady::now() < deadline;) {
    left = alice->wait_event("event.left", 1s);
    if (left && (*left)["data"].value("reason", "") == "offline")
      break;
  }
  ASSERT_TRUE(event_with(left, "reason", "offline")) << c.node_log();
  ASSERT_TRUE(ok(alice->request("meeting.end", {{"meeting", meeting}})));

  // A second meeting, ended by an admin while an invitation rings: Bob
  // leaves, Dave's invitation is canceled, then the meeting ends.
  auto other = dev["bob"]->request("meeting.create",
                                   {{"title", "ended by an admin"}, {"invitees", {"dave"}}});
  ASSERT_EQ(code_of(other), 0) << other.dump();
  ASSERT_EQ(other["data"]["invitations"]["dave"], "ringing") << other.dump();
  std::string second = other["data"]["meeting"];
  auto console = c.console();
  auto ended = console->request("admin.meeting.end", {{"meeting", second}});
  ASSERT_EQ(code_of(ended), 0) << ended.dump();

  auto body = [](const std::string& m, int seq, const char* type, json data) {
    return json{{"id", m + "." + std::to_string(seq)},
                {"type", type},
                {"meeting", m},
                {"seq", seq},
                {"data", std::move(data)}};
  };
  auto client = [&](const char* user) { return dev[user]->client_id(); };
  std::vector<json> first_part{
    body(meeting, 1, "meeting.created",
         {{"host", "alice"}, {"title", "all of it"}, {"channel", channel}}),
    body(meeting, 2, "participant.joined", {{"user", "alice"}, {"device", client("alice")}}),
    body(meeting, 3, "invitation.answered",
         {{"user", "bob"}, {"outcome", "declined"}, {"inviter", "alice"}}),
    body(meeting, 4, "invitation.answered",
         {{"user", "carol"}, {"outcome", "canceled"}, {"inviter", "alice"}}),
    body(meeting, 5, "invitation.answered",
         {{"user", "erin"}, {"outcome", "accepted"}, {"inviter", "alice"}}),
    body(meeting, 6, "participant.joined", {{"user", "erin"}, {"device", client("erin")}}),
    body(meeting, 7, "invitation.answered",
         {{"user", "frank"}, {"outcome", "accepted"}, {"inviter", "alice"}}),
    body(meeting, 8, "participant.joined", {{"user", "frank"}, {"device", client("frank")}}),
    body(meeting, 9, "participant.left", {{"user", "erin"}, {"reason", "kicked"}}),
  };
  // The two timers, in whichever order they fired.
  std::set<std::string> timers{
    json{{"type", "invitation.answered"},
         {"data", {{"user", "dave"}, {"outcome", "timeout"}, {"inviter", "alice"}}}}
      .dump(),
    json{{"type", "participant.left"}, {"data", {{"user", "frank"}, {"reason", "offline"}}}}
      .dump()};
  std::vector<std::string> ids;
  for (int seq = 1; seq <= 13; ++seq)
    ids.push_back(meeting + "." + std::to_string(seq));
  for (int seq = 1; seq <= 5; ++seq)
    ids.push_back(second + "." + std::to_string(seq));
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, ids); }, 20s))
    << describe(receiver.requests());
  auto all = receiver.requests();
  EXPECT_EQ(all.size(), ids.size()) << describe(all);
  for (auto& r : all)
    EXPECT_TRUE(well_formed(r, "/meetingd/hooks"));
  EXPECT_TRUE(in_order(all));

  auto firsts = of_meeting(all, meeting);
  ASSERT_EQ(firsts.size(), 13u) << describe(all);
  std::vector<json> got;
  for (auto& r : firsts) {
    auto j = json::parse(r.body);
    j.erase("at");
    got.push_back(j);
  }
  for (std::size_t i = 0; i < first_part.size(); ++i)
    EXPECT_EQ(got[i], first_part[i]) << "event " << i + 1;
  std::set<std::string> fired;
  for (std::size_t i : {9u, 10u}) {
    EXPECT_EQ(got[i]["seq"], i + 1);
    fired.insert(json{{"type", got[i]["type"]}, {"data", got[i]["data"]}}.dump());
  }
  EXPECT_EQ(fired, timers);
  EXPECT_EQ(got[11],
            body(meeting, 12, "participant.left", {{"user", "alice"}, {"reason", "ended"}}));
  ASSERT_EQ(got[12]["type"], "meeting.ended") << got[12].dump();
  auto& data = got[12]["data"];
  EXPECT_EQ(data["reason"], "ended") << data.dump();
  // Those who were in the call, in the order they first joined.
  auto ev = decode(firsts[12]);
  ASSERT_TRUE(ev);
  std::vector<std::string> users;
  for (auto& [user, seconds] : ev->seconds) {
    users.push_back(user);
    EXPECT_GE(seconds, 0);
    EXPECT_LE(seconds, ev->duration_s);
  }
  EXPECT_EQ(users, (std::vector<std::string>{"alice", "erin", "frank"})) << firsts[12].body;

  auto seconds = of_meeting(all, second);
  ASSERT_EQ(seconds.size(), 5u) << describe(all);
  auto last = json::parse(seconds[2].body);
  EXPECT_EQ(last["type"], "participant.left") << last.dump();
  EXPECT_EQ(last["data"], (json{{"user", "bob"}, {"reason", "ended"}})) << last.dump();
  last = json::parse(seconds[3].body);
  EXPECT_EQ(last["type"], "invitation.answered") << last.dump();
  EXPECT_EQ(last["data"], (json{{"user", "dave"}, {"outcome", "canceled"}, {"inviter", "bob"}}))
    << last.dump();
  last = json::parse(seconds[4].body);
  EXPECT_EQ(last["type"], "meeting.ended");
  EXPECT_EQ(last["data"]["reason"], "admin") << last.dump();
  EXPECT_EQ(last["data"]["seconds"].size(), 1u) << last.dump();
}

// The receiver itself: what it answers, and that it stops at once with
// clients connected (one idle, one halfway through a request, one waiting
// for an answer it holds) and listens again on the same port.
TEST(webhook_receiver_itself, answers_as_told_and_stops_with_clients_connected) {
  webhook_receiver receiver;
  auto post = [&](const std::string& body) {
    httplib::Client cli{"127.0.0.1", receiver.port()};
    cli.set_read_timeout(10, 0);
    auto res
      = cli.Post("/meetingd/hooks", {{"X-Meetingd-Event-Id", "m-1.1"}}, body, "application/json");
    return res ? res->status : -1;
  };
  // The signature helper against the test vector of docs/protocol.md §15.3.
  webhook_request example;
  example.body = R"({"id":"m-3f9a2c7e1b8d4a60.9","type":"meeting.ended","at":1764936000000,)"
                 R"("meeting":"m-3f9a2c7e1b8d4a60","seq":9,"data":{"reason":"ended",)"
                 R"("duration_s":95,"seconds":{"alice":95,"bob":70}}})";
  example.headers.emplace(
    "x-meetingd-signature",
    "sha256=c4a8ae970ecf33308f8152846de3436f453e2e9feca1bf01229ab5fc75d02198");
  EXPECT_TRUE(signature_valid(example, "test-secret-0123456789abcdef"));
  EXPECT_FALSE(signature_valid(example, "test-secret-0123456789abcdeF"));
  auto decoded = decode(example);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->id(), "m-3f9a2c7e1b8d4a60.9");
  EXPECT_EQ(decoded->seconds.size(), 2u);

  receiver.fail_next(2, 500);
  EXPECT_EQ(post("a"), 500);
  EXPECT_EQ(post("b"), 500);
  EXPECT_EQ(post("c"), 200);
  receiver.answer_always(503);
  EXPECT_EQ(post("d"), 503);
  auto got = receiver.requests();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].body, "a");
  EXPECT_EQ(got[0].answered, 500);
  EXPECT_EQ(got[2].answered, 200);
  EXPECT_EQ(got[3].header("x-meetingd-event-id"), "m-1.1");
  EXPECT_EQ(got[3].header("Content-Type"), "application/json");

  auto connect_raw = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(receiver.port()));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  int idle = connect_raw();
  int half = connect_raw();
  std::string partial = "POST /meetingd/hooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
  EXPECT_EQ(::send(half, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  receiver.hang(true);
  int held_status = 0;
  std::thread held{[&] { held_status = post("held"); }};
  EXPECT_TRUE(receiver.wait_for([](auto& all) { return all.size() == 5; }, 5s));
  auto before = steady::now();
  receiver.stop();
  EXPECT_LT(steady::now() - before, 3s);
  held.join();
  EXPECT_NE(held_status, 200);
  EXPECT_EQ(receiver.requests().back().answered, 0);
  ::close(idle);
  ::close(half);
  EXPECT_FALSE(receiver.running());
  EXPECT_EQ(post("nobody"), -1); // the port is closed

  receiver.hang(false);
  receiver.answer_always(200);
  receiver.start();
  EXPECT_EQ(post("again"), 200);
  EXPECT_EQ(receiver.requests().back().body, "again");
  EXPECT_EQ(receiver.count(), 6u);
}

// A request sent again with the same id gets its first reply again and
// changes nothing: no event is reported twice.
TEST(webhook_replies, a_repeated_request_reports_nothing_twice) {
  webhook_receiver receiver;
  cluster c{with_webhooks(store_kind::sqlite, {receiver.url()})};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto created = alice->request("meeting.create", {{"title", "once"}}, 5s, "create-1");
  ASSERT_EQ(code_of(created), 0) << created.dump();
  EXPECT_EQ(alice->request("meeting.create", {{"title", "once"}}, 5s, "create-1"), created);
  std::string meeting = created["data"]["meeting"];
  auto ended = alice->request("meeting.end", {{"meeting", meeting}}, 5s, "end-1");
  ASSERT_EQ(code_of(ended), 0) << ended.dump();
  EXPECT_EQ(alice->request("meeting.end", {{"meeting", meeting}}, 5s, "end-1"), ended);
  std::vector<std::string> ids;
  for (int seq = 1; seq <= 4; ++seq)
    ids.push_back(meeting + "." + std::to_string(seq));
  ASSERT_TRUE(receiver.wait_for([&](auto& all) { return all_delivered(all, ids); }, 20s))
    << describe(receiver.requests());
  auto console = c.console();
  json stats;
  EXPECT_TRUE(eventually(
    [&] {
      stats = webhook_stats(*console);
      return stat(stats, "pending") == 0;
    },
    10s))
    << stats.dump();
  EXPECT_EQ(stat(stats, "delivered"), 4) << stats.dump();
  auto all = receiver.requests();
  ASSERT_EQ(all.size(), 4u) << describe(all);
  std::vector<std::string> types;
  for (auto& r : all)
    types.push_back(r.header("X-Meetingd-Event-Type"));
  EXPECT_EQ(types,
            (std::vector<std::string>{"meeting.created", "participant.joined", "participant.left",
                                      "meeting.ended"}));
  EXPECT_EQ(db_rows(c, "SELECT count(*) FROM webhook_outbox").at(0).at(0), "4");
}
