// Login rules of docs/protocol.md §7.3: PBKDF2 password hashes and signed login
// tickets, including every way a stored hash or a ticket can be malformed.
#include "actors/core/auth.hpp"

#include "actors/core/crypto.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace meetingd;
using auth::ticket_status;

namespace {

// Low so the suite stays fast; the format and checks do not depend on it.
constexpr int test_iterations = 1000;

constexpr std::string_view secret = "ticket-secret";

} // namespace

TEST(auth_password, hash_format) {
  auto stored = auth::hash_password("hunter2", test_iterations);
  ASSERT_EQ(stored.rfind("pbkdf2-sha256$1000$", 0), 0u) << stored;
  auto rest = stored.substr(std::string("pbkdf2-sha256$1000$").size());
  auto dollar = rest.find('$');
  ASSERT_NE(dollar, std::string::npos);
  auto salt = crypto::base64_decode(rest.substr(0, dollar));
  auto key = crypto::base64_decode(rest.substr(dollar + 1));
  ASSERT_TRUE(salt && key);
  EXPECT_EQ(salt->size(), 16u);
  EXPECT_EQ(key->size(), 32u);
  EXPECT_EQ(*key, crypto::pbkdf2_sha256("hunter2", *salt, test_iterations, 32));
}

TEST(auth_password, round_trip_and_wrong_password) {
  auto stored = auth::hash_password("correct horse", test_iterations);
  EXPECT_TRUE(auth::verify_password("correct horse", stored));
  EXPECT_FALSE(auth::verify_password("correct horsE", stored));
  EXPECT_FALSE(auth::verify_password("", stored));
  EXPECT_FALSE(auth::verify_password("correct horse ", stored));
  auto empty = auth::hash_password("", test_iterations);
  EXPECT_TRUE(auth::verify_password("", empty));
  EXPECT_FALSE(auth::verify_password("x", empty));
}

TEST(auth_password, salts_differ) {
  EXPECT_NE(auth::hash_password("same", test_iterations),
            auth::hash_password("same", test_iterations));
}

TEST(auth_password, verifies_independent_vector) {
  // PBKDF2-HMAC-SHA256("password", "salt", 1, 32) in our stored format.
  EXPECT_TRUE(auth::verify_password("password",
                                    "pbkdf2-sha256$1$c2FsdA==$"
                                    "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs="));
  EXPECT_FALSE(auth::verify_password("Password",
                                     "pbkdf2-sha256$1$c2FsdA==$"
                                     "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs="));
}

TEST(auth_password, malformed_stored_strings) {
  const std::string key = "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=";
  const std::string short_key = crypto::base64_encode(std::string(31, 'k'));
  for (const std::string& bad : std::vector<std::string>{
         std::string{},
         std::string{"pbkdf2-sha256"},
         std::string{"password"},
         "pbkdf2-sha1$1$c2FsdA==$" + key,
         "PBKDF2-SHA256$1$c2FsdA==$" + key,
         "pbkdf2-sha256$1$c2FsdA==",
         "pbkdf2-sha256$1$c2FsdA==$" + key + "$",
         "$pbkdf2-sha256$1$c2FsdA==$" + key,
         "pbkdf2-sha256$0$c2FsdA==$" + key,
         "pbkdf2-sha256$-1$c2FsdA==$" + key,
         "pbkdf2-sha256$+1$c2FsdA==$" + key,
         "pbkdf2-sha256$ 1$c2FsdA==$" + key,
         "pbkdf2-sha256$1x$c2FsdA==$" + key,
         "pbkdf2-sha256$$c2FsdA==$" + key,
         "pbkdf2-sha256$10000001$c2FsdA==$" + key,
         "pbkdf2-sha256$99999999999999999999$c2FsdA==$" + key,
         "pbkdf2-sha256$1$$" + key,
         "pbkdf2-sha256$1$c2FsdA=$" + key,
         "pbkdf2-sha256$1$c2Fs dA==$" + key,
         "pbkdf2-sha256$1$c2FsdA==$",
         "pbkdf2-sha256$1$c2FsdA==$" + key.substr(1),
         "pbkdf2-sha256$1$c2FsdA==$" + short_key,
         "pbkdf2-sha256$1$c2FsdA==$" + key + key,
       })
    EXPECT_FALSE(auth::verify_password("password", bad)) << bad;
  // hash_iterations refuses exactly what verification refuses.
  EXPECT_FALSE(auth::hash_iterations("pbkdf2-sha256$10000001$c2FsdA==$" + key));
  EXPECT_FALSE(auth::hash_iterations("pbkdf2-sha256$1$c2FsdA==$" + short_key));
  EXPECT_FALSE(auth::hash_iterations(""));
}

