// meetingd-copy-db (tools/copy_db): a node's state moved from its SQLite file
// onto PostgreSQL while the node is stopped, and the node carrying on there:
// the live meeting with its participants and lock, the ended one answering
// 410, logged-in devices, and a duplicate getting its stored reply. A second
// copy into the now non-empty database is refused and changes nothing; the
// copy back into a new SQLite file holds the same (the tool counts it).
#include "harness.hpp"

#include <gtest/gtest.h>

using namespace meetingd::testing;
using meetingd::test::pg_server;

namespace {

std::pair<int, std::string> copy_db(const std::string& from, const std::string& to) {
  return run_program("meetingd-copy-db",
                     {MEETINGD_COPY_DB_BIN, "--from=" + from, "--to=" + to});
}

} // namespace

TEST(copy_db, a_stopped_node_moves_from_sqlite_to_postgresql_and_carries_on) {
  std::string error;
  auto* server = pg_server::shared(&error);
  ASSERT_TRUE(server) << error;
  auto uri = server->fresh_database(&error);
  ASSERT_FALSE(uri.empty()) << error;

  // On SQLite, with webhooks to a receiver that is not there: the events
  // wait in the outbox and must move along.
  node_options opts;
  opts.flags["webhook-url"] = "http://127.0.0.1:9/hooks";
  opts.env["WEBHOOK_SECRET"] = "copy-db-test-secret-0123";
  cluster c{opts};
  c.start_node();
  auto alice = c.logged_in("alice-phone", "alice");
  auto bob = c.logged_in("bob-phone", "bob");
  start_meeting(*alice, {bob.get()}, {{"meeting", "kept"}, {"title", "moved"}});
  auto lock = alice->request("moderate.lock", {{"meeting", "kept"}}, 5s, "lock-1");
  ASSERT_EQ(code_of(lock), 0) << lock.dump();
  start_meeting(*alice, {}, {{"meeting", "gone"}});
  ASSERT_EQ(code_of(alice->request("meeting.end", {{"meeting", "gone"}})), 0);
  ASSERT_EQ(c.stop_node(), 0) << c.node_log();

  auto [code, out] = copy_db(c.db_path(), uri);
  ASSERT_EQ(code, 0) << out;
  // "gone" is live or ended in the count, as its DeleteChannel was done or not.
  EXPECT_NE(out.find("2 users, 2 devices"), std::string::npos) << out;
  EXPECT_EQ(pg_rows(uri, "SELECT count(*) FROM participants WHERE meeting = 'kept'")[0][0], "2");
  auto pending = pg_rows(uri, "SELECT count(*) FROM webhook_outbox WHERE status = 'pending'")[0][0];
  EXPECT_GE(std::stoi(pending), 6) << "created, joined, answered, joined; created, joined, ...";
  EXPECT_NE(out.find("and " + pending + " pending webhook events"), std::string::npos) << out;

  // Into a database that holds state: refused, one line, nothing written.
  auto again = copy_db(c.db_path(), uri);
  EXPECT_EQ(again.first, 1) << again.second;
  EXPECT_NE(again.second.find("--to is not empty"), std::string::npos) << again.second;
  EXPECT_EQ(pg_rows(uri, "SELECT count(*) FROM meetings")[0][0], "2");

  c.set_node_flag("db", uri);
  c.start_node();
  EXPECT_NE(c.node_log().find("postgresql://"), std::string::npos);
  auto got = bob->request("meeting.get", {{"meeting", "kept"}});
  ASSERT_EQ(code_of(got), 0) << got.dump();
  EXPECT_EQ(got["data"]["title"], "moved") << got.dump();
  EXPECT_TRUE(got["data"]["locked"].get<bool>()) << got.dump();
  EXPECT_EQ(got["data"]["participants"].size(), 2u) << got.dump();
  auto replayed = alice->request("moderate.lock", {{"meeting", "kept"}}, 5s, "lock-1");
  EXPECT_EQ(replayed.dump(), lock.dump()) << "a duplicate after the move ran again";
  EXPECT_TRUE(is_refusal(alice->request("meeting.get", {{"meeting", "gone"}}), 410,
                         "meeting_ended"));
  ASSERT_EQ(c.stop_node(), 0) << c.node_log();

  // And back, into a new SQLite file: the same state.
  auto back = c.dir().path() + "/back.db";
  auto [back_code, back_out] = copy_db(uri, back);
  ASSERT_EQ(back_code, 0) << back_out;
  // (The tool itself reads the copy back and compares every count.)
  EXPECT_NE(back_out.find("2 users, 2 devices"), std::string::npos) << back_out;
}

TEST(copy_db, bad_arguments_are_refused_with_one_line) {
  temp_dir dir;
  auto missing = run_program("meetingd-copy-db", {MEETINGD_COPY_DB_BIN, "--from=x.db"});
  EXPECT_EQ(missing.first, 2) << missing.second;
  auto same = copy_db(dir.path() + "/a.db", dir.path() + "/a.db");
  EXPECT_EQ(same.first, 1) << same.second;
  EXPECT_NE(same.second.find("the same database"), std::string::npos) << same.second;
  auto password = copy_db(dir.path() + "/a.db", "postgresql://u:pw@127.0.0.1:1/db");
  EXPECT_EQ(password.first, 1) << password.second;
  EXPECT_NE(password.second.find("PGPASSWORD"), std::string::npos) << password.second;
  EXPECT_EQ(count_lines(password.second), 1) << password.second;
}
