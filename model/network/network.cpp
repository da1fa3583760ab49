#include "model/network/network.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>

#include "model/network/fused_ops.h"
#include "model/network/linear_kernel.h"

namespace mtpc {

KvCache KvCache::create(const ModelConfig& c, int64_t batch, int64_t capacity, torch::Dtype dtype,
                        torch::Device device) {
  KvCache cache;
  cache.capacity = capacity;
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  for (int i = 0; i < c.attention_layers(); ++i) {
    cache.k.push_back(torch::zeros({batch, c.n_kv_heads, capacity, c.head_dim()}, opts));
    cache.v.push_back(torch::zeros({batch, c.n_kv_heads, capacity, c.head_dim()}, opts));
  }
  cache.lengths.assign(c.attention_layers(), 0);
  return cache;
}

void KvCache::truncate(int64_t length) {
  for (auto& l : lengths) l = std::min(l, std::max<int64_t>(length, 0));
}

torch::Tensor linear_apply(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool kernel = c10::InferenceMode::is_enabled() && x.device().is_cpu() &&
                      x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
                      weight.dim() == 2 && weight.is_contiguous() && linear_kernel_available();
  if (!kernel) return torch::nn::functional::linear(x, weight, bias);
  const int64_t K = weight.size(1), N = weight.size(0);
  TORCH_CHECK(x.size(-1) == K, "linear: input width ", x.size(-1), " but weight ", weight.sizes());
  auto x2 = x.reshape({-1, K}).contiguous();
  const int64_t M = x2.size(0);
  auto y = torch::empty({M, N}, x.options());
  const float* xp = x2.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // Threads split the columns of big products (prefill); each element is
  // computed the same either way. Decoding-sized products (a few rows) stay
  // on the calling thread: a hand-off costs more than they do, and a thread
  // team waiting on a busy core stalls every pass.
  constexpr int64_t kParallelWork = int64_t{1} << 22;  // multiply-adds
  if (M * N * K < kParallelWork || torch::get_num_threads() == 1) {
    linear_kernel(xp, wp, yp, M, N, K, 0, N);
  } else {
    const int64_t grain = std::max<int64_t>(16, (kParallelWork / 2) / std::max<int64_t>(M * K, 1));
    at::parallel_for(0, N, grain, [&](int64_t begin, int64_t end) { linear_kernel(xp, wp, yp, M, N, K, begin, end); });
  }
  if (bias.defined()) y.add_(bias.to(y.scalar_type()));
  auto sizes = x.sizes().vec();
  sizes.back() = N;
  return y.view(sizes);
}

ProjectionImpl::ProjectionImpl(int64_t in, int64_t out, bool with_bias, ParameterInit init) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  if (init == ParameterInit::kRandom) {
    torch::NoGradGuard no_grad;
    // torch::nn::Linear's initialiser, so seeded models keep their weights.
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5));
    if (with_bias) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      torch::nn::init::uniform_(bias, -bound, bound);
    }
  }
}

TokenEmbeddingImpl::TokenEmbeddingImpl(int64_t vocab, int64_t dim, ParameterInit init) {
  weight = register_parameter("weight", torch::empty({vocab, dim}));
  if (init == ParameterInit::kRandom) {
    torch::NoGradGuard no_grad;
    torch::nn::init::normal_(weight);  // torch::nn::Embedding's initialiser
  }
}


RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Normalised in fp32 whatever the activation dtype: bf16 sums of squares
  // lose too much precision.
  return rms_norm(x, weight, eps_);
}

