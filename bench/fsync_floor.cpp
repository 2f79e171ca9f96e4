// fsync_floor: this machine's fdatasync latency, the floor under the node's
// commit latency. The node commits SQLite in WAL mode with synchronous=FULL:
// each group commit appends its pages to the -wal file as frames (a 24-byte
// frame header, then the 4 KiB page) and calls fdatasync once. This does the
// same, without SQLite, and times it. It writes each frame with two pwrites,
// as SQLite alone does; the node hands a commit's frames to the kernel in one
// (persistence/sqlite_wal_writes.hpp), which changes the writes' CPU, not
// what the fdatasync has to flush.
//
//   fsync_floor [--dir .] [--rate 0] [--pages 4] [--duration 10s]
//               [--checkpoint-every 0] [--fresh] [--json FILE]
//
// --rate: commits per second, open loop (each commit is due at start + k/rate,
// an absolute deadline; a late one goes at once), 0: back to back. The log
// wraps at 4 MB: the next commit writes from the start again (a new 32-byte
// header, synced, then the frames), as SQLite reuses its log after a
// checkpoint. The log is written in full (4 MB) before the clock starts, as
// a node's is once reused: commits overwrite blocks, and fdatasync flushes
// data only. --fresh: from an empty file, as a new node's first log: until
// the first wrap each fdatasync also commits the file's new size (a journal
// commit on ext4). --checkpoint-every N: every N commits, a second thread does
// what a WAL checkpoint does: fdatasync of the log, then the last N x pages
// pages written at random page offsets (in ascending order, as SQLite copies
// them) into a 16 MiB "database" file (written in full at start) and an fsync
// of it; so the commit's fdatasync is measured while a checkpoint's fsync is
// under way. Checkpoints the thread has not started yet are merged into one.
//
// Prints one line: the rate achieved, p50/p90/p99/p99.9/max of the fdatasync
// alone and of the commit's writes + fdatasync, in ms; --json writes the same
// (and the checkpoints' fsyncs). Both files go in --dir and are removed at
// the end. See docs/benchmarks.md.
#include "config/duration_text.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t page_bytes = 4096;
constexpr std::size_t frame_header_bytes = 24;
constexpr std::size_t wal_header_bytes = 32;
constexpr std::size_t frame_bytes = frame_header_bytes + page_bytes;
constexpr off_t wal_wrap_bytes = 4 * 1024 * 1024;
constexpr std::size_t db_pages = 4096; // 16 MiB

std::atomic<bool> interrupted{false};

extern "C" void on_signal(int) {
  interrupted = true;
}

double ms_since(steady::time_point t0, steady::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

/// Writes all of buf at offset; false (errno set) on failure.
bool write_at(int fd, const char* buf, std::size_t n, off_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, buf, n, offset);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    buf += w;
    n -= static_cast<std::size_t>(w);
    offset += w;
  }
  return true;
}

/// Nearest-rank percentiles of samples in ms (sorted here), as loadgen names them.
json percentiles(std::vector<double>& ms) {
  if (ms.empty())
    return json{{"p50", nullptr},  {"p90", nullptr}, {"p99", nullptr},
                {"p999", nullptr}, {"max", nullptr}, {"mean", nullptr}};
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size())));
    return ms[std::min(rank > 0 ? rank - 1 : 0, ms.size() - 1)];
  };
  double sum = 0;
  for (double v : ms)
    sum += v;
  auto round3
    = [](double v) { return static_cast<double>(static_cast<long long>(v * 1000 + 0.5)) / 1000; };
  return json{{"p50", round3(at(0.5))},   {"p90", round3(at(0.9))},
              {"p99", round3(at(0.99))},  {"p999", round3(at(0.999))},
              {"max", round3(ms.back())}, {"mean", round3(sum / static_cast<double>(ms.size()))}};
}

