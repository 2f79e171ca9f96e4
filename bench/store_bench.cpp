// store_bench: what group commit buys, and how fast recovery is.
//
//   store_bench [--senders 32] [--seconds 5] [--sync full|normal] [--dir DIR]
//   store_bench --recovery 10000 --recovery 100000 [--keep]
//
// Load mode: spawns the store actor on a fresh SQLite file and M sender actors
// that each commit changesets (a meeting row, a participant, a request record:
// what a meeting.create-like command writes) back to back, each waiting for
// its reply, for a fixed time. Then the same with max_batch = 1 (one
// transaction per changeset: no grouping) as the baseline. Prints JSON:
// changesets/s, commits/s, changesets per commit (mean, max), commit-reply
// latency p50/p99, and the ratio grouped / baseline.
//
// Recovery mode: writes N meetings with 2 participants each, reopens the file
// and times open() and load(). Prints JSON.
#include "config/log.hpp"
#include "persistence/store_actor.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <time.h>

using namespace meetingd;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

std::string make_temp_dir(const std::string& base) {
  std::string tmpl = base + "/store-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "store_bench: cannot create a directory in " << base << "\n";
    std::exit(1);
  }
  return tmpl;
}

/// CPU time of this process in ms (the machine may be shared: wall time
/// alone would also measure other processes).
double cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

unix_ms wall_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

meeting_record make_meeting(const std::string& id, unix_ms now) {
  meeting_record m;
  m.id = id;
  m.title = "weekly planning " + id;
  m.creator = "user-" + id;
  m.channel = {"ch-" + id, "0123456789abcdef0123456789abcdef", "AK-" + id, now / 1000};
  m.created_at = now;
  m.expires_at = now + 48 * 3600 * 1000LL;
  m.idle_deadline = now + 600 * 1000;
  m.expiry_warn_at = m.expires_at - 300 * 1000;
  m.max_participants = 16;
  m.next_order = 3;
  return m;
}

participant make_participant(const std::string& user, role r, unix_ms now) {
  participant p;
  p.user = user;
  p.rtc_user = "rtc-" + user;
  p.r = r;
  p.order = r == role::host ? 1 : 2;
  p.joined_at = now;
  p.session = "sess-0123456789abcdef-" + user;
  p.token_expires_at = now + 24 * 3600 * 1000LL;
  p.token_warn_at = p.token_expires_at - 300 * 1000;
  return p;
}

/// A meeting.create-like changeset: meeting row, host participant, reply.
changeset make_changeset(int sender, std::uint64_t n) {
  auto now = wall_now();
  auto id = "b-" + std::to_string(sender) + "-" + std::to_string(n);
  changeset cs;
  cs.add(change::put_meeting{make_meeting(id, now)});
  cs.add(change::put_participant{id, make_participant("host-" + id, role::host, now)});
  cs.add(change::put_request{
    {"GID_MEETING_DOWN@@@dev-" + std::to_string(sender), "r-" + std::to_string(n),
     R"({"id":"r-)" + std::to_string(n) + R"(","type":"reply","code":0,"data":{"meeting":")"
       + id + R"(","token":"0123456789abcdef0123456789abcdef0123456789abcdef"}})",
     now}});
  return cs;
}

struct sender_result {
  std::vector<double> latencies_ms;
};

struct sender_state {
  store_actor store;
  int id = 0;
  std::uint64_t n = 0;
  steady::time_point until;
  std::shared_ptr<sender_result> result;
  caf::actor report_to;
  static inline const char* name = "store_bench.sender";
};

using sender_ptr = caf::stateful_actor<sender_state>*;

