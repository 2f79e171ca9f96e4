// Small helpers more than one unit test file needs.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace meetingd::test_support {

/// A new, empty directory under $TMPDIR (or /tmp) named `<prefix>-XXXXXX`;
/// the caller removes it.
inline std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string{base && *base ? base : "/tmp"} + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed for " + tmpl);
  return tmpl;
}

} // namespace meetingd::test_support
