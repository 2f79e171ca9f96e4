// call-demo's output: step headings, one line per MQTT message (time since
// start, direction, device, topic, compact JSON), one line per HTTP exchange
// with the RTC emulator, narrative notes and the summary.
//
// Thread-safe: the MQTT sessions report traffic on their own network threads.
// Long credential strings (tokens, TURN passwords, 32+ hex digits) are
// shortened with "…" in what is printed, never in what is sent.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace meetingd::call_demo {

using json = nlohmann::json;

enum class color_mode { auto_, always, never };

/// "auto" | "always" | "never"; nullopt-free: anything else is `auto_`
/// (CLI11 validates the value before this is called).
color_mode parse_color_mode(const std::string& s);

/// The display form of a message: credentials shortened, compacted.
std::string display_json(const json& j);
/// A display name for a client id: `GID_MEETING_DOWN@@@alice-phone` -> `alice-phone`.
std::string device_name(const std::string& client_id);

class printer {
public:
  /// `quiet`: print only the summary (and the failure, if any).
  printer(std::FILE* out, color_mode mode, bool quiet);

  /// "── 3. alice creates a meeting ──" (no number if `step` is 0)
  void heading(int step, const std::string& title);
  /// An MQTT message of `device` (outgoing = published by it).
  void message(const std::string& device, bool outgoing, const std::string& topic,
               const std::string& payload);
  /// An HTTP exchange with the RTC service on behalf of `device` (a null
  /// `body` prints none).
  void http(const std::string& device, bool outgoing, const std::string& what,
            const json& body);
  /// A narrative line: `ok` (green check), `bad` (red cross) or neutral.
  enum class tone { info, ok, bad };
  void note(const std::string& text, tone t = tone::info);
  /// The final lines; always printed, also when quiet.
  void summary(bool pass, const std::string& first_failure);
  /// A line to stderr-ish output that is always shown (errors of setup).
  void error(const std::string& text);

  /// Blocks until the incoming message `msg` of `device` has been printed
  /// (the MQTT thread queues a message for the waiter before it reports it
  /// to observers), so that lines stay in causal order. Gives up after
  /// `timeout`.
  void wait_printed(const std::string& device, const json& msg,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

  std::size_t sent() const;
  std::size_t received() const;

private:
  std::string paint(const char* code, const std::string& text) const;
  std::string stamp() const;
  void line(const std::string& text);

  std::FILE* out_;
  bool color_;
  bool quiet_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, int> printed_; // device + '\n' + compact JSON -> count
  std::size_t sent_ = 0;
  std::size_t received_ = 0;
};

} // namespace meetingd::call_demo
