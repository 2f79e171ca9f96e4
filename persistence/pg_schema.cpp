// The PostgreSQL schema text (see pg_schema.hpp). The migration runner is in
// pg_store.cpp, next to the connection it runs on.
#include "persistence/pg_schema.hpp"

namespace meetingd::pg_schema {

namespace {

// Version 1: the tables and indexes, as SQLite's schema has them at its
// version 4 (base tables, the meeting's last host, failed logins and removed
// users).
//
// Participants and invitations reference their meeting with deferred
// foreign keys: a changeset may write a participant before its meeting row,
// and the check happens at COMMIT.
const char* v1_tables = R"sql(
CREATE TABLE node_meta (
  key        text COLLATE "C" PRIMARY KEY,  -- 'clean_shutdown', ...
  value      text NOT NULL,
  updated_at bigint NOT NULL DEFAULT 0
);

CREATE TABLE meetings (
  id                text COLLATE "C" PRIMARY KEY,
  title             text NOT NULL DEFAULT '',
  creator           text NOT NULL DEFAULT '',
  channel_id        text NOT NULL DEFAULT '',
  channel_key       text NOT NULL DEFAULT '',  -- secret: signs join tokens
  channel_nonce     text NOT NULL DEFAULT '',
  channel_timestamp bigint NOT NULL DEFAULT 0, -- unix seconds, as CreateChannel answered
  token_scheme      text NOT NULL DEFAULT 'channel' CHECK (token_scheme IN ('channel', 'appkey')),
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
  end_reason        text NOT NULL DEFAULT '',
  created_at        bigint NOT NULL DEFAULT 0,
  expires_at        bigint NOT NULL DEFAULT 0,  -- the channel's end of life
  ended_at          bigint NOT NULL DEFAULT 0,
  idle_deadline     bigint NOT NULL DEFAULT 0,  -- ends the meeting if still empty then
  expiry_warn_at    bigint NOT NULL DEFAULT 0,  -- warns participants of the channel's end
  locked            boolean NOT NULL DEFAULT false,
  invite_policy     text NOT NULL DEFAULT 'anyone' CHECK (invite_policy IN ('anyone', 'hosts')),
  max_participants  integer NOT NULL DEFAULT 0,
  channel_deleted   boolean NOT NULL DEFAULT false,
  next_order        bigint NOT NULL DEFAULT 1,
  host              text NOT NULL DEFAULT ''
);
-- Recovery loads live meetings; pruning and recovery look at ended ones by age.
CREATE INDEX meetings_live ON meetings (status, channel_deleted);
CREATE INDEX meetings_ended_at ON meetings (ended_at) WHERE status = 'ended';

CREATE TABLE participants (
  meeting          text COLLATE "C" NOT NULL
                   REFERENCES meetings (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  "user"           text COLLATE "C" NOT NULL,
  rtc_user         text NOT NULL DEFAULT '',
  role             text NOT NULL DEFAULT 'member' CHECK (role IN ('host', 'cohost', 'member')),
  status           text NOT NULL DEFAULT 'joined' CHECK (status IN ('joined', 'left', 'kicked')),
  join_order       bigint NOT NULL DEFAULT 0,  -- first join; decides host succession
  joined_at        bigint NOT NULL DEFAULT 0,
  left_at          bigint NOT NULL DEFAULT 0,
  left_reason      text NOT NULL DEFAULT '',
  kicked_by        text NOT NULL DEFAULT '',
  audio_muted      boolean NOT NULL DEFAULT false,
  video_muted      boolean NOT NULL DEFAULT false,
  online           boolean NOT NULL DEFAULT true,
  network_lost     boolean NOT NULL DEFAULT false,
  grace_deadline   bigint NOT NULL DEFAULT 0,  -- removal if still offline then
  session          text NOT NULL DEFAULT '',
  token_expires_at bigint NOT NULL DEFAULT 0,
  token_warn_at    bigint NOT NULL DEFAULT 0,  -- event.token_expiring due
  PRIMARY KEY (meeting, "user")
);
CREATE INDEX participants_joined_by_user ON participants ("user") WHERE status = 'joined';

CREATE TABLE invitations (
  meeting       text COLLATE "C" NOT NULL
                REFERENCES meetings (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  invitee       text COLLATE "C" NOT NULL,
  inviter       text NOT NULL DEFAULT '',
  status        text NOT NULL DEFAULT 'ringing'
                CHECK (status IN ('ringing', 'accepted', 'declined', 'canceled', 'timed_out')),
  created_at    bigint NOT NULL DEFAULT 0,
  ring_deadline bigint NOT NULL DEFAULT 0,
  answered_at   bigint NOT NULL DEFAULT 0,
  session       text NOT NULL DEFAULT '',
  delivered     boolean NOT NULL DEFAULT false,
  PRIMARY KEY (meeting, invitee)
);
CREATE INDEX invitations_ringing_by_invitee ON invitations (invitee) WHERE status = 'ringing';

CREATE TABLE users (
  id            text COLLATE "C" PRIMARY KEY,
  display_name  text NOT NULL DEFAULT '',
  password_hash text NOT NULL DEFAULT '',  -- secret; empty: ticket-only user
  created_at    bigint NOT NULL DEFAULT 0
);

CREATE TABLE devices (
  client       text COLLATE "C" PRIMARY KEY,  -- MQTT client id
  "user"       text COLLATE "C" NOT NULL,
  bound_at     bigint NOT NULL DEFAULT 0,
  last_seq     bigint NOT NULL DEFAULT 0,  -- last event seq sent; never lowered
  online       boolean NOT NULL DEFAULT true,
  last_seen_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_user ON devices ("user");

-- Replies already sent, for idempotent replay of repeated request ids
-- (docs/protocol.md §4). Written in the same transaction as the change a reply
-- reports. `reply` may carry join credentials: no view shows it.
CREATE TABLE request_log (
  client text COLLATE "C" NOT NULL,
  id     text COLLATE "C" NOT NULL,
  reply  text NOT NULL,
  at     bigint NOT NULL,
  PRIMARY KEY (client, id)
);
CREATE INDEX request_log_at ON request_log (at);

CREATE TABLE login_failures (
  account        text COLLATE "C" PRIMARY KEY,  -- the user id that was tried
  failures       integer NOT NULL DEFAULT 0,    -- since the last successful login
  last_failed_at bigint NOT NULL DEFAULT 0
);

CREATE TABLE removed_users (
  "user"     text COLLATE "C" PRIMARY KEY,
  removed_at bigint NOT NULL DEFAULT 0
);
)sql";

/// A unix-ms column as a timestamptz, NULL for 0.
std::string ts(const std::string& column) {
  return "CASE WHEN " + column + " > 0 THEN to_timestamp(" + column + " / 1000.0) END";
}

/// Now in unix milliseconds.
const char* now_ms = "extract(epoch FROM clock_timestamp()) * 1000";

/// Seconds from now until a unix-ms column, to a tenth.
std::string seconds_until(const std::string& column) {
  return "round(((" + column + " - " + now_ms + ") / 1000.0)::numeric, 1)";
}

/// Seconds from a unix-ms column until now, to a tenth.
std::string seconds_since(const std::string& column) {
  return "round(((" + std::string{now_ms} + " - " + column + ") / 1000.0)::numeric, 1)";
}

// Version 2: the operator views, the same names and columns as SQLite's.
std::string v2_views() {
  std::string s = R"sql(
CREATE VIEW active_meetings AS
SELECT m.id, m.title,
       (SELECT p."user" FROM participants p
         WHERE p.meeting = m.id AND p.role = 'host'
         ORDER BY p.status = 'joined' DESC, p.join_order LIMIT 1) AS host,
       m.creator,
       (SELECT count(*) FROM participants p
         WHERE p.meeting = m.id AND p.status = 'joined') AS joined,
       (SELECT count(*) FROM invitations i
         WHERE i.meeting = m.id AND i.status = 'ringing') AS ringing,
       m.locked, m.invite_policy, m.max_participants, m.token_scheme, m.channel_id,
)sql";
  s += "       " + ts("m.created_at") + " AS created_at,\n";
  s += "       " + ts("m.expires_at") + " AS expires_at,\n";
  s += "       " + ts("m.idle_deadline") + " AS idle_deadline\n";
  s += "FROM meetings m WHERE m.status = 'active' ORDER BY m.created_at;\n";

  s += "\nCREATE VIEW ended_meetings AS\nSELECT m.id, m.title, m.creator, m.end_reason,\n";
  s += "       " + ts("m.created_at") + " AS created_at,\n";
  s += "       " + ts("m.ended_at") + " AS ended_at,\n";
  s += R"sql(       m.channel_id, m.channel_deleted,
       (SELECT count(*) FROM participants p WHERE p.meeting = m.id) AS participants
FROM meetings m WHERE m.status = 'ended' ORDER BY m.ended_at DESC;
)sql";

  s += R"sql(
CREATE VIEW meeting_participants AS
SELECT p.meeting, p."user", p.role, p.status AS state, m.status AS meeting_status,
       p.online, p.audio_muted, p.video_muted, p.network_lost,
)sql";
  s += "       " + ts("p.joined_at") + " AS joined_at,\n";
  s += "       " + ts("p.left_at") + " AS left_at,\n";
  s += "       p.left_reason, p.kicked_by,\n";
  s += "       " + ts("p.grace_deadline") + " AS grace_deadline,\n";
  s += "       " + ts("p.token_expires_at") + " AS token_expires_at\n";
  s += "FROM participants p JOIN meetings m ON m.id = p.meeting\n"
       "ORDER BY p.meeting, p.join_order;\n";

