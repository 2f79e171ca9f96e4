// Per-client command rate limit (docs/protocol.md §3, 429): a token bucket per
// client, `rate` commands per second with bursts up to `burst`. Idle
// buckets are dropped so the table stays as small as the active clients.
#pragma once

#include "actors/core/protocol.hpp"

#include <string>
#include <unordered_map>

namespace meetingd {

class rate_limiter {
public:
  rate_limiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {
  }

  /// Takes one token for `client` at `now`; false if the client is over its rate.
  bool allow(const std::string& client, unix_ms now) {
    if (rate_ <= 0)
      return true;
    auto& b = buckets_[client];
    if (b.at == 0) {
      b.tokens = burst_;
    } else {
      b.tokens = std::min(burst_, b.tokens + (now - b.at) * rate_ / 1000.0);
    }
    b.at = now;
    if (b.tokens < 1.0)
      return false;
    b.tokens -= 1.0;
    return true;
  }

  /// Drops buckets unused since `before` (they would be full again anyway).
  void prune(unix_ms before) {
    for (auto i = buckets_.begin(); i != buckets_.end();)
      i = i->second.at < before ? buckets_.erase(i) : std::next(i);
  }

private:
  struct bucket {
    double tokens = 0;
    unix_ms at = 0;
  };
  double rate_;
  double burst_;
  std::unordered_map<std::string, bucket> buckets_;
};

} // namespace meetingd
