// The login rules of docs/protocol.md §7.3 as pure functions: salted PBKDF2-SHA256
// password hashes (made by admin.user.add, checked by auth.login with a
// password) and login tickets, with which the customer's own account system
// vouches for a user: <user>.<expiry>.<hex HMAC-SHA256(secret, "<user>.<expiry>")>.
// The directory actor decides what a result means (401 reasons, user creation,
// rate limiting); nothing here touches state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meetingd::auth {

// Verification refuses stored hashes outside this range, so that a tampered
// or corrupt row cannot make a login spin for minutes.
inline constexpr int min_iterations = 1;
inline constexpr int max_iterations = 10'000'000;

// `pbkdf2-sha256$<iterations>$<base64 salt>$<base64 key>` with 16 random salt
// bytes and a 32-byte key. Throws std::invalid_argument for iterations outside
// [min_iterations, max_iterations].
std::string hash_password(std::string_view password, int iterations);

// True if password matches a hash_password() string. False, never an
// exception, for any malformed stored string: wrong scheme or field count,
// iterations not plain decimal or out of range, bad Base64, an empty salt or a
// key that is not 32 bytes. The key comparison is constant time.
bool verify_password(std::string_view password, std::string_view stored);

// The iterations a hash_password() string was made with; nullopt for any
// string verify_password would refuse outright.
std::optional<int> hash_iterations(std::string_view stored);

// Spends the time of checking a password hashed with `iterations`, and
// fails: what a login for an unknown user costs, so that the time of the
// answer does not tell which users exist.
bool verify_against_nothing(std::string_view password, int iterations);

// `<user>.<expiry>.<lower-hex HMAC-SHA256(secret, "<user>.<expiry>")>`. Throws
// std::invalid_argument if user is not a valid user id (1..64 of
// [A-Za-z0-9_.@-]) or expiry is negative, since check_ticket would refuse that.
std::string make_ticket(std::string_view user, std::int64_t expiry_unix_s,
                        std::string_view secret);

enum class ticket_status { ok, malformed, bad_signature, expired };

// user and expiry are filled in whenever the ticket parses, but are only
// vouched for when status is ok (or expired).
struct ticket_check {
  ticket_status status;
  std::string user;
  std::int64_t expiry = 0;
};

// Parses from the right (user ids may contain '.'), then checks the MAC in
// constant time, then the expiry (expired when expiry <= now), so an expired
// forgery is bad_signature. An empty secret means tickets are disabled: every
// well-formed ticket is bad_signature.
ticket_check check_ticket(std::string_view ticket, std::string_view secret,
                          std::int64_t now_unix_s);

} // namespace meetingd::auth
