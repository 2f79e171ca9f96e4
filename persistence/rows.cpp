// The statements of both SQL stores (see rows.hpp).
#include "persistence/rows.hpp"
#include "persistence/shard_map.hpp"

#include <iterator>

#include <cstring>
#include <unordered_map>

namespace meetingd::rows {

namespace {

/// The n-th (1-based) placeholder: `?n` for SQLite, `$n` for PostgreSQL.
std::string placeholder(dialect d, std::size_t n) {
  return (d == dialect::sqlite ? "?" : "$") + std::to_string(n);
}

/// `INSERT INTO table (cols) VALUES (?1, ...)`.
std::string insert(dialect d, const char* table, const std::vector<const char*>& cols) {
  std::string sql = "INSERT INTO ";
  sql += table;
  sql += " (" + joined(cols) + ") VALUES (";
  for (std::size_t i = 0; i < cols.size(); ++i)
    sql += (i ? ", " : "") + placeholder(d, i + 1);
  return sql + ")";
}

/// `INSERT INTO table (cols) VALUES (?1, ...) ON CONFLICT (keys) DO UPDATE
/// SET col = excluded.col, ...` for every non-key column, unless `set` is
/// given for it. Both SQLite and PostgreSQL take this form.
std::string upsert(dialect d, const char* table, const std::vector<const char*>& cols,
                   std::vector<const char*> keys,
                   std::unordered_map<std::string, std::string> set = {}) {
  std::string sql = insert(d, table, cols);
  sql += " ON CONFLICT (" + joined(keys) + ") DO UPDATE SET ";
  bool first = true;
  for (auto col : cols) {
    bool key = false;
    for (auto k : keys)
      key = key || std::strcmp(k, col) == 0;
    if (key)
      continue;
    sql += first ? "" : ", ";
    first = false;
    sql += col;
    sql += " = ";
    auto i = set.find(col);
    sql += i != set.end() ? i->second : std::string{"excluded."} + col;
  }
  return sql;
}

/// `DELETE FROM table WHERE column = ?1`.
std::string delete_where(dialect d, const char* table, const char* column) {
  return std::string{"DELETE FROM "} + table + " WHERE " + column + " = " + placeholder(d, 1);
}

/// The larger of two values: SQLite's two-argument MAX is PostgreSQL's GREATEST.
std::string larger(dialect d, const std::string& a, const std::string& b) {
  return (d == dialect::sqlite ? "MAX(" : "GREATEST(") + a + ", " + b + ")";
}

} // namespace

std::string joined(const std::vector<const char*>& cols, const char* prefix) {
  std::string out;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    out += i ? ", " : "";
    out += prefix;
    out += cols[i];
  }
  return out;
}

const char* name_of(statement which) {
  // In the order of `statement`.
  static constexpr const char* names[] = {
    "put_meeting",        "put_participant",       "put_invitation",
    "delete_meeting_participants", "delete_meeting_invitations", "delete_meeting",
    "put_user",           "delete_user",           "put_device",
    "delete_device",      "put_device_seq",        "put_request",
    "delete_requests_of", "put_login_failures",    "delete_login_failures",
    "put_removed_user",   "delete_removed_user",   "put_webhook",
    "settle_webhook",
  };
  static_assert(std::size(names) == statement_count);
  auto i = static_cast<std::size_t>(which);
  return i < std::size(names) ? names[i] : "unknown";
}

std::string statement_sql(statement which, dialect d) {
  switch (which) {
    case put_meeting:
      return upsert(d, "meetings", meeting_cols, {"id"});
    case put_participant:
      return upsert(d, "participants", participant_cols, {"meeting", "\"user\""});
    case put_invitation:
      return upsert(d, "invitations", invitation_cols, {"meeting", "invitee"});
    case delete_meeting_participants:
      return delete_where(d, "participants", "meeting");
    case delete_meeting_invitations:
      return delete_where(d, "invitations", "meeting");
    case delete_meeting:
      return delete_where(d, "meetings", "id");
    case put_user:
      return upsert(d, "users", user_cols, {"id"});
    case delete_user:
      return delete_where(d, "users", "id");
    case put_device:
      // The event sequence of a device only ever grows (docs/protocol.md §2).
      return upsert(d, "devices", device_cols, {"client"},
                    {{"last_seq", larger(d, "devices.last_seq", "excluded.last_seq")}});
    case delete_device:
      return delete_where(d, "devices", "client");
    case put_device_seq:
      return "UPDATE devices SET last_seq = " + larger(d, "last_seq", placeholder(d, 2))
             + " WHERE client = " + placeholder(d, 1);
    case put_request:
      return upsert(d, "request_log", request_cols, {"client", "id"});
    case delete_requests_of:
      return delete_where(d, "request_log", "client");
    case put_login_failures:
      return upsert(d, "login_failures", login_failure_cols, {"account"});
    case delete_login_failures:
      return delete_where(d, "login_failures", "account");
    case put_removed_user:
      return upsert(d, "removed_users", removed_user_cols, {"\"user\""});
    case delete_removed_user:
      return delete_where(d, "removed_users", "\"user\"");
    case put_webhook:
      // An event is written once; a second put of the same key (a batch
      // applied again) leaves the row, and its delivery state, as it is.
      return insert(d, "webhook_outbox", webhook_cols)
             + " ON CONFLICT (endpoint, meeting, seq) DO NOTHING";
    case settle_webhook:
      return "UPDATE webhook_outbox SET status = " + placeholder(d, 4)
             + ", attempts = " + placeholder(d, 5) + ", last_error = " + placeholder(d, 6)
             + ", settled_at = " + placeholder(d, 7) + " WHERE endpoint = " + placeholder(d, 1)
             + " AND meeting = " + placeholder(d, 2) + " AND seq = " + placeholder(d, 3);
    case statement_count:
      break;
  }
  return {};
}

} // namespace meetingd::rows

namespace meetingd {

std::set<std::string> meetings_written(const changeset& cs) {
  std::set<std::string> out;
  for (auto& c : cs.changes) {
    if (auto* m = std::get_if<change::put_meeting>(&c))
      out.insert(m->row.id);
    else if (auto* p = std::get_if<change::put_participant>(&c))
      out.insert(p->meeting);
    else if (auto* i = std::get_if<change::put_invitation>(&c))
      out.insert(i->meeting);
    else if (auto* d = std::get_if<change::delete_meeting>(&c))
      out.insert(d->meeting);
    else if (auto* w = std::get_if<change::put_webhook>(&c))
      out.insert(w->row.meeting);
    else if (auto* s = std::get_if<change::settle_webhook>(&c))
      out.insert(s->row.meeting);
  }
  return out;
}

} // namespace meetingd
