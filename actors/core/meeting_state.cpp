// Out-of-line parts of actors/meeting_state.hpp.
#include "actors/core/meeting_state.hpp"

namespace meetingd {

const char* to_string(token_scheme x) {
  switch (x) {
    case token_scheme::channel:
      return "channel";
    case token_scheme::appkey:
      return "appkey";
  }
  return "unknown";
}

std::optional<token_scheme> parse_token_scheme(std::string_view x) {
  if (x == "channel")
    return token_scheme::channel;
  if (x == "appkey")
    return token_scheme::appkey;
  return std::nullopt;
}

} // namespace meetingd
