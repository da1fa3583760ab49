// The one writer of fixture checkpoints for every test binary: a small model
// with random (or briefly trained, or hand-set) weights, saved as config.json
// + model.safetensors through model/'s own writer, as training would.
//
// Each test names what it needs in a FixtureModel; the defaults are the
// inference tests' model. The same options always give the same weights.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "model/network/config.h"

namespace mtpc::testing {

struct FixtureModel {
  // kSmall: dim 64, 4 query / 2 KV heads, hidden 128, 2 layers (drafts worth
  // training). kMicro: dim 32, 2 query / 1 KV head, hidden 64, 1 layer (the
  // cheapest model that runs; protocol and stop-rule tests). Everything else
  // comes from the "tiny" preset.
  enum class Size { kSmall, kMicro };
  Size size = Size::kSmall;
  int n_future = 4;
  HeadKind head_kind = HeadKind::kTransformer;
  // Context length in tokens; 0 keeps the tiny preset's (256).
  int max_seq_len = 128;
  // torch::manual_seed before the weights are drawn. Unset: the weights come
  // from wherever torch's global generator stands (for weights that do not
  // matter, or are all overwritten).
  std::optional<unsigned> seed = 17;
  // Adam steps on a repetitive Python-like text, so drafts are often right.
  int train_steps = 0;

  enum class Weights {
    kRandom,      // as drawn (and trained)
    kAlwaysByte,  // every head predicts `byte` whatever the context
    kNanLogit,    // one unembedding weight is NaN: token 7's logit is NaN
  };
  Weights weights = Weights::kRandom;
  char byte = 'x';  // for kAlwaysByte
  // The fill-in-the-middle layout its config names (and so the byte
  // tokenizer's template): psm, as checkpoints without the field, unless a
  // test asks for spm.
  FimLayout fim = FimLayout::kPsm;
};

// The configuration `options` describes.
ModelConfig fixture_config(const FixtureModel& options);

// Writes the checkpoint into `dir` (created if missing). The error names
// what failed.
Status write_fixture_model(const std::string& dir, const FixtureModel& options = {});

}  // namespace mtpc::testing
