// Aliyun RPC-style OpenAPI request signing, Signature Version 1.0, as
// docs/protocol.md §11 fixes it. The RTC client signs its CreateChannel /
// DeleteChannel / RemoveTerminals / DescribeChannelUsers calls with it, and the
// RTC emulator uses the same code (parse_query + verify) to check them, so a
// mistake here shows up against Aliyun's own test vector, not as a silent
// agreement between two copies.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace meetingd::rtc {

// std::map orders names bytewise, which is the order Aliyun sorts by.
using rpc_params = std::map<std::string, std::string>;

// RFC 3986: A-Z a-z 0-9 - _ . ~ kept, every other byte %XX with upper-case hex
// (so space is %20, '*' is %2A, multi-byte UTF-8 is one %XX per byte).
std::string percent_encode(std::string_view s);

// enc(name)=enc(value) pairs in name order, joined with '&'.
std::string canonical_query(const rpc_params& p);

// METHOD&%2F&percent_encode(canonical_query(p)); p is taken as is, so leave
// Signature out of it (sign() does).
std::string string_to_sign(std::string_view method, const rpc_params& p);

// Base64(HMAC-SHA1(access_key_secret + "&", string_to_sign)), ignoring any
// Signature entry in p.
std::string sign(std::string_view method, const rpc_params& p,
                 std::string_view access_key_secret);

// True if p's Signature entry is the signature of the other entries; compared
// in constant time. False if there is no Signature entry.
bool verify(std::string_view method, const rpc_params& p_with_signature,
            std::string_view access_key_secret);

// UTC yyyy-MM-ddTHH:mm:ssZ. Throws std::out_of_range for instants outside the
// years 0000..9999, which the format cannot write.
std::string format_timestamp(std::int64_t unix_seconds);

// Inverse of format_timestamp(): exactly that shape, a real calendar date,
// hours 00..23, minutes and seconds 00..59; nullopt otherwise.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

// The common parameters of every call: Format=JSON, Version=2018-01-11,
// AccessKeyId, SignatureMethod=HMAC-SHA1, Timestamp, SignatureVersion=1.0,
// SignatureNonce, RegionId, Action. The caller adds the action's own ones.
rpc_params common_params(std::string_view action, std::string_view access_key_id,
                         std::string_view region_id, std::int64_t unix_seconds,
                         std::string_view nonce);

// The query string to put after '?': canonical_query of p with its Signature
// added in name order (a Signature already in p is replaced).
std::string signed_query(std::string_view method, rpc_params p,
                         std::string_view access_key_secret);

// Splits a query string (an optional leading '?' is skipped) on '&' and the
// first '=' of each pair, percent-decoding names and values and reading '+' as
// space. A pair without '=' has an empty value; empty pairs are skipped; a '%'
// not followed by two hex digits is kept literally; of repeated names the last
// wins.
rpc_params parse_query(std::string_view query);

} // namespace meetingd::rtc
