// What the actors ask the store to make durable: row-level changes grouped in
// a changeset. A changeset is all-or-nothing and the unit the store commits in
// groups: many changesets (from many meetings) per SQLite transaction.
//
// The request record makes idempotency durable: the reply to (client, id) is
// stored in the same transaction as the change it reports (docs/protocol.md §4-5).
#pragma once

#include "actors/core/directory_state.hpp"
#include "actors/core/enums.hpp"
#include "actors/core/meeting_state.hpp"

#include <string>
#include <variant>
#include <vector>

namespace meetingd {

struct request_record {
  std::string client;
  std::string id;
  std::string reply; // the reply exactly as it was sent (JSON)
  unix_ms at = 0;
};

/// One webhook event for one endpoint: a row of the outbox
/// (docs/protocol.md §15). `body` is the exact JSON that is signed and
/// sent, stored when the event is committed so that every attempt, before
/// and after a restart, sends the same bytes with the same id.
struct webhook_record {
  std::string endpoint; // the URL, as --webhook-url names it
  std::string meeting;
  std::int64_t seq = 0; // the meeting's event number, from 1
  std::string id;       // the event id: "<meeting>.<seq>"
  std::string type;     // "participant.joined", ...
  unix_ms at = 0;       // when it happened
  std::string body;
  webhook_status status = webhook_status::pending;
  int attempts = 0;
  std::string last_error; // of the last failed attempt: "HTTP 503", "timeout", ...
  unix_ms settled_at = 0; // delivered or given up
};

namespace change {

struct put_meeting {
  meeting_record row;
};
struct put_participant {
  std::string meeting;
  participant row;
};
struct put_invitation {
  std::string meeting;
  invitation row;
};
/// Removes a meeting with its participants and invitations (history pruning).
struct delete_meeting {
  std::string meeting;
};
struct put_user {
  user_record row;
};
struct delete_user {
  std::string user;
};
struct put_device {
  device_record row;
};
struct delete_device {
  std::string client;
};
/// Raises a device's persisted event sequence number (never lowers it).
struct put_device_seq {
  std::string client;
  std::uint64_t last_seq = 0;
};
struct put_request {
  request_record row;
};
/// Forgets every stored reply of a device (it logged out, or its user was
/// removed): a duplicate must not hand the old answer to whoever holds the
/// device id next.
struct delete_requests_of {
  std::string client;
};
struct put_login_failures {
  login_failures_record row;
};
struct delete_login_failures {
  std::string account;
};
struct put_removed_user {
  removed_user_record row;
};
struct delete_removed_user {
  std::string user;
};
/// A new webhook event in the outbox, in the commit of the change it reports.
struct put_webhook {
  webhook_record row;
};
/// A webhook event delivered or given up: its status, attempts, last error
/// and settled_at (the other columns never change).
struct settle_webhook {
  webhook_record row;
};

} // namespace change

using any_change
  = std::variant<change::put_meeting, change::put_participant,
                 change::put_invitation, change::delete_meeting,
                 change::put_user, change::delete_user, change::put_device,
                 change::delete_device, change::put_device_seq,
                 change::put_request, change::delete_requests_of,
                 change::put_login_failures, change::delete_login_failures,
                 change::put_removed_user, change::delete_removed_user,
                 change::put_webhook, change::settle_webhook>;

struct changeset {
  std::vector<any_change> changes;

  bool empty() const {
    return changes.empty();
  }
  template <class Change>
  void add(Change x) {
    changes.emplace_back(std::move(x));
  }
  void append(changeset other) {
    for (auto& c : other.changes)
      changes.emplace_back(std::move(c));
  }
};

} // namespace meetingd
