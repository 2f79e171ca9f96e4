// SQLite-only properties of the store: the file (mode 0600, WAL), the schema
// and its migrations, the operator views, reopening, failures that roll a
// batch back, and a kill -9 loop that checks nothing acknowledged is lost and
// nothing is half-applied. The behaviour shared with the in-memory store is in
// memory_store_test.cpp.
#include "persistence/schema.hpp"
#include "persistence/sqlite_store.hpp"
#include "persistence/store.hpp"
#include "unit/test_support.hpp"

#include <cstdio>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace meetingd;

namespace {

/// A plain connection for looking at the file as an operator would.
class raw_db {
public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      ADD_FAILURE() << "cannot open " << path;
  }
  ~raw_db() {
    sqlite3_close(db_);
  }
  sqlite3* get() {
    return db_;
  }
  bool exec(const std::string& sql, std::string* error = nullptr) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    if (rc != SQLITE_OK && error)
      *error = msg ? msg : "";
    sqlite3_free(msg);
    return rc == SQLITE_OK;
  }
  /// Rows as column-name -> text (NULL as "<null>"), via sqlite3_exec.
  std::vector<std::map<std::string, std::string>> rows(const std::string& sql) {
    std::vector<std::map<std::string, std::string>> out;
    char* msg = nullptr;
    int rc = sqlite3_exec(
      db_, sql.c_str(),
      [](void* arg, int n, char** values, char** names) {
        auto* rows = static_cast<std::vector<std::map<std::string, std::string>>*>(arg);
        std::map<std::string, std::string> row;
        for (int i = 0; i < n; ++i)
          row[names[i]] = values[i] ? values[i] : "<null>";
        rows->push_back(std::move(row));
        return 0;
      },
      &out, &msg);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (msg ? msg : "");
    sqlite3_free(msg);
    return out;
  }
  /// The one row `sql` selects (empty if it selects another number, which
  /// fails the test), after checking that its columns hold what `want` says.
  std::map<std::string, std::string>
  expect_one_row(const std::string& sql, const std::map<std::string, std::string>& want) {
    auto all = rows(sql);
    EXPECT_EQ(all.size(), 1u) << sql;
    if (all.size() != 1u)
      return {};
    for (auto& [column, value] : want) {
      auto got = all[0].find(column);
      if (got == all[0].end())
        ADD_FAILURE() << sql << ": no column " << column;
      else
        EXPECT_EQ(got->second, value) << sql << ": column " << column;
    }
    return all[0];
  }
  std::string scalar(const std::string& sql) {
    auto r = rows(sql);
    return r.empty() || r[0].empty() ? "" : r[0].begin()->second;
  }

private:
  sqlite3* db_ = nullptr;
};

meeting_record make_meeting(const std::string& id) {
  meeting_record m;
  m.id = id;
  m.title = "standup";
  m.creator = "alice";
  m.channel = {"ch-" + id, "SECRET-CHANNEL-KEY", "nonce", 1700000000};
  m.created_at = 1704164645678; // 2024-01-02T03:04:05.678Z
  m.expires_at = 1704337445678; // 48 h later
  m.idle_deadline = 0;
  m.expiry_warn_at = 1704337145678;
  return m;
}

participant make_participant(const std::string& user, role r) {
  participant p;
  p.user = user;
  p.rtc_user = "rtc-" + user;
  p.r = r;
  p.joined_at = 1704164646000;
  p.session = "sess";
  p.token_expires_at = 1704251046000;
  p.token_warn_at = 1704250746000;
  return p;
}

changeset one(std::vector<any_change> changes) {
  changeset cs;
  cs.changes = std::move(changes);
  return cs;
}

std::optional<store_error> apply(store& db, std::vector<changeset> batch) {
  std::vector<const changeset*> ptrs;
  for (auto& cs : batch)
    ptrs.push_back(&cs);
  return db.apply(ptrs);
}

std::optional<store_error> put_meeting(store& db, const std::string& id) {
  return apply(db, {one({change::put_meeting{make_meeting(id)}})});
}

std::size_t live_meeting_count(store& db) {
  return db.load(0, 0).live_meetings.size();
}

