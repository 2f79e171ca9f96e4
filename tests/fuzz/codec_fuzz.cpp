// libFuzzer target for the wire codec. Arbitrary bytes must never crash,
// leak or hang decode_request, and whatever decodes must survive a round trip
// through encode_request unchanged (same id, same command, field for field).
// The clients' decoders get the same bytes: a reply (read as the answer to a
// command kind taken from the first byte) or an event that decodes must
// encode to bytes that decode to the same again.
#include "gateway/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string_view>
#include <tuple>

namespace {

auto fields(const meetingd::proto::command& c) {
  return std::tie(c.kind, c.meeting, c.user, c.password, c.ticket, c.title,
                  c.display_name, c.reason, c.users, c.requested_id,
                  c.max_participants, c.policy, c.new_role, c.audio, c.video,
                  c.event, c.state, c.limit, c.after);
}

[[noreturn]] void fail(const char* what, std::string_view wire) {
  std::fprintf(stderr, "codec_fuzz: %s\nre-encoded: %.*s\n", what,
               static_cast<int>(wire.size()), wire.data());
  std::abort();
}

/// Replies and events as the clients decode them.
void client_side(std::string_view input, meetingd::proto::command_kind kind) {
  using namespace meetingd;
  if (auto r = codec::decode_reply(input, kind)) {
    auto wire = codec::encode_reply(*r);
    auto again = codec::decode_reply(wire, kind);
    if (!again || codec::encode_reply(*again) != wire)
      fail("a decoded reply does not round-trip", wire);
  }
  if (auto e = codec::decode_event(input)) {
    auto wire = codec::encode_event(e->first, e->second);
    auto again = codec::decode_event(wire);
    if (!again || codec::encode_event(again->first, again->second) != wire)
      fail("a decoded event does not round-trip", wire);
  }
  auto d = codec::decode_downlink(input);
  if (d.reply && d.event)
    fail("decode_downlink gives a reply and an event", input);
  (void)codec::decode_node_status(input);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace meetingd;
  std::string_view input{reinterpret_cast<const char*>(data), size};
  constexpr auto kinds = static_cast<unsigned>(proto::command_kind::admin_users_list) + 1;
  client_side(input, static_cast<proto::command_kind>(size ? data[0] % kinds : 0));
  auto d = codec::decode_request(input);
  if (d.request.has_value() == d.error.has_value())
    fail("decode_request must give exactly one of request and error", {});
  if (d.error) {
    // Every refusal carries a 400 or 413 and a reason; an id only if valid.
    if ((d.error->code != 400 && d.error->code != 413) || d.error->reason.empty())
      fail("bad error code or empty reason", {});
    if (d.error->id && !codec::valid_request_id(*d.error->id))
      fail("error carries an invalid id", {});
    // The error reply must encode (and decode) without trouble.
    auto wire = codec::encode_reply(
      proto::fail(d.error->id, d.error->code, d.error->reason, d.error->message));
    auto back = codec::decode_reply(wire, proto::command_kind::admin_ping);
    if (!back || back->id != d.error->id || back->reason != d.error->reason)
      fail("error reply does not round-trip", wire);
    return 0;
  }
  const auto& req = *d.request;
  auto wire = codec::encode_request(req);
  auto again = codec::decode_request(wire);
  if (!again.request)
    fail("re-encoded request does not decode", wire);
  if (again.request->id != req.id)
    fail("id changed in the round trip", wire);
  if (again.request->cmd.kind != req.cmd.kind)
    fail("command kind changed in the round trip", wire);
  if (fields(again.request->cmd) != fields(req.cmd))
    fail("args changed in the round trip", wire);
  if (codec::encode_request(*again.request) != wire)
    fail("encode_request is not deterministic", wire);
  return 0;
}
