// How the state's records map to table rows, once for both SQL stores
// (sqlite_store.*, pg_store.*): the column lists, the statement each change
// runs and the order in which its values are bound, and how a row is read
// back. The two stores differ only in their driver (binder, reader) and in
// a few words of dialect (placeholders, MAX vs GREATEST), so a new column is
// added here once and both stores write and read it.
//
// A binder has text(std::string), text(const char*), integer(int64) and
// flag(bool); a reader has text(), view(), integer(), flag() and
// enumeration(parse, column), each taking the next column from the left.
#pragma once

#include "actors/core/changes.hpp"
#include "actors/core/enums.hpp"

#include <map>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace meetingd::rows {

enum class dialect { sqlite, postgresql };

// Column lists: the order in which changes bind and loads read. `"user"` is
// quoted: it is a reserved word in PostgreSQL (SQLite takes it either way).
inline const std::vector<const char*> meeting_cols{
  "id",           "title",          "creator",       "channel_id",
  "channel_key",  "channel_nonce",  "channel_timestamp", "token_scheme",
  "status",       "end_reason",     "created_at",    "expires_at",
  "ended_at",     "idle_deadline",  "expiry_warn_at", "locked",
  "invite_policy", "max_participants", "channel_deleted", "next_order",
  "host",         "next_event"};
inline const std::vector<const char*> participant_cols{
  "meeting",     "\"user\"",    "rtc_user",     "role",
  "status",      "join_order",  "joined_at",    "left_at",
  "left_reason", "kicked_by",   "audio_muted",  "video_muted",
  "online",      "network_lost", "grace_deadline", "session",
  "token_expires_at", "token_warn_at", "first_joined_at", "in_call_ms"};
inline const std::vector<const char*> invitation_cols{
  "meeting",    "invitee",       "inviter",     "status",  "created_at",
  "ring_deadline", "answered_at", "session",    "delivered"};
inline const std::vector<const char*> user_cols{"id", "display_name", "password_hash",
                                                "created_at"};
inline const std::vector<const char*> device_cols{
  "client", "\"user\"", "bound_at", "last_seq", "online", "last_seen_at"};
inline const std::vector<const char*> request_cols{"client", "id", "reply", "at"};
inline const std::vector<const char*> login_failure_cols{"account", "failures",
                                                         "last_failed_at"};
inline const std::vector<const char*> removed_user_cols{"\"user\"", "removed_at"};
inline const std::vector<const char*> webhook_cols{
  "endpoint", "meeting", "seq",      "id",         "type",      "at",
  "body",     "status",  "attempts", "last_error", "settled_at"};

/// The statements a change runs, by what they do.
enum statement : int {
  put_meeting,
  put_participant,
  put_invitation,
  delete_meeting_participants,
  delete_meeting_invitations,
  delete_meeting,
  put_user,
  delete_user,
  put_device,
  delete_device,
  put_device_seq,
  put_request,
  delete_requests_of,
  put_login_failures,
  delete_login_failures,
  put_removed_user,
  delete_removed_user,
  put_webhook,
  settle_webhook,
  statement_count,
};

/// What `which` is called in logs and as a prepared statement ("put_meeting").
const char* name_of(statement which);

/// The SQL of `which` in `d`, with numbered placeholders bound left to right
/// in the order `write` below binds them.
std::string statement_sql(statement which, dialect d);

/// "a, b, c" (each prefixed with `prefix`, e.g. "m.").
std::string joined(const std::vector<const char*>& cols, const char* prefix = "");

