// The store actor with a real actor system: it is detached (it blocks on the
// disk), and detached actors do not run under CAF's test coordinator. The
// store behind it is the in-memory one, wrapped to record what was committed,
// to be slow (so that groups form) and to fail on demand. Tests wait on
// messages with generous timeouts; what they assert does not depend on timing
// (every reply is checked against what the store had committed when the reply
// arrived).
#include "persistence/memory_store.hpp"
#include "persistence/store_actor.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

using namespace meetingd;

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

/// A memory store that records commits and can be slow or failing.
class test_store final : public store {
public:
  struct control {
    std::mutex mtx;
    std::set<std::string> committed; // "client/id" of committed request records
    int fail_first = 0;              // the first N applies fail (retryable)
    std::set<int> fail_at;           // these applies (1-based) fail too
    std::string poison;              // a request id the schema "refuses"
    std::chrono::milliseconds delay{0}; // time an apply takes (an fsync)
    int applies = 0;
    std::vector<std::size_t> batch_sizes; // of successful applies
    bool outbox_fails = false;            // pending_webhooks throws

    bool is_committed(const std::string& key) {
      std::lock_guard<std::mutex> guard{mtx};
      return committed.count(key) != 0;
    }
  };

  explicit test_store(std::shared_ptr<control> ctl)
    : inner_(make_memory_store()), ctl_(std::move(ctl)) {
  }

  std::optional<store_error>
  apply(const std::vector<const changeset*>& batch) override {
    std::chrono::milliseconds delay;
    {
      std::lock_guard<std::mutex> guard{ctl_->mtx};
      delay = ctl_->delay;
      ++ctl_->applies;
      if (ctl_->applies <= ctl_->fail_first || ctl_->fail_at.count(ctl_->applies))
        return store_error{"disk full (test)", true};
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    for (auto* cs : batch)
      for (auto& c : cs->changes)
        if (auto* r = std::get_if<change::put_request>(&c);
            r && r->row.id == ctl_->poison)
          return store_error{"CHECK constraint failed (test)", false};
    if (auto err = inner_->apply(batch))
      return err;
    for (auto* cs : batch)
      for (auto& c : cs->changes)
        if (auto* r = std::get_if<change::put_request>(&c))
          ctl_->committed.insert(r->row.client + "/" + r->row.id);
    ctl_->batch_sizes.push_back(batch.size());
    return std::nullopt;
  }
  snapshot load(unix_ms a, unix_ms b) override {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    return inner_->load(a, b);
  }
  std::string describe() const override {
    return "faulty";
  }
  reply_lookup stored_reply(const std::string& client, const std::string& id) override {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    return inner_->stored_reply(client, id);
  }
  std::size_t prune(unix_ms a, unix_ms b) override {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    return inner_->prune(a, b);
  }
  std::vector<webhook_record> pending_webhooks(const std::vector<int>& shards, int count,
                                               std::size_t limit) override {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    if (ctl_->outbox_fails)
      throw std::runtime_error("the outbox cannot be read (test)");
    return inner_->pending_webhooks(shards, count, limit);
  }
  std::optional<store_error> set_clean_shutdown(bool clean) override {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    return inner_->set_clean_shutdown(clean);
  }
  std::optional<store_error> checkpoint() override {
    return inner_->checkpoint();
  }

private:
  std::unique_ptr<store> inner_;
  std::shared_ptr<control> ctl_;
};

changeset make_changeset(const std::string& client, int i, unix_ms at = 0) {
  changeset cs;
  meeting_record m;
  m.id = "m-" + client + "-" + std::to_string(i);
  cs.add(change::put_meeting{m});
  participant p;
  p.user = "u-" + client;
  cs.add(change::put_participant{m.id, p});
  cs.add(change::put_request{{client, "r-" + std::to_string(i), "{}", at}});
  return cs;
}

/// What one sender saw, written only by the sender actor and read by the
/// test after the sender said "done".
struct sender_log {
  std::vector<int> order;                // request index, in reply order
  std::vector<std::uint64_t> commits;    // commit number of each reply
  std::vector<int> errors;               // indexes answered with an error
  int replies_not_durable = 0;           // replies before their commit: must be 0
  std::chrono::steady_clock::time_point first_reply{};
};

/// Sends all `count` commits at once, then reports `done` to `report_to`.
caf::behavior sender(caf::event_based_actor* self, store_actor st,
                     std::string client, int count,
                     std::shared_ptr<sender_log> log,
                     std::shared_ptr<test_store::control> ctl,
                     caf::actor report_to) {
  auto remaining = std::make_shared<int>(count);
  auto finish_one = [=] {
    if (--*remaining == 0) {
      self->send(report_to, done_atom::value, client);
      self->quit();
    }
  };
  for (int i = 0; i < count; ++i) {
    auto key = client + "/r-" + std::to_string(i);
    self->request(st, caf::infinite, commit_atom::value, make_changeset(client, i))
      .then(
        [=](std::uint64_t commit) {
          if (log->order.empty())
            log->first_reply = std::chrono::steady_clock::now();
          if (!ctl->is_committed(key))
            ++log->replies_not_durable;
          log->order.push_back(i);
          log->commits.push_back(commit);
          finish_one();
        },
        [=](caf::error&) {
          log->errors.push_back(i);
          finish_one();
        });
  }
  return {[](caf::unit_t) {}};
}

class store_actor_test : public ::testing::Test {
protected:
  store_actor spawn_store(store_settings cfg) {
    auto st = sys_.spawn<caf::detached>(store_actor_impl,
                                        std::unique_ptr<store>{new test_store(ctl_)},
                                        cfg);
    stores_.push_back(st);
    return st;
  }

