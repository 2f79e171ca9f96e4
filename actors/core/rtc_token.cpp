// Implementation of gateway/rtc_token.hpp. The concatenations have no
// separators because that is what the RTC service recomputes; the field order
// differs between the schemes and is the whole difference.
#include "actors/core/rtc_token.hpp"

#include "actors/core/crypto.hpp"

namespace meetingd::rtc {

std::string channel_token(std::string_view channel_id, std::string_view channel_key,
                          std::string_view app_id, std::string_view user_id,
                          std::string_view session, std::string_view nonce,
                          std::int64_t timestamp) {
  std::string input;
  input.append(channel_id)
    .append(channel_key)
    .append(app_id)
    .append(user_id)
    .append(session)
    .append(nonce)
    .append(std::to_string(timestamp));
  return crypto::sha256_hex(input);
}

std::string appkey_token(std::string_view app_id, std::string_view app_key,
                         std::string_view channel_id, std::string_view user_id,
                         std::string_view nonce, std::int64_t timestamp) {
  std::string input;
  input.append(app_id)
    .append(app_key)
    .append(channel_id)
    .append(user_id)
    .append(nonce)
    .append(std::to_string(timestamp));
  return crypto::sha256_hex(input);
}

std::string rtc_user_id(std::string_view user) {
  return crypto::sha256_hex(user).substr(0, rtc_user_id_length);
}

} // namespace meetingd::rtc
