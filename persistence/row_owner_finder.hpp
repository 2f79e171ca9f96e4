// Finds the owner of each child row (a participant's or an invitation's
// meeting) during recovery, among owners loaded into a vector.
//
// The child rows come in the owners' order (the queries walk the same
// index), so a cursor moving forward finds each owner, skipping owners
// without children, with no allocation per owner. Should a row ever come out
// of that order, the cursor runs off the end once and the finder goes on with
// a hash map built then: linear either way.
#pragma once

#include <string_view>
#include <unordered_map>
#include <vector>

namespace meetingd {

template <class Owner>
class row_owner_finder {
public:
  /// `owners` must not change while the finder is used; `id_of` gives an
  /// owner's id as a string_view into it.
  template <class IdOf>
  row_owner_finder(std::vector<Owner>& owners, IdOf id_of)
    : owners_(owners), id_of_(id_of) {
  }

  /// Starts a new pass over child rows (the next query).
  void restart() {
    at_ = 0;
    in_order_ = true;
  }

  /// The owner with this id, or nullptr.
  Owner* find(std::string_view id) {
    if (in_order_) {
      for (auto i = at_; i < owners_.size(); ++i)
        if (id_of_(owners_[i]) == id) {
          at_ = i;
          return &owners_[i];
        }
      in_order_ = false;
    }
    if (by_id_.empty()) {
      by_id_.reserve(owners_.size());
      for (std::size_t i = 0; i < owners_.size(); ++i)
        by_id_.emplace(id_of_(owners_[i]), i);
    }
    auto i = by_id_.find(id);
    return i == by_id_.end() ? nullptr : &owners_[i->second];
  }

  /// Whether this pass fell back to the hash map (tests).
  bool in_order() const {
    return in_order_;
  }

private:
  std::vector<Owner>& owners_;
  std::string_view (*id_of_)(const Owner&);
  std::unordered_map<std::string_view, std::size_t> by_id_;
  std::size_t at_ = 0;
  bool in_order_ = true;
};

} // namespace meetingd
