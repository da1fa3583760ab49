// Inference-test engines over fixture models (common/fixture_model.h), some
// briefly trained on a repetitive text so that drafts are often right.
// Loading any fixture engine, fixed-length requests and single decodes:
// common/fixture_engine.h.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fixture_engine.h"
#include "common/fixture_model.h"
#include "common/test_util.h"
#include "inference/engine.h"
#include "model/network/config.h"

namespace mtpc::testing {

// The inference tests' model: the fixture's small size, 128 tokens of context.
inline ModelConfig small_config(HeadKind kind, int n_future = 4) {
  FixtureModel o;
  o.head_kind = kind;
  o.n_future = n_future;
  return fixture_config(o);
}

inline std::shared_ptr<Engine> make_engine(const TempDir& dir, HeadKind kind, int train_steps = 0,
                                           int n_future = 4) {
  FixtureModel o;
  o.head_kind = kind;
  o.n_future = n_future;
  o.train_steps = train_steps;
  return load_fixture_engine(dir, o);
}

inline std::vector<int32_t> random_prompt(std::mt19937& rng, int max_len = 40) {
  std::vector<int32_t> p(1 + rng() % max_len);
  for (auto& t : p) t = static_cast<int32_t>(32 + rng() % 90);
  return p;
}

}  // namespace mtpc::testing
