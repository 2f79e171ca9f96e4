#include "config/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iterator>
#include <memory>
#include <mutex>
#include <system_error>

namespace meetingd::log {

namespace {

// -- the text format ----------------------------------------------------------------

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

// -- the json format ----------------------------------------------------------------

/// Length of the well-formed UTF-8 sequence starting at s[i] (2 to 4; the
/// table of the Unicode standard, §3.9: no overlong forms, no surrogates,
/// nothing above U+10FFFF), 0 if there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto tail = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return byte(k) >= lo && byte(k) <= hi;
  };
  unsigned c = byte(0);
  if (c >= 0xC2 && c <= 0xDF)
    return tail(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    bool second = c == 0xE0 ? tail(1, 0xA0) : c == 0xED ? tail(1, 0x80, 0x9F) : tail(1);
    return second && tail(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    bool second = c == 0xF0 ? tail(1, 0x90) : c == 0xF4 ? tail(1, 0x80, 0x8F) : tail(1);
    return second && tail(2) && tail(3) ? 4 : 0;
  }
  return 0;
}

/// `s` as a JSON string: quotes, backslashes and control characters
/// escaped, each byte that is not part of well-formed UTF-8 as U+FFFD.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      auto n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s, i, n);
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

std::string_view json_level(spdlog::level::level_enum level) {
  static constexpr std::string_view names[] = {"trace", "debug",    "info", "warn",
                                               "error", "critical", "off"};
  auto i = static_cast<std::size_t>(level);
  return i < std::size(names) ? names[i] : "off";
}

/// The keys every json line has; a field with one of them is renamed.
bool reserved_key(std::string_view key) {
  return key == "time" || key == "level" || key == "event";
}

// -- the file --------------------------------------------------------------------------

/// Opens `path` for appending (created 0640); -1 with the reason in `error`.
int open_log_file(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 && error)
    *error = std::error_code{errno, std::generic_category()}.message();
  return fd;
}

/// A sink writing each line with one write(2) to a file descriptor that
/// reopen swaps under the sink's lock: a line is wholly in the old file or
/// wholly in the new one, and in the file (for `tail -f`) when log() returns.
class reopenable_file_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  reopenable_file_sink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
  }
  ~reopenable_file_sink() override {
    ::close(fd_);
  }
  reopenable_file_sink(const reopenable_file_sink&) = delete;
  reopenable_file_sink& operator=(const reopenable_file_sink&) = delete;

  bool reopen(std::string* error) {
    int fd = open_log_file(path_, error);
    if (fd < 0)
      return false;
    int old = fd;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      std::swap(fd_, old);
    }
    ::close(old);
    return true;
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* at = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      auto n = ::write(fd_, at, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return; // a full disk: nowhere to say so
      at += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void flush_() override {
  }

private:
  std::string path_;
  int fd_;
};

// -- the process-wide configuration --------------------------------------------------

std::atomic<bool> json_format{false};

struct log_file {
  std::mutex mutex; // configure and reopen, never a line being written
  std::string path;
  std::shared_ptr<reopenable_file_sink> sink;
};

log_file& current_file() {
  static log_file f;
  return f;
}

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v";
// render_json supplies "level", "event" and the fields.
constexpr const char* json_pattern = R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ",%v})";

bool fail(std::string* error, std::string message) {
  if (error)
    *error = std::move(message);
  return false;
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

std::string render_json(spdlog::level::level_enum level, std::string_view event,
                        std::initializer_list<field> fields) {
  std::string out;
  std::size_t size = 32 + event.size();
  for (auto& f : fields)
    size += f.key.size() + f.value.size() + 12;
  out.reserve(size);
  out += R"("level":")";
  out += json_level(level);
  out += R"(","event":)";
  append_json_string(out, event);
  std::string renamed;
  for (auto& f : fields) {
    out += ',';
    if (reserved_key(f.key)) {
      renamed = "field_";
      renamed += f.key;
      append_json_string(out, renamed);
    } else {
      append_json_string(out, f.key);
    }
    out += ':';
    if (f.literal)
      out += f.value;
    else
      append_json_string(out, f.value);
  }
  return out;
}

void emit(spdlog::level::level_enum level, std::string_view event,
          std::initializer_list<field> fields) {
  auto line = json_format.load(std::memory_order_relaxed) ? render_json(level, event, fields)
                                                          : render(event, fields);
  spdlog::default_logger_raw()->log(level, spdlog::string_view_t{line.data(), line.size()});
}

bool valid_level(std::string_view level) {
  return level == "trace" || level == "debug" || level == "info"
         || level == "warn" || level == "error" || level == "off";
}

bool configure(std::string_view level, std::string_view format, const std::string& file,
               std::string* error) {
  if (!valid_level(level))
    return fail(error, "--log-level=" + std::string{level}
                         + ": expected trace, debug, info, warn, error or off");
  if (format != "text" && format != "json")
    return fail(error, "--log-format=" + std::string{format} + ": expected text or json");
  std::shared_ptr<reopenable_file_sink> file_sink;
  spdlog::sink_ptr sink;
  if (file.empty()) {
    // Standard error: stdout stays free for tools that print results.
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    std::string reason;
    int fd = open_log_file(file, &reason);
    if (fd < 0)
      return fail(error, "--log-file=" + file + ": cannot open it: " + reason);
    file_sink = std::make_shared<reopenable_file_sink>(file, fd);
    sink = file_sink;
  }
  auto logger = std::make_shared<spdlog::logger>("meetingd", std::move(sink));
  bool json = format == "json";
  logger->set_pattern(json ? json_pattern : text_pattern, spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string{level}));
  logger->flush_on(spdlog::level::info);
  auto& current = current_file();
  std::lock_guard<std::mutex> lock{current.mutex};
  json_format.store(json, std::memory_order_relaxed);
  spdlog::set_default_logger(logger); // and registered as "meetingd", in place of the last
  spdlog::set_level(logger->level());
  current.path = file;
  current.sink = std::move(file_sink);
  return true;
}

bool configure(std::string_view level) {
  return configure(level, "text", "", nullptr);
}

bool reopen() {
  auto& current = current_file();
  std::shared_ptr<reopenable_file_sink> sink;
  std::string path;
  {
    std::lock_guard<std::mutex> lock{current.mutex};
    sink = current.sink;
    path = current.path;
  }
  if (!sink)
    return true;
  std::string reason;
  if (sink->reopen(&reason))
    return true;
  MD_LOG_WARN("log.reopen_failed", kv("file", path), kv("error", reason),
              kv("hint", "the log stays on the file opened before"));
  return false;
}

std::string file() {
  auto& current = current_file();
  std::lock_guard<std::mutex> lock{current.mutex};
  return current.path;
}

} // namespace meetingd::log
