// The change feed between nodes (see change_feed.hpp).
#include "persistence/change_feed.hpp"

#include "config/log.hpp"
#include "persistence/rows.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdint>
#include <poll.h>

namespace meetingd::change_feed {

namespace {

/// Leaves room under PostgreSQL's 8000-byte limit on a payload.
constexpr std::size_t max_payload = 7800;

void escape_into(std::string& out, std::string_view x) {
  for (char c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

/// Binds a change's parameters into one line.
struct line_binder {
  std::string& out;
  void sep() {
    out += '\t';
  }
  line_binder& text(const std::string& x) {
    sep();
    escape_into(out, x);
    return *this;
  }
  line_binder& text(const char* x) {
    sep();
    escape_into(out, x);
    return *this;
  }
  line_binder& integer(std::int64_t x) {
    sep();
    out += std::to_string(x);
    return *this;
  }
  line_binder& flag(bool x) {
    sep();
    out += x ? '1' : '0';
    return *this;
  }
};

/// Reads the fields of one line, left to right.
struct line_reader {
  std::vector<std::string> fields;
  std::size_t next = 0;
  std::string* bad = nullptr;
  bool short_line = false;
  /// Fields from this one on may be missing (read as empty, 0): columns
  /// that a node of an older version, during a rolling upgrade, does not
  /// send yet.
  std::size_t optional_from = SIZE_MAX;

  std::string_view view() {
    if (next >= fields.size()) {
      short_line = short_line || next++ < optional_from;
      return {};
    }
    return fields[next++];
  }
  std::string text() {
    return std::string{view()};
  }
  std::int64_t integer() {
    auto v = view();
    std::int64_t x = 0;
    std::from_chars(v.data(), v.data() + v.size(), x);
    return x;
  }
  bool flag() {
    return view() == "1";
  }
  template <class Enum>
  Enum enumeration(std::optional<Enum> (*parse)(std::string_view), const char* column) {
    return rows::parse_column(view(), parse, column, bad);
  }
};

std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\t') {
      out.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      char n = line[++i];
      out.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n;
    } else {
      out.back() += c;
    }
  }
  return out;
}

/// Whether other nodes keep what `change` writes: not failed logins (counted
/// per node), nor webhook events (sent by the node serving the meeting,
/// which reads them from the outbox when it adopts the meeting's shard).
bool shared(const any_change& change) {
  return !std::holds_alternative<change::put_login_failures>(change)
         && !std::holds_alternative<change::delete_login_failures>(change)
         && !std::holds_alternative<change::put_webhook>(change)
         && !std::holds_alternative<change::settle_webhook>(change);
}

/// The columns added to a table after the change feed first carried it
/// (schema version 5 on SQLite, 4 on PostgreSQL: webhooks and call
/// records), which a line of an older node lacks.
constexpr std::size_t meeting_cols_added = 1;     // next_event
constexpr std::size_t participant_cols_added = 2; // first_joined_at, in_call_ms

std::optional<any_change> change_of(rows::statement which, line_reader& r) {
  using namespace rows;
  // The first field is the statement's name; its columns follow.
  auto added_last = [&](const std::vector<const char*>& cols, std::size_t added) {
    r.optional_from = 1 + cols.size() - added;
  };
  switch (which) {
    case put_meeting: {
      change::put_meeting c;
      added_last(meeting_cols, meeting_cols_added);
      read(r, c.row);
      if (r.next > r.fields.size()) // not sent (an older node): the column's default
        c.row.next_event = meeting_record{}.next_event;
      return c;
    }
    case put_participant: {
      change::put_participant c;
      added_last(participant_cols, participant_cols_added);
      c.meeting = r.text();
      read(r, c.row);
      return c;
    }
    case put_invitation: {
      change::put_invitation c;
      c.meeting = r.text();
      read(r, c.row);
      return c;
    }
    case delete_meeting:
      return change::delete_meeting{r.text()};
    case put_user: {
      change::put_user c;
      read(r, c.row);
      return c;
    }
    case delete_user:
      return change::delete_user{r.text()};
    case put_device: {
      change::put_device c;
      read(r, c.row);
      return c;
    }
    case delete_device:
      return change::delete_device{r.text()};
    case put_request: {
      change::put_request c;
      c.row.client = r.text();
      c.row.id = r.text();
      c.row.reply = r.text();
      c.row.at = r.integer();
      return c;
    }
    case delete_requests_of:
      return change::delete_requests_of{r.text()};
    case put_device_seq: {
      change::put_device_seq c;
      c.client = r.text();
      c.last_seq = static_cast<std::uint64_t>(r.integer());
      return c;
    }
    case put_removed_user: {
      change::put_removed_user c;
      c.row.user = r.text();
      c.row.removed_at = r.integer();
      return c;
    }
    case delete_removed_user:
      return change::delete_removed_user{r.text()};
    default:
      return std::nullopt;
  }
}

} // namespace

