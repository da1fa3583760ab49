// Engine and session internals (LibTorch). Included by inference/ sources and
// tests only.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "inference/drafter.h"
#include "inference/engine.h"
#include "inference/stop_rules.h"
#include "model/network/head_stack.h"
#include "model/network/network.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

struct Session::State {
  KvCache cache;
  torch::Tensor hidden;          // [1, capacity, dim]: trunk output per position
  std::vector<int32_t> tokens;   // tokens whose trunk rows (and hidden) are valid
  std::atomic<bool> busy{false};

  // Rolls back to the first `length` tokens: lengths only, no copies.
  void truncate(int64_t length) {
    if (static_cast<int64_t>(tokens.size()) > length) tokens.resize(length);
    cache.truncate(length);
  }
};

// For tests and the engine: the state behind a Session handle.
struct SessionAccess {
  static Session::State& state(Session& s) { return *s.state_; }
};

struct Engine::Impl {
  MtpModel model{nullptr};
  std::shared_ptr<const Tokenizer> tokenizer;
  EngineOptions options;
  torch::Device device{torch::kCPU};
  torch::Dtype dtype = torch::kFloat32;
  // MLP heads side by side, for drafting at one row in one call; absent for
  // transformer heads (they run on every row to keep their caches).
  std::optional<MlpHeadStack> mlp_heads;
  // Cost-aware drafting's step costs: calibrated at load, learned while
  // decoding (drafter.h); null when not measured.
  std::shared_ptr<StepCostModel> step_costs;
  // The same for steps drafting from the context (verifying passes only).
  std::shared_ptr<StepCostModel> context_costs;
  // The trunk's training window (trained_window(provenance); 0: unknown).
  int trained_window = 0;

  // Runs the trunk on `tokens` at positions start.., after rolling the
  // session back to `start`; stores hidden rows. Returns hidden [1, T, dim].
  torch::Tensor feed(Session::State& s, const std::vector<int32_t>& tokens, int64_t start);
  // Head `i` on hidden rows for positions start..start+T-1, first bringing
  // the head's cache up to `start` from the stored trunk output. Returns
  // the head's states [1, T, dim] (feed them to model->logits).
  torch::Tensor head(Session::State& s, int i, const torch::Tensor& hidden, int64_t start);

  // Waits for queued device work (CUDA runs kernels asynchronously), so
  // that clocks read after it time finished work; nothing to do on CPU.
  void synchronize() const;

  // A request checked against the model: the prompt to decode (BOS for an
  // empty one, cut from the left to leave room for the answer).
  struct Prepared {
    std::vector<int32_t> prompt;
    bool truncated = false;
  };
  Result<Prepared> prepare(const GenerationRequest& request) const;
};

// True when every value of a CPU float tensor is finite (a plain loop: a
// check on every pass should not cost three tensor operations).
bool all_finite(const torch::Tensor& cpu_float);

// Marks a session busy for the guard's lifetime, unless it already was.
class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& busy) : busy_(busy), owned_(!busy.exchange(true)) {}
  ~BusyGuard() {
    if (owned_) busy_.store(false);
  }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;
  bool owned() const { return owned_; }

 private:
  std::atomic<bool>& busy_;
  bool owned_;
};

}  // namespace mtpc
