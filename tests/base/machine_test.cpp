#include "base/machine.h"

#include <gtest/gtest.h>

namespace mtpc {
namespace {

TEST(Machine, DescriptionHasEveryFieldAndResolvesAllCores) {
  auto all = machine_description("cpu", 0);
  for (const char* field : {"cpu", "cores", "threads", "device", "kernel"}) EXPECT_TRUE(all.contains(field)) << field;
  EXPECT_GE(all["cores"].get<int>(), 1);
  EXPECT_EQ(all["threads"], all["cores"]);  // 0 means every core
  EXPECT_EQ(all["device"], "cpu");
  EXPECT_EQ(machine_description("cuda", 3)["threads"], 3);
  EXPECT_FALSE(cpu_description().empty());
}

}  // namespace
}  // namespace mtpc
