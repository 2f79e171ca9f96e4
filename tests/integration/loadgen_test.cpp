// tools/loadgen against a real node: the benchmarks' driver must play its
// mix through the whole protocol and account for every command it sent.
// (Populate mode is exercised by bench/memory.sh only: a test of it hung
// once for 90 s in a sanitized CI run and could not be reproduced since;
// see the closing note of 2026-11-26.)
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace meetingd::testing;

namespace {

json run_loadgen(const cluster& c, const temp_dir& dir, std::vector<std::string> args) {
  auto out = dir.path() + "/result.json";
  std::vector<std::string> argv{MEETINGD_LOADGEN_BIN, "--broker=" + c.broker_uri(),
                                "--console=console-1", "--json=" + out};
  argv.insert(argv.end(), args.begin(), args.end());
  process lg{"loadgen", argv, {}, dir.path()};
  auto code = lg.wait(90s);
  EXPECT_EQ(code, 0) << lg.output();
  std::ifstream in{out};
  std::stringstream text;
  text << in.rdbuf();
  auto r = json::parse(text.str(), nullptr, false);
  EXPECT_TRUE(r.is_object()) << lg.output();
  return r;
}

} // namespace

TEST(loadgen, plays_the_command_mix_and_every_command_is_answered) {
  cluster c{node_options{{{"rate-limit", "0"}}, {}}};
  c.start_node();
  temp_dir dir;
  auto r = run_loadgen(c, dir, {"--devices=6", "--inflight=1", "--duration=3s", "--warmup=1s",
                                "--setup-timeout=60s"});
  ASSERT_TRUE(r.is_object());
  EXPECT_GT(r["total"]["count"].get<long>(), 20) << r.dump();
  EXPECT_GT(r["total"]["throughput"].get<double>(), 0);
  EXPECT_EQ(r["timeouts"], 0) << r["timeout_samples"].dump();
  for (auto& [what, n] : r["errors"].items())
    EXPECT_NE(what[0], '5') << what << ": " << n;
  for (auto name : {"login", "create", "join", "end"})
    EXPECT_TRUE(r["commands"].contains(name)) << name << " never sent: " << r["commands"].dump();
}
