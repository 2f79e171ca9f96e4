#include "tools/meetctl/render.hpp"

#include "config/duration_text.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <optional>

namespace meetingd::meetctl {

namespace {

// -- UTF-8 ------------------------------------------------------------------------

/// Decodes one code point at `s[i]`; `len` 0 means an invalid byte.
struct decoded_cp {
  char32_t cp = 0;
  std::size_t len = 0;
};

decoded_cp decode(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80)
    return {c, 1};
  std::size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (i + n > s.size())
    return {};
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80)
      return {};
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return {};
  return {cp, n};
}

bool unsafe(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) // C0, DEL, C1
         || cp == 0x061C || cp == 0x200E || cp == 0x200F      // bidi marks
         || (cp >= 0x202A && cp <= 0x202E)                     // bidi embeddings, overrides
         || (cp >= 0x2066 && cp <= 0x2069)                     // bidi isolates
         || cp == 0x2028 || cp == 0x2029;                      // line, paragraph separators
}

int cp_width(char32_t cp) {
  auto in = [cp](char32_t lo, char32_t hi) { return cp >= lo && cp <= hi; };
  if (in(0x0300, 0x036F) || in(0x1AB0, 0x1AFF) || in(0x1DC0, 0x1DFF) || in(0x20D0, 0x20FF)
      || in(0xFE20, 0xFE2F) || in(0x200B, 0x200D) || in(0xFE00, 0xFE0F))
    return 0;
  if (in(0x1100, 0x115F) || in(0x2E80, 0x303E) || in(0x3041, 0x33FF) || in(0x3400, 0x4DBF)
      || in(0x4E00, 0x9FFF) || in(0xA000, 0xA4CF) || in(0xAC00, 0xD7A3) || in(0xF900, 0xFAFF)
      || in(0xFE30, 0xFE4F) || in(0xFF00, 0xFF60) || in(0xFFE0, 0xFFE6) || in(0x1F300, 0x1F64F)
      || in(0x1F900, 0x1F9FF) || in(0x20000, 0x2FFFD) || in(0x30000, 0x3FFFD))
    return 2;
  return 1;
}

std::string pad(const std::string& s, std::size_t width, bool right) {
  auto w = display_width(s);
  if (w >= width)
    return s;
  std::string fill(width - w, ' ');
  return right ? fill + s : s + fill;
}

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

// -- JSON fields ------------------------------------------------------------------

const json* field(const json& j, const char* key) {
  if (!j.is_object())
    return nullptr;
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return nullptr;
  return &*i;
}

/// A field as display text: "-" if missing or empty, "?" if not a scalar.
std::string text(const json& j, const char* key) {
  auto f = field(j, key);
  if (!f)
    return "-";
  if (f->is_string()) {
    auto s = f->get<std::string>();
    return s.empty() ? "-" : s;
  }
  if (f->is_boolean())
    return f->get<bool>() ? "yes" : "no";
  if (f->is_number())
    return f->dump();
  return "?";
}

bool integer(const json& j, const char* key, std::int64_t& out) {
  auto f = field(j, key);
  if (!f || !f->is_number())
    return false;
  out = f->is_number_float() ? static_cast<std::int64_t>(f->get<double>())
                             : f->get<std::int64_t>();
  return true;
}

std::string count(const json& j, const char* key) {
  std::int64_t n = 0;
  if (integer(j, key, n))
    return std::to_string(n);
  return field(j, key) ? "?" : "-";
}

std::string number(const json& j, const char* key, const char* format) {
  auto f = field(j, key);
  if (!f)
    return "-";
  if (!f->is_number())
    return "?";
  return fmt(format, f->get<double>());
}

std::string flag(const json& j, const char* key, const char* yes, const char* no) {
  auto f = field(j, key);
  if (!f)
    return "-";
  if (!f->is_boolean())
    return "?";
  return f->get<bool>() ? yes : no;
}

std::string time_cell(const json& j, const char* key, const render_options& o) {
  std::int64_t t = 0;
  if (!integer(j, key, t))
    return field(j, key) ? "?" : "-";
  return format_time(t, o.utc);
}

