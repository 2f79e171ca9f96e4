// A libpq connection with deadlines (see pg_connection.hpp).
#include "persistence/pg_connection.hpp"

#include "config/log.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <poll.h>

namespace meetingd::pg {

namespace {

using steady = std::chrono::steady_clock;

void clear(pg_result* r) {
  PQclear(r);
}

result own(PGresult* r) {
  return result{r, clear};
}

/// libpq's message without its trailing newline.
std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// The server's DETAIL, unless it quotes row values: "Failing row contains
/// (...)" (not-null and check violations) would put password hashes, channel
/// keys and stored replies into the log. Key details name ids only.
std::string loggable_detail(const char* detail) {
  if (!detail)
    return {};
  std::string_view d{detail};
  if (d.rfind("Failing row contains", 0) == 0)
    return {};
  return std::string{d};
}

failure from_result(const PGresult* r, PGconn* conn) {
  failure f;
  auto field = [r](int code) -> const char* {
    return r ? PQresultErrorField(r, code) : nullptr;
  };
  const char* state = field(PG_DIAG_SQLSTATE);
  f.sqlstate = state ? state : "";
  // The primary message alone: PQresultErrorMessage would add the DETAIL line.
  f.what = trimmed(field(PG_DIAG_MESSAGE_PRIMARY));
  if (f.what.empty())
    f.what = trimmed(PQerrorMessage(conn));
  auto detail = loggable_detail(field(PG_DIAG_MESSAGE_DETAIL));
  if (!detail.empty() && f.what.find(detail) == std::string::npos)
    f.what += " (" + detail + ")";
  std::string where;
  if (const char* table = field(PG_DIAG_TABLE_NAME))
    where += std::string{"table "} + table;
  if (const char* constraint = field(PG_DIAG_CONSTRAINT_NAME))
    where += (where.empty() ? "" : ", ") + std::string{"constraint "} + constraint;
  if (const char* column = field(PG_DIAG_COLUMN_NAME))
    where += (where.empty() ? "" : ", ") + std::string{"column "} + column;
  if (!where.empty())
    f.what += " [" + where + "]";
  if (!f.sqlstate.empty())
    f.what += " [SQLSTATE " + f.sqlstate + "]";
  f.retryable = !is_refusal(f.sqlstate);
  return f;
}

std::vector<const char*> pointers_to(const std::vector<std::string>& params) {
  std::vector<const char*> out;
  out.reserve(params.size());
  for (auto& p : params)
    out.push_back(p.c_str());
  return out;
}

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

} // namespace

bool is_refusal(const std::string& sqlstate) {
  if (sqlstate.size() != 5)
    return false;
  auto cls = sqlstate.substr(0, 2);
  // 21 cardinality, 22 data exception, 23 integrity constraint, 42 syntax or
  // access rule (an unknown column: a schema altered by hand), 0A not
  // supported, 44 check option.
  return cls == "21" || cls == "22" || cls == "23" || cls == "42" || cls == "0A" || cls == "44";
}

bool is_uri(const std::string& db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

std::string printable(const std::string& uri) {
  // check_uri refuses passwords; this keeps one out of a log all the same.
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos)
    return uri;
  auto at = uri.find('@', scheme_end + 3);
  auto slash = uri.find('/', scheme_end + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = uri.find(':', scheme_end + 3);
    if (colon != std::string::npos && colon < at)
      return uri.substr(0, colon) + ":***" + uri.substr(at);
  }
  auto q = uri.find("password=");
  if (q != std::string::npos)
    return uri.substr(0, q) + "password=***";
  return uri;
}

std::optional<std::string> check_uri(const std::string& uri) {
  if (!is_uri(uri))
    return "not a PostgreSQL URI: write postgresql://USER@HOST:PORT/DBNAME";
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &err);
  if (!options) {
    std::string why = trimmed(err);
    PQfreemem(err);
    return "not a valid PostgreSQL URI (" + why
           + "): write postgresql://USER@HOST:PORT/DBNAME, with options as ?key=value";
  }
  std::optional<std::string> problem;
  bool has_dbname = false;
  for (auto* o = options; o->keyword; ++o) {
    std::string key = o->keyword;
    bool set = o->val && *o->val;
    if (key == "password" && set)
      problem = "the URI holds a password, which would show in `ps`, unit files and logs: "
                "remove it and give it in PGPASSWORD or ~/.pgpass instead";
    if (key == "dbname" && set)
      has_dbname = true;
  }
  PQconninfoFree(options);
  if (!problem && !has_dbname)
    problem = "the URI names no database: write postgresql://USER@HOST:PORT/DBNAME";
  return problem;
}

// -- connection ------------------------------------------------------------------

