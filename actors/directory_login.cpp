// The directory's login flows (see directory_login.hpp).
#include "actors/directory_login.hpp"

#include "config/log.hpp"

namespace meetingd::directory_login {

namespace {

using namespace directory_replies;

proto::reply overloaded() {
  return refuse_retry_after(refusal::overloaded,
    "too many logins are being checked right now; try again in a moment", 1000);
}

/// Who asks the hasher pool: anyone (a login), bounded by the node's limit
/// on waiting checks; or an admin, trusted not to flood it.
enum class asker { anyone, admin };

/// Asks the hasher pool, within its deadline (and for `anyone`, within the
/// bound on waiting checks); `done` gets the answer, or nothing (refused or
/// timed out: the caller answers 503).
template <class Answer, class Atom, class... Args, class Done>
void ask_hasher(self_ptr self, asker who, Done done, Atom atom, Args... args) {
  auto& st = self->state;
  if (who == asker::anyone && st.hashing >= st.env->max_hashing) {
    MD_LOG_WARN("auth.hashers_busy", log::kv("waiting", st.hashing),
                log::kv("hint", "logins arrive faster than --hashers can check them"));
    done(std::nullopt);
    return;
  }
  ++st.hashing;
  auto deadline = (self->clock().now() + st.env->hash_timeout).time_since_epoch();
  auto by = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline).count();
  self->request(st.links.hasher, st.env->hash_timeout, atom, std::move(args)...,
                hash_deadline{by})
    .then(
      [self, done](Answer& answer) mutable {
        --self->state.hashing;
        done(std::make_optional(std::move(answer)));
      },
      [self, done](caf::error& err) mutable {
        --self->state.hashing;
        MD_LOG_WARN("auth.hash_failed", log::kv("error", caf::to_string(err)));
        done(std::nullopt);
      });
}

/// A password that checked out was hashed with fewer iterations than the
/// node uses now: hash it again, in the background.
void upgrade_hash(self_ptr self, const user_record& user, const std::string& password) {
  auto& st = self->state;
  if (!needs_rehash(user.password_hash, st.env->pbkdf2_iterations))
    return;
  auto old_hash = user.password_hash;
  auto id = user.id;
  auto done = [self, id, old_hash](std::optional<std::string> hash) {
    auto& state = self->state;
    auto current = state.book.find_user(id);
    // Removed or changed meanwhile: leave it.
    if (!hash || !current || current->password_hash != old_hash)
      return;
    auto updated = *current;
    updated.password_hash = std::move(*hash);
    commit_then(self, state.links.store, state.book.update_user(std::move(updated)), [id] {
      MD_LOG_INFO("auth.rehashed", log::kv("user", id));
    });
  };
  ask_hasher<std::string>(self, asker::anyone, done, hash_atom::value, password,
                          st.env->pbkdf2_iterations);
}

/// Binds the device to `user` (within the device limit) and replies;
/// `rows` are the changes the login made so far.
void bind_and_reply(self_ptr self, const inbound_request& in, reply_promise rp,
                    const user_record& user, changeset rows, const char* with) {
  auto& st = self->state;
  auto& client = in.client;
  auto room = st.book.room_for_device(user.id, client);
  if (room.refusal) {
    commit_then(self, st.links.store, std::move(rows), [] {});
    reply_with(self, route_of(in, user.id), rp, std::move(*room.refusal));
    return;
  }
  if (room.evict) {
    MD_LOG_INFO("auth.device_unbound", log::kv("user", user.id), log::kv("client", *room.evict),
                log::kv("why", "--max-devices-per-user: the longest-silent offline device"),
                log::kv("req", in.req.id));
    rows.append(st.book.unbind(*room.evict));
  }
  auto previous = st.book.user_of(client);
  std::string previous_user = previous ? *previous : std::string{};
  rows.append(st.book.bind(client, user.id, now_of(self)));
  reply_with(self, route_of(in, user.id), std::move(rp),
             ok(proto::login_data{user.id, user.display_name}), std::move(rows));
  MD_LOG_INFO("auth.login", log::kv("user", user.id), log::kv("client", client),
              log::kv("req", in.req.id), log::kv("with", with));
  if (!previous_user.empty() && previous_user != user.id && !st.book.user_online(previous_user))
    notify_meetings(self, previous_user, false);
  notify_meetings(self, user.id, true);
}

/// A failed login: counted (per client and account), answered, never stored.
void refuse_login(self_ptr self, const inbound_request& in, reply_promise& rp, refusal why,
                  std::string message, bool counts) {
  auto& st = self->state;
  if (counts) {
    auto rows = st.book.login_failed(in.client, in.req.cmd.user, now_of(self));
    commit_then(self, st.links.store, std::move(rows), [] {});
  }
  MD_LOG_WARN("auth.refused", log::kv("user", in.req.cmd.user), log::kv("client", in.client),
              log::kv("req", in.req.id), log::kv("reason", entry_of(why).reason));
  reply_to_stranger(rp, route_of(in, in.req.cmd.user), refuse(why, std::move(message)));
}

void login_with_ticket(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  auto now = now_of(self);
  auto check = auth::check_ticket(*cmd.ticket, st.env->ticket_secret, to_unix_s(now));
  ticket_facts facts;
  facts.requested_user = cmd.user;
  facts.user_exists = st.book.find_user(cmd.user) != nullptr;
  facts.removed_at = st.book.removed_at(cmd.user);
  facts.max_age = st.env->ticket_max_age;
  facts.now = now;
  auto verdict = judge_ticket(check, facts);
  if (verdict.what == ticket_verdict::refuse) {
    refuse_login(self, in, rp, verdict.why, std::move(verdict.message),
                 verdict.counts_as_failure);
    return;
  }
  changeset rows;
  user_record user;
  if (verdict.what == ticket_verdict::create_and_log_in) {
    // A ticket vouches for the user: the customer's account system knows them.
    user.id = cmd.user;
    user.display_name = cmd.user;
    user.created_at = now;
    rows = st.book.add_user(user);
  } else {
    user = *st.book.find_user(cmd.user);
  }
  rows.append(st.book.login_succeeded(in.client, cmd.user));
  bind_and_reply(self, in, std::move(rp), user, std::move(rows), "ticket");
}

void login_with_password(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto user = st.book.find_user(in.req.cmd.user);
  // Unknown users (and ticket-only ones) cost the same check as real ones,
  // so the time of the answer does not tell which users exist.
  auto stored = user ? user->password_hash : std::string{};
  auto done = [self, in, rp](std::optional<bool> matches) mutable {
    auto& state = self->state;
    if (!matches) {
      reply_to_stranger(rp, route_of(in, in.req.cmd.user), overloaded());
      return;
    }
    auto known = state.book.find_user(in.req.cmd.user);
    if (!*matches || !known || known->password_hash.empty()) {
      refuse_login(self, in, rp, refusal::bad_credentials,
                   entry_of(refusal::bad_credentials).message, true);
      return;
    }
    auto record = *known;
    auto rows = state.book.login_succeeded(in.client, record.id);
    bind_and_reply(self, in, rp, record, std::move(rows), "password");
    upgrade_hash(self, record, *in.req.cmd.password);
  };
  ask_hasher<bool>(self, asker::anyone, done, verify_atom::value, *in.req.cmd.password, stored,
                   st.env->pbkdf2_iterations);
}

} // namespace

