// The wire codec: JSON payloads <-> the types of actors/core/protocol.hpp, the
// one definition of the wire format (docs/protocol.md). The node decodes
// requests and encodes replies and events; the tools and tests that play
// devices and consoles (tools/client, meetctl, loadgen, call-demo) encode
// requests and decode replies and events with the same code, so both ends
// agree by construction.
//
// Decoding a request validates everything the protocol asks: a JSON object
// of at most 16 KiB, `id` and `type` present and well-formed, every arg of the
// command's type present with the right type and within its limits, no
// unknown type. A failure carries the code and the reason naming the field
// ("missing_field:args.meeting", "bad_type:args.invitees") and the request id
// when one could be read. Encoding is deterministic: the same value encodes
// to the same bytes, which idempotent replay relies on.
//
// Decoding what the node sends (replies, events, node status) is for clients:
// every member the node always writes must be there with its JSON type,
// members it writes only when set may be absent, unknown members are
// ignored; anything else and the decoder returns nullopt.
//
// The implementation is split by message family: codec_json.* (bounded
// parsing, ids, reading and writing members), codec_requests.cpp,
// codec_replies.cpp, codec_events.cpp, codec_webhooks.cpp.
#pragma once

#include "actors/core/protocol.hpp"
#include "actors/core/webhook_event.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace meetingd::codec {

// -- requests (codec_requests.cpp) --------------------------------------------

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

/// Encodes a request: {"id":..,"type":..,"args":{..}}, writing only the args
/// of the command's kind, and no "args" when it has none to write. A command
/// that decode_request produced encodes to a payload that decodes to it.
std::string encode_request(const proto::request& x);

/// Valid request ids: 1..64 of [A-Za-z0-9_.:-].
bool valid_request_id(std::string_view x);
/// Valid user, meeting and device ids: 1..64 of [A-Za-z0-9_.@-].
bool valid_entity_id(std::string_view x);

// -- replies (codec_replies.cpp) ----------------------------------------------

/// Encodes a reply: {"id":..,"type":"reply","code":..,"data":{..}} or with
/// "error":{"reason","message"} for a non-zero code.
std::string encode_reply(const proto::reply& x);

/// Decodes a reply to a command of kind `sent`. Each command kind has one
/// shape of reply data (meeting.create: proto::create_data, meeting.leave:
/// none, ...); a code-0 reply's data is read as that shape and nothing else:
///  - for a kind whose reply carries data, nullopt unless the data has every
///    member that shape always has, each of the right JSON type;
///  - for a kind whose reply carries no data, std::monostate whatever the
///    data holds.
/// Error replies (code != 0) carry no data and decode alike for every kind.
/// Replies do not name their command, so the sender must say it: read as
/// the answer to another command, a reply fails, or decodes to nothing, or,
/// where its data holds every member of that command's reply too (a
/// meeting.create reply holds meeting.renew's credentials), to that reply.
std::optional<proto::reply> decode_reply(std::string_view payload,
                                         proto::command_kind sent);

// -- events, what the node sends, status messages (codec_events.cpp) ---------

/// Encodes an event with the device's sequence number.
std::string encode_event(const proto::event& x, std::uint64_t seq);

/// Decodes an event and its sequence number.
std::optional<std::pair<proto::event, std::uint64_t>>
decode_event(std::string_view payload);

/// Whatever the node sent a client, read with one parse: a reply, with its
/// id, code and error and its data left unread (std::monostate; decode_reply
/// reads it once the command it answers is known), or an event; neither if
/// it is neither. For a client that needs only the outcome of its requests
/// (loadgen), or whose message was no command (loadgen's echo round trip).
struct downlink {
  std::optional<proto::reply> reply;
  std::optional<std::pair<proto::event, std::uint64_t>> event;
};
downlink decode_downlink(std::string_view payload);

/// Presence payloads on <parent>/presence/<client>: {"online":true|false}.
std::optional<bool> decode_presence(std::string_view payload);
std::string encode_presence(bool online);

/// The retained node status on <parent>/nodes/<node-id>.
struct node_status {
  std::string state; // "ready", "stopping", "down"
  std::string node;
  std::string version;
};
std::string encode_node_status(std::string_view state, std::string_view node,
                               std::string_view version);
std::optional<node_status> decode_node_status(std::string_view payload);

/// A command one node hands to the node that serves its meeting, on
/// <parent>/nodes/<node-id>/in (docs/cluster.md): the sender's client id,
/// the topic it came on (admin or not), how many nodes it has passed, and
/// the command exactly as the device sent it.
struct forwarded_command {
  std::string client;
  bool admin = false;
  int hops = 0;
  std::string payload;
};
std::string encode_forward(const forwarded_command& x);
std::optional<forwarded_command> decode_forward(std::string_view payload);

// -- webhooks to the application's backend (codec_webhooks.cpp) -----------------

/// The body of a webhook POST (docs/protocol.md §15):
/// {"id":"<meeting>.<seq>","type":..,"at":<unix ms>,"meeting":..,"seq":..,
///  "data":{..}}, the data members of the event's type in a fixed order.
std::string encode_webhook(const webhook_event& x);

/// Reads a webhook body back (receivers, tests, the benchmark's receiver);
/// nullopt unless it has every member the node writes for its type.
std::optional<webhook_event> decode_webhook(std::string_view body);

} // namespace meetingd::codec
