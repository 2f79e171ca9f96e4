// pg_server: initdb + postgres as child processes of the test, a watchdog
// process that cleans up after a test process that died, and the fault
// controls. Process inspection reads /proc (Linux only, as is the project).
//
// Layout of the temp directory (root_):
//   data/          the cluster (initdb)
//   socket/        the server's Unix socket (psql -h ROOT/socket -p PORT)
//   initdb.log     initdb's output
//   postgres.log   the server's stderr, appended over restarts
#include "pg_server/pg_server.hpp"

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace meetingd::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr const char* k_default_pg_root = "/usr/lib/postgresql";
constexpr auto k_ready_timeout = 30s;
constexpr auto k_initdb_timeout = 120s;
constexpr auto k_stop_timeout = 10s;
constexpr int k_port_attempts = 5;

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string last_lines(const std::string& text, std::size_t n) {
  std::deque<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > n)
      lines.pop_front();
  }
  std::string out;
  for (const auto& line : lines)
    out += "    " + line + "\n";
  return out.empty() ? "    (empty)\n" : out;
}

std::string tail_of(const std::string& path, std::size_t n = 20) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return "    (" + path + " was not written)\n";
  return last_lines(read_file(path), n);
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty())
      out += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" '\"\\$") == std::string::npos;
    out += plain ? arg : "'" + arg + "'";
  }
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " ("
      + strsignal(WTERMSIG(status)) + ")";
  return "wait status " + std::to_string(status);
}

// --- processes, as /proc shows them --------------------------------------------

struct proc_stat {
  char state = '?';
  pid_t ppid = 0;
};

std::optional<proc_stat> read_stat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0)
    return std::nullopt;
  buf[n] = '\0';
  // The command name is in parentheses and may itself hold ") ".
  const char* close = std::strrchr(buf, ')');
  proc_stat st;
  int ppid = 0;
  if (!close || std::sscanf(close + 1, " %c %d", &st.state, &ppid) != 2)
    return std::nullopt;
  st.ppid = ppid;
  return st;
}

// A zombie counts as gone: its parent may be an init that never reaps.
bool alive(pid_t pid) {
  auto st = read_stat(pid);
  return st && st->state != 'Z' && st->state != 'X';
}

bool stopped(pid_t pid) {
  auto st = read_stat(pid);
  return !st || st->state == 'T' || st->state == 't' || st->state == 'Z';
}

std::string comm_of(pid_t pid) {
  std::string comm = read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && comm.back() == '\n')
    comm.pop_back();
  return comm;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (fs::directory_iterator it{"/proc", ec}, end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    auto st = read_stat(pid);
    if (st && st->ppid == parent && st->state != 'Z')
      out.push_back(pid);
  }
  return out;
}

template <typename Pred>
bool wait_until(Pred pred, steady::duration timeout) {
  auto deadline = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() >= deadline)
      return pred();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Reaps our own child; nullopt if it is still running after `timeout`.