/// Runs the statements of one change: `run(statement, bind)` must bind with
/// `bind(binder&)`, execute, and return its driver's result; `ok` is the
/// driver's success value. A delete of a meeting runs three statements and
/// stops at the first failure; it leaves the meeting's webhook events in the
/// outbox (a pending one is still to be sent; settled ones are pruned by
/// their own age, store::prune).
template <class Run, class Result>
Result write(const any_change& change, Run&& run, Result ok) {
  return std::visit(
    [&](const auto& c) -> Result {
      using T = std::decay_t<decltype(c)>;
      if constexpr (std::is_same_v<T, change::put_meeting>) {
        auto& m = c.row;
        return run(put_meeting, [&](auto& b) {
          b.text(m.id).text(m.title).text(m.creator).text(m.channel.id);
          b.text(m.channel.key).text(m.channel.nonce);
          b.integer(m.channel.timestamp).text(to_string(m.scheme));
          b.text(to_string(m.status)).text(m.end_reason);
          b.integer(m.created_at).integer(m.expires_at).integer(m.ended_at);
          b.integer(m.idle_deadline).integer(m.expiry_warn_at).flag(m.locked);
          b.text(to_string(m.policy)).integer(m.max_participants);
          b.flag(m.channel_deleted).integer(m.next_order).text(m.host);
          b.integer(m.next_event);
        });
      } else if constexpr (std::is_same_v<T, change::put_participant>) {
        auto& p = c.row;
        return run(put_participant, [&](auto& b) {
          b.text(c.meeting).text(p.user).text(p.rtc_user);
          b.text(to_string(p.r)).text(to_string(p.status));
          b.integer(p.order).integer(p.joined_at).integer(p.left_at);
          b.text(p.left_reason).text(p.kicked_by).flag(p.audio_muted);
          b.flag(p.video_muted).flag(p.online).flag(p.network_lost);
          b.integer(p.grace_deadline).text(p.session);
          b.integer(p.token_expires_at).integer(p.token_warn_at);
          b.integer(p.first_joined_at).integer(p.in_call_ms);
        });
      } else if constexpr (std::is_same_v<T, change::put_invitation>) {
        auto& i = c.row;
        return run(put_invitation, [&](auto& b) {
          b.text(c.meeting).text(i.invitee).text(i.inviter);
          b.text(to_string(i.status)).integer(i.created_at);
          b.integer(i.ring_deadline).integer(i.answered_at).text(i.session);
          b.flag(i.delivered);
        });
      } else if constexpr (std::is_same_v<T, change::delete_meeting>) {
        auto key = [&](auto& b) { b.text(c.meeting); };
        Result r = run(delete_meeting_participants, key);
        if (r == ok)
          r = run(delete_meeting_invitations, key);
        if (r == ok)
          r = run(delete_meeting, key);
        return r;
      } else if constexpr (std::is_same_v<T, change::put_user>) {
        auto& u = c.row;
        return run(put_user, [&](auto& b) {
          b.text(u.id).text(u.display_name).text(u.password_hash);
          b.integer(u.created_at);
        });
      } else if constexpr (std::is_same_v<T, change::delete_user>) {
        return run(delete_user, [&](auto& b) { b.text(c.user); });
      } else if constexpr (std::is_same_v<T, change::put_device>) {
        auto& d = c.row;
        return run(put_device, [&](auto& b) {
          b.text(d.client).text(d.user).integer(d.bound_at);
          b.integer(static_cast<std::int64_t>(d.last_seq)).flag(d.online);
          b.integer(d.last_seen_at);
        });
      } else if constexpr (std::is_same_v<T, change::delete_device>) {
        return run(delete_device, [&](auto& b) { b.text(c.client); });
      } else if constexpr (std::is_same_v<T, change::put_device_seq>) {
        return run(put_device_seq, [&](auto& b) {
          b.text(c.client).integer(static_cast<std::int64_t>(c.last_seq));
        });
      } else if constexpr (std::is_same_v<T, change::put_request>) {
        auto& r = c.row;
        return run(put_request, [&](auto& b) {
          b.text(r.client).text(r.id).text(r.reply).integer(r.at);
        });
      } else if constexpr (std::is_same_v<T, change::delete_requests_of>) {
        return run(delete_requests_of, [&](auto& b) { b.text(c.client); });
      } else if constexpr (std::is_same_v<T, change::put_login_failures>) {
        auto& f = c.row;
        return run(put_login_failures, [&](auto& b) {
          b.text(f.account).integer(f.failures).integer(f.last_failed_at);
        });
      } else if constexpr (std::is_same_v<T, change::delete_login_failures>) {
        return run(delete_login_failures, [&](auto& b) { b.text(c.account); });
      } else if constexpr (std::is_same_v<T, change::put_removed_user>) {
        return run(put_removed_user, [&](auto& b) {
          b.text(c.row.user).integer(c.row.removed_at);
        });
      } else if constexpr (std::is_same_v<T, change::delete_removed_user>) {
        return run(delete_removed_user, [&](auto& b) { b.text(c.user); });
      } else if constexpr (std::is_same_v<T, change::put_webhook>) {
        auto& w = c.row;
        return run(put_webhook, [&](auto& b) {
          b.text(w.endpoint).text(w.meeting).integer(w.seq).text(w.id).text(w.type);
          b.integer(w.at).text(w.body).text(to_string(w.status)).integer(w.attempts);
          b.text(w.last_error).integer(w.settled_at);
        });
      } else {
        static_assert(std::is_same_v<T, change::settle_webhook>);
        auto& w = c.row;
        return run(settle_webhook, [&](auto& b) {
          b.text(w.endpoint).text(w.meeting).integer(w.seq);
          b.text(to_string(w.status)).integer(w.attempts).text(w.last_error);
          b.integer(w.settled_at);
        });
      }
    },
    change);
}

// -- reading rows back, in the order of the column lists ------------------------

