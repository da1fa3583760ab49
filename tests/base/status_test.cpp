#include "base/status.h"

#include <gtest/gtest.h>

namespace mtpc {
namespace {

TEST(Status, ErrorCarriesMessageAndWrapsContext) {
  Status ok = Status::Ok();
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.message(), "");
  Status e = Status::Error("bad dtype").wrap("model.safetensors");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.message(), "model.safetensors: bad dtype");
}

TEST(Result, HoldsValueOrError) {
  Result<int> v = 3;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3);
  Result<int> e = Status::Error("nope");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "nope");
}

}  // namespace
}  // namespace mtpc
