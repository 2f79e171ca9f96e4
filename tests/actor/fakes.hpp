// Fakes for the actor tests (meeting_actor_test.cpp, directory_actor_test.cpp):
// actors with the real interfaces of the store, the RTC gateway, the
// directory and the LMQ gateway, all event-based and NOT detached, so that
// CAF's test coordinator runs them message by message in virtual time.
//
// Each fake shares a plain `control` struct with the test (one thread: the
// test coordinator runs everything on the test's thread), through which the
// test scripts answers and reads what the fake received.
#pragma once

#include "actors/interfaces.hpp"
#include "actors/node_env.hpp"
#include "persistence/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meetingd::test {

// -- the store -----------------------------------------------------------------------

/// Shared between a fake store actor and its test.
struct store_control {
  /// Applies committed changesets, exactly as the SQLite store would.
  std::unique_ptr<store> db = make_memory_store();
  /// While true, commits are neither applied nor answered: they wait until
  /// the test clears `hold` and sends the store a `flush_atom`.
  bool hold = false;
  /// Changesets received while held, waiting for their commit.
  struct held {
    changeset changes;
    caf::typed_response_promise<std::uint64_t> promise;
  };
  std::deque<held> waiting;
  /// Every changeset committed, in commit order.
  std::vector<changeset> committed;
  std::uint64_t commits = 0;

  /// What the store holds now (nothing pruned: everything since the epoch).
  snapshot load() {
    return db->load(0, 0);
  }
  /// The stored reply for (client, id), if any.
  std::optional<request_record> request(const std::string& client,
                                        const std::string& id);
};
using store_control_ptr = std::shared_ptr<store_control>;

/// A store actor (store_actor interface, not detached) over `ctl->db`.
store_actor::behavior_type
fake_store(store_actor::pointer self, store_control_ptr ctl);

// -- the RTC gateway -----------------------------------------------------------------

/// How the fake RTC gateway answers one call.
struct rtc_script {
  enum kind_t { ok, refused, unavailable } kind = ok;
  std::string code;    // refused/unavailable: the failure code
  std::string message; // refused/unavailable: its message
  /// CreateChannel, ok: the grant. Empty key: "key-<channel>" is used.
  rtc::channel_grant grant;

  static rtc_script success() {
    return {};
  }
  static rtc_script refuse(std::string code, std::string message = "refused (test)") {
    rtc_script s;
    s.kind = refused;
    s.code = std::move(code);
    s.message = std::move(message);
    return s;
  }
  static rtc_script down(std::string code = "TransportError") {
    rtc_script s;
    s.kind = unavailable;
    s.code = std::move(code);
    s.message = "could not reach the RTC service (test)";
    return s;
  }
};

/// One call the fake RTC gateway received.
struct rtc_call {
  std::string action; // "create", "delete", "remove", "describe"
  std::string channel;
  std::vector<std::string> terminals; // remove
};

struct rtc_control {
  /// Answers per action ("create", "delete", "remove", "describe"), used in
  /// order; when a queue is empty the call succeeds.
  std::map<std::string, std::deque<rtc_script>> scripts;
  std::vector<rtc_call> calls;

  void script(const std::string& action, rtc_script s) {
    scripts[action].push_back(std::move(s));
  }
  std::vector<rtc_call> calls_of(const std::string& action) const;
  std::size_t count(const std::string& action) const {
    return calls_of(action).size();
  }
};
using rtc_control_ptr = std::shared_ptr<rtc_control>;

/// The grant the fake answers to CreateChannel when none is scripted.
rtc::channel_grant default_grant(const std::string& channel);

rtc_actor::behavior_type fake_rtc(rtc_actor::pointer self, rtc_control_ptr ctl);

// -- the directory, seen from a meeting ------------------------------------------------

struct directory_log {
  /// Every event delivered, flattened, in delivery order.
  std::vector<outgoing_event> events;
  /// Number of deliver messages.
  int delivers = 0;
  std::vector<meeting_update> updates;
  /// Meetings that reported `finished`; answered `retire` unless held.
  std::vector<std::string> finished;
  bool hold_retire = false;
  /// The meetings' actors by id, for their ticks (armed through the
  /// directory); the fixture registers each meeting it spawns or creates.
  std::map<std::string, meeting_actor> actors;
  /// Ticks for a meeting not registered above.
  int unrouted_ticks = 0;

