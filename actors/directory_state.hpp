// The records the directory owns: users (who may log in) and devices (which
// MQTT client is bound to which user). Both are persisted by the store.
#pragma once

#include "gateway/protocol.hpp"

#include <cstdint>
#include <string>

namespace meetingd {

struct user_record {
  std::string id;
  std::string display_name;
  std::string password_hash; // "pbkdf2-sha256$iter$salt$key"; empty: ticket-only user
  unix_ms created_at = 0;
};

struct device_record {
  std::string client; // the MQTT client id, e.g. GID_MEETING_DOWN@@@phone-1
  std::string user;
  unix_ms bound_at = 0;
  std::uint64_t last_seq = 0; // the last event seq sent to this device
  bool online = true;          // last presence seen (will or online message)
  unix_ms last_seen_at = 0;    // last uplink or presence message
};

} // namespace meetingd