std::optional<int> wait_exit(pid_t pid, steady::duration timeout) {
  auto deadline = steady::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    // ECHILD: someone else reaped it (SIGCHLD ignored, a waitpid(-1) elsewhere).
    if (r < 0 && errno != EINTR && !alive(pid))
      return 0;
    if (steady::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

// --- ports ----------------------------------------------------------------------

// CTest runs tests in parallel, and a port is bindable from the moment it is
// picked until its server binds it, which may be seconds later (a node's HTTP
// port is picked with its cluster and bound when the node starts). Two test
// processes could pick the same one; the second's server then fails to bind
// while the first's listens there, and a check that the port is open passes
// for the wrong server. Each picked port is therefore locked in a file for as
// long as the picking process lives: the kernel drops the lock when it exits,
// kill -9 included. The descriptor is close-on-exec, so the servers started
// do not hold it.
bool reserve_port_for_this_process(int port) {
  static const std::string folder = [] {
    std::string dir = "/tmp/meetingd-test-ports";
    ::mkdir(dir.c_str(), 01777);
    ::chmod(dir.c_str(), 01777); // the umask must not keep other users out
    return dir;
  }();
  auto path = folder + "/" + std::to_string(port);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    return true; // no folder to lock in: the bind check alone decides, as before
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true; // fd kept open on purpose: the lock lives as long as this process
}

bool port_bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  // As postgres binds (SO_REUSEADDR): a TIME_WAIT left by a killed server's
  // connections does not keep the port from it.
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// --- the PostgreSQL installation -----------------------------------------------

bool executable(const fs::path& p) {
  return ::access(p.c_str(), X_OK) == 0;
}

std::string find_bin_dir(std::string* error) {
  if (const char* env = std::getenv("MEETINGD_TEST_PG_BIN"); env && *env) {
    fs::path dir{env};
    if (executable(dir / "initdb") && executable(dir / "postgres"))
      return dir.string();
    *error = "MEETINGD_TEST_PG_BIN=" + dir.string()
      + " holds no executable initdb and postgres: point it at a PostgreSQL bin directory "
        "(e.g. /usr/lib/postgresql/15/bin) or unset it";
    return "";
  }
  std::string best;
  long best_version = -1;
  std::error_code ec;
  for (fs::directory_iterator it{k_default_pg_root, ec}, end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    char* rest = nullptr;
    long version = std::strtol(name.c_str(), &rest, 10);
    if (rest == name.c_str() || *rest != '\0')
      continue;
    fs::path bin = it->path() / "bin";
    if (version > best_version && executable(bin / "initdb") && executable(bin / "postgres")) {
      best_version = version;
      best = bin.string();
    }
  }
  if (best.empty())
    *error = std::string{"no PostgreSQL server found in "} + k_default_pg_root
      + "/*/bin: install it (apt-get install postgresql) or set MEETINGD_TEST_PG_BIN to "
        "the directory holding initdb and postgres";
  return best;
}

// Whether `uid`/`gid` may enter every directory on the way to `dir`
// (supplementary groups left aside).
bool reachable_by(const fs::path& dir, uid_t uid, gid_t gid) {
  fs::path p = fs::absolute(dir);
  for (fs::path cur = p; !cur.empty(); cur = cur.parent_path()) {
    struct stat st {};
    if (::stat(cur.c_str(), &st) != 0)
      return false;
    mode_t need = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
    if ((st.st_mode & need) == 0)
      return false;
    if (cur == cur.root_path())
      break;
  }
  return true;
}

// --- starting programs ----------------------------------------------------------

struct run_as {
  bool drop = false; // root: become uid/gid before exec
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups; // looked up before fork: NSS is not fork-safe
};

// The environment without PG* variables: PGDATA, PGPORT, PGOPTIONS and the
// like from the developer's shell must not reach initdb or postgres.
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "PG", 2) != 0)
      env.emplace_back(*e);
  return env;
}

void close_from(int first) {
  if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0)
    return;
  rlimit lim{};
  int max = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
    ? static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536))
    : 65536;
  for (int fd = first; fd < max; ++fd)
    ::close(fd);
}

// What a child that could not exec writes back to spawn().
enum spawn_stage { stage_output = 1, stage_user, stage_cwd, stage_exec };
struct spawn_failure {
  int stage = 0;
  int err = 0;
};

std::string stage_text(int stage, const std::string& cwd) {
  switch (stage) {
    case stage_output:
      return "redirecting its output failed";
    case stage_user:
      return "switching to the postgres user failed";
    case stage_cwd:
      return "cannot enter " + cwd;
    default:
      return "exec failed";
  }
}

