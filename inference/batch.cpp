// Engine::generate_batch: several sessions decoded in shared forward passes.
//
// Each step packs every running sequence's new rows into one model call
// (model/network/packed.h): the trunk over the fed tokens, head 1
// over them to verify, then each draft head over the rows it needs. Per
// sequence the steps are those of the single-sequence DraftingDecoder
// (decoders.cpp), in the same order, RNG draws included, so a sequence gets
// the tokens generate() would give it alone. Greedy decoding is drafting
// with no drafts: one token per pass from head 1.
#include <algorithm>
#include <chrono>

#include "inference/sampling.h"
#include "inference/session_state.h"
#include "model/network/config.h"
#include "model/network/packed.h"

namespace mtpc {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One sequence of the batch: its request, stop rules, result and drafting
// state. Not movable: ctx refers to members.
struct BatchSequence {
  BatchSequence(Engine::Impl& e, Session::State& s, const GenerationRequest& r, std::vector<int32_t> p,
                int draft_limit, bool greedy_pick)
      : session(s), request(r), prompt(std::move(p)), rules(r, *e.tokenizer),
        ctx{e, s, r, rules, result.stats}, greedy(greedy_pick), max_draft(draft_limit), k(draft_limit),
        rng(r.sampling.seed), estimate(draft_limit, 1.0) {}
  BatchSequence(const BatchSequence&) = delete;
  BatchSequence& operator=(const BatchSequence&) = delete;

  Session::State& session;
  const GenerationRequest& request;
  std::vector<int32_t> prompt;
  GenerationResult result;
  StopRules rules;
  DecodeContext ctx;
  const bool greedy;
  const int max_draft;

  bool running = false;
  Status error;
  int64_t n = 0;   // tokens in the session (rows 0..n-1)
  int32_t t = -1;  // the pending token, fed at position n next pass
  int k;           // draft length for the next pass
  Rng rng;
  std::vector<double> estimate;
  std::vector<int32_t> drafts;
  std::vector<std::vector<double>> draft_dists;
  std::vector<int32_t> fed;  // this pass's tokens: t and the drafts that fit
  Clock::time_point decode_start;

  std::vector<double> distribution(const torch::Tensor& logits, int64_t row) const {
    auto r = logits[row].contiguous();
    return sampling_distribution(r.data_ptr<float>(), static_cast<int>(r.numel()), request.sampling);
  }
  int32_t pick(const torch::Tensor& logits, int64_t row) {
    if (greedy) return static_cast<int32_t>(logits[row].argmax().item<int64_t>());
    return sample_index(distribution(logits, row), rng);
  }
};

// Rows of one sequence for a head: `hidden` [1, T, dim] at positions start..
struct HeadInput {
  BatchSequence* seq;
  torch::Tensor hidden;
  int64_t start;
};

class BatchDecoder {
 public:
  BatchDecoder(Engine::Impl& e, std::vector<BatchSequence*> seqs) : e_(e), seqs_(std::move(seqs)) {}

  // Throws on device errors in a shared pass (the caller resets the batch);
  // a sequence's own failure (NaN logits) ends only that sequence.
  void run() {
    c10::InferenceMode inference_mode;  // no autograd bookkeeping per op
    std::vector<BatchSequence*> live;
    for (BatchSequence* s : seqs_)
      if (!s->rules.stopped()) live.push_back(s);
    if (live.empty()) return;
    std::vector<HeadInput> last_rows = prefill(live);

    // The first token from head 1 at the last prompt row, then drafts there.
    std::vector<torch::Tensor> states = head(0, last_rows);
    auto logits = logits_per_item(last_rows, states);
    std::vector<HeadInput> drafting;
    for (size_t i = 0; i < last_rows.size(); ++i) {
      BatchSequence* s = last_rows[i].seq;
      s->result.stats.forward_passes = 1;
      if (!logits[i].ok()) {
        fail(s, logits[i].status());
        continue;
      }
      s->t = s->pick(*logits[i], 0);
      drafting.push_back(last_rows[i]);
    }
    draft(drafting);

    while (true) {
      std::vector<BatchSequence*> pass;
      for (BatchSequence* s : seqs_) {
        if (!s->running) continue;
        if (emit(s->ctx, &s->t, 1)) {
          finish(s);
          continue;
        }
        if (s->n >= s->session.cache.capacity) {
          s->rules.stop(StopReason::kContextFull);
          finish(s);
          continue;
        }
        if (interrupted(s->ctx)) {
          finish(s);
          continue;
        }
        const int64_t fit = std::min<int64_t>(s->drafts.size(), s->session.cache.capacity - s->n - 1);
        s->fed.assign(1, s->t);
        s->fed.insert(s->fed.end(), s->drafts.begin(), s->drafts.begin() + fit);
        pass.push_back(s);
      }
      if (pass.empty()) break;
      step(pass);
    }
  }

