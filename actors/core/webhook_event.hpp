// What a meeting tells the application's backend (docs/protocol.md §15): the
// core decides which events a step produces, in the step's own order, and
// numbers them per meeting; the meeting actor encodes each one
// (gateway/codec.hpp, encode_webhook) into the outbox row that commits with
// the step's changes, and the delivery actor (gateway/webhook_actor.*)
// sends it.
#pragma once

#include "actors/core/protocol.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace meetingd {

struct webhook_event {
  webhook_type type = webhook_type::meeting_created;
  std::string meeting;
  std::int64_t seq = 0; // the meeting's event number, from 1
  unix_ms at = 0;
  // The members of `data`; which are written depends on the type.
  std::string user;     // joined, left, answered: whom it is about
  std::string device;   // joined: the client that joined
  std::string reason;   // left: left, kicked, offline, ended; ended: the end reason
  std::string outcome;  // answered: accepted, declined, canceled, timeout
  std::string inviter;  // answered
  std::string host;     // created
  std::string title;    // created
  std::string channel;  // created
  std::int64_t duration_s = 0; // ended: from creation to the end
  /// ended: per user who ever joined, the seconds they were in the call.
  std::vector<std::pair<std::string, std::int64_t>> seconds;

  /// The event id: "<meeting>.<seq>", unique for ever since meeting ids are.
  std::string id() const {
    return meeting + "." + std::to_string(seq);
  }
};

} // namespace meetingd
