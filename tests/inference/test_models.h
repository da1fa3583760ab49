// Inference-test engines over fixture models (common/fixture_model.h), some
// briefly trained on a repetitive text so that drafts are often right.
#pragma once

#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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

// MTPC_TEST_DEVICE (cpu | cuda, default cpu) and MTPC_TEST_DTYPE (fp32 |
// bf16, default fp32) move the engines of the equivalence tests onto another
// device: scripts/gpu-check runs them on CUDA that way.
inline EngineOptions test_engine_options() {
  EngineOptions o;
  if (const char* d = std::getenv("MTPC_TEST_DEVICE")) o.device = d;
  if (const char* t = std::getenv("MTPC_TEST_DTYPE")) o.dtype = t;
  return o;
}

inline std::shared_ptr<Engine> make_engine(const TempDir& dir, HeadKind kind, int train_steps = 0,
                                           int n_future = 4) {
  FixtureModel o;
  o.head_kind = kind;
  o.n_future = n_future;
  o.train_steps = train_steps;
  Status written = write_fixture_model(dir.path(), o);
  if (!written.ok()) throw std::runtime_error(written.message());
  auto e = Engine::load(dir.path(), test_engine_options());
  // GoogleTest reports the exception as the test's failure.
  if (!e.ok()) throw std::runtime_error("cannot load the test model: " + e.status().message());
  return *e;
}

inline std::vector<int32_t> random_prompt(std::mt19937& rng, int max_len = 40) {
  std::vector<int32_t> p(1 + rng() % max_len);
  for (auto& t : p) t = static_cast<int32_t>(32 + rng() % 90);
  return p;
}

}  // namespace mtpc::testing
