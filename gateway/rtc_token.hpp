// RTC join tokens (PROTOCOL.md §6): what a device presents to the RTC service
// to enter a channel. The credentials builder picks one of the two schemes per
// --token-scheme; the secret inputs (channel key, app key) never leave the node.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meetingd::rtc {

// Scheme `channel` (the seed's): lower-hex SHA-256 of
// channel_id ‖ channel_key ‖ app_id ‖ user_id ‖ session ‖ nonce ‖ decimal(timestamp),
// with channel_key, nonce and timestamp from CreateChannel's answer.
std::string channel_token(std::string_view channel_id, std::string_view channel_key,
                          std::string_view app_id, std::string_view user_id,
                          std::string_view session, std::string_view nonce,
                          std::int64_t timestamp);

// Scheme `appkey` (Aliyun's current one): lower-hex SHA-256 of
// app_id ‖ app_key ‖ channel_id ‖ user_id ‖ nonce ‖ decimal(timestamp), where
// timestamp is the token's expiry.
std::string appkey_token(std::string_view app_id, std::string_view app_key,
                         std::string_view channel_id, std::string_view user_id,
                         std::string_view nonce, std::int64_t timestamp);

} // namespace meetingd::rtc
