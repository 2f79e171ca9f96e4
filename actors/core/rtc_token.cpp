// Implementation of actors/core/rtc_token.hpp. The concatenations have no
// separators because that is what the RTC service recomputes; the field order
// differs between the schemes and is the whole difference.
#include "actors/core/rtc_token.hpp"

#include "actors/core/crypto.hpp"

#include <initializer_list>

namespace meetingd::rtc {

namespace {

// SHA-256 (hex) of the fields written one after the other.
std::string digest_of(std::initializer_list<std::string_view> fields) {
  std::string input;
  for (auto field : fields)
    input.append(field);
  return crypto::sha256_hex(input);
}

} // namespace

std::string channel_token(std::string_view channel_id, std::string_view channel_key,
                          std::string_view app_id, std::string_view user_id,
                          std::string_view session, std::string_view nonce,
                          std::int64_t timestamp) {
  return digest_of(
    {channel_id, channel_key, app_id, user_id, session, nonce, std::to_string(timestamp)});
}

std::string appkey_token(std::string_view app_id, std::string_view app_key,
                         std::string_view channel_id, std::string_view user_id,
                         std::string_view nonce, std::int64_t timestamp) {
  return digest_of({app_id, app_key, channel_id, user_id, nonce, std::to_string(timestamp)});
}

std::string rtc_user_id(std::string_view user) {
  return crypto::sha256_hex(user).substr(0, rtc_user_id_length);
}

} // namespace meetingd::rtc