void login(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  if (auto wait = st.book.login_wait(in.client, cmd.user, now_of(self))) {
    auto s = std::to_string((wait->count() + 999) / 1000);
    reply_to_stranger(rp, route_of(in, cmd.user),
                      refuse_retry_after(refusal::rate_limited,
                                              "too many failed logins for this account or "
                                              "from this client; try again in "
                                                + s + " s",
                                              wait->count()));
    return;
  }
  if (cmd.ticket)
    login_with_ticket(self, in, std::move(rp));
  else
    login_with_password(self, in, std::move(rp));
}

void logout(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto bound = st.book.user_of(in.client);
  if (!bound) {
    reply_to_stranger(rp, route_of(in),
                      refuse(refusal::not_logged_in, "this device is not logged in"));
    return;
  }
  auto user = *bound;
  bool was_online = st.book.user_online(user);
  auto rows = st.book.unbind(in.client);
  reply_with(self, route_of(in, user), rp, ok(), std::move(rows));
  MD_LOG_INFO("auth.logout", log::kv("user", user), log::kv("client", in.client),
              log::kv("req", in.req.id));
  if (was_online && !st.book.user_online(user))
    notify_meetings(self, user, false);
}

void add_user(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  if (st.book.find_user(cmd.user)) {
    reply_with(self, route_of(in, cmd.user), rp,
               refuse(refusal::user_exists,
                           cmd.user + " exists already; remove it first to replace it"));
    return;
  }
  auto done = [self, in, rp](std::optional<std::string> hash) mutable {
    auto& state = self->state;
    auto& add = in.req.cmd;
    if (!hash) {
      rp.deliver(make_final_reply(route_of(in, add.user), overloaded()));
      return;
    }
    if (state.book.find_user(add.user)) {
      reply_with(self, route_of(in, add.user), rp,
                 refuse(refusal::user_exists, add.user + " exists already"));
      return;
    }
    user_record u;
    u.id = add.user;
    u.display_name = add.display_name.value_or(add.user);
    u.password_hash = std::move(*hash);
    u.created_at = now_of(self);
    auto rows = state.book.add_user(u);
    reply_with(self, route_of(in, u.id), rp, ok(proto::login_data{u.id, u.display_name}),
               std::move(rows));
    MD_LOG_INFO("admin.user_added", log::kv("user", u.id), log::kv("by", in.client),
                log::kv("req", in.req.id));
  };
  ask_hasher<std::string>(self, asker::admin, done, hash_atom::value, *cmd.password,
                          st.env->pbkdf2_iterations);
}

void remove_user(self_ptr self, const inbound_request& in, reply_promise rp) {
  auto& st = self->state;
  auto& cmd = in.req.cmd;
  if (!st.book.find_user(cmd.user)) {
    reply_with(self, route_of(in, cmd.user), rp,
               refuse(refusal::user_not_found, "no user " + cmd.user));
    return;
  }
  bool was_online = st.book.user_online(cmd.user);
  auto rows = st.book.remove_user(cmd.user, now_of(self));
  reply_with(self, route_of(in, cmd.user), rp, ok(), std::move(rows));
  MD_LOG_INFO("admin.user_removed", log::kv("user", cmd.user), log::kv("by", in.client),
              log::kv("req", in.req.id));
  if (was_online)
    notify_meetings(self, cmd.user, false);
}

} // namespace meetingd::directory_login
