// The folders depend one way (README, "Where things are"):
//
//   actors/core/  the model and rules: no CAF, no JSON, no I/O libraries
//   config/log    logging, metrics (config/metrics), durations as text
//                 (config/duration_text), and
//                 actors/atoms.hpp (the names of all actor messages), for
//                 everything above the core
//   persistence/  the store and its actor
//   gateway/      the codec and the LMQ and RTC gateways
//   actors/       the meeting and directory actors, config/options, the node
//   tools/        programs around the node
//   tests/ bench/ anything
//
// A file may include project headers of its own layer or below, never
// above; the core includes no third-party library but the standard one and
// OpenSSL. This test reads every source file and fails on the first include
// that goes the wrong way, naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// The layer of a path relative to the source root; nullopt for files that
/// are not part of the layering (third-party, build trees).
std::optional<int> layer_of(const std::string& path) {
  auto starts = [&](const char* prefix) { return path.rfind(prefix, 0) == 0; };
  if (starts("actors/core/"))
    return 0;
  if (starts("config/log.") || starts("config/metrics.") || starts("config/duration_text.")
      || path == "actors/atoms.hpp")
    return 1;
  if (starts("persistence/"))
    return 2;
  if (starts("gateway/"))
    return 3;
  if (starts("actors/") || starts("config/"))
    return 4;
  if (starts("tools/"))
    return 5;
  if (starts("tests/") || starts("bench/"))
    return 6;
  return std::nullopt;
}

const char* layer_name(int layer) {
  static const char* names[] = {"actors/core", "config/log, config/metrics, actors/atoms, config/duration_text", "persistence", "gateway",
                                "actors",      "tools",      "tests/bench"};
  return names[layer];
}

/// System headers the core may not use: it is plain C++ (OpenSSL aside).
bool forbidden_in_core(const std::string& system_header) {
  for (auto prefix : {"caf/", "nlohmann/", "spdlog/", "sqlite3", "curl/", "mqtt/", "mosquitto",
                      "httplib", "CLI/", "libpq", "systemd/"})
    if (system_header.rfind(prefix, 0) == 0)
      return true;
  return false;
}

/// Every include of `file` (at `relative`) that goes the wrong way.
std::vector<std::string> wrong_includes(const std::string& relative, std::istream& file) {
  std::vector<std::string> found;
  auto layer = layer_of(relative);
  if (!layer)
    return found;
  static const std::regex include_re{R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])"};
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    std::smatch m;
    if (!std::regex_search(line, m, include_re))
      continue;
    auto target = m[2].str();
    auto where = relative + ":" + std::to_string(number) + ": ";
    if (m[1] == "<") {
      if (*layer == 0 && forbidden_in_core(target))
        found.push_back(where + "the core includes <" + target + ">");
      continue;
    }
    auto target_layer = layer_of(target);
    if (target_layer && *target_layer > *layer)
      found.push_back(where + layer_name(*layer) + " includes " + target + " ("
                      + layer_name(*target_layer) + ")");
  }
  return found;
}

std::vector<std::string> wrong_includes_in_tree(const fs::path& root) {
  std::vector<std::string> found;
  for (auto dir : {"actors", "config", "persistence", "gateway", "tools", "tests", "bench"}) {
    if (!fs::exists(root / dir))
      continue;
    for (auto& entry : fs::recursive_directory_iterator(root / dir)) {
      auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp" && ext != ".h"))
        continue;
      std::ifstream in{entry.path()};
      auto relative = fs::relative(entry.path(), root).generic_string();
      for (auto& w : wrong_includes(relative, in))
        found.push_back(w);
    }
  }
  return found;
}

TEST(layering, the_checker_sees_an_include_that_goes_the_wrong_way) {
  std::istringstream core{"#include \"actors/core/clock.hpp\"\n#include <caf/all.hpp>\n"
                          "#include \"gateway/codec.hpp\"\n"};
  auto found = wrong_includes("actors/core/x.cpp", core);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_NE(found[0].find("<caf/all.hpp>"), std::string::npos);
  EXPECT_NE(found[1].find("actors/core includes gateway/codec.hpp (gateway)"), std::string::npos);
  std::istringstream store{"  #  include \"actors/interfaces.hpp\"\n#include <caf/all.hpp>\n"};
  found = wrong_includes("persistence/store_actor.hpp", store);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("persistence/store_actor.hpp:1: persistence includes "
                          "actors/interfaces.hpp (actors)"),
            std::string::npos);
  std::istringstream fine{"#include \"actors/core/meeting_core.hpp\"\n"
                          "#include \"persistence/store.hpp\"\n#include \"config/log.hpp\"\n"};
  EXPECT_TRUE(wrong_includes("gateway/lmq_gateway.cpp", fine).empty());
}

TEST(layering, every_include_of_the_project_goes_one_way) {
  auto found = wrong_includes_in_tree(MEETINGD_SOURCE_DIR);
  std::string all;
  for (auto& f : found)
    all += f + "\n";
  EXPECT_TRUE(found.empty()) << found.size() << " includes go the wrong way:\n" << all;
}

} // namespace
