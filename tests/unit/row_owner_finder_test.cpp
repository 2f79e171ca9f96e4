// persistence/row_owner_finder.hpp: recovery puts each participant and
// invitation row into its own meeting, whatever order the rows come in.
#include "persistence/row_owner_finder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace meetingd;

namespace {

struct owner {
  std::string id;
};

std::vector<owner> owners_named(std::vector<std::string> ids) {
  std::vector<owner> result;
  for (auto& id : ids)
    result.push_back({id});
  return result;
}

row_owner_finder<owner> finder_of(std::vector<owner>& owners) {
  return {owners, [](const owner& o) { return std::string_view{o.id}; }};
}

} // namespace

TEST(row_owner_finder, rows_in_the_owners_order_skip_owners_without_rows) {
  auto owners = owners_named({"m-1", "m-2", "m-3", "m-4", "m-5"});
  auto finder = finder_of(owners);
  for (auto id : {"m-1", "m-1", "m-3", "m-5", "m-5"}) {
    auto* o = finder.find(id);
    ASSERT_NE(o, nullptr) << id;
    EXPECT_EQ(o->id, id);
  }
  EXPECT_TRUE(finder.in_order());
}

TEST(row_owner_finder, a_row_out_of_order_still_finds_its_owner) {
  auto owners = owners_named({"m-1", "m-2", "m-3", "m-4"});
  auto finder = finder_of(owners);
  EXPECT_EQ(finder.find("m-3")->id, "m-3");
  EXPECT_EQ(finder.find("m-1")->id, "m-1") << "behind the cursor";
  EXPECT_FALSE(finder.in_order());
  EXPECT_EQ(finder.find("m-4")->id, "m-4");
  EXPECT_EQ(finder.find("m-2")->id, "m-2");
  EXPECT_EQ(finder.find("m-9"), nullptr);
}

TEST(row_owner_finder, each_pass_starts_again_from_the_first_owner) {
  auto owners = owners_named({"m-1", "m-2", "m-3"});
  auto finder = finder_of(owners);
  EXPECT_EQ(finder.find("m-3")->id, "m-3");
  finder.restart();
  EXPECT_EQ(finder.find("m-1")->id, "m-1");
  EXPECT_TRUE(finder.in_order());
}

TEST(row_owner_finder, an_unknown_owner_is_nullptr) {
  auto owners = owners_named({"m-1", "m-2"});
  auto finder = finder_of(owners);
  EXPECT_EQ(finder.find("m-0"), nullptr);
  EXPECT_EQ(finder.find("m-2")->id, "m-2");
  std::vector<owner> none;
  auto empty = finder_of(none);
  EXPECT_EQ(empty.find("m-1"), nullptr);
}
