// OpenSSL-backed implementation of actors/core/crypto.hpp. Only EVP-level and
// non-deprecated OpenSSL 3 entry points are used.
#include "actors/core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>

namespace meetingd::crypto {

namespace {

// OpenSSL treats a null pointer as "no value" in some places even with a zero
// length (an HMAC key of nullptr means "reuse the previous key", which fails
// on a fresh context), so empty inputs are passed as a pointer to this byte.
const unsigned char empty_byte = 0;

const unsigned char* bytes_of(std::string_view s) {
  return s.empty() ? &empty_byte : reinterpret_cast<const unsigned char*>(s.data());
}

std::string hmac(const char* digest, std::size_t out_len, std::string_view key,
                 std::string_view data) {
  std::string out(out_len, '\0');
  std::size_t written = 0;
  auto* ok = EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, bytes_of(key), key.size(),
                       bytes_of(data), data.size(), reinterpret_cast<unsigned char*>(out.data()),
                       out.size(), &written);
  if (ok == nullptr || written != out_len)
    throw std::runtime_error(std::string{"HMAC-"} + digest + " failed");
  return out;
}

// Value of a Base64 digit, or -1.
int b64_value(char c) {
  static constexpr std::string_view digits
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto at = digits.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

} // namespace

std::string sha256(std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (EVP_Digest(bytes_of(data), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr)
        != 1
      || len != 32)
    throw std::runtime_error("SHA-256 failed");
  out.resize(len);
  return out;
}

std::string sha256_hex(std::string_view data) {
  return to_hex(sha256(data));
}

std::string hmac_sha1(std::string_view key, std::string_view data) {
  return hmac("SHA1", 20, key, data);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  return hmac("SHA256", 32, key, data);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return to_hex(hmac_sha256(key, data));
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length; encode in chunks of a multiple of 3
  // bytes so the pieces concatenate into one valid encoding.
  constexpr std::size_t chunk = 3 * 1024 * 1024;
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    auto piece = bytes.substr(pos, chunk);
    std::string buf((piece.size() + 2) / 3 * 4 + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(buf.data()), bytes_of(piece),
                            static_cast<int>(piece.size()));
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // Not EVP_DecodeBlock: it skips surrounding whitespace and decodes padding
  // as zero bytes, and strictness is what callers rely on to reject bad input.
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    std::size_t pad = 0;
    if (last) {
      if (text[i + 3] == '=')
        pad = text[i + 2] == '=' ? 2 : 1;
    }
    int v[4] = {0, 0, 0, 0};
    for (std::size_t j = 0; j < 4 - pad; ++j) {
      v[j] = b64_value(text[i + j]);
      if (v[j] < 0)
        return std::nullopt;
    }
    std::uint32_t triple = (static_cast<std::uint32_t>(v[0]) << 18)
                           | (static_cast<std::uint32_t>(v[1]) << 12)
                           | (static_cast<std::uint32_t>(v[2]) << 6)
                           | static_cast<std::uint32_t>(v[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad == 2) {
      if ((triple & 0xffff) != 0)
        return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad == 1) {
      if ((triple & 0xff) != 0)
        return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>(triple & 0xff));
  }
  return out;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  for (std::size_t pos = 0; pos < n;) {
    auto len = static_cast<int>(std::min<std::size_t>(n - pos, INT_MAX));
    if (RAND_bytes(p + pos, len) != 1)
      throw std::runtime_error("RAND_bytes failed: the CSPRNG is not available");
    pos += static_cast<std::size_t>(len);
  }
  return out;
}

std::string random_hex(std::size_t n_bytes) {
  return to_hex(random_bytes(n_bytes));
}

std::string pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations,
                          std::size_t key_len) {
  if (iterations < 1)
    throw std::invalid_argument("PBKDF2 needs at least one iteration");
  if (key_len == 0 || key_len > INT_MAX)
    throw std::invalid_argument("PBKDF2 key length out of range");
  if (password.size() > INT_MAX || salt.size() > INT_MAX)
    throw std::invalid_argument("PBKDF2 input too long");
  std::string out(key_len, '\0');
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(bytes_of(password)),
                        static_cast<int>(password.size()), bytes_of(salt),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(key_len), reinterpret_cast<unsigned char*>(out.data()))
      != 1)
    throw std::runtime_error("PBKDF2-HMAC-SHA256 failed");
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  if (a.empty())
    return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string uuid4() {
  auto b = random_bytes(16);
  // RFC 4122 §4.4: version 4 in the high nibble of byte 6, variant 10 in the
  // top bits of byte 8.
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0f) | 0x40);
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3f) | 0x80);
  auto hex = to_hex(b);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-'
         + hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

} // namespace meetingd::crypto
