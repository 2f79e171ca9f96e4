// The directory's side of several nodes (docs/cluster.md): which meetings
// this node serves (those of the shards it holds) and what it keeps of the
// others (replicas: their committed state, for the registry and the busy
// index); what happens when the lease actor reports a shard gained (adopt:
// load its meetings and serve them, re-arming their timers as a restart
// does), lost (drop: at once, silently) or to be handed over (let its
// meetings finish, then drop). Part of the directory actor.
#pragma once

#include "actors/directory_actor.hpp"

#include <string>
#include <vector>

namespace meetingd::directory_shards {

using self_ptr = directory_actor::stateful_pointer<directory_actor_state>;

/// True if this node serves meeting `id` (always, on a single node).
bool serves(self_ptr self, const std::string& id);

/// At start: splits the recovered live meetings into those of this node's
/// shards (returned, to be restored as served) and the others (replicas).
std::vector<meeting> keep_served(self_ptr self, std::vector<meeting> live);

/// A new meeting id in a shard this node serves (tries random ids); none if
/// it serves no shard just now.
std::optional<std::string> new_served_id(self_ptr self);

void on_adopt(self_ptr self, const std::vector<int>& shards);
void on_drop(self_ptr self, const std::vector<int>& shards);
void on_handover(self_ptr self, const std::vector<int>& shards,
                 caf::typed_response_promise<bool> done);

/// Re-checks the hand-overs under way (after a meeting settled or a sweep).
void check_handovers(self_ptr self);

/// What other nodes committed (persistence/change_feed.hpp): users, device
/// bindings and presence (the meetings here hear of a user gone offline or
/// back), and the rows of meetings served elsewhere (replicas).
void on_remote(self_ptr self, std::vector<any_change>& changes);

/// The feed lost notifications: users, devices and replicas are reloaded.
void on_gap(self_ptr self);

/// How many meetings this node serves, for its `nodes` row.
void report_load(self_ptr self);

} // namespace meetingd::directory_shards