// fork + exec with stdout and stderr appended to `log`; the pid, or -1 and
// `*error`. Everything after fork() is async-signal-safe: the test process
// may have threads. A failed exec (or privilege drop) is reported back over
// a close-on-exec pipe, so the caller sees "no such file", not a mystery
// exit status 127.
pid_t spawn(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
            const run_as& as, std::string* error) {
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    *error = "cannot open " + log + ": " + errno_text(errno);
    return -1;
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    *error = "pipe: " + errno_text(errno);
    ::close(out);
    return -1;
  }
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings = child_environment();
  std::vector<char*> env;
  for (auto& e : env_strings)
    env.push_back(e.data());
  env.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    *error = "fork: " + errno_text(errno);
    ::close(out);
    ::close(report[0]);
    ::close(report[1]);
    return -1;
  }
  if (pid == 0) {
    auto fail = [&](int stage) {
      spawn_failure failure{stage, errno};
      ssize_t ignored = ::write(report[1], &failure, sizeof failure);
      (void)ignored;
      ::_exit(127);
    };
    // Signal dispositions and mask are inherited; a test that ignores
    // SIGPIPE or blocks SIGINT must not change how postgres behaves.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP)
        ::sigaction(sig, &dfl, nullptr);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
      fail(stage_output);
    // Not the test's other descriptors (CTest's output pipe above all: a
    // server holding it open would keep CTest waiting after the test ended).
    if (report[1] != 3 && ::dup3(report[1], 3, O_CLOEXEC) < 0)
      fail(stage_output);
    report[1] = 3;
    close_from(4);
    if (as.drop) {
      if (::setgroups(as.groups.size(), as.groups.data()) != 0 || ::setgid(as.gid) != 0
          || ::setuid(as.uid) != 0)
        fail(stage_user);
    }
    if (::chdir(cwd.c_str()) != 0)
      fail(stage_cwd);
    ::execve(args[0], args.data(), env.data());
    fail(stage_exec);
  }
  ::close(out);
  ::close(report[1]);
  spawn_failure failure;
  ssize_t n;
  do
    n = ::read(report[0], &failure, sizeof failure);
  while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    *error = "cannot run `" + command_line(argv) + "`: " + stage_text(failure.stage, cwd) + ": "
      + errno_text(failure.err);
    return -1;
  }
  return pid;
}

// --- shared memory left by a killed server ----------------------------------------

// A postmaster killed with SIGKILL leaves its System V segment behind (a
// small header, recorded on line 7 of postmaster.pid). A restart removes it;
// a data directory deleted without a restart would leak it until reboot.
// (Dynamic shared memory would leak the same way from /dev/shm: launch()
// puts it in the data directory instead, dynamic_shared_memory_type=mmap.)
void remove_stale_shared_memory(const std::string& data_dir) {
  std::ifstream in{data_dir + "/postmaster.pid"};
  std::string line;
  for (int i = 0; i < 7 && std::getline(in, line); ++i) {}
  if (!in)
    return;
  long key = 0;
  int shmid = -1;
  if (std::sscanf(line.c_str(), "%ld %d", &key, &shmid) != 2 || shmid < 0)
    return;
  shmid_ds ds{};
  if (::shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0
      && static_cast<long>(ds.shm_perm.__key) == key)
    ::shmctl(shmid, IPC_RMID, nullptr);
}

// --- the watchdog -------------------------------------------------------------

// The whole server goes: SIGCONT first (a paused server cannot act on
// SIGQUIT), then SIGQUIT (immediate shutdown: the postmaster takes its
// backends down), then SIGKILL to whatever is left. `pid` is the postmaster
// or initdb; it is no longer our child, so it is only signalled while /proc
// still names it a PostgreSQL program (the pid could have been reused).
void take_down(pid_t pid) {
  if (pid <= 0 || !alive(pid))
    return;
  std::string comm = comm_of(pid);
  if (comm != "postgres" && comm != "postmaster" && comm != "initdb")
    return;
  std::vector<pid_t> kids = children_of(pid);
  for (pid_t k : kids)
    ::kill(k, SIGCONT);
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGQUIT);
  if (!wait_until([&] { return !alive(pid); }, 5s))
    ::kill(pid, SIGKILL);
  for (pid_t k : kids)
    if (alive(k))
      ::kill(k, SIGKILL);
  wait_until([&] { return !alive(pid); }, 5s);
  for (pid_t k : kids)
    wait_until([&] { return !alive(k); }, 5s);
}

