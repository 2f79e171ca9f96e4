// Webhook bodies (docs/protocol.md §15): one JSON object per event, its
// members in a fixed order so that the bytes, and with them the signature,
// depend only on the event.
#include "gateway/codec.hpp"
#include "gateway/codec_json.hpp"

namespace meetingd::codec {

namespace {

using detail::ojson;

ojson data_of(const webhook_event& x) {
  ojson d = ojson::object();
  switch (x.type) {
    case webhook_type::meeting_created:
      d["host"] = x.host;
      d["title"] = x.title;
      d["channel"] = x.channel;
      break;
    case webhook_type::participant_joined:
      d["user"] = x.user;
      d["device"] = x.device;
      break;
    case webhook_type::participant_left:
      d["user"] = x.user;
      d["reason"] = x.reason;
      break;
    case webhook_type::invitation_answered:
      d["user"] = x.user;
      d["outcome"] = x.outcome;
      d["inviter"] = x.inviter;
      break;
    case webhook_type::meeting_ended: {
      d["reason"] = x.reason;
      d["duration_s"] = x.duration_s;
      ojson seconds = ojson::object();
      for (auto& [user, s] : x.seconds)
        seconds[user] = s;
      d["seconds"] = std::move(seconds);
      break;
    }
  }
  return d;
}

/// The string member `key` of `o`, into `out`; false if absent or not a string.
bool read_text(const ojson& o, const char* key, std::string& out) {
  auto* v = detail::member(o, key);
  if (!v || !v->is_string())
    return false;
  out = v->get<std::string>();
  return true;
}

bool read_integer(const ojson& o, const char* key, std::int64_t& out) {
  auto* v = detail::member(o, key);
  if (!v)
    return false;
  auto n = detail::as_int64(*v);
  if (!n)
    return false;
  out = *n;
  return true;
}

bool read_data(const ojson& d, webhook_event& x) {
  switch (x.type) {
    case webhook_type::meeting_created:
      return read_text(d, "host", x.host) && read_text(d, "title", x.title)
             && read_text(d, "channel", x.channel);
    case webhook_type::participant_joined:
      return read_text(d, "user", x.user) && read_text(d, "device", x.device);
    case webhook_type::participant_left:
      return read_text(d, "user", x.user) && read_text(d, "reason", x.reason);
    case webhook_type::invitation_answered:
      return read_text(d, "user", x.user) && read_text(d, "outcome", x.outcome)
             && read_text(d, "inviter", x.inviter);
    case webhook_type::meeting_ended: {
      auto* seconds = detail::member(d, "seconds");
      if (!read_text(d, "reason", x.reason) || !read_integer(d, "duration_s", x.duration_s)
          || !seconds || !seconds->is_object())
        return false;
      for (auto& [user, v] : seconds->items()) {
        auto n = detail::as_int64(v);
        if (!n)
          return false;
        x.seconds.emplace_back(user, *n);
      }
      return true;
    }
  }
  return false;
}

} // namespace

std::string encode_webhook(const webhook_event& x) {
  ojson j = ojson::object();
  j["id"] = x.id();
  j["type"] = to_string(x.type);
  j["at"] = x.at;
  j["meeting"] = x.meeting;
  j["seq"] = x.seq;
  j["data"] = data_of(x);
  return detail::dump(j);
}

std::optional<webhook_event> decode_webhook(std::string_view body) {
  auto j = detail::parse_bounded<ojson>(body);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  webhook_event x;
  std::string id, type;
  auto* data = detail::member(j, "data");
  if (!read_text(j, "id", id) || !read_text(j, "type", type) || !read_integer(j, "at", x.at)
      || !read_text(j, "meeting", x.meeting) || !read_integer(j, "seq", x.seq) || !data
      || !data->is_object())
    return std::nullopt;
  auto t = parse_webhook_type(type);
  if (!t || id != x.id())
    return std::nullopt;
  x.type = *t;
  if (!read_data(*data, x))
    return std::nullopt;
  return x;
}

} // namespace meetingd::codec