 private:
  // Prompts into the sessions' caches in one packed trunk pass, each after
  // the prefix its session already holds. Returns each last prompt row.
  std::vector<HeadInput> prefill(const std::vector<BatchSequence*>& live) {
    const auto t0 = Clock::now();
    std::vector<std::vector<int32_t>> feeds;
    std::vector<int64_t> starts;
    for (BatchSequence* s : live) {
      auto& st = s->session;
      // Prefix reuse as in generate(): the last prompt token is recomputed.
      size_t common = 0;
      while (common < st.tokens.size() && common < s->prompt.size() && st.tokens[common] == s->prompt[common])
        ++common;
      common = std::min(common, s->prompt.size() - 1);
      s->result.stats.reused_tokens = static_cast<int64_t>(common);
      s->result.stats.prefill_tokens = static_cast<int64_t>(s->prompt.size() - common);
      feeds.emplace_back(s->prompt.begin() + common, s->prompt.end());
      starts.push_back(static_cast<int64_t>(common));
    }
    auto hidden = feed(live, feeds, starts);
    std::vector<HeadInput> last;
    for (size_t i = 0; i < live.size(); ++i) {
      BatchSequence* s = live[i];
      s->n = static_cast<int64_t>(s->session.tokens.size());
      s->running = true;
      last.push_back({s, hidden[i].narrow(1, hidden[i].size(1) - 1, 1), s->n - 1});
    }
    e_.synchronize();  // the prompts' pass belongs to prefill_ms
    const auto t1 = Clock::now();
    for (BatchSequence* s : live) {
      s->result.stats.prefill_ms = ms_between(t0, t1);
      s->decode_start = t1;
    }
    return last;
  }