AttentionImpl::AttentionImpl(const ModelConfig& c, ParameterInit init)
    : n_heads_(c.n_heads), n_kv_heads_(c.n_kv_heads), head_dim_(c.head_dim()) {
  const bool b = c.attention_bias;
  wq = register_module("wq", Projection(c.dim, c.n_heads * head_dim_, b, init));
  wk = register_module("wk", Projection(c.dim, c.n_kv_heads * head_dim_, b, init));
  wv = register_module("wv", Projection(c.dim, c.n_kv_heads * head_dim_, b, init));
  wo = register_module("wo", Projection(c.n_heads * head_dim_, c.dim, false, init));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, int64_t start_pos, KvCache* cache,
                                     int layer) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q_rows = rotary(wq(x).view({B, T, n_heads_, head_dim_}), cos, sin);
  auto q = q_rows.transpose(1, 2);
  auto k = rotary(wk(x).view({B, T, n_kv_heads_, head_dim_}), cos, sin).transpose(1, 2);
  auto v = wv(x).view({B, T, n_kv_heads_, head_dim_}).transpose(1, 2);

  int64_t total = T;
  if (cache != nullptr) {
    TORCH_CHECK(start_pos <= cache->lengths[layer], "KV cache layer ", layer, " has ",
                cache->lengths[layer], " rows; cannot write at position ", start_pos);
    TORCH_CHECK(start_pos + T <= cache->capacity, "KV cache capacity ", cache->capacity,
                " exceeded by positions up to ", start_pos + T);
    auto& kc = cache->k[layer];
    auto& vc = cache->v[layer];
    kc.narrow(2, start_pos, T).copy_(k);
    vc.narrow(2, start_pos, T).copy_(v);
    total = start_pos + T;
    cache->lengths[layer] = total;
    // Inference on the CPU: the cache read in place (fused_ops.h).
    if (auto fast = cached_attention(q_rows, kc, vc, total); fast.defined()) return linear_apply(fast, wo->weight);
    k = kc.narrow(2, 0, total).to(q.scalar_type());
    v = vc.narrow(2, 0, total).to(q.scalar_type());
  }
  const int64_t rep = n_heads_ / n_kv_heads_;
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  // Query j sits at absolute position total - T + j and sees keys [0, that].
  // A single query (a decoding step) sees every key: no mask to build.
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  if (T > 1) {
    auto mask = torch::ones({T, total}, torch::TensorOptions().dtype(torch::kBool).device(x.device()))
                    .triu(total - T + 1);
    scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());
  auto out = torch::matmul(probs, v).transpose(1, 2).reshape({B, T, n_heads_ * head_dim_});
  return linear_apply(out, wo->weight);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t hidden, ParameterInit init) {
  w1 = register_module("w1", Projection(dim, hidden, false, init));
  w2 = register_module("w2", Projection(hidden, dim, false, init));
  w3 = register_module("w3", Projection(dim, hidden, false, init));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return linear_apply(torch::silu(linear_apply(x, w1->weight)) * linear_apply(x, w3->weight), w2->weight);
}

BlockImpl::BlockImpl(const ModelConfig& c, ParameterInit init) {
  attention_norm = register_module("attention_norm", RMSNorm(c.dim, c.norm_eps));
  attention = register_module("attention", Attention(c, init));
  ffn_norm = register_module("ffn_norm", RMSNorm(c.dim, c.norm_eps));
  feed_forward = register_module("feed_forward", FeedForward(c.dim, c.hidden_dim, init));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, int64_t start_pos, KvCache* cache,
                                 int layer) {
  auto h = x + attention(attention_norm(x), cos, sin, start_pos, cache, layer);
  return h + feed_forward(ffn_norm(h));
}

MlpHeadImpl::MlpHeadImpl(const ModelConfig& c, ParameterInit init) {
  norm = register_module("norm", RMSNorm(c.dim, c.norm_eps));
  feed_forward = register_module("feed_forward", FeedForward(c.dim, c.hidden_dim, init));
}

torch::Tensor MlpHeadImpl::forward(const torch::Tensor& x) { return x + feed_forward(norm(x)); }

torch::Tensor rope_inverse_frequencies(const ModelConfig& config) {
  const int64_t half = config.head_dim() / 2;
  auto inv_freq = torch::pow(config.rope_theta,
                             -torch::arange(0, half, torch::kFloat64) * 2.0 / config.head_dim());
  const RopeScaling& rs = config.rope_scaling;
  if (rs.kind == RopeScalingKind::kLinear) return inv_freq / rs.factor;
  if (rs.kind == RopeScalingKind::kLlama3) {
    // Wavelengths longer than original / low_freq_factor are stretched by
    // `factor`, shorter than original / high_freq_factor kept, and those
    // between blended linearly in original / wavelength.
    const double original = rs.original_max_position_embeddings;
    const double low_wavelen = original / rs.low_freq_factor;
    const double high_wavelen = original / rs.high_freq_factor;
    auto wavelen = 2.0 * M_PI / inv_freq;
    auto smooth = (original / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    auto blended = (1.0 - smooth) * inv_freq / rs.factor + smooth * inv_freq;
    auto out = torch::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, blended, out);
  }
  return inv_freq;
}

MtpModelImpl::MtpModelImpl(const ModelConfig& config, ParameterInit init) : config_(config) {
  embedding = register_module("embedding", TokenEmbedding(config.vocab_size, config.dim, init));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < config.n_layers; ++i) layers->push_back(Block(config, init));
  heads = register_module("heads", torch::nn::ModuleList());
  for (int i = 0; i < config.n_future; ++i) {
    if (config.head_kind == HeadKind::kTransformer) heads->push_back(Block(config, init));
    else heads->push_back(MlpHead(config, init));
  }
  final_norm = register_module("final_norm", RMSNorm(config.dim, config.norm_eps));
  // A tied model has no unembedding module: its output is the embedding.
  if (!config.tie_embeddings)
    unembedding = register_module("unembedding", Projection(config.dim, config.vocab_size, false, init));
  init_rope();
  if (init == ParameterInit::kUninitialized) return;

  // GPT-2 style init: N(0, 0.02), output projections scaled by depth.
  torch::NoGradGuard no_grad;
  const double residual_std =
      0.02 / std::sqrt(2.0 * (config.n_layers + (config.head_kind == HeadKind::kTransformer ? 1 : 0)));
  for (auto& p : named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();
    if (p.value().dim() < 2) continue;  // norms stay at 1
    bool residual_out = name.find("wo.weight") != std::string::npos ||
                        name.find("w2.weight") != std::string::npos;
    p.value().normal_(0.0, residual_out ? residual_std : 0.02);
  }
}

