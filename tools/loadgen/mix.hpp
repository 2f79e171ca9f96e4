// What loadgen sends and how --mix weighs it: its short command names (as
// --mix and the report spell them) and the protocol command each stands for.
// `echo` is no command of the protocol: it is loadgen's own message to its
// echo peer, sized like a command, for measuring the broker alone.
#pragma once

#include "actors/core/protocol.hpp"

#include <array>
#include <optional>
#include <string>

namespace meetingd::loadgen {

enum cmd : int {
  c_login,
  c_create,
  c_join,
  c_accept,
  c_decline,
  c_leave,
  c_mute,
  c_renew,
  c_end,
  c_get,
  c_invite,
  c_kick,
  c_echo,
  c_count
};

/// The short name, as --mix spells it ("create").
const char* cmd_name(int c);
/// The protocol command `c` sends; nullopt for c_echo.
std::optional<proto::command_kind> cmd_kind(int c);
/// The type on the wire ("meeting.create"; "bench.echo" for c_echo).
const char* cmd_wire_type(int c);
int cmd_from_name(const std::string& name); // -1 if unknown

/// Parses "login,create:2,join" into weights; returns an error text or "".
std::string parse_mix(const std::string& text, std::array<double, c_count>& weights);

} // namespace meetingd::loadgen