/// Holds the write lock as an operator's sqlite3 session inside a transaction
/// does; false (rather than a wait) when another connection has it.
bool hold_write_lock(raw_db& raw) {
  return raw.exec("PRAGMA busy_timeout = 0") && raw.exec("BEGIN IMMEDIATE");
}

void expect_mentions(const store_error& err, const std::string& text) {
  EXPECT_NE(err.what.find(text), std::string::npos) << "no \"" << text << "\" in: " << err.what;
}

class sqlite_store_test : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = test_support::make_temp_dir("meetingd-sqlite");
    path_ = dir_ + "/meetingd.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<store> open(bool full = false) {
    std::string error;
    auto db = open_sqlite_store(path_, full, &error);
    EXPECT_TRUE(db) << error;
    return db;
  }
  std::string open_error() {
    std::string error;
    auto db = open_sqlite_store(path_, false, &error);
    EXPECT_FALSE(db);
    return error;
  }

  std::string dir_;
  std::string path_;
};

mode_t mode_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return st.st_mode & 0777;
}

} // namespace

// -- the file -----------------------------------------------------------------

TEST_F(sqlite_store_test, creates_the_file_with_mode_0600) {
  auto old_mask = ::umask(022);
  auto db = open();
  ::umask(old_mask);
  ASSERT_TRUE(db);
  ASSERT_FALSE(put_meeting(*db, "m-1"));
  EXPECT_EQ(mode_of(path_), 0600u);
  // SQLite gives the WAL the database file's mode.
  ASSERT_TRUE(std::filesystem::exists(path_ + "-wal"));
  EXPECT_EQ(mode_of(path_ + "-wal"), 0600u);
}

TEST_F(sqlite_store_test, runs_in_wal_mode_with_the_asked_synchronous_level) {
  auto db = open(true);
  ASSERT_TRUE(db);
  raw_db raw{path_};
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
}

TEST_F(sqlite_store_test, a_missing_directory_is_an_error_naming_the_path) {
  path_ = dir_ + "/no/such/dir/meetingd.db";
  auto error = open_error();
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/no"));
}

TEST_F(sqlite_store_test, a_file_that_is_not_a_database_is_refused) {
  std::ofstream{path_} << std::string(8192, 'x');
  auto error = open_error();
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST_F(sqlite_store_test, reopening_sees_everything) {
  auto m = make_meeting("m-1");
  {
    auto db = open();
    ASSERT_FALSE(apply(*db, {one({change::put_meeting{m},
                                  change::put_participant{m.id, make_participant("alice", role::host)},
                                  change::put_user{{"alice", "Alice", "hash", 1}},
                                  change::put_device{{"c1", "alice", 2, 7, true, 3}},
                                  change::put_request{{"c1", "r-1", "{}", 4}}})}));
    ASSERT_FALSE(db->set_clean_shutdown(false));
  }
  auto db = open();
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error);
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].channel.key, "SECRET-CHANNEL-KEY");
  EXPECT_EQ(s.live_meetings[0].participants.size(), 1u);
  EXPECT_EQ(s.users.size(), 1u);
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].last_seq, 7u);
  EXPECT_EQ(s.requests.size(), 1u);
  EXPECT_FALSE(s.clean_shutdown);
}

// -- schema and migrations ----------------------------------------------------

TEST_F(sqlite_store_test, migrates_an_empty_file_from_version_0) {
  {
    raw_db raw{path_};
    EXPECT_EQ(raw.scalar("PRAGMA user_version"), "0");
  }
  auto db = open();
  ASSERT_TRUE(db);
  raw_db raw{path_};
  EXPECT_EQ(raw.scalar("PRAGMA user_version"),
            std::to_string(schema::latest_version()));
  std::set<std::string> names;
  for (auto& row : raw.rows("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"))
    names.insert(row["name"]);
  for (auto name : {"meetings", "participants", "invitations", "users", "devices",
                    "request_log", "node_meta", "active_meetings", "ended_meetings",
                    "meeting_participants", "ringing_invitations", "online_devices",
                    "pending_timers", "login_failures", "removed_users", "throttled_logins",
                    "recently_removed_users", "webhook_outbox", "call_records",
                    "webhook_backlog", "webhook_failures"})
    EXPECT_TRUE(names.count(name)) << name;
}