connection::connection(std::string uri, std::chrono::milliseconds timeout)
  : uri_(std::move(uri)), timeout_(timeout) {
}

connection::~connection() {
  close();
}

bool connection::connected() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}

void connection::close() {
  if (conn_)
    PQfinish(conn_);
  conn_ = nullptr;
}

failure connection::lost(const std::string& doing) {
  failure f;
  f.what = doing + ": " + (conn_ ? trimmed(PQerrorMessage(conn_)) : "not connected");
  f.retryable = true;
  close();
  return f;
}

std::optional<failure> connection::ensure_connected() {
  if (connected())
    return std::nullopt;
  close();
  // libpq counts connect_timeout in whole seconds, at least 2.
  auto seconds = std::max<long long>(
    2, std::chrono::duration_cast<std::chrono::seconds>(timeout_ + std::chrono::milliseconds(999))
         .count());
  auto connect_timeout = std::to_string(seconds);
  // The defaults come first: what the URI says wins (expand_dbname).
  const char* keys[] = {"connect_timeout", "application_name", "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "dbname",          nullptr};
  const char* values[] = {connect_timeout.c_str(), "meetingd", "1", "10", "5", "3",
                          uri_.c_str(),            nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    failure f;
    f.what = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    f.retryable = true;
    close();
    return f;
  }
  PQsetnonblocking(conn_, 1);
  // The server's notices ("relation ... already exists, skipping") would go
  // to stderr, outside the node's log.
  PQsetNoticeProcessor(
    conn_, [](void*, const char* message) { MD_LOG_DEBUG("store.notice", log::kv("message", trimmed(message))); },
    nullptr);
  if (on_connect_) {
    if (auto err = on_connect_()) {
      close();
      return err;
    }
  }
  return std::nullopt;
}

bool connection::wait_readable(steady::time_point deadline, failure& why) {
  while (PQisBusy(conn_)) {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      why = failure{"PostgreSQL did not answer within "
                      + std::to_string(timeout_.count())
                      + " ms (the server is paused, overloaded or cut off; the connection is "
                        "closed and opened again)",
                    "", true};
      close();
      return false;
    }
    if (n < 0 || !PQconsumeInput(conn_)) {
      why = lost("the connection to PostgreSQL was lost");
      return false;
    }
  }
  return true;
}

bool connection::flush_and_wait(steady::time_point deadline, failure& why) {
  for (;;) {
    int rc = PQflush(conn_);
    if (rc == 0)
      return true;
    if (rc < 0) {
      why = lost("sending to PostgreSQL failed");
      return false;
    }
    pollfd p{PQsocket(conn_), POLLOUT | POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      why = failure{"PostgreSQL took no data for " + std::to_string(timeout_.count())
                      + " ms (the server is paused or cut off; the connection is closed)",
                    "", true};
      close();
      return false;
    }
    if ((p.revents & POLLIN) && !PQconsumeInput(conn_)) {
      why = lost("the connection to PostgreSQL was lost");
      return false;
    }
  }
}

connection::outcome connection::collect(steady::time_point deadline) {
  outcome out;
  failure why;
  for (;;) {
    if (!wait_readable(deadline, why)) {
      out.res.reset();
      out.error = why;
      return out;
    }
    PGresult* r = PQgetResult(conn_);
    if (!r)
      break;
    auto status = PQresultStatus(r);
    if ((status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) && !out.error)
      out.error = from_result(r, conn_);
    out.res = own(r);
  }
  if (out.error)
    out.res.reset();
  if (PQstatus(conn_) != CONNECTION_OK) {
    if (!out.error)
      out.error = lost("the connection to PostgreSQL was lost");
    close();
  }
  return out;
}

connection::outcome connection::exec(const std::string& sql,
                                     const std::vector<std::string>& params) {
  if (auto err = ensure_connected())
    return outcome{result{nullptr, clear}, err};
  auto deadline = steady::now() + timeout_;
  auto values = pointers_to(params);
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                         values.data(), nullptr, nullptr, 0))
    return outcome{result{nullptr, clear}, lost("sending a statement to PostgreSQL failed")};
  failure why;
  if (!flush_and_wait(deadline, why))
    return outcome{result{nullptr, clear}, why};
  return collect(deadline);
}

connection::outcome connection::exec_prepared(const std::string& name,
                                              const std::vector<std::string>& params) {
  if (auto err = ensure_connected())
    return outcome{result{nullptr, clear}, err};
  auto deadline = steady::now() + timeout_;
  auto values = pointers_to(params);
  if (!PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(),
                           nullptr, nullptr, 0))
    return outcome{result{nullptr, clear}, lost("sending a statement to PostgreSQL failed")};
  failure why;
  if (!flush_and_wait(deadline, why))
    return outcome{result{nullptr, clear}, why};
  return collect(deadline);
}

