// What the emulator's two test files (emulator_test.cpp: the logic with an
// injected clock; emulator_http_test.cpp: the same over real sockets) share:
// one set of credentials, so a request signed in one file is valid in the other.
#pragma once

#include <string>
#include <string_view>

#include "gateway/rtc_signing.hpp"
#include "tools/rtc_emulator/emulator.hpp"

namespace meetingd::emulator_test {

constexpr const char* key_id = "test-key-id";
constexpr const char* secret = "test-secret";
constexpr const char* app_key = "test-app-key";
constexpr const char* app = "g10dhbxp";

/// An emulator that accepts `key_id` / `secret`; without the app key it only
/// knows channel tokens, not app-key tokens.
inline emulator::options make_options(bool with_app_key = true) {
  emulator::options o;
  o.access_key_id = key_id;
  o.access_key_secret = secret;
  if (with_app_key)
    o.app_key = app_key;
  return o;
}

/// The params naming channel `ch` of the test app.
inline rtc::rpc_params chan(std::string_view ch) {
  return {{"AppId", app}, {"ChannelId", std::string{ch}}};
}

} // namespace meetingd::emulator_test
