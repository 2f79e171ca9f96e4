// The node's log for machines and for logrotate (docs/operators-guide.md,
// "Logs"): --log-format=json writes one JSON object per line, --log-file
// appends to a file that SIGHUP opens again after a rename, and a log file
// that cannot be opened stops the node at start with one line.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace meetingd::testing;
namespace fs = std::filesystem;

namespace {

std::string contents(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Every line of the file parsed; a line that is not a JSON object fails
/// the test and is left out.
std::vector<json> json_lines(const std::string& path) {
  std::istringstream in{contents(path)};
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) {
    auto parsed = json::parse(line, nullptr, false);
    if (!parsed.is_object()) {
      ADD_FAILURE() << path << ": not a JSON object: " << line;
      continue;
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

/// The first line whose event is `event` and whose fields include `fields`.
std::optional<json> find_event(const std::vector<json>& lines, const std::string& event,
                               const json& fields = json::object()) {
  for (auto& line : lines) {
    if (line.value("event", "") != event)
      continue;
    bool all = true;
    for (auto& [key, value] : fields.items())
      all = all && line.contains(key) && line[key] == value;
    if (all)
      return line;
  }
  return std::nullopt;
}

bool has_event(const std::string& path, const std::string& event,
               const json& fields = json::object()) {
  return find_event(json_lines(path), event, fields).has_value();
}

} // namespace

TEST(logging, json_lines_in_a_file_that_sighup_reopens_after_a_rename) {
  temp_dir logs;
  auto path = logs.path() + "/meetingd.log";
  cluster c{node_options{{{"log-format", "json"}, {"log-file", path}}, {}}};
  c.start_node(); // waits for lmq.ready in the file too (cluster::node_log)

  auto before = json_lines(path);
  auto started = find_event(before, "node.started");
  ASSERT_TRUE(started) << contents(path);
  EXPECT_EQ(started->value("level", ""), "info");
  EXPECT_EQ(started->value("node", ""), "node-1");
  EXPECT_TRUE(started->at("meetings").is_number_integer()) << started->dump();
  EXPECT_TRUE(started->at("clean_shutdown").is_boolean()) << started->dump();
  EXPECT_TRUE(started->at("time").is_string()) << started->dump();
  EXPECT_TRUE(find_event(before, "lmq.ready")) << contents(path);
  EXPECT_EQ(c.node()->output(), "") << "nothing on stderr with --log-file";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777 & ~0640u, 0u) << std::oct << (st.st_mode & 0777);

  // logrotate's create mode: rename, then SIGHUP.
  auto rotated = path + ".1";
  fs::rename(path, rotated);
  c.node()->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return fs::exists(path) && has_event(path, "log.reopened"); },
                         10s))
    << "rotated:\n" << contents(rotated) << "new:\n" << contents(path);
  EXPECT_TRUE(has_event(path, "log.reopened", {{"level", "info"}, {"file", path}}))
    << contents(path);
  auto console = c.console();
  auto r = console->request("admin.ping", json::object());
  EXPECT_EQ(code_of(r), 0) << r.dump();
  EXPECT_TRUE(eventually([&] { return has_event(path, "cmd", {{"type", "admin.ping"}}); }, 5s))
    << contents(path);
  EXPECT_EQ(c.stop_node(), 0);
  EXPECT_TRUE(has_event(path, "node.stopped", {{"clean", true}})) << contents(path);

  // The renamed file has what came before the signal, and nothing after.
  auto old_lines = json_lines(rotated);
  EXPECT_TRUE(find_event(old_lines, "node.started")) << contents(rotated);
  EXPECT_FALSE(find_event(old_lines, "log.reopened")) << contents(rotated);
  EXPECT_FALSE(find_event(old_lines, "cmd", {{"type", "admin.ping"}})) << contents(rotated);
  EXPECT_FALSE(has_event(path, "node.started")) << contents(path);
  EXPECT_EQ(c.node()->output(), "");
}

TEST(logging, sighup_without_a_log_file_keeps_the_node_running) {
  cluster c;
  c.start_node();
  c.node()->signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return c.node_log().find("log.reopened file=stderr")
                                        != std::string::npos; },
                         10s))
    << c.node_log();
  EXPECT_TRUE(c.node()->running());
  auto r = c.console()->request("admin.ping", json::object());
  EXPECT_EQ(code_of(r), 0) << r.dump();
  EXPECT_EQ(c.stop_node(), 0);
}

TEST(logging, a_log_file_that_cannot_be_opened_stops_the_node_with_one_line) {
  temp_dir dir;
  for (const auto& file : {dir.path() + "/no/such/dir/meetingd.log", dir.path()}) {
    auto [code, out] = run_meetingd({"--app-id=x", "--log-file=" + file});
    EXPECT_EQ(code, 2) << out;
    EXPECT_EQ(count_lines(out), 1) << out;
    EXPECT_EQ(out.rfind("meetingd: --log-file=" + file + ": ", 0), 0u) << out;
    EXPECT_TRUE(out.find("No such file or directory") != std::string::npos
                || out.find("Is a directory") != std::string::npos)
      << out;
  }
}
