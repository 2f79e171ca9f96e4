// See huge_page_heap.hpp.
#include "actors/huge_page_heap.hpp"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

namespace meetingd {

namespace {

constexpr std::string_view hugetlb_key = "glibc.malloc.hugetlb=";

/// "always" or "madvise" (glibc's tunable uses madvise): not "[never]".
bool kernel_offers_huge_pages() {
  std::ifstream in{"/sys/kernel/mm/transparent_hugepage/enabled"};
  std::string modes;
  std::getline(in, modes);
  return !modes.empty() && modes.find("[never]") == std::string::npos;
}

/// The value of glibc.malloc.hugetlb in GLIBC_TUNABLES ("name=value" pairs
/// joined by ':'), or nullopt if it is not set.
std::optional<std::string> hugetlb_setting() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables == nullptr)
    return std::nullopt;
  std::string_view rest{tunables};
  while (!rest.empty()) {
    auto end = rest.find(':');
    auto pair = rest.substr(0, end);
    if (pair.substr(0, hugetlb_key.size()) == hugetlb_key)
      return std::string{pair.substr(hugetlb_key.size())};
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  }
  return std::nullopt;
}

} // namespace

bool heap_on_huge_pages() {
  // 1: transparent huge pages; 2: hugetlbfs pages the operator set up.
  auto setting = hugetlb_setting();
  return setting && *setting != "0";
}

void restart_with_huge_page_heap(char** argv) {
  const char* opt_out = std::getenv("MEETINGD_HUGE_PAGE_HEAP");
  if (opt_out != nullptr && std::string{opt_out} == "0")
    return;
  // Any hugetlb setting is the operator's (or the restarted image's): keep it.
  if (hugetlb_setting())
    return;
  if (!kernel_offers_huge_pages())
    return;
  // A copy: setenv may replace the string getenv pointed to.
  std::optional<std::string> before;
  if (const char* tunables = std::getenv("GLIBC_TUNABLES"))
    before = tunables;
  std::string value = std::string{hugetlb_key} + "1";
  if (before && !before->empty())
    value = *before + ":" + value;
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0)
    return;
  // The binary's real path, not /proc/self/exe: the kernel names the process
  // after the file it runs, and ps, pidof and pkill should see "meetingd".
  std::string self(4096, '\0');
  auto n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    self.resize(static_cast<std::size_t>(n));
    ::execv(self.c_str(), argv);
  }
  // Still here: carry on with the ordinary heap, and do not pretend otherwise.
  if (before)
    ::setenv("GLIBC_TUNABLES", before->c_str(), 1);
  else
    ::unsetenv("GLIBC_TUNABLES");
}

} // namespace meetingd