  /// Starts one sender per client, each with `count` commits; waits for all.
  std::vector<std::shared_ptr<sender_log>>
  run_senders(store_actor st, int senders, int count) {
    caf::scoped_actor self{sys_};
    std::vector<std::shared_ptr<sender_log>> logs;
    for (int s = 0; s < senders; ++s) {
      logs.push_back(std::make_shared<sender_log>());
      sys_.spawn(sender, st, "client-" + std::to_string(s), count, logs.back(),
                 ctl_, caf::actor_cast<caf::actor>(self));
    }
    for (int s = 0; s < senders; ++s) {
      bool done = false;
      self->receive([&](done_atom, const std::string&) { done = true; },
                    caf::after(std::chrono::seconds(30)) >> [] {});
      if (!done) {
        ADD_FAILURE() << "senders did not finish";
        break;
      }
    }
    return logs;
  }

  store_stats stats_of(store_actor st) {
    caf::scoped_actor self{sys_};
    store_stats result;
    self->request(st, std::chrono::seconds(30), stats_atom::value)
      .receive([&](const store_stats& s) { result = s; },
               [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  void TearDown() override {
    for (auto& st : stores_)
      caf::anon_send_exit(st, caf::exit_reason::user_shutdown);
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  std::shared_ptr<test_store::control> ctl_ = std::make_shared<test_store::control>();
  std::vector<store_actor> stores_;
};

} // namespace

TEST_F(store_actor_test, concurrent_commits_are_grouped_and_answered_in_order) {
  ctl_->delay = std::chrono::milliseconds(3); // an fsync
  auto st = spawn_store({});
  constexpr int senders = 8;
  constexpr int per_sender = 200;
  auto logs = run_senders(st, senders, per_sender);
  for (auto& log : logs) {
    ASSERT_EQ(log->order.size(), static_cast<std::size_t>(per_sender));
    EXPECT_TRUE(log->errors.empty());
    EXPECT_EQ(log->replies_not_durable, 0);
    for (int i = 0; i < per_sender; ++i)
      EXPECT_EQ(log->order[i], i) << "reply out of order";
    EXPECT_TRUE(std::is_sorted(log->commits.begin(), log->commits.end()));
  }
  auto s = stats_of(st);
  EXPECT_EQ(s.changesets, static_cast<std::uint64_t>(senders * per_sender));
  EXPECT_EQ(s.changes, 3u * senders * per_sender);
  EXPECT_LT(s.commits, s.changesets / 4) << "commits were not grouped";
  EXPECT_GT(s.max_batch, 1u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(std::accumulate(s.batch_histogram.begin(), s.batch_histogram.end(),
                            std::uint64_t{0}),
            s.commits);
  EXPECT_GT(s.total_commit_ms, 0.0);
  std::lock_guard<std::mutex> guard{ctl_->mtx};
  EXPECT_EQ(ctl_->committed.size(), static_cast<std::size_t>(senders * per_sender));
}

TEST_F(store_actor_test, a_group_never_exceeds_max_batch) {
  ctl_->delay = std::chrono::milliseconds(2);
  store_settings cfg;
  cfg.max_batch = 4;
  auto st = spawn_store(cfg);
  auto logs = run_senders(st, 4, 50);
  for (auto& log : logs) {
    ASSERT_EQ(log->order.size(), 50u);
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(log->order[i], i);
  }
  auto s = stats_of(st);
  EXPECT_LE(s.max_batch, 4u);
  EXPECT_GE(s.commits, 200u / 4);
  std::lock_guard<std::mutex> guard{ctl_->mtx};
  for (auto n : ctl_->batch_sizes)
    EXPECT_LE(n, 4u);
}

TEST_F(store_actor_test, a_failing_store_holds_replies_until_a_commit_succeeds) {
  store_settings cfg;
  cfg.retry_interval = std::chrono::milliseconds(100);
  ctl_->fail_first = 3;
  auto st = spawn_store(cfg);
  auto start = std::chrono::steady_clock::now();
  auto logs = run_senders(st, 3, 20);
  for (auto& log : logs) {
    ASSERT_EQ(log->order.size(), 20u);
    EXPECT_TRUE(log->errors.empty());
    EXPECT_EQ(log->replies_not_durable, 0);
    for (int i = 0; i < 20; ++i)
      EXPECT_EQ(log->order[i], i);
    // Three failed attempts, each followed by a 100 ms wait: no reply before.
    EXPECT_GE(log->first_reply - start, std::chrono::milliseconds(300));
  }
  auto s = stats_of(st);
  EXPECT_EQ(s.failures, 3u);
  EXPECT_EQ(s.changesets, 60u);
  EXPECT_EQ(s.pending, 0u);
}

TEST_F(store_actor_test, recovers_from_a_second_failure_after_a_checkpoint) {
  store_settings cfg;
  cfg.retry_interval = std::chrono::milliseconds(100);
  ctl_->fail_at = {1};
  auto st = spawn_store(cfg);
  caf::scoped_actor self{sys_};
  auto ok_commit = [&](auto handle) {
    bool ok = false;
    handle.receive([&](std::uint64_t) { ok = true; },
                   [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return ok;
  };
  // Apply 1 fails; the checkpoint commits the held changeset (apply 2)
  // before the timed retry.
  auto first = self->request(st, std::chrono::seconds(10), commit_atom::value,
                             make_changeset("c", 0));
  for (int i = 0; i < 1000 && stats_of(st).failures == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto checkpoint = self->request(st, std::chrono::seconds(10), checkpoint_atom::value);
  EXPECT_TRUE(ok_commit(std::move(first)));
  checkpoint.receive([](bool ok) { EXPECT_TRUE(ok); },
                     [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
  // Let the stale timed retry pass, then fail once more (apply 3): a new
  // retry must be armed. Had the stale one not come yet, it would do that
  // retry and hide a missing one. The actor clock hands out delayed messages
  // in the order they are due, so once a message due after the stale retry
  // has been answered, the store has handled the retry too.
  self->delayed_send(st, cfg.retry_interval + std::chrono::milliseconds(1), stats_atom::value);
  bool fenced = false;
  self->receive([&](const store_stats&) { fenced = true; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  ASSERT_TRUE(fenced) << "no answer to a delayed stats request";
  {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    ctl_->fail_at.insert(ctl_->applies + 1);
  }
  EXPECT_TRUE(ok_commit(self->request(st, std::chrono::seconds(10), commit_atom::value,
                                      make_changeset("c", 1))));
  auto s = stats_of(st);
  EXPECT_EQ(s.failures, 2u);
  EXPECT_EQ(s.changesets, 2u);
  EXPECT_TRUE(ctl_->is_committed("c/r-1"));
}

TEST_F(store_actor_test, a_refused_changeset_gets_an_error_and_the_rest_commits) {
  ctl_->delay = std::chrono::milliseconds(2);
  ctl_->poison = "r-7";
  auto st = spawn_store({});
  auto logs = run_senders(st, 2, 15);
  for (auto& log : logs) {
    EXPECT_EQ(log->errors, std::vector<int>{7});
    EXPECT_EQ(log->order.size(), 14u);
    EXPECT_EQ(log->replies_not_durable, 0);
    EXPECT_TRUE(std::is_sorted(log->order.begin(), log->order.end()));
  }
  auto s = stats_of(st);
  EXPECT_EQ(s.rejected, 2u);
  EXPECT_EQ(s.changesets, 28u);
  EXPECT_EQ(s.failures, 0u);
}

TEST_F(store_actor_test, checkpoint_commits_pending_and_marks_a_clean_shutdown) {
  auto db = std::make_unique<test_store>(ctl_);
  auto* raw = db.get();
  auto st = sys_.spawn<caf::detached>(store_actor_impl, std::unique_ptr<store>{db.release()},
                                      store_settings{});
  stores_.push_back(st);
  caf::scoped_actor self{sys_};
  // Fire-and-forget commits (no reply wanted) are committed as well.
  for (int i = 0; i < 5; ++i)
    self->send(st, commit_atom::value, make_changeset("c", i));
  bool ok = false;
  self->request(st, std::chrono::seconds(30), checkpoint_atom::value)
    .receive([&](bool result) { ok = result; },
             [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
  EXPECT_TRUE(ok);
  EXPECT_TRUE(raw->load(0, 0).clean_shutdown);
  EXPECT_EQ(raw->load(0, 0).requests.size(), 5u);
  // A write after the checkpoint makes the state "not clean" again.
  self->request(st, std::chrono::seconds(30), commit_atom::value, make_changeset("c", 9))
    .receive([](std::uint64_t) {},
             [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
  EXPECT_FALSE(raw->load(0, 0).clean_shutdown);
}

TEST_F(store_actor_test, starting_marks_the_database_not_clean) {
  auto db = std::make_unique<test_store>(ctl_);
  ASSERT_FALSE(db->set_clean_shutdown(true));
  auto* raw = db.get();
  auto st2 = sys_.spawn<caf::detached>(store_actor_impl, std::unique_ptr<store>{db.release()},
                                       store_settings{});
  stores_.push_back(st2);
  stats_of(st2); // the actor has run its start-up by now
  EXPECT_FALSE(raw->load(0, 0).clean_shutdown);
}

TEST_F(store_actor_test, prunes_old_requests_periodically) {
  store_settings cfg;
  cfg.prune_interval = std::chrono::milliseconds(20);
  auto st = spawn_store(cfg);
  caf::scoped_actor self{sys_};
  // A request record from 1970: far older than the 10-minute window.
  self->request(st, std::chrono::seconds(30), commit_atom::value, make_changeset("c", 1, 1))
    .receive([](std::uint64_t) {},
             [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
  store_stats s;
  for (int i = 0; i < 500 && s.pruned == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = stats_of(st);
  }
  EXPECT_EQ(s.pruned, 1u);
}

TEST(store_stats_test, histogram_buckets) {
  EXPECT_EQ(store_stats::bucket_of(1), 0u);
  EXPECT_EQ(store_stats::bucket_of(2), 1u);
  EXPECT_EQ(store_stats::bucket_of(3), 1u);
  EXPECT_EQ(store_stats::bucket_of(4), 2u);
  EXPECT_EQ(store_stats::bucket_of(7), 2u);
  EXPECT_EQ(store_stats::bucket_of(8), 3u);
  EXPECT_EQ(store_stats::bucket_of(511), 8u);
  EXPECT_EQ(store_stats::bucket_of(512), 9u);
  EXPECT_EQ(store_stats::bucket_of(100000), 9u);
  EXPECT_EQ(store_stats{}.batch_histogram.size(), store_stats::buckets);
}

TEST_F(store_actor_test, outbox_answers_the_pending_events_of_the_shards_held_here) {
  auto map = std::make_shared<shard_map>(4, "a");
  changeset cs;
  std::map<int, std::string> meeting_in; // a meeting of each shard
  for (int i = 0; meeting_in.size() < 4; ++i) {
    auto id = "m-" + std::to_string(i);
    meeting_in.emplace(map->shard_of(id), id);
  }
  for (auto& [shard, id] : meeting_in) {
    webhook_record w;
    w.endpoint = "https://backend.example/hook";
    w.meeting = id;
    w.seq = 1;
    w.at = 100 - shard; // shard 3's first
    cs.add(change::put_webhook{w});
  }
  store_settings cfg;
  cfg.shards = map;
  auto st = spawn_store(cfg);
  auto plain = spawn_store({});
  caf::scoped_actor self{sys_};
  for (auto& of : {st, plain})
    self->request(of, std::chrono::seconds(30), commit_atom::value, cs)
      .receive([](std::uint64_t) {}, [&](caf::error& err) { FAIL() << sys_.render(err); });
  std::string failed;
  auto outbox = [&](store_actor of, std::uint64_t limit) {
    std::vector<std::string> meetings;
    self->request(of, std::chrono::seconds(30), outbox_atom::value, limit)
      .receive(
        [&](const std::vector<webhook_record>& rows) {
          for (auto& w : rows)
            meetings.push_back(w.meeting);
        },
        [&](caf::error& err) { failed = sys_.render(err); });
    return meetings;
  };
  EXPECT_TRUE(outbox(st, 10).empty()) << "a node that holds no shard sends nothing";
  map->update({{1, 7}, {3, 7}}, {});
  EXPECT_EQ(outbox(st, 10), (std::vector<std::string>{meeting_in[3], meeting_in[1]}));
  EXPECT_EQ(outbox(st, 1), std::vector<std::string>{meeting_in[3]});
  // A node without shards: every meeting's.
  EXPECT_EQ(outbox(plain, 10).size(), 4u);
  EXPECT_TRUE(failed.empty()) << failed;
  {
    std::lock_guard<std::mutex> guard{ctl_->mtx};
    ctl_->outbox_fails = true;
  }
  // An error, not "nothing pending": the sender must not take the outbox
  // for drained.
  EXPECT_TRUE(outbox(plain, 10).empty());
  EXPECT_NE(failed.find("the outbox cannot be read"), std::string::npos) << failed;
}
