// The atoms that name the messages of the meeting and directory actors (CAF
// 0.17 atoms are at most 10 characters). The store's are in
// persistence/store_actor.hpp, the gateways' in gateway/rtc_gateway.hpp,
// gateway/lmq_interface.hpp and (those both use) gateway/atoms.hpp; an atom
// used by several actors (`stats`, `retry`, `tick`) is declared alike in
// each of their headers. Message signatures are in actors/interfaces.hpp.
#pragma once

#include <caf/atom.hpp>

namespace meetingd {

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using retire_atom = caf::atom_constant<caf::atom("retire")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

} // namespace meetingd