void MtpModelImpl::init_rope() {
  auto pos = torch::arange(0, config_.max_seq_len, torch::kFloat64);
  auto angles = torch::outer(pos, rope_inverse_frequencies(config_));
  rope_cos_ = register_buffer("rope_cos", angles.cos().to(torch::kFloat32));
  rope_sin_ = register_buffer("rope_sin", angles.sin().to(torch::kFloat32));
}

Status MtpModelImpl::limit_output_vocab(int n) {
  if (n < 1 || n > config_.vocab_size)
    return Status::Error("limit_output_vocab: " + std::to_string(n) + " is not in [1, vocab_size " +
                         std::to_string(config_.vocab_size) + "]");
  if (n == config_.vocab_size) return Status::Ok();
  torch::NoGradGuard no_grad;
  // set_data keeps each parameter's identity (and registration) while it
  // becomes a view of its own first n rows.
  embedding->weight.set_data(embedding->weight.narrow(0, 0, n));
  if (!config_.tie_embeddings) unembedding->weight.set_data(unembedding->weight.narrow(0, 0, n));
  config_.vocab_size = n;
  return Status::Ok();
}

std::pair<torch::Tensor, torch::Tensor> MtpModelImpl::rope(int64_t start_pos, int64_t length) const {
  TORCH_CHECK(start_pos >= 0 && start_pos + length <= config_.max_seq_len, "positions [", start_pos,
              ", ", start_pos + length, ") exceed max_seq_len ", config_.max_seq_len);
  return {rope_cos_.narrow(0, start_pos, length), rope_sin_.narrow(0, start_pos, length)};
}

torch::Tensor MtpModelImpl::trunk(const torch::Tensor& tokens, int64_t start_pos, KvCache* cache) {
  auto [cos, sin] = rope(start_pos, tokens.size(1));
  auto h = embedding(tokens);
  for (size_t i = 0; i < layers->size(); ++i)
    h = layers[i]->as<BlockImpl>()->forward(h, cos, sin, start_pos, cache, static_cast<int>(i));
  return h;
}

torch::Tensor MtpModelImpl::head_states(int index, const torch::Tensor& hidden, int64_t start_pos,
                                        KvCache* cache) {
  TORCH_CHECK(index >= 0 && index < config_.n_future, "head ", index, " out of range");
  if (config_.head_kind == HeadKind::kTransformer) {
    auto [cos, sin] = rope(start_pos, hidden.size(1));
    return heads[index]->as<BlockImpl>()->forward(hidden, cos, sin, start_pos, cache,
                                                  config_.n_layers + index);
  }
  return heads[index]->as<MlpHeadImpl>()->forward(hidden);
}

torch::Tensor MtpModelImpl::logits(const torch::Tensor& states) {
  return linear_apply(final_norm(states), output_weight());
}

torch::Tensor MtpModelImpl::head_logits(int index, const torch::Tensor& hidden, int64_t start_pos,
                                        KvCache* cache) {
  return logits(head_states(index, hidden, start_pos, cache));
}

std::vector<torch::Tensor> MtpModelImpl::forward_all(const torch::Tensor& tokens) {
  auto h = trunk(tokens);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < config_.n_future; ++i) out.push_back(head_logits(i, h));
  return out;
}

std::vector<torch::Tensor> MtpModelImpl::forward_decode(const torch::Tensor& tokens,
                                                        int64_t start_pos, KvCache& cache,
                                                        int n_heads) {
  TORCH_CHECK(n_heads >= 1 && n_heads <= config_.n_future, "n_heads ", n_heads, " not in [1, ",
              config_.n_future, "]");
  auto h = trunk(tokens, start_pos, &cache);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < n_heads; ++i) out.push_back(head_logits(i, h, start_pos, &cache));
  return out;
}

torch::Tensor MtpModelImpl::forward_next(const torch::Tensor& tokens, int64_t start_pos,
                                         KvCache& cache) {
  return forward_decode(tokens, start_pos, cache, 1)[0];
}

std::vector<std::pair<std::string, torch::Tensor>> named_parameters_sorted(MtpModelImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : model.named_parameters(true)) out.emplace_back(p.key(), p.value());
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace mtpc
