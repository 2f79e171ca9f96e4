// Choosing each device's next command (see planner.hpp).
#include "tools/loadgen/planner.hpp"

#include "actors/core/crypto.hpp"

#include <algorithm>
#include <chrono>

namespace meetingd::loadgen {

namespace {

template <class V, class T>
bool contains(const V& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::int64_t unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

std::string user_name(const options& o, int user) {
  return o.device_prefix + "-u" + std::to_string(user);
}

planner::planner(const options& o, world& w, login_method login, std::string run_id, int worker)
  : o_(o), world_(w), login_(login), run_id_(std::move(run_id)), worker_(worker),
    rng_(0x5eed + worker) {}

plan planner::next(int user) {
  std::array<double, c_count> w = o_.weights;
  for (int attempt = 0; attempt < c_count; ++attempt) {
    double total = 0;
    for (double x : w)
      total += x;
    if (total <= 0)
      break;
    std::uniform_real_distribution<double> pick(0, total);
    double r = pick(rng_);
    int c = 0;
    for (; c < c_count - 1; ++c) {
      if (r < w[c] && w[c] > 0)
        break;
      r -= w[c];
    }
    if (w[c] <= 0)
      continue;
    auto p = build(user, c);
    if (p.c >= 0)
      return p;
    w[c] = 0; // not possible for this device now
  }
  return {};
}

plan planner::populate(std::deque<std::string>& joins, bool leader, std::atomic<long>& reserved) {
  if (!joins.empty()) {
    auto m = joins.front();
    joins.pop_front();
    return about(c_join, m);
  }
  if (!leader)
    return {};
  if (reserved.fetch_add(1) >= o_.meetings) {
    reserved.fetch_sub(1);
    return {};
  }
  return create(new_meeting_id());
}

plan planner::login(int user) const {
  auto name = user_name(o_, user);
  plan p = about(c_login, {});
  p.command.user = name;
  if (login_ == login_method::ticket) {
    // An hour: well within the node's --ticket-max-age.
    auto body = name + "." + std::to_string(unix_s() + 3600);
    p.command.ticket = body + "." + crypto::hmac_sha256_hex(o_.ticket_secret, body);
  } else {
    p.command.password = "pw-" + name;
  }
  return p;
}

plan planner::add_user(int user) const {
  auto name = user_name(o_, user);
  plan p; // counted as the setup's, with the logins
  p.c = c_login;
  p.command.kind = proto::command_kind::admin_user_add;
  p.command.user = name;
  p.command.password = "pw-" + name;
  return p;
}

plan planner::about(int c, std::string meeting, int target) const {
  plan p;
  p.c = c;
  p.command.kind = *cmd_kind(c);
  p.command.meeting = meeting;
  p.meeting = std::move(meeting);
  p.target = target;
  return p;
}

/// loadgen names the meetings it creates, so that it knows each id before
/// the reply comes.
plan planner::create(std::string id) const {
  plan p;
  p.c = c_create;
  p.command.kind = proto::command_kind::meeting_create;
  p.command.requested_id = id;
  p.command.title = "bench " + id;
  p.meeting = std::move(id);
  return p;
}

std::string planner::new_meeting_id() {
  return run_id_ + "-" + std::to_string(worker_) + "-" + std::to_string(++meeting_seq_);
}

template <class V>
const typename V::value_type* planner::random_of(const V& v) {
  if (v.empty())
    return nullptr;
  std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
  return &v[pick(rng_)];
}

plan planner::build(int user, int c) {
  auto& u = world_.user(user);
  switch (c) {
    case c_login:
      return login(user);
    case c_create: {
      if (o_.max_hosted > 0 && static_cast<int>(u.hosted.size()) >= o_.max_hosted)
        return {};
      auto p = create(new_meeting_id());
      p.command.users = pick_invitees(user, o_.invitees, nullptr);
      return p;
    }
    case c_join: {
      for (int k = 0; k < 8 && !world_.joinable().empty(); ++k) {
        auto id = *random_of(world_.joinable());
        auto m = world_.live(id);
        if (!m)
          continue;
        if (static_cast<int>(m->parts.size()) >= o_.meeting_size || contains(m->parts, user))
          continue;
        return about(c, id);
      }
      world_.compact_joinable(o_.meeting_size);
      return {};
    }
    case c_accept:
    case c_decline: {
      if (u.invites.empty())
        return {};
      return about(c, u.invites.back());
    }
    case c_leave: {
      auto id = random_of(u.joined);
      if (!id)
        return {};
      return about(c, *id);
    }
    case c_mute:
    case c_kick: {
      for (auto& id : u.hosted) {
        auto m = world_.live(id);
        if (!m || m->parts.size() < 2)
          continue;
        std::vector<int> others;
        for (int p : m->parts)
          if (p != user)
            others.push_back(p);
        if (others.empty())
          continue;
        int target = *random_of(others);
        auto p = about(c, id, target);
        p.command.user = user_name(o_, target);
        if (c == c_mute)
          p.command.audio = true;
        return p;
      }
      return {};
    }
    case c_renew:
    case c_get: {
      std::vector<std::string> mine;
      for (auto& id : u.hosted)
        if (world_.live(id))
          mine.push_back(id);
      for (auto& id : u.joined)
        mine.push_back(id);
      auto id = random_of(mine);
      if (!id)
        return {};
      return about(c, *id);
    }
    case c_end: {
      for (auto& id : u.hosted)
        if (world_.live(id))
          return about(c, id);
      return {};
    }
    case c_invite: {
      for (auto& id : u.hosted) {
        auto m = world_.live(id);
        if (!m)
          continue;
        auto inv = pick_invitees(user, std::max(1, o_.invitees), m);
        if (inv.empty())
          return {};
        auto p = about(c, id);
        p.command.users = std::move(inv);
        return p;
      }
      return {};
    }
    default:
      return {};
  }
}

/// Users of this worker to invite: preferably ones in no meeting (an
/// invitee in another meeting is "busy" and not rung).
std::vector<std::string> planner::pick_invitees(int self, int k, const meeting_model* m) {
  std::vector<std::string> out;
  const auto& users = world_.users();
  if (k <= 0 || users.size() < 2)
    return out;
  std::vector<int> chosen;
  for (int tries = 0; tries < 8 * k && static_cast<int>(chosen.size()) < k; ++tries) {
    int u = *random_of(users);
    if (u == self || contains(chosen, u) || (m && contains(m->parts, u)))
      continue;
    auto& um = world_.user(u);
    bool idle = um.hosted.empty() && um.joined.empty();
    if (!idle && tries < 4 * k)
      continue;
    chosen.push_back(u);
  }
  for (int u : chosen)
    out.push_back(user_name(o_, u));
  return out;
}

} // namespace meetingd::loadgen
