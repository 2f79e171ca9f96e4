// The schema text and the migration runner (see schema.hpp).
//
// Changing the schema: append a migration; never edit one that has shipped,
// since databases in the field are already past it. Views can be dropped and
// recreated by a later migration when the tables under them change.
#include "persistence/schema.hpp"

#include "config/log.hpp"

#include <sqlite3.h>

namespace meetingd::schema {

namespace {

// Version 1: the base tables and the indexes the node queries with.
//
// Enum and flag CHECKs are written `x = 'a' OR x = 'b'`, not `x IN (...)`:
// SQLite evaluates an IN list of three or more constants with a temporary
// b-tree built on every INSERT, which costs more than the insert itself.
//
// Participants and invitations are WITHOUT ROWID tables keyed by
// (meeting, user): a meeting's rows sit together on disk, so loading and
// deleting a meeting touch few pages. Their foreign keys are deferred: a
// changeset may write a participant before its meeting row, and the check
// happens at COMMIT.
const char* v1_tables = R"sql(
CREATE TABLE node_meta (
  key        TEXT PRIMARY KEY NOT NULL,  -- 'clean_shutdown', ...
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE meetings (
  id                TEXT PRIMARY KEY NOT NULL,
  title             TEXT NOT NULL DEFAULT '',
  creator           TEXT NOT NULL DEFAULT '',
  channel_id        TEXT NOT NULL DEFAULT '',
  channel_key       TEXT NOT NULL DEFAULT '',  -- secret: signs join tokens
  channel_nonce     TEXT NOT NULL DEFAULT '',
  channel_timestamp INTEGER NOT NULL DEFAULT 0, -- unix seconds, as CreateChannel answered
  token_scheme      TEXT NOT NULL DEFAULT 'channel' CHECK (token_scheme = 'channel' OR token_scheme = 'appkey'),
  status            TEXT NOT NULL DEFAULT 'active' CHECK (status = 'active' OR status = 'ended'),
  end_reason        TEXT NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL DEFAULT 0,
  expires_at        INTEGER NOT NULL DEFAULT 0,  -- the channel's end of life
  ended_at          INTEGER NOT NULL DEFAULT 0,
  idle_deadline     INTEGER NOT NULL DEFAULT 0,  -- ends the meeting if still empty then
  expiry_warn_at    INTEGER NOT NULL DEFAULT 0,  -- warns participants of the channel's end
  locked            INTEGER NOT NULL DEFAULT 0 CHECK (locked = 0 OR locked = 1),
  invite_policy     TEXT NOT NULL DEFAULT 'anyone' CHECK (invite_policy = 'anyone' OR invite_policy = 'hosts'),
  max_participants  INTEGER NOT NULL DEFAULT 0,
  channel_deleted   INTEGER NOT NULL DEFAULT 0 CHECK (channel_deleted = 0 OR channel_deleted = 1),
  next_order        INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
-- Recovery loads live meetings; pruning and recovery look at ended ones by age.
CREATE INDEX meetings_live ON meetings (status, channel_deleted);
CREATE INDEX meetings_ended_at ON meetings (ended_at) WHERE status = 'ended';

CREATE TABLE participants (
  meeting          TEXT NOT NULL
                   REFERENCES meetings (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  user             TEXT NOT NULL,
  rtc_user         TEXT NOT NULL DEFAULT '',
  role             TEXT NOT NULL DEFAULT 'member' CHECK (role = 'host' OR role = 'cohost' OR role = 'member'),
  status           TEXT NOT NULL DEFAULT 'joined' CHECK (status = 'joined' OR status = 'left' OR status = 'kicked'),
  join_order       INTEGER NOT NULL DEFAULT 0,  -- first join; decides host succession
  joined_at        INTEGER NOT NULL DEFAULT 0,
  left_at          INTEGER NOT NULL DEFAULT 0,
  left_reason      TEXT NOT NULL DEFAULT '',
  kicked_by        TEXT NOT NULL DEFAULT '',
  audio_muted      INTEGER NOT NULL DEFAULT 0 CHECK (audio_muted = 0 OR audio_muted = 1),
  video_muted      INTEGER NOT NULL DEFAULT 0 CHECK (video_muted = 0 OR video_muted = 1),
  online           INTEGER NOT NULL DEFAULT 1 CHECK (online = 0 OR online = 1),
  network_lost     INTEGER NOT NULL DEFAULT 0 CHECK (network_lost = 0 OR network_lost = 1),
  grace_deadline   INTEGER NOT NULL DEFAULT 0,  -- removal if still offline then
  session          TEXT NOT NULL DEFAULT '',
  token_expires_at INTEGER NOT NULL DEFAULT 0,
  token_warn_at    INTEGER NOT NULL DEFAULT 0,  -- event.token_expiring due
  PRIMARY KEY (meeting, user)
) WITHOUT ROWID;
CREATE INDEX participants_joined_by_user ON participants (user) WHERE status = 'joined';

CREATE TABLE invitations (
  meeting       TEXT NOT NULL
                REFERENCES meetings (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  invitee       TEXT NOT NULL,
  inviter       TEXT NOT NULL DEFAULT '',
  status        TEXT NOT NULL DEFAULT 'ringing'
                CHECK (status = 'ringing' OR status = 'accepted' OR status = 'declined'
                       OR status = 'canceled' OR status = 'timed_out'),
  created_at    INTEGER NOT NULL DEFAULT 0,
  ring_deadline INTEGER NOT NULL DEFAULT 0,
  answered_at   INTEGER NOT NULL DEFAULT 0,
  session       TEXT NOT NULL DEFAULT '',
  delivered     INTEGER NOT NULL DEFAULT 0 CHECK (delivered = 0 OR delivered = 1),
  PRIMARY KEY (meeting, invitee)
) WITHOUT ROWID;
CREATE INDEX invitations_ringing_by_invitee ON invitations (invitee) WHERE status = 'ringing';

CREATE TABLE users (
  id            TEXT PRIMARY KEY NOT NULL,
  display_name  TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL DEFAULT '',  -- secret; empty: ticket-only user
  created_at    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE devices (
  client       TEXT PRIMARY KEY NOT NULL,  -- MQTT client id
  user         TEXT NOT NULL,
  bound_at     INTEGER NOT NULL DEFAULT 0,
  last_seq     INTEGER NOT NULL DEFAULT 0,  -- last event seq sent; never lowered
  online       INTEGER NOT NULL DEFAULT 1 CHECK (online = 0 OR online = 1),
  last_seen_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices (user);

-- Replies already sent, for idempotent replay of repeated request ids
-- (docs/protocol.md §4). Written in the same transaction as the change a reply
-- reports. `reply` may carry join credentials: no view shows it.
CREATE TABLE request_log (
  client TEXT NOT NULL,
  id     TEXT NOT NULL,
  reply  TEXT NOT NULL,
  at     INTEGER NOT NULL,
  PRIMARY KEY (client, id)
) WITHOUT ROWID;
CREATE INDEX request_log_at ON request_log (at);
)sql";

/// ISO-8601 UTC text of a unix-ms column, NULL for 0.
std::string iso(const std::string& column) {
  return "CASE WHEN " + column + " > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', "
         + column + " / 1000.0, 'unixepoch') END";
}

// Now in unix milliseconds (SQLite 3.40 has no 'subsec' modifier).
const char* now_ms = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

// Version 2: the operator views.
std::string v2_views() {
  std::string s;
  s += R"sql(
CREATE VIEW active_meetings AS
SELECT m.id, m.title,
       (SELECT p.user FROM participants p
         WHERE p.meeting = m.id AND p.role = 'host'
         ORDER BY p.status = 'joined' DESC, p.join_order LIMIT 1) AS host,
       m.creator,
       (SELECT count(*) FROM participants p
         WHERE p.meeting = m.id AND p.status = 'joined') AS joined,
       (SELECT count(*) FROM invitations i
         WHERE i.meeting = m.id AND i.status = 'ringing') AS ringing,
       m.locked, m.invite_policy, m.max_participants, m.token_scheme, m.channel_id,
)sql";
  s += "       " + iso("m.created_at") + " AS created_at,\n";
  s += "       " + iso("m.expires_at") + " AS expires_at,\n";
  s += "       " + iso("m.idle_deadline") + " AS idle_deadline\n";
  s += "FROM meetings m WHERE m.status = 'active' ORDER BY m.created_at;\n";

  s += R"sql(
CREATE VIEW ended_meetings AS
SELECT m.id, m.title, m.creator, m.end_reason,
)sql";
  s += "       " + iso("m.created_at") + " AS created_at,\n";
  s += "       " + iso("m.ended_at") + " AS ended_at,\n";
  s += R"sql(       m.channel_id, m.channel_deleted,
       (SELECT count(*) FROM participants p WHERE p.meeting = m.id) AS participants
FROM meetings m WHERE m.status = 'ended' ORDER BY m.ended_at DESC;
)sql";

  s += R"sql(
CREATE VIEW meeting_participants AS
SELECT p.meeting, p.user, p.role, p.status AS state, m.status AS meeting_status,
       p.online, p.audio_muted, p.video_muted, p.network_lost,
)sql";
  s += "       " + iso("p.joined_at") + " AS joined_at,\n";
  s += "       " + iso("p.left_at") + " AS left_at,\n";
  s += "       p.left_reason, p.kicked_by,\n";
  s += "       " + iso("p.grace_deadline") + " AS grace_deadline,\n";
  s += "       " + iso("p.token_expires_at") + " AS token_expires_at\n";
  s += R"sql(FROM participants p JOIN meetings m ON m.id = p.meeting
ORDER BY p.meeting, p.join_order;
)sql";

  s += R"sql(
CREATE VIEW ringing_invitations AS
SELECT i.meeting, i.invitee, i.inviter,
)sql";
  s += "       " + iso("i.created_at") + " AS created_at,\n";
  s += "       " + iso("i.ring_deadline") + " AS rings_until,\n";
  s += "       ROUND((i.ring_deadline - " + std::string{now_ms}
       + ") / 1000.0, 1) AS rings_in_s,\n";
  s += R"sql(       i.delivered
FROM invitations i JOIN meetings m ON m.id = i.meeting
WHERE i.status = 'ringing' AND m.status = 'active'
ORDER BY i.ring_deadline;
)sql";

