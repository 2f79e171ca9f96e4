// The state of one meeting: the data the meeting core decides on, the meeting
// actor owns, and the store persists row by row (one meeting row, one row per
// participant, one per invitation). Every timer is an absolute deadline in
// here, so a restarted node re-arms them from the database unchanged.
#pragma once

#include "actors/core/protocol.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace meetingd {


/// What CreateChannel answered (scheme `channel`); only `id` for `appkey`.
struct channel_info {
  std::string id;
  std::string key;   // never leaves the node
  std::string nonce;
  std::int64_t timestamp = 0;
};

struct participant {
  std::string user;
  std::string rtc_user; // the RTC user id, stable across rejoins
  role r = role::member;
  participant_status status = participant_status::joined;
  std::int64_t order = 0; // when this user first joined; decides host succession
  unix_ms joined_at = 0;  // latest (re)join
  unix_ms left_at = 0;
  std::string left_reason; // "left", "kicked", "offline"
  std::string kicked_by;
  bool audio_muted = false;
  bool video_muted = false;
  bool online = true;          // some device of the user is online
  bool network_lost = false;   // the SDK reported network_lost
  unix_ms grace_deadline = 0;  // removal if still offline then; 0 = none
  std::string session;         // of the latest credentials issued
  unix_ms token_expires_at = 0;
  unix_ms token_warn_at = 0;   // event.token_expiring due; 0 = sent or none
  unix_ms first_joined_at = 0; // the first join (call records)
  std::int64_t in_call_ms = 0; // time in the call over the stints that ended
};

struct invitation {
  std::string invitee;
  std::string inviter;
  invitation_status status = invitation_status::ringing;
  unix_ms created_at = 0;
  unix_ms ring_deadline = 0;
  unix_ms answered_at = 0;
  std::string session; // of the credentials sent with event.invite
  bool delivered = false; // a device of the invitee sent call.ringing
};

/// The meeting row: everything but the participant and invitation rows.
struct meeting_record {
  std::string id;
  std::string title;
  std::string creator;
  std::string host; // the last user who was host while in the meeting
  channel_info channel;
  token_scheme scheme = token_scheme::channel;
  meeting_status status = meeting_status::active;
  std::string end_reason; // "ended", "expired", "idle", "admin"
  unix_ms created_at = 0;
  unix_ms expires_at = 0;    // the channel's end of life
  unix_ms ended_at = 0;
  unix_ms idle_deadline = 0; // ends the meeting if still empty then; 0 = none
  unix_ms expiry_warn_at = 0; // channel scheme: warn participants; 0 = sent or none
  bool locked = false;
  invite_policy policy = invite_policy::anyone;
  int max_participants = 0;
  bool channel_deleted = false; // DeleteChannel done (retried until it is)
  std::int64_t next_order = 1;
  /// The sequence number of the meeting's next webhook event
  /// (docs/protocol.md §15): events are numbered 1, 2, ... per meeting.
  std::int64_t next_event = 1;
};

struct meeting : meeting_record {
  std::map<std::string, participant> participants; // by user id
  std::map<std::string, invitation> invitations;   // by invitee user id
};

/// Durations that shape every meeting (docs/protocol.md §9 timers, §6 tokens).
struct meeting_settings {
  std::string app_id;
  token_scheme scheme = token_scheme::channel;
  std::string app_key; // scheme appkey; never leaves the node
  std::string appkey_nonce;
  std::vector<std::string> gslb{"https://rgslb.rtc.aliyuncs.com"};
  std::chrono::milliseconds channel_ttl = std::chrono::hours(48);
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(10);
  std::chrono::milliseconds ring_timeout = std::chrono::seconds(45);
  std::chrono::milliseconds presence_grace = std::chrono::seconds(60);
  std::chrono::milliseconds token_ttl = std::chrono::hours(24);
  std::chrono::milliseconds token_renew_before = std::chrono::minutes(5);
  int max_participants = 16;
  int max_participants_limit = 1000;
  /// Whether meetings record webhook events for the application's backend
  /// (--webhook-url given, docs/protocol.md §15).
  bool webhooks = false;
};

} // namespace meetingd
