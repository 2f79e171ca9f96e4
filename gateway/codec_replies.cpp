// Replies, both ways: encode_reply (the node) and decode_reply (the clients).
// The shape of each kind of reply data is described once, below, for both;
// reply_data_of says which of them answers which command, so a client
// decodes a reply knowing what it sent instead of guessing from its keys.
//
// Envelope: id, type, code, then data (code 0) or error; keys always in that
// order and data members in the order of their shape, so the same reply
// encodes to the same bytes (idempotent replay sends the stored bytes
// again, and tests pin them).
#include "gateway/codec.hpp"
#include "gateway/codec_json.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace meetingd::codec {

namespace detail {

// -- the shapes of reply data -------------------------------------------------------

template <class Io> void shape(Io& io, of<Io, proto::login_data>& x) {
  io("user", x.user)("display_name", x.display_name);
}

template <class Io> void shape(Io& io, of<Io, proto::create_data>& x) {
  io("meeting", x.meeting)("channel", x.channel)("expires_at", x.expires_at);
  io("credentials", x.creds)("invitations", x.invitations);
}

template <class Io> void shape(Io& io, of<Io, proto::join_data>& x) {
  io("credentials", x.creds)("participants", x.participants);
}

template <class Io> void shape(Io& io, of<Io, proto::credentials_data>& x) {
  io("credentials", x.creds);
}

template <class Io> void shape(Io& io, of<Io, proto::invitation_view>& x) {
  io("user", x.user)("inviter", x.inviter)("state", x.status);
  io("ring_expires_at", x.ring_expires_at);
}

template <class Io> void shape(Io& io, of<Io, proto::meeting_view>& x) {
  io("meeting", x.meeting)("title", x.title)("host", x.host)("channel", x.channel);
  io("state", x.status).unless_empty("end_reason", x.end_reason);
  io("created_at", x.created_at)("expires_at", x.expires_at)("locked", x.locked);
  io("invite_policy", x.policy)("max_participants", x.max_participants);
  io("participants", x.participants)("invitations", x.invitations);
}

template <class Io> void shape(Io& io, of<Io, proto::invite_data>& x) {
  io("invitations", x.invitations);
}

template <class Io> void shape(Io& io, of<Io, proto::ping_data>& x) {
  io("node", x.node)("version", x.version)("uptime_s", x.uptime_s);
}

/// Flat in C++, grouped on the wire (docs/protocol.md, "Admin replies").
template <class Io> void shape(Io& io, of<Io, proto::stats_data>& x) {
  io("node", x.node);
  io.object("meetings", [&x](auto& m) {
    m("active", x.meetings_active)("ended", x.meetings_ended);
    m("with_actor", x.meetings_with_actor)("dormant", x.meetings_dormant);
  });
  io("participants", x.participants)("ringing_invitations", x.ringing_invitations);
  io("devices_online", x.devices_online)("users", x.users);
  io.object("commands", [&x](auto& c) {
    c("total", x.commands_total)("per_s", x.commands_per_s);
    c("p50_ms", x.latency_p50_ms)("p99_ms", x.latency_p99_ms);
  });
  io.object("rtc", [&x](auto& r) {
    r("calls", x.rtc_calls)("failures", x.rtc_failures);
    r("retries", x.rtc_retries)("circuit_open", x.rtc_circuit_open);
  });
  io.object("store", [&x](auto& s) {
    s("commits", x.store_commits)("changes_per_commit", x.store_changes_per_commit);
  });
  io.object("webhooks", [&x](auto& w) {
    w("delivered", x.webhooks_delivered)("failed_attempts", x.webhooks_failed_attempts);
    w("given_up", x.webhooks_given_up)("pending", x.webhooks_pending);
  });
}

/// A node without a lease has no lease_expires_at (absent, not 0).
template <class Io> void shape(Io& io, of<Io, proto::node_info>& x) {
  io("node", x.node)("state", x.state)("version", x.version)("shards", x.shards);
  io("meetings", x.meetings)("lease_expires_at", x.lease_expires_at);
  io("commands_per_s", x.commands_per_s);
}

template <class Io> void shape(Io& io, of<Io, proto::nodes_data>& x) {
  io("nodes", x.nodes)("answered_by", x.answered_by);
}

template <class Io> void shape(Io& io, of<Io, proto::meeting_summary>& x) {
  io("meeting", x.meeting)("title", x.title)("host", x.host)("state", x.status);
  io("participants", x.participants)("created_at", x.created_at)("expires_at", x.expires_at);
}

template <class Io> void shape(Io& io, of<Io, proto::meetings_page>& x) {
  io("meetings", x.meetings)("next_after", x.next_after);
}

template <class Io> void shape(Io& io, of<Io, proto::user_summary>& x) {
  io("user", x.user)("display_name", x.display_name)("created_at", x.created_at);
  io("devices_online", x.devices_online);
}

template <class Io> void shape(Io& io, of<Io, proto::users_page>& x) {
  io("users", x.users)("next_after", x.next_after);
}

/// The error object of a reply with a non-zero code.
template <class Io> void error_shape(Io& io, of<Io, proto::reply>& x) {
  io("reason", x.reason)("message", x.message)("retry_after_ms", x.retry_after_ms);
}

} // namespace detail