  s += "\nCREATE VIEW ringing_invitations AS\nSELECT i.meeting, i.invitee, i.inviter,\n";
  s += "       " + ts("i.created_at") + " AS created_at,\n";
  s += "       " + ts("i.ring_deadline") + " AS rings_until,\n";
  s += "       " + seconds_until("i.ring_deadline") + " AS rings_in_s,\n";
  s += R"sql(       i.delivered
FROM invitations i JOIN meetings m ON m.id = i.meeting
WHERE i.status = 'ringing' AND m.status = 'active'
ORDER BY i.ring_deadline;
)sql";

  s += "\nCREATE VIEW online_devices AS\nSELECT d.client, d.\"user\",\n";
  s += "       " + ts("d.last_seen_at") + " AS last_seen_at,\n";
  s += "       " + ts("d.bound_at") + " AS bound_at,\n";
  s += "       d.last_seq\nFROM devices d WHERE d.online ORDER BY d.\"user\", d.client;\n";

  // One row per deadline the node has armed, soonest first.
  s += "\nCREATE VIEW pending_timers AS\nSELECT meeting, kind, \"user\",\n";
  s += "       " + ts("due") + " AS due_at,\n";
  s += "       " + seconds_until("due") + " AS due_in_s\n";
  s += R"sql(FROM (
  SELECT id AS meeting, 'channel_expiry' AS kind, NULL::text AS "user", expires_at AS due
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
  SELECT p.meeting, 'presence_grace', p."user", p.grace_deadline
    FROM participants p JOIN meetings m ON m.id = p.meeting
   WHERE m.status = 'active' AND p.status = 'joined' AND p.grace_deadline > 0
  UNION ALL
  SELECT p.meeting, 'token_warning', p."user", p.token_warn_at
    FROM participants p JOIN meetings m ON m.id = p.meeting
   WHERE m.status = 'active' AND p.status = 'joined' AND p.token_warn_at > 0
) timers
ORDER BY due;
)sql";

  s += "\nCREATE VIEW throttled_logins AS\nSELECT account, failures,\n";
  s += "       " + ts("last_failed_at") + " AS last_failed_at\n";
  s += "FROM login_failures ORDER BY last_failed_at DESC;\n";
  s += "\nCREATE VIEW recently_removed_users AS\nSELECT \"user\",\n";
  s += "       " + ts("removed_at") + " AS removed_at\n";
  s += "FROM removed_users ORDER BY removed_at DESC;\n";
  return s;
}