std::string time_full(const json& j, const char* key, const render_options& o) {
  std::int64_t t = 0;
  if (!integer(j, key, t))
    return field(j, key) ? "?" : "-";
  auto s = format_time_full(t, o.utc);
  if (o.now > 0 && t > 0)
    s += "  (" + format_relative(t, o.now) + ")";
  return s;
}

const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  auto f = field(j, key);
  return f && f->is_array() ? *f : empty;
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

// -- text -------------------------------------------------------------------------

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char buf[16];
  for (std::size_t i = 0; i < s.size();) {
    auto d = decode(s, i);
    if (d.len == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i]));
      out += buf;
      ++i;
      continue;
    }
    if (unsafe(d.cp)) {
      if (d.cp < 0x80)
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(d.cp));
      else
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(d.cp));
      out += buf;
    } else {
      out.append(s.substr(i, d.len));
    }
    i += d.len;
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto d = decode(s, i);
    if (d.len == 0) {
      ++w;
      ++i;
      continue;
    }
    w += static_cast<std::size_t>(cp_width(d.cp));
    i += d.len;
  }
  return w;
}

std::string shorten(std::string_view s, std::size_t width) {
  if (display_width(s) <= width)
    return std::string{s};
  if (width == 0)
    return {};
  std::string out;
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto d = decode(s, i);
    auto len = d.len == 0 ? 1 : d.len;
    auto cw = d.len == 0 ? 1u : static_cast<std::size_t>(cp_width(d.cp));
    if (w + cw > width - 1)
      break;
    out.append(s.substr(i, len));
    w += cw;
    i += len;
  }
  return out + "…";
}

// -- times and durations ----------------------------------------------------------

namespace {

/// The time as strftime's `format` writes it in UTC or local time (its
/// broken-down form in `tm`); nullopt for 0 (no time) or one the C library
/// cannot convert.
std::optional<std::string> strftime_of(std::int64_t unix_s, bool utc, const char* format,
                                       std::tm& tm) {
  auto t = static_cast<std::time_t>(unix_s);
  if (unix_s == 0 || (utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) == nullptr)
    return std::nullopt;
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return std::string{buf};
}

} // namespace

std::string format_time(std::int64_t unix_s, bool utc) {
  std::tm tm{};
  auto text = strftime_of(unix_s, utc, "%Y-%m-%d %H:%M", tm);
  return text ? *text + (utc ? "Z" : "") : "-";
}

std::string format_time_full(std::int64_t unix_s, bool utc) {
  std::tm tm{};
  auto text = strftime_of(unix_s, utc, "%Y-%m-%d %H:%M:%S", tm);
  if (!text)
    return "-";
  std::string buf = *text;
  if (utc)
    return buf + "Z";
  long off = tm.tm_gmtoff;
  char zone[32];
  std::snprintf(zone, sizeof zone, " %c%02ld:%02ld", off < 0 ? '-' : '+', std::labs(off) / 3600,
                (std::labs(off) % 3600) / 60);
  return buf + std::string{zone};
}

std::string format_duration(std::int64_t s) {
  if (s < 0)
    return "-" + format_duration(-s);
  char buf[64];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%" PRId64 "s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%" PRId64 "h %02" PRId64 "m", s / 3600, (s % 3600) / 60);
  else
    std::snprintf(buf, sizeof buf, "%" PRId64 "d %02" PRId64 "h", s / 86400, (s % 86400) / 3600);
  return buf;
}

std::string format_relative(std::int64_t at, std::int64_t now) {
  if (at == now)
    return "now";
  if (at > now)
    return "in " + format_duration(at - now);
  return format_duration(now - at) + " ago";
}

bool parse_duration(std::string_view s, std::chrono::milliseconds& out) {
  auto parsed = parse_duration_text(s, duration_style::console);
  if (parsed)
    out = *parsed;
  return parsed.has_value();
}

// -- tables -----------------------------------------------------------------------