  s += R"sql(
CREATE VIEW online_devices AS
SELECT d.client, d.user,
)sql";
  s += "       " + iso("d.last_seen_at") + " AS last_seen_at,\n";
  s += "       " + iso("d.bound_at") + " AS bound_at,\n";
  s += "       d.last_seq\nFROM devices d WHERE d.online = 1 ORDER BY d.user, d.client;\n";

  // One row per deadline the node has armed, soonest first.
  s += R"sql(
CREATE VIEW pending_timers AS
SELECT meeting, kind, user,
)sql";
  s += "       " + iso("due") + " AS due_at,\n";
  s += "       ROUND((due - " + std::string{now_ms} + ") / 1000.0, 1) AS due_in_s\n";
  s += R"sql(FROM (
  SELECT id AS meeting, 'channel_expiry' AS kind, NULL AS user, expires_at AS due
    FROM meetings WHERE status = 'active' AND expires_at > 0
  UNION ALL
  SELECT id, 'expiry_warning', NULL, expiry_warn_at
    FROM meetings WHERE status = 'active' AND expiry_warn_at > 0
  UNION ALL
  SELECT id, 'idle', NULL, idle_deadline
    FROM meetings WHERE status = 'active' AND idle_deadline > 0
  UNION ALL
  SELECT i.meeting, 'ring', i.invitee, i.ring_deadline
    FROM invitations i JOIN meetings m ON m.id = i.meeting
   WHERE m.status = 'active' AND i.status = 'ringing' AND i.ring_deadline > 0
  UNION ALL
  SELECT p.meeting, 'presence_grace', p.user, p.grace_deadline
    FROM participants p JOIN meetings m ON m.id = p.meeting
   WHERE m.status = 'active' AND p.status = 'joined' AND p.grace_deadline > 0
  UNION ALL
  SELECT p.meeting, 'token_warning', p.user, p.token_warn_at
    FROM participants p JOIN meetings m ON m.id = p.meeting
   WHERE m.status = 'active' AND p.status = 'joined' AND p.token_warn_at > 0
)
ORDER BY due;
)sql";
  return s;
}

