// RTC join tokens (docs/protocol.md §6): what a device presents to the RTC service
// to enter a channel. The credentials builder picks one of the two schemes per
// --token-scheme; the secret inputs (channel key, app key) never leave the node.
#pragma once

#include <cstddef>
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

// The RTC user id of an app user: the first 32 lower-hex digits of
// SHA-256(user id). Every RTC user id has the same length, so the token
// inputs, concatenated without separators, cannot be cut differently: user
// `bobx` with session `s` cannot pass for user `bob` with session `xs`.
// Stable for a user, so rejoins keep it; device developers map the ids in
// the SDK's events back to users with the same formula (docs/protocol.md).
inline constexpr std::size_t rtc_user_id_length = 32;
std::string rtc_user_id(std::string_view user);

} // namespace meetingd::rtc
