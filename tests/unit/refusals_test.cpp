// The refusal catalogue (actors/core/refusals.*): every refusal has a code in
// its class and a reason of its own, and docs/protocol.md lists every reason,
// so a device developer can look up whatever the node answers.
#include "actors/core/refusals.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

using namespace meetingd;

namespace {

TEST(refusals, every_refusal_has_an_error_code_and_a_reason_of_its_own) {
  std::size_t n = 0;
  auto all = all_refusals(n);
  ASSERT_GT(n, 30u);
  std::set<std::string> reasons;
  for (std::size_t i = 0; i < n; ++i) {
    auto& e = entry_of(all[i]);
    EXPECT_GE(e.code, 400) << e.reason;
    EXPECT_LT(e.code, 600) << e.reason;
    EXPECT_TRUE(reasons.insert(e.reason).second) << "two refusals say " << e.reason;
    EXPECT_GT(std::string{e.message}.size(), 10u) << e.reason << " says nothing useful";
  }
}

TEST(refusals, replies_carry_the_catalogue_code_and_reason) {
  auto r = refuse(refusal::not_host);
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.reason, "not_host");
  EXPECT_EQ(r.message, entry_of(refusal::not_host).message);
  auto case_message = refuse(refusal::meeting_full, "the meeting has 16 participants");
  EXPECT_EQ(case_message.code, 409);
  EXPECT_EQ(case_message.message, "the meeting has 16 participants");
  auto about = refuse_about(refusal::rtc_error, "Forbidden.RAM", "no");
  EXPECT_EQ(about.code, 502);
  EXPECT_EQ(about.reason, "rtc_error:Forbidden.RAM");
  auto later = refuse_retry_after(refusal::limit_creates, "later", 1500);
  EXPECT_EQ(later.code, 429);
  EXPECT_EQ(later.reason, "limit:creates");
  EXPECT_EQ(later.retry_after_ms, std::optional<std::int64_t>{1500});
}

TEST(refusals, docs_protocol_md_lists_every_reason) {
  std::ifstream in{std::string{MEETINGD_SOURCE_DIR} + "/docs/protocol.md"};
  ASSERT_TRUE(in) << "docs/protocol.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  auto doc = text.str();
  std::size_t n = 0;
  auto all = all_refusals(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string reason = entry_of(all[i]).reason;
    EXPECT_NE(doc.find("`" + reason), std::string::npos)
      << "docs/protocol.md does not list the reason " << reason;
  }
}

} // namespace
