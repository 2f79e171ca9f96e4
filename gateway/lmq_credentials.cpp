// Implementation of gateway/lmq_credentials.hpp.
#include "gateway/lmq_credentials.hpp"

#include "actors/core/crypto.hpp"

namespace meetingd::lmq {

std::string lmq_password(std::string_view access_key_secret, std::string_view group_id) {
  return crypto::base64_encode(crypto::hmac_sha1(access_key_secret, group_id));
}

std::string group_of(std::string_view client_id) {
  auto pos = client_id.find("@@@");
  if (pos == std::string_view::npos)
    return {};
  return std::string{client_id.substr(0, pos)};
}

} // namespace meetingd::lmq
