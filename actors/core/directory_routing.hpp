// The directory's routing and authorization, as pure functions: who may send
// a command on which topic, who answers it (the directory's session and admin
// handlers, a new meeting, or the meeting it names), and what a meeting
// without an actor still answers. The directory actor (actors/directory_actor.cpp)
// performs what these decide; tests/unit/directory_routing_test.cpp checks the
// whole table without CAF.
#pragma once

#include "actors/core/directory_core.hpp"
#include "actors/core/refusals.hpp"

#include <optional>
#include <string>

namespace meetingd {

/// Where a command goes.
struct route {
  enum class to : std::uint8_t {
    refuse,   // answered at once with `why`
    log_in,   // auth.login
    log_out,  // auth.logout
    admin,    // an admin command the directory answers itself
    create,   // meeting.create: a new meeting
    meeting,  // the meeting the command names
  };
  to where = to::refuse;
  /// For refuse.
  refusal why = refusal::internal;
  /// For refuse: the sender is nobody yet, so the answer is not stored.
  bool to_stranger = false;
  /// Who sends it, as the meeting sees them (create, meeting).
  caller who;
};

/// Routes a command from `client`, which arrived on the admin topic (from an
/// id in --admins) or the device topic, sent by a device bound to
/// `bound_user` (null if none).
route route_command(proto::command_kind kind, const std::string& client, bool admin_topic,
                    const std::string* bound_user);

/// For a command to meeting `entry` (null if unknown): 404 for an unknown
/// meeting or one still being created, 410 for an ended one unless the
/// command only reads it; nothing if the meeting should handle it.
std::optional<proto::reply> refusal_before_meeting(const registry_entry* entry,
                                                   proto::command_kind kind);

/// What the registry still knows of a meeting without an actor (an ended one
/// whose actor finished): the answer to admin.meeting.get.
proto::meeting_view registry_view(const registry_entry& entry);

} // namespace meetingd
