// Chooses each device's next command. In node mode: a command drawn by the
// --mix weights among those that make sense for the device's user in the
// shadow model now (a command that does not is drawn again without it), with
// the meeting and users it is about. Populating: the joins queued for the
// device, else, for the first device of a group, the next create until
// --meetings are reserved. Also the setup's logins and admin.user.add.
#pragma once

#include "tools/loadgen/model.hpp"
#include "tools/loadgen/options.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace meetingd::loadgen {

/// The user names devices log in as: <prefix>-u<n>.
std::string user_name(const options& o, int user);

/// A command to send; `c` -1 when there is none.
struct plan {
  int c = -1;
  proto::command command;
  std::string meeting; // the meeting it is about (for the model)
  int target = -1;     // the user a mute or kick is about
};

class planner {
public:
  /// `login`: ticket or password; `worker` and `run_id` make meeting ids
  /// that no other worker or run uses.
  planner(const options& o, world& w, login_method login, std::string run_id, int worker);

  plan next(int user);
  plan populate(std::deque<std::string>& joins, bool leader, std::atomic<long>& reserved);
  plan login(int user) const;
  /// The console's admin.user.add for a user that logs in with a password.
  plan add_user(int user) const;

private:
  plan build(int user, int c);
  plan about(int c, std::string meeting, int target = -1) const;
  plan create(std::string id) const;
  std::string new_meeting_id();
  std::vector<std::string> pick_invitees(int self, int k, const meeting_model* m);
  template <class V>
  const typename V::value_type* random_of(const V& v);

  const options& o_;
  world& world_;
  login_method login_;
  std::string run_id_;
  int worker_;
  std::mt19937_64 rng_;
  std::uint64_t meeting_seq_ = 0;
};

} // namespace meetingd::loadgen
