// What a device with valid credentials, or a stranger, must not be able to do
// to a real node (docs/security.md): guess a password from many client ids,
// run up the bill, re-cut another user's join token, or get a reply back
// after logging out. Real broker, emulator and node processes.
#include "harness.hpp"

#include "actors/core/rtc_token.hpp"

#include <gtest/gtest.h>

#include <sqlite3.h>

using namespace meetingd::testing;

namespace {

/// The first column of the first row of `query` on the node's database (the
/// node is stopped), as an operator's sqlite3 would show it.
long long sqlite_count(const std::string& db_path, const std::string& query) {
  sqlite3* db = nullptr;
  long long value = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, query.c_str(), -1, &stmt, nullptr) == SQLITE_OK
        && sqlite3_step(stmt) == SQLITE_ROW)
      value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

/// A fresh device (not logged in) with its own client id.
std::unique_ptr<meetingd::client::session> stranger(cluster& c, int i) {
  return c.device("bot-" + std::to_string(i));
}

} // namespace

// Failed logins count per account, from any client id; another account is
// not slowed, and the answers to strangers leave nothing in the database.
TEST(abuse, many_client_ids_guessing_one_account_are_slowed_while_another_is_not) {
  cluster c;
  c.start_node();
  c.add_user("alice", "alice-password");
  c.add_user("bob", "bob-password");
  int refused = 0, limited = 0;
  for (int i = 0; i < 40; ++i) {
    auto bot = stranger(c, i);
    auto r = bot->request("auth.login", {{"user", "alice"}, {"password", "guess"}});
    if (code_of(r) == 401) {
      ++refused;
    } else {
      ASSERT_EQ(code_of(r), 429) << r.dump();
      EXPECT_EQ(reason_of(r), "rate_limited");
      EXPECT_GT(r["error"]["retry_after_ms"].get<long long>(), 0);
      ++limited;
    }
  }
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(limited, 35);
  auto phone = c.device("alice-phone");
  auto real = phone->request("auth.login", {{"user", "alice"}, {"password", "alice-password"}});
  EXPECT_EQ(code_of(real), 429) << "the account waits, whoever asks";
  auto bob = c.device("bob-phone");
  auto fine = bob->request("auth.login", {{"user", "bob"}, {"password", "bob-password"}});
  EXPECT_EQ(code_of(fine), 0) << fine.dump();
  c.stop_node();
  EXPECT_EQ(sqlite_count(c.db_path(), "SELECT count(*) FROM request_log WHERE client LIKE "
                                      "'%bot-%'"),
            0)
    << "replies to strangers are not stored";
  EXPECT_EQ(sqlite_count(c.db_path(), "SELECT failures FROM throttled_logins "
                                      "WHERE account = 'alice'"),
            5)
    << "the account's failures are kept across a restart (the 429s did not count)";
}

// What one user may cost: creates per minute, active meetings, invitees.
TEST(abuse, limits_answer_429_naming_the_limit) {
  node_options opts;
  opts.flags = {{"max-meetings-per-user", "2"}, {"max-creates-per-minute", "3"},
                {"max-invitees", "2"}};
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto invitees = alice->request("meeting.create", {{"invitees", {"b1", "b2", "b3"}}});
  EXPECT_EQ(code_of(invitees), 429);
  EXPECT_EQ(reason_of(invitees), "limit:invitees");
  ASSERT_EQ(code_of(alice->request("meeting.create", {{"meeting", "m-1"}})), 0);
  ASSERT_EQ(code_of(alice->request("meeting.create", {{"meeting", "m-2"}})), 0);
  auto third = alice->request("meeting.create", {{"meeting", "m-3"}});
  EXPECT_EQ(code_of(third), 429);
  EXPECT_EQ(reason_of(third), "limit:meetings");
  EXPECT_NE(third["error"]["message"].get<std::string>().find("--max-meetings-per-user"),
            std::string::npos);
  ASSERT_EQ(code_of(alice->request("meeting.end", {{"meeting", "m-2"}})), 0);
  ASSERT_EQ(code_of(alice->request("meeting.create", {{"meeting", "m-4"}})), 0);
  ASSERT_EQ(code_of(alice->request("meeting.end", {{"meeting", "m-4"}})), 0);
  auto fast = alice->request("meeting.create", {{"meeting", "m-5"}});
  EXPECT_EQ(code_of(fast), 429);
  EXPECT_EQ(reason_of(fast), "limit:creates");
  EXPECT_GT(fast["error"]["retry_after_ms"].get<long long>(), 0);
  // Three channels were created, no more: the refused creates cost nothing.
  auto stats = c.emulator_get("/_emulator/stats");
  EXPECT_EQ(stats["actions"]["CreateChannel"]["requests"], 3) << stats.dump();
}

// With plain user ids, bobx's credentials re-cut as user "bob" and session
// "x<session>" gave the same token, and the RTC service let bobx in as bob.
// RTC user ids of one length cannot be re-cut.
TEST(abuse, a_join_token_cannot_be_re_cut_into_another_users) {
  cluster c;
  c.start_node();
  auto bob = c.logged_in("bob-phone", "bob");
  auto bob_meeting = bob->request("meeting.create", json::object());
  ASSERT_EQ(code_of(bob_meeting), 0) << bob_meeting.dump();
  std::string bob_id = bob_meeting["data"]["credentials"]["userid"];
  EXPECT_EQ(bob_id, meetingd::rtc::rtc_user_id("bob"));

  auto bobx = c.logged_in("bobx-phone", "bobx");
  auto created = bobx->request("meeting.create", json::object());
  ASSERT_EQ(code_of(created), 0) << created.dump();
  auto creds = created["data"]["credentials"];
  ASSERT_EQ(c.join_channel(creds)["_status"], 200) << "the genuine credentials work";

  // The attack: move the boundary between user id and session.
  std::string joined = creds["userid"].get<std::string>() + creds["session"].get<std::string>();
  auto recut = creds;
  recut["userid"] = bob_id;
  recut["session"] = joined.rfind(bob_id, 0) == 0 ? joined.substr(bob_id.size()) : "x";
  auto r = c.join_channel(recut);
  EXPECT_EQ(r["_status"], 403) << "bobx entered bob's place: " << r.dump();
}

// A duplicate of a request answered before a logout runs again as the device
// is now (not logged in), instead of handing back the stored reply with its
// join credentials.
TEST(abuse, a_reply_is_not_replayed_after_logout) {
  cluster c;
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto created = alice->request("meeting.create", json::object(), 5s, "create-1");
  ASSERT_EQ(code_of(created), 0) << created.dump();
  auto same = alice->request("meeting.create", json::object(), 5s, "create-1");
  EXPECT_EQ(same, created) << "while logged in, a duplicate gets the same reply";
  ASSERT_EQ(code_of(alice->request("auth.logout")), 0);
  auto after = alice->request("meeting.create", json::object(), 5s, "create-1");
  EXPECT_EQ(code_of(after), 401) << after.dump();
  EXPECT_EQ(reason_of(after), "not_logged_in");
  EXPECT_FALSE(after.contains("data"));
}
