// What only the PostgreSQL store does (the shared contract is in
// memory_store_test.cpp): its URI rules, the versioned schema, its
// migrations' backfills and the views, webhook writes fenced by their
// meeting's shard, and what it does when the server goes away: a killed
// server is a retryable error and the next call carries on on a new
// connection; a paused one is given up after the timeout; a write the schema
// refuses is not retryable and names the statement. On a real server
// (tests/pg_server).
#include "persistence/pg_connection.hpp"
#include "persistence/pg_schema.hpp"
#include "persistence/pg_store.hpp"
#include "persistence/shard_leases.hpp"
#include "pg_server/pg_server.hpp"

#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

using namespace meetingd;

namespace {

using namespace std::chrono_literals;

changeset one_meeting(const std::string& id, const std::string& title = "standup") {
  changeset cs;
  meeting_record m;
  m.id = id;
  m.title = title;
  m.creator = "alice";
  m.host = "alice";
  m.created_at = 1700000000000;
  cs.add(change::put_meeting{m});
  participant p;
  p.user = "alice";
  p.r = role::host;
  cs.add(change::put_participant{id, p});
  return cs;
}

std::optional<store_error> apply(store& db, const changeset& cs) {
  return db.apply({&cs});
}

/// Runs `sql` (a query, or a script of commands) on its own connection; the
/// first column of each row of its (last) result. A failure fails the test,
/// and sets `*ok` to false.
std::vector<std::string> column(const std::string& uri, const std::string& sql,
                                bool* ok = nullptr) {
  std::vector<std::string> out;
  PGconn* c = PQconnectdb(uri.c_str());
  bool done = PQstatus(c) == CONNECTION_OK;
  if (done) {
    PGresult* r = PQexec(c, sql.c_str());
    done = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    for (int i = 0; done && i < PQntuples(r); ++i)
      out.emplace_back(PQgetvalue(r, i, 0));
    if (!done)
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    PQclear(r);
  } else {
    ADD_FAILURE() << PQerrorMessage(c);
  }
  PQfinish(c);
  if (ok)
    *ok = done;
  return out;
}

/// Runs a script (one or more commands) on its own connection.
bool execute(const std::string& uri, const std::string& sql) {
  bool ok = false;
  column(uri, sql, &ok);
  return ok;
}

/// An ISO-8601 UTC text of a timestamptz column, as SQLite's views write times.
std::string utc(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

class pg_store_test : public ::testing::Test {
protected:
  /// A database on the shared server.
  std::string shared_database() {
    std::string error;
    auto* server = test::pg_server::shared(&error);
    if (!server) {
      ADD_FAILURE() << error;
      return {};
    }
    auto uri = server->fresh_database(&error);
    EXPECT_FALSE(uri.empty()) << error;
    return uri;
  }

  std::unique_ptr<store> open(const std::string& uri, std::chrono::milliseconds timeout = 10s) {
    std::string error;
    auto db = open_pg_store(uri, timeout, &error);
    EXPECT_TRUE(db) << error;
    return db;
  }
};

TEST(pg_uri, is_checked_before_connecting) {
  EXPECT_FALSE(pg::check_uri("postgresql://meetingd@db.example:5432/meetingd"));
  EXPECT_FALSE(pg::check_uri("postgres://meetingd@db.example/meetingd?sslmode=require"));
  auto password = pg::check_uri("postgresql://meetingd:secret@db.example/meetingd");
  ASSERT_TRUE(password);
  EXPECT_NE(password->find("PGPASSWORD"), std::string::npos) << *password;
  auto in_query = pg::check_uri("postgresql://meetingd@db.example/meetingd?password=secret");
  ASSERT_TRUE(in_query);
  auto no_db = pg::check_uri("postgresql://meetingd@db.example:5432");
  ASSERT_TRUE(no_db);
  EXPECT_NE(no_db->find("DBNAME"), std::string::npos) << *no_db;
  EXPECT_TRUE(pg::check_uri("postgresql://meetingd@[bad/x"));
  EXPECT_TRUE(pg::is_uri("postgres://x/y"));
  EXPECT_FALSE(pg::is_uri("var/meetingd.db"));
  EXPECT_EQ(pg::printable("postgresql://u:secret@h/d"), "postgresql://u:***@h/d");
}

TEST(pg_uri, only_data_refusals_are_not_retryable) {
  for (auto state : {"23505", "23503", "22001", "22021", "42703", "42P01"})
    EXPECT_TRUE(pg::is_refusal(state)) << state;
  for (auto state : {"08006", "57P01", "57P03", "53100", "40001", "25006", "XX000", ""})
    EXPECT_FALSE(pg::is_refusal(state)) << state;
}

TEST_F(pg_store_test, an_unreachable_server_or_database_stops_the_open_with_advice) {
  std::string error;
  EXPECT_FALSE(open_pg_store("postgresql://meetingd@127.0.0.1:1/meetingd", 2s, &error));
  EXPECT_NE(error.find("is PostgreSQL running"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << "one line: " << error;
  auto uri = shared_database();
  auto missing = uri.substr(0, uri.rfind('/')) + "/no_such_database";
  EXPECT_FALSE(open_pg_store(missing, 5s, &error));
  EXPECT_NE(error.find("createdb"), std::string::npos) << error;
  auto no_role = "postgresql://nobody@" + uri.substr(uri.find('@') + 1);
  EXPECT_FALSE(open_pg_store(no_role, 5s, &error));
  EXPECT_NE(error.find("create the role"), std::string::npos) << error;
}

TEST_F(pg_store_test, the_schema_is_versioned_and_a_second_open_migrates_nothing) {
  auto uri = shared_database();
  { auto db = open(uri); }
  { auto db = open(uri); }
  auto versions = column(uri, "SELECT version FROM meetingd_schema ORDER BY version");
  ASSERT_EQ(versions.size(), pg_schema::migrations().size());
  EXPECT_EQ(versions.back(), std::to_string(pg_schema::latest_version()));
}

TEST_F(pg_store_test, version_4_backfills_the_call_records_of_older_rows) {
  auto uri = shared_database();
  // A database left at version 3 by an older meetingd, as its migrate() did.
  std::string v3 = "CREATE TABLE meetingd_schema (version integer PRIMARY KEY, description text "
                   "NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n";
  for (int i = 0; i < 3; ++i) {
    auto& step = pg_schema::migrations().at(static_cast<std::size_t>(i));
    v3 += step.sql + ";\nINSERT INTO meetingd_schema (version, description) VALUES ("
          + std::to_string(step.version) + ", 'old');\n";
  }
  ASSERT_TRUE(execute(uri, v3));
  ASSERT_TRUE(execute(uri, R"sql(
    INSERT INTO meetings (id, created_at, next_order) VALUES ('m-old', 1000, 4);
    INSERT INTO participants (meeting, "user", status, join_order, joined_at, left_at) VALUES
      ('m-old', 'ann', 'joined', 1, 2000, 0),
      ('m-old', 'bob', 'left', 2, 3000, 65500),
      ('m-old', 'cid', 'kicked', 3, 4000, 4000);
  )sql"));
  auto db = open(uri);
  ASSERT_TRUE(db);
  EXPECT_EQ(column(uri, "SELECT max(version) FROM meetingd_schema"),
            std::vector<std::string>{std::to_string(pg_schema::latest_version())});
  EXPECT_EQ(column(uri, "SELECT \"user\" || ' ' || first_joined_at || '/' || in_call_ms "
                        "FROM participants ORDER BY \"user\""),
            (std::vector<std::string>{"ann 2000/0", "bob 3000/62500", "cid 4000/0"}));
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error) << s.error->what;
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].next_event, 1);
  EXPECT_EQ(s.live_meetings[0].participants.at("bob").in_call_ms, 62500);
}

TEST_F(pg_store_test, a_database_from_a_newer_meetingd_is_refused) {
  auto uri = shared_database();
  { auto db = open(uri); }
  column(uri, "INSERT INTO meetingd_schema (version, description) VALUES (99, 'future') "
              "RETURNING version");
  std::string error;
  EXPECT_FALSE(open_pg_store(uri, 5s, &error));
  EXPECT_NE(error.find("newer than this meetingd knows"), std::string::npos) << error;
}

TEST_F(pg_store_test, the_views_read_as_the_sqlite_ones_with_times_as_timestamps) {
  auto uri = shared_database();
  auto db = open(uri);
  ASSERT_TRUE(db);
  ASSERT_FALSE(apply(*db, one_meeting("m-1")));
  EXPECT_EQ(column(uri, "SELECT id || ' ' || host || ' ' || joined FROM active_meetings"),
            std::vector<std::string>{"m-1 alice 1"});
  EXPECT_EQ(column(uri, "SELECT to_char(created_at AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM active_meetings"),
            std::vector<std::string>{"2023-11-14T22:13:20.000"});
  for (auto view : {"ended_meetings", "meeting_participants", "ringing_invitations",
                    "online_devices", "pending_timers", "throttled_logins",
                    "recently_removed_users", "call_records", "webhook_backlog",
                    "webhook_failures"})
    EXPECT_EQ(column(uri, std::string{"SELECT count(*) FROM "} + view).size(), 1u) << view;
}

TEST_F(pg_store_test, call_records_and_webhook_views_read_as_the_sqlite_ones) {
  auto uri = shared_database();
  auto db = open(uri);
  ASSERT_TRUE(db);
  // As sqlite_store_test's: Ann in the call 90.6 s over two stints, Bob
  // kicked after 1.999 s, Cid invited and never joined.
  meeting_record m;
  m.id = "m-1";
  m.status = meeting_status::ended;
  m.end_reason = "ended";
  m.created_at = 1704164645678; // 2024-01-02T03:04:05.678Z
  m.ended_at = m.created_at + 125900;
  participant ann, bob, cid;
  ann.user = "ann";
  ann.order = 1;
  ann.status = participant_status::left;
  ann.first_joined_at = m.created_at + 100;
  ann.joined_at = m.created_at + 65900;
  ann.left_at = m.ended_at;
  ann.in_call_ms = 90600;
  bob.user = "bob";
  bob.order = 2;
  bob.status = participant_status::kicked;
  bob.first_joined_at = bob.joined_at = m.created_at + 5000;
  bob.left_at = bob.joined_at + 1999;
  bob.in_call_ms = 1999;
  cid.user = "cid";
  cid.order = 3;
  cid.status = participant_status::left;
  webhook_record lost;
  lost.endpoint = "https://backend.example/hook";
  lost.meeting = m.id;
  lost.seq = 1;
  lost.id = "m-1.1";
  lost.type = "participant.left";
  lost.at = m.created_at;
  lost.body = R"({"id":"m-1.1"})";
  auto waiting = lost;
  waiting.seq = 2;
  waiting.id = "m-1.2";
  waiting.at = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count()
               - 30000;
  changeset cs;
  cs.add(change::put_meeting{m});
  for (auto* p : {&ann, &bob, &cid})
    cs.add(change::put_participant{m.id, *p});
  cs.add(change::put_webhook{lost});
  cs.add(change::put_webhook{waiting});
  lost.status = webhook_status::given_up;
  lost.attempts = 12;
  lost.last_error = "HTTP 503";
  lost.settled_at = m.created_at + 3600000;
  cs.add(change::settle_webhook{lost});
  ASSERT_FALSE(apply(*db, cs));
  EXPECT_EQ(column(uri, "SELECT meeting || ' ' || \"user\" || ' ' || " + utc("joined_at")
                          + " || ' ' || " + utc("left_at")
                          + " || ' ' || seconds || ' ' || meeting_duration_s || ' ' || end_reason"
                            " || ' ' || " + utc("ended_at") + " FROM call_records"),
            (std::vector<std::string>{
              "m-1 ann 2024-01-02T03:04:05.778Z 2024-01-02T03:06:11.578Z 90 125 ended "
              "2024-01-02T03:06:11.578Z",
              "m-1 bob 2024-01-02T03:04:10.678Z 2024-01-02T03:04:12.677Z 1 125 ended "
              "2024-01-02T03:06:11.578Z"}));
  EXPECT_EQ(column(uri, "SELECT id || ' ' || type || ' ' || " + utc("at")
                          + " || ' ' || attempts || ' ' || last_error || ' ' || "
                          + utc("given_up_at") + " || ' ' || body FROM webhook_failures"),
            std::vector<std::string>{"m-1.1 participant.left 2024-01-02T03:04:05.678Z 12 "
                                     "HTTP 503 2024-01-02T04:04:05.678Z {\"id\":\"m-1.1\"}"});
  auto backlog = column(uri, "SELECT id || ' ' || age_s FROM webhook_backlog");
  ASSERT_EQ(backlog.size(), 1u);
  EXPECT_EQ(backlog[0].substr(0, 6), "m-1.2 ");
  EXPECT_NEAR(std::stod(backlog[0].substr(6)), 30.0, 5.0);
}

TEST_F(pg_store_test, webhook_events_are_written_and_settled_only_under_their_meetings_lease) {
  // Several nodes: a node whose shard moved must not settle (or record) an
  // event of a meeting another node serves now.
  auto uri = shared_database();
  ASSERT_TRUE(open(uri)); // migrates
  std::string error;
  auto leases = shard_leases::open(uri, 10s, "a", 2, &error);
  ASSERT_TRUE(leases) << error;
  held_shards got;
  unix_ms until = 0;
  ASSERT_FALSE(leases->take({0, 1}, 10s, got, until));
  auto map = std::make_shared<shard_map>(2, "a");
  map->update(got, {});
  store_options options;
  options.fence = map;
  auto db = open_pg_store(uri, options, &error);
  ASSERT_TRUE(db) << error;
  std::map<int, webhook_record> in_shard; // an event of a meeting in each shard
  for (int i = 0; in_shard.size() < 2; ++i) {
    webhook_record w;
    w.endpoint = "https://backend.example/hook";
    w.meeting = "m-" + std::to_string(i);
    w.seq = 1;
    in_shard.emplace(shards::shard_of(w.meeting, 2), w);
  }
  changeset put;
  for (auto& [shard, w] : in_shard)
    put.add(change::put_webhook{w});
  ASSERT_FALSE(apply(*db, put));
  map->lose({1});
  for (auto& [shard, w] : in_shard) {
    changeset settle;
    auto done = w;
    done.status = webhook_status::delivered;
    done.settled_at = 1;
    settle.add(change::settle_webhook{done});
    auto err = apply(*db, settle);
    if (shard == 1) {
      ASSERT_TRUE(err);
      EXPECT_EQ(err->fenced, std::vector<int>{1});
    } else {
      EXPECT_FALSE(err) << err->what;
    }
  }
  auto pending = db->pending_webhooks({}, 0, 10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].meeting, in_shard.at(1).meeting);
}

TEST_F(pg_store_test, a_batch_applied_twice_leaves_the_same_state) {
  // What a retry after a COMMIT whose answer was lost does.
  auto uri = shared_database();
  auto db = open(uri);
  ASSERT_TRUE(db);
  auto cs = one_meeting("m-1");
  change::put_device_seq seq{"GID_MEETING_DOWN@@@phone", 7};
  device_record d;
  d.client = seq.client;
  d.user = "alice";
  d.last_seq = 5;
  cs.add(change::put_device{d});
  cs.add(seq);
  ASSERT_FALSE(apply(*db, cs));
  ASSERT_FALSE(apply(*db, cs));
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error) << s.error->what;
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].participants.size(), 1u);
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].last_seq, 7u);
}

