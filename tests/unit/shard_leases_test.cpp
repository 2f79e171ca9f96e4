// The shard leases and the fence on a real PostgreSQL (tests/pg_server):
// the shard rows are made once and their number is fixed; a take raises the
// epoch and never takes a valid lease of another node; a renewal or release
// with a stale epoch does nothing; a commit for a shard whose epoch moved is
// refused whole, naming the shard, and writes nothing; a node adopting a
// shard loads that shard's meetings alone, and SQL agrees with C++ on which
// shard an id is in.
#include "persistence/shard_leases.hpp"
#include "persistence/shard_map.hpp"
#include "persistence/store.hpp"
#include "pg_server/pg_server.hpp"

#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <thread>

using namespace meetingd;
using namespace std::chrono_literals;

namespace {

std::string fresh_database() {
  std::string error;
  auto* server = test::pg_server::shared(&error);
  if (!server) {
    ADD_FAILURE() << error;
    return {};
  }
  auto uri = server->fresh_database(&error);
  EXPECT_FALSE(uri.empty()) << error;
  return uri;
}

/// A store (which migrates the schema) on `uri`, fenced by `map` if given.
std::unique_ptr<store> open_store_on(const std::string& uri,
                                     std::shared_ptr<const shard_map> map = nullptr) {
  store_options options;
  options.fence = std::move(map);
  std::string error;
  auto db = open_pg_store(uri, options, &error);
  EXPECT_TRUE(db) << error;
  return db;
}

std::unique_ptr<shard_leases> leases_on(const std::string& uri, const std::string& node,
                                        int shards = 8) {
  std::string error;
  auto l = shard_leases::open(uri, 10s, node, shards, &error);
  EXPECT_TRUE(l) << error;
  return l;
}

/// The first column of each row of `sql`, on a connection of its own.
std::vector<std::string> column(const std::string& uri, const std::string& sql) {
  std::vector<std::string> out;
  PGconn* c = PQconnectdb(uri.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) == PGRES_TUPLES_OK)
    for (int i = 0; i < PQntuples(r); ++i)
      out.emplace_back(PQgetvalue(r, i, 0));
  else
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  return out;
}

changeset meeting_named(const std::string& id) {
  changeset cs;
  meeting_record m;
  m.id = id;
  m.title = "t";
  m.creator = "alice";
  cs.add(change::put_meeting{m});
  return cs;
}

/// A meeting id in shard `shard` of `count`.
std::string id_in_shard(int shard, int count, const std::string& prefix = "m-") {
  for (int i = 0;; ++i) {
    auto id = prefix + std::to_string(i);
    if (shards::shard_of(id, count) == shard)
      return id;
  }
}

} // namespace

TEST(shard_leases, the_shard_rows_are_made_once_and_another_count_is_refused) {
  auto uri = fresh_database();
  auto db = open_store_on(uri);
  auto a = leases_on(uri, "a", 8);
  auto b = leases_on(uri, "b", 8);
  EXPECT_EQ(column(uri, "SELECT count(*) FROM shards"), std::vector<std::string>{"8"});
  std::string error;
  EXPECT_FALSE(shard_leases::open(uri, 10s, "c", 16, &error));
  EXPECT_NE(error.find("--shards=8"), std::string::npos) << error;
  EXPECT_NE(error.find("--shards=16"), std::string::npos) << error;
}

TEST(shard_leases, a_take_raises_the_epoch_and_never_takes_a_valid_lease_of_another) {
  auto uri = fresh_database();
  auto db = open_store_on(uri);
  auto a = leases_on(uri, "a", 4);
  auto b = leases_on(uri, "b", 4);
  held_shards got;
  unix_ms until = 0;
  ASSERT_FALSE(a->take({0, 1, 2, 3}, 10s, got, until));
  EXPECT_EQ(got, (held_shards{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));
  EXPECT_GT(until, 0);
  ASSERT_FALSE(b->take({0, 1}, 10s, got, until));
  EXPECT_TRUE(got.empty());
  // b's renewal or release of a's shards does nothing.
  held_shards kept;
  ASSERT_FALSE(b->renew({{0, 1}}, 10s, kept, until));
  EXPECT_TRUE(kept.empty());
  ASSERT_FALSE(b->release({{0, 1}}));
  // a hands shard 1 over; b takes it with a new epoch; a's renewal of its
  // old epoch no longer holds it.
  ASSERT_FALSE(a->release({{1, 1}}));
  ASSERT_FALSE(b->take({1}, 10s, got, until));
  EXPECT_EQ(got, (held_shards{{1, 2}}));
  ASSERT_FALSE(a->renew({{0, 1}, {1, 1}, {2, 1}, {3, 1}}, 10s, kept, until));
  EXPECT_EQ(kept, (held_shards{{0, 1}, {2, 1}, {3, 1}}));
  shard_leases::table t;
  ASSERT_FALSE(a->read(t));
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[1].owner, "b");
  EXPECT_EQ(t.rows[1].epoch, 2);
  EXPECT_GT(t.now, 0);
}