// The watchdog's life: read the pids the test process announces (each
// initdb and postmaster it starts) until EOF, which comes when the test
// process closes its end (the destructor, after its own cleanup: nothing
// left to do) or dies (the kernel closes it: a crash, kill -9). Then the
// server is taken down and the temp directory removed.
[[noreturn]] void watchdog_main(int fd, const std::string& root) {
  pid_t server = -1;
  for (;;) {
    std::int32_t msg = 0;
    ssize_t n = ::recv(fd, &msg, sizeof msg, MSG_WAITALL);
    if (n == static_cast<ssize_t>(sizeof msg)) {
      server = msg;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    break;
  }
  take_down(server);
  remove_stale_shared_memory(root + "/data");
  std::error_code ec;
  fs::remove_all(root, ec);
  ::_exit(0);
}

// A process of its own rather than PR_SET_PDEATHSIG on postgres: the death
// signal fires when the forking *thread* exits, not the process, and it
// cannot remove the temp directory. The watchdog is forked, not exec'd, and
// uses only /proc, signals and file removal.
pid_t start_watchdog(const std::string& root, int* write_fd, std::string* error) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = "socketpair: " + errno_text(errno);
    return -1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = "fork (watchdog): " + errno_text(errno);
    ::close(sv[0]);
    ::close(sv[1]);
    return -1;
  }
  if (pid == 0) {
    // Out of the terminal's process group (Ctrl-C, Ctrl-Z reach the test and
    // postgres, not the one that cleans up after them), and deaf to the
    // signals a test runner sends the test: it ends at EOF only.
    ::setpgid(0, 0);
    for (int sig : {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU})
      ::signal(sig, SIG_IGN);
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
    }
    // Only its own end: holding the test's end (or another server's
    // watchdog's) would keep EOF from ever coming.
    ::dup2(sv[0], 3);
    close_from(4);
    watchdog_main(3, root);
  }
  ::close(sv[0]);
  *write_fd = sv[1];
  return pid;
}

void announce(int fd, pid_t pid) {
  if (fd < 0)
    return;
  std::int32_t msg = pid;
  // MSG_NOSIGNAL: a dead watchdog must not take the test down with SIGPIPE.
  ssize_t ignored = ::send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
  (void)ignored;
}

// As pg_ctl waits: the postmaster writes its pid on line 1 of
// postmaster.pid and its state on line 8 ("starting", "ready", ...).
bool pid_file_says_ready(const std::string& data_dir, pid_t pid) {
  std::string path = data_dir + "/postmaster.pid";
  // Unreadable (a root without CAP_DAC_OVERRIDE, the file being the
  // postgres user's): PQping alone decides.
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), R_OK) != 0)
    return true;
  std::ifstream in{path};
  std::vector<std::string> lines;
  for (std::string line; lines.size() < 8 && std::getline(in, line);)
    lines.push_back(line);
  return lines.size() == 8 && lines[0] == std::to_string(pid) && lines[7].rfind("ready", 0) == 0;
}

std::size_t file_size(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::size_t>(size);
}

} // namespace

// Below the kernel's ephemeral range (32768-60999 by default): a port the kernel hands out for
// outgoing connections (this test's own libpq clients included) could be
// taken while the server is down between kill9() and restart() on the same
// port.
int free_loopback_port(std::string* error) {
  static std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> range{20000, 32000};
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = range(rng);
    if (port_bindable(port) && reserve_port_for_this_process(port))
      return port;
  }
  *error = "no free loopback port in 20000-32000 after 200 tries: is something holding them all?";
  return -1;
}


// --- pg_server --------------------------------------------------------------------

