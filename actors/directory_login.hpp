// The directory's login flows: auth.login with a password or a ticket,
// auth.logout, and the admin commands that add and remove users. The rules
// they follow are plain functions (actors/login_rules.*, the books in
// actors/directory_core.*); these functions are the shell around them:
// password hashing on the hasher pool (bounded, with a deadline), commits,
// replies and the presence news for the user's meetings. Part of the
// directory actor (directory_actor.cpp routes to them).
#pragma once

#include "actors/directory_replies.hpp"

namespace meetingd::directory_login {

using directory_replies::reply_promise;
using directory_replies::self_ptr;

/// auth.login: throttled per client and per account, then a password check
/// (on the hasher pool) or a ticket check; binds the device on success.
void login(self_ptr self, const inbound_request& in, reply_promise rp);

/// auth.logout: unbinds the device and forgets its stored replies.
void logout(self_ptr self, const inbound_request& in, reply_promise rp);

/// admin.user.add: hashes the password on the hasher pool, adds the user.
void add_user(self_ptr self, const inbound_request& in, reply_promise rp);

/// admin.user.remove: removes the user and unbinds its devices.
void remove_user(self_ptr self, const inbound_request& in, reply_promise rp);

} // namespace meetingd::directory_login