TEST(shard_leases, an_expired_lease_is_adopted_and_a_restarted_node_takes_its_own_back) {
  auto uri = fresh_database();
  auto db = open_store_on(uri);
  auto a = leases_on(uri, "a", 2);
  auto b = leases_on(uri, "b", 2);
  held_shards got;
  unix_ms until = 0;
  ASSERT_FALSE(a->take({0, 1}, 300ms, got, until));
  std::this_thread::sleep_for(400ms);
  ASSERT_FALSE(b->take({0}, 10s, got, until));
  EXPECT_EQ(got, (held_shards{{0, 2}}));
  // "a" again after a kill -9: its own valid lease of shard 1 is its at once.
  auto a2 = leases_on(uri, "a", 2);
  ASSERT_FALSE(a2->take({1}, 10s, got, until));
  EXPECT_EQ(got, (held_shards{{1, 2}}));
}

TEST(shard_leases, a_second_run_under_one_node_id_is_seen_by_the_first) {
  auto uri = fresh_database();
  auto db = open_store_on(uri);
  auto first = leases_on(uri, "a", 2);
  auto second = leases_on(uri, "a", 2);
  bool clash = true;
  ASSERT_FALSE(first->heartbeat({"serving", "v", 3, 1.5}, &clash));
  EXPECT_FALSE(clash);
  ASSERT_FALSE(second->heartbeat({"serving", "v", 0, 0}, &clash));
  EXPECT_FALSE(clash);
  ASSERT_FALSE(first->heartbeat({"serving", "v", 3, 1.5}, &clash));
  EXPECT_TRUE(clash);
  shard_leases::table t;
  ASSERT_FALSE(second->read(t));
  ASSERT_EQ(t.nodes.size(), 1u);
  EXPECT_EQ(t.nodes[0].incarnation, second->incarnation());
}

TEST(shard_fence, a_commit_for_a_shard_that_moved_is_refused_whole_and_writes_nothing) {
  auto uri = fresh_database();
  auto plain = open_store_on(uri); // migrates
  auto a = leases_on(uri, "a", 4);
  auto b = leases_on(uri, "b", 4);
  held_shards got;
  unix_ms until = 0;
  ASSERT_FALSE(a->take({0, 1, 2, 3}, 10s, got, until));
  auto map = std::make_shared<shard_map>(4, "a");
  map->update(got, {});
  auto db = open_store_on(uri, map);
  auto in0 = meeting_named(id_in_shard(0, 4));
  auto in1 = meeting_named(id_in_shard(1, 4));
  ASSERT_FALSE(db->apply({&in0, &in1}));
  // b takes shard 1 (a's lease is cut short by hand: a paused node).
  ASSERT_FALSE(a->release({{1, 1}}));
  ASSERT_FALSE(b->take({1}, 10s, got, until));
  auto later0 = meeting_named(id_in_shard(0, 4, "n-"));
  auto later1 = meeting_named(id_in_shard(1, 4, "n-"));
  auto err = db->apply({&later0, &later1});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->fenced, std::vector<int>{1});
  EXPECT_NE(err->what.find("shard(s) 1"), std::string::npos) << err->what;
  EXPECT_EQ(column(uri, "SELECT count(*) FROM meetings"), std::vector<std::string>{"2"});
  // A shard this node never held is refused before any round trip.
  map->lose({1});
  err = db->apply({&later1});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->fenced, std::vector<int>{1});
  // The rest commits.
  ASSERT_FALSE(db->apply({&later0}));
  EXPECT_EQ(column(uri, "SELECT count(*) FROM meetings"), std::vector<std::string>{"3"});
}

TEST(shard_fence, a_node_adopting_shards_loads_their_meetings_alone_and_sql_agrees_on_shards) {
  auto uri = fresh_database();
  auto db = open_store_on(uri);
  std::vector<changeset> sets;
  for (int i = 0; i < 200; ++i)
    sets.push_back(meeting_named("m-" + std::to_string(i)));
  std::vector<const changeset*> batch;
  for (auto& cs : sets)
    batch.push_back(&cs);
  ASSERT_FALSE(db->apply(batch));
  auto loaded = db->load_shards({3, 5}, 16, 0);
  ASSERT_FALSE(loaded.error);
  std::size_t expected = 0;
  for (int i = 0; i < 200; ++i) {
    auto s = shards::shard_of("m-" + std::to_string(i), 16);
    expected += (s == 3 || s == 5) ? 1 : 0;
  }
  EXPECT_EQ(loaded.live_meetings.size(), expected);
  for (auto& m : loaded.live_meetings) {
    auto s = shards::shard_of(m.id, 16);
    EXPECT_TRUE(s == 3 || s == 5) << m.id;
  }
  EXPECT_TRUE(loaded.users.empty());
  // psql computes the same shard as C++ for every id.
  auto ids = column(uri, "SELECT id || ':' || " + shards::shard_of_sql("id", 16)
                           + " FROM meetings");
  ASSERT_EQ(ids.size(), 200u);
  for (auto& row : ids) {
    auto colon = row.find(':');
    EXPECT_EQ(std::stoi(row.substr(colon + 1)), shards::shard_of(row.substr(0, colon), 16))
      << row;
  }
}
