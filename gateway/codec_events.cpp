// What the node sends unasked, both ways: events (encode_event for the LMQ
// gateway, decode_event for the clients), presence and the node's status.
// Each event kind's data members are described once, in event_shape, for
// both directions; a kind writes only the members it carries, some of them
// only when set (docs/protocol.md).
#include "gateway/codec.hpp"
#include "gateway/codec_json.hpp"

#include <utility>

namespace meetingd::codec {

namespace detail {

/// The data of every event kind but `participant`, whose data is the
/// participant itself.
template <class Io> void event_shape(Io& io, of<Io, proto::event>& x) {
  using k = proto::event_kind;
  switch (x.kind) {
    case k::invite:
      io("from", x.from)("title", x.title)("ring_expires_at", x.ring_expires_at);
      io("credentials", x.creds);
      break;
    case k::ringing:
    case k::accepted:
    case k::joined:
      io("user", x.user);
      break;
    case k::declined:
    case k::invite_timeout:
      io("user", x.user).unless_empty("reason", x.reason);
      break;
    case k::left:
      io("user", x.user)("reason", x.reason);
      break;
    case k::canceled:
    case k::answered_elsewhere:
      io.unless_empty("by", x.by);
      break;
    case k::ended:
      io("reason", x.reason);
      break;
    case k::kicked:
      io("by", x.by);
      break;
    case k::mute_request:
      io("audio", x.audio)("video", x.video)("by", x.by);
      break;
    case k::role_changed:
      io("user", x.user)("role", x.new_role);
      break;
    case k::token_expiring:
      io("expires_at", x.expires_at);
      break;
    case k::participant:
      break;
  }
}

template <class Io> void shape(Io& io, of<Io, node_status>& x) {
  io("state", x.state)("node", x.node)("version", x.version);
}

template <class Io> void shape(Io& io, of<Io, forwarded_command>& x) {
  io("client", x.client)("admin", x.admin)("hops", x.hops)("payload", x.payload);
}

} // namespace detail

namespace {

using detail::json;
using detail::ojson;

} // namespace

std::string encode_event(const proto::event& x, std::uint64_t seq) {
  ojson d = ojson::object();
  if (x.kind != proto::event_kind::participant) {
    detail::members_out out{d};
    detail::event_shape(out, x);
  } else if (x.participant) {
    d = detail::members_out::value(*x.participant);
  }
  ojson j = ojson::object();
  j["type"] = to_string(x.kind);
  j["seq"] = seq;
  j["meeting"] = x.meeting;
  j["data"] = std::move(d);
  return detail::dump(j);
}

std::optional<std::pair<proto::event, std::uint64_t>>
detail::read_event(members_in& in, const ojson& j) {
  auto type = member(j, "type");
  auto kind = type && type->is_string() ? proto::parse_event_kind(type->get_ref<const std::string&>())
                                        : std::nullopt;
  auto seq = member(j, "seq");
  if (!kind || !seq || !seq->is_number_unsigned())
    return std::nullopt; // also a negative or fractional sequence number
  proto::event ev;
  ev.kind = *kind;
  in("meeting", ev.meeting).object("data", [&ev](auto& d) {
    if (ev.kind != proto::event_kind::participant) {
      event_shape(d, ev);
    } else if (!d.empty()) {
      shape(d, ev.participant.emplace());
      ev.user = ev.participant->user;
    }
  });
  return std::make_pair(std::move(ev), seq->get<std::uint64_t>());
}

std::optional<std::pair<proto::event, std::uint64_t>> decode_event(std::string_view payload) {
  return detail::read_object<std::pair<proto::event, std::uint64_t>>(payload, detail::read_event);
}

downlink decode_downlink(std::string_view payload) {
  auto j = detail::parse_bounded<ojson>(payload);
  auto type = j.is_object() ? detail::member(j, "type") : nullptr;
  downlink d;
  if (type && type->is_string() && type->get_ref<const std::string&>() == "reply")
    d.reply = detail::read_parsed<proto::reply>(j, [](auto& in, const ojson& o) {
      return detail::read_reply(in, o, std::nullopt);
    });
  else
    d.event = detail::read_parsed<std::pair<proto::event, std::uint64_t>>(j, detail::read_event);
  return d;
}

std::optional<bool> decode_presence(std::string_view payload) {
  if (payload.size() > max_payload_bytes)
    return std::nullopt;
  auto j = detail::parse_bounded<json>(payload);
  if (!j.is_object())
    return std::nullopt;
  auto v = detail::member(j, "online");
  if (!v || !v->is_boolean())
    return std::nullopt;
  return v->get<bool>();
}

std::string encode_presence(bool online) {
  return online ? R"({"online":true})" : R"({"online":false})";
}

std::string encode_node_status(std::string_view state, std::string_view node,
                               std::string_view version) {
  return detail::dump(
    detail::members_out::value(node_status{std::string{state}, std::string{node}, std::string{version}}));
}

std::optional<node_status> decode_node_status(std::string_view payload) {
  return detail::read_object<node_status>(payload, [](auto& in, const ojson&) {
    node_status x;
    shape(in, x);
    return x;
  });
}

std::string encode_forward(const forwarded_command& x) {
  return detail::dump(detail::members_out::value(x));
}

std::optional<forwarded_command> decode_forward(std::string_view payload) {
  return detail::read_object<forwarded_command>(payload, [](auto& in, const ojson&) {
    forwarded_command x;
    shape(in, x);
    return x;
  });
}

} // namespace meetingd::codec
