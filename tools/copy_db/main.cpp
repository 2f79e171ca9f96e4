// meetingd-copy-db: copies a node's state from one database to another, for
// an operator moving a node from its SQLite file onto PostgreSQL (or back,
// or between servers).
//
//   meetingd-copy-db --from=/var/lib/meetingd/meetingd.db
//                    --to=postgresql://meetingd@db.example:5432/meetingd
//
// --from and --to take what the node's --db takes. The copy is what the node
// recovers from: live meetings with their participants and invitations,
// ended meetings (which answer 410), users, devices with their event
// sequence numbers, stored replies, failed logins, recent removals, and the
// clean-shutdown mark. Participant rows of meetings that ended and whose
// channel is deleted are history the node never reads: they stay in the
// source. The target must be empty (the schema is created as the node
// would); the node must be stopped, so that nothing is acknowledged after
// the copy was read. Written in transactions of at most --chunk changes;
// then read back and counted against the source.
//
// Exit codes: 0 copied and checked; 1 the copy failed or was refused (one
// line on stderr says why and what to do); 2 a usage error.
#include "config/log.hpp"
#include "persistence/store.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

using namespace meetingd;

namespace {

/// How many rows of each kind a snapshot holds.
struct tally {
  std::size_t live = 0, participants = 0, invitations = 0, ended = 0, users = 0, devices = 0,
              requests = 0, login_failures = 0, removed_users = 0;

  static tally of(const snapshot& s) {
    tally t;
    t.live = s.live_meetings.size();
    for (auto& m : s.live_meetings) {
      t.participants += m.participants.size();
      t.invitations += m.invitations.size();
    }
    t.ended = s.ended_meetings.size();
    t.users = s.users.size();
    t.devices = s.devices.size();
    t.requests = s.requests.size();
    t.login_failures = s.login_failures.size();
    t.removed_users = s.removed_users.size();
    return t;
  }
  bool empty() const {
    return live + ended + users + devices + requests + login_failures + removed_users == 0;
  }
  bool operator==(const tally& o) const {
    return live == o.live && participants == o.participants && invitations == o.invitations
           && ended == o.ended && users == o.users && devices == o.devices
           && requests == o.requests && login_failures == o.login_failures
           && removed_users == o.removed_users;
  }
  std::string describe() const {
    auto n = [](std::size_t x) { return std::to_string(x); };
    return n(live) + " live meetings (" + n(participants) + " participants, " + n(invitations)
           + " invitations), " + n(ended) + " ended meetings, " + n(users) + " users, "
           + n(devices) + " devices, " + n(requests) + " stored replies, " + n(login_failures)
           + " failed-login counts, " + n(removed_users) + " removed users";
  }
};

/// The changes that write `s` into an empty store, users before the rows
/// that name them and each meeting before its rows.
std::vector<changeset> changes_of(const snapshot& s, std::size_t chunk) {
  std::vector<changeset> out(1);
  auto add = [&](auto change) {
    if (out.back().changes.size() >= chunk)
      out.emplace_back();
    out.back().add(std::move(change));
  };
  for (auto& u : s.users)
    add(change::put_user{u});
  for (auto& r : s.removed_users)
    add(change::put_removed_user{r});
  for (auto& d : s.devices) {
    add(change::put_device{d});
    add(change::put_device_seq{d.client, d.last_seq});
  }
  for (auto& f : s.login_failures)
    add(change::put_login_failures{f});
  for (auto& m : s.live_meetings) {
    add(change::put_meeting{static_cast<const meeting_record&>(m)});
    for (auto& [user, p] : m.participants)
      add(change::put_participant{m.id, p});
    for (auto& [user, inv] : m.invitations)
      add(change::put_invitation{m.id, inv});
  }
  for (auto& m : s.ended_meetings)
    add(change::put_meeting{m});
  for (auto& r : s.requests)
    add(change::put_request{r});
  if (out.back().empty())
    out.pop_back();
  return out;
}

int fail(const std::string& line) {
  std::fprintf(stderr, "meetingd-copy-db: %s\n", line.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Copies a stopped node's state from one database (--db value) to an empty one."};
  std::string from, to;
  std::size_t chunk = 20000;
  std::string log_level = "warn";
  app.add_option("--from", from, "the database to copy: a SQLite path or a postgresql:// URI")
    ->required();
  app.add_option("--to", to, "the empty database to fill: a SQLite path or a postgresql:// URI")
    ->required();
  app.add_option("--chunk", chunk, "changes per transaction")->check(CLI::PositiveNumber);
  app.add_option("--log-level", log_level, "the stores' log lines: debug, info, warn, error");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!log::configure(log_level)) {
    std::fprintf(stderr, "meetingd-copy-db: --log-level=%s is not a level\n", log_level.c_str());
    return 2;
  }
  if (from == to)
    return fail("--from and --to name the same database");
  store_options options;
  options.synchronous_full = true;
  std::string error;
  auto source = open_store(from, options, &error);
  if (!source)
    return fail("cannot open --from: " + error);
  auto state = source->load(0, 0);
  if (state.error)
    return fail("cannot read --from: " + state.error->what);
  auto read = tally::of(state);
  // Webhook events not yet delivered go along (docs/protocol.md §15): the
  // node on --to delivers them. Delivered ones are history and stay behind.
  std::vector<webhook_record> outbox;
  try {
    outbox = source->pending_webhooks({}, 0, std::numeric_limits<std::size_t>::max());
  } catch (const std::exception& e) {
    return fail(std::string{"cannot read --from's webhook outbox: "} + e.what());
  }
  auto target = open_store(to, options, &error);
  if (!target)
    return fail("cannot open --to: " + error);
  auto there = target->load(0, 0);
  if (there.error)
    return fail("cannot read --to: " + there.error->what);
  if (auto found = tally::of(there); !found.empty())
    return fail("--to is not empty (" + found.describe()
                + "): copy only into a new database, or remove this one first");
  auto batches = changes_of(state, chunk);
  for (std::size_t i = 0; i < outbox.size(); ++i) {
    if (i % chunk == 0)
      batches.emplace_back();
    batches.back().add(change::put_webhook{outbox[i]});
  }
  std::size_t written = 0;
  for (auto& cs : batches) {
    if (auto err = target->apply({&cs}))
      return fail("writing --to failed after " + std::to_string(written) + " of "
                  + std::to_string(batches.size()) + " transactions: " + err->what
                  + "; the target holds part of the copy: remove it and run again");
    ++written;
  }
  if (auto err = target->set_clean_shutdown(state.clean_shutdown))
    return fail("writing --to's shutdown mark failed: " + err->what);
  if (auto err = target->checkpoint())
    return fail("checkpointing --to failed: " + err->what);
  auto back = target->load(0, 0);
  if (back.error)
    return fail("reading --to back failed: " + back.error->what);
  auto copied = tally::of(back);
  if (!(copied == read))
    return fail("--to holds " + copied.describe() + " but --from held " + read.describe()
                + ": do not start a node on --to; report this as a bug");
  auto outbox_copied = target->pending_webhooks({}, 0, std::numeric_limits<std::size_t>::max());
  if (outbox_copied.size() != outbox.size())
    return fail("--to holds " + std::to_string(outbox_copied.size())
                + " pending webhook events but --from held " + std::to_string(outbox.size())
                + ": do not start a node on --to; report this as a bug");
  std::printf("copied %s and %zu pending webhook events from %s to %s\n",
              read.describe().c_str(), outbox.size(), source->describe().c_str(),
              target->describe().c_str());
  return 0;
}