std::string line_of(const json& p) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  if (p["p50"].is_null())
    return "no samples";
  out << "p50 " << p["p50"].get<double>() << " p90 " << p["p90"].get<double>() << " p99 "
      << p["p99"].get<double>() << " p99.9 " << p["p999"].get<double>() << " max "
      << p["max"].get<double>() << " ms";
  return out.str();
}

/// The checkpoint thread: what SQLite's checkpoint does to the disk.
struct checkpointer {
  int wal_fd;
  int db_fd;
  std::mutex mutex;
  std::condition_variable wake;
  std::size_t pages_owed = 0; // pages of checkpoints not started yet
  bool stopping = false;
  std::string error;
  // Results (read after join).
  std::vector<double> fsync_ms;
  std::vector<double> total_ms;
  std::size_t pages_written = 0;

  void request(std::size_t pages) {
    {
      std::lock_guard lock{mutex};
      pages_owed += pages;
    }
    wake.notify_one();
  }

  void stop() {
    {
      std::lock_guard lock{mutex};
      stopping = true;
    }
    wake.notify_one();
  }

  void run() {
    std::mt19937_64 rng{0x5eed};
    std::uniform_int_distribution<std::size_t> page_of{0, db_pages - 1};
    std::vector<char> page(page_bytes, 'c');
    for (;;) {
      std::size_t pages = 0;
      {
        std::unique_lock lock{mutex};
        wake.wait(lock, [&] { return stopping || pages_owed > 0; });
        if (stopping)
          return;
        pages = pages_owed;
        pages_owed = 0;
      }
      auto t0 = steady::now();
      // SQLite syncs the log before it copies frames out of it.
      if (::fdatasync(wal_fd) != 0) {
        error = std::string{"fdatasync of the log: "} + std::strerror(errno);
        return;
      }
      // Random pages, in the order of the file (SQLite copies frames sorted
      // by page number).
      std::vector<std::size_t> targets(pages);
      for (auto& t : targets)
        t = page_of(rng);
      std::sort(targets.begin(), targets.end());
      for (auto t : targets) {
        if (!write_at(db_fd, page.data(), page.size(), static_cast<off_t>(t * page_bytes))) {
          error = std::string{"writing the database file: "} + std::strerror(errno);
          return;
        }
      }
      auto t1 = steady::now();
      if (::fsync(db_fd) != 0) {
        error = std::string{"fsync of the database file: "} + std::strerror(errno);
        return;
      }
      auto t2 = steady::now();
      fsync_ms.push_back(ms_since(t1, t2));
      total_ms.push_back(ms_since(t0, t2));
      pages_written += pages;
    }
  }
};

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"fsync_floor: fdatasync latency of a SQLite-like write-ahead log on this disk"};
  std::string dir = ".";
  double rate = 0;
  int pages = 4;
  std::string duration_text = "10s";
  int checkpoint_every = 0;
  std::string json_file;
  bool fresh = false;
  app.add_option("--dir", dir, "where the files go (removed at the end)")
    ->check(CLI::ExistingDirectory)
    ->capture_default_str();
  app.add_option("--rate", rate, "commits per second, open loop; 0: back to back")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_option("--pages", pages, "4 KiB pages appended per commit")
    ->check(CLI::Range(1, 1000))
    ->capture_default_str();
  app.add_option("--duration", duration_text, "how long (10s, 500ms, 1min)")->capture_default_str();
  app
    .add_option("--checkpoint-every", checkpoint_every,
                "every N commits, checkpoint the last N x pages pages on a second thread; 0: off")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_flag("--fresh", fresh, "start from an empty log (appends) instead of a 4 MB one");
  app.add_option("--json", json_file, "write the results here");
  CLI11_PARSE(app, argc, argv);
  double duration_s = 0;
  auto parsed = meetingd::parse_duration_text(duration_text, meetingd::duration_style::console);
  if (parsed && parsed->count() > 0)
    duration_s = static_cast<double>(parsed->count()) / 1000;
  if (!parsed || parsed->count() <= 0) {
    std::cerr << "fsync_floor: --duration: '" << duration_text
              << "' is not a positive duration (10s, 500ms, 1min)\n";
    return 2;
  }
  if (static_cast<off_t>(wal_header_bytes + static_cast<std::size_t>(pages) * frame_bytes)
      > wal_wrap_bytes) {
    std::cerr << "fsync_floor: --pages " << pages << " does not fit the 4 MB log\n";
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto base = dir + "/fsync_floor-" + std::to_string(::getpid());
  auto wal_path = base + ".db-wal";
  auto db_path = base + ".db";
  int wal_fd = ::open(wal_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (wal_fd < 0) {
    std::cerr << "fsync_floor: cannot create " << wal_path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  int db_fd = -1;
  std::string error;
  auto fail = [&](const std::string& what) {
    if (error.empty())
      error = what + ": " + std::strerror(errno);
  };

  checkpointer ckpt{wal_fd, -1};
  if (checkpoint_every > 0) {
    // The database file, written (not fallocated: unwritten extents would
    // make the first write of each block a metadata change) and synced.
    db_fd = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (db_fd < 0) {
      fail("cannot create " + db_path);
    } else {
      std::vector<char> chunk(256 * page_bytes, 'd');
      for (std::size_t at = 0; error.empty() && at < db_pages; at += 256)
        if (!write_at(db_fd, chunk.data(), chunk.size(), static_cast<off_t>(at * page_bytes)))
          fail("writing " + db_path);
      if (error.empty() && ::fsync(db_fd) != 0)
        fail("fsync of " + db_path);
    }
    ckpt.db_fd = db_fd;
  }
  if (error.empty() && !fresh) {
    // A log that has been used before: its 4 MB written and synced.
    std::vector<char> chunk(256 * page_bytes, 'l');
    for (off_t at = 0; error.empty() && at < wal_wrap_bytes; at += static_cast<off_t>(chunk.size()))
      if (!write_at(wal_fd, chunk.data(), chunk.size(), at))
        fail("writing " + wal_path);
    if (error.empty() && ::fdatasync(wal_fd) != 0)
      fail("fdatasync of " + wal_path);
  }

  std::vector<double> sync_ms;
  std::vector<double> commit_ms;
  std::size_t commits = 0;
  std::size_t late = 0;
  std::size_t wraps = 0;
  std::vector<char> header(frame_header_bytes, 'h');
  std::vector<char> page(page_bytes, 'p');
  std::vector<char> wal_header(wal_header_bytes, 'w');
  auto frames = static_cast<std::size_t>(pages);
  off_t offset = 0; // 0: the log starts again with its header
  steady::time_point t_start = steady::now();
  steady::time_point t_end = t_start;
  if (error.empty()) {
    std::thread ckpt_thread;
    if (checkpoint_every > 0)
      ckpt_thread = std::thread{[&] { ckpt.run(); }};
    auto period
      = rate > 0 ? std::chrono::duration<double>(1.0 / rate) : std::chrono::duration<double>(0);
    auto until = t_start
      + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(duration_s));
    for (;;) {
      auto due = t_start
        + std::chrono::duration_cast<steady::duration>(period * static_cast<double>(commits));
      if (interrupted || due >= until || steady::now() >= until)
        break;
      if (rate > 0) {
        auto now = steady::now();
        if (now < due)
          std::this_thread::sleep_until(due);
        else if (now - due > std::chrono::milliseconds(1))
          ++late;
      }
      auto t0 = steady::now();
      if (offset == 0 || offset + static_cast<off_t>(frames * frame_bytes) > wal_wrap_bytes) {
        // A new log: its header first, synced on its own (synchronous=FULL).
        if (!write_at(wal_fd, wal_header.data(), wal_header.size(), 0)
            || ::fdatasync(wal_fd) != 0) {
          fail("writing the log's header");
          break;
        }
        offset = static_cast<off_t>(wal_header_bytes);
        if (commits > 0)
          ++wraps;
      }
      bool ok = true;
      for (std::size_t f = 0; ok && f < frames; ++f) {
        ok = write_at(wal_fd, header.data(), header.size(), offset)
          && write_at(wal_fd, page.data(), page.size(),
                      offset + static_cast<off_t>(frame_header_bytes));
        offset += static_cast<off_t>(frame_bytes);
      }
      if (!ok) {
        fail("writing the log");
        break;
      }
      auto t1 = steady::now();
      if (::fdatasync(wal_fd) != 0) {
        fail("fdatasync of the log");
        break;
      }
      auto t2 = steady::now();
      sync_ms.push_back(ms_since(t1, t2));
      commit_ms.push_back(ms_since(t0, t2));
      ++commits;
      if (checkpoint_every > 0 && commits % static_cast<std::size_t>(checkpoint_every) == 0)
        ckpt.request(static_cast<std::size_t>(checkpoint_every) * frames);
    }
    t_end = steady::now();
    if (ckpt_thread.joinable()) {
      ckpt.stop();
      ckpt_thread.join();
      if (error.empty() && !ckpt.error.empty())
        error = ckpt.error;
    }
  }
  ::close(wal_fd);
  ::unlink(wal_path.c_str());
  if (db_fd >= 0) {
    ::close(db_fd);
    ::unlink(db_path.c_str());
  }
  if (!error.empty()) {
    std::cerr << "fsync_floor: " << error << "\n";
    return 1;
  }

  double elapsed_s = std::chrono::duration<double>(t_end - t_start).count();
  double achieved = elapsed_s > 0 ? static_cast<double>(commits) / elapsed_s : 0;
  json out;
  out["tool"] = "fsync_floor";
  out["config"] = {{"dir", dir},
                   {"rate", rate},
                   {"pages", pages},
                   {"page_bytes", page_bytes},
                   {"frame_header_bytes", frame_header_bytes},
                   {"bytes_per_commit", frames * frame_bytes},
                   {"duration_s", duration_s},
                   {"checkpoint_every", checkpoint_every},
                   {"fresh_log", fresh},
                   {"wal_wrap_bytes", wal_wrap_bytes},
                   {"db_bytes", checkpoint_every > 0 ? db_pages * page_bytes : 0}};
  out["duration_s"] = elapsed_s;
  out["commits"] = commits;
  out["rate"] = achieved;
  out["late_commits"] = late; // issued more than 1 ms after they were due
  out["log_wraps"] = wraps;
  out["fdatasync_ms"] = percentiles(sync_ms);
  out["write_fdatasync_ms"] = percentiles(commit_ms);
  if (checkpoint_every > 0)
    out["checkpoints"] = {{"count", ckpt.fsync_ms.size()},
                          {"pages", ckpt.pages_written},
                          {"fsync_ms", percentiles(ckpt.fsync_ms)},
                          {"total_ms", percentiles(ckpt.total_ms)}};

  std::ostringstream line;
  line.setf(std::ios::fixed);
  line.precision(1);
  line << "fsync_floor: " << achieved << " commits/s";
  if (rate > 0)
    line << " (asked " << rate << ")";
  else
    line << " (back to back)";
  line << ", " << pages << " pages per commit" << (fresh ? " from an empty log" : "");
  if (checkpoint_every > 0)
    line << ", a checkpoint every " << checkpoint_every << " commits (" << ckpt.fsync_ms.size()
         << " done)";
  line << ": fdatasync " << line_of(out["fdatasync_ms"]) << "; write+fdatasync "
       << line_of(out["write_fdatasync_ms"]);
  std::cout << line.str() << std::endl;
  if (!json_file.empty()) {
    std::ofstream f{json_file};
    f << out.dump(2) << "\n";
    if (!f) {
      std::cerr << "fsync_floor: cannot write " << json_file << "\n";
      return 1;
    }
  }
  return 0;
}