TEST_F(sqlite_store_test, migrates_step_by_step_and_keeps_data) {
  {
    raw_db raw{path_};
    std::vector<schema::migration> first{schema::migrations().front()};
    ASSERT_FALSE(schema::migrate(raw.get(), first));
    EXPECT_EQ(raw.scalar("PRAGMA user_version"), "1");
    ASSERT_TRUE(raw.exec("INSERT INTO meetings (id, title, created_at) "
                         "VALUES ('m-old', 'from v1', 1)"));
  }
  auto db = open();
  ASSERT_TRUE(db);
  auto s = db->load(0, 0);
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].title, "from v1");
  raw_db raw{path_};
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM active_meetings"), "1");
}

TEST_F(sqlite_store_test, version_5_backfills_the_call_records_of_older_rows) {
  {
    raw_db raw{path_};
    std::vector<schema::migration> v4(schema::migrations().begin(),
                                      schema::migrations().begin() + 4);
    ASSERT_FALSE(schema::migrate(raw.get(), v4));
    ASSERT_EQ(raw.scalar("PRAGMA user_version"), "4");
    // Someone still in the call, someone who left after 62.5 s, someone
    // kicked the instant they joined.
    ASSERT_TRUE(raw.exec(R"sql(
      INSERT INTO meetings (id, created_at, next_order) VALUES ('m-old', 1000, 4);
      INSERT INTO participants (meeting, user, status, join_order, joined_at, left_at) VALUES
        ('m-old', 'ann', 'joined', 1, 2000, 0),
        ('m-old', 'bob', 'left', 2, 3000, 65500),
        ('m-old', 'cid', 'kicked', 3, 4000, 4000);
    )sql"));
  }
  auto db = open();
  ASSERT_TRUE(db);
  raw_db raw{path_};
  std::map<std::string, std::string> got;
  for (auto& row : raw.rows("SELECT user, first_joined_at || '/' || in_call_ms AS v "
                            "FROM participants ORDER BY user"))
    got[row["user"]] = row["v"];
  EXPECT_EQ(got, (std::map<std::string, std::string>{
                   {"ann", "2000/0"}, {"bob", "3000/62500"}, {"cid", "4000/0"}}));
  auto s = db->load(0, 0);
  ASSERT_FALSE(s.error) << s.error->what;
  ASSERT_EQ(s.live_meetings.size(), 1u);
  EXPECT_EQ(s.live_meetings[0].next_event, 1);
  EXPECT_EQ(s.live_meetings[0].participants.at("bob").in_call_ms, 62500);
  EXPECT_EQ(s.live_meetings[0].participants.at("ann").first_joined_at, 2000);
}

TEST_F(sqlite_store_test, a_failing_migration_leaves_the_previous_version) {
  raw_db raw{path_};
  auto steps = schema::migrations();
  ASSERT_FALSE(schema::migrate(raw.get(), steps));
  int latest = schema::latest_version();
  steps.push_back({latest + 1, "broken",
                   "CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;"});
  auto error = schema::migrate(raw.get(), steps);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("version " + std::to_string(latest + 1)), std::string::npos)
    << *error;
  EXPECT_NE(error->find("no_such_table"), std::string::npos) << *error;
  EXPECT_EQ(schema::current_version(raw.get()), latest);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"),
            "0");
}

TEST_F(sqlite_store_test, refuses_a_database_from_a_newer_version) {
  {
    auto db = open();
    ASSERT_TRUE(db);
  }
  {
    raw_db raw{path_};
    ASSERT_TRUE(raw.exec("PRAGMA user_version = 99"));
  }
  auto error = open_error();
  EXPECT_NE(error.find("99"), std::string::npos) << error;
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
  raw_db raw{path_};
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), "99"); // untouched
}

// -- views ----------------------------------------------------------------------