std::unique_ptr<pg_server> pg_server::start(std::string* error) {
  std::string scratch;
  if (!error)
    error = &scratch;
  std::unique_ptr<pg_server> s{new pg_server};
  s->owner_ = ::getpid();
  s->bin_dir_ = find_bin_dir(error);
  if (s->bin_dir_.empty())
    return nullptr;

  s->as_postgres_ = ::geteuid() == 0;
  if (s->as_postgres_) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) {
      *error = "running as root, which PostgreSQL refuses, and there is no `postgres` user to run "
               "it as: create one (apt-get install postgresql does) or run the tests as another "
               "user";
      return nullptr;
    }
    s->run_uid_ = pw->pw_uid;
    s->run_gid_ = pw->pw_gid;
    std::string user = pw->pw_name;
    int count = 16;
    s->run_groups_.resize(static_cast<std::size_t>(count));
    while (::getgrouplist(user.c_str(), s->run_gid_, s->run_groups_.data(), &count) < 0)
      s->run_groups_.resize(static_cast<std::size_t>(count));
    s->run_groups_.resize(static_cast<std::size_t>(count));
  }

  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  // The postgres user must reach its data directory; a root-only TMPDIR
  // (say /root/tmp) would fail initdb with a puzzling "permission denied".
  if (s->as_postgres_ && !reachable_by(base, s->run_uid_, s->run_gid_))
    base = "/tmp";
  std::string templ = base + "/meetingd-pg-XXXXXX";
  if (!::mkdtemp(templ.data())) {
    *error = "cannot create a temp directory " + templ + ": " + errno_text(errno)
      + " (set TMPDIR to a writable directory)";
    return nullptr;
  }
  s->root_ = templ;
  // From here on a dying test process leaves nothing behind.
  s->watchdog_pid_ = start_watchdog(s->root_, &s->watchdog_fd_, error);
  if (s->watchdog_pid_ < 0)
    return nullptr;

  std::string socket_dir = s->root_ + "/socket";
  if (::mkdir(socket_dir.c_str(), 0700) != 0) {
    *error = "cannot create " + socket_dir + ": " + errno_text(errno);
    return nullptr;
  }
  if (s->as_postgres_) {
    for (const auto& dir : {s->root_, socket_dir})
      if (::chown(dir.c_str(), s->run_uid_, s->run_gid_) != 0) {
        *error = "cannot hand " + dir + " to the postgres user: " + errno_text(errno);
        return nullptr;
      }
  }

  // --no-sync: initdb's own files need not reach the disk (a test machine
  // crash loses the whole test anyway); the server keeps fsync on.
  std::vector<std::string> initdb{s->bin_dir_ + "/initdb",
                                  "-D",
                                  s->data_dir(),
                                  "-A",
                                  "trust",
                                  "-U",
                                  "meetingd",
                                  "--no-sync",
                                  "-E",
                                  "UTF8",
                                  "--locale=C"};
  std::string initdb_log = s->root_ + "/initdb.log";
  run_as as{s->as_postgres_, s->run_uid_, s->run_gid_, s->run_groups_};
  pid_t initdb_pid = spawn(initdb, s->root_, initdb_log, as, error);
  if (initdb_pid < 0)
    return nullptr;
  announce(s->watchdog_fd_, initdb_pid);
  auto status = wait_exit(initdb_pid, k_initdb_timeout);
  if (!status) {
    ::kill(initdb_pid, SIGKILL);
    ::waitpid(initdb_pid, nullptr, 0);
  }
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    *error = "`" + command_line(initdb) + "` failed ("
      + (status ? describe_status(*status) : "no exit within 120 s, killed")
      + "); the end of its output:\n" + tail_of(initdb_log);
    return nullptr;
  }

  // A port free when picked can be taken before postgres binds it (tests
  // start servers in parallel): then postgres exits at once, and another
  // port is tried.
  std::string attempts;
  for (int attempt = 0; attempt < k_port_attempts; ++attempt) {
    s->port_ = free_loopback_port(error);
    if (s->port_ < 0)
      return nullptr;
    std::size_t log_start = file_size(s->log_path());
    if (!s->launch(error))
      return nullptr;
    if (s->wait_ready(error))
      return s;
    std::string this_run = read_file(s->log_path()).substr(log_start);
    bool port_taken = s->pid_ < 0
      && (this_run.find("could not bind") != std::string::npos
          || this_run.find("Address already in use") != std::string::npos);
    if (!port_taken)
      return nullptr;
    attempts += " " + std::to_string(s->port_);
  }
  *error = "postgres could not bind any of the ports tried (" + attempts.substr(1)
    + "): all taken by the time it started; the last error: " + *error;
  return nullptr;
}

