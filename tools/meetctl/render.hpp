// meetctl's output: tables and blocks rendered from the `data` of admin
// replies (docs/protocol.md; shapes in gateway/codec_replies.cpp). Pure
// functions from JSON to text, no I/O, so they are unit-tested
// (tests/unit/meetctl_render_test.cpp).
//
// Robust against what a node may send: a missing field renders as "-", a
// field of another type as "?", and text that came from users (titles,
// display names) is made safe for a terminal (control characters, ANSI escape
// sequences and bidi overrides are shown escaped, never passed through).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meetingd::meetctl {

using json = nlohmann::json;

struct render_options {
  /// Times in UTC ("Z") instead of the local time zone.
  bool utc = false;
  /// Unix seconds of "now", for "in 2h 05m" next to deadlines; 0 shows none.
  std::int64_t now = 0;
};

// -- text -------------------------------------------------------------------------

/// `s` with every control character (C0, DEL, C1), bidi override and invalid
/// UTF-8 byte replaced by a visible escape (`\x1b`, `\u202e`, `\xff`).
std::string sanitize(std::string_view s);
/// Terminal columns of UTF-8 text: East Asian wide characters count 2,
/// combining marks 0.
std::size_t display_width(std::string_view utf8);
/// `s` cut to at most `width` columns, ending in "…" if it was cut.
std::string shorten(std::string_view s, std::size_t width);

// -- times and durations ----------------------------------------------------------

/// "2025-11-24 16:00" (local time, or UTC with a trailing "Z"); "-" for 0.
std::string format_time(std::int64_t unix_s, bool utc);
/// "2025-11-24 16:00:05 +01:00" (or "... 16:00:05Z" in UTC); "-" for 0.
std::string format_time_full(std::int64_t unix_s, bool utc);
/// "0s", "45s", "3m 05s", "2h 03m", "3d 04h".
std::string format_duration(std::int64_t seconds);
/// "in 2h 03m" or "5m 00s ago" relative to `now`; "now" when equal.
std::string format_relative(std::int64_t at, std::int64_t now);
/// A duration as CAF writes it (`500ms`, `2s`, `1min`, `1h`; also `us`, `ns`)
/// or a plain number of seconds. False if `s` is none of these.
bool parse_duration(std::string_view s, std::chrono::milliseconds& out);

// -- tables -----------------------------------------------------------------------

struct column {
  std::string header;
  bool right = false;        // right-aligned (numbers)
  std::size_t max_width = 0; // longer cells are cut with "…"; 0 = no limit
};

/// A header line and one line per row, columns two spaces apart, padded to
/// the widest cell (in terminal columns); no trailing spaces. Cells are
/// sanitized. Rows shorter than the header are padded with empty cells.
std::string render_table(const std::vector<column>& columns,
                         const std::vector<std::vector<std::string>>& rows);

/// Aligned "key  value" lines (keys padded to the longest key).
std::string render_block(const std::vector<std::pair<std::string, std::string>>& lines);

// -- replies ----------------------------------------------------------------------

/// admin.ping: node, version, uptime.
std::string render_ping(const json& data);
/// admin.stats: one readable block, starting with the node that answered.
std::string render_stats(const json& data);
/// admin.nodes: NODE STATE VERSION SHARDS MEETINGS LEASE_ENDS_IN CMD/S, the
/// lease's end in seconds from `opts.now` (its time when now is 0), "-"
/// without a lease; then which node answered.
std::string render_nodes(const json& data, const render_options& opts);
/// admin.meetings.list: ID TITLE HOST STATE PEOPLE CREATED EXPIRES, or a
/// line saying there are none.
std::string render_meetings(const json& data, const render_options& opts);
/// admin.meeting.get (meeting.get's view): a header block, the participants
/// table and the invitations table.
std::string render_meeting(const json& view, const render_options& opts);
/// admin.users.list: USER DISPLAY NAME DEVICES CREATED.
std::string render_users(const json& data, const render_options& opts);
/// An error reply as one line: `error <code> <reason>: <message>`.
std::string render_error(const json& reply);

} // namespace meetingd::meetctl