std::string render_table(const std::vector<column>& columns,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> cells;
  cells.reserve(rows.size());
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c)
    widths[c] = display_width(columns[c].header);
  for (const auto& row : rows) {
    std::vector<std::string> line(columns.size());
    for (std::size_t c = 0; c < columns.size(); ++c) {
      auto cell = c < row.size() ? sanitize(row[c]) : std::string{};
      if (columns[c].max_width > 0)
        cell = shorten(cell, columns[c].max_width);
      widths[c] = std::max(widths[c], display_width(cell));
      line[c] = std::move(cell);
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](std::string& out, const std::vector<std::string>& line) {
    std::string text;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      bool last = c + 1 == columns.size();
      if (c > 0)
        text += "  ";
      text += (last && !columns[c].right) ? line[c] : pad(line[c], widths[c], columns[c].right);
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out += text + "\n";
  };
  std::string out;
  std::vector<std::string> header;
  for (const auto& c : columns)
    header.push_back(c.header);
  emit(out, header);
  for (const auto& line : cells)
    emit(out, line);
  return out;
}

std::string render_block(const std::vector<std::pair<std::string, std::string>>& lines) {
  std::size_t key_width = 0;
  for (const auto& [k, v] : lines)
    key_width = std::max(key_width, display_width(k));
  std::string out;
  for (const auto& [k, v] : lines) {
    auto line = pad(k, key_width, false) + "  " + sanitize(v);
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

// -- replies ----------------------------------------------------------------------

std::string render_ping(const json& d) {
  std::int64_t up = 0;
  std::string uptime = integer(d, "uptime_s", up) ? format_duration(up) : text(d, "uptime_s");
  return render_block({{"node", text(d, "node")},
                       {"version", text(d, "version")},
                       {"uptime", uptime}});
}

std::string render_stats(const json& d) {
  static const json none = json::object();
  auto obj = [&](const char* key) -> const json& {
    auto f = field(d, key);
    return f && f->is_object() ? *f : none;
  };
  const auto& m = obj("meetings");
  const auto& c = obj("commands");
  const auto& r = obj("rtc");
  const auto& s = obj("store");
  const auto& w = obj("webhooks");
  std::int64_t ringing = 0;
  auto ringing_text = integer(d, "ringing_invitations", ringing)
                        ? plural(ringing, "invitation", "invitations")
                        : text(d, "ringing_invitations");
  return render_block({
    {"node", text(d, "node")},
    {"meetings", count(m, "active") + " active (" + count(m, "with_actor") + " with an actor, "
                   + count(m, "dormant") + " dormant), " + count(m, "ended") + " ended"},
    {"participants", count(d, "participants")},
    {"ringing", ringing_text},
    {"devices online", count(d, "devices_online")},
    {"users", count(d, "users")},
    {"commands", count(c, "total") + " total, " + number(c, "per_s", "%.1f") + "/s, p50 "
                   + number(c, "p50_ms", "%.1f") + " ms, p99 " + number(c, "p99_ms", "%.1f")
                   + " ms"},
    {"rtc", count(r, "calls") + " calls, " + count(r, "failures") + " failures, "
              + count(r, "retries") + " retries, circuit "
              + flag(r, "circuit_open", "OPEN", "closed")},
    {"store", count(s, "commits") + " commits, " + number(s, "changes_per_commit", "%.2f")
                + " changes/commit"},
    {"webhooks", count(w, "delivered") + " delivered, " + count(w, "pending") + " pending, "
                   + count(w, "failed_attempts") + " failed attempts, " + count(w, "given_up")
                   + " given up"},
  });
}

std::string render_nodes(const json& d, const render_options& o) {
  std::string out;
  const auto& xs = list(d, "nodes");
  if (xs.empty()) {
    out = "no nodes\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : xs) {
      // Leases last seconds: how long this one has left says more than a
      // clock time (negative: it ran out, the node is down or late).
      std::string lease_ends = "-"; // no lease: absent, or 0
      std::int64_t t = 0;
      if (!integer(n, "lease_expires_at", t))
        lease_ends = field(n, "lease_expires_at") ? "?" : "-";
      else if (t > 0)
        lease_ends = o.now > 0 ? format_duration(t - o.now) : format_time_full(t, o.utc);
      rows.push_back({text(n, "node"), text(n, "state"), text(n, "version"), count(n, "shards"),
                      count(n, "meetings"), lease_ends, number(n, "commands_per_s", "%.1f")});
    }
    out = render_table({{"NODE", false, 32},
                        {"STATE"},
                        {"VERSION", false, 24},
                        {"SHARDS", true},
                        {"MEETINGS", true},
                        {"LEASE_ENDS_IN", true},
                        {"CMD/S", true}},
                       rows);
  }
  return out + "answered by " + sanitize(text(d, "answered_by")) + "\n";
}

std::string render_meetings(const json& d, const render_options& o) {
  const auto& xs = list(d, "meetings");
  if (xs.empty())
    return "no meetings\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : xs)
    rows.push_back({text(m, "meeting"), text(m, "title"), text(m, "host"), text(m, "state"),
                    count(m, "participants"), time_cell(m, "created_at", o),
                    time_cell(m, "expires_at", o)});
  return render_table({{"ID"},
                       {"TITLE", false, 32},
                       {"HOST", false, 24},
                       {"STATE"},
                       {"PEOPLE", true},
                       {"CREATED"},
                       {"EXPIRES"}},
                      rows);
}

std::string render_meeting(const json& v, const render_options& o) {
  const auto& ps = list(v, "participants");
  const auto& is = list(v, "invitations");
  std::int64_t joined = 0;
  for (const auto& p : ps)
    if (text(p, "state") == "joined")
      ++joined;
  auto state = text(v, "state");
  if (auto reason = text(v, "end_reason"); reason != "-")
    state += " (" + reason + ")";
  std::int64_t max = 0;
  auto people = std::to_string(joined) + " joined";
  if (integer(v, "max_participants", max) && max > 0)
    people += ", at most " + std::to_string(max);
  std::string out = render_block({
    {"meeting", text(v, "meeting")},
    {"title", text(v, "title")},
    {"state", state},
    {"host", text(v, "host")},
    {"channel", text(v, "channel")},
    {"created", time_full(v, "created_at", o)},
    {"expires", time_full(v, "expires_at", o)},
    {"locked", text(v, "locked")},
    {"invite policy", text(v, "invite_policy")},
    {"people", people},
  });

  out += "\nParticipants (" + std::to_string(ps.size()) + ")\n";
  if (ps.empty()) {
    out += "  none\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : ps)
      rows.push_back({text(p, "user"), text(p, "role"), text(p, "state"), text(p, "online"),
                      flag(p, "audio_muted", "muted", "on"), flag(p, "video_muted", "muted", "on"),
                      time_cell(p, "joined_at", o)});
    out += render_table({{"USER", false, 32},
                         {"ROLE"},
                         {"STATE"},
                         {"ONLINE"},
                         {"AUDIO"},
                         {"VIDEO"},
                         {"JOINED"}},
                        rows);
  }

  out += "\nInvitations (" + std::to_string(is.size()) + ")\n";
  if (is.empty()) {
    out += "  none\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : is) {
      // The ring deadline matters only while it rings (seconds, not minutes).
      std::string until = "-";
      std::int64_t t = 0;
      if (text(i, "state") == "ringing" && integer(i, "ring_expires_at", t) && t > 0) {
        until = format_time_full(t, o.utc);
        if (o.now > 0)
          until += " (" + format_relative(t, o.now) + ")";
      }
      rows.push_back({text(i, "user"), text(i, "inviter"), text(i, "state"), until});
    }
    out += render_table({{"USER", false, 32}, {"INVITER", false, 32}, {"STATE"}, {"RINGS UNTIL"}},
                        rows);
  }
  return out;
}

std::string render_users(const json& d, const render_options& o) {
  const auto& xs = list(d, "users");
  if (xs.empty())
    return "no users\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : xs)
    rows.push_back({text(u, "user"), text(u, "display_name"), count(u, "devices_online"),
                    time_cell(u, "created_at", o)});
  return render_table(
    {{"USER"}, {"DISPLAY NAME", false, 32}, {"DEVICES ONLINE", true}, {"CREATED"}}, rows);
}

std::string render_error(const json& reply) {
  std::string out = "error " + count(reply, "code");
  static const json none = json::object();
  auto e = field(reply, "error");
  const auto& err = e && e->is_object() ? *e : none;
  auto reason = text(err, "reason");
  auto message = text(err, "message");
  if (reason != "-")
    out += " " + reason;
  if (message != "-")
    out += ": " + message;
  return sanitize(out);
}

} // namespace meetingd::meetctl
