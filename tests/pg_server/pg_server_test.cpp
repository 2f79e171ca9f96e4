// pg_server_test: the test PostgreSQL server itself. What other tests lean
// on: databases of their own, honest durability (fsync on, committed rows
// survive kill -9), faults that really take the whole server down or hang
// it, and nothing left behind — by the destructor, or by the watchdog when
// the test process itself is killed.
#include "pg_server/pg_server.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <poll.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using meetingd::test::pg_server;
using steady = std::chrono::steady_clock;
using conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

conn_ptr connect(const std::string& conninfo) {
  return {PQconnectdb(conninfo.c_str()), &PQfinish};
}

// The first column of the first row ("" if none), or "ERROR: ..." so that a
// failure shows in the assertion that compares the value.
std::string query(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
  auto status = PQresultStatus(res.get());
  if (status == PGRES_COMMAND_OK)
    return "";
  if (status != PGRES_TUPLES_OK)
    return std::string{"ERROR: "} + PQerrorMessage(conn);
  return PQntuples(res.get()) > 0 ? PQgetvalue(res.get(), 0, 0) : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Gone: no such process, or a zombie its (new) parent has not reaped yet.
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close == std::string::npos || stat.compare(close, 3, ") Z") == 0;
}

template <typename Pred>
bool eventually(Pred pred, steady::duration timeout) {
  auto deadline = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() >= deadline)
      return pred();
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::unique_ptr<pg_server> start_server() {
  std::string error;
  auto server = pg_server::start(&error);
  EXPECT_TRUE(server) << error;
  return server;
}

TEST(PgServer, ServesSeparateDatabasesWithFsyncOn) {
  std::string error;
  pg_server* server = pg_server::shared(&error);
  ASSERT_TRUE(server) << error;
  EXPECT_EQ(server, pg_server::shared(nullptr));
  EXPECT_EQ(server->uri("x"),
            "postgresql://meetingd@127.0.0.1:" + std::to_string(server->port()) + "/x");
  EXPECT_TRUE(fs::exists(server->data_dir() + "/PG_VERSION"));
  EXPECT_TRUE(fs::exists(server->log_path()));

  // Named per run: the server outlives the test under --gtest_repeat.
  static int run = 0;
  std::string first = "first_" + std::to_string(++run);
  ASSERT_TRUE(server->create_database(first, &error)) << error;
  std::string second = server->fresh_database(&error);
  ASSERT_FALSE(second.empty()) << error;

  auto a = connect(server->uri(first));
  ASSERT_EQ(PQstatus(a.get()), CONNECTION_OK) << PQerrorMessage(a.get());
  auto b = connect(second);
  ASSERT_EQ(PQstatus(b.get()), CONNECTION_OK) << PQerrorMessage(b.get());

  EXPECT_EQ(query(a.get(), "CREATE TABLE t(x int)"), "");
  EXPECT_EQ(query(a.get(), "INSERT INTO t VALUES (1), (2), (3)"), "");
  EXPECT_EQ(query(a.get(), "SELECT sum(x) FROM t"), "6");
  // The second database is a database of its own, not a schema.
  EXPECT_EQ(query(b.get(), "SELECT to_regclass('t') IS NULL"), "t");
  EXPECT_EQ(query(b.get(), "CREATE TABLE t(x int)"), "");
  EXPECT_EQ(query(b.get(), "SELECT count(*) FROM t"), "0");

  // Durability tests are only honest with PostgreSQL's defaults.
  EXPECT_EQ(query(a.get(), "SHOW fsync"), "on");
  EXPECT_EQ(query(a.get(), "SHOW synchronous_commit"), "on");
  EXPECT_EQ(query(a.get(), "SELECT current_user"), "meetingd");
}

TEST(PgServer, FreshDatabasesAreDistinct) {
  std::string error;
  pg_server* server = pg_server::shared(&error);
  ASSERT_TRUE(server) << error;
  std::string one = server->fresh_database(&error);
  ASSERT_FALSE(one.empty()) << error;
  std::string two = server->fresh_database(&error);
  ASSERT_FALSE(two.empty()) << error;
  EXPECT_NE(one, two);
  // Creating one again is refused, and says why.
  std::string name = one.substr(one.rfind('/') + 1);
  EXPECT_FALSE(server->create_database(name, &error));
  EXPECT_NE(error.find("already exists"), std::string::npos) << error;
}

