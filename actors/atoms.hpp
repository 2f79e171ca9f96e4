// The atoms that name messages between meetingd's actors. CAF 0.17 atoms are
// at most 10 characters. Message signatures are in actors/interfaces.hpp.
#pragma once

#include <caf/atom.hpp>

namespace meetingd {

// RTC gateway
using create_channel_atom = caf::atom_constant<caf::atom("mkchannel")>;
using delete_channel_atom = caf::atom_constant<caf::atom("rmchannel")>;
using remove_terminals_atom = caf::atom_constant<caf::atom("rmterm")>;
using describe_users_atom = caf::atom_constant<caf::atom("lsusers")>;
using http_done_atom = caf::atom_constant<caf::atom("httpdone")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

// store
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpt")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;

// shared
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

} // namespace meetingd
