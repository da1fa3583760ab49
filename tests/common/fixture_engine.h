// Engines over fixture checkpoints (fixture_model.h) and the requests and
// single decodes that tests of several files and binaries make of them.
// For test binaries that link the engine (mtpc_inference).
#pragma once

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/fixture_model.h"
#include "common/test_util.h"
#include "inference/engine.h"

namespace mtpc::testing {

// MTPC_TEST_DEVICE (cpu | cuda, default cpu) and MTPC_TEST_DTYPE (fp32 |
// bf16, default fp32) move the engines of the equivalence tests onto another
// device: scripts/gpu-check runs them on CUDA that way.
inline EngineOptions test_engine_options() {
  EngineOptions o;
  if (const char* d = std::getenv("MTPC_TEST_DEVICE")) o.device = d;
  if (const char* t = std::getenv("MTPC_TEST_DTYPE")) o.dtype = t;
  return o;
}

// Writes the fixture checkpoint `o` into `dir` and loads it. Either step
// failing throws, which GoogleTest reports as the test's failure.
inline std::shared_ptr<Engine> load_fixture_engine(const TempDir& dir, const FixtureModel& o,
                                                   const EngineOptions& options = test_engine_options()) {
  Status written = write_fixture_model(dir.path(), o);
  if (!written.ok()) throw std::runtime_error(written.message());
  auto e = Engine::load(dir.path(), options);
  if (!e.ok()) throw std::runtime_error("cannot load the test model: " + e.status().message());
  return *e;
}

// A request that decodes `max_new_tokens` tokens unless a stop rule of the
// request says otherwise: EOS does not end it (fixture models emit EOS at
// random).
inline GenerationRequest fixed_length_request(std::vector<int32_t> prompt, int max_new_tokens,
                                              DecodeMode mode = DecodeMode::kGreedy) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_new_tokens = max_new_tokens;
  r.stop_at_eos = false;
  r.mode = mode;
  return r;
}

// `r` decoded alone on a fresh session. A failure fails the test and gives
// an empty result.
inline GenerationResult generate_alone(Engine& e, const GenerationRequest& r) {
  auto s = e.new_session();
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return GenerationResult{};
  auto out = e.generate(*s, r);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? *out : GenerationResult{};
}

}  // namespace mtpc::testing
