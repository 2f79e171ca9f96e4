// See huge_page_heap.hpp.
#include "actors/huge_page_heap.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

namespace meetingd {

namespace {

constexpr const char* tunable = "glibc.malloc.hugetlb=1";

/// "always" or "madvise" (glibc's tunable uses madvise): not "[never]".
bool kernel_offers_huge_pages() {
  std::ifstream in{"/sys/kernel/mm/transparent_hugepage/enabled"};
  std::string modes;
  std::getline(in, modes);
  return !modes.empty() && modes.find("[never]") == std::string::npos;
}

} // namespace

bool heap_on_huge_pages() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr && std::string{tunables}.find(tunable) != std::string::npos;
}

void restart_with_huge_page_heap(char** argv) {
  const char* opt_out = std::getenv("MEETINGD_HUGE_PAGE_HEAP");
  if (opt_out != nullptr && std::string{opt_out} == "0")
    return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  // Any hugetlb setting is the operator's (or the restarted image's): keep it.
  if (tunables != nullptr && std::string{tunables}.find("glibc.malloc.hugetlb") != std::string::npos)
    return;
  if (!kernel_offers_huge_pages())
    return;
  std::string value = tunables != nullptr && *tunables != '\0'
                        ? std::string{tunables} + ":" + tunable
                        : std::string{tunable};
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
  if (tunables != nullptr)
    ::setenv("GLIBC_TUNABLES", tunables, 1);
  else
    ::unsetenv("GLIBC_TUNABLES");
}

} // namespace meetingd