TEST_F(sqlite_store_test, views_show_iso_times_and_no_secrets) {
  auto db = open();
  auto now = static_cast<unix_ms>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  auto m = make_meeting("m-1");
  m.expires_at = now + 3600 * 1000;
  m.idle_deadline = now + 600 * 1000;
  auto host = make_participant("alice", role::host);
  auto away = make_participant("bob", role::member);
  away.online = false;
  away.grace_deadline = now + 60 * 1000;
  away.audio_muted = true;
  invitation ring;
  ring.invitee = "carol";
  ring.inviter = "alice";
  ring.created_at = now;
  ring.ring_deadline = now + 45 * 1000;
  auto ended = make_meeting("m-2");
  ended.status = meeting_status::ended;
  ended.ended_at = 1704164700000;
  ended.end_reason = "ended";
  ASSERT_FALSE(apply(*db, {one({change::put_meeting{m},
                                change::put_participant{m.id, host},
                                change::put_participant{m.id, away},
                                change::put_invitation{m.id, ring},
                                change::put_meeting{ended},
                                change::put_user{{"alice", "Alice", "SECRET-PASSWORD-HASH", 1}},
                                change::put_device{{"c1", "alice", 1704164645678, 3, true, 1704164645678}},
                                change::put_device{{"c2", "bob", 1, 3, false, 1}},
                                change::put_request{{"c1", "r-1", "{\"token\":\"SECRET-TOKEN\"}", now}}})}));
  raw_db raw{path_};
  raw.expect_one_row("SELECT * FROM active_meetings",
                     {{"id", "m-1"}, {"host", "alice"}, {"joined", "2"}, {"ringing", "1"},
                      {"created_at", "2024-01-02T03:04:05.678Z"}});
  raw.expect_one_row("SELECT * FROM ended_meetings", {{"ended_at", "2024-01-02T03:05:00.000Z"}});
  auto bob = raw.expect_one_row("SELECT * FROM meeting_participants WHERE user = 'bob'",
                                {{"role", "member"}, {"state", "joined"}, {"online", "0"},
                                 {"audio_muted", "1"},
                                 {"left_at", "<null>"}}); // a time of 0 is NULL
  EXPECT_NE(bob["grace_deadline"], "<null>");
  auto ringing = raw.expect_one_row("SELECT * FROM ringing_invitations", {{"invitee", "carol"}});
  EXPECT_GT(std::stod(ringing["rings_in_s"]), 40.0);
  raw.expect_one_row("SELECT * FROM online_devices",
                     {{"client", "c1"}, {"last_seen_at", "2024-01-02T03:04:05.678Z"}});
  std::multiset<std::string> kinds;
  for (auto& row : raw.rows("SELECT * FROM pending_timers")) {
    kinds.insert(row["kind"]);
    EXPECT_EQ(row["meeting"], "m-1"); // nothing of the ended meeting
    EXPECT_EQ(row["due_at"].size(), 24u) << row["due_at"];
    EXPECT_EQ(row["due_at"].back(), 'Z');
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"channel_expiry", "expiry_warning", "idle",
                                               "ring", "presence_grace", "token_warning",
                                               "token_warning"}));
  auto ring_timer =
    raw.expect_one_row("SELECT * FROM pending_timers WHERE kind = 'ring'", {{"user", "carol"}});
  EXPECT_NEAR(std::stod(ring_timer["due_in_s"]), 45.0, 5.0);
  // No view shows a secret, whatever its columns are called.
  webhook_record hook;
  hook.endpoint = "https://backend.example/hook";
  hook.meeting = "m-1";
  hook.seq = 1;
  hook.body = R"({"token":"SECRET-IN-BODY"})";
  ASSERT_FALSE(apply(*db, {one({change::put_webhook{hook}})}));
  for (auto view : {"active_meetings", "ended_meetings", "meeting_participants",
                    "ringing_invitations", "online_devices", "pending_timers", "call_records",
                    "webhook_backlog", "webhook_failures"}) {
    for (auto& row : raw.rows(std::string{"SELECT * FROM "} + view)) {
      for (auto& [column, value] : row) {
        EXPECT_EQ(value.find("SECRET"), std::string::npos) << view << "." << column;
        EXPECT_EQ(column.find("key"), std::string::npos) << view << "." << column;
        EXPECT_EQ(column.find("password"), std::string::npos) << view << "." << column;
      }
    }
  }
}

