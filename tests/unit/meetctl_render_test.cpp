// Tests of meetctl's render functions (tools/meetctl/render.hpp): table
// layout (alignment, widths, truncation, wide characters, no trailing
// spaces), time and duration formatting, terminal-safe text, and the blocks
// and tables of each admin reply, including replies with fields missing.
#include "tools/meetctl/render.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

using namespace meetingd::meetctl;

namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in{s};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Runs a block with TZ set, restoring the previous zone afterwards.
template <class F>
void with_tz(const char* tz, F f) {
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", tz, 1);
  tzset();
  f();
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}

constexpr std::int64_t t0 = 1764000000; // 2025-11-24 16:00:00 UTC

render_options utc() {
  render_options o;
  o.utc = true;
  return o;
}

} // namespace

// -- text -------------------------------------------------------------------------

TEST(meetctl_render, display_width_counts_terminal_columns) {
  EXPECT_EQ(display_width(""), 0u);
  EXPECT_EQ(display_width("standup"), 7u);
  EXPECT_EQ(display_width("café"), 4u);
  EXPECT_EQ(display_width("e\xcc\x81"), 1u);  // e + combining acute
  EXPECT_EQ(display_width("周会"), 4u);         // CJK: two columns each
  EXPECT_EQ(display_width("회의"), 4u);         // Hangul
  EXPECT_EQ(display_width("…"), 1u);
}

TEST(meetctl_render, shorten_cuts_with_an_ellipsis_by_columns) {
  EXPECT_EQ(shorten("standup", 10), "standup");
  EXPECT_EQ(shorten("standup", 7), "standup");
  EXPECT_EQ(shorten("standup", 6), "stand…");
  EXPECT_EQ(shorten("standup", 1), "…");
  EXPECT_EQ(shorten("standup", 0), "");
  // Never half a wide character: 周会周会 is 8 columns; in 6 fit 周会 + …
  EXPECT_EQ(shorten("周会周会", 6), "周会…");
  EXPECT_EQ(shorten("周会周会", 5), "周会…");
  EXPECT_LE(display_width(shorten("周会周会", 4)), 4u);
}

TEST(meetctl_render, sanitize_escapes_what_would_drive_the_terminal) {
  EXPECT_EQ(sanitize("plain title"), "plain title");
  EXPECT_EQ(sanitize("周会 café"), "周会 café");
  EXPECT_EQ(sanitize("\x1b[2Jboom"), "\\x1b[2Jboom");
  EXPECT_EQ(sanitize("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
  EXPECT_EQ(sanitize("x\x7f"), "x\\x7f");
  EXPECT_EQ(sanitize("\xc2\x9b" "31m"), "\\u009b31m");         // C1 CSI
  EXPECT_EQ(sanitize("abc\xe2\x80\xae" "cba"), "abc\\u202ecba"); // right-to-left override
  EXPECT_EQ(sanitize("bad\xff" "byte"), "bad\\xffbyte");        // invalid UTF-8
  EXPECT_EQ(sanitize("\xe2\x82"), "\\xe2\\x82");                // cut sequence
}

// -- times and durations ----------------------------------------------------------

TEST(meetctl_render, times_in_utc) {
  EXPECT_EQ(format_time(t0, true), "2025-11-24 16:00Z");
  EXPECT_EQ(format_time_full(t0 + 5, true), "2025-11-24 16:00:05Z");
  EXPECT_EQ(format_time(0, true), "-");
  EXPECT_EQ(format_time_full(0, false), "-");
}

TEST(meetctl_render, times_in_the_local_zone_carry_its_offset) {
  with_tz("XST-02", [] { // POSIX: two hours east of UTC
    EXPECT_EQ(format_time(t0, false), "2025-11-24 18:00");
    EXPECT_EQ(format_time_full(t0, false), "2025-11-24 18:00:00 +02:00");
  });
  with_tz("YST+05:30", [] {
    EXPECT_EQ(format_time(t0, false), "2025-11-24 10:30");
    EXPECT_EQ(format_time_full(t0, false), "2025-11-24 10:30:00 -05:30");
  });
}

TEST(meetctl_render, durations_and_relative_times) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(185), "3m 05s");
  EXPECT_EQ(format_duration(2 * 3600 + 3 * 60 + 9), "2h 03m");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600 + 59), "3d 04h");
  EXPECT_EQ(format_relative(t0 + 48 * 3600, t0), "in 2d 00h");
  EXPECT_EQ(format_relative(t0 - 300, t0), "5m 00s ago");
  EXPECT_EQ(format_relative(t0, t0), "now");
}

