// The node's cryptographic primitives: hashing, HMAC, Base64, randomness,
// PBKDF2 and constant-time comparison, over OpenSSL 3 (EVP). RTC join
// tokens, OpenAPI request signing, the LMQ password and login checks are built
// on these, so every byte-level choice (raw vs. hex, padding) is made here once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace meetingd::crypto {

// Raw 32-byte digest.
std::string sha256(std::string_view data);
// Lower-case hex of sha256().
std::string sha256_hex(std::string_view data);

// Raw 20-byte MAC.
std::string hmac_sha1(std::string_view key, std::string_view data);
// Raw 32-byte MAC.
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lower-case hex of hmac_sha256().
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Lower-case hex, two characters per byte.
std::string to_hex(std::string_view bytes);

// RFC 4648 standard alphabet with '=' padding and no line breaks.
std::string base64_encode(std::string_view bytes);
// Strict inverse of base64_encode(): nullopt on a length that is not a multiple
// of four, characters outside the alphabet (whitespace included), misplaced
// padding, or non-zero bits in the padding (so each byte string has exactly
// one accepted encoding).
std::optional<std::string> base64_decode(std::string_view text);

// n bytes from OpenSSL's CSPRNG; throws std::runtime_error only if it fails.
std::string random_bytes(std::size_t n);
// Lower-case hex of random_bytes(n_bytes), so 2 * n_bytes characters.
std::string random_hex(std::size_t n_bytes);

// PBKDF2-HMAC-SHA256 (RFC 8018). Throws std::invalid_argument for
// iterations < 1 or key_len == 0, std::runtime_error if OpenSSL fails.
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations,
                          std::size_t key_len);

// Compares secrets without a timing side channel on their content. Different
// lengths give false at once: the lengths of what we compare (MACs, hashes)
// are public.
bool constant_time_equal(std::string_view a, std::string_view b);

// A random RFC 4122 version 4 UUID, lower case, 36 characters.
std::string uuid4();

} // namespace meetingd::crypto
