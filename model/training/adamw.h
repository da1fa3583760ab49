// AdamW with decoupled weight decay (LibTorch). Written here rather than
// torch::optim::AdamW so its state is plain named tensors that go into a
// safetensors file and restore bit-exactly, identically on LibTorch 1.13 and 2.x.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mtpc {

class AdamW {
 public:
  struct Options {
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  };
  // Weight decay applies to parameters with two or more dimensions.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, Options options);

  void step(double lr);
  void zero_grad();
  int64_t steps_taken() const { return t_; }

  // State as named tensors: "adamw.m.<param>", "adamw.v.<param>".
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  std::vector<std::pair<std::string, std::vector<int64_t>>> state_shapes() const;
  // Restores moments (shapes checked by the caller) and the step count.
  void load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> m_, v_;
  Options options_;
  int64_t t_ = 0;
};

}  // namespace mtpc