TEST(meetctl_render, parse_duration_takes_caf_units_and_plain_seconds) {
  using namespace std::chrono;
  milliseconds ms{};
  ASSERT_TRUE(parse_duration("5s", ms));
  EXPECT_EQ(ms, 5s);
  ASSERT_TRUE(parse_duration("500ms", ms));
  EXPECT_EQ(ms, 500ms);
  ASSERT_TRUE(parse_duration("2min", ms));
  EXPECT_EQ(ms, 2min);
  ASSERT_TRUE(parse_duration("1h", ms));
  EXPECT_EQ(ms, 1h);
  ASSERT_TRUE(parse_duration("7", ms));
  EXPECT_EQ(ms, 7s);
  for (auto bad : {"", "s", "soon", "5 s", "-1s", "1.5s", "5sec", "9999999999999s"})
    EXPECT_FALSE(parse_duration(bad, ms)) << bad;
}

// -- tables -----------------------------------------------------------------------

TEST(meetctl_render, table_aligns_columns_two_spaces_apart) {
  auto t = render_table({{"ID"}, {"NAME"}, {"N", true}, {"LAST"}},
                        {{"m-1", "standup", "2", "x"}, {"m-22222", "a", "10", "yy"}});
  EXPECT_EQ(t,
            "ID       NAME      N  LAST\n"
            "m-1      standup   2  x\n"
            "m-22222  a        10  yy\n");
}

TEST(meetctl_render, table_has_no_trailing_spaces_and_pads_short_rows) {
  auto t = render_table({{"A"}, {"B"}}, {{"1"}, {"22", ""}});
  for (const auto& line : lines(t))
    EXPECT_TRUE(line.empty() || line.back() != ' ') << "[" << line << "]";
  EXPECT_EQ(t, "A   B\n1\n22\n");
}

TEST(meetctl_render, table_cuts_long_cells_and_counts_wide_characters) {
  auto t = render_table({{"TITLE", false, 8}, {"HOST"}},
                        {{"a very long title", "alice"}, {"周会", "bob"}});
  auto ls = lines(t);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0], "TITLE     HOST");
  EXPECT_EQ(ls[1], "a very …  alice");
  EXPECT_EQ(ls[2], "周会      bob"); // 4 columns + 4 spaces of padding + 2 apart
  // HOST starts at the same column on every line.
  for (const auto& line : ls)
    EXPECT_EQ(display_width(line.substr(0, line.rfind("  ") + 2)), 10u) << line;
}

TEST(meetctl_render, table_cells_are_sanitized) {
  auto t = render_table({{"TITLE"}}, {{"\x1b[31mred"}});
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
  EXPECT_NE(t.find("\\x1b[31mred"), std::string::npos);
}

TEST(meetctl_render, block_aligns_keys) {
  EXPECT_EQ(render_block({{"node", "node-1"}, {"version", "0.1.0"}, {"x", ""}}),
            "node     node-1\n"
            "version  0.1.0\n"
            "x\n");
}

// -- replies ----------------------------------------------------------------------

TEST(meetctl_render, ping) {
  EXPECT_EQ(render_ping({{"node", "node-1"}, {"version", "0.1.0"}, {"uptime_s", 3723}}),
            "node     node-1\n"
            "version  0.1.0\n"
            "uptime   1h 02m\n");
}

TEST(meetctl_render, stats_block) {
  json d = {{"node", "node-1"},
            {"meetings", {{"active", 2}, {"with_actor", 1}, {"dormant", 1}, {"ended", 5}}},
            {"participants", 3},
            {"ringing_invitations", 1},
            {"devices_online", 4},
            {"users", 6},
            {"commands", {{"total", 120}, {"per_s", 2.5}, {"p50_ms", 1.25}, {"p99_ms", 8}}},
            {"rtc", {{"calls", 10}, {"failures", 1}, {"retries", 2}, {"circuit_open", false}}},
            {"store", {{"commits", 40}, {"changes_per_commit", 1.5}}},
            {"webhooks", {{"delivered", 30}, {"failed_attempts", 3}, {"given_up", 1},
                          {"pending", 2}}}};
  EXPECT_EQ(render_stats(d),
            "node            node-1\n"
            "meetings        2 active (1 with an actor, 1 dormant), 5 ended\n"
            "participants    3\n"
            "ringing         1 invitation\n"
            "devices online  4\n"
            "users           6\n"
            "commands        120 total, 2.5/s, p50 1.2 ms, p99 8.0 ms\n"
            "rtc             10 calls, 1 failures, 2 retries, circuit closed\n"
            "store           40 commits, 1.50 changes/commit\n"
            "webhooks        30 delivered, 2 pending, 3 failed attempts, 1 given up\n");
  d["rtc"]["circuit_open"] = true;
  d["ringing_invitations"] = 0;
  auto s = render_stats(d);
  EXPECT_NE(s.find("circuit OPEN"), std::string::npos) << s;
  EXPECT_NE(s.find("0 invitations"), std::string::npos) << s;
}

