// The directory's routing and authorization (see directory_routing.hpp).
#include "actors/core/directory_routing.hpp"

#include "actors/core/meeting_core.hpp"

namespace meetingd {

route route_command(proto::command_kind kind, const std::string& client, bool admin_topic,
                    const std::string* bound_user) {
  using proto::command_kind;
  using proto::command_scope;
  route r;
  auto scope = proto::scope_of(kind);
  bool admin_command = proto::is_admin_command(kind);
  auto refuse_with = [&](refusal why, bool stranger) {
    r.where = route::to::refuse;
    r.why = why;
    r.to_stranger = stranger;
    return r;
  };
  if (admin_topic) {
    // The gateway let only ids in --admins through to here.
    if (!admin_command)
      return refuse_with(refusal::wrong_topic, false);
    if (scope == command_scope::meeting) {
      r.where = route::to::meeting;
      r.who = caller{"", client, true};
      return r;
    }
    r.where = route::to::admin;
    return r;
  }
  if (admin_command)
    return refuse_with(refusal::not_admin, true);
  if (kind == command_kind::auth_login) {
    r.where = route::to::log_in;
    return r;
  }
  if (!bound_user)
    return refuse_with(refusal::not_logged_in, true);
  r.who = caller{*bound_user, client, false};
  switch (scope) {
    case command_scope::session:
      r.where = route::to::log_out;
      break;
    case command_scope::create:
      r.where = route::to::create;
      break;
    case command_scope::meeting:
      r.where = route::to::meeting;
      break;
    case command_scope::directory:
      return refuse_with(refusal::internal, false); // every directory command is an admin one
  }
  return r;
}

std::optional<proto::reply> refusal_before_meeting(const registry_entry* entry,
                                                   proto::command_kind kind) {
  if (!entry || entry->creating)
    return refuse(refusal::meeting_not_found);
  return refusal_if_ended(entry->summary.status, entry->end_reason, kind);
}

proto::meeting_view registry_view(const registry_entry& entry) {
  proto::meeting_view v;
  v.meeting = entry.summary.meeting;
  v.title = entry.summary.title;
  v.host = entry.summary.host;
  v.channel = entry.summary.meeting;
  v.status = entry.summary.status;
  v.end_reason = entry.end_reason;
  v.created_at = entry.summary.created_at;
  v.expires_at = entry.summary.expires_at;
  return v;
}

} // namespace meetingd
