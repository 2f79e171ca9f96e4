// The directory's routing and authorization (actors/core/directory_routing.*)
// over every command: who may send it on which topic, and who answers.
#include "actors/core/directory_routing.hpp"

#include <gtest/gtest.h>

using namespace meetingd;
using proto::command_kind;

namespace {

const std::string device = "GID_MEETING_DOWN@@@alice-phone";
const std::string console = "console-1";
const std::string alice = "alice";

std::vector<command_kind> every_command() {
  std::vector<command_kind> all;
  for (int i = 0;; ++i) {
    auto kind = static_cast<command_kind>(i);
    if (std::string{proto::to_string(kind)} == "unknown")
      break;
    all.push_back(kind);
  }
  return all;
}

TEST(directory_routing, there_are_37_commands) {
  EXPECT_EQ(every_command().size(), 37u);
}

TEST(directory_routing, device_commands_from_a_logged_in_device) {
  for (auto kind : every_command()) {
    SCOPED_TRACE(proto::to_string(kind));
    auto r = route_command(kind, device, false, &alice);
    if (proto::is_admin_command(kind)) {
      EXPECT_EQ(r.where, route::to::refuse);
      EXPECT_EQ(r.why, refusal::not_admin);
      EXPECT_TRUE(r.to_stranger) << "not stored: a stranger could fill the database";
      continue;
    }
    switch (kind) {
      case command_kind::auth_login:
        EXPECT_EQ(r.where, route::to::log_in);
        break;
      case command_kind::auth_logout:
        EXPECT_EQ(r.where, route::to::log_out);
        break;
      case command_kind::meeting_create:
        EXPECT_EQ(r.where, route::to::create);
        break;
      default:
        EXPECT_EQ(r.where, route::to::meeting);
    }
    if (kind != command_kind::auth_login) {
      EXPECT_EQ(r.who.user, alice);
      EXPECT_EQ(r.who.client, device);
      EXPECT_FALSE(r.who.admin);
    }
  }
}

TEST(directory_routing, a_device_that_is_nobody_may_only_log_in) {
  for (auto kind : every_command()) {
    SCOPED_TRACE(proto::to_string(kind));
    auto r = route_command(kind, device, false, nullptr);
    if (kind == command_kind::auth_login) {
      EXPECT_EQ(r.where, route::to::log_in);
      continue;
    }
    EXPECT_EQ(r.where, route::to::refuse);
    EXPECT_EQ(r.why, proto::is_admin_command(kind) ? refusal::not_admin : refusal::not_logged_in);
    EXPECT_TRUE(r.to_stranger);
  }
}

TEST(directory_routing, the_admin_topic_takes_admin_commands_only) {
  for (auto kind : every_command()) {
    SCOPED_TRACE(proto::to_string(kind));
    auto r = route_command(kind, console, true, nullptr);
    if (!proto::is_admin_command(kind)) {
      EXPECT_EQ(r.where, route::to::refuse);
      EXPECT_EQ(r.why, refusal::wrong_topic);
      EXPECT_FALSE(r.to_stranger) << "an admin is somebody: its replies are stored";
      continue;
    }
    bool about_a_meeting = kind == command_kind::admin_meeting_get
                           || kind == command_kind::admin_meeting_end
                           || kind == command_kind::admin_kick
                           || kind == command_kind::admin_mute_all
                           || kind == command_kind::admin_mute
                           || kind == command_kind::admin_unmute
                           || kind == command_kind::admin_lock
                           || kind == command_kind::admin_unlock;
    if (about_a_meeting) {
      EXPECT_EQ(r.where, route::to::meeting);
      EXPECT_TRUE(r.who.admin);
      EXPECT_EQ(r.who.client, console);
      EXPECT_EQ(r.who.user, "");
    } else {
      EXPECT_EQ(r.where, route::to::admin);
    }
  }
}

registry_entry entry(meeting_status status, std::string end_reason = {}) {
  registry_entry e;
  e.summary.meeting = "m-1";
  e.summary.title = "standup";
  e.summary.host = "alice";
  e.summary.status = status;
  e.summary.created_at = 100;
  e.summary.expires_at = 200;
  e.end_reason = std::move(end_reason);
  return e;
}

TEST(directory_routing, unknown_meetings_are_404_and_ended_ones_410_unless_read) {
  auto unknown = refusal_before_meeting(nullptr, command_kind::meeting_join);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->reason, "meeting_not_found");
  auto creating = entry(meeting_status::active);
  creating.creating = true;
  EXPECT_EQ(refusal_before_meeting(&creating, command_kind::meeting_get)->code, 404);
  auto active = entry(meeting_status::active);
  EXPECT_FALSE(refusal_before_meeting(&active, command_kind::meeting_join));
  auto ended = entry(meeting_status::ended, "ended");
  auto expired = entry(meeting_status::ended, "expired");
  for (auto kind : every_command()) {
    if (proto::scope_of(kind) != proto::command_scope::meeting)
      continue;
    SCOPED_TRACE(proto::to_string(kind));
    auto r = refusal_before_meeting(&ended, kind);
    if (proto::reads_meeting(kind)) {
      EXPECT_FALSE(r) << "reading an ended meeting is answered";
      continue;
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 410);
    EXPECT_EQ(r->reason, "meeting_ended");
    EXPECT_EQ(refusal_before_meeting(&expired, kind)->reason, "meeting_expired");
  }
}

TEST(directory_routing, the_registry_view_of_a_meeting_without_an_actor) {
  auto v = registry_view(entry(meeting_status::ended, "idle"));
  EXPECT_EQ(v.meeting, "m-1");
  EXPECT_EQ(v.title, "standup");
  EXPECT_EQ(v.host, "alice");
  EXPECT_EQ(v.channel, "m-1");
  EXPECT_EQ(v.status, meeting_status::ended);
  EXPECT_EQ(v.end_reason, "idle");
  EXPECT_EQ(v.created_at, 100);
  EXPECT_EQ(v.expires_at, 200);
  EXPECT_TRUE(v.participants.empty());
}

} // namespace
