// The JSON plumbing of the codec (see codec_json.hpp): the nesting pre-scan,
// compact dumps and the id rules.
#include "gateway/codec_json.hpp"

#include "gateway/codec.hpp"

#include <algorithm>

namespace meetingd::codec {

namespace detail {

namespace {

constexpr std::size_t max_id_len = 64;

bool id_char(char c, bool entity) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
    return true;
  switch (c) {
    case '_':
    case '.':
    case '-':
      return true;
    case ':':
      return !entity;
    case '@':
      return entity;
    default:
      return false;
  }
}

} // namespace

bool nesting_ok(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit)
          return false;
        break;
      case ']':
      case '}':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

bool valid_id(std::string_view x, bool entity) {
  if (x.empty() || x.size() > max_id_len)
    return false;
  return std::all_of(x.begin(), x.end(), [entity](char c) { return id_char(c, entity); });
}

} // namespace detail

bool valid_request_id(std::string_view x) {
  return detail::valid_id(x, false);
}

bool valid_entity_id(std::string_view x) {
  return detail::valid_id(x, true);
}

} // namespace meetingd::codec
