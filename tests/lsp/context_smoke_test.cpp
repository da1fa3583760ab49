#include <gtest/gtest.h>
#include "lsp/context.h"
using namespace mtpc::lsp;
TEST(ContextSmoke, ParsesPython) {
  Document d(Language::kPython, "def f(x):\n    return x\n");
  EXPECT_TRUE(d.has_tree());
}
