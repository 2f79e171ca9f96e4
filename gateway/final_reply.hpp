// A reply as it leaves the node: encoded once, with what its log line names
// and whether a duplicate may get it again. Made by whoever answers a
// command (the directory, a meeting, the LMQ gateway at its edge).
#pragma once

#include "actors/core/protocol.hpp"

#include <string>

namespace meetingd {

/// The outcome of a command, ready to publish: `wire` is the reply exactly
/// as it was made durable. `user` and `meeting` are for the log line.
struct final_reply {
  int code = 0;
  std::string reason;
  std::string wire;
  std::string user;
  std::string meeting;
  /// False for replies that must not be replayed: "try again" answers (429,
  /// 500, 502, 503: a retry with the same id runs again), and answers to a
  /// client that is nobody yet (answered afresh, as it is then).
  bool replayable = true;
};

/// Where a reply goes and what its log line names.
struct reply_route {
  std::string client;
  std::string request_id;
  std::string user;
  std::string meeting;
  /// The command only reads (proto::changes_state is false): its reply is
  /// never stored and waits for no commit of its own, only for the replies
  /// its actor committed before it (actors/commit_order.hpp); a repeat
  /// reads again. A commit would hold reads while the database is away.
  bool reads_only = false;
};

/// 429, 500, 502 and 503 changed nothing and say "try again": a retry with
/// the same id must run again, not get the old answer, so they are neither
/// stored nor replayed.
bool is_replayable(int code);

/// Encodes `reply` for `route` (its id is the route's request id).
final_reply make_final_reply(const reply_route& route, proto::reply reply);

} // namespace meetingd
