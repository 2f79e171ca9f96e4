// call-demo, the README's "watch a call" tool, run as a process against a
// real broker, emulator and node: it must play the whole call and say PASS,
// fail with exit 1 and a reason when the node does not answer, and exit 2
// for bad options and an unreachable broker or emulator.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <cctype>

using namespace meetingd::testing;

namespace {

struct run_result {
  std::optional<int> code;
  std::string output;
};

run_result run_demo(cluster& c, const std::string& name, std::vector<std::string> extra,
                    std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv{MEETINGD_CALL_DEMO_BIN, "--broker=" + c.broker_uri(),
                                "--rtc-endpoint=" + c.rtc_endpoint(), "--pace=0",
                                "--color=never"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  process p{name, argv, {}, c.dir().path()};
  auto code = p.wait(timeout);
  return {code, p.output()};
}

bool has(const std::string& out, const std::string& what) {
  return out.find(what) != std::string::npos;
}

/// For EXPECT_TRUE: call-demo exited with `code`, printing all of `present`
/// and none of `absent`; the failure names what is off and shows the output.
::testing::AssertionResult finished(const run_result& r, int code,
                                    const std::vector<std::string>& present,
                                    const std::vector<std::string>& absent = {}) {
  std::string wrong;
  if (!r.code)
    wrong += "\n  it did not finish";
  else if (*r.code != code)
    wrong += "\n  exit code " + std::to_string(*r.code) + ", not " + std::to_string(code);
  for (auto& what : present)
    if (!has(r.output, what))
      wrong += "\n  no \"" + what + "\"";
  for (auto& what : absent)
    if (has(r.output, what))
      wrong += "\n  \"" + what + "\", which should not be there";
  if (wrong.empty())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "call-demo:" << wrong << "\noutput:\n" << r.output;
}

} // namespace

TEST(call_demo, plays_the_whole_call_and_passes) {
  cluster c;
  c.start_node();
  auto r = run_demo(c, "call-demo", {});
  ASSERT_TRUE(r.code) << "call-demo did not finish:\n" << r.output;
  EXPECT_EQ(*r.code, 0) << r.output;
  auto& out = r.output;
  // Every step's heading.
  for (int step = 1; step <= 9; ++step)
    EXPECT_TRUE(has(out, "── " + std::to_string(step) + ". ")) << "step " << step << "\n" << out;
  // The messages of the story, as they flowed.
  for (auto what : {"\"type\":\"admin.user.add\"", "\"type\":\"auth.login\"",
                    "{\"online\":true}", "\"type\":\"meeting.create\"",
                    "\"type\":\"event.invite\"", "\"type\":\"call.ringing\"",
                    "\"type\":\"event.ringing\"", "\"type\":\"call.accept\"",
                    "\"type\":\"event.accepted\"", "\"type\":\"event.joined\"",
                    "\"type\":\"event.answered_elsewhere\"", "\"type\":\"meeting.leave\"",
                    "\"type\":\"event.left\"", "\"type\":\"meeting.join\"",
                    "\"type\":\"moderate.mute\"", "\"type\":\"meeting.end\"",
                    "\"type\":\"event.ended\"", "POST /_emulator/join",
                    "GET /_emulator/channels", "MeetingCtrl/up/GID_MEETING_DOWN@@@alice-phone",
                    "MeetingCtrl/p2p/GID_MEETING_DOWN@@@bob-laptop"})
    EXPECT_TRUE(has(out, what)) << what << "\n" << out;
  EXPECT_TRUE(has(out, "invitations: bob: ringing")) << out;
  EXPECT_TRUE(has(out, "alice (alice-phone) token verified by RTC")) << out;
  EXPECT_TRUE(has(out, "bob (bob-laptop) token verified by RTC")) << out;
  EXPECT_TRUE(has(out, "bob's session: ")) << out;
  EXPECT_TRUE(has(out, "the emulator's channel list is empty")) << out;
  EXPECT_TRUE(has(out, "PASS")) << out;
  EXPECT_FALSE(has(out, "FAIL")) << out;
  // Tokens are shortened in the display: no 64-hex-digit string is printed.
  EXPECT_TRUE(has(out, "…")) << out;
  for (std::size_t i = 0, run = 0; i < out.size(); ++i) {
    run = std::isxdigit(static_cast<unsigned char>(out[i])) ? run + 1 : 0;
    ASSERT_LT(run, 64u) << "a full token was printed near: " << out.substr(i - 63, 80);
  }

  // Quiet: only the summary; and a second run passes too (users exist,
  // bob is free again, the node's state was left clean).
  auto q = run_demo(c, "call-demo-quiet", {"--quiet"});
  EXPECT_TRUE(finished(q, 0, {"PASS"}, {"── 1.", "event.invite"}));
}

TEST(call_demo, fails_with_a_reason_when_the_node_does_not_answer) {
  cluster c; // broker and emulator, no node
  auto r = run_demo(c, "call-demo", {"--timeout=500ms"});
  EXPECT_TRUE(finished(r, 1, {"FAIL", "no reply to admin.user.add", "is meetingd running"}));
}

TEST(call_demo, exit_2_for_bad_options_and_unreachable_services) {
  cluster c;
  EXPECT_TRUE(finished(run_demo(c, "call-demo-bad-pace", {"--pace=soon"}), 2, {"--pace"}));
  EXPECT_TRUE(
    finished(run_demo(c, "call-demo-bad-color", {"--color=sometimes"}), 2, {"--color"}));
  EXPECT_TRUE(finished(run_demo(c, "call-demo-unknown", {"--frobnicate"}), 2, {}));

  // Nobody listens on this port: the broker is unreachable.
  auto port = free_port();
  auto nobroker = run_demo(c, "call-demo-no-broker",
                           {"--broker=tcp://127.0.0.1:" + std::to_string(port), "--timeout=1s"});
  EXPECT_TRUE(finished(nobroker, 2, {"cannot reach the broker"}));

  auto noemu = run_demo(c, "call-demo-no-emulator",
                        {"--rtc-endpoint=http://127.0.0.1:" + std::to_string(port),
                         "--timeout=1s"});
  EXPECT_TRUE(finished(noemu, 2, {"cannot reach the RTC emulator"}));
}
