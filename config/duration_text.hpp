// Durations written as text, the way the node's options write them (CAF's
// timespans: `500ms`, `45s`, `10min`, `48h`), read by the tools that take
// durations on their command lines: rtc-emulator, call-demo and meetctl.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace meetingd {

/// Which spellings a duration may take besides CAF's units (`ns`, `us`, `ms`,
/// `s`, `min`, `h`) and days (`d`).
enum class duration_style {
  /// As in an option: a number without a unit must be 0.
  option,
  /// As a person types it to a console: a bare number is seconds, `m` minutes.
  console,
};

/// The duration `text` spells in `style`, rounded down to milliseconds;
/// nullopt if it spells none (negative, fractional, spaced, unknown unit, or
/// too large to count in milliseconds).
std::optional<std::chrono::milliseconds> parse_duration_text(std::string_view text,
                                                             duration_style style);

} // namespace meetingd