TEST_F(pg_store_test, a_refused_write_is_not_retryable_and_names_the_statement) {
  auto uri = shared_database();
  auto db = open(uri);
  ASSERT_TRUE(db);
  // A participant whose meeting never comes: the deferred foreign key
  // refuses the COMMIT.
  changeset orphan;
  participant p;
  p.user = "bob";
  orphan.add(change::put_participant{"no-such-meeting", p});
  auto err = apply(*db, orphan);
  ASSERT_TRUE(err);
  EXPECT_FALSE(err->retryable) << err->what;
  EXPECT_NE(err->what.find("23503"), std::string::npos) << err->what;
  EXPECT_NE(err->what.find("COMMIT"), std::string::npos) << err->what;
  // The connection is usable at once, and nothing of the batch is there.
  ASSERT_FALSE(apply(*db, one_meeting("m-2")));
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.live_meetings.size(), 1u);
}

TEST_F(pg_store_test, a_refused_row_is_named_by_statement_and_constraint_never_by_its_values) {
  // A check added by hand (as an operator might) refuses the row; the
  // server's DETAIL would quote it whole ("Failing row contains (...)"),
  // password hash included, and the error goes to the log.
  auto uri = shared_database();
  auto db = open(uri);
  ASSERT_TRUE(db);
  PGconn* c = PQconnectdb(uri.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, "ALTER TABLE users ADD CONSTRAINT hand_made_check "
                          "CHECK (display_name <> 'refused')");
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  changeset cs;
  user_record u;
  u.id = "carol";
  u.display_name = "refused";
  u.password_hash = "pbkdf2-sha256$600000$c2FsdA$SECRET-KEY-BYTES";
  cs.add(change::put_user{u});
  auto err = apply(*db, cs);
  ASSERT_TRUE(err);
  EXPECT_FALSE(err->retryable) << err->what;
  EXPECT_EQ(err->what.find("SECRET-KEY-BYTES"), std::string::npos) << err->what;
  EXPECT_EQ(err->what.find("pbkdf2"), std::string::npos) << err->what;
  for (auto named : {"md_put_user", "table users", "constraint hand_made_check", "23514"})
    EXPECT_NE(err->what.find(named), std::string::npos) << named << " in: " << err->what;
}