TEST(meetctl_render, stats_with_fields_missing_or_odd) {
  auto s = render_stats({{"participants", "many"}});
  EXPECT_NE(s.find("meetings        - active (- with an actor, - dormant), - ended"),
            std::string::npos)
    << s;
  EXPECT_NE(s.find("node            -\n"), std::string::npos) << s << "(an older node names none)";
  EXPECT_NE(s.find("participants    ?"), std::string::npos) << s;
  EXPECT_NO_THROW(render_stats(json::array()));
  EXPECT_NO_THROW(render_stats(nullptr));
}

TEST(meetctl_render, nodes_table) {
  json d = {{"nodes",
             {{{"node", "n1"},
               {"state", "serving"},
               {"version", "0.3.0"},
               {"shards", 128},
               {"meetings", 42},
               {"lease_expires_at", t0 + 12},
               {"commands_per_s", 12.5}},
              {{"node", "node-b"},
               {"state", "down"},
               {"version", "0.3.0"},
               {"shards", 0},
               {"meetings", 7},
               {"lease_expires_at", t0 - 75},
               {"commands_per_s", 0}},
              {{"node", "n3"},
               {"state", "stopped"},
               {"version", "0.2.9"},
               {"shards", 0},
               {"meetings", 0},
               {"commands_per_s", 0.04}}}},
            {"answered_by", "n1"}};
  auto o = utc();
  o.now = t0;
  EXPECT_EQ(render_nodes(d, o),
            "NODE    STATE    VERSION  SHARDS  MEETINGS  LEASE_ENDS_IN  CMD/S\n"
            "n1      serving  0.3.0       128        42            12s   12.5\n"
            "node-b  down     0.3.0         0         7        -1m 15s    0.0\n"
            "n3      stopped  0.2.9         0         0              -    0.0\n"
            "answered by n1\n");
  // Without a clock to count from, the lease's end as a time.
  auto at = lines(render_nodes(d, utc()));
  ASSERT_EQ(at.size(), 5u);
  EXPECT_NE(at[1].find("2025-11-24 16:00:12Z"), std::string::npos) << at[1];
  // A lease_expires_at of 0 is no lease either; odd fields show "?".
  json odd = {{"nodes",
               {{{"node", "n1"}, {"lease_expires_at", 0}, {"shards", "many"}},
                {{"node", "n2"}, {"lease_expires_at", "soon"}}}}};
  auto ls = lines(render_nodes(odd, o));
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[1], "n1    -      -             ?         -              -      -");
  EXPECT_EQ(ls[2], "n2    -      -             -         -              ?      -");
  EXPECT_EQ(ls[3], "answered by -");
  EXPECT_EQ(render_nodes({{"nodes", json::array()}, {"answered_by", "n1"}}, o),
            "no nodes\nanswered by n1\n");
  EXPECT_NO_THROW(render_nodes(nullptr, o));
}

TEST(meetctl_render, meetings_table) {
  json d = {{"meetings",
             {{{"meeting", "m-8f3a01"},
               {"title", "standup"},
               {"host", "alice"},
               {"state", "active"},
               {"participants", 2},
               {"created_at", t0},
               {"expires_at", t0 + 48 * 3600}},
              {{"meeting", "m-b2"},
               {"title", ""},
               {"host", "bob"},
               {"state", "ended"},
               {"participants", 12},
               {"created_at", t0 - 60},
               {"expires_at", t0 + 3600}}}},
            {"next_after", "m-b2"}};
  EXPECT_EQ(render_meetings(d, utc()),
            "ID        TITLE    HOST   STATE   PEOPLE  CREATED            EXPIRES\n"
            "m-8f3a01  standup  alice  active       2  2025-11-24 16:00Z  2025-11-26 16:00Z\n"
            "m-b2      -        bob    ended       12  2025-11-24 15:59Z  2025-11-24 17:00Z\n");
  EXPECT_EQ(render_meetings({{"meetings", json::array()}}, utc()), "no meetings\n");
  EXPECT_EQ(render_meetings(json::object(), utc()), "no meetings\n");
}

TEST(meetctl_render, meetings_table_cuts_long_titles) {
  json d = {{"meetings",
             {{{"meeting", "m-1"},
               {"title", std::string(50, 'x')},
               {"host", "alice"},
               {"state", "active"},
               {"participants", 1},
               {"created_at", t0},
               {"expires_at", t0}}}}};
  auto ls = lines(render_meetings(d, utc()));
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_NE(ls[1].find(std::string(31, 'x') + "…"), std::string::npos) << ls[1];
  EXPECT_EQ(ls[1].find(std::string(32, 'x')), std::string::npos) << ls[1];
}

