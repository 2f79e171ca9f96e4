// The directory's rules and books, as plain C++ (no CAF): who the users are,
// which device is bound to which user and online, which meetings exist, who
// is in which meeting (busy detection), and the throttle on bad logins.
// The directory actor (actors/directory_actor.*) owns one of these and
// performs the I/O around it.
#pragma once

#include "actors/directory_state.hpp"
#include "actors/meeting_core.hpp"
#include "gateway/protocol.hpp"
#include "persistence/changes.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace meetingd {

/// A meeting as the directory lists it.
struct registry_entry {
  proto::meeting_summary summary;
  unix_ms ended_at = 0;
  std::string end_reason;
  int ringing = 0;
  bool creating = false; // reserved, channel not yet created
};

struct login_throttle_settings {
  int free_failures = 5;                              // failures before slowing down
  std::chrono::milliseconds first_delay{std::chrono::seconds(1)}; // doubled per failure after
  std::chrono::milliseconds max_delay{std::chrono::minutes(5)};
  std::chrono::milliseconds forget_after{std::chrono::minutes(15)};
};

class directory_core {
public:
  explicit directory_core(login_throttle_settings throttle = {});

  // -- users ------------------------------------------------------------------------

  const user_record* find_user(const std::string& id) const;
  std::size_t user_count() const;
  /// Adds a user (the caller checked it does not exist yet).
  changeset add_user(user_record u);
  /// Removes a user and unbinds all its devices.
  changeset remove_user(const std::string& id);
  proto::users_page list_users(std::optional<int> limit,
                               const std::optional<std::string>& after) const;

  // -- devices ------------------------------------------------------------------------

  /// The user bound to a device, if any.
  const std::string* user_of(const std::string& client) const;
  /// Binds a device to a user (login); a device has one user at a time.
  changeset bind(const std::string& client, const std::string& user, unix_ms now);
  /// Unbinds a device (logout); nothing if it was not bound.
  changeset unbind(const std::string& client);

  /// A user whose online state changed: some device online (true) or none.
  struct presence_change {
    std::string user;
    bool online = false;
  };
  /// Records a device's presence. Returns the change of its user's online
  /// state, if there was one, and the device row to persist.
  std::optional<presence_change> set_presence(const std::string& client,
                                              bool online, unix_ms now,
                                              changeset& out);
  bool user_online(const std::string& user) const;
  std::size_t devices_online() const;
  /// Devices of `user`: all bound ones, or only the online ones; never `except`.
  std::vector<std::string> devices_of(const std::string& user, bool online_only,
                                      const std::string& except = {}) const;

  // -- meetings --------------------------------------------------------------------------

  const registry_entry* find_meeting(const std::string& id) const;
  /// Reserves an id for a meeting being created.
  void reserve_meeting(const std::string& id, const std::string& creator,
                       unix_ms now);
  /// Drops a reservation whose creation failed.
  void forget_meeting(const std::string& id);
  /// Applies a meeting's committed summary and membership changes.
  void apply(meeting_update update);
  /// Loads a meeting's summary and members at recovery.
  void restore_meeting(const meeting& m);
  /// About `n` meetings are about to be restored: sizes the indexes once.
  void expect_meetings(std::size_t n);
  void restore_ended(const meeting_record& m);
  /// Meetings the user is a participant of.
  std::vector<std::string> meetings_of(const std::string& user) const;
  /// What a meeting needs to know about users it names (invitees).
  std::vector<user_fact> facts(const std::vector<std::string>& users,
                               const std::string& meeting) const;
  proto::meetings_page list_meetings(const proto::command& filter) const;
  std::size_t meeting_count(meeting_status status) const;
  std::size_t participant_count() const;
  std::size_t ringing_count() const;
  /// Drops ended meetings from the registry that ended before `before`.
  void prune_ended(unix_ms before);

  // -- bad logins -------------------------------------------------------------------------

  /// If the client must wait before trying to log in again, for how long.
  std::optional<std::chrono::milliseconds> login_wait(const std::string& client,
                                                      unix_ms now) const;
  void login_failed(const std::string& client, unix_ms now);
  void login_succeeded(const std::string& client);

private:
  struct login_failures {
    int count = 0;
    unix_ms last = 0;
  };

  login_throttle_settings throttle_;
  std::map<std::string, user_record> users_;
  std::unordered_map<std::string, device_record> devices_;
  std::unordered_map<std::string, std::set<std::string>> devices_by_user_;
  std::map<std::string, registry_entry> meetings_;
  std::unordered_map<std::string, std::set<std::string>> meetings_by_user_;
  std::unordered_map<std::string, login_failures> failures_;
};

} // namespace meetingd
