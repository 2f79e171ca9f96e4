#include "gateway/lmq_topics.hpp"

namespace meetingd::lmq {

namespace {

/// MQTT client ids: 1..128 printable characters without topic wildcards or
/// separators, so a client id is always exactly one topic segment.
bool valid_client(std::string_view x) {
  if (x.empty() || x.size() > 128)
    return false;
  for (unsigned char c : x)
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '+' || c == '#')
      return false;
  return true;
}

std::string join(std::string_view parent, std::string_view middle,
                 std::string_view last) {
  std::string out;
  out.reserve(parent.size() + middle.size() + last.size() + 2);
  out += parent;
  out += '/';
  out += middle;
  out += '/';
  out += last;
  return out;
}

} // namespace

std::optional<inbound_topic> parse_inbound(std::string_view parent,
                                           std::string_view topic) {
  if (topic.size() <= parent.size() + 1 || topic.substr(0, parent.size()) != parent
      || topic[parent.size()] != '/')
    return std::nullopt;
  auto rest = topic.substr(parent.size() + 1);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto middle = rest.substr(0, slash);
  auto client = rest.substr(slash + 1);
  if (!valid_client(client))
    return std::nullopt;
  inbound_kind kind;
  if (middle == "up")
    kind = inbound_kind::device;
  else if (middle == "admin")
    kind = inbound_kind::admin;
  else if (middle == "presence")
    kind = inbound_kind::presence;
  else
    return std::nullopt;
  return inbound_topic{kind, std::string{client}};
}

std::string device_topic(std::string_view parent, std::string_view client) {
  return join(parent, "up", client);
}
std::string admin_topic(std::string_view parent, std::string_view client) {
  return join(parent, "admin", client);
}
std::string presence_topic(std::string_view parent, std::string_view client) {
  return join(parent, "presence", client);
}
std::string p2p_topic(std::string_view parent, std::string_view client) {
  return join(parent, "p2p", client);
}
std::string node_inbox_topic(std::string_view parent, std::string_view node_id) {
  return join(parent, "nodes", node_id) + "/in";
}
std::string node_status_filter(std::string_view parent) {
  return join(parent, "nodes", "+");
}
std::string shared_filter(std::string_view group, std::string_view filter) {
  return "$share/" + std::string{group} + "/" + std::string{filter};
}

std::optional<node_message> parse_node_topic(std::string_view parent, std::string_view topic) {
  auto prefix = std::string{parent} + "/nodes/";
  if (topic.size() <= prefix.size() || topic.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto rest = topic.substr(prefix.size());
  node_message out;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/in")
      return std::nullopt;
    out.inbox = true;
    rest = rest.substr(0, slash);
  }
  if (!valid_client(rest))
    return std::nullopt;
  out.node = std::string{rest};
  return out;
}
std::string node_topic(std::string_view parent, std::string_view node_id) {
  return join(parent, "nodes", node_id);
}
std::string device_filter(std::string_view parent) {
  return join(parent, "up", "+");
}
std::string admin_filter(std::string_view parent) {
  return join(parent, "admin", "+");
}
std::string presence_filter(std::string_view parent) {
  return join(parent, "presence", "+");
}
std::string node_client_id(std::string_view node_id) {
  return "GID_MEETING_UP@@@" + std::string{node_id};
}
std::string device_client_id(std::string_view device) {
  return "GID_MEETING_DOWN@@@" + std::string{device};
}

} // namespace meetingd::lmq