  /// Events of one kind.
  std::vector<outgoing_event> of(proto::event_kind kind) const;
  void clear() {
    events.clear();
    delivers = 0;
    updates.clear();
  }
};
using directory_log_ptr = std::shared_ptr<directory_log>;

directory_actor::behavior_type probe_directory(directory_actor::pointer self,
                                               directory_log_ptr log);

// -- the LMQ gateway, seen from the directory -------------------------------------------

struct lmq_log {
  struct published {
    std::vector<std::string> clients;
    proto::event ev;
  };
  std::vector<published> events;

  std::vector<published> of(proto::event_kind kind) const;
  void clear() {
    events.clear();
  }
};
using lmq_log_ptr = std::shared_ptr<lmq_log>;

lmq_actor::behavior_type probe_lmq(lmq_actor::pointer self, lmq_log_ptr log);

// -- the password hasher -----------------------------------------------------------------

/// Shared between a fake hasher and its test: what it was asked, and whether
/// it answers (with the real PBKDF2, as the node's hasher does) or holds the
/// requests unanswered, as a saturated pool would.
struct hasher_control {
  struct asked {
    std::string what;   // "hash" or "verify"
    std::string stored; // verify: the stored hash it was given ("" for none)
    int iterations = 0;
  };
  std::vector<asked> requests;
  bool hold = false;
  std::vector<caf::typed_response_promise<bool>> held_checks;
  std::vector<caf::typed_response_promise<std::string>> held_hashes;
};
using hasher_control_ptr = std::shared_ptr<hasher_control>;

hasher_actor::behavior_type fake_hasher(hasher_actor::pointer self, hasher_control_ptr ctl);

// -- the actor system under the test coordinator ------------------------------------------

/// The configuration every actor test uses: the test coordinator (virtual
/// time, one thread), no log file.
struct test_config : caf::actor_system_config {
  test_config();
};

/// 2026-01-01T00:00:00Z in unix ms: the virtual clock's start maps to it.
constexpr unix_ms epoch_2026 = 1'767'225'600'000;

/// What every actor test shares: an actor system under the test coordinator,
/// a scoped actor that sends commands and receives replies, and helpers to
/// run the actors and move virtual time. Every actor a test spawns through
/// `track` is killed when the test ends.
class actor_fixture : public ::testing::Test {
protected:
  actor_fixture();
  ~actor_fixture() override;

  /// Runs every queued message (no time passes).
  void run() {
    sched.run();
  }
  /// Moves virtual time by `d`, fires what is due, and runs everything.
  void advance(std::chrono::milliseconds d) {
    sched.advance_time(d);
    sched.run();
  }
  /// The clock offset that maps the virtual clock's current time to `wall`.
  std::int64_t offset_for(unix_ms wall) const;
  /// The wall time the actors see (virtual clock + `offset`).
  unix_ms wall_now(std::int64_t offset) const;

  /// A reply in the scoped actor's mailbox, if one arrived.
  std::optional<final_reply> poll_reply();
  /// The reply that must have arrived; fails the test if none did.
  final_reply expect_reply();
  /// Whether `who` terminated (the scoped actor monitors it with `watch`).
  bool poll_down(const caf::actor_addr& who);
  template <class Handle>
  void watch(const Handle& h) {
    self->monitor(h);
  }
  template <class Handle>
  Handle track(Handle h) {
    spawned.push_back(caf::actor_cast<caf::strong_actor_ptr>(h));
    return h;
  }

  test_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  std::vector<caf::strong_actor_ptr> spawned;
  /// down_msgs received while waiting for something else.
  std::vector<caf::actor_addr> downs;
};

/// An actor_fixture for the actors of a node: its environment (a node that
/// started at epoch_2026) and the fake store and RTC gateway they talk to.
class node_fixture : public actor_fixture {
protected:
  node_fixture();

  /// The wall time the node's actors see.
  unix_ms now() const {
    return wall_now(env->clock_offset_ms);
  }
  /// Checks that reply `r` to `client`'s request `rid` is in the store's
  /// request log exactly as sent, or, when it says "try again", is not.
  void expect_logged(const final_reply& r, const std::string& client, const std::string& rid);

  std::shared_ptr<node_env> env = std::make_shared<node_env>();
  store_control_ptr store_ctl = std::make_shared<store_control>();
  rtc_control_ptr rtc_ctl = std::make_shared<rtc_control>();
  store_actor store;
  rtc_actor rtc;
};

} // namespace meetingd::test
