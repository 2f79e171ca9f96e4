// The logger (config/log.*): the text format as it always was, the json
// format (one object per line, the same fields), and the log file with its
// reopen after a rename (logrotate). Output is read back from a log file in a
// temp directory.
#include "config/log.hpp"

#include "unit/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace meetingd;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in{path};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

/// Each test logs to <temp dir>/meetingd.log, and back to stderr after.
class log_file : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = test_support::make_temp_dir("meetingd-log-test");
    path_ = dir_ + "/meetingd.log";
  }
  void TearDown() override {
    log::configure("info");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void use(const std::string& format, const std::string& level = "trace") {
    std::string error;
    ASSERT_TRUE(log::configure(level, format, path_, &error)) << error;
  }
  std::vector<std::string> lines() const {
    return lines_of(path_);
  }
  /// The only line, parsed; fails the test unless there is exactly one
  /// and it is JSON.
  json only_object() const {
    auto all = lines();
    EXPECT_EQ(all.size(), 1u);
    if (all.size() != 1)
      return json::object();
    EXPECT_TRUE(json::accept(all[0])) << all[0];
    return json::parse(all[0], nullptr, false);
  }

  std::string dir_;
  std::string path_;
};

const std::regex text_time{R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)"};

} // namespace

// -- the text format -----------------------------------------------------------------

TEST(log_text, renders_fields_exactly_as_before) {
  EXPECT_EQ(log::render("meeting.join", {log::kv("meeting", "m-1"), log::kv("user", "alice"),
                                         log::kv("req", "r-17")}),
            "meeting.join meeting=m-1 user=alice req=r-17");
  EXPECT_EQ(log::render("x", {log::kv("why", "two words"), log::kv("q", R"(say "hi")"),
                              log::kv("eq", "a=b"), log::kv("empty", ""),
                              log::kv("nl", "a\nb"), log::kv("tab", "a\tb"),
                              log::kv("bs", R"(c:\x)")}),
            std::string{R"(x why="two words" q="say \"hi\"" eq="a=b" empty="" nl="a\nb" tab=")"}
              + "a\tb" + R"(" bs=c:\x)");
  EXPECT_EQ(log::render("n", {log::kv("i", 42), log::kv("neg", -3), log::kv("ok", true),
                              log::kv("no", false), log::kv("ms", 1.5)}),
            "n i=42 neg=-3 ok=true no=false ms=1.500000");
}

TEST_F(log_file, a_text_line_is_time_level_and_the_rendered_event) {
  use("text");
  MD_LOG_INFO("meeting.join", log::kv("meeting", "m-1"), log::kv("user", "alice bob"),
              log::kv("n", 3));
  MD_LOG_WARN("w", log::kv("k", "v"));
  auto all = lines();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(std::regex_match(all[0].substr(0, 24), text_time)) << all[0];
  EXPECT_EQ(all[0].substr(24), R"( info meeting.join meeting=m-1 user="alice bob" n=3)");
  EXPECT_EQ(all[1].substr(24), " warning w k=v");
}

TEST(log_configure, the_one_argument_form_still_checks_the_level) {
  EXPECT_TRUE(log::configure("warn"));
  EXPECT_FALSE(log::configure("loud"));
  EXPECT_TRUE(log::configure("info"));
  EXPECT_EQ(log::file(), "");
}

// -- the json format -------------------------------------------------------------------

