// A real PostgreSQL server for tests: a throwaway cluster (initdb) in a temp
// directory, served on a free loopback port, and gone with the test — stopped
// by the destructor, and by a watchdog process when the test process dies
// without running it (a crash, a CTest timeout, kill -9).
//
// Durability settings are PostgreSQL's defaults (fsync on), so that a test
// that kills the server (kill9) and restarts it sees what a crash leaves.
// The fault controls (kill9, pause, stop_fast, restart) act on the whole
// server: the postmaster and every backend it forked.
//
// PostgreSQL refuses to run as root; as root (CI), initdb and postgres run as
// the `postgres` user: the forked child drops to it before exec, so the
// postmaster is a direct child of the test (no runuser or su in between
// whose pid would stand for it). Binaries: $MEETINGD_TEST_PG_BIN, else the highest
// version in /usr/lib/postgresql/*/bin (Debian's postgresql package).
//
// Not thread-safe: one thread drives a server (libpq connections to it may
// be used from any thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace meetingd::test {

class pg_server {
public:
  /// A new cluster, running and accepting connections as role `meetingd`
  /// (trust authentication, a superuser). nullptr and `*error` (what failed,
  /// the command, the end of its log) when it cannot be started.
  static std::unique_ptr<pg_server> start(std::string* error);

  /// One server for the whole test process, started on first use and stopped
  /// at exit: for tests that only need a database of their own
  /// (fresh_database). Tests that kill, pause or stop the server start their
  /// own. A failed start is remembered: later calls return nullptr at once
  /// with the same error.
  static pg_server* shared(std::string* error);

  /// Immediate shutdown (SIGQUIT, then SIGKILL after 10 s), then the temp
  /// directory is removed. Not a fast shutdown: its checkpoint, fsync'ed,
  /// takes seconds for data about to be deleted.
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  /// postgresql://meetingd@127.0.0.1:PORT/DBNAME
  std::string uri(const std::string& dbname) const;
  /// CREATE DATABASE `name` (quoted as an identifier).
  bool create_database(const std::string& name, std::string* error);
  /// A database no other caller has got from this server; its URI, or "" and
  /// `*error`.
  std::string fresh_database(std::string* error);

  int port() const { return port_; }
  /// The cluster's data directory (PGDATA).
  std::string data_dir() const;
  /// The server's log (stderr of every postgres started here, appended).
  std::string log_path() const;
  /// The postmaster's pid; -1 while the server is not running.
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // --- faults -------------------------------------------------------------
  /// A crash: SIGKILL to the postmaster and every backend at once, as a power
  /// loss would leave them (no shutdown checkpoint). Returns when all of them
  /// are gone and the port is free again.
  void kill9();
  /// Fast shutdown (SIGINT: transactions aborted, checkpoint written);
  /// SIGKILL as kill9 if it takes more than 10 s.
  void stop_fast();
  /// Starts the stopped or killed server again on the same port and data
  /// directory (crash recovery if it was killed); returns once it accepts
  /// connections.
  bool restart(std::string* error);
  /// SIGSTOP to the postmaster and all its backends: connections stay open
  /// but nothing answers (a hung host). resume() sends SIGCONT.
  void pause();
  void resume();

  /// The pids of the postmaster's children (backends, checkpointer, ...).
  std::vector<pid_t> backend_pids() const;

private:
  pg_server() = default;
  void shut_down(int sig);
  bool launch(std::string* error);
  bool wait_ready(std::string* error);
  std::string log_tail() const;
  /// SIGSTOPs the postmaster, so that it forks nothing more, and lists the
  /// processes it forked (kill9 and pause then signal each).
  std::vector<pid_t> stop_postmaster_then_list_children();

  pid_t owner_ = -1;    // the test process; not a forked copy of it
  std::string root_;    // the temp directory: data/, socket/, logs
  std::string bin_dir_; // initdb and postgres
  int port_ = -1;
  pid_t pid_ = -1;           // the postmaster, a child of this process
  bool as_postgres_ = false; // root: children run as the `postgres` user
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  std::vector<gid_t> run_groups_;
  int watchdog_fd_ = -1; // write end; the watchdog cleans up at its EOF
  pid_t watchdog_pid_ = -1;
  unsigned databases_made_ = 0;
  std::string last_command_; // postgres's, for error texts
};

/// A loopback TCP port nothing listens on, picked at random in
/// 20000-32000: below the kernel's ephemeral range, so that no outgoing
/// connection takes it before the server binds it, or while a test restarts
/// the server on the same port. -1 and `*error` when none is found.
int free_loopback_port(std::string* error);

} // namespace meetingd::test