  // The trunk over each sequence's tokens at its start (after rolling its
  // session back there), in one packed call; stores the hidden rows.
  // Returns each sequence's hidden rows [1, T, dim].
  std::vector<torch::Tensor> feed(const std::vector<BatchSequence*>& seqs,
                                  const std::vector<std::vector<int32_t>>& tokens,
                                  const std::vector<int64_t>& starts) {
    std::vector<int64_t> ids;
    std::vector<PackedSegment> segments;
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i]->session.truncate(starts[i]);
      ids.insert(ids.end(), tokens[i].begin(), tokens[i].end());
      segments.push_back({starts[i], static_cast<int64_t>(tokens[i].size()), &seqs[i]->session.cache});
    }
    auto input = torch::tensor(ids, torch::kLong).view({1, -1}).to(e_.device);
    auto hidden = trunk_packed(*e_.model, input, segments);
    std::vector<torch::Tensor> out;
    int64_t offset = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      auto& st = seqs[i]->session;
      auto rows = hidden.narrow(1, offset, segments[i].length);
      st.hidden.narrow(1, starts[i], segments[i].length).copy_(rows);
      st.tokens.insert(st.tokens.end(), tokens[i].begin(), tokens[i].end());
      out.push_back(rows);
      offset += segments[i].length;
    }
    return out;
  }

  // Head `index` over each input's rows in one packed call, first bringing
  // each sequence's head cache up to the input's start from its stored trunk
  // rows (as Engine::Impl::head does). Returns states [1, T, dim] per input.
  std::vector<torch::Tensor> head(int index, const std::vector<HeadInput>& inputs) {
    if (inputs.empty()) return {};
    const int layer = e_.model->head_cache_layer(index);
    std::vector<torch::Tensor> pieces;
    std::vector<PackedSegment> segments;
    std::vector<int64_t> catch_up;
    for (const HeadInput& in : inputs) {
      auto& st = in.seq->session;
      int64_t from = in.start;
      if (layer >= 0 && st.cache.lengths[layer] < in.start) {
        from = st.cache.lengths[layer];
        pieces.push_back(st.hidden.narrow(1, from, in.start - from));
      }
      pieces.push_back(in.hidden);
      catch_up.push_back(in.start - from);
      segments.push_back({from, in.start - from + in.hidden.size(1), layer >= 0 ? &st.cache : nullptr});
    }
    auto states = head_states_packed(*e_.model, index, pieces.size() == 1 ? pieces[0] : torch::cat(pieces, 1),
                                     segments);
    std::vector<torch::Tensor> out;
    int64_t offset = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      out.push_back(states.narrow(1, offset + catch_up[i], inputs[i].hidden.size(1)));
      offset += segments[i].length;
    }
    return out;
  }

  // Float CPU logits [T_i, vocab] for each input's states, one unembedding
  // call for all; a NaN/Inf check per sequence.
  std::vector<Result<torch::Tensor>> logits_per_item(const std::vector<HeadInput>& inputs,
                                                     const std::vector<torch::Tensor>& states) {
    if (inputs.empty()) return {};
    auto all = e_.model->logits(states.size() == 1 ? states[0] : torch::cat(states, 1))
                   .to(torch::kCPU, torch::kFloat32)
                   .reshape({-1, e_.model->config().vocab_size});
    std::vector<Result<torch::Tensor>> out;
    int64_t offset = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int64_t rows = states[i].size(1);
      auto l = all.narrow(0, offset, rows);
      offset += rows;
      if (!all_finite(l))
        out.emplace_back(Status::Error("the model produced NaN or Inf logits at position " +
                                       std::to_string(inputs[i].start) +
                                       " (a corrupt or diverged checkpoint?)"));
      else
        out.emplace_back(l);
    }
    return out;
  }

  // One pass: feed, verify with head 1, keep the accepted drafts, draft again.
  void step(const std::vector<BatchSequence*>& pass) {
    std::vector<std::vector<int32_t>> tokens;
    std::vector<int64_t> starts;
    for (BatchSequence* s : pass) {
      tokens.push_back(s->fed);
      starts.push_back(s->n);
    }
    auto hidden = feed(pass, tokens, starts);
    std::vector<HeadInput> verify_in;
    for (size_t i = 0; i < pass.size(); ++i) verify_in.push_back({pass[i], hidden[i], starts[i]});
    auto verify = logits_per_item(verify_in, head(0, verify_in));

    std::vector<HeadInput> drafting;
    for (size_t i = 0; i < pass.size(); ++i) {
      BatchSequence* s = pass[i];
      GenerationStats& stats = s->result.stats;
      ++stats.forward_passes;
      if (!verify[i].ok()) {
        fail(s, verify[i].status());
        continue;
      }
      const torch::Tensor& l = *verify[i];
      const int kk = static_cast<int>(s->fed.size()) - 1;
      int accepted = 0;
      int32_t next = -1;
      std::vector<int32_t> best;
      if (s->greedy) {
        auto a = l.argmax(-1).contiguous();
        best.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
      }
      for (int j = 0; j < kk; ++j) {
        ++stats.proposed[j];
        bool ok;
        if (s->greedy) {
          ok = best[j] == s->drafts[j];
        } else {
          SpeculativeOutcome out = speculative_accept(s->distribution(l, j), s->draft_dists[j], s->drafts[j], s->rng);
          ok = out.accepted;
          if (!ok) next = out.token;
        }
        s->estimate[j] = kDraftEstimateDecay * s->estimate[j] + (1 - kDraftEstimateDecay) * (ok ? 1.0 : 0.0);
        if (!ok) break;
        ++stats.accepted[j];
        ++accepted;
      }
      if (next < 0) next = s->greedy ? best[accepted] : s->pick(l, accepted);
      s->session.truncate(s->n + accepted + 1);  // rows of t and the accepted drafts stay
      const int64_t pass_start = s->n;
      s->n += accepted + 1;
      if (emit(s->ctx, s->drafts.data(), accepted)) {
        finish(s);
        continue;
      }
      s->t = next;
      if (s->request.adaptive_draft)
        s->k = adaptive_draft_length(s->estimate, s->max_draft, e_.options.adaptive_min_acceptance);
      drafting.push_back({s, hidden[i].narrow(1, 0, accepted + 1), pass_start});
    }
    draft(drafting);
  }

  // Drafts for each input's sequence from heads 1..k at the input's last row.
  // Transformer heads run on all the input's rows (their caches need them).
  void draft(const std::vector<HeadInput>& inputs) {
    int most = 0;
    for (const HeadInput& in : inputs) {
      in.seq->drafts.clear();
      in.seq->draft_dists.clear();
      most = std::max(most, in.seq->k);
    }
    if (most == 0) return;
    std::vector<std::vector<torch::Tensor>> rows(inputs.size());
    if (e_.mlp_heads) {
      // MLP heads keep no cache: every sequence's last row through heads
      // 2..most+1 in one call; each sequence takes its first k.
      std::vector<torch::Tensor> lasts;
      for (const HeadInput& in : inputs)
        if (in.seq->k > 0) lasts.push_back(in.hidden.select(0, 0).narrow(0, in.hidden.size(1) - 1, 1));
      auto all = e_.mlp_heads->states(torch::cat(lasts, 0), 1, most);  // [most, R, dim]
      int64_t r = 0;
      for (size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].seq->k > 0) rows[i].push_back(all.narrow(0, 0, inputs[i].seq->k).select(1, r++).unsqueeze(0));
    } else {
      // Transformer heads run on all the input's rows (their caches need them).
      for (int h = 1; h <= most; ++h) {
        std::vector<HeadInput> with_head;
        std::vector<size_t> which;
        for (size_t i = 0; i < inputs.size(); ++i)
          if (inputs[i].seq->k >= h) {
            with_head.push_back(inputs[i]);
            which.push_back(i);
          }
        auto states = head(h, with_head);
        for (size_t j = 0; j < which.size(); ++j) {
          const int64_t last = states[j].size(1) - 1;
          rows[which[j]].push_back(states[j].narrow(1, last, 1));
        }
      }
    }
    std::vector<HeadInput> drafted;
    std::vector<torch::Tensor> states;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (rows[i].empty()) continue;
      drafted.push_back({inputs[i].seq, inputs[i].hidden, inputs[i].start + inputs[i].hidden.size(1) - 1});
      states.push_back(torch::cat(rows[i], 1));
    }
    auto logits = logits_per_item(drafted, states);
    for (size_t i = 0; i < drafted.size(); ++i) {
      BatchSequence* s = drafted[i].seq;
      if (!logits[i].ok()) {
        fail(s, logits[i].status());
        continue;
      }
      const torch::Tensor& l = *logits[i];
      if (s->greedy) {
        auto a = l.argmax(-1).contiguous();
        s->drafts.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
        continue;
      }
      for (int64_t r = 0; r < l.size(0); ++r) {
        s->draft_dists.push_back(s->distribution(l, r));
        s->drafts.push_back(sample_index(s->draft_dists.back(), s->rng));
      }
    }
  }

  void finish(BatchSequence* s) {
    s->running = false;
    e_.synchronize();
    s->result.stats.decode_ms = ms_between(s->decode_start, Clock::now());
    // Whatever was held back for stop strings.
    if (s->request.on_chunk && s->rules.text().size() > s->ctx.streamed)
      s->request.on_chunk(std::string_view(s->rules.text()).substr(s->ctx.streamed));
  }

  void fail(BatchSequence* s, Status status) {
    s->running = false;
    s->error = std::move(status);
    s->session.truncate(0);  // never leave a half-updated cache behind
  }

  Engine::Impl& e_;
  std::vector<BatchSequence*> seqs_;
};

}  // namespace