std::optional<failure> connection::stream(const std::string& sql,
                                          const std::vector<std::string>& params,
                                          const std::function<void(const pg_result*)>& each) {
  if (auto err = ensure_connected())
    return err;
  auto deadline = steady::now() + timeout_;
  auto values = pointers_to(params);
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                         values.data(), nullptr, nullptr, 0))
    return lost("sending a statement to PostgreSQL failed");
  if (!PQsetSingleRowMode(conn_))
    return lost("PostgreSQL's single-row mode could not be set");
  failure why;
  if (!flush_and_wait(deadline, why))
    return why;
  std::optional<failure> first;
  for (;;) {
    if (!wait_readable(deadline, why))
      return why;
    PGresult* r = PQgetResult(conn_);
    if (!r)
      break;
    auto res = own(r);
    auto status = PQresultStatus(r);
    if (status == PGRES_SINGLE_TUPLE && !first) {
      each(r);
      deadline = steady::now() + timeout_;
    } else if ((status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) && !first) {
      first = from_result(r, conn_);
    }
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    if (!first)
      first = lost("the connection to PostgreSQL was lost");
    close();
  }
  return first;
}

connection::outcome connection::exec_script(const std::string& sql) {
  if (auto err = ensure_connected())
    return outcome{result{nullptr, clear}, err};
  auto deadline = steady::now() + timeout_;
  if (!PQsendQuery(conn_, sql.c_str()))
    return outcome{result{nullptr, clear}, lost("sending statements to PostgreSQL failed")};
  failure why;
  if (!flush_and_wait(deadline, why))
    return outcome{result{nullptr, clear}, why};
  return collect(deadline);
}

std::optional<failure> connection::prepare(const std::string& name, const std::string& sql) {
  // Called from on_connect: the session is there, so no ensure_connected.
  auto deadline = steady::now() + timeout_;
  if (!PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr))
    return lost("preparing a statement failed");
  failure why;
  if (!flush_and_wait(deadline, why))
    return why;
  auto out = collect(deadline);
  if (out.error)
    out.error->what = "preparing " + name + " failed: " + out.error->what;
  return out.error;
}

void connection::rollback_if_open() {
  if (!connected())
    return;
  auto status = PQtransactionStatus(conn_);
  if (status != PQTRANS_INTRANS && status != PQTRANS_INERROR)
    return;
  if (exec("ROLLBACK").error)
    close();
}

std::optional<failure> connection::pipeline(const std::vector<queued>& statements,
                                            const std::function<void(const pg_result*)>& on_result) {
  if (auto err = ensure_connected())
    return err;
  auto deadline = steady::now() + timeout_;
  if (!PQenterPipelineMode(conn_))
    return lost("PostgreSQL's pipeline mode could not be entered");
  std::vector<const char*> values;
  for (auto& q : statements) {
    int ok;
    if (q.name.empty()) {
      ok = PQsendQueryParams(conn_, q.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
    } else {
      values = pointers_to(q.params);
      ok = PQsendQueryPrepared(conn_, q.name.c_str(), static_cast<int>(q.params.size()),
                               values.data(), nullptr, nullptr, 0);
    }
    if (!ok)
      return lost("queueing a statement for PostgreSQL failed");
  }
  if (!PQpipelineSync(conn_))
    return lost("sending a pipeline to PostgreSQL failed");
  failure why;
  if (!flush_and_wait(deadline, why))
    return why;
  std::optional<failure> first;
  std::size_t answered = 0; // statements whose results are read
  for (;;) {
    if (!wait_readable(deadline, why))
      return why;
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      ++answered; // the end of one statement's results
      continue;
    }
    auto res = own(r);
    auto status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC)
      break;
    if ((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) && on_result)
      on_result(r);
    if ((status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) && !first) {
      first = from_result(r, conn_);
      if (answered < statements.size()) {
        auto& q = statements[answered];
        first->what = "statement " + (q.name.empty() ? q.sql : q.name) + ": " + first->what;
      }
    }
  }
  if (!PQexitPipelineMode(conn_))
    return lost("PostgreSQL's pipeline mode could not be left");
  if (first)
    rollback_if_open();
  return first;
}

std::string connection::setting(const std::string& name) {
  if (connected())
    if (const char* v = PQparameterStatus(conn_, name.c_str()))
      return v;
  auto out = exec("SELECT current_setting($1)", {name});
  if (out.error || !out.res || PQntuples(out.res.get()) != 1)
    return {};
  return PQgetvalue(out.res.get(), 0, 0);
}

} // namespace meetingd::pg