TEST_F(log_file, a_json_line_is_one_object_with_the_same_fields) {
  use("json");
  MD_LOG_INFO("meeting.join", log::kv("meeting", "m-1"), log::kv("user", "alice"),
              log::kv("req", "r-17"));
  auto line = lines().at(0);
  auto o = only_object();
  EXPECT_TRUE(std::regex_match(o.value("time", ""), text_time)) << line;
  o.erase("time");
  EXPECT_EQ(o, json({{"level", "info"}, {"event", "meeting.join"}, {"meeting", "m-1"},
                     {"user", "alice"}, {"req", "r-17"}}));
  // In that order, as the text line has them.
  EXPECT_EQ(line.substr(line.find(R"("level")")),
            R"("level":"info","event":"meeting.join","meeting":"m-1","user":"alice","req":"r-17"})");
  EXPECT_EQ(line.rfind(R"({"time":")", 0), 0u) << line;
}

TEST_F(log_file, json_levels_are_lower_case_and_filtered) {
  use("json", "trace");
  MD_LOG_AT(spdlog::level::trace, "a", log::kv("k", 1));
  MD_LOG_DEBUG("b", log::kv("k", 1));
  MD_LOG_INFO("c", log::kv("k", 1));
  MD_LOG_WARN("d", log::kv("k", 1));
  MD_LOG_ERROR("e", log::kv("k", 1));
  std::vector<std::string> levels;
  for (auto& line : lines())
    levels.push_back(json::parse(line).at("level").get<std::string>());
  EXPECT_EQ(levels, (std::vector<std::string>{"trace", "debug", "info", "warn", "error"}));

  use("json", "warn");
  MD_LOG_INFO("hidden", log::kv("k", 1));
  EXPECT_EQ(lines().size(), 5u);
}

TEST_F(log_file, json_strings_are_escaped) {
  use("json");
  const std::string nasty = std::string{"q\" b\\ n\n r\r t\t nul"} + '\0' + " bel\x07 esc\x1b del\x7f";
  MD_LOG_INFO("esc", log::kv("v", nasty), log::kv("k\"ey", "x"));
  auto all = lines();
  ASSERT_EQ(all.size(), 1u) << "a newline in a value must not split the line";
  auto o = only_object();
  EXPECT_EQ(o.value("v", ""), nasty);
  EXPECT_EQ(o.value("k\"ey", ""), "x");
  EXPECT_NE(all[0].find(R"(nul\u0000 bel\u0007 esc\u001b del\u007f)"), std::string::npos)
    << all[0];
  EXPECT_NE(all[0].find(R"(q\" b\\ n\n r\r t\t)"), std::string::npos) << all[0];
}

TEST_F(log_file, json_keeps_utf8_and_replaces_bytes_that_are_not) {
  use("json");
  const std::string good = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xBC\x9A\xE8\xAE\xAE";
  MD_LOG_INFO("utf8", log::kv("good", good), log::kv("lone", "a\xFF" "b"),
              log::kv("cut", "a\xE2\x82"), log::kv("overlong", "\xC0\xAF"),
              log::kv("surrogate", "\xED\xA0\x80"), log::kv("too_big", "\xF4\x90\x80\x80"),
              log::kv("stray_tail", "\x80x"));
  auto o = only_object(); // nlohmann::json refuses invalid UTF-8
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(o.value("good", ""), good);
  EXPECT_EQ(o.value("lone", ""), "a" + fffd + "b");
  EXPECT_EQ(o.value("cut", ""), "a" + fffd + fffd);
  EXPECT_EQ(o.value("overlong", ""), fffd + fffd);
  EXPECT_EQ(o.value("surrogate", ""), fffd + fffd + fffd);
  EXPECT_EQ(o.value("too_big", ""), fffd + fffd + fffd + fffd);
  EXPECT_EQ(o.value("stray_tail", ""), fffd + "x");
  MD_LOG_INFO("bad \xFF event", log::kv("bad\xFFkey", 1));
  auto second = lines().at(1);
  ASSERT_TRUE(json::accept(second)) << second;
  EXPECT_EQ(json::parse(second).value("event", ""), "bad " + fffd + " event");
}

TEST_F(log_file, json_numbers_and_booleans_are_literals) {
  use("json");
  MD_LOG_INFO("lit", log::kv("i", 42), log::kv("neg", std::int64_t{-7}),
              log::kv("big", std::uint64_t{18446744073709551615u}), log::kv("ms", 1.25),
              log::kv("yes", true), log::kv("no", false), log::kv("digits", "42"),
              log::kv("inf", std::numeric_limits<double>::infinity()));
  auto o = only_object();
  EXPECT_TRUE(o["i"].is_number_integer());
  EXPECT_EQ(o["i"], 42);
  EXPECT_EQ(o["neg"], -7);
  EXPECT_EQ(o["big"], 18446744073709551615u);
  EXPECT_TRUE(o["ms"].is_number_float());
  EXPECT_DOUBLE_EQ(o["ms"].get<double>(), 1.25);
  EXPECT_EQ(o["yes"], true);
  EXPECT_EQ(o["no"], false);
  EXPECT_EQ(o["digits"], "42") << "a string of digits stays a string";
  EXPECT_EQ(o["inf"], "inf") << "no JSON number for infinity";
}

TEST_F(log_file, json_fields_named_like_the_fixed_keys_are_prefixed) {
  use("json");
  MD_LOG_INFO("clash", log::kv("time", "t"), log::kv("level", "l"), log::kv("event", "e"));
  auto line = lines().at(0);
  auto o = only_object();
  EXPECT_EQ(o.value("event", ""), "clash");
  EXPECT_EQ(o.value("level", ""), "info");
  EXPECT_EQ(o.value("field_time", ""), "t");
  EXPECT_EQ(o.value("field_level", ""), "l");
  EXPECT_EQ(o.value("field_event", ""), "e");
  for (auto key : {R"("time":)", R"("level":)", R"("event":)"}) {
    auto at = line.find(key);
    EXPECT_EQ(line.find(key, at + 1), std::string::npos) << key << " twice: " << line;
  }
}

// -- the log file ----------------------------------------------------------------------

TEST_F(log_file, configure_creates_the_file_0640_and_appends) {
  { std::ofstream{path_} << "before\n"; }
  use("text");
  MD_LOG_INFO("after", log::kv("k", "v"));
  auto all = lines();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "before");
  EXPECT_EQ(log::file(), path_);

  auto created = dir_ + "/new.log";
  std::string error;
  ASSERT_TRUE(log::configure("info", "json", created, &error)) << error;
  struct stat st {};
  ASSERT_EQ(::stat(created.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777 & ~0640u, 0u) << std::oct << (st.st_mode & 0777);
}

TEST_F(log_file, a_file_that_cannot_be_opened_is_an_error_naming_the_option_and_the_reason) {
  use("text");
  std::string error;
  EXPECT_FALSE(log::configure("info", "json", dir_ + "/no/such/dir/x.log", &error));
  EXPECT_NE(error.find("--log-file=" + dir_ + "/no/such/dir/x.log"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_FALSE(log::configure("info", "json", dir_, &error)) << "a directory";
  EXPECT_NE(error.find("Is a directory"), std::string::npos) << error;
  EXPECT_FALSE(log::configure("info", "xml", "", &error));
  EXPECT_EQ(error, "--log-format=xml: expected text or json");
  EXPECT_FALSE(log::configure("loud", "text", "", &error));
  EXPECT_NE(error.find("--log-level=loud"), std::string::npos) << error;
  // The logger stays as it was.
  MD_LOG_INFO("still.here", log::kv("k", "v"));
  ASSERT_EQ(lines().size(), 1u);
  EXPECT_NE(lines()[0].find(" info still.here k=v"), std::string::npos);
}

TEST_F(log_file, reopen_after_a_rename_writes_to_a_new_file) {
  use("json");
  MD_LOG_INFO("one", log::kv("k", 1));
  auto rotated = path_ + ".1";
  fs::rename(path_, rotated);
  MD_LOG_INFO("two", log::kv("k", 2)); // still the open file, now named .1
  EXPECT_FALSE(fs::exists(path_));
  ASSERT_TRUE(log::reopen());
  MD_LOG_INFO("three", log::kv("k", 3));
  auto events = [](const std::string& path) {
    std::vector<std::string> out;
    for (auto& line : lines_of(path))
      out.push_back(json::parse(line).at("event").get<std::string>());
    return out;
  };
  EXPECT_EQ(events(rotated), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(events(path_), (std::vector<std::string>{"three"}));
}

TEST_F(log_file, a_failed_reopen_keeps_the_old_file_and_says_why) {
  auto sub = dir_ + "/sub";
  fs::create_directory(sub);
  path_ = sub + "/meetingd.log";
  use("text");
  MD_LOG_INFO("one", log::kv("k", 1));
  fs::rename(sub, dir_ + "/gone"); // PATH's directory is no more
  EXPECT_FALSE(log::reopen());
  MD_LOG_INFO("two", log::kv("k", 2));
  auto all = lines_of(dir_ + "/gone/meetingd.log");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_NE(all[1].find(" warning log.reopen_failed file=" + path_
                        + " error=\"No such file or directory\""),
            std::string::npos)
    << all[1];
  EXPECT_NE(all[2].find(" two k=2"), std::string::npos) << all[2];
}

TEST(log_reopen, without_a_file_does_nothing) {
  ASSERT_TRUE(log::configure("info"));
  EXPECT_TRUE(log::reopen());
}

TEST_F(log_file, no_line_is_lost_or_torn_while_threads_log_across_reopens) {
  use("json", "info");
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      ++started;
      for (int i = 0; i < per_thread; ++i)
        MD_LOG_INFO("load", log::kv("thread", t), log::kv("i", i),
                    log::kv("pad", std::string(static_cast<std::size_t>(i % 300), 'x')));
      ++finished;
    });
  while (started < threads)
    std::this_thread::yield();
  int rotations = 0;
  for (; finished < threads; ++rotations) {
    fs::rename(path_, path_ + "." + std::to_string(rotations));
    EXPECT_TRUE(log::reopen());
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  for (auto& w : writers)
    w.join();
  std::vector<int> next(threads, 0);
  int total = 0;
  int files_with_lines = 0;
  auto check = [&](const std::string& path) {
    auto all = lines_of(path);
    files_with_lines += all.empty() ? 0 : 1;
    for (auto& line : all) {
      ASSERT_TRUE(json::accept(line)) << path << ": " << line;
      auto o = json::parse(line);
      int t = o.at("thread");
      EXPECT_EQ(o.at("i"), next[static_cast<std::size_t>(t)]) << "thread " << t << " in order";
      next[static_cast<std::size_t>(t)] = o.at("i").get<int>() + 1;
      ++total;
    }
  };
  for (int r = 0; r < rotations; ++r)
    check(path_ + "." + std::to_string(r));
  check(path_);
  EXPECT_EQ(total, threads * per_thread);
  EXPECT_GE(files_with_lines, 2) << "the reopens came while the threads logged";
}
