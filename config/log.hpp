// Logging: one line per event, `key=value` fields after a short event name,
// so an operator can grep for `meeting=m-1` or `req=r-17` and filter by level.
//
//   MD_LOG_INFO("meeting.join", kv("meeting", id), kv("user", user), kv("req", rid));
//   -> 2026-11-26T10:00:00.123Z info meeting.join meeting=m-1 user=alice req=r-17
//
// Values with spaces or quotes are quoted, so every line stays machine-splittable.
// Secrets are never passed to the logger; call sites log ids, never keys or tokens.
//
// With the json format (configure, --log-format=json) each line is one JSON
// object with the same fields:
//   {"time":"2026-11-26T10:00:00.123Z","level":"info","event":"meeting.join",
//    "meeting":"m-1","user":"alice","req":"r-17"}
// Values are JSON strings (invalid UTF-8 replaced by U+FFFD), except those
// kv made from a number or a bool, which are JSON literals. A field named
// time, level or event comes out as field_time, field_level, field_event.
// Levels are trace, debug, info, warn, error.
//
// The log goes to standard error, or appended to a file (--log-file) that
// reopen() opens again at the same path (SIGHUP, for logrotate).
#pragma once

#include <spdlog/spdlog.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace meetingd::log {

/// One `key=value` field of a log line.
struct field {
  std::string_view key;
  std::string value;
  /// `value` is a JSON literal (a finite number, true or false): the json
  /// format writes it without quotes. The text format ignores it.
  bool literal = false;
};

inline field kv(std::string_view key, std::string_view value) {
  return {key, std::string{value}};
}
inline field kv(std::string_view key, const char* value) {
  return {key, std::string{value ? value : ""}};
}
inline field kv(std::string_view key, const std::string& value) {
  return {key, value};
}
template <class Number,
          class = std::enable_if_t<std::is_arithmetic_v<Number>>>
field kv(std::string_view key, Number value) {
  if constexpr (std::is_same_v<Number, bool>)
    return {key, value ? "true" : "false", true};
  else if constexpr (std::is_floating_point_v<Number>)
    return {key, std::to_string(value), std::isfinite(value)}; // "inf", "nan": strings
  else
    return {key, std::to_string(value), true};
}

/// Renders `event k=v k=v ...` with quoting where needed (the text format's
/// part after the time and level).
std::string render(std::string_view event, std::initializer_list<field> fields);

/// Renders the json format's part after the time:
/// `"level":"info","event":"...","k":"v",...` (without the braces).
std::string render_json(spdlog::level::level_enum level, std::string_view event,
                        std::initializer_list<field> fields);

/// Writes one event at `level` in the configured format (MD_LOG_AT).
void emit(spdlog::level::level_enum level, std::string_view event,
          std::initializer_list<field> fields);

/// Configures the process-wide logger: level is one of trace, debug, info,
/// warn, error, off; format text or json; `file` empty for standard error,
/// else a file appended to (created with mode 0640). On failure returns
/// false with one line in `*error` (naming --log-level, --log-format or
/// --log-file; for the file with the system's reason) and leaves the logger
/// as it was. Call it before other threads log.
bool configure(std::string_view level, std::string_view format, const std::string& file,
               std::string* error);

/// configure(level, "text", "", nullptr): text on standard error. Returns
/// false for an unknown level.
bool configure(std::string_view level);

/// Opens the log file again at its path (after logrotate renamed it): lines
/// written before go to the old file, lines after to the new one, none lost
/// or split. Safe while other threads log. If the file cannot be opened the
/// log stays on the old file, a warn line `log.reopen_failed` says why, and
/// this returns false. Without a log file (standard error) it does nothing.
bool reopen();

/// The configured log file; empty for standard error.
std::string file();

/// True if `level` names a known level.
bool valid_level(std::string_view level);

} // namespace meetingd::log

#define MD_LOG_AT(lvl, event, ...)                                             \
  do {                                                                         \
    if (spdlog::should_log(lvl))                                               \
      ::meetingd::log::emit(lvl, event, {__VA_ARGS__});                        \
  } while (false)
#define MD_LOG_DEBUG(event, ...) MD_LOG_AT(spdlog::level::debug, event, __VA_ARGS__)
#define MD_LOG_INFO(event, ...) MD_LOG_AT(spdlog::level::info, event, __VA_ARGS__)
#define MD_LOG_WARN(event, ...) MD_LOG_AT(spdlog::level::warn, event, __VA_ARGS__)
#define MD_LOG_ERROR(event, ...) MD_LOG_AT(spdlog::level::err, event, __VA_ARGS__)