using detail::ojson;

namespace {

/// The data a code-0 reply to each command carries; every command not named
/// here is answered without data (std::monostate).
proto::reply_data reply_data_of(proto::command_kind kind) {
  using k = proto::command_kind;
  static const std::vector<std::pair<std::vector<k>, proto::reply_data>> rows{
    {{k::auth_login}, proto::login_data{}},
    {{k::meeting_create}, proto::create_data{}},
    {{k::meeting_join}, proto::join_data{}},
    {{k::meeting_renew, k::call_accept}, proto::credentials_data{}},
    {{k::meeting_get, k::admin_meeting_get}, proto::meeting_view{}},
    {{k::call_invite}, proto::invite_data{}},
    {{k::admin_ping}, proto::ping_data{}},
    {{k::admin_stats}, proto::stats_data{}},
    {{k::admin_nodes}, proto::nodes_data{}},
    {{k::admin_meetings_list}, proto::meetings_page{}},
    {{k::admin_users_list}, proto::users_page{}},
  };
  for (const auto& [kinds, data] : rows)
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end())
      return data;
  return std::monostate{};
}

} // namespace

std::optional<proto::reply> detail::read_reply(members_in& in, const ojson& j,
                                               std::optional<proto::command_kind> sent) {
  auto type = member(j, "type");
  if (!type || !type->is_string() || type->get_ref<const std::string&>() != "reply")
    return std::nullopt;
  proto::reply r;
  in("id", r.id)("code", r.code);
  if (r.code < 0 || r.code > 999)
    return std::nullopt;
  if (r.code != 0) {
    in.object("error", [&r](auto& e) { error_shape(e, r); });
  } else if (sent) {
    r.data = reply_data_of(*sent);
    in.object("data", [&r](auto& d) {
      std::visit(
        [&d](auto& x) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, std::monostate>)
            shape(d, x);
        },
        r.data);
    });
  }
  return r;
}

std::string encode_reply(const proto::reply& x) {
  ojson j = ojson::object();
  j["id"] = x.id ? ojson(*x.id) : ojson(nullptr);
  j["type"] = "reply";
  j["code"] = x.code;
  if (x.code == 0) {
    j["data"] = std::visit(
      [](const auto& d) {
        if constexpr (std::is_same_v<std::decay_t<decltype(d)>, std::monostate>)
          return ojson::object();
        else
          return detail::members_out::value(d);
      },
      x.data);
  } else {
    detail::members_out{j}.object("error", [&x](auto& e) { detail::error_shape(e, x); });
  }
  return detail::dump(j);
}

std::optional<proto::reply> decode_reply(std::string_view payload, proto::command_kind sent) {
  return detail::read_object<proto::reply>(
    payload, [sent](auto& in, const ojson& j) { return detail::read_reply(in, j, sent); });
}

} // namespace meetingd::codec