TEST(meetctl_render, meeting_details) {
  json v = {{"meeting", "m-8f3a01"},
            {"title", "standup"},
            {"host", "alice"},
            {"channel", "m-8f3a01"},
            {"state", "active"},
            {"created_at", t0},
            {"expires_at", t0 + 48 * 3600},
            {"locked", false},
            {"invite_policy", "anyone"},
            {"max_participants", 100},
            {"participants",
             {{{"user", "alice"},
               {"role", "host"},
               {"state", "joined"},
               {"online", true},
               {"audio_muted", false},
               {"video_muted", false},
               {"joined_at", t0}},
              {{"user", "bob"},
               {"role", "member"},
               {"state", "kicked"},
               {"online", false},
               {"audio_muted", true},
               {"video_muted", false},
               {"joined_at", t0 + 60}}}},
            {"invitations",
             {{{"user", "carol"},
               {"inviter", "alice"},
               {"state", "ringing"},
               {"ring_expires_at", t0 + 45}},
              {{"user", "dave"},
               {"inviter", "alice"},
               {"state", "accepted"},
               {"ring_expires_at", t0 + 45}}}}};
  auto o = utc();
  o.now = t0 + 3600;
  EXPECT_EQ(render_meeting(v, o),
            "meeting        m-8f3a01\n"
            "title          standup\n"
            "state          active\n"
            "host           alice\n"
            "channel        m-8f3a01\n"
            "created        2025-11-24 16:00:00Z  (1h 00m ago)\n"
            "expires        2025-11-26 16:00:00Z  (in 1d 23h)\n"
            "locked         no\n"
            "invite policy  anyone\n"
            "people         1 joined, at most 100\n"
            "\n"
            "Participants (2)\n"
            "USER   ROLE    STATE   ONLINE  AUDIO  VIDEO  JOINED\n"
            "alice  host    joined  yes     on     on     2025-11-24 16:00Z\n"
            "bob    member  kicked  no      muted  on     2025-11-24 16:01Z\n"
            "\n"
            "Invitations (2)\n"
            "USER   INVITER  STATE     RINGS UNTIL\n"
            "carol  alice    ringing   2025-11-24 16:00:45Z (59m 15s ago)\n"
            "dave   alice    accepted  -\n");
}

TEST(meetctl_render, ended_meeting_without_people) {
  json v = {{"meeting", "m-1"},
            {"state", "ended"},
            {"end_reason", "admin"},
            {"participants", json::array()},
            {"invitations", json::array()}};
  auto s = render_meeting(v, utc());
  EXPECT_NE(s.find("state          ended (admin)\n"), std::string::npos) << s;
  EXPECT_NE(s.find("title          -\n"), std::string::npos) << s;
  EXPECT_NE(s.find("Participants (0)\n  none\n"), std::string::npos) << s;
  EXPECT_NE(s.find("Invitations (0)\n  none\n"), std::string::npos) << s;
  EXPECT_NE(s.find("people         0 joined\n"), std::string::npos) << s;
}

TEST(meetctl_render, users_table) {
  json d = {{"users",
             {{{"user", "alice"}, {"display_name", "Alice Liddell"}, {"created_at", t0},
               {"devices_online", 2}},
              {{"user", "bob"}, {"display_name", ""}, {"created_at", t0},
               {"devices_online", 0}}}}};
  EXPECT_EQ(render_users(d, utc()),
            "USER   DISPLAY NAME   DEVICES ONLINE  CREATED\n"
            "alice  Alice Liddell               2  2025-11-24 16:00Z\n"
            "bob    -                           0  2025-11-24 16:00Z\n");
  EXPECT_EQ(render_users({{"users", json::array()}}, utc()), "no users\n");
}

TEST(meetctl_render, error_line) {
  EXPECT_EQ(render_error({{"id", "r-1"},
                          {"type", "reply"},
                          {"code", 403},
                          {"error", {{"reason", "not_admin"}, {"message", "not an admin"}}}}),
            "error 403 not_admin: not an admin");
  EXPECT_EQ(render_error({{"code", 404}, {"error", {{"reason", "meeting_not_found"}}}}),
            "error 404 meeting_not_found");
  EXPECT_EQ(render_error({{"code", 500}}), "error 500");
  EXPECT_EQ(render_error({{"code", 400}, {"error", {{"reason", "x\x1b[0m"}}}}),
            "error 400 x\\x1b[0m");
}
