// What this node knows of the shards (docs/cluster.md), shared by the
// actors that act on it from their own threads: the lease actor writes it
// after every round; the store reads the epochs its commits are fenced by;
// the LMQ gateway reads which node owns a meeting (to forward a command)
// and whether this node still serves it (to publish anything about it).
//
// A node holds a shard from a successful take until a renewal finds it
// gone, a commit finds it fenced, or it hands it over. While it holds it,
// it publishes what its meetings say: a change's reply or event is only
// ever sent after its commit passed the fence (the epoch was still this
// node's at COMMIT). A node resumed after a pause past its lease may answer
// a read from memory until its next lease round (a fifth of the lease)
// tells it the shard is gone; it never commits, and so never replies to a
// change or sends an event, for a shard it lost.
#pragma once

#include "actors/core/changes.hpp"
#include "actors/core/shards.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

namespace meetingd {

class shard_map {
public:
  /// What the node reports of its load in its `nodes` row (admin.nodes):
  /// written by the directory and the LMQ gateway, read by the lease actor.
  std::atomic<int> meetings{0};
  std::atomic<double> commands_per_s{0};

  shard_map(int count, std::string me) : count_(count), me_(std::move(me)), rows_(count) {
  }

  int count() const {
    return count_;
  }
  const std::string& me() const {
    return me_;
  }
  int shard_of(std::string_view meeting) const {
    return shards::shard_of(meeting, count_);
  }

  /// The epoch this node holds `shard` at, or 0 if it does not hold it.
  std::int64_t epoch_of(int shard) const {
    std::shared_lock lock{mu_};
    return valid(shard) ? rows_[static_cast<std::size_t>(shard)].epoch : 0;
  }

  /// True while this node serves `shard`: held, its meetings loaded, and
  /// not being handed over.
  bool serves(int shard) const {
    std::shared_lock lock{mu_};
    if (!valid(shard))
      return false;
    auto& r = rows_[static_cast<std::size_t>(shard)];
    return r.epoch > 0 && r.ready && !r.moving;
  }

  /// True while this node holds `shard` (being loaded or handed over
  /// included): what it may still publish for.
  bool holds(int shard) const {
    return epoch_of(shard) > 0;
  }

  /// The directory loaded the meetings of these newly taken shards.
  void set_ready(const std::vector<int>& shards) {
    std::unique_lock lock{mu_};
    for (auto s : shards)
      if (valid(s) && rows_[static_cast<std::size_t>(s)].epoch > 0)
        rows_[static_cast<std::size_t>(s)].ready = true;
  }

  /// These shards are being handed over: their commands wait for the next
  /// owner.
  void set_moving(const std::vector<int>& shards) {
    std::unique_lock lock{mu_};
    for (auto s : shards)
      if (valid(s))
        rows_[static_cast<std::size_t>(s)].moving = true;
  }

  /// The node that owned `shard` at the last round (maybe this one); empty
  /// if nobody did.
  std::string owner_of(int shard) const {
    std::shared_lock lock{mu_};
    return valid(shard) ? rows_[static_cast<std::size_t>(shard)].owner : std::string{};
  }

  /// The shards this node holds, with their epochs.
  std::map<int, std::int64_t> held() const {
    std::shared_lock lock{mu_};
    std::map<int, std::int64_t> out;
    for (std::size_t i = 0; i < rows_.size(); ++i)
      if (rows_[i].epoch > 0)
        out[static_cast<int>(i)] = rows_[i].epoch;
    return out;
  }

  /// After a round: this node holds exactly `held` (epochs); `owners` names
  /// every shard's owner as the table said.
  void update(const std::map<int, std::int64_t>& held, const std::vector<std::string>& owners) {
    std::unique_lock lock{mu_};
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      auto it = held.find(static_cast<int>(i));
      auto& r = rows_[i];
      auto epoch = it == held.end() ? 0 : it->second;
      // A shard taken anew is served once its meetings are loaded.
      if (epoch != r.epoch) {
        r.ready = false;
        r.moving = false;
      }
      r.epoch = epoch;
      if (i < owners.size())
        r.owner = owners[i];
      if (r.epoch > 0)
        r.owner = me_;
    }
  }

  /// A commit found `shards` fenced: this node no longer holds them.
  void lose(const std::vector<int>& shards) {
    std::unique_lock lock{mu_};
    for (auto s : shards)
      if (valid(s)) {
        auto& r = rows_[static_cast<std::size_t>(s)];
        r.epoch = 0;
        r.ready = false;
        r.moving = false;
        if (r.owner == me_)
          r.owner.clear();
      }
  }

private:
  struct row {
    std::string owner;
    std::int64_t epoch = 0; // > 0: held by this node
    bool ready = false;  // its meetings are loaded
    bool moving = false; // being handed over
  };
  bool valid(int shard) const {
    return shard >= 0 && shard < count_;
  }

  int count_;
  std::string me_;
  mutable std::shared_mutex mu_;
  std::vector<row> rows_;
};

/// The meetings a changeset writes rows of (meeting, participant,
/// invitation rows, webhook events of the outbox): what its commit must be
/// fenced by.
std::set<std::string> meetings_written(const changeset& cs);

} // namespace meetingd
