// The directory's rules and books, as plain C++ (no CAF): who the users are,
// which device is bound to which user and online, which meetings exist, who
// is in which meeting (busy detection), the throttle on bad logins, and how
// much one user may cost the service.
// The directory actor (actors/directory_actor.*) owns one of these and
// performs the I/O around it.
#pragma once

#include "actors/core/directory_state.hpp"
#include "actors/core/login_rules.hpp"
#include "actors/core/meeting_core.hpp"
#include "actors/core/protocol.hpp"
#include "actors/core/changes.hpp"

#include <chrono>
#include <deque>
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
  std::string creator;   // who created it (and so pays for its channel)
};

/// Binding a device to a user within --max-devices-per-user: the device to
/// unbind first (the user's longest-silent offline one), or a refusal when
/// every bound device is online.
struct device_room {
  std::optional<std::string> evict;
  std::optional<proto::reply> refusal;
};

class directory_core {
public:
  explicit directory_core(login_throttle_settings throttle = {}, abuse_limits limits = {});

  // -- users ------------------------------------------------------------------------

  const user_record* find_user(const std::string& id) const;
  std::size_t user_count() const;
  /// Adds a user (the caller checked it does not exist yet); a user added
  /// again after a removal is no longer "removed".
  changeset add_user(user_record u);
  /// Replaces a user's record (a password re-hashed with more iterations).
  changeset update_user(user_record u);
  /// Removes a user, unbinds all its devices and remembers when (tickets
  /// issued before that must not bring it back).
  changeset remove_user(const std::string& id, unix_ms now);
  /// When `user` was removed, if recently enough to matter for tickets.
  std::optional<unix_ms> removed_at(const std::string& user) const;
  void restore_removed(const removed_user_record& r);
  /// Forgets removals before `before` (no valid ticket can predate them).
  changeset prune_removed(unix_ms before);
  proto::users_page list_users(std::optional<int> limit,
                               const std::optional<std::string>& after) const;

  // -- devices ------------------------------------------------------------------------

  /// The user bound to a device, if any.
  const std::string* user_of(const std::string& client) const;
  /// Binds a device to a user (login); a device has one user at a time.
  /// A device that changes user forgets its stored replies.
  changeset bind(const std::string& client, const std::string& user, unix_ms now);
  /// Unbinds a device (logout) and forgets its stored replies, so that a
  /// duplicate runs again as the device is now; nothing if it was not bound.
  changeset unbind(const std::string& client);
  /// What binding `client` to `user` needs within the device limit.
  device_room room_for_device(const std::string& user, const std::string& client) const;

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
  /// Drops meeting `m` from the registry and the busy index (its state is
  /// about to be restored afresh: a shard adopted or lost, docs/cluster.md).
  void forget_meeting(const meeting& m);
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

  // -- what one user may cost ----------------------------------------------------------

  /// A refusal (429) if `user` may not create a meeting ringing `invitees`
  /// users now.
  std::optional<proto::reply> may_create(const std::string& user, std::size_t invitees,
                                         unix_ms now) const;
  /// A refusal (429) if one call.invite may not ring `invitees` users.
  std::optional<proto::reply> may_invite(std::size_t invitees) const;
  /// A meeting.create went ahead: it counts toward the per-minute limit.
  void count_create(const std::string& user, unix_ms now);
  /// Active meetings `user` created (reservations included).
  int meetings_created_by(const std::string& user) const;
  /// Forgets creates older than a minute.
  void prune_creates(unix_ms now);

  // -- bad logins -------------------------------------------------------------------------

  /// How long `client` must wait before trying to log in as `account` again,
  /// if at all: failures count per client and per account (from any client),
  /// but a device already bound to the account is not held back by the
  /// failures of others (docs/security.md, "Logins").
  std::optional<std::chrono::milliseconds> login_wait(const std::string& client,
                                                      const std::string& account,
                                                      unix_ms now) const;
  /// Counts a failed login; the account's count is persisted if it exists.
  changeset login_failed(const std::string& client, const std::string& account, unix_ms now);
  /// A successful login forgets the failures of the client and the account.
  changeset login_succeeded(const std::string& client, const std::string& account);
  void restore_login_failures(const login_failures_record& r);
  /// Forgets decayed failures (their rows too).
  changeset prune_logins(unix_ms now);

private:
  /// One active meeting of `creator` fewer.
  void uncount_created(const std::string& creator);

  abuse_limits limits_;
  login_throttle account_logins_;
  login_throttle client_logins_;
  std::map<std::string, user_record> users_;
  std::unordered_map<std::string, unix_ms> removed_;
  std::unordered_map<std::string, device_record> devices_;
  std::unordered_map<std::string, std::set<std::string>> devices_by_user_;
  std::map<std::string, registry_entry> meetings_;
  std::unordered_map<std::string, std::set<std::string>> meetings_by_user_;
  /// Active meetings per creator.
  std::unordered_map<std::string, int> created_active_;
  /// Times of each user's creates within the last minute, oldest first.
  std::unordered_map<std::string, std::deque<unix_ms>> recent_creates_;
};

} // namespace meetingd