/// Sends the next commit, or reports `done` when the time is up.
void send_next(sender_ptr self) {
  auto& st = self->state;
  if (steady::now() >= st.until) {
    self->send(st.report_to, done_atom::value, st.id);
    self->quit();
    return;
  }
  auto start = steady::now();
  self->request(st.store, caf::infinite, commit_atom::value, make_changeset(st.id, st.n++))
    .then(
      [=](std::uint64_t) {
        self->state.result->latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(steady::now() - start).count());
        send_next(self);
      },
      [=](caf::error& err) {
        std::cerr << "store_bench: commit failed: " << to_string(err) << "\n";
        self->send(self->state.report_to, done_atom::value, self->state.id);
        self->quit();
      });
}

/// Commits back to back, each after the previous reply, until `until`.
caf::behavior sender(sender_ptr self, store_actor st, int id, steady::time_point until,
                     std::shared_ptr<sender_result> result, caf::actor report_to) {
  self->state.store = std::move(st);
  self->state.id = id;
  self->state.until = until;
  self->state.result = std::move(result);
  self->state.report_to = std::move(report_to);
  send_next(self);
  return {[](caf::unit_t) {}};
}

double percentile(std::vector<double>& xs, double p) {
  if (xs.empty())
    return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  std::nth_element(xs.begin(), xs.begin() + static_cast<long>(k), xs.end());
  return xs[k];
}