pg_server* pg_server::shared(std::string* error) {
  static std::mutex mutex;
  static std::unique_ptr<pg_server> server;
  static std::string failure;
  static bool tried = false;
  std::lock_guard<std::mutex> lock{mutex};
  if (!tried) {
    tried = true;
    server = start(&failure);
  }
  if (!server && error)
    *error = "the shared test PostgreSQL server could not be started: " + failure;
  return server.get();
}

pg_server::~pg_server() {
  // A forked copy of the test process (a test's child, exiting normally) must
  // not stop the server its parent still uses.
  if (owner_ == ::getpid()) {
    shut_down(SIGQUIT);
    if (!root_.empty()) {
      remove_stale_shared_memory(data_dir());
      std::error_code ec;
      fs::remove_all(root_, ec);
    }
  }
  if (watchdog_fd_ >= 0)
    ::close(watchdog_fd_);
  if (watchdog_pid_ > 0 && owner_ == ::getpid()) {
    if (!wait_exit(watchdog_pid_, 10s)) {
      ::kill(watchdog_pid_, SIGKILL);
      ::waitpid(watchdog_pid_, nullptr, 0);
    }
  }
}

std::string pg_server::uri(const std::string& dbname) const {
  return "postgresql://meetingd@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
}

std::string pg_server::data_dir() const {
  return root_ + "/data";
}

std::string pg_server::log_path() const {
  return root_ + "/postgres.log";
}

std::string pg_server::log_tail() const {
  return "the end of " + log_path() + ":\n" + tail_of(log_path());
}

bool pg_server::create_database(const std::string& name, std::string* error) {
  std::string scratch;
  if (!error)
    error = &scratch;
  std::string conninfo = uri("postgres") + "?connect_timeout=10";
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    *error = "cannot connect to " + conninfo + " to create database " + name + ": "
      + (conn ? PQerrorMessage(conn.get()) : "out of memory")
      + (running() ? "" : " (the server is not running: restart() it)");
    return false;
  }
  char* quoted = PQescapeIdentifier(conn.get(), name.c_str(), name.size());
  if (!quoted) {
    *error = "cannot quote database name '" + name + "': " + PQerrorMessage(conn.get());
    return false;
  }
  std::string sql = std::string{"CREATE DATABASE "} + quoted;
  PQfreemem(quoted);
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    *error = sql + " failed: " + PQerrorMessage(conn.get());
    return false;
  }
  return true;
}

std::string pg_server::fresh_database(std::string* error) {
  std::string name = "test_" + std::to_string(++databases_made_);
  if (!create_database(name, error))
    return "";
  return uri(name);
}

bool pg_server::launch(std::string* error) {
  std::vector<std::string> argv{bin_dir_ + "/postgres",
                                "-D",
                                data_dir(),
                                "-p",
                                std::to_string(port_),
                                "-k",
                                root_ + "/socket",
                                "-c",
                                "listen_addresses=127.0.0.1",
                                "-c",
                                "shared_buffers=32MB",
                                "-c",
                                "max_connections=50",
                                "-c",
                                "logging_collector=off",
                                "-c",
                                "dynamic_shared_memory_type=mmap"};
  // sun_path holds 107 bytes; a long TMPDIR would make postgres refuse to
  // start, and the tests use TCP only.
  if ((root_ + "/socket/.s.PGSQL.65535.lock").size() > 100)
    argv[6] = "";
  // Crash recovery first fsyncs every file of the cluster, one by one
  // (seconds on a busy disk); syncfs() does it in one call, as safely.
  // Commits are as durable either way. PostgreSQL 14 and later.
  if (std::atoi(read_file(data_dir() + "/PG_VERSION").c_str()) >= 14) {
    argv.emplace_back("-c");
    argv.emplace_back("recovery_init_sync_method=syncfs");
  }
  last_command_ = command_line(argv);
  pid_
    = spawn(argv, root_, log_path(), run_as{as_postgres_, run_uid_, run_gid_, run_groups_}, error);
  if (pid_ < 0)
    return false;
  announce(watchdog_fd_, pid_);
  return true;
}

