// RMSNorm and rotary embedding, with one-call CPU loops for inference.
// A decoding pass runs these on a few rows, where each of the half-dozen
// torch operations they are written with costs more in dispatch than in
// arithmetic. Under c10::InferenceMode on the CPU in fp32 they run as plain
// loops, row by row (a row's result does not depend on the others);
// otherwise (training, bf16, CUDA) as torch expressions. The two agree to
// float rounding (tests/model/fused_ops_test.cpp).
// LibTorch header: included by model/ sources only.
#pragma once

#include <torch/torch.h>

namespace mtpc {

// x [..., dim] -> x / sqrt(mean(x^2) + eps) * weight, normalised in fp32
// whatever x's dtype, returned in x's dtype.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// x [B, T, H, D]; cos/sin [T, D/2] fp32 (row t: the angles of x's row t).
// Rotates each pair (x[i], x[i + D/2]) by its angle.
torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Causal attention of q [1, T, H, D] (rows at absolute positions total - T
// .. total - 1) against the first `total` rows of a KV cache layer, kc and
// vc [1, KV, capacity, D]: [1, T, H * D], by model/network/attention_kernel.h.
// Under c10::InferenceMode on an AVX2 CPU in fp32 only: otherwise (and
// with MTPC_ATTENTION_KERNEL=0 in the environment, for side-by-side
// benchmarks) an undefined tensor, and the caller runs torch's ops.
torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& kc, const torch::Tensor& vc,
                               int64_t total);

}  // namespace mtpc
