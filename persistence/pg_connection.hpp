// One libpq connection with a deadline on every round trip, for the
// PostgreSQL store (pg_store.*).
//
// libpq's blocking calls wait as long as the server does: a server that is
// paused, or a network that drops packets without a reset, would hang the
// store actor and every meeting waiting on it. So every call here sends with
// libpq's asynchronous API and waits with poll() up to the deadline; past it,
// the connection is closed (the server rolls back whatever was open) and the
// caller gets a retryable failure. The next call connects again.
//
// Not thread-safe: one owner (the store actor) uses it at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;
struct pg_result;

namespace meetingd::pg {

/// A failed round trip, classified.
struct failure {
  std::string what;     // libpq's or the server's message, with SQLSTATE
  std::string sqlstate; // empty if the server never answered
  /// True if the same statements may succeed later (connection lost, server
  /// restarting, read-only standby, out of resources, timeout). False if the
  /// server refused the data itself (constraint, bad value, unknown column).
  bool retryable = true;
};

/// The SQLSTATE classes that reject the data or the statement itself: a bug
/// in meetingd or a schema altered by hand, never the server's condition.
bool is_refusal(const std::string& sqlstate);

/// A result that is cleared when it goes.
using result = std::unique_ptr<pg_result, void (*)(pg_result*)>;

/// Checks a --db value that names PostgreSQL (postgresql:// or postgres://).
/// Returns what is wrong with it, in words, or nullopt. A password in the URI
/// is refused: it would show in `ps`, in unit files and in logs.
std::optional<std::string> check_uri(const std::string& uri);

/// True if `db` selects PostgreSQL.
bool is_uri(const std::string& db);

/// The URI without anything that could be secret, for logs and errors.
std::string printable(const std::string& uri);

class connection {
public:
  connection(std::string uri, std::chrono::milliseconds timeout);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects if not connected (within the timeout). `on_connect` runs on
  /// every new session (to prepare statements); its failure closes it.
  std::optional<failure> ensure_connected();
  void on_connect(std::function<std::optional<failure>()> f) {
    on_connect_ = std::move(f);
  }
  bool connected() const;
  void close();

  /// Runs one statement (text, or prepared by name if `prepared`) with text
  /// parameters; returns its result, or the failure.
  struct outcome {
    result res{nullptr, nullptr};
    std::optional<failure> error;
  };
  outcome exec(const std::string& sql, const std::vector<std::string>& params = {});
  outcome exec_prepared(const std::string& name, const std::vector<std::string>& params);

  /// Runs one query and hands its rows to `each` one at a time as they
  /// arrive (libpq's single-row mode), so a large read neither waits for
  /// the whole result nor holds it in memory twice. The timeout counts from
  /// the last row received: a long read that keeps moving is not cut.
  std::optional<failure> stream(const std::string& sql, const std::vector<std::string>& params,
                                const std::function<void(const pg_result*)>& each);

  /// Runs several statements separated by semicolons (a migration), in
  /// the simple query protocol; no parameters.
  outcome exec_script(const std::string& sql);

  /// Prepares `sql` as `name` on this session.
  std::optional<failure> prepare(const std::string& name, const std::string& sql);

  /// One statement of a pipeline: a prepared statement's name and its
  /// parameters, or (name empty) a text statement without parameters.
  struct queued {
    std::string name;
    std::string sql;
    std::vector<std::string> params;
  };
  /// Sends every statement in one pipeline and reads all answers: one round
  /// trip. Returns the first failure; the statements after a failed one were
  /// skipped by the server. Leaves no transaction open on failure.
  /// `on_result` sees each statement's successful result (e.g. for the
  /// number of rows it changed).
  std::optional<failure> pipeline(const std::vector<queued>& statements,
                                  const std::function<void(const pg_result*)>& on_result = {});

  /// A session parameter as the server reports it (e.g. "server_version"),
  /// or the value of `SHOW name` when not reported.
  std::string setting(const std::string& name);

  const std::string& uri() const {
    return uri_;
  }

private:
  /// Sends what libpq buffered and waits for the whole answer of the current
  /// query; false on timeout or a broken connection (then closed).
  bool flush_and_wait(std::chrono::steady_clock::time_point deadline, failure& why);
  bool wait_readable(std::chrono::steady_clock::time_point deadline, failure& why);
  outcome collect(std::chrono::steady_clock::time_point deadline);
  failure lost(const std::string& doing);
  void rollback_if_open();

  std::string uri_;
  std::chrono::milliseconds timeout_;
  pg_conn* conn_ = nullptr;
  std::function<std::optional<failure>()> on_connect_;
};

} // namespace meetingd::pg