// Version 3: several nodes (docs/cluster.md). A shard row holds its owner,
// lease and epoch: taking a shard raises the epoch, and every commit of a
// node checks the epochs of the shards it writes for, in the same
// transaction. `nodes` is what each node last said of itself (admin.nodes).
// The rows of `shards` are created by the first node, with --shards rows.
const char* v3_shards = R"sql(
CREATE TABLE shards (
  shard       integer PRIMARY KEY,
  owner       text COLLATE "C" NOT NULL DEFAULT '',  -- node id; '' nobody
  epoch       bigint NOT NULL DEFAULT 0,             -- raised by every take
  lease_until bigint NOT NULL DEFAULT 0,             -- unix ms, the server's clock
  moved_at    bigint NOT NULL DEFAULT 0              -- last change of owner
);

CREATE TABLE nodes (
  node           text COLLATE "C" PRIMARY KEY,
  incarnation    text NOT NULL DEFAULT '',   -- random per run: two runs of one id show
  state          text NOT NULL DEFAULT 'serving'
                 CHECK (state IN ('starting', 'serving', 'leaving', 'stopped')),
  version        text NOT NULL DEFAULT '',
  started_at     bigint NOT NULL DEFAULT 0,
  heartbeat_at   bigint NOT NULL DEFAULT 0,  -- the server's clock
  meetings       integer NOT NULL DEFAULT 0, -- meetings it serves
  commands_per_s double precision NOT NULL DEFAULT 0
);

