// The atoms both gateway actors use (CAF 0.17 atoms: at most 10 characters).
// They are the same atoms as the store's and the node's actors declare: CAF
// compares atoms by value, so a message sent with one is matched by another.
#pragma once

#include <caf/atom.hpp>

namespace meetingd {

using retry_atom = caf::atom_constant<caf::atom("retry")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

} // namespace meetingd
