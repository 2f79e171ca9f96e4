#include "config/duration_text.hpp"

#include <cstdint>
#include <limits>

namespace meetingd {

namespace {

/// Nanoseconds per unit; 0 for a unit this style does not know.
std::int64_t nanoseconds_per(std::string_view unit, duration_style style) {
  constexpr std::int64_t us = 1000, ms = 1000 * us, s = 1000 * ms, min = 60 * s, h = 60 * min;
  if (unit == "ns")
    return 1;
  if (unit == "us")
    return us;
  if (unit == "ms")
    return ms;
  if (unit == "s")
    return s;
  if (unit == "min")
    return min;
  if (unit == "h")
    return h;
  if (unit == "d")
    return 24 * h;
  if (style == duration_style::console && unit == "m")
    return min;
  if (style == duration_style::console && unit.empty())
    return s;
  return 0;
}

} // namespace

std::optional<std::chrono::milliseconds> parse_duration_text(std::string_view text,
                                                             duration_style style) {
  constexpr std::int64_t most_digits = 12; // far beyond any sensible duration
  std::size_t digits = 0;
  std::int64_t n = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (static_cast<std::int64_t>(digits) == most_digits)
      return std::nullopt;
    n = n * 10 + (text[digits] - '0');
    ++digits;
  }
  if (digits == 0)
    return std::nullopt;
  auto unit = text.substr(digits);
  if (unit.empty() && n == 0)
    return std::chrono::milliseconds{0};
  auto per = nanoseconds_per(unit, style);
  if (per == 0)
    return std::nullopt;
  // Whole milliseconds, without overflowing on the way there.
  constexpr std::int64_t ns_per_ms = 1'000'000;
  if (per >= ns_per_ms) {
    auto ms_per = per / ns_per_ms;
    if (n > std::numeric_limits<std::int64_t>::max() / ms_per)
      return std::nullopt;
    return std::chrono::milliseconds{n * ms_per};
  }
  return std::chrono::milliseconds{n * per / ns_per_ms};
}

} // namespace meetingd