TEST(auth_password, hash_iterations_reads_what_the_hash_was_made_with) {
  EXPECT_EQ(auth::hash_iterations(auth::hash_password("x", 1234)), std::optional<int>{1234});
  EXPECT_EQ(auth::hash_iterations("pbkdf2-sha256$1$c2FsdA==$"
                                  "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs="),
            std::optional<int>{1});
}

TEST(auth_password, an_unknown_user_costs_a_check_and_fails) {
  EXPECT_FALSE(auth::verify_against_nothing("password", 1000));
  EXPECT_FALSE(auth::verify_against_nothing("", 0)) << "clamped, never a crash";
}

TEST(auth_password, iteration_bounds) {
  EXPECT_THROW(auth::hash_password("x", 0), std::invalid_argument);
  EXPECT_THROW(auth::hash_password("x", -5), std::invalid_argument);
  EXPECT_THROW(auth::hash_password("x", auth::max_iterations + 1), std::invalid_argument);
  EXPECT_TRUE(auth::verify_password("x", auth::hash_password("x", 1)));
}

TEST(auth_ticket, format_matches_independent_vector) {
  // printf 'alice.1764000000' | openssl dgst -sha256 -hmac 'ticket-secret'
  EXPECT_EQ(auth::make_ticket("alice", 1764000000, secret),
            "alice.1764000000.17ddfa6561cab21cdb18e4c01f4b20b3ed99ca7ba4f8c64d4b630e49e817a57e");
}

TEST(auth_ticket, ok) {
  auto t = auth::make_ticket("alice", 1764000000, secret);
  auto r = auth::check_ticket(t, secret, 1763999999);
  EXPECT_EQ(r.status, ticket_status::ok);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.expiry, 1764000000);
}

TEST(auth_ticket, expired) {
  auto t = auth::make_ticket("alice", 1764000000, secret);
  EXPECT_EQ(auth::check_ticket(t, secret, 1764000000).status, ticket_status::expired);
  auto r = auth::check_ticket(t, secret, 1764000001);
  EXPECT_EQ(r.status, ticket_status::expired);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(auth::check_ticket(auth::make_ticket("alice", 0, secret), secret, 0).status,
            ticket_status::expired);
}

TEST(auth_ticket, forged) {
  auto t = auth::make_ticket("alice", 1764000000, secret);
  const std::int64_t now = 1700000000;
  auto flipped = t;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(auth::check_ticket(flipped, secret, now).status, ticket_status::bad_signature);
  EXPECT_EQ(auth::check_ticket(t, "other-secret", now).status, ticket_status::bad_signature);

  // Alice's MAC on Bob's name, or on a later expiry.
  auto mac = t.substr(t.rfind('.') + 1);
  EXPECT_EQ(auth::check_ticket("bob.1764000000." + mac, secret, now).status,
            ticket_status::bad_signature);
  EXPECT_EQ(auth::check_ticket("alice.1864000000." + mac, secret, now).status,
            ticket_status::bad_signature);
  EXPECT_EQ(auth::check_ticket("alice.01764000000." + mac, secret, now).status,
            ticket_status::bad_signature);

  // MAC before expiry: an expired forgery is a forgery.
  EXPECT_EQ(auth::check_ticket(flipped, secret, 1864000000).status, ticket_status::bad_signature);
}

