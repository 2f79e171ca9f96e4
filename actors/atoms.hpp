// The atoms that name the messages between meetingd's actors, all in one
// place (CAF 0.17 atoms are at most 10 characters). Only CAF's atom header
// is included, so the store's and the gateways' actors use this file too
// (tests/unit/layering_test.cpp counts it below persistence/ and gateway/).
// Message signatures: actors/interfaces.hpp and the headers it names.
#pragma once

#include <caf/atom.hpp>

namespace meetingd {

// the store
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpt")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;

// the RTC gateway
using create_channel_atom = caf::atom_constant<caf::atom("mkchannel")>;
using delete_channel_atom = caf::atom_constant<caf::atom("rmchannel")>;
using remove_terminals_atom = caf::atom_constant<caf::atom("rmterm")>;
using describe_users_atom = caf::atom_constant<caf::atom("lsusers")>;
using http_done_atom = caf::atom_constant<caf::atom("httpdone")>;

// the LMQ gateway
using handle_atom = caf::atom_constant<caf::atom("handle")>;
using presence_atom = caf::atom_constant<caf::atom("presence")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using mqtt_in_atom = caf::atom_constant<caf::atom("mqttin")>;
using connected_atom = caf::atom_constant<caf::atom("connected")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;

// the meetings and the directory
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using retire_atom = caf::atom_constant<caf::atom("retire")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

// the password hasher
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;

// several nodes (docs/cluster.md)
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using handover_atom = caf::atom_constant<caf::atom("handover")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using fenced_atom = caf::atom_constant<caf::atom("fenced")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using remote_atom = caf::atom_constant<caf::atom("remote")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;

// webhooks (gateway/webhook_actor.hpp)
using webhook_atom = caf::atom_constant<caf::atom("webhook")>;
using outbox_atom = caf::atom_constant<caf::atom("outbox")>;
using settled_atom = caf::atom_constant<caf::atom("settled")>;

// several actors
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using figures_atom = caf::atom_constant<caf::atom("figures")>;

} // namespace meetingd