/// An enum column's text read with its parse function (actors/core/enums.hpp);
/// a value no build writes (an edited row) notes `column = 'text'` in `*bad`
/// (the first only) and reads as the enum's first value.
template <class Enum>
Enum parse_column(std::string_view text, std::optional<Enum> (*parse)(std::string_view),
                  const char* column, std::string* bad) {
  if (auto x = parse(text))
    return *x;
  if (bad && bad->empty())
    *bad = std::string{column} + " = '" + std::string{text} + "'";
  return Enum{};
}

template <class Reader>
void read(Reader& r, meeting_record& m) {
  m.id = r.text();
  m.title = r.text();
  m.creator = r.text();
  m.channel.id = r.text();
  m.channel.key = r.text();
  m.channel.nonce = r.text();
  m.channel.timestamp = r.integer();
  m.scheme = r.enumeration(parse_token_scheme, "meetings.token_scheme");
  m.status = r.enumeration(parse_meeting_status, "meetings.status");
  m.end_reason = r.text();
  m.created_at = r.integer();
  m.expires_at = r.integer();
  m.ended_at = r.integer();
  m.idle_deadline = r.integer();
  m.expiry_warn_at = r.integer();
  m.locked = r.flag();
  m.policy = r.enumeration(parse_invite_policy, "meetings.invite_policy");
  m.max_participants = static_cast<int>(r.integer());
  m.channel_deleted = r.flag();
  m.next_order = r.integer();
  m.host = r.text();
  m.next_event = r.integer();
}

/// A participant row without its first column (the meeting, read by the
/// caller to find the meeting it belongs to).
template <class Reader>
void read(Reader& r, participant& p) {
  p.user = r.text();
  p.rtc_user = r.text();
  p.r = r.enumeration(parse_role, "participants.role");
  p.status = r.enumeration(parse_participant_status, "participants.status");
  p.order = r.integer();
  p.joined_at = r.integer();
  p.left_at = r.integer();
  p.left_reason = r.text();
  p.kicked_by = r.text();
  p.audio_muted = r.flag();
  p.video_muted = r.flag();
  p.online = r.flag();
  p.network_lost = r.flag();
  p.grace_deadline = r.integer();
  p.session = r.text();
  p.token_expires_at = r.integer();
  p.token_warn_at = r.integer();
  p.first_joined_at = r.integer();
  p.in_call_ms = r.integer();
}

/// An invitation row without its first column (the meeting).
template <class Reader>
void read(Reader& r, invitation& inv) {
  inv.invitee = r.text();
  inv.inviter = r.text();
  inv.status = r.enumeration(parse_invitation_status, "invitations.status");
  inv.created_at = r.integer();
  inv.ring_deadline = r.integer();
  inv.answered_at = r.integer();
  inv.session = r.text();
  inv.delivered = r.flag();
}

/// Reads a participant or invitation row into its meeting's map, keyed by
/// `key` (the user, the invitee). Rows come in key order, so each is placed
/// at the end.
template <class Row, class Reader>
void read_into(Reader& r, std::map<std::string, Row>& rows_by_key, std::string Row::*key) {
  Row row;
  read(r, row);
  auto k = row.*key;
  rows_by_key.emplace_hint(rows_by_key.end(), std::move(k), std::move(row));
}

template <class Reader>
void read(Reader& r, user_record& u) {
  u.id = r.text();
  u.display_name = r.text();
  u.password_hash = r.text();
  u.created_at = r.integer();
}

template <class Reader>
void read(Reader& r, device_record& d) {
  d.client = r.text();
  d.user = r.text();
  d.bound_at = r.integer();
  d.last_seq = static_cast<std::uint64_t>(r.integer());
  d.online = r.flag();
  d.last_seen_at = r.integer();
}

template <class Reader>
void read(Reader& r, login_failures_record& f) {
  f.account = r.text();
  f.failures = static_cast<int>(r.integer());
  f.last_failed_at = r.integer();
}

template <class Reader>
void read(Reader& r, removed_user_record& u) {
  u.user = r.text();
  u.removed_at = r.integer();
}

template <class Reader>
void read(Reader& r, request_record& q) {
  q.client = r.text();
  q.id = r.text();
  q.reply = r.text();
  q.at = r.integer();
}

/// An outbox row (webhook_cols).
template <class Reader>
void read(Reader& r, webhook_record& w) {
  w.endpoint = r.text();
  w.meeting = r.text();
  w.seq = r.integer();
  w.id = r.text();
  w.type = r.text();
  w.at = r.integer();
  w.body = r.text();
  w.status = r.enumeration(parse_webhook_status, "webhook_outbox.status");
  w.attempts = static_cast<int>(r.integer());
  w.last_error = r.text();
  w.settled_at = r.integer();
}

} // namespace meetingd::rows