// Version 3: the meeting row names its last host (an ended meeting's
// participants are not loaded at recovery, but its host is still shown).
const char* v3_meeting_host = R"sql(
ALTER TABLE meetings ADD COLUMN host TEXT NOT NULL DEFAULT '';
UPDATE meetings SET host = coalesce(
  (SELECT p.user FROM participants p WHERE p.meeting = meetings.id AND p.role = 'host'
    ORDER BY p.status = 'joined' DESC, p.join_order LIMIT 1), creator);
)sql";

// Version 4: what the login rules must remember across a restart
// (docs/security.md, "Logins"): failed logins per account, and users removed
// recently enough that an old login ticket could bring them back; with a
// readable view of each for sqlite3.
std::string v4_login_guards() {
  std::string s = R"sql(
CREATE TABLE login_failures (
  account        TEXT PRIMARY KEY NOT NULL,  -- the user id that was tried
  failures       INTEGER NOT NULL DEFAULT 0, -- since the last successful login
  last_failed_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE removed_users (
  user       TEXT PRIMARY KEY NOT NULL,
  removed_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE VIEW throttled_logins AS
SELECT account, failures,
)sql";
  s += "       " + iso("last_failed_at") + " AS last_failed_at\n";
  s += "FROM login_failures ORDER BY last_failed_at DESC;\n";
  s += "CREATE VIEW recently_removed_users AS\nSELECT user,\n";
  s += "       " + iso("removed_at") + " AS removed_at\n";
  s += "FROM removed_users ORDER BY removed_at DESC;\n";
  return s;
}

// Version 5: webhooks to the application's backend (docs/protocol.md §15)
// and call records.
//
// The meeting numbers its webhook events (next_event); a participant keeps
// its first join and its time in the call over the stints that ended
// (in_call_ms). Rows written before this version get an approximation: the
// first join is taken to be the last one (joined_at), and the time in the
// call is that last stint alone (left_at - joined_at of a participant no
// longer joined); earlier stints of a participant who left and rejoined
// were never recorded.
//
// `webhook_outbox` holds every event for every endpoint from the commit of
// the change it reports until it is delivered or given up, and then until
// pruning (store::prune, --ended-retention). It has no foreign key to its
// meeting: a pending event outlives the meeting's rows. `body` is the exact
// JSON that is sent; only webhook_failures shows it, for an operator to hand
// an event given up to the backend by other means.
//
// A rowid table, unlike the meeting tables: its rows are written in commit
// order and settled soon after, so they go to the end of the table and a
// commit touches few pages. Keyed by (endpoint, meeting, seq) as a WITHOUT
// ROWID table, each event landed on a random page (meeting ids are random)
// with its body, and its settling dirtied that page again: commits grew
// from 15 to 56 pages and the command p99 fourfold (docs/benchmarks.md,
// "Webhooks").
std::string v5_webhooks() {
  std::string s = R"sql(
ALTER TABLE meetings ADD COLUMN next_event INTEGER NOT NULL DEFAULT 1;
ALTER TABLE participants ADD COLUMN first_joined_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN in_call_ms INTEGER NOT NULL DEFAULT 0;
UPDATE participants SET first_joined_at = joined_at,
  in_call_ms = CASE WHEN status <> 'joined' AND left_at > joined_at
                    THEN left_at - joined_at ELSE 0 END;

CREATE TABLE webhook_outbox (
  endpoint   TEXT NOT NULL,               -- the URL, as --webhook-url names it
  meeting    TEXT NOT NULL,
  seq        INTEGER NOT NULL,            -- the meeting's event number, from 1
  id         TEXT NOT NULL DEFAULT '',    -- the event id: '<meeting>.<seq>'
  type       TEXT NOT NULL DEFAULT '',    -- 'participant.joined', ...
  at         INTEGER NOT NULL DEFAULT 0,  -- when it happened
  body       TEXT NOT NULL DEFAULT '',    -- the JSON sent, byte for byte
  status     TEXT NOT NULL DEFAULT 'pending'
             CHECK (status = 'pending' OR status = 'delivered' OR status = 'given_up'),
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',    -- of the last failed attempt
  settled_at INTEGER NOT NULL DEFAULT 0,  -- delivered or given up
  UNIQUE (endpoint, meeting, seq)
);
-- What is still to send, in the order it is sent; settled events by age, to prune.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (at, meeting, seq, endpoint)
  WHERE status = 'pending';
CREATE INDEX webhook_outbox_settled ON webhook_outbox (settled_at) WHERE status <> 'pending';
)sql";

  // One row per ended meeting and participant who ever joined it.
  s += "\nCREATE VIEW call_records AS\nSELECT p.meeting, p.user,\n";
  s += "       " + iso("p.first_joined_at") + " AS joined_at,\n";
  s += "       " + iso("p.left_at") + " AS left_at,\n";
  s += R"sql(       p.in_call_ms / 1000 AS seconds,
       MAX(0, m.ended_at - m.created_at) / 1000 AS meeting_duration_s,
       m.end_reason,
)sql";
  s += "       " + iso("m.ended_at") + " AS ended_at\n";
  s += R"sql(FROM participants p JOIN meetings m ON m.id = p.meeting