Result<std::vector<Result<GenerationResult>>> Engine::generate_batch(
    const std::vector<Session*>& sessions, const std::vector<GenerationRequest>& requests) {
  if (sessions.size() != requests.size())
    return Status::Error("generate_batch: " + std::to_string(sessions.size()) + " sessions for " +
                         std::to_string(requests.size()) + " requests");
  const int model_draft = impl_->model->config().n_future - 1;
  std::vector<Result<GenerationResult>> results;
  std::vector<std::unique_ptr<BusyGuard>> guards;
  std::vector<std::unique_ptr<BatchSequence>> owned;
  std::vector<BatchSequence*> seqs;
  std::vector<size_t> slot;  // results index of each sequence
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
    const GenerationRequest& r = requests[i];
    auto prepared = impl_->prepare(r);
    if (!prepared.ok()) {
      results[i] = prepared.status();
      continue;
    }
    const int k = r.draft_length == 0 ? model_draft : r.draft_length;
    int draft_limit = 0;  // greedy: drafting with no drafts
    if (r.mode == DecodeMode::kSpeculative) draft_limit = k;
    if (r.mode == DecodeMode::kSampling) draft_limit = r.draft_length == 0 ? 0 : k;
    owned.push_back(std::make_unique<BatchSequence>(*impl_, st, r, std::move(prepared->prompt), draft_limit,
                                                    r.mode != DecodeMode::kSampling));
    BatchSequence* s = owned.back().get();
    s->result.prompt_truncated = prepared->truncated;
    s->result.stats.proposed.assign(model_draft, 0);
    s->result.stats.accepted.assign(model_draft, 0);
    seqs.push_back(s);
    slot.push_back(i);
  }
  try {
    BatchDecoder(*impl_, seqs).run();
  } catch (const std::exception& e) {
    for (BatchSequence* s : seqs) s->session.truncate(0);
    return Status::Error(std::string("batched decoding failed: ") + e.what());
  }
  for (size_t j = 0; j < seqs.size(); ++j) {
    BatchSequence* s = seqs[j];
    if (!s->error.ok()) {
      results[slot[j]] = s->error;
      continue;
    }
    GenerationResult& out = s->result;
    out.tokens = s->rules.tokens();
    out.text = s->rules.text();
    out.reason = s->rules.reason();
    out.stats.tokens = static_cast<int64_t>(out.tokens.size());
    results[slot[j]] = std::move(out);
  }
  return results;
}

}  // namespace mtpc
