// Durations as the tools read them (config/duration_text): CAF's units in
// both styles, a bare number and `m` only as a console reads them, and
// nothing that would overflow on the way to milliseconds.
#include "config/duration_text.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using meetingd::duration_style;
using meetingd::parse_duration_text;

TEST(duration_text, caf_units_read_alike_in_both_styles) {
  for (auto style : {duration_style::option, duration_style::console}) {
    EXPECT_EQ(parse_duration_text("0", style), 0ms);
    EXPECT_EQ(parse_duration_text("2500000ns", style), 2ms);
    EXPECT_EQ(parse_duration_text("1500us", style), 1ms);
    EXPECT_EQ(parse_duration_text("500ms", style), 500ms);
    EXPECT_EQ(parse_duration_text("45s", style), 45s);
    EXPECT_EQ(parse_duration_text("10min", style), 10min);
    EXPECT_EQ(parse_duration_text("48h", style), 48h);
    EXPECT_EQ(parse_duration_text("2d", style), 48h);
    EXPECT_EQ(parse_duration_text("999999999999h", style), 999999999999h);
  }
}

TEST(duration_text, a_bare_number_and_m_are_for_people_at_a_console) {
  EXPECT_EQ(parse_duration_text("7", duration_style::console), 7s);
  EXPECT_EQ(parse_duration_text("5m", duration_style::console), 5min);
  EXPECT_FALSE(parse_duration_text("7", duration_style::option)) << "an option names its unit";
  EXPECT_FALSE(parse_duration_text("5m", duration_style::option)) << "CAF has no unit m";
}

TEST(duration_text, what_is_no_duration_is_refused) {
  for (auto style : {duration_style::option, duration_style::console}) {
    for (auto bad : {"", "s", "h", "soon", "-5s", "5 s", " 5s", "5sec", "1.5h", "5S",
                     "9999999999999s", "99999999999999999999h"})
      EXPECT_FALSE(parse_duration_text(bad, style)) << bad;
  }
}