json run_load(caf::actor_system& sys, const std::string& base, int senders,
              double seconds, bool full, std::size_t max_batch) {
  auto dir = make_temp_dir(base);
  std::string error;
  auto db = open_sqlite_store(dir + "/bench.db", full, &error);
  if (!db) {
    std::cerr << "store_bench: " << error << "\n";
    std::exit(1);
  }
  store_settings cfg;
  cfg.max_batch = max_batch;
  auto st = sys.spawn<caf::detached>(store_actor_impl, std::move(db), cfg);
  caf::scoped_actor self{sys};
  std::vector<std::shared_ptr<sender_result>> results;
  auto start = steady::now();
  auto until = start + std::chrono::duration_cast<steady::duration>(
                         std::chrono::duration<double>(seconds));
  for (int i = 0; i < senders; ++i) {
    results.push_back(std::make_shared<sender_result>());
    sys.spawn(sender, st, i, until, results.back(), caf::actor_cast<caf::actor>(self));
  }
  for (int i = 0; i < senders; ++i)
    self->receive([](done_atom, int) {});
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  store_stats stats;
  self->request(st, caf::infinite, stats_atom::value)
    .receive([&](const store_stats& s) { stats = s; },
             [&](caf::error& err) { std::cerr << to_string(err) << "\n"; });
  self->send_exit(st, caf::exit_reason::user_shutdown);
  self->wait_for(st);
  std::vector<double> latencies;
  for (auto& r : results)
    latencies.insert(latencies.end(), r->latencies_ms.begin(), r->latencies_ms.end());
  double total_latency = 0;
  for (auto x : latencies)
    total_latency += x;
  auto replies = static_cast<double>(latencies.size());
  json out;
  out["max_batch"] = max_batch;
  out["seconds"] = elapsed;
  out["changesets"] = stats.changesets;
  out["commits"] = stats.commits;
  out["changesets_per_s"] = replies / elapsed;
  out["commits_per_s"] = static_cast<double>(stats.commits) / elapsed;
  out["changesets_per_commit_mean"]
    = stats.commits ? static_cast<double>(stats.changesets) / static_cast<double>(stats.commits) : 0;
  out["changesets_per_commit_max"] = stats.max_batch;
  out["changes_per_commit_mean"]
    = stats.commits ? static_cast<double>(stats.changes) / static_cast<double>(stats.commits) : 0;
  out["commit_ms_mean"] = stats.commits ? stats.total_commit_ms / static_cast<double>(stats.commits) : 0;
  out["commit_ms_max"] = stats.max_commit_ms;
  out["commit_cpu_ms_mean"]
    = stats.commits ? stats.total_commit_cpu_ms / static_cast<double>(stats.commits) : 0;
  out["reply_latency_ms_mean"] = replies > 0 ? total_latency / replies : 0;
  out["reply_latency_ms_p50"] = percentile(latencies, 0.50);
  out["reply_latency_ms_p99"] = percentile(latencies, 0.99);
  out["batch_histogram"] = stats.batch_histogram;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

json run_recovery(const std::string& base, int meetings, bool keep) {
  auto dir = make_temp_dir(base);
  auto path = dir + "/recovery.db";
  std::string error;
  {
    auto db = open_sqlite_store(path, false, &error);
    if (!db) {
      std::cerr << "store_bench: " << error << "\n";
      std::exit(1);
    }
    auto now = wall_now();
    std::vector<changeset> batch;
    for (int i = 0; i < meetings; ++i) {
      auto id = "m-" + std::to_string(i);
      changeset cs;
      // Two joined participants: no idle deadline, as the node writes it (a
      // stale one would wake every meeting of a database older than 10 min).
      auto m = make_meeting(id, now);
      m.idle_deadline = 0;
      cs.add(change::put_meeting{std::move(m)});
      cs.add(change::put_participant{id, make_participant("alice-" + id, role::host, now)});
      cs.add(change::put_participant{id, make_participant("bob-" + id, role::member, now)});
      batch.push_back(std::move(cs));
      if (batch.size() == 1000 || i + 1 == meetings) {
        std::vector<const changeset*> ptrs;
        for (auto& c : batch)
          ptrs.push_back(&c);
        if (auto err = db->apply(ptrs)) {
          std::cerr << "store_bench: " << err->what << "\n";
          std::exit(1);
        }
        batch.clear();
      }
    }
    db->checkpoint();
  }
  auto t0 = steady::now();
  auto db = open_sqlite_store(path, true, &error);
  auto t1 = steady::now();
  auto c1 = cpu_ms();
  auto s = db->load(0, 0);
  auto c2 = cpu_ms();
  auto t2 = steady::now();
  if (s.error) {
    std::cerr << "store_bench: " << s.error->what << "\n";
    std::exit(1);
  }
  std::size_t participants = 0;
  for (auto& m : s.live_meetings)
    participants += m.participants.size();
  json out;
  out["meetings"] = s.live_meetings.size();
  out["participants"] = participants;
  out["db_bytes"] = std::filesystem::file_size(path);
  out["open_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
  out["load_ms"] = std::chrono::duration<double, std::milli>(t2 - t1).count();
  out["load_cpu_ms"] = c2 - c1;
  db.reset();
  if (keep) {
    out["db"] = path;
    return out;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"store_bench: group commit throughput and recovery time of the SQLite store"};
  int senders = 32;
  double seconds = 5;
  std::string sync = "full";
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  std::vector<int> recovery;
  bool keep = false;
  app.add_option("--senders", senders, "concurrent committing actors")->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "duration of each load run")->check(CLI::PositiveNumber);
  app.add_option("--sync", sync, "SQLite synchronous level")->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--dir", dir, "where the temporary database goes")->check(CLI::ExistingDirectory);
  app.add_option("--recovery", recovery, "time load() of N meetings with 2 participants (repeatable)");
  app.add_flag("--keep", keep, "keep the recovery databases (their paths are printed)");
  CLI11_PARSE(app, argc, argv);
  log::configure("warn"); // logs to stderr; stdout is the JSON

  json out;
  if (!recovery.empty()) {
    for (int n : recovery)
      out["recovery"].push_back(run_recovery(dir, n, keep));
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  bool full = sync == "full";
  out["senders"] = senders;
  out["synchronous"] = sync;
  out["grouped"] = run_load(sys, dir, senders, seconds, full, 1024);
  out["baseline_max_batch_1"] = run_load(sys, dir, senders, seconds, full, 1);
  double grouped = out["grouped"]["changesets_per_s"];
  double baseline = out["baseline_max_batch_1"]["changesets_per_s"];
  out["throughput_ratio"] = baseline > 0 ? grouped / baseline : 0;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
