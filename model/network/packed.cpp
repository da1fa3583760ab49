#include "model/network/packed.h"

#include <cmath>
#include <limits>

#include "model/network/fused_ops.h"

namespace mtpc {
namespace {

// cos/sin rows for every packed row's position.
std::pair<torch::Tensor, torch::Tensor> rope_rows(MtpModelImpl& model, const std::vector<PackedSegment>& segments,
                                                  int64_t rows) {
  const ModelConfig& c = model.config();
  std::vector<int64_t> positions;
  positions.reserve(rows);
  for (const PackedSegment& seg : segments) {
    TORCH_CHECK(seg.start >= 0 && seg.length >= 0 && seg.start + seg.length <= c.max_seq_len, "positions [",
                seg.start, ", ", seg.start + seg.length, ") exceed max_seq_len ", c.max_seq_len);
    for (int64_t p = seg.start; p < seg.start + seg.length; ++p) positions.push_back(p);
  }
  TORCH_CHECK(static_cast<int64_t>(positions.size()) == rows, "packed segments cover ", positions.size(),
              " rows of ", rows);
  auto buffers = model.named_buffers(/*recurse=*/false);
  const torch::Tensor& cos = buffers["rope_cos"];
  const torch::Tensor& sin = buffers["rope_sin"];
  auto index = torch::tensor(positions, torch::kLong).to(cos.device());
  return {cos.index_select(0, index), sin.index_select(0, index)};
}

// The attention of AttentionImpl::forward with the projections shared by all
// segments: q/k/v/o run once over N rows, the cached attention per segment,
// with the same ops in the same order as the unpacked call.
torch::Tensor attention_packed(AttentionImpl& attn, const ModelConfig& c, const torch::Tensor& x,
                               const torch::Tensor& cos, const torch::Tensor& sin,
                               const std::vector<PackedSegment>& segments, int layer) {
  TORCH_CHECK(x.size(0) == 1, "a packed batch has leading size 1, got ", x.size(0));
  const int64_t N = x.size(1), H = c.n_heads, KV = c.n_kv_heads, D = c.head_dim();
  auto q_all = rotary(attn.wq(x).view({1, N, H, D}), cos, sin);
  auto k_all = rotary(attn.wk(x).view({1, N, KV, D}), cos, sin);
  auto v_all = attn.wv(x).view({1, N, KV, D});
  std::vector<torch::Tensor> outs;
  outs.reserve(segments.size());
  int64_t offset = 0;
  for (const PackedSegment& seg : segments) {
    const int64_t T = seg.length;
    auto q = q_all.narrow(1, offset, T).transpose(1, 2);
    auto k = k_all.narrow(1, offset, T).transpose(1, 2);
    auto v = v_all.narrow(1, offset, T).transpose(1, 2);
    offset += T;
    int64_t total = T;
    if (KvCache* cache = seg.cache) {
      TORCH_CHECK(seg.start <= cache->lengths[layer], "KV cache layer ", layer, " has ", cache->lengths[layer],
                  " rows; cannot write at position ", seg.start);
      TORCH_CHECK(seg.start + T <= cache->capacity, "KV cache capacity ", cache->capacity,
                  " exceeded by positions up to ", seg.start + T);
      auto& kc = cache->k[layer];
      auto& vc = cache->v[layer];
      kc.narrow(2, seg.start, T).copy_(k);
      vc.narrow(2, seg.start, T).copy_(v);
      total = seg.start + T;
      cache->lengths[layer] = total;
      if (auto fast = cached_attention(q_all.narrow(1, offset - T, T), kc, vc, total); fast.defined()) {
        outs.push_back(fast);
        continue;
      }
      k = kc.narrow(2, 0, total).to(q.scalar_type());
      v = vc.narrow(2, 0, total).to(q.scalar_type());
    }
    if (H / KV > 1) {
      k = k.repeat_interleave(H / KV, 1);
      v = v.repeat_interleave(H / KV, 1);
    }
    // Query j sits at absolute position total - T + j and sees keys [0, that].
    // A single query (a decoding step) sees every key: no mask to build.
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));
    if (T > 1) {
      auto mask = torch::ones({T, total}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(total - T + 1);
      scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
    }
    auto probs = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());
    outs.push_back(torch::matmul(probs, v).transpose(1, 2).reshape({1, T, H * D}));
  }
  TORCH_CHECK(offset == N, "packed segments cover ", offset, " rows of ", N);
  return linear_apply(outs.size() == 1 ? outs[0] : torch::cat(outs, 1), attn.wo->weight, attn.wo->bias);
}

torch::Tensor block_packed(BlockImpl& block, const ModelConfig& c, const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin, const std::vector<PackedSegment>& segments, int layer) {
  auto h = x + attention_packed(*block.attention, c, block.attention_norm(x), cos, sin, segments, layer);
  return h + block.feed_forward(block.ffn_norm(h));
}

}  // namespace

torch::Tensor trunk_packed(MtpModelImpl& model, const torch::Tensor& tokens,
                           const std::vector<PackedSegment>& segments) {
  auto [cos, sin] = rope_rows(model, segments, tokens.size(1));
  auto h = model.embedding(tokens);
  for (size_t i = 0; i < model.layers->size(); ++i)
    h = block_packed(*model.layers[i]->as<BlockImpl>(), model.config(), h, cos, sin, segments, static_cast<int>(i));
  return h;
}

torch::Tensor head_states_packed(MtpModelImpl& model, int index, const torch::Tensor& hidden,
                                 const std::vector<PackedSegment>& segments) {
  const ModelConfig& c = model.config();
  TORCH_CHECK(index >= 0 && index < c.n_future, "head ", index, " out of range");
  if (c.head_kind == HeadKind::kTransformer) {
    auto [cos, sin] = rope_rows(model, segments, hidden.size(1));
    return block_packed(*model.heads[index]->as<BlockImpl>(), c, hidden, cos, sin, segments, c.n_layers + index);
  }
  return model.heads[index]->as<MlpHeadImpl>()->forward(hidden);
}

}  // namespace mtpc