TEST_F(sqlite_store_test, call_records_give_each_users_whole_seconds_in_the_call) {
  auto db = open();
  auto m = make_meeting("m-1");
  m.status = meeting_status::ended;
  m.end_reason = "ended";
  m.ended_at = m.created_at + 125900; // 125.9 s after creation
  // Ann joined first, left after 30.6 s, rejoined and stayed 60 s to the
  // end: 90.6 s in all. Bob joined second and was kicked 1.999 s later.
  // Cid was invited and never joined. Dan's meeting is still running.
  auto ann = make_participant("ann", role::host);
  ann.order = 1;
  ann.status = participant_status::left;
  ann.first_joined_at = m.created_at + 100;
  ann.joined_at = m.created_at + 65900;
  ann.left_at = m.ended_at;
  ann.in_call_ms = 30600 + 60000;
  auto bob = make_participant("bob", role::member);
  bob.order = 2;
  bob.status = participant_status::kicked;
  bob.first_joined_at = bob.joined_at = m.created_at + 5000;
  bob.left_at = bob.joined_at + 1999;
  bob.in_call_ms = 1999;
  auto cid = make_participant("cid", role::member);
  cid.order = 3;
  cid.status = participant_status::left;
  auto live = make_meeting("m-2");
  auto dan = make_participant("dan", role::host);
  dan.first_joined_at = dan.joined_at;
  ASSERT_FALSE(apply(*db, {one({change::put_meeting{m}, change::put_participant{m.id, bob},
                                change::put_participant{m.id, ann},
                                change::put_participant{m.id, cid}, change::put_meeting{live},
                                change::put_participant{live.id, dan}})}));
  raw_db raw{path_};
  auto rows = raw.rows("SELECT * FROM call_records");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::map<std::string, std::string>{
                       {"meeting", "m-1"},
                       {"user", "ann"},
                       {"joined_at", "2024-01-02T03:04:05.778Z"},
                       {"left_at", "2024-01-02T03:06:11.578Z"},
                       {"seconds", "90"},
                       {"meeting_duration_s", "125"},
                       {"end_reason", "ended"},
                       {"ended_at", "2024-01-02T03:06:11.578Z"}}));
  EXPECT_EQ(rows[1]["user"], "bob");
  EXPECT_EQ(rows[1]["seconds"], "1");
  // Who talked how long in meeting m-1, as docs/database.md has it.
  EXPECT_EQ(raw.scalar("SELECT sum(seconds) FROM call_records WHERE meeting = 'm-1'"), "91");
}

TEST_F(sqlite_store_test, webhook_views_show_the_backlog_and_the_events_given_up) {
  auto db = open();
  auto now = static_cast<unix_ms>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  auto event = [&](const std::string& meeting, std::int64_t seq, unix_ms at) {
    webhook_record w;
    w.endpoint = "https://backend.example/hook";
    w.meeting = meeting;
    w.seq = seq;
    w.id = meeting + "." + std::to_string(seq);
    w.type = "participant.left";
    w.at = at;
    w.body = R"({"id":")" + w.id + R"("})";
    return w;
  };
  auto waiting = event("m-1", 2, now - 30000);
  auto lost = event("m-1", 1, 1704164645678);
  auto delivered = event("m-2", 1, now);
  changeset cs;
  for (auto* w : {&waiting, &lost, &delivered})
    cs.add(change::put_webhook{*w});
  lost.status = webhook_status::given_up;
  lost.attempts = 12;
  lost.last_error = "HTTP 503";
  lost.settled_at = 1704168245678; // an hour later
  delivered.status = webhook_status::delivered;
  delivered.attempts = 1;
  delivered.settled_at = now;
  cs.add(change::settle_webhook{lost});
  cs.add(change::settle_webhook{delivered});
  ASSERT_FALSE(apply(*db, {cs}));
  raw_db raw{path_};
  auto backlog = raw.expect_one_row("SELECT * FROM webhook_backlog",
                                    {{"endpoint", "https://backend.example/hook"},
                                     {"meeting", "m-1"},
                                     {"seq", "2"},
                                     {"id", "m-1.2"},
                                     {"type", "participant.left"}});
  EXPECT_EQ(backlog["at"].size(), 24u) << backlog["at"];
  EXPECT_NEAR(std::stod(backlog["age_s"]), 30.0, 5.0);
  raw.expect_one_row("SELECT * FROM webhook_failures",
                     {{"meeting", "m-1"},
                      {"seq", "1"},
                      {"id", "m-1.1"},
                      {"at", "2024-01-02T03:04:05.678Z"},
                      {"attempts", "12"},
                      {"last_error", "HTTP 503"},
                      {"given_up_at", "2024-01-02T04:04:05.678Z"},
                      {"body", R"({"id":"m-1.1"})"}});
}

