// The topic layout of docs/protocol.md §1, in one place: which topics the node
// listens on, and who sent a message (always the last topic segment, never
// a payload field: the broker's ACL binds it to the connection).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace meetingd::lmq {

enum class inbound_kind { device, admin, presence };

struct inbound_topic {
  inbound_kind kind;
  std::string client; // the sender's client id
};

/// Classifies `<parent>/up/<client>`, `<parent>/admin/<client>` and
/// `<parent>/presence/<client>`; nullopt for anything else (including an
/// empty or malformed client id).
std::optional<inbound_topic> parse_inbound(std::string_view parent,
                                           std::string_view topic);

std::string device_topic(std::string_view parent, std::string_view client);
std::string admin_topic(std::string_view parent, std::string_view client);
std::string presence_topic(std::string_view parent, std::string_view client);
std::string p2p_topic(std::string_view parent, std::string_view client);
std::string node_topic(std::string_view parent, std::string_view node_id);

/// The subscriptions of the node: `<parent>/up/+`, `/admin/+`, `/presence/+`.
std::string device_filter(std::string_view parent);
std::string admin_filter(std::string_view parent);
std::string presence_filter(std::string_view parent);

/// Several nodes (docs/cluster.md): where a node gets the commands other
/// nodes forward to it, `<parent>/nodes/<node-id>/in`; the filter of every
/// node's status, `<parent>/nodes/+`; a filter shared by a group of
/// subscribers, `$share/<group>/<filter>` (the broker gives each message to
/// one of them).
std::string node_inbox_topic(std::string_view parent, std::string_view node_id);
std::string node_status_filter(std::string_view parent);
std::string shared_filter(std::string_view group, std::string_view filter);

/// A message on a node topic: whose, and whether it is its inbox (else its
/// status).
struct node_message {
  std::string node;
  bool inbox = false;
};
std::optional<node_message> parse_node_topic(std::string_view parent, std::string_view topic);

/// The node's client id: `GID_MEETING_UP@@@<node-id>`.
std::string node_client_id(std::string_view node_id);

/// Device client ids (`GID_MEETING_DOWN@@@<device>`) are what a device uses.
std::string device_client_id(std::string_view device);

} // namespace meetingd::lmq
