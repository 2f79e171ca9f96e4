// MQTT credentials for Aliyun LMQ (signature mode), as the seed's Python
// computes them: username = AccessKey id, password = Base64(HMAC-SHA1(
// AccessKey secret, group id)). The MQTT gateway calls this when it connects;
// plain brokers (mosquitto) take whatever username/password is configured.
#pragma once

#include <string>
#include <string_view>

namespace meetingd::lmq {

// Base64(HMAC-SHA1(key = access_key_secret, data = group_id)).
std::string lmq_password(std::string_view access_key_secret, std::string_view group_id);

// The group id of an LMQ client id `<group>@@@<device>`: the part before the
// first "@@@", or empty if there is none.
std::string group_of(std::string_view client_id);

} // namespace meetingd::lmq