TEST(PgServer, Kill9ThenRestartKeepsCommittedRowsOnly) {
  auto server = start_server();
  ASSERT_TRUE(server);
  std::string error;
  std::string db = server->fresh_database(&error);
  ASSERT_FALSE(db.empty()) << error;
  {
    auto c = connect(db);
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(query(c.get(), "CREATE TABLE t(x int)"), "");
    EXPECT_EQ(query(c.get(), "INSERT INTO t SELECT generate_series(1, 1000)"), "");
    auto open = connect(db);
    ASSERT_EQ(PQstatus(open.get()), CONNECTION_OK) << PQerrorMessage(open.get());
    EXPECT_EQ(query(open.get(), "BEGIN"), "");
    EXPECT_EQ(query(open.get(), "INSERT INTO t VALUES (-1)"), "");

    pid_t old_pid = server->pid();
    std::vector<pid_t> backends = server->backend_pids();
    EXPECT_GE(backends.size(), 3u); // two client backends, checkpointer, ...
    int port = server->port();

    server->kill9();
    EXPECT_FALSE(server->running());
    EXPECT_EQ(server->pid(), -1);
    EXPECT_TRUE(gone(old_pid));
    for (pid_t b : backends)
      EXPECT_TRUE(gone(b)) << "backend " << b << " outlived its killed postmaster";
    EXPECT_NE(query(c.get(), "SELECT 1").find("ERROR"), std::string::npos);

    ASSERT_TRUE(server->restart(&error)) << error;
    EXPECT_EQ(server->port(), port);
    EXPECT_NE(server->pid(), old_pid);
  }
  auto c = connect(db);
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(query(c.get(), "SELECT count(*) FROM t"), "1000");
  EXPECT_EQ(query(c.get(), "SELECT count(*) FROM t WHERE x < 0"), "0");
  // It really crashed: the restart had to recover from the WAL.
  EXPECT_NE(read_file(server->log_path()).find("not properly shut down"), std::string::npos);
}

TEST(PgServer, PauseHangsConnectionsUntilResume) {
  auto server = start_server();
  ASSERT_TRUE(server);
  std::string error;
  std::string db = server->fresh_database(&error);
  ASSERT_FALSE(db.empty()) << error;
  auto held = connect(db);
  ASSERT_EQ(PQstatus(held.get()), CONNECTION_OK) << PQerrorMessage(held.get());

  server->pause();
  // An open connection: the query goes out, no answer comes within 1 s.
  ASSERT_EQ(PQsendQuery(held.get(), "SELECT 42"), 1) << PQerrorMessage(held.get());
  pollfd pfd{PQsocket(held.get()), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 1000), 0) << "a paused server answered";

  // A new connection: TCP is accepted by the kernel, the startup exchange
  // never answered; libpq's connect_timeout (2 s at least) gives up.
  auto start = steady::now();
  auto fresh = connect(db + "?connect_timeout=2");
  auto took = steady::now() - start;
  EXPECT_NE(PQstatus(fresh.get()), CONNECTION_OK);
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 8s);

  server->resume();
  auto deadline = steady::now() + 10s;
  while (PQisBusy(held.get()) && steady::now() < deadline) {
    ::poll(&pfd, 1, 100);
    ASSERT_EQ(PQconsumeInput(held.get()), 1) << PQerrorMessage(held.get());
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQgetResult(held.get()), &PQclear};
  ASSERT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQerrorMessage(held.get());
  EXPECT_STREQ(PQgetvalue(res.get(), 0, 0), "42");
  while (PGresult* rest = PQgetResult(held.get()))
    PQclear(rest);
  auto again = connect(db + "?connect_timeout=5");
  EXPECT_EQ(PQstatus(again.get()), CONNECTION_OK) << PQerrorMessage(again.get());
}

TEST(PgServer, StopFastThenRestart) {
  auto server = start_server();
  ASSERT_TRUE(server);
  std::string error;
  std::string db = server->fresh_database(&error);
  ASSERT_FALSE(db.empty()) << error;
  {
    auto c = connect(db);
    EXPECT_EQ(query(c.get(), "CREATE TABLE t AS SELECT 7 AS x"), "");
  }
  pid_t old_pid = server->pid();
  server->stop_fast();
  EXPECT_FALSE(server->running());
  EXPECT_TRUE(gone(old_pid));
  EXPECT_NE(read_file(server->log_path()).find("database system is shut down"), std::string::npos);
  ASSERT_TRUE(server->restart(&error)) << error;
  auto c = connect(db);
  EXPECT_EQ(query(c.get(), "SELECT x FROM t"), "7");
  EXPECT_FALSE(server->restart(&error));
  EXPECT_NE(error.find("still running"), std::string::npos) << error;
}

