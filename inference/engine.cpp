#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include <torch/cuda.h>

#include "inference/decoder.h"
#include "inference/session_state.h"
#include "model/tokenizer/tokenizer_files.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"

namespace mtpc {
namespace {

// The longest prompt kept whole: room for the answer and the last pass's
// drafts (n_future), at most half the context.
int64_t prompt_room(const ModelConfig& c, int max_new_tokens) {
  // The drafts' room is the same for every model, so that the same trunk
  // with other heads (or none) cuts a long prompt at the same token and its
  // greedy output stays the same; drafts past the context's end are not fed.
  const int64_t reserve = std::min<int64_t>(std::max(max_new_tokens, 0) + kPromptDraftRoom, c.max_seq_len / 2);
  return c.max_seq_len - reserve;
}

}  // namespace

Session::Session(std::unique_ptr<State> state) : state_(std::move(state)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
int64_t Session::cached_tokens() const { return static_cast<int64_t>(state_->tokens.size()); }

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
const ModelConfig& Engine::config() const { return impl_->model->config(); }
const Tokenizer& Engine::tokenizer() const { return *impl_->tokenizer; }

std::vector<double> Engine::draft_step_costs() const {
  return impl_->step_costs ? impl_->step_costs->relative() : std::vector<double>{};
}

std::vector<double> Engine::context_step_costs() const {
  return impl_->context_costs ? impl_->context_costs->relative() : std::vector<double>{};
}

int Engine::trained_window() const { return impl_->trained_window; }

std::string Engine::draft_heads() const {
  if (!impl_->mlp_heads) return "";
  return impl_->mlp_heads->weights() == DraftWeights::kInt8 ? "int8" : "exact";
}

int Engine::max_prompt_tokens(int max_new_tokens) const {
  return static_cast<int>(prompt_room(impl_->model->config(), max_new_tokens));
}

Result<std::shared_ptr<Engine>> Engine::load(const std::string& model_dir, const EngineOptions& options) {
  if (options.device != "cpu" && options.device != "cuda")
    return Status::Error("device must be cpu or cuda, got '" + options.device + "'");
  if (options.dtype != "fp32" && options.dtype != "bf16")
    return Status::Error("dtype must be fp32 or bf16, got '" + options.dtype + "'");
  if (options.device == "cuda" && !torch::cuda::is_available())
    return Status::Error("device cuda: this LibTorch build has no usable CUDA device (CPU-only build, or no GPU/driver)");
  try {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->device = options.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    impl->dtype = options.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    if (options.max_context < 0) return Status::Error("max_context must be >= 0 (0: the model's own)");
    LoadOptions load_options;
    load_options.max_context = options.max_context;
    load_options.dtype = impl->dtype;
    auto loaded = load_model(model_dir, impl->device, load_options);
    if (!loaded.ok()) return loaded.status();
    impl->model = loaded->model;
    impl->trained_window = mtpc::trained_window(loaded->provenance);
    impl->model->to(impl->dtype);
    impl->model->eval();
    if (loaded->tokenizer) {
      impl->tokenizer = loaded->tokenizer;
    } else if (impl->model->config().tokenizer != "byte") {
      // Hugging Face and Meta directories, and mtpc conversions of them
      // ("files"): the tokenizer the directory ships.
      auto tok = load_model_tokenizer(model_dir);
      if (!tok.ok()) return tok.status();
      impl->tokenizer = *tok;
    } else {
      auto tok = make_tokenizer(impl->model->config().tokenizer, impl->model->config().fim == FimLayout::kSpm
                                                                     ? FimTemplate::Order::kSuffixPrefixMiddle
                                                                     : FimTemplate::Order::kPrefixSuffixMiddle);
      if (!tok.ok()) return tok.status();
      impl->tokenizer = *tok;
    }
    const int model_vocab = impl->model->config().vocab_size, tok_vocab = impl->tokenizer->vocab_size();
    if (tok_vocab > model_vocab)
      return Status::Error(model_dir + ": the tokenizer has " + std::to_string(tok_vocab) +
                           " ids but the model only " + std::to_string(model_vocab));
    if (tok_vocab < model_vocab)
      if (Status s = impl->model->limit_output_vocab(tok_vocab); !s.ok()) return s.wrap(model_dir);
    if (impl->model->config().head_kind == HeadKind::kMlp) {
      const char* env = std::getenv("MTPC_DRAFT_HEADS");
      const bool int8 = options.int8_draft_heads && !(env != nullptr && std::string(env) == "exact");
      impl->mlp_heads = MlpHeadStack::build(*impl->model, int8 ? DraftWeights::kInt8 : DraftWeights::kExact);
    }
    std::shared_ptr<Engine> engine(new Engine(std::move(impl)));
    const ModelConfig& c = engine->config();
    // A few passes per draft length on a short context; a failure leaves
    // the acceptance-only rule in place rather than failing the load.
    // Big models (a 7B pass takes a second or more on a CPU) get one timed
    // run per k on a short context: decoding refines the costs anyway.
    int64_t parameters = 0;
    for (const auto& p : engine->impl_->model->parameters()) parameters += p.numel();
    const bool big = parameters > 200'000'000;
    auto ratios_of = [](const Result<std::vector<double>>& ms) -> std::shared_ptr<StepCostModel> {
      if (!ms.ok() || ms->empty() || !((*ms)[0] > 0)) return nullptr;
      std::vector<double> ratios;
      for (double m : *ms) ratios.push_back(m / (*ms)[0]);
      return std::make_shared<StepCostModel>(std::move(ratios));
    };
    if (options.cost_aware_drafts && c.n_future > 1) {
      const int context = std::max(1, std::min(big ? 8 : 64, c.max_seq_len - c.n_future));
      engine->impl_->step_costs = ratios_of(engine->measure_step_costs(c.n_future - 1, context, big ? 1 : 3));
    }
    if (options.cost_aware_drafts && options.context_drafts && c.max_seq_len > kContextMaxDraft + 2) {
      // Verifying passes of 1..kContextMaxDraft + 1 rows: what a step with
      // that many context drafts costs (it runs no draft head).
      const int context = std::max(1, std::min(big ? 8 : 64, c.max_seq_len - kContextMaxDraft - 1));
      engine->impl_->context_costs = ratios_of(engine->measure_pass_costs(kContextMaxDraft + 1, context, big ? 1 : 3));
    }
    return engine;
  } catch (const std::exception& e) {
    return Status::Error(model_dir + ": cannot load model: " + e.what());
  }
}

Result<Session> Engine::new_session() const {
  try {
    const ModelConfig& c = impl_->model->config();
    auto state = std::make_unique<Session::State>();
    state->cache = KvCache::create(c, 1, c.max_seq_len, impl_->dtype, impl_->device);
    state->hidden = torch::zeros({1, c.max_seq_len, c.dim},
                                 torch::TensorOptions().dtype(impl_->dtype).device(impl_->device));
    return Session(std::move(state));
  } catch (const std::exception& e) {
    return Status::Error(std::string("cannot allocate a session: ") + e.what());
  }
}

torch::Tensor Engine::Impl::feed(Session::State& s, const std::vector<int32_t>& tokens, int64_t start) {
  s.truncate(start);
  auto ids = torch::empty({1, static_cast<int64_t>(tokens.size())}, torch::kLong);
  std::copy(tokens.begin(), tokens.end(), ids.data_ptr<int64_t>());
  auto hidden = model->trunk(ids.to(device), start, &s.cache);
  s.hidden.narrow(1, start, hidden.size(1)).copy_(hidden);
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  return hidden;
}

torch::Tensor Engine::Impl::head(Session::State& s, int i, const torch::Tensor& hidden, int64_t start) {
  const int layer = model->head_cache_layer(i);
  if (layer >= 0 && s.cache.lengths[layer] < start) {
    const int64_t from = s.cache.lengths[layer];
    model->head_states(i, s.hidden.narrow(1, from, start - from), from, &s.cache);
  }
  return model->head_states(i, hidden, start, &s.cache);
}

bool all_finite(const torch::Tensor& cpu_float) {
  auto c = cpu_float.contiguous();
  const float* p = c.data_ptr<float>();
  const int64_t n = c.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

Result<Engine::Impl::Prepared> Engine::Impl::prepare(const GenerationRequest& request) const {
  const ModelConfig& c = model->config();
  const int max_draft = c.n_future - 1;
  if (request.draft_length < 0 || request.draft_length > max_draft)
    return Status::Error("draft_length " + std::to_string(request.draft_length) +
                         " exceeds this model's n_future - 1 = " + std::to_string(max_draft));
  if (request.mode == DecodeMode::kSampling) {
    const auto& sp = request.sampling;
    if (!(sp.temperature > 0) || !std::isfinite(sp.temperature))
      return Status::Error("temperature must be > 0 (use greedy decoding for 0)");
    if (!(sp.top_p > 0 && sp.top_p <= 1)) return Status::Error("top_p must be in (0, 1]");
    if (sp.top_k < 0) return Status::Error("top_k must be >= 0");
  }
  Prepared p;
  p.prompt = request.prompt;
  if (p.prompt.empty()) {
    const SpecialTokens sp = tokenizer->specials();
    const int32_t start = sp.bos >= 0 ? sp.bos : sp.eos;
    if (start < 0) return Status::Error("empty prompt, and the tokenizer has neither BOS nor EOS to start from");
    p.prompt.push_back(start);
  }
  for (size_t i = 0; i < p.prompt.size(); ++i)
    if (p.prompt[i] < 0 || p.prompt[i] >= c.vocab_size)
      return Status::Error("prompt token " + std::to_string(p.prompt[i]) + " at position " +
                           std::to_string(i) + " is outside the vocabulary [0, " +
                           std::to_string(c.vocab_size) + ")");
  // Left truncation: keep room for the answer (up to half the context).
  const int64_t max_prompt = prompt_room(c, request.max_new_tokens);
  if (static_cast<int64_t>(p.prompt.size()) > max_prompt) {
    p.prompt.erase(p.prompt.begin(), p.prompt.end() - max_prompt);
    p.truncated = true;
  }
  return p;
}

void Engine::Impl::synchronize() const {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void Engine::synchronize() const { impl_->synchronize(); }

Result<GenerationResult> Engine::generate(Session& session, const GenerationRequest& request) {
  Session::State& s = *session.state_;
  BusyGuard guard(s.busy);
  if (!guard.owned()) return Status::Error("session is in use by another thread; request refused");
  auto prepared = impl_->prepare(request);
  if (!prepared.ok()) return prepared.status();
  Sequence seq(*impl_, s, request, std::move(*prepared));
  try {
    decode(*impl_, {&seq}, ForwardCalls::kSingle);
  } catch (const std::exception& e) {
    s.truncate(0);  // never leave a half-updated cache behind
    return Status::Error(std::string("decoding failed: ") + e.what());
  }
  return seq.take_result();
}

Result<std::vector<Result<GenerationResult>>> Engine::generate_batch(
    const std::vector<Session*>& sessions, const std::vector<GenerationRequest>& requests) {
  if (sessions.size() != requests.size())
    return Status::Error("generate_batch: " + std::to_string(sessions.size()) + " sessions for " +
                         std::to_string(requests.size()) + " requests");
  std::vector<Result<GenerationResult>> results;
  std::vector<std::unique_ptr<BusyGuard>> guards;
  std::vector<std::unique_ptr<Sequence>> owned;
  std::vector<Sequence*> seqs;
  std::vector<size_t> index;  // results index of each sequence
  for (size_t i = 0; i < sessions.size(); ++i) {
    results.emplace_back(Status::Error("not decoded"));
    if (sessions[i] == nullptr || !sessions[i]->state_) {
      results[i] = Status::Error("request " + std::to_string(i) + ": no session");
      continue;
    }
    Session::State& st = *sessions[i]->state_;
    auto guard = std::make_unique<BusyGuard>(st.busy);
    if (!guard->owned()) {
      results[i] = Status::Error("request " + std::to_string(i) +
                                 ": session is in use (by another thread, or twice in this batch); request refused");
      continue;
    }
    guards.push_back(std::move(guard));
    auto prepared = impl_->prepare(requests[i]);
    if (!prepared.ok()) {
      results[i] = prepared.status();
      continue;
    }
    owned.push_back(std::make_unique<Sequence>(*impl_, st, requests[i], std::move(*prepared)));
    seqs.push_back(owned.back().get());
    index.push_back(i);
  }
  try {
    decode(*impl_, seqs, ForwardCalls::kPacked);
  } catch (const std::exception& e) {
    for (Sequence* s : seqs) s->session.truncate(0);
    return Status::Error(std::string("batched decoding failed: ") + e.what());
  }
  for (size_t j = 0; j < seqs.size(); ++j) results[index[j]] = seqs[j]->take_result();
  return results;
}

}  // namespace mtpc
