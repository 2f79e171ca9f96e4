// The metrics registry (config/metrics.hpp): the text format Prometheus
// reads (checked line by line here; the integration test runs promtool on a
// real node's scrape), histogram buckets that include their bound, label
// escaping, numbers, counts that add up under threads, and the process_*
// metrics from /proc.
#include "config/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

using namespace meetingd::metrics;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(metrics, a_counter_family_renders_help_type_and_one_line_per_label_set) {
  registry reg;
  auto& commands = reg.add<counter>("x_commands_total", "Commands.", {"command", "code"});
  commands.with({"meeting.create", "0"}).add();
  commands.with({"meeting.create", "0"}).add(2);
  commands.with({"meeting.end", "403"}).add();
  auto text = reg.render();
  EXPECT_TRUE(has_line(text, "# HELP x_commands_total Commands.")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE x_commands_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(x_commands_total{command="meeting.create",code="0"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_commands_total{command="meeting.end",code="403"} 1)")) << text;
}

TEST(metrics, a_family_without_labels_renders_a_bare_name) {
  registry reg;
  reg.add<gauge>("x_ready", "Ready.").only().set(1);
  EXPECT_TRUE(has_line(reg.render(), "x_ready 1"));
}

TEST(metrics, histogram_buckets_are_cumulative_and_include_their_bound) {
  registry reg;
  auto& h = reg.add<histogram>("x_seconds", "Time.", {"command"}, {0.1, 1}).with({"a"});
  h.observe(0.1); // on the bound: counted in le="0.1"
  h.observe(0.5);
  h.observe(7);
  auto text = reg.render();
  EXPECT_TRUE(has_line(text, "# TYPE x_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, R"(x_seconds_bucket{command="a",le="0.1"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_seconds_bucket{command="a",le="1"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_seconds_bucket{command="a",le="+Inf"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_seconds_sum{command="a"} 7.6)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_seconds_count{command="a"} 3)")) << text;
}

TEST(metrics, label_values_and_help_are_escaped) {
  registry reg;
  reg.add<counter>("x_total", "Line one\nback\\slash.", {"v"}).with({"a\"b\\c\nd"}).add();
  auto text = reg.render();
  EXPECT_TRUE(has_line(text, R"(# HELP x_total Line one\nback\\slash.)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_total{v="a\"b\\c\nd"} 1)")) << text;
}

TEST(metrics, numbers_are_written_as_the_text_format_reads_them) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(metrics, counts_from_many_threads_add_up) {
  registry reg;
  auto& family = reg.add<counter>("x_total", "T.", {"t"});
  auto& h = reg.add<histogram>("x_seconds", "S.", {}, {0.5}).only();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        family.with({"same"}).add();
        h.observe(0.25);
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(family.with({"same"}).value(), 40000u);
  auto r = h.read();
  EXPECT_EQ(r.cumulative.back(), 40000u);
  EXPECT_DOUBLE_EQ(r.sum, 10000.0);
}

TEST(metrics, refreshers_run_before_every_rendering) {
  registry reg;
  auto& g = reg.add<gauge>("x_shards", "S.").only();
  int scrapes = 0;
  reg.on_scrape([&] { g.set(++scrapes); });
  EXPECT_TRUE(has_line(reg.render(), "x_shards 1"));
  EXPECT_TRUE(has_line(reg.render(), "x_shards 2"));
}

TEST(metrics, process_metrics_come_from_proc) {
  std::string text;
  render_process_metrics(text);
  for (auto name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_virtual_memory_bytes", "process_start_time_seconds",
                    "process_open_fds", "process_max_fds"})
    EXPECT_NE(text.find(std::string{"\n"} + name + " "), std::string::npos) << name << "\n"
                                                                             << text;
  EXPECT_TRUE(has_line(text, "# TYPE process_cpu_seconds_total counter")) << text;
  // This test process started a moment ago.
  auto at = text.find("\nprocess_start_time_seconds ");
  ASSERT_NE(at, std::string::npos);
  auto started = std::stod(text.substr(at + 28));
  auto now = static_cast<double>(std::time(nullptr));
  EXPECT_LT(std::abs(now - started), 120.0) << text;
}

TEST(metrics, the_node_metrics_name_every_family_once) {
  auto text = node().reg.render();
  std::set<std::string> names;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_TRUE(names.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
    }
  }
  EXPECT_GE(names.size(), 25u);
  for (auto& name : names)
    EXPECT_EQ(name.rfind("meetingd_", 0), 0u) << name;
}

} // namespace