// -- failures -------------------------------------------------------------------

TEST_F(sqlite_store_test, a_trigger_failure_rolls_back_the_whole_batch) {
  auto db = open();
  {
    raw_db raw{path_};
    ASSERT_TRUE(raw.exec("CREATE TRIGGER poison BEFORE INSERT ON users "
                         "WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned user'); END"));
  }
  auto m = make_meeting("m-1");
  auto err = apply(*db, {one({change::put_meeting{m},
                              change::put_participant{m.id, make_participant("a", role::host)}}),
                         one({change::put_device{{"c1", "a", 1, 1, true, 1}},
                              change::put_request{{"c1", "r-1", "{}", 1}}}),
                         one({change::put_user{{"poison", "", "", 1}}})});
  ASSERT_TRUE(err);
  expect_mentions(*err, "poisoned user");
  expect_mentions(*err, path_);
  EXPECT_FALSE(err->retryable);
  auto s = db->load(0, 0);
  EXPECT_TRUE(s.live_meetings.empty());
  EXPECT_TRUE(s.devices.empty());
  EXPECT_TRUE(s.requests.empty());
  EXPECT_TRUE(s.users.empty());
  // Still usable afterwards.
  EXPECT_FALSE(apply(*db, {one({change::put_meeting{m}})}));
  EXPECT_EQ(live_meeting_count(*db), 1u);
}

TEST_F(sqlite_store_test, a_lock_released_within_the_busy_timeout_is_waited_for) {
  auto db = open();
  raw_db raw{path_};
  ASSERT_TRUE(hold_write_lock(raw));
  // The store waits up to its busy timeout (5 s) for the lock; release it
  // before that, and the write goes through.
  std::thread releaser{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    raw.exec("COMMIT");
  }};
  auto err = put_meeting(*db, "m-1");
  releaser.join();
  EXPECT_FALSE(err) << err->what;
  EXPECT_EQ(live_meeting_count(*db), 1u);
}

TEST_F(sqlite_store_test, a_locked_database_is_a_retryable_error) {
  auto db = open();
  raw_db raw{path_};
  // An operator's sqlite3 session holding a write transaction past the
  // store's busy timeout (5 s): the batch fails, as one the store actor holds
  // and retries rather than refuses.
  ASSERT_TRUE(hold_write_lock(raw));
  auto err = put_meeting(*db, "m-1");
  ASSERT_TRUE(err) << "the write went through a lock held by another connection";
  EXPECT_TRUE(err->retryable) << err->what;
  expect_mentions(*err, "locked");
  expect_mentions(*err, path_);
  EXPECT_EQ(live_meeting_count(*db), 0u);
  // And a retry once the lock is gone succeeds.
  ASSERT_TRUE(raw.exec("COMMIT"));
  auto again = put_meeting(*db, "m-1");
  EXPECT_FALSE(again) << again->what;
  EXPECT_EQ(live_meeting_count(*db), 1u);
}

TEST_F(sqlite_store_test, an_unreadable_row_is_reported_by_load) {
  auto db = open();
  {
    raw_db raw{path_};
    // CHECK constraints keep bad enum values out, but a connection that
    // turns them off (an operator's sqlite3 session) can still write one.
    ASSERT_TRUE(raw.exec("PRAGMA ignore_check_constraints = 1"));
    ASSERT_TRUE(raw.exec("INSERT INTO meetings (id, token_scheme) VALUES ('m-bad', 'quantum')"));
  }
  auto s = db->load(0, 0);
  ASSERT_TRUE(s.error);
  EXPECT_NE(s.error->what.find("quantum"), std::string::npos) << s.error->what;
}

// -- kill -9 --------------------------------------------------------------------