bool pg_server::wait_ready(std::string* error) {
  std::string conninfo = uri("postgres") + "?connect_timeout=2";
  auto deadline = steady::now() + k_ready_timeout;
  while (steady::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "postgres exited (" + describe_status(status)
        + ") before accepting connections; command: " + last_command_ + "\n" + log_tail();
      return false;
    }
    // Asked through postmaster.pid rather than by connecting: every refused
    // connection during crash recovery logs two lines, and the log's tail
    // (in error texts) would show nothing else.
    if (pid_file_says_ready(data_dir(), pid_) && PQping(conninfo.c_str()) == PQPING_OK)
      return true;
    std::this_thread::sleep_for(10ms);
  }
  *error = "postgres did not accept connections on 127.0.0.1:" + std::to_string(port_)
    + " within 30 s (killed); command: " + last_command_ + "\n" + log_tail();
  kill9();
  return false;
}

std::vector<pid_t> pg_server::backend_pids() const {
  return pid_ > 0 ? children_of(pid_) : std::vector<pid_t>{};
}

std::vector<pid_t> pg_server::stop_postmaster_then_list_children() {
  ::kill(pid_, SIGSTOP);
  wait_until([&] { return stopped(pid_); }, 2s);
  return children_of(pid_);
}

void pg_server::kill9() {
  if (pid_ <= 0)
    return;
  // Stopped first so that it forks no backend between the listing of its
  // children and the kill: all of them die, none is orphaned.
  auto kids = stop_postmaster_then_list_children();
  for (pid_t k : kids)
    ::kill(k, SIGKILL);
  ::kill(pid_, SIGKILL);
  wait_exit(pid_, 30s);
  pid_ = -1;
  for (pid_t k : kids)
    wait_until([&] { return !alive(k); }, 10s);
  // The listening socket closes with the last process holding it; a restart
  // on this port must find it free.
  wait_until([&] { return port_bindable(port_); }, 10s);
}

void pg_server::stop_fast() {
  shut_down(SIGINT);
}

// SIGINT: fast shutdown (checkpoint); SIGQUIT: immediate (none).
void pg_server::shut_down(int sig) {
  if (pid_ <= 0)
    return;
  resume(); // a stopped postmaster would not act on the signal
  ::kill(pid_, sig);
  if (wait_exit(pid_, k_stop_timeout)) {
    pid_ = -1;
    return;
  }
  kill9();
}

bool pg_server::restart(std::string* error) {
  std::string scratch;
  if (!error)
    error = &scratch;
  if (pid_ > 0) {
    *error = "restart(): the server is still running (pid " + std::to_string(pid_)
      + "): stop_fast() or kill9() it first";
    return false;
  }
  if (!wait_until([&] { return port_bindable(port_); }, 10s)) {
    *error = "restart(): port " + std::to_string(port_)
      + " is taken by another process; the server must come back on the same port";
    return false;
  }
  // A killed server's postmaster.pid stays, as after a real crash, and
  // postgres checks that its pid is dead. On a busy machine the pid may
  // have been reused: postgres would then refuse to start ("lock file
  // already exists"), though kill9() saw every server process gone.
  std::string lock = data_dir() + "/postmaster.pid";
  std::ifstream in{lock};
  long stale = 0;
  if (in >> stale && stale > 0 && alive(static_cast<pid_t>(stale))) {
    remove_stale_shared_memory(data_dir());
    ::unlink(lock.c_str());
  }
  return launch(error) && wait_ready(error);
}

void pg_server::pause() {
  if (pid_ <= 0)
    return;
  auto kids = stop_postmaster_then_list_children();
  for (pid_t k : kids)
    ::kill(k, SIGSTOP);
  for (pid_t k : kids)
    wait_until([&] { return stopped(k); }, 2s);
}

void pg_server::resume() {
  if (pid_ <= 0)
    return;
  for (pid_t k : children_of(pid_))
    ::kill(k, SIGCONT);
  ::kill(pid_, SIGCONT);
}

} // namespace meetingd::test