TEST_F(pg_store_test, a_killed_server_is_retryable_and_the_store_carries_on_when_it_is_back) {
  std::string error;
  auto server = test::pg_server::start(&error);
  ASSERT_TRUE(server) << error;
  auto uri = server->fresh_database(&error);
  ASSERT_FALSE(uri.empty()) << error;
  auto db = open(uri, 3s);
  ASSERT_TRUE(db);
  ASSERT_FALSE(apply(*db, one_meeting("before")));
  server->kill9();
  auto down = apply(*db, one_meeting("during"));
  ASSERT_TRUE(down);
  EXPECT_TRUE(down->retryable) << down->what;
  auto lookup = db->stored_reply("c", "r");
  EXPECT_TRUE(lookup.error) << "a lookup that cannot reach the server is an error, not a miss";
  ASSERT_TRUE(server->restart(&error)) << error;
  // The same batch again, as the store actor does, on a new connection with
  // its statements prepared again.
  ASSERT_FALSE(apply(*db, one_meeting("during")));
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error) << s.error->what;
  EXPECT_EQ(s.live_meetings.size(), 2u) << "the commit before the crash is kept";
}

TEST_F(pg_store_test, a_paused_server_is_given_up_after_the_timeout) {
  std::string error;
  auto server = test::pg_server::start(&error);
  ASSERT_TRUE(server) << error;
  auto uri = server->fresh_database(&error);
  ASSERT_FALSE(uri.empty()) << error;
  auto db = open(uri, 1s);
  ASSERT_TRUE(db);
  server->pause();
  auto t0 = std::chrono::steady_clock::now();
  auto err = apply(*db, one_meeting("m-1"));
  auto waited = std::chrono::steady_clock::now() - t0;
  server->resume();
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->retryable);
  EXPECT_NE(err->what.find("did not answer"), std::string::npos) << err->what;
  // Not a timing assertion: only that the call came back instead of hanging
  // (CTest's own timeout is minutes).
  EXPECT_LT(waited, 60s);
  ASSERT_FALSE(apply(*db, one_meeting("m-1")));
}

} // namespace