std::vector<std::string> encode(const std::string& node, const std::vector<const changeset*>& batch) {
  std::vector<std::string> payloads;
  std::string current;
  auto start = [&] {
    current.clear();
    escape_into(current, node);
  };
  start();
  for (const auto* cs : batch)
    for (const auto& change : cs->changes) {
      if (!shared(change))
        continue;
      std::string line;
      auto run = [&](rows::statement which, auto&& bind) {
        // A meeting's delete runs three statements: one line says it.
        if (which == rows::delete_meeting_participants || which == rows::delete_meeting_invitations)
          return 0;
        line += '\n';
        line += rows::name_of(which);
        line_binder b{line};
        if (auto* req = std::get_if<change::put_request>(&change)) {
          // The key and time only: a reply may carry join tokens.
          b.text(req->row.client).text(req->row.id).text("").integer(req->row.at);
          return 0;
        }
        bind(b);
        return 0;
      };
      rows::write(change, run, 0);
      if (current.size() + line.size() > max_payload && current.size() > node.size()) {
        payloads.push_back(std::move(current));
        start();
      }
      if (node.size() + line.size() > max_payload)
        continue; // never happens for rows within the protocol's limits
      current += line;
    }
  if (current.size() > node.size())
    payloads.push_back(std::move(current));
  return payloads;
}

std::optional<message> decode(std::string_view payload) {
  message out;
  auto end = payload.find('\n');
  out.node = split_fields(payload.substr(0, end)).front();
  while (end != std::string_view::npos) {
    auto start = end + 1;
    end = payload.find('\n', start);
    auto line = payload.substr(start, end == std::string_view::npos ? end : end - start);
    line_reader r;
    r.fields = split_fields(line);
    auto name = r.text();
    std::optional<rows::statement> which;
    for (int i = 0; i < rows::statement_count; ++i)
      if (name == rows::name_of(static_cast<rows::statement>(i)))
        which = static_cast<rows::statement>(i);
    std::string bad;
    r.bad = &bad;
    auto change = which ? change_of(*which, r) : std::nullopt;
    if (!change || r.short_line || !bad.empty())
      return std::nullopt;
    out.changes.push_back(std::move(*change));
  }
  return out;
}

// -- listener -------------------------------------------------------------------

listener::listener(std::string uri, std::chrono::milliseconds timeout, std::string node,
                   on_message each, on_gap gap)
  : uri_(std::move(uri)), timeout_(timeout), node_(std::move(node)), each_(std::move(each)),
    gap_(std::move(gap)) {
  thread_ = std::thread([this] { run(); });
}

listener::~listener() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void listener::run() {
  bool listened_before = false;
  int failures = 0;
  while (!stop_) {
    auto seconds = std::to_string(std::max<long long>(2, timeout_.count() / 1000));
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {seconds.c_str(), "meetingd-feed", uri_.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, 1);
    bool up = conn && PQstatus(conn) == CONNECTION_OK;
    if (up) {
      PGresult* r = PQexec(conn, (std::string{"LISTEN "} + channel).c_str());
      up = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!up) {
      if (failures++ == 0)
        MD_LOG_ERROR("feed.listen_failed", log::kv("error", conn ? PQerrorMessage(conn) : "oom"),
                     log::kv("effect", "this node does not hear other nodes' changes until the "
                                       "database answers; retrying"));
      PQfinish(conn);
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (failures > 0 || listened_before) {
      MD_LOG_WARN("feed.resumed", log::kv("effect", "changes of other nodes sent while this node "
                                                    "was not listening are reloaded"));
      if (gap_)
        gap_();
    }
    failures = 0;
    listened_before = true;
    while (!stop_) {
      pollfd p{PQsocket(conn), POLLIN, 0};
      int ready = ::poll(&p, 1, 200);
      if (ready < 0)
        continue;
      if (ready > 0 && !PQconsumeInput(conn))
        break;
      while (PGnotify* n = PQnotifies(conn)) {
        if (auto m = decode(n->extra)) {
          if (m->node != node_)
            each_(std::move(*m));
        } else {
          MD_LOG_WARN("feed.unreadable", log::kv("bytes", std::string_view{n->extra}.size()));
        }
        PQfreemem(n);
      }
      if (PQstatus(conn) != CONNECTION_OK)
        break;
    }
    MD_LOG_WARN("feed.lost", log::kv("error", PQerrorMessage(conn)));
    PQfinish(conn);
  }
}

} // namespace meetingd::change_feed