WHERE m.status = 'ended' AND p.first_joined_at > 0
ORDER BY m.ended_at, p.meeting, p.join_order;
)sql";

  s += "\nCREATE VIEW webhook_backlog AS\nSELECT w.endpoint, w.meeting, w.seq, w.id, w.type,\n";
  s += "       " + iso("w.at") + " AS at,\n";
  s += "       ROUND((" + std::string{now_ms} + " - w.at) / 1000.0, 1) AS age_s\n";
  s += "FROM webhook_outbox w WHERE w.status = 'pending' ORDER BY w.at, w.meeting, w.seq;\n";

  s += "\nCREATE VIEW webhook_failures AS\nSELECT w.endpoint, w.meeting, w.seq, w.id, w.type,\n";
  s += "       " + iso("w.at") + " AS at,\n";
  s += "       w.attempts, w.last_error,\n";
  s += "       " + iso("w.settled_at") + " AS given_up_at, w.body\n";
  s += "FROM webhook_outbox w WHERE w.status = 'given_up'\n"
       "ORDER BY w.settled_at DESC, w.meeting, w.seq;\n";
  return s;
}

std::vector<migration> make_migrations() {
  return {
    {1, "tables and indexes", v1_tables},
    {2, "operator views", v2_views()},
    {3, "the meeting's last host", v3_meeting_host},
    {4, "failed logins and removed users", v4_login_guards()},
    {5, "webhook outbox and call records", v5_webhooks()},
  };
}

