#include "config/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace meetingd::log {

namespace {

bool needs_quotes(const std::string& value) {
  if (value.empty())
    return true;
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t')
      return true;
  return false;
}

void append_quoted(std::string& out, const std::string& value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

} // namespace

std::string render(std::string_view event, std::initializer_list<field> fields) {
  std::string out{event};
  for (auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    if (needs_quotes(f.value))
      append_quoted(out, f.value);
    else
      out += f.value;
  }
  return out;
}

bool valid_level(std::string_view level) {
  return level == "trace" || level == "debug" || level == "info"
         || level == "warn" || level == "error" || level == "off";
}

bool configure(std::string_view level) {
  if (!valid_level(level))
    return false;
  // Logs go to stderr: stdout stays free for tools that print results.
  auto logger = spdlog::get("meetingd");
  if (!logger)
    logger = spdlog::stderr_logger_mt("meetingd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string{level}));
  logger->flush_on(spdlog::level::info);
  return true;
}

} // namespace meetingd::log
