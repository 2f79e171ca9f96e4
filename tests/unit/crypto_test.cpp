// Known-answer and property tests for actors/core/crypto: every primitive the
// tokens, signatures and logins are built on is pinned to a published vector.
#include "actors/core/crypto.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <stdexcept>
#include <string>

using namespace meetingd::crypto;

namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

} // namespace

TEST(crypto_sha256, known_vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256("abc").size(), 32u);
  EXPECT_EQ(to_hex(sha256("abc")), sha256_hex("abc"));
}

TEST(crypto_hmac, rfc4231_case2_sha256) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_sha256("Jefe", "what do ya want for nothing?").size(), 32u);
}

TEST(crypto_hmac, rfc4231_case1_sha256) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(crypto_hmac, rfc2202_sha1) {
  EXPECT_EQ(to_hex(hmac_sha1(std::string(20, '\x0b'), "Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  EXPECT_EQ(to_hex(hmac_sha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(to_hex(hmac_sha1(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
}

TEST(crypto_hmac, empty_key_and_data) {
  EXPECT_EQ(to_hex(hmac_sha1("", "")), "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
  EXPECT_EQ(hmac_sha256_hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(hmac_sha256_hex(std::string_view{}, std::string_view{}), hmac_sha256_hex("", ""));
}

TEST(crypto_hex, lower_case_all_bytes) {
  EXPECT_EQ(to_hex(""), "");
  EXPECT_EQ(to_hex(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
}

TEST(crypto_base64, rfc4648_vectors) {
  const std::pair<const char*, const char*> vectors[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(crypto_base64, round_trips_binary) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); ++len) {
    auto piece = all.substr(all.size() - len);
    auto encoded = base64_encode(piece);
    EXPECT_EQ(encoded.find('\n'), std::string::npos);
    EXPECT_EQ(base64_decode(encoded), piece);
  }
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(crypto_base64, rejects_bad_input) {
  for (const char* bad : {"Zg=", "Zg", "Z", "Z===", "====", "Zm9v\n", "Zm 9v", " Zm9v", "Zg==Zg==",
                          "=Zg=", "Zm=v", "Zm9-", "Zm9_", "Zh==", "Zm9=", "Zm\x80v"})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
}

TEST(crypto_random, sizes_and_uniqueness) {
  EXPECT_EQ(random_bytes(0), "");
  EXPECT_EQ(random_bytes(33).size(), 33u);
  EXPECT_NE(random_bytes(16), random_bytes(16));
  auto hex = random_hex(12);
  EXPECT_EQ(hex.size(), 24u);
  EXPECT_TRUE(std::regex_match(hex, std::regex("[0-9a-f]{24}")));
}

TEST(crypto_pbkdf2, sha256_vectors) {
  EXPECT_EQ(to_hex(pbkdf2_sha256("password", "salt", 1, 32)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  EXPECT_EQ(to_hex(pbkdf2_sha256("password", "salt", 2, 32)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
  EXPECT_EQ(to_hex(pbkdf2_sha256("password", "salt", 4096, 32)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  EXPECT_EQ(pbkdf2_sha256("password", "salt", 1, 16), from_hex("120fb6cffcf8b32c43e7225256c4f837"));
  EXPECT_EQ(pbkdf2_sha256("", "", 1, 32).size(), 32u);
}

TEST(crypto_pbkdf2, rejects_bad_arguments) {
  EXPECT_THROW(pbkdf2_sha256("password", "salt", 0, 32), std::invalid_argument);
  EXPECT_THROW(pbkdf2_sha256("password", "salt", -1, 32), std::invalid_argument);
  EXPECT_THROW(pbkdf2_sha256("password", "salt", 1, 0), std::invalid_argument);
}

TEST(crypto_compare, constant_time_equal) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(crypto_uuid4, format_version_variant) {
  const std::regex shape("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = uuid4();
    EXPECT_TRUE(std::regex_match(id, shape)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}