bool exec(sqlite3* db, const std::string& sql, std::string* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) == SQLITE_OK)
    return true;
  if (error)
    *error = msg ? msg : sqlite3_errmsg(db);
  sqlite3_free(msg);
  return false;
}

} // namespace

const std::vector<migration>& migrations() {
  static const std::vector<migration> all = make_migrations();
  return all;
}

int latest_version() {
  return migrations().back().version;
}

int current_version(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr)
      != SQLITE_OK)
    return -1;
  int result = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    result = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return result;
}

std::optional<std::string>
migrate(sqlite3* db, const std::vector<migration>& steps) {
  int version = current_version(db);
  if (version < 0)
    return std::string{"cannot read the schema version (PRAGMA user_version): "}
           + sqlite3_errmsg(db);
  int latest = steps.empty() ? 0 : steps.back().version;
  if (version > latest)
    return "the database has schema version " + std::to_string(version)
           + ", newer than this meetingd knows (" + std::to_string(latest)
           + "): run the meetingd that wrote it or a newer one, or restore a"
             " backup made by this version";
  for (auto& step : steps) {
    if (step.version <= version)
      continue;
    std::string error;
    if (!exec(db, "BEGIN IMMEDIATE", &error))
      return "cannot start migration to schema version "
             + std::to_string(step.version) + ": " + error;
    if (!exec(db, step.sql, &error)
        || !exec(db, "PRAGMA user_version = " + std::to_string(step.version),
                 &error)
        || !exec(db, "COMMIT", &error)) {
      exec(db, "ROLLBACK", nullptr);
      return "migration to schema version " + std::to_string(step.version)
             + " (" + step.description + ") failed, the database stays at"
             + " version " + std::to_string(version) + ": " + error;
    }
    MD_LOG_INFO("store.migrated", log::kv("from", version),
                log::kv("to", step.version),
                log::kv("what", step.description));
    version = step.version;
  }
  return std::nullopt;
}

} // namespace meetingd::schema
