// meetingd as a process on PostgreSQL: a --db the node cannot use stops it at
// start with one line (exit 1; a password in the URI: exit 2, and the
// password is not repeated), and a write the server refuses for good (a
// constraint added by hand) stops it with exit 70 after saying which
// statement and SQLSTATE, without losing anything acknowledged before.
#include "harness.hpp"

#include <gtest/gtest.h>


using namespace meetingd::testing;
using meetingd::test::pg_server;

TEST(pg_node, a_db_it_cannot_use_stops_the_node_with_one_line) {
  std::string error;
  auto* server = pg_server::shared(&error);
  ASSERT_TRUE(server) << error;
  auto uri = server->fresh_database(&error);
  ASSERT_FALSE(uri.empty()) << error;
  auto host = "127.0.0.1:" + std::to_string(server->port());
  auto dbname = uri.substr(uri.rfind('/') + 1);
  struct bad {
    std::string db;
    int code;
    std::string names; // what the line must say
  };
  std::vector<bad> cases{
    // Nothing listens there.
    {"postgresql://meetingd@127.0.0.1:" + std::to_string(free_port()) + "/meetingd", 1,
     "is PostgreSQL running"},
    {"postgresql://meetingd@" + host + "/no_such_database", 1, "createdb"},
    {"postgresql://nobody@" + host + "/" + dbname, 1, "create the role"},
    // Checked before connecting: a password belongs in PGPASSWORD or ~/.pgpass.
    {"postgresql://meetingd:s3cret-pw@" + host + "/" + dbname, 2, "PGPASSWORD"},
    {"postgresql://meetingd@" + host + "/" + dbname + "?password=s3cret-pw", 2, "PGPASSWORD"},
  };
  for (auto& c : cases) {
    auto [code, out] = run_meetingd({"--app-id=x", "--db=" + c.db, "--db-timeout=5s"});
    EXPECT_EQ(code, c.code) << c.db << "\n" << out;
    EXPECT_EQ(count_lines(out), 1) << c.db << "\n" << out;
    EXPECT_EQ(out.rfind("meetingd: ", 0), 0u) << out;
    EXPECT_NE(out.find(c.names), std::string::npos) << c.db << "\n" << out;
    EXPECT_EQ(out.find("s3cret-pw"), std::string::npos) << "the password is repeated: " << out;
  }
}

// A constraint the node's writes violate, added by hand: the meeting.create
// that violates it is refused by the server (SQLSTATE 23514). The node logs
// store.changeset_refused naming the statement and the SQLSTATE, then
// node.fatal, and exits with code 70 without acknowledging the create. Once
// the constraint is dropped, the restarted node has everything acknowledged
// before, nothing of the refused create, and takes the same request again.
TEST(pg_node, a_write_refused_for_good_stops_the_node_with_70_and_loses_nothing_acknowledged) {
  node_options opts;
  opts.store = store_kind::postgres;
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  c.add_user("carol", "carol-password");
  auto created = alice->request("meeting.create", {{"meeting", "kept"}, {"title", "kept"},
                                                   {"invitees", {"bob"}}});
  ASSERT_EQ(code_of(created), 0) << created.dump();
  ASSERT_EQ(code_of(bob->request("call.accept", {{"meeting", "kept"}})), 0);
  ASSERT_EQ(code_of(alice->request("moderate.lock", {{"meeting", "kept"}})), 0);

  pg_rows(c.db_path(), "ALTER TABLE meetings ADD CONSTRAINT no_forbidden "
                       "CHECK (title <> 'forbidden')");
  alice->send("meeting.create", {{"meeting", "doomed"}, {"title", "forbidden"}},
              "create-forbidden");
  auto code = c.node()->wait(30s);
  ASSERT_TRUE(code) << "the node goes on after a refused write:\n" << c.node_log();
  EXPECT_EQ(*code, 70) << c.node_log();
  auto log = c.node_log();
  auto refused = lines_with(log, "store.changeset_refused");
  EXPECT_FALSE(refused.empty()) << log;
  EXPECT_NE(refused.find("SQLSTATE 23514"), std::string::npos) << refused;
  EXPECT_NE(refused.find("statement"), std::string::npos) << refused;
  EXPECT_NE(refused.find("no_forbidden"), std::string::npos) << refused;
  EXPECT_NE(log.find("node.fatal"), std::string::npos) << log;
  // What the device got, if anything, is no success.
  if (auto r = alice->wait_reply("create-forbidden", 0ms)) {
    EXPECT_NE(code_of(*r), 0) << r->dump();
  }

  pg_rows(c.db_path(), "ALTER TABLE meetings DROP CONSTRAINT no_forbidden");
  EXPECT_TRUE(pg_rows(c.db_path(), "SELECT id FROM meetings WHERE id = 'doomed'").empty());
  c.start_node();
  EXPECT_NE(c.node_log().find("clean_shutdown=false"), std::string::npos) << c.node_log();
  auto got = alice->request("meeting.get", {{"meeting", "kept"}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["title"], "kept");
  EXPECT_EQ(got["data"]["locked"], true);
  int joined = 0;
  for (auto& p : got["data"]["participants"])
    joined += p["state"] == "joined";
  EXPECT_EQ(joined, 2) << got.dump();
  auto doomed = alice->request("meeting.get", {{"meeting", "doomed"}});
  EXPECT_TRUE(is_refusal(doomed, 404, "meeting_not_found"));
  auto console = c.console();
  auto carol = console->request("admin.user.add", {{"user", "carol"}, {"password", "x-password"}});
  EXPECT_EQ(reason_of(carol), "user_exists") << carol.dump();
  // Never acknowledged, so the same request runs again, now allowed.
  auto again = alice->request("meeting.create", {{"meeting", "doomed"}, {"title", "forbidden"}},
                              5s, "create-forbidden");
  EXPECT_EQ(code_of(again), 0) << again.dump();
  EXPECT_EQ(pg_rows(c.db_path(), "SELECT title FROM meetings WHERE id = 'doomed'"),
            std::vector<sql_row>{{"forbidden"}});
}
