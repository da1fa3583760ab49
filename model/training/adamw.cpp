#include "model/training/adamw.h"

#include <cmath>

namespace mtpc {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, Options options)
    : params_(std::move(params)), options_(options) {
  for (auto& [name, p] : params_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    const auto& g = p.grad();
    if (options_.weight_decay > 0 && p.dim() >= 2) p.mul_(1.0 - lr * options_.weight_decay);
    m_[i].mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    v_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    auto denom = (v_[i] / bc2).sqrt_().add_(options_.eps);
    p.addcdiv_(m_[i], denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("adamw.m." + params_[i].first, m_[i]);
    out.emplace_back("adamw.v." + params_[i].first, v_[i]);
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> AdamW::state_shapes() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (auto& [name, t] : state()) out.emplace_back(name, t.sizes().vec());
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(tensors.at("adamw.m." + params_[i].first));
    v_[i].copy_(tensors.at("adamw.v." + params_[i].first));
  }
  t_ = steps_taken;
}

}  // namespace mtpc