TEST(auth_ticket, user_with_dots) {
  auto t = auth::make_ticket("a.b.c@x-y_z", 1764000000, secret);
  EXPECT_EQ(t, "a.b.c@x-y_z.1764000000."
               "221a2e7b36fa0c47f3e6df3151addfcc44d607525233c7bb1cc0b1bd401017b9");
  auto r = auth::check_ticket(t, secret, 1700000000);
  EXPECT_EQ(r.status, ticket_status::ok);
  EXPECT_EQ(r.user, "a.b.c@x-y_z");
  EXPECT_EQ(r.expiry, 1764000000);
  EXPECT_EQ(auth::check_ticket(auth::make_ticket("...", 5, secret), secret, 1).user, "...");
  // "alice." is a valid user id, so this parses and fails only on its MAC.
  auto r2 = auth::check_ticket("alice..1764000000." + std::string(64, 'a'), secret, 1);
  EXPECT_EQ(r2.status, ticket_status::bad_signature);
  EXPECT_EQ(r2.user, "alice.");
}

TEST(auth_ticket, empty_secret_disables_tickets) {
  auto signed_with_empty = auth::make_ticket("alice", 1764000000, "");
  EXPECT_EQ(auth::check_ticket(signed_with_empty, "", 1700000000).status,
            ticket_status::bad_signature);
  auto t = auth::make_ticket("alice", 1764000000, secret);
  EXPECT_EQ(auth::check_ticket(t, "", 1700000000).status, ticket_status::bad_signature);
}

TEST(auth_ticket, malformed) {
  auto mac = std::string(64, 'a');
  const std::int64_t now = 1700000000;
  for (const std::string& bad : std::vector<std::string>{
         std::string{},
         std::string{"alice"},
         std::string{"alice.1764000000"},
         std::string{"."},
         std::string{".."},
         "alice.." + mac,
         ".1764000000." + mac,
         "alice.-5." + mac,
         "alice.+5." + mac,
         "alice. 5." + mac,
         "alice.12a." + mac,
         "alice.12345678901234567890." + mac,
         "alice.9999999999999999999." + mac,
         "alice.1764000000." + std::string(64, 'A'),
         "alice.1764000000." + std::string(63, 'a'),
         "alice.1764000000." + std::string(65, 'a'),
         "alice.1764000000." + std::string(63, 'a') + "g",
         "alice.1764000000." + mac + ".",
         "alice.1764000000.",
         "al ice.1764000000." + mac,
         "alice/x.1764000000." + mac,
         "al\xc3\xa9" "ce.1764000000." + mac,
         std::string(65, 'u') + ".1764000000." + mac,
       }) {
    auto r = auth::check_ticket(bad, secret, now);
    EXPECT_EQ(r.status, ticket_status::malformed) << bad;
    EXPECT_TRUE(r.user.empty()) << bad;
  }
  // The largest expiry that fits is accepted as well-formed.
  auto far = auth::make_ticket("alice", 9223372036854775807, secret);
  EXPECT_EQ(auth::check_ticket(far, secret, now).status, ticket_status::ok);
  EXPECT_EQ(auth::check_ticket(std::string(64, 'u') + ".1." + mac, secret, now).status,
            ticket_status::bad_signature);
}

TEST(auth_ticket, make_ticket_refuses_what_check_would_reject) {
  EXPECT_THROW(auth::make_ticket("", 1, secret), std::invalid_argument);
  EXPECT_THROW(auth::make_ticket("al ice", 1, secret), std::invalid_argument);
  EXPECT_THROW(auth::make_ticket(std::string(65, 'u'), 1, secret), std::invalid_argument);
  EXPECT_THROW(auth::make_ticket("alice", -1, secret), std::invalid_argument);
}
