// Fakes for the actor tests (see fakes.hpp).
#include "fakes.hpp"

#include "actors/core/auth.hpp"

#include <caf/atom.hpp>
#include <caf/sec.hpp>

#include <gtest/gtest.h>

#include <algorithm>

namespace meetingd::test {

// -- the store -----------------------------------------------------------------------

std::optional<request_record> store_control::request(const std::string& client,
                                                     const std::string& id) {
  for (auto& r : load().requests)
    if (r.client == client && r.id == id)
      return r;
  return std::nullopt;
}

namespace {

/// Applies one changeset; its commit number, or an error if the memory
/// store refused it (a bug in the actor under test).
caf::result<std::uint64_t> commit_now(store_control& ctl, const changeset& cs) {
  if (auto err = ctl.db->apply({&cs})) {
    ADD_FAILURE() << "the memory store refused a changeset: " << err->what;
    return caf::make_error(caf::sec::runtime_error);
  }
  ctl.committed.push_back(cs);
  return ++ctl.commits;
}

} // namespace

store_actor::behavior_type fake_store(store_actor::pointer self, store_control_ptr ctl) {
  return {
    [self, ctl](commit_atom, changeset& cs) -> caf::result<std::uint64_t> {
      if (ctl->hold) {
        auto rp = self->make_response_promise<std::uint64_t>();
        ctl->waiting.push_back({std::move(cs), rp});
        return rp;
      }
      return commit_now(*ctl, cs);
    },
    // Releases what was held (the test cleared `hold` first), in order.
    [ctl](flush_atom) {
      while (!ctl->hold && !ctl->waiting.empty()) {
        auto h = std::move(ctl->waiting.front());
        ctl->waiting.pop_front();
        if (auto err = ctl->db->apply({&h.changes})) {
          ADD_FAILURE() << "the memory store refused a changeset: " << err->what;
          h.promise.deliver(caf::make_error(caf::sec::runtime_error));
          continue;
        }
        ctl->committed.push_back(h.changes);
        h.promise.deliver(++ctl->commits);
      }
    },
    [](prune_atom) {},
    [](checkpoint_atom) { return true; },
    [](load_atom, const std::vector<int>&) { return snapshot{}; },
    [ctl](outbox_atom, std::uint64_t limit) {
      return ctl->db->pending_webhooks({}, 0, static_cast<std::size_t>(limit));
    },
    [ctl](lookup_atom, const std::string& client, const std::string& id) {
      return ctl->db->stored_reply(client, id).reply.value_or("");
    },
    [ctl](stats_atom) {
      store_stats s;
      s.commits = ctl->commits;
      s.changesets = ctl->commits;
      return s;
    },
  };
}

// -- the RTC gateway -----------------------------------------------------------------

std::vector<rtc_call> rtc_control::calls_of(const std::string& action) const {
  std::vector<rtc_call> out;
  for (auto& c : calls)
    if (c.action == action)
      out.push_back(c);
  return out;
}

rtc::channel_grant default_grant(const std::string& channel) {
  return rtc::channel_grant{"key-" + channel, "AK-nonce", 1767225600};
}

namespace {

rtc::answer next_answer(rtc_control& ctl, const std::string& action,
                        const std::string& channel) {
  rtc::answer a;
  a.request_id = "RID-" + std::to_string(ctl.calls.size());
  a.attempts = 1;
  rtc_script s;
  auto& queue = ctl.scripts[action];
  if (!queue.empty()) {
    s = std::move(queue.front());
    queue.pop_front();
  }
  switch (s.kind) {
    case rtc_script::ok:
      if (action == "create")
        a.grant = s.grant.channel_key.empty() ? default_grant(channel) : s.grant;
      break;
    case rtc_script::refused:
      a.error = rtc::failure{rtc::failure_kind::refused, 400, s.code, s.message,
                             a.request_id};
      break;
    case rtc_script::unavailable:
      a.error = rtc::failure{rtc::failure_kind::unavailable, 0, s.code, s.message, ""};
      a.request_id.clear();
      break;
  }
  return a;
}

} // namespace

rtc_actor::behavior_type fake_rtc(rtc_actor::pointer, rtc_control_ptr ctl) {
  return {
    [ctl](create_channel_atom, const std::string& channel) {
      ctl->calls.push_back({"create", channel, {}});
      return next_answer(*ctl, "create", channel);
    },
    [ctl](delete_channel_atom, const std::string& channel) {
      ctl->calls.push_back({"delete", channel, {}});
      return next_answer(*ctl, "delete", channel);
    },
    [ctl](remove_terminals_atom, const std::string& channel,
          const std::vector<std::string>& ids) {
      ctl->calls.push_back({"remove", channel, ids});
      auto a = next_answer(*ctl, "remove", channel);
      if (a.ok())
        for (auto& id : ids)
          a.terminals.push_back({id, "OK", ""});
      return a;
    },
    [ctl](describe_users_atom, const std::string& channel) {
      ctl->calls.push_back({"describe", channel, {}});
      auto a = next_answer(*ctl, "describe", channel);
      a.channel_exists = a.ok();
      return a;
    },
    [ctl](stats_atom) {
      rtc::stats s;
      s.calls = ctl->calls.size();
      return s;
    },
    [](http_done_atom, std::uint64_t, http_result&) {},
    [](retry_atom, std::uint64_t) {},
  };
}

// -- the directory probe ---------------------------------------------------------------

std::vector<outgoing_event> directory_log::of(proto::event_kind kind) const {
  std::vector<outgoing_event> out;
  for (auto& e : events)
    if (e.ev.kind == kind)
      out.push_back(e);
  return out;
}

directory_actor::behavior_type probe_directory(directory_actor::pointer self,
                                               directory_log_ptr log) {
  return {
    [](handle_atom, inbound_request&) {
      ADD_FAILURE() << "the probe directory got a command";
      return final_reply{500, "internal", "{}", {}, {}, false};
    },
    [](presence_atom, const std::string&, bool) {},
    [log](deliver_atom, std::vector<outgoing_event>& events) {
      ++log->delivers;
      for (auto& e : events)
        log->events.push_back(std::move(e));
    },
    [log](update_atom, meeting_update& u) { log->updates.push_back(std::move(u)); },
    [self, log](finished_atom, const std::string& id) {
      log->finished.push_back(id);
      if (!log->hold_retire)
        self->send(caf::actor_cast<meeting_actor>(self->current_sender()), retire_atom::value);
    },
    [](wake_atom, unix_ms) {}, // the probe keeps no dormant meetings
    [self, log](tick_atom, const std::string& id, unix_ms due) {
      auto i = log->actors.find(id);
      if (i == log->actors.end())
        ++log->unrouted_ticks;
      else
        self->send(i->second, tick_atom::value, due);
    },
    [](sweep_atom) {},
    [](prune_atom) {},
    [](figures_atom) {},
    [](adopt_atom, const std::vector<int>&, bool) {},
    [](drop_atom, const std::vector<int>&) {},
    [](handover_atom, const std::vector<int>&) { return true; },
    [](handover_atom) {},
    [](remote_atom, std::vector<any_change>&) {},
    [](remote_atom) {},
  };
}

// -- the password hasher -----------------------------------------------------------------

hasher_actor::behavior_type fake_hasher(hasher_actor::pointer self, hasher_control_ptr ctl) {
  return {
    [self, ctl](hash_atom, const std::string& password, int iterations,
                hash_deadline) -> caf::result<std::string> {
      ctl->requests.push_back({"hash", {}, iterations});
      if (!ctl->hold)
        return auth::hash_password(password, iterations);
      auto rp = self->make_response_promise<std::string>();
      ctl->held_hashes.push_back(rp);
      return rp;
    },
    [self, ctl](verify_atom, const std::string& password, const std::string& stored,
                int iterations, hash_deadline) -> caf::result<bool> {
      ctl->requests.push_back({"verify", stored, iterations});
      if (!ctl->hold)
        return stored.empty() ? auth::verify_against_nothing(password, iterations)
                              : auth::verify_password(password, stored);
      auto rp = self->make_response_promise<bool>();
      ctl->held_checks.push_back(rp);
      return rp;
    },
  };
}

// -- the LMQ probe -------------------------------------------------------------------

std::vector<lmq_log::published> lmq_log::of(proto::event_kind kind) const {
  std::vector<published> out;
  for (auto& e : events)
    if (e.ev.kind == kind)
      out.push_back(e);
  return out;
}

lmq_actor::behavior_type probe_lmq(lmq_actor::pointer, lmq_log_ptr log) {
  return {
    [](attach_atom, const command_handler&) {},
    [](mqtt_in_atom, const std::string&, const std::string&, bool) {},
    [](connected_atom, bool) {},
    [](retry_atom) {},
    [](connect_atom) {},
    [](tick_atom, unix_ms) {},
    [](ready_atom) {},
    [](forward_atom) {},
    [](remote_atom, const std::vector<request_record>&) {},
    [](remote_atom, const std::vector<change::put_device_seq>&) {},
    [](adopt_atom) {},
    [log](publish_atom, std::vector<std::string>& clients, proto::event& ev) {
      log->events.push_back({std::move(clients), std::move(ev)});
    },
    [](shutdown_atom) { return true; },
    [](stats_atom) { return gateway_stats{}; },
  };
}

// -- configuration ----------------------------------------------------------------------

test_config::test_config() {
  set("scheduler.policy", caf::atom("testing"));
  set("logger.file-verbosity", caf::atom("quiet"));
}

// -- the fixture -------------------------------------------------------------------------

actor_fixture::actor_fixture()
  : sys(cfg),
    sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
    self(sys) {
}

actor_fixture::~actor_fixture() {
  sched.run();
  for (auto& p : spawned)
    self->send_exit(caf::actor_cast<caf::actor>(p), caf::exit_reason::kill);
  sched.run();
  sched.clock().cancel_all();
  sched.run();
  spawned.clear();
}

node_fixture::node_fixture() {
  env->meeting.app_id = "g10dhbxp";
  env->clock_offset_ms = offset_for(epoch_2026);
  env->started_at = epoch_2026;
  store = track(sys.spawn(fake_store, store_ctl));
  rtc = track(sys.spawn(fake_rtc, rtc_ctl));
}

void node_fixture::expect_logged(const final_reply& r, const std::string& client,
                                 const std::string& rid) {
  auto rec = store_ctl->request(client, rid);
  if (r.replayable) {
    ASSERT_TRUE(rec) << "reply to " << client << "/" << rid
                     << " not in the request log: " << r.wire;
    EXPECT_EQ(rec->reply, r.wire);
  } else {
    EXPECT_FALSE(rec) << "a reply that must not be replayed (try again, or a read) was stored: "
                     << r.wire;
  }
}

std::int64_t actor_fixture::offset_for(unix_ms wall) const {
  using namespace std::chrono;
  auto mono = duration_cast<milliseconds>(sched.clock().now().time_since_epoch());
  return wall - mono.count();
}

unix_ms actor_fixture::wall_now(std::int64_t offset) const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(sched.clock().now().time_since_epoch()).count()
         + offset;
}

std::optional<final_reply> actor_fixture::poll_reply() {
  std::optional<final_reply> out;
  bool again = true;
  while (again && !out) {
    again = false;
    self->receive([&](final_reply& r) { out = std::move(r); },
                  [&](caf::down_msg& d) {
                    downs.push_back(d.source);
                    again = true;
                  },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  }
  return out;
}

final_reply actor_fixture::expect_reply() {
  auto r = poll_reply();
  if (!r) {
    ADD_FAILURE() << "no reply";
    return final_reply{-1, "no reply", "{}", {}, {}, false};
  }
  return *r;
}

bool actor_fixture::poll_down(const caf::actor_addr& who) {
  for (;;) {
    if (std::find(downs.begin(), downs.end(), who) != downs.end())
      return true;
    bool got = false;
    self->receive([&](caf::down_msg& d) {
                    downs.push_back(d.source);
                    got = true;
                  },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    if (!got)
      return false;
  }
}

} // namespace meetingd::test