namespace {

constexpr int per_batch = 3; // changesets per batch, one meeting each

std::string batch_meeting(int k, int j) {
  return "m-" + std::to_string(k) + "-" + std::to_string(j);
}

std::vector<changeset> make_batch(int k) {
  std::vector<changeset> batch;
  for (int j = 0; j < per_batch; ++j) {
    auto id = batch_meeting(k, j);
    changeset cs;
    if (j == 0)
      cs.add(change::put_device{{"dev", "u", 1, static_cast<std::uint64_t>(k), true, k}});
    auto m = make_meeting(id);
    m.next_order = k;
    cs.add(change::put_participant{id, make_participant("u-" + id, role::host)});
    cs.add(change::put_meeting{m});
    invitation inv;
    inv.invitee = "i-" + id;
    inv.ring_deadline = k;
    cs.add(change::put_invitation{id, inv});
    cs.add(change::put_request{{"client", id, std::string(200, 'r'), 1}});
    batch.push_back(std::move(cs));
  }
  return batch;
}

} // namespace

TEST_F(sqlite_store_test, kill_9_loses_no_committed_batch_and_tears_none) {
  std::mt19937 rng{20240102};
  int present = 0; // batches 0..present-1 are in the database
  int killed_mid_run = 0;
  int committed_unreported = 0; // killed between COMMIT and the report
  constexpr int iterations = 30;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    bool full = iteration % 3 == 0;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      std::string error;
      auto db = open_sqlite_store(path_, full, &error);
      if (!db)
        ::_exit(3);
      int ready = -1;
      if (::write(fds[1], &ready, sizeof ready) != sizeof ready)
        ::_exit(5);
      for (int k = present; k < present + 1000000; ++k) {
        auto batch = make_batch(k);
        std::vector<const changeset*> ptrs;
        for (auto& cs : batch)
          ptrs.push_back(&cs);
        if (auto err = db->apply(ptrs)) {
          std::fprintf(stderr, "apply failed: %s\n", err->what.c_str());
          ::_exit(4);
        }
        // Reported only after apply returned: this batch is acknowledged.
        if (::write(fds[1], &k, sizeof k) != sizeof k)
          ::_exit(5);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    // Mostly kill while batches are written; every fifth time at a random
    // point of opening (and, the first time, of migrating).
    bool during_open = iteration % 5 == 4 || iteration == 0;
    int k = 0;
    if (!during_open) {
      ASSERT_EQ(::read(fds[0], &k, sizeof k), static_cast<ssize_t>(sizeof k));
    }
    std::uniform_int_distribution<int> delay_us{during_open ? 100 : 1000,
                                                during_open ? 60000 : 80000};
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    if (WIFEXITED(status))
      FAIL() << "child exited with " << WEXITSTATUS(status);
    ASSERT_TRUE(WIFSIGNALED(status));
    int reported_max = present - 1;
    while (::read(fds[0], &k, sizeof k) == sizeof k) {
      if (k < 0)
        continue; // the child's "opened" marker
      EXPECT_EQ(k, reported_max + 1);
      reported_max = k;
    }
    ::close(fds[0]);

    auto db = open();
    ASSERT_TRUE(db);
    auto s = db->load(0, 0);
    ASSERT_FALSE(s.error) << s.error->what;
    std::map<int, int> meetings_of_batch;
    std::set<std::string> ids;
    for (auto& m : s.live_meetings) {
      ids.insert(m.id);
      // Every meeting has all its rows: no half-applied changeset.
      EXPECT_EQ(m.participants.size(), 1u) << m.id;
      EXPECT_EQ(m.invitations.size(), 1u) << m.id;
      ++meetings_of_batch[static_cast<int>(m.next_order)];
    }
    std::set<std::string> request_ids;
    for (auto& r : s.requests)
      request_ids.insert(r.id);
    EXPECT_EQ(request_ids, ids);
    // Every batch is whole, and the batches form a prefix 0..now-1.
    int now_present = static_cast<int>(meetings_of_batch.size());
    for (auto& [batch, count] : meetings_of_batch) {
      EXPECT_EQ(count, per_batch) << "batch " << batch << " is torn";
      EXPECT_LT(batch, now_present) << "batch " << batch << " out of order";
    }
    // Nothing acknowledged is lost; at most the batch in flight is extra.
    EXPECT_GE(now_present, reported_max + 1);
    EXPECT_LE(now_present, reported_max + 2);
    if (now_present > 0) {
      ASSERT_EQ(s.devices.size(), 1u);
      EXPECT_EQ(s.devices[0].last_seq, static_cast<std::uint64_t>(now_present - 1));
    }
    if (now_present > present)
      ++killed_mid_run;
    if (now_present == reported_max + 2)
      ++committed_unreported;
    present = now_present;
    if (::testing::Test::HasFailure())
      break;
  }
  std::cout << "[ info     ] " << present << " batches committed over "
            << iterations << " kills; " << killed_mid_run
            << " kills while writing; " << committed_unreported
            << " between a COMMIT and its report\n";
  // The loop must have exercised real writes, not only kills during open.
  EXPECT_GT(present, iterations);
  EXPECT_GE(killed_mid_run, iterations / 3);
}

