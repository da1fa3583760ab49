// Hugging Face Llama/Qwen2 model directories, loaded in place (LibTorch side).
//
// A directory holds config.json ("architectures": ["LlamaForCausalLM"] or
// ["Qwen2ForCausalLM"]) and model.safetensors, or shards listed by
// model.safetensors.index.json ("weight_map": tensor -> shard file). Tensors
// may be F32, F16 or BF16. Files are memory-mapped: a tensor stored in
// options.dtype becomes its parameter without a copy (the parameter keeps
// the mapping alive), others are converted once.
//
// The model is an MtpModel with n_future = 1 and a transformer head: trunk =
// model.layers.0 .. L-2, head 0 = model.layers.L-1 (exactly a Llama of L
// blocks). Names: embed_tokens -> embedding, self_attn.{q,k,v,o}_proj ->
// attention.w{q,k,v,o} (q/k/v biases for Qwen2), mlp.{gate,up,down}_proj ->
// feed_forward.w{1,3,2}, input_layernorm -> attention_norm,
// post_attention_layernorm -> ffn_norm, model.norm -> final_norm, lm_head ->
// unembedding (absent with tie_word_embeddings). Hugging Face's rotary
// layout is rotate-half, as ours: no permutation. max_seq_len is
// min(max_position_embeddings, options.max_context). The tokenizer kind is
// "files" and LoadedModel::tokenizer is left null (read by the tokenizer
// loader from the same directory).
//
// Failure: an error naming the file and the field or tensor (another
// architecture or model_type, an unknown rope type, a missing shard or
// tensor, a shape that disagrees with config.json, a truncated or
// overlapping safetensors file, an unexpected tensor). Never throws and
// never returns a half-loaded model.
#pragma once

#include <string>

#include "model/checkpoint/checkpoint.h"

namespace mtpc {

Result<LoadedModel> load_hf_model(const std::string& dir, torch::Device device = torch::kCPU,
                                  const LoadOptions& options = {});

// The ModelConfig a Hugging Face config.json describes (`source` names the
// file in messages); max_context as in LoadOptions.
Result<ModelConfig> hf_model_config(const nlohmann::json& j, const std::string& source, int max_context);

}  // namespace mtpc
