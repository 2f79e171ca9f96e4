// The wire codec: JSON payloads <-> the types of gateway/protocol.hpp.
//
// Decoding validates everything PROTOCOL.md §2-3 asks: a JSON object of at
// most 16 KiB, `id` and `type` present and well-formed, every arg of the
// command's type present with the right type and within its limits, no
// unknown type. A failure carries the code and the reason naming the field
// ("missing_field:args.meeting", "bad_type:args.invitees") and the request id
// when one could be read. Encoding is deterministic: the same reply encodes to
// the same bytes, which idempotent replay relies on.
#pragma once

#include "actors/core/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace meetingd::codec {

/// Why an uplink message was refused before reaching any actor.
struct decode_error {
  std::optional<std::string> id; // the request id, when it could be read
  int code = 400;                // 400, or 413 for too_large
  std::string reason;            // "bad_json", "missing_field:id", ...
  std::string message;           // for humans: what is wrong, what to send
};

/// Either a request or the reason it was refused.
struct decoded {
  std::optional<proto::request> request;
  std::optional<decode_error> error;
};

/// Decodes one uplink payload (device or admin topic).
decoded decode_request(std::string_view payload);

/// Encodes a reply: {"id":..,"type":"reply","code":..,"data":{..}} or with
/// "error":{"reason","message"} for a non-zero code.
std::string encode_reply(const proto::reply& x);

/// Encodes an event with the device's sequence number.
std::string encode_event(const proto::event& x, std::uint64_t seq);

/// Decodes a reply or an event (for clients: meetctl, loadgen, tests).
std::optional<proto::reply> decode_reply(std::string_view payload);
std::optional<std::pair<proto::event, std::uint64_t>>
decode_event(std::string_view payload);

/// Encodes a request (for clients: meetctl, loadgen, call-demo, tests).
std::string encode_request(const proto::request& x);

/// Presence payloads on <parent>/presence/<client>: {"online":true|false}.
std::optional<bool> decode_presence(std::string_view payload);
std::string encode_presence(bool online);

/// The retained node status on <parent>/nodes/<node-id>.
std::string encode_node_status(std::string_view state, std::string_view node,
                               std::string_view version);

/// Valid request ids: 1..64 of [A-Za-z0-9_.:-].
bool valid_request_id(std::string_view x);
/// Valid user, meeting and device ids: 1..64 of [A-Za-z0-9_.@-].
bool valid_entity_id(std::string_view x);

} // namespace meetingd::codec
