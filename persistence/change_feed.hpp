// Several nodes (docs/cluster.md): what each node must learn of the others'
// commits, carried by the database itself. A node's commit sends, in the
// same transaction, PostgreSQL notifications on `meetingd_changes` with the
// rows it wrote that other nodes keep in memory: users, device bindings and
// presence, meeting rows (for the registry and the busy index), the keys of
// stored replies (for idempotency across nodes; never the replies, which
// may carry join tokens) and the devices' event numbers (so that a node
// taking a meeting over goes on above them). PostgreSQL delivers them after the COMMIT, in
// commit order, to every listening node; a transaction that rolls back
// sends nothing.
//
// A notification is at most ~8000 bytes: a batch is split over as many as it
// needs. The format is the node id, then one line per change: the name of
// the statement that wrote it and its parameters as the store binds them
// (persistence/rows.hpp), tab-separated, with \\, \t and \n escaped. A
// meeting or participant line may lack the columns added with webhooks
// (a node of the previous version during a rolling upgrade): they read as
// their defaults.
//
// The listener has its own connection and thread; what it hears it hands to
// a callback (the node sends it on to its actors). If its connection drops,
// notifications sent meanwhile are lost: it says so (`on_gap`) once it
// listens again, so that the node reloads what it keeps.
#pragma once

#include "actors/core/changes.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace meetingd::change_feed {

inline constexpr const char* channel = "meetingd_changes";

/// The payloads of the notifications for `batch`, committed by `node`;
/// none if it wrote nothing other nodes keep.
std::vector<std::string> encode(const std::string& node, const std::vector<const changeset*>& batch);

struct message {
  std::string node;
  std::vector<any_change> changes;
};
/// One payload; nullopt if it is not one of encode's.
std::optional<message> decode(std::string_view payload);

class listener {
public:
  using on_message = std::function<void(message)>;
  using on_gap = std::function<void()>;

  /// Starts listening on a connection of its own; messages of `node` itself
  /// are skipped.
  listener(std::string uri, std::chrono::milliseconds timeout, std::string node,
           on_message each, on_gap gap);
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

private:
  void run();

  std::string uri_;
  std::chrono::milliseconds timeout_;
  std::string node_;
  on_message each_;
  on_gap gap_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace meetingd::change_feed
