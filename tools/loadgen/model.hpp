// The shadow model: the meetings and users one worker's devices take part
// in, as far as what they sent, the replies and the events tell them. The
// planner reads it to send commands that make sense now (a leave needs a
// meeting joined; a kick, a meeting hosted with someone else in it), so the
// load is the protocol's normal traffic rather than a stream of refusals.
// It is a model, not the truth: where a reply says otherwise (410, 404) it
// forgets what it believed.
#pragma once

#include "actors/core/protocol.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace meetingd::loadgen {

struct meeting_model {
  int host = -1;
  std::vector<int> parts; // users, the host first
  bool live = false;      // created (reply 0) and not ended
};

struct user_model {
  std::vector<std::string> hosted;  // meetings the user created and that are not ended
  std::vector<std::string> joined;  // meetings joined as a non-host
  std::vector<std::string> invites; // ringing invitations
};

class world {
public:
  /// A user whose devices this worker drives (those it invites).
  void add_user(int user);
  const std::vector<int>& users() const {
    return users_;
  }
  user_model& user(int u) {
    return user_models_[u];
  }
  /// The meeting if it is live, else nullptr.
  meeting_model* live(const std::string& id);
  /// Meetings that had room when last seen (some may be full or gone).
  const std::vector<std::string>& joinable() const {
    return joinable_;
  }
  /// Drops the full and ended meetings from joinable() once it has grown.
  void compact_joinable(int meeting_size);

  /// What `user` believes as it sends command `c` (mix.hpp) about
  /// `meeting` (and `target`, a user it kicks).
  void sending(int user, int c, const std::string& meeting, int target);
  void created(int host, const std::string& meeting);
  void not_created(int host, const std::string& meeting);
  void joined(int user, const std::string& meeting);
  void ended(const std::string& meeting);
  /// An event to one of `user`'s devices.
  void event(int user, proto::event_kind kind, const std::string& meeting);

private:
  std::unordered_map<std::string, meeting_model> meetings_;
  std::unordered_map<int, user_model> user_models_;
  std::vector<int> users_;
  std::vector<std::string> joinable_;
};

} // namespace meetingd::loadgen