CREATE VIEW shard_owners AS
SELECT s.owner AS node, count(*) AS shards, min(s.epoch) AS min_epoch, max(s.epoch) AS max_epoch,
       CASE WHEN min(s.lease_until) > 0 THEN to_timestamp(min(s.lease_until) / 1000.0) END
         AS first_lease_end
FROM shards s GROUP BY s.owner ORDER BY s.owner;
)sql";

// Version 4: webhooks to the application's backend (docs/protocol.md §15)
// and call records, as SQLite's version 5 (persistence/schema.cpp, which
// says what the backfill of older rows approximates), with the same views.
std::string v4_webhooks() {
  std::string s = R"sql(
ALTER TABLE meetings ADD COLUMN next_event bigint NOT NULL DEFAULT 1;
ALTER TABLE participants ADD COLUMN first_joined_at bigint NOT NULL DEFAULT 0,
                         ADD COLUMN in_call_ms bigint NOT NULL DEFAULT 0;
UPDATE participants SET first_joined_at = joined_at,
  in_call_ms = CASE WHEN status <> 'joined' AND left_at > joined_at
                    THEN left_at - joined_at ELSE 0 END;

CREATE TABLE webhook_outbox (
  endpoint   text COLLATE "C" NOT NULL,   -- the URL, as --webhook-url names it
  meeting    text COLLATE "C" NOT NULL,
  seq        bigint NOT NULL,             -- the meeting's event number, from 1
  id         text NOT NULL DEFAULT '',    -- the event id: '<meeting>.<seq>'
  type       text NOT NULL DEFAULT '',    -- 'participant.joined', ...
  at         bigint NOT NULL DEFAULT 0,   -- when it happened
  body       text NOT NULL DEFAULT '',    -- the JSON sent, byte for byte
  status     text NOT NULL DEFAULT 'pending'
             CHECK (status IN ('pending', 'delivered', 'given_up')),
  attempts   integer NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',    -- of the last failed attempt
  settled_at bigint NOT NULL DEFAULT 0,   -- delivered or given up
  PRIMARY KEY (endpoint, meeting, seq)
);
-- What is still to send, in the order it is sent; settled events by age, to prune.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (at, meeting, seq, endpoint)
  WHERE status = 'pending';
CREATE INDEX webhook_outbox_settled ON webhook_outbox (settled_at) WHERE status <> 'pending';
)sql";

  // One row per ended meeting and participant who ever joined it.
  s += "\nCREATE VIEW call_records AS\nSELECT p.meeting, p.\"user\",\n";
  s += "       " + ts("p.first_joined_at") + " AS joined_at,\n";
  s += "       " + ts("p.left_at") + " AS left_at,\n";
  s += R"sql(       p.in_call_ms / 1000 AS seconds,
       GREATEST(0, m.ended_at - m.created_at) / 1000 AS meeting_duration_s,
       m.end_reason,
)sql";
  s += "       " + ts("m.ended_at") + " AS ended_at\n";
  s += R"sql(FROM participants p JOIN meetings m ON m.id = p.meeting
WHERE m.status = 'ended' AND p.first_joined_at > 0
ORDER BY m.ended_at, p.meeting, p.join_order;
)sql";

  s += "\nCREATE VIEW webhook_backlog AS\nSELECT w.endpoint, w.meeting, w.seq, w.id, w.type,\n";
  s += "       " + ts("w.at") + " AS at,\n";
  s += "       " + seconds_since("w.at") + " AS age_s\n";
  s += "FROM webhook_outbox w WHERE w.status = 'pending' ORDER BY w.at, w.meeting, w.seq;\n";

  s += "\nCREATE VIEW webhook_failures AS\nSELECT w.endpoint, w.meeting, w.seq, w.id, w.type,\n";
  s += "       " + ts("w.at") + " AS at,\n";
  s += "       w.attempts, w.last_error,\n";
  s += "       " + ts("w.settled_at") + " AS given_up_at, w.body\n";
  s += "FROM webhook_outbox w WHERE w.status = 'given_up'\n"
       "ORDER BY w.settled_at DESC, w.meeting, w.seq;\n";
  return s;
}

std::vector<migration> make_migrations() {
  return {
    {1, "tables and indexes", v1_tables},
    {2, "operator views", v2_views()},
    {3, "shards and nodes", v3_shards},
    {4, "webhook outbox and call records", v4_webhooks()},
  };
}

} // namespace

const std::vector<migration>& migrations() {
  static const std::vector<migration> all = make_migrations();
  return all;
}

int latest_version() {
  return migrations().back().version;
}

} // namespace meetingd::pg_schema
