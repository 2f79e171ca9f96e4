// A store that keeps its tables in memory, with the semantics of the SQLite
// store (persistence/sqlite_store.*): upserts, all-or-nothing batches, the
// deferred foreign key from participants and invitations to their meeting,
// device sequence numbers that never go down, webhook events written once
// and then only settled. For actor tests, which need a
// store but no disk; `make_memory_store` (store.hpp) makes one.
#pragma once

#include "persistence/store.hpp"

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace meetingd {

class memory_store final : public store {
public:
  std::optional<store_error>
  apply(const std::vector<const changeset*>& batch) override;
  snapshot load(unix_ms requests_since, unix_ms ended_since) override;
  reply_lookup stored_reply(const std::string& client, const std::string& id) override;
  std::string describe() const override {
    return "memory";
  }
  std::size_t prune(unix_ms requests_before, unix_ms ended_before) override;
  std::vector<webhook_record> pending_webhooks(const std::vector<int>& shards, int count,
                                               std::size_t limit) override;
  std::optional<store_error> set_clean_shutdown(bool clean) override;
  std::optional<store_error> checkpoint() override;

private:
  using pair_key = std::pair<std::string, std::string>;
  /// (endpoint, meeting, seq) of an outbox row.
  using webhook_key = std::tuple<std::string, std::string, std::int64_t>;

  /// Applies one change, recording how to undo it.
  void apply_one(const any_change& change);
  /// Records the current value of `key` in `table` for rollback.
  template <class Table>
  void remember(Table& table, const typename Table::key_type& key);
  /// Writes one row, recording what it replaces.
  template <class Table, class Key, class Row>
  void put(Table& table, const Key& key, const Row& row);
  /// Erases one row, recording it.
  template <class Table, class Key>
  void drop(Table& table, const Key& key);
  /// Erases the rows (first, *) of a pair-keyed table, recording each.
  template <class Table>
  void erase_rows(Table& table, const std::string& first);

  // The tables, keyed as in SQLite.
  std::map<std::string, meeting_record> meetings_;
  std::map<pair_key, participant> participants_;  // (meeting, user)
  std::map<pair_key, invitation> invitations_;    // (meeting, invitee)
  std::map<std::string, user_record> users_;
  std::map<std::string, device_record> devices_;
  std::map<pair_key, request_record> requests_;   // (client, id)
  std::map<std::string, login_failures_record> login_failures_;
  std::map<std::string, removed_user_record> removed_users_;
  std::map<webhook_key, webhook_record> webhooks_;
  bool clean_shutdown_ = true;

  // Undo actions of the batch being applied, newest last.
  std::vector<std::function<void()>> undo_;
};

} // namespace meetingd
