// A latency histogram in the manner of HdrHistogram: log-linear buckets of
// microseconds, 64 linear sub-buckets per power of two, so any recorded value
// is reported within 1/64 (1.6 %) of what it was, from 1 us to days, in a
// fixed 17 KiB. Histograms merge by adding counts, which lets each loadgen
// thread record on its own and the main thread sum them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace meetingd::loadgen {

class histogram {
public:
  static constexpr int sub_bits = 6;                 // 64 sub-buckets per octave
  static constexpr int linear = 1 << (sub_bits + 1); // values < 128 us are exact
  static constexpr int octaves = 40;
  static constexpr int size = linear + octaves * (1 << sub_bits);

  void record(std::uint64_t us) {
    ++counts_[index(us)];
    ++total_;
    sum_ += us;
    max_ = std::max(max_, us);
    min_ = std::min(min_, us);
  }

  void merge(const histogram& o) {
    for (int i = 0; i < size; ++i)
      counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  void reset() {
    *this = histogram{};
  }

  std::uint64_t count() const {
    return total_;
  }
  std::uint64_t max_us() const {
    return total_ ? max_ : 0;
  }
  std::uint64_t min_us() const {
    return total_ ? min_ : 0;
  }
  double mean_us() const {
    return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0;
  }

  /// The value at quantile q (0..1): the middle of the bucket holding the
  /// ceil(q * count)-th smallest value, clamped to the recorded maximum.
  std::uint64_t quantile_us(double q) const {
    if (total_ == 0)
      return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (int i = 0; i < size; ++i) {
      seen += counts_[i];
      if (seen >= rank)
        return std::min(mid(i), max_);
    }
    return max_;
  }

private:
  static int index(std::uint64_t v) {
    if (v < static_cast<std::uint64_t>(linear))
      return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v); // >= sub_bits + 1
    int shift = e - sub_bits;        // >= 1
    auto sub = static_cast<int>(v >> shift) - (1 << sub_bits); // 0..63
    int i = linear + (shift - 1) * (1 << sub_bits) + sub;
    return std::min(i, size - 1);
  }
  static std::uint64_t lower(int i) {
    if (i < linear)
      return static_cast<std::uint64_t>(i);
    int shift = (i - linear) / (1 << sub_bits) + 1;
    auto sub = static_cast<std::uint64_t>((i - linear) % (1 << sub_bits) + (1 << sub_bits));
    return sub << shift;
  }
  static std::uint64_t mid(int i) {
    if (i < linear)
      return static_cast<std::uint64_t>(i);
    int shift = (i - linear) / (1 << sub_bits) + 1;
    return lower(i) + (std::uint64_t{1} << shift) / 2;
  }

  std::array<std::uint64_t, size> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

} // namespace meetingd::loadgen
