// Implementation of gateway/rtc_signing.hpp: RPC Signature Version 1.0 and the
// ISO 8601 timestamps it signs. Calendar conversion is done by hand (Howard
// Hinnant's days/civil algorithms) rather than gmtime/timegm, which are either
// not thread-safe or not portable and depend on the process's time zone setup.
#include "gateway/rtc_signing.hpp"

#include "actors/core/crypto.hpp"

#include <cctype>
#include <cstdio>
#include <stdexcept>

namespace meetingd::rtc {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
         || c == '_' || c == '.' || c == '~';
}

// Value of a hex digit of either case, or -1.
int hex_value(char c) {
  static constexpr std::string_view digits = "0123456789abcdef";
  auto lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = digits.find(lower);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0
               && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil_date {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

civil_date civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// First and last second the format can write: 0000-01-01T00:00:00Z and
// 9999-12-31T23:59:59Z.
constexpr std::int64_t min_timestamp = -62167219200;
constexpr std::int64_t max_timestamp = 253402300799;

} // namespace

std::string percent_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (is_unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0x0f]);
    }
  }
  return out;
}

std::string canonical_query(const rpc_params& p) {
  std::string out;
  for (const auto& [name, value] : p) {
    if (!out.empty())
      out.push_back('&');
    out += percent_encode(name);
    out.push_back('=');
    out += percent_encode(value);
  }
  return out;
}

std::string string_to_sign(std::string_view method, const rpc_params& p) {
  std::string out{method};
  out += "&%2F&";
  out += percent_encode(canonical_query(p));
  return out;
}

std::string sign(std::string_view method, const rpc_params& p,
                 std::string_view access_key_secret) {
  if (p.count("Signature") != 0) {
    auto unsigned_params = p;
    unsigned_params.erase("Signature");
    return sign(method, unsigned_params, access_key_secret);
  }
  std::string key{access_key_secret};
  key.push_back('&');
  return crypto::base64_encode(crypto::hmac_sha1(key, string_to_sign(method, p)));
}

bool verify(std::string_view method, const rpc_params& p_with_signature,
            std::string_view access_key_secret) {
  auto it = p_with_signature.find("Signature");
  if (it == p_with_signature.end())
    return false;
  return crypto::constant_time_equal(sign(method, p_with_signature, access_key_secret),
                                     it->second);
}

std::string format_timestamp(std::int64_t unix_seconds) {
  if (unix_seconds < min_timestamp || unix_seconds > max_timestamp)
    throw std::out_of_range("timestamp outside the years 0000..9999");
  // Floor division, so instants before 1970 land on the right day.
  std::int64_t days = unix_seconds / 86400;
  std::int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  auto date = civil_from_days(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year),
                date.month, date.day, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return buf;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  // yyyy-MM-ddTHH:mm:ssZ
  // 01234567890123456789
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T'
      || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
    return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len) -> std::optional<unsigned> {
    unsigned v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9')
        return std::nullopt;
      v = v * 10 + static_cast<unsigned>(text[i] - '0');
    }
    return v;
  };
  auto year = number(0, 4);
  auto month = number(5, 2);
  auto day = number(8, 2);
  auto hour = number(11, 2);
  auto minute = number(14, 2);
  auto second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second)
    return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23
      || *minute > 59 || *second > 59)
    return std::nullopt;
  return days_from_civil(*year, *month, *day) * 86400 + *hour * 3600 + *minute * 60 + *second;
}

rpc_params common_params(std::string_view action, std::string_view access_key_id,
                         std::string_view region_id, std::int64_t unix_seconds,
                         std::string_view nonce) {
  return {
    {"Format", "JSON"},
    {"Version", "2018-01-11"},
    {"AccessKeyId", std::string{access_key_id}},
    {"SignatureMethod", "HMAC-SHA1"},
    {"Timestamp", format_timestamp(unix_seconds)},
    {"SignatureVersion", "1.0"},
    {"SignatureNonce", std::string{nonce}},
    {"RegionId", std::string{region_id}},
    {"Action", std::string{action}},
  };
}

std::string signed_query(std::string_view method, rpc_params p,
                         std::string_view access_key_secret) {
  p.erase("Signature");
  auto signature = sign(method, p, access_key_secret);
  p.emplace("Signature", std::move(signature));
  return canonical_query(p);
}

rpc_params parse_query(std::string_view query) {
  if (!query.empty() && query.front() == '?')
    query.remove_prefix(1);
  rpc_params out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1));
    out.insert_or_assign(std::move(name), std::move(value));
  }
  return out;
}

} // namespace meetingd::rtc
