#include "lsp/server_fixture.h"

#include <gtest/gtest.h>

#include <memory>

#include "common/fixture_model.h"
#include "common/test_util.h"

namespace mtpc::lsp_testing {

namespace {

// The protocol tests' model: the fixture's micro size, 3 heads, 256 tokens of
// context, written once into a directory that lives until the test binary
// exits.
std::string write_model_once(std::unique_ptr<mtpc::testing::TempDir>& dir, mtpc::testing::FixtureModel o) {
  dir = std::make_unique<mtpc::testing::TempDir>();
  std::string path = *dir / "model";
  o.size = mtpc::testing::FixtureModel::Size::kMicro;
  o.n_future = 3;
  o.max_seq_len = 256;
  Status s = mtpc::testing::write_fixture_model(path, o);
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

}  // namespace

const std::string& random_model_dir() {
  static std::unique_ptr<mtpc::testing::TempDir> dir;
  static std::string path;
  if (!dir) {
    mtpc::testing::FixtureModel o;
    o.seed = 11;
    path = write_model_once(dir, o);
  }
  return path;
}

const std::string& repeating_model_dir(char byte) {
  static std::unique_ptr<mtpc::testing::TempDir> dir;
  static std::string path;
  if (!dir) {
    mtpc::testing::FixtureModel o;
    o.seed.reset();  // every weight is set by hand
    o.weights = mtpc::testing::FixtureModel::Weights::kAlwaysByte;
    o.byte = byte;
    path = write_model_once(dir, o);
  }
  return path;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace mtpc::lsp_testing
