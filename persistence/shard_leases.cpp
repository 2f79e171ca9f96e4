// The shard leases in PostgreSQL (see shard_leases.hpp).
#include "persistence/shard_leases.hpp"

#include "actors/core/crypto.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>

namespace meetingd {

namespace {

/// The server's clock in unix ms, as SQL.
const char* server_now = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

std::int64_t integer_at(const PGresult* res, int row, int col) {
  const char* p = PQgetvalue(res, row, col);
  std::int64_t x = 0;
  std::from_chars(p, p + PQgetlength(res, row, col), x);
  return x;
}

std::string text_at(const PGresult* res, int row, int col) {
  return {PQgetvalue(res, row, col), static_cast<std::size_t>(PQgetlength(res, row, col))};
}

/// A PostgreSQL array literal of integers: {1,2,3}.
template <class Ints>
std::string array_of(const Ints& xs) {
  std::string out = "{";
  for (auto x : xs) {
    if (out.size() > 1)
      out += ',';
    out += std::to_string(x);
  }
  return out + "}";
}

/// The shard and epoch arrays of `held`, for unnest($n::int[], $m::bigint[]).
std::pair<std::string, std::string> arrays_of(const held_shards& held) {
  std::vector<int> shard;
  std::vector<std::int64_t> epoch;
  for (auto& [s, e] : held) {
    shard.push_back(s);
    epoch.push_back(e);
  }
  return {array_of(shard), array_of(epoch)};
}

/// Reads `shard, epoch, lease_until` rows into `out` and `until`.
void read_held(const PGresult* res, held_shards& out, unix_ms& until) {
  for (int i = 0; i < PQntuples(res); ++i) {
    out[static_cast<int>(integer_at(res, i, 0))] = integer_at(res, i, 1);
    until = integer_at(res, i, 2);
  }
}

} // namespace

shard_leases::shard_leases(std::string uri, std::chrono::milliseconds timeout,
                           std::string node_id, int shards)
  : conn_(std::move(uri), timeout), node_id_(std::move(node_id)),
    incarnation_(crypto::random_hex(8)), shards_(shards) {
}

std::unique_ptr<shard_leases> shard_leases::open(const std::string& uri,
                                                 std::chrono::milliseconds server_timeout,
                                                 std::string node_id, int shards,
                                                 std::string* error) {
  std::unique_ptr<shard_leases> self{
    new shard_leases(uri, server_timeout, std::move(node_id), shards)};
  // A take waits for the row locks of commits under way (the store's
  // fence); never longer than this, so that a paused node's open
  // transaction cannot stall the round (the server ends that transaction
  // itself: idle_in_transaction_session_timeout on the store's session).
  self->conn_.on_connect([raw = self.get()]() -> std::optional<pg::failure> {
    auto out = raw->conn_.exec("SET lock_timeout = '2s'");
    return out.error;
  });
  if (auto err = self->conn_.ensure_connected()) {
    if (error)
      *error = "database " + pg::printable(uri) + ": cannot connect for the shard leases: "
               + err->what;
    return nullptr;
  }
  if (auto problem = self->set_up()) {
    if (error)
      *error = "database " + pg::printable(uri) + ": " + *problem;
    return nullptr;
  }
  return self;
}

std::optional<std::string> shard_leases::set_up() {
  auto failed = [&](const char* doing, const pg::failure& f) {
    conn_.exec("ROLLBACK");
    return std::string{doing} + ": " + f.what;
  };
  if (auto out = conn_.exec("BEGIN"); out.error)
    return failed("cannot start setting up the shards", *out.error);
  // Nodes starting together take turns; the second finds the rows made.
  if (auto out = conn_.exec("SELECT pg_advisory_xact_lock(7236828735723418989)"); out.error)
    return failed("cannot take the shard set-up lock", *out.error);
  auto current = conn_.exec("SELECT count(*) FROM shards");
  if (current.error)
    return failed("cannot count the shards (schema version 3 is needed)", *current.error);
  auto have = integer_at(current.res.get(), 0, 0);
  if (have == 0) {
    auto made = conn_.exec("INSERT INTO shards (shard) SELECT generate_series(0, $1 - 1)",
                           {std::to_string(shards_)});
    if (made.error)
      return failed("cannot create the shard rows", *made.error);
  } else if (have != shards_) {
    conn_.exec("ROLLBACK");
    return "the database was set up with --shards=" + std::to_string(have)
           + " but this node has --shards=" + std::to_string(shards_)
           + ": the number of shards is fixed for the life of a database; start every node "
             "with --shards="
           + std::to_string(have);
  }
  if (auto out = conn_.exec("COMMIT"); out.error)
    return failed("cannot commit the shard rows", *out.error);
  return std::nullopt;
}

std::optional<pg::failure> shard_leases::read(table& out) {
  out = {};
  auto now = conn_.exec(std::string{"SELECT "} + server_now);
  if (now.error)
    return now.error;
  out.now = integer_at(now.res.get(), 0, 0);
  auto rows = conn_.exec("SELECT shard, owner, epoch, lease_until FROM shards ORDER BY shard");
  if (rows.error)
    return rows.error;
  auto* res = rows.res.get();
  for (int i = 0; i < PQntuples(res); ++i)
    out.rows.push_back({static_cast<int>(integer_at(res, i, 0)), text_at(res, i, 1),
                        integer_at(res, i, 2), integer_at(res, i, 3)});
  auto nodes = conn_.exec(
    "SELECT n.node, n.incarnation, n.state, n.version, n.started_at, n.heartbeat_at, "
    "n.meetings, n.commands_per_s, "
    "(SELECT count(*) FROM shards s WHERE s.owner = n.node AND s.lease_until >= $1), "
    "(SELECT coalesce(min(s.lease_until), 0) FROM shards s WHERE s.owner = n.node "
    "AND s.lease_until >= $1) FROM nodes n ORDER BY n.node",
    {std::to_string(out.now)});
  if (nodes.error)
    return nodes.error;
  res = nodes.res.get();
  for (int i = 0; i < PQntuples(res); ++i) {
    node_row n;
    n.node = text_at(res, i, 0);
    n.incarnation = text_at(res, i, 1);
    n.state = text_at(res, i, 2);
    n.version = text_at(res, i, 3);
    n.started_at = integer_at(res, i, 4);
    n.heartbeat_at = integer_at(res, i, 5);
    n.meetings = static_cast<int>(integer_at(res, i, 6));
    n.commands_per_s = std::strtod(PQgetvalue(res, i, 7), nullptr);
    n.shards = static_cast<int>(integer_at(res, i, 8));
    n.lease_until = integer_at(res, i, 9);
    out.nodes.push_back(std::move(n));
  }
  return std::nullopt;
}

std::optional<pg::failure> shard_leases::renew(const held_shards& held,
                                               std::chrono::milliseconds lease,
                                               held_shards& kept, unix_ms& until) {
  kept.clear();
  if (held.empty())
    return std::nullopt;
  auto [shard, epoch] = arrays_of(held);
  // Rows locked in shard order, as the store's fence locks them: two
  // statements that lock several rows in different orders can deadlock.
  auto out = conn_.exec(std::string{"UPDATE shards SET lease_until = "} + server_now
                          + " + $2 WHERE shard IN (SELECT shard FROM shards WHERE owner = $1 AND "
                            "(shard, epoch) IN (SELECT * FROM unnest($3::integer[], "
                            "$4::bigint[])) ORDER BY shard FOR UPDATE) "
                            "RETURNING shard, epoch, lease_until",
                        {node_id_, std::to_string(lease.count()), shard, epoch});
  if (out.error)
    return out.error;
  read_held(out.res.get(), kept, until);
  return std::nullopt;
}

std::optional<pg::failure> shard_leases::take(const std::vector<int>& wanted,
                                              std::chrono::milliseconds lease,
                                              held_shards& got, unix_ms& until,
                                              bool* from_the_dead) {
  got.clear();
  if (from_the_dead)
    *from_the_dead = false;
  if (wanted.empty())
    return std::nullopt;
  auto now = std::string{server_now};
  // The rows as they were, locked, then taken: RETURNING shows new values
  // only, and whose each shard was decides what the taker must assume.
  auto out = conn_.exec("WITH before AS (SELECT shard, owner FROM shards WHERE shard = "
                        "ANY($3::integer[]) AND (owner = '' OR owner = $1 OR lease_until < "
                          + now + ") ORDER BY shard FOR UPDATE) UPDATE shards s SET owner = $1, epoch = s.epoch "
                                  "+ 1, lease_until = "
                          + now + " + $2, moved_at = " + now
                          + " FROM before WHERE s.shard = before.shard RETURNING s.shard, "
                            "s.epoch, s.lease_until, before.owner NOT IN ('', $1)",
                        {node_id_, std::to_string(lease.count()), array_of(wanted)});
  if (out.error)
    return out.error;
  auto* res = out.res.get();
  read_held(res, got, until);
  for (int i = 0; i < PQntuples(res); ++i)
    if (from_the_dead && text_at(res, i, 3) == "t")
      *from_the_dead = true;
  return std::nullopt;
}

std::optional<pg::failure> shard_leases::release(const held_shards& held) {
  if (held.empty())
    return std::nullopt;
  auto [shard, epoch] = arrays_of(held);
  auto out = conn_.exec(std::string{"UPDATE shards SET owner = '', lease_until = 0, moved_at = "}
                          + server_now
                          + " WHERE shard IN (SELECT shard FROM shards WHERE owner = $1 AND "
                            "(shard, epoch) IN (SELECT * FROM unnest($2::integer[], "
                            "$3::bigint[])) ORDER BY shard FOR UPDATE)",
                        {node_id_, shard, epoch});
  return out.error;
}

std::optional<pg::failure> shard_leases::heartbeat(const node_report& report, bool* clash) {
  if (clash)
    *clash = false;
  auto now = std::string{server_now};
  std::vector<std::string> params{node_id_,       incarnation_,
                                  report.state,   report.version,
                                  std::to_string(report.meetings),
                                  std::to_string(report.commands_per_s)};
  std::string sql = "INSERT INTO nodes (node, incarnation, state, version, meetings, "
                    "commands_per_s, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, "
                    + now + ", " + now
                    + ") ON CONFLICT (node) DO UPDATE SET incarnation = excluded.incarnation, "
                      "state = excluded.state, version = excluded.version, meetings = "
                      "excluded.meetings, commands_per_s = excluded.commands_per_s, "
                      "heartbeat_at = excluded.heartbeat_at";
  if (claimed_row_)
    sql += " WHERE nodes.incarnation = $2";
  else
    sql += ", started_at = excluded.started_at";
  auto out = conn_.exec(sql + " RETURNING node", params);
  if (out.error)
    return out.error;
  if (PQntuples(out.res.get()) == 0) {
    if (clash)
      *clash = true;
    return std::nullopt;
  }
  claimed_row_ = true;
  return std::nullopt;
}

} // namespace meetingd