TEST(PgServer, DestructorLeavesNoProcessAndNoDirectory) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto c = connect(server->uri("postgres"));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  std::vector<pid_t> pids = server->backend_pids();
  pids.push_back(server->pid());
  fs::path root = fs::path{server->data_dir()}.parent_path();
  ASSERT_TRUE(fs::exists(root));

  server.reset();
  for (pid_t pid : pids)
    EXPECT_TRUE(eventually([&] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, 2s))
      << "process " << pid << " is still there";
  EXPECT_FALSE(fs::exists(root)) << root;
}

// A killed server leaves its System V segment (postmaster.pid, line 7); a
// restart would remove it, and so does the destructor when none came.
TEST(PgServer, DestructorAfterKill9LeavesNoSharedMemory) {
  auto server = start_server();
  ASSERT_TRUE(server);
  std::ifstream lock{server->data_dir() + "/postmaster.pid"};
  std::string line;
  for (int i = 0; i < 7 && std::getline(lock, line); ++i) {}
  long key = 0;
  int shmid = -1;
  ASSERT_EQ(std::sscanf(line.c_str(), "%ld %d", &key, &shmid), 2) << line;
  shmid_ds ds{};
  ASSERT_EQ(::shmctl(shmid, IPC_STAT, &ds), 0) << std::strerror(errno);

  server->kill9();
  EXPECT_EQ(::shmctl(shmid, IPC_STAT, &ds), 0) << "no segment left to clean up: test is moot";
  server.reset();
  EXPECT_NE(::shmctl(shmid, IPC_STAT, &ds), 0) << "segment " << shmid << " outlived the server";
}

// The test process dies without its destructors (kill -9, a CTest timeout):
// the watchdog takes the server down and removes the directory. The "test
// process" here is a forked child; `paused` also covers a server that was
// stopped with SIGSTOP at the time.
void watchdog_cleans_up(bool paused) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    std::string error;
    auto server = pg_server::start(&error);
    std::string line = server ? std::to_string(server->pid()) + " " + server->data_dir() + "\n"
                              : "error " + error + "\n";
    if (server && paused)
      server->pause();
    ssize_t ignored = ::write(report[1], line.data(), line.size());
    (void)ignored;
    for (;;)
      ::pause();
  }
  ::close(report[1]);
  std::string line;
  char buf[4096];
  for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;) {
    line.append(buf, static_cast<std::size_t>(n));
    if (line.find('\n') != std::string::npos)
      break;
  }
  ::close(report[0]);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_NE(line.rfind("error", 0), 0u) << line;
  std::istringstream in{line};
  pid_t postmaster = -1;
  std::string data_dir;
  in >> postmaster >> data_dir;
  ASSERT_GT(postmaster, 0) << line;
  fs::path root = fs::path{data_dir}.parent_path();

  EXPECT_TRUE(eventually([&] { return gone(postmaster); }, 20s))
    << "postgres " << postmaster << " outlived the test process";
  EXPECT_TRUE(eventually([&] { return !fs::exists(root); }, 20s)) << root << " was left behind";
}

TEST(PgServer, WatchdogTakesTheServerDownWhenTheTestIsKilled) {
  watchdog_cleans_up(false);
}

TEST(PgServer, WatchdogTakesAPausedServerDownToo) {
  watchdog_cleans_up(true);
}

TEST(PgServer, AWrongBinDirectoryIsReported) {
  const char* old = std::getenv("MEETINGD_TEST_PG_BIN");
  std::optional<std::string> saved = old ? std::optional<std::string>{old} : std::nullopt;
  ::setenv("MEETINGD_TEST_PG_BIN", "/nonexistent/pg/bin", 1);
  std::string error;
  auto server = pg_server::start(&error);
  if (saved)
    ::setenv("MEETINGD_TEST_PG_BIN", saved->c_str(), 1);
  else
    ::unsetenv("MEETINGD_TEST_PG_BIN");
  EXPECT_FALSE(server);
  EXPECT_NE(error.find("MEETINGD_TEST_PG_BIN=/nonexistent/pg/bin"), std::string::npos) << error;
}

} // namespace