// -- the write-ahead log: gathered writes, checkpoints between groups ---------

TEST_F(sqlite_store_test, each_commit_is_visible_at_once_to_another_connection) {
  // The commit's frames are gathered in the process (sqlite_wal_writes.hpp):
  // they must reach the file before another connection can see the commit.
  auto db = open(true);
  ASSERT_TRUE(db);
  raw_db operator_session{path_};
  for (int i = 0; i < 60; ++i) {
    ASSERT_FALSE(apply(*db, {one({change::put_request{{"c", "r-" + std::to_string(i),
                                                       std::string(900, 'x'), i}}})}));
    EXPECT_EQ(operator_session.scalar("SELECT count(*) FROM request_log"), std::to_string(i + 1));
  }
}

TEST_F(sqlite_store_test, a_transaction_larger_than_one_write_commits_whole) {
  // 6 MB of replies: more than one pwrite of the default VFS (128 KiB) and
  // more than the gathering limit (4 MiB).
  {
    auto db = open(true);
    ASSERT_TRUE(db);
    std::vector<changeset> batch;
    for (int i = 0; i < 1500; ++i)
      batch.push_back(one({change::put_request{{"c", "big-" + std::to_string(i),
                                                std::string(4000, static_cast<char>('a' + i % 26)),
                                                i}}}));
    ASSERT_FALSE(apply(*db, std::move(batch)));
  }
  raw_db check{path_};
  EXPECT_EQ(check.scalar("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(check.scalar("SELECT count(*) FROM request_log WHERE length(reply) = 4000"), "1500");
  EXPECT_EQ(check.scalar("SELECT substr(reply, 1, 3) FROM request_log WHERE id = 'big-27'"), "bbb");
}

TEST_F(sqlite_store_test, the_log_is_checkpointed_once_past_its_limit_and_not_before) {
  std::string error;
  sqlite_tuning tuning;
  tuning.checkpoint_pages = 300;
  auto db = open_sqlite_store(path_, false, &error, tuning);
  ASSERT_TRUE(db) << error;
  int commits = 0;
  while (!db->log_checkpoint_due(true) && commits < 1000) {
    ASSERT_FALSE(apply(*db, {one({change::put_request{{"c", "r-" + std::to_string(commits),
                                                       std::string(3000, 'y'), commits}}})}));
    ++commits;
  }
  ASSERT_TRUE(db->log_checkpoint_due(true)) << "the log never reached 300 pages";
  EXPECT_GT(commits, 50); // a few pages per commit: not due at once
  // Commits waiting: not yet, until the log is four times the limit.
  EXPECT_FALSE(db->log_checkpoint_due(false));
  int busy_commits = commits;
  while (!db->log_checkpoint_due(false) && busy_commits < 5000) {
    ASSERT_FALSE(apply(*db, {one({change::put_request{{"c", "r-" + std::to_string(busy_commits),
                                                       std::string(3000, 'y'), busy_commits}}})}));
    ++busy_commits;
  }
  ASSERT_TRUE(db->log_checkpoint_due(false)) << "a busy log is never checkpointed";
  EXPECT_GT(busy_commits, 3 * commits);
  ASSERT_FALSE(db->checkpoint_log());
  EXPECT_FALSE(db->log_checkpoint_due(true));
  // The next commit starts the log again from its beginning.
  ASSERT_FALSE(apply(*db, {one({change::put_request{{"c", "after", "z", 1}}})}));
  EXPECT_FALSE(db->log_checkpoint_due(true));
  raw_db check{path_};
  EXPECT_EQ(check.scalar("SELECT count(*) FROM request_log"), std::to_string(busy_commits + 1));
}
