// Implementation of actors/core/auth.hpp on top of actors/core/crypto. Every parse is
// strict: a stored hash or ticket is either exactly in the format we write or
// refused, so there is one accepted spelling of each credential.
#include "actors/core/auth.hpp"

#include "actors/core/crypto.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

namespace meetingd::auth {

namespace {

constexpr std::string_view scheme = "pbkdf2-sha256";
constexpr std::size_t salt_len = 16;
constexpr std::size_t key_len = 32;
// A stored salt longer than this is not one we wrote; refusing it bounds the
// work a corrupt row can cause.
constexpr std::size_t max_salt_len = 1024;
constexpr std::size_t mac_hex_len = 64;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_valid_user(std::string_view user) {
  if (user.empty() || user.size() > 64)
    return false;
  for (char c : user) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'
              || c == '.' || c == '@' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

// Plain decimal: 1..max_digits digits, no sign, no spaces; nullopt on overflow.
std::optional<std::int64_t> parse_decimal(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c))
      return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
      return false;
  return true;
}

std::string ticket_payload(std::string_view user, std::int64_t expiry) {
  std::string payload{user};
  payload.push_back('.');
  payload += std::to_string(expiry);
  return payload;
}

} // namespace

std::string hash_password(std::string_view password, int iterations) {
  if (iterations < min_iterations || iterations > max_iterations)
    throw std::invalid_argument("password hash iterations out of range");
  auto salt = crypto::random_bytes(salt_len);
  auto key = crypto::pbkdf2_sha256(password, salt, iterations, key_len);
  std::string out{scheme};
  out += '$';
  out += std::to_string(iterations);
  out += '$';
  out += crypto::base64_encode(salt);
  out += '$';
  out += crypto::base64_encode(key);
  return out;
}

namespace {

/// The fields of a stored hash, checked: iterations in range, a salt, a key
/// of the right length.
struct parsed_hash {
  int iterations = 0;
  std::string salt;
  std::string key;
};

std::optional<parsed_hash> parse_hash(std::string_view stored) {
  std::vector<std::string_view> fields;
  while (true) {
    auto pos = stored.find('$');
    fields.push_back(stored.substr(0, pos));
    if (pos == std::string_view::npos)
      break;
    stored.remove_prefix(pos + 1);
  }
  if (fields.size() != 4 || fields[0] != scheme)
    return std::nullopt;
  // max_iterations has 8 digits.
  auto iterations = parse_decimal(fields[1], 8);
  if (!iterations || *iterations < min_iterations || *iterations > max_iterations)
    return std::nullopt;
  auto salt = crypto::base64_decode(fields[2]);
  auto key = crypto::base64_decode(fields[3]);
  if (!salt || salt->empty() || salt->size() > max_salt_len || !key || key->size() != key_len)
    return std::nullopt;
  return parsed_hash{static_cast<int>(*iterations), std::move(*salt), std::move(*key)};
}

} // namespace

bool verify_password(std::string_view password, std::string_view stored) {
  auto hash = parse_hash(stored);
  if (!hash)
    return false;
  auto candidate = crypto::pbkdf2_sha256(password, hash->salt, hash->iterations, key_len);
  return crypto::constant_time_equal(candidate, hash->key);
}

std::optional<int> hash_iterations(std::string_view stored) {
  auto hash = parse_hash(stored);
  if (!hash)
    return std::nullopt;
  return hash->iterations;
}

bool verify_against_nothing(std::string_view password, int iterations) {
  static const std::string salt(salt_len, 's');
  iterations = std::clamp(iterations, min_iterations, max_iterations);
  // OpenSSL's PBKDF2 is opaque to the compiler: the work is done.
  crypto::pbkdf2_sha256(password, salt, iterations, key_len);
  return false;
}

std::string make_ticket(std::string_view user, std::int64_t expiry_unix_s,
                        std::string_view secret) {
  if (!is_valid_user(user))
    throw std::invalid_argument("ticket user is not a valid user id");
  if (expiry_unix_s < 0)
    throw std::invalid_argument("ticket expiry is negative");
  auto payload = ticket_payload(user, expiry_unix_s);
  auto mac = crypto::hmac_sha256_hex(secret, payload);
  return payload + '.' + mac;
}

ticket_check check_ticket(std::string_view ticket, std::string_view secret,
                          std::int64_t now_unix_s) {
  ticket_check result{ticket_status::malformed, {}, 0};
  auto mac_dot = ticket.rfind('.');
  if (mac_dot == std::string_view::npos || mac_dot == 0)
    return result;
  auto expiry_dot = ticket.rfind('.', mac_dot - 1);
  if (expiry_dot == std::string_view::npos)
    return result;
  auto user = ticket.substr(0, expiry_dot);
  auto expiry_text = ticket.substr(expiry_dot + 1, mac_dot - expiry_dot - 1);
  auto mac = ticket.substr(mac_dot + 1);
  auto expiry = parse_decimal(expiry_text, 19);
  if (!is_valid_user(user) || !expiry || mac.size() != mac_hex_len || !is_lower_hex(mac))
    return result;
  result.user = std::string{user};
  result.expiry = *expiry;
  // The MAC is over the ticket's own bytes, so an expiry with leading zeros
  // must have been signed that way.
  if (secret.empty()
      || !crypto::constant_time_equal(crypto::hmac_sha256_hex(secret, ticket.substr(0, mac_dot)),
                                      mac)) {
    result.status = ticket_status::bad_signature;
    return result;
  }
  result.status = *expiry <= now_unix_s ? ticket_status::expired : ticket_status::ok;
  return result;
}

} // namespace meetingd::auth
