// Webhook bodies (docs/protocol.md §15): one JSON object per event, its
// members in a fixed order so that the bytes, and with them the signature,
// depend only on the event. Each type's data members are described once, in
// webhook_data_shape, for both directions.
#include "gateway/codec.hpp"
#include "gateway/codec_json.hpp"

namespace meetingd::codec {

namespace detail {

template <class Io> void webhook_data_shape(Io& io, of<Io, webhook_event>& x) {
  switch (x.type) {
    case webhook_type::meeting_created:
      io("host", x.host)("title", x.title)("channel", x.channel);
      break;
    case webhook_type::participant_joined:
      io("user", x.user)("device", x.device);
      break;
    case webhook_type::participant_left:
      io("user", x.user)("reason", x.reason);
      break;
    case webhook_type::invitation_answered:
      io("user", x.user)("outcome", x.outcome)("inviter", x.inviter);
      break;
    case webhook_type::meeting_ended:
      io("reason", x.reason)("duration_s", x.duration_s)("seconds", x.seconds);
      break;
  }
}

} // namespace detail

std::string encode_webhook(const webhook_event& x) {
  detail::ojson j = detail::ojson::object();
  detail::members_out out{j};
  out("id", x.id())("type", x.type)("at", x.at)("meeting", x.meeting)("seq", x.seq);
  out.object("data", [&x](auto& d) { detail::webhook_data_shape(d, x); });
  return detail::dump(j);
}

std::optional<webhook_event> decode_webhook(std::string_view body) {
  return detail::read_object<webhook_event>(
    body, [](detail::members_in& in, const detail::ojson&) -> std::optional<webhook_event> {
      webhook_event x;
      std::string id;
      // The type first: it says which data members to read.
      in("type", x.type)("id", id)("at", x.at)("meeting", x.meeting)("seq", x.seq);
      in.object("data", [&x](auto& d) { detail::webhook_data_shape(d, x); });
      if (id != x.id())
        return std::nullopt;
      return x;
    });
}

} // namespace meetingd::codec
