// Logging: one line per event, `key=value` fields after a short event name,
// so an operator can grep for `meeting=m-1` or `req=r-17` and filter by level.
//
//   MD_LOG_INFO("meeting.join", kv("meeting", id), kv("user", user), kv("req", rid));
//   -> 2026-11-26T10:00:00.123Z INFO meeting.join meeting=m-1 user=alice req=r-17
//
// Values with spaces or quotes are quoted, so every line stays machine-splittable.
// Secrets are never passed to the logger; call sites log ids, never keys or tokens.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace meetingd::log {

/// One `key=value` field of a log line.
struct field {
  std::string_view key;
  std::string value;
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
    return {key, value ? "true" : "false"};
  else
    return {key, std::to_string(value)};
}

/// Renders `event k=v k=v ...` with quoting where needed.
std::string render(std::string_view event, std::initializer_list<field> fields);

/// Configures the process-wide logger: level is one of
/// trace, debug, info, warn, error, off. Returns false for an unknown level.
bool configure(std::string_view level);

/// True if `level` names a known level.
bool valid_level(std::string_view level);

} // namespace meetingd::log

#define MD_LOG_AT(lvl, event, ...)                                             \
  do {                                                                         \
    if (spdlog::should_log(lvl))                                               \
      spdlog::log(lvl, "{}",                                                   \
                  ::meetingd::log::render(event, {__VA_ARGS__}));              \
  } while (false)
#define MD_LOG_DEBUG(event, ...) MD_LOG_AT(spdlog::level::debug, event, __VA_ARGS__)
#define MD_LOG_INFO(event, ...) MD_LOG_AT(spdlog::level::info, event, __VA_ARGS__)
#define MD_LOG_WARN(event, ...) MD_LOG_AT(spdlog::level::warn, event, __VA_ARGS__)
#define MD_LOG_ERROR(event, ...) MD_LOG_AT(spdlog::level::err, event, __VA_ARGS__)
