// The decoding loop. Positions: a session holds n processed tokens (rows
// 0..n-1); the pending token t goes at position n.
//
// Each pass feeds every running sequence's t and drafts through the trunk,
// verifies the drafts with head 1 (the sequence's Drafter decides), keeps
// the accepted prefix, rolls the cache back past the rest and drafts again
// from the heads at the last accepted position. Per sequence the steps and
// the RNG draws are the same whether it runs alone or in a batch, so a
// sequence gets the same tokens either way.
#include "inference/decoder.h"

#include <algorithm>

#include "model/network/config.h"
#include "model/network/packed.h"

namespace mtpc {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Rows of one sequence for a head: `hidden` [1, T, dim] at positions start..
struct HeadInput {
  Sequence* seq;
  torch::Tensor hidden;
  int64_t start;
};

class Decoder {
 public:
  Decoder(Engine::Impl& e, ForwardCalls calls) : e_(e), packed_(calls == ForwardCalls::kPacked) {}

  void add(Sequence* s) { pending_.push_back(s); }
  size_t size() const { return pending_.size() + seqs_.size(); }

  // Prefills the sequences added since the last step (their first token
  // and drafts), then one pass over every running sequence: the body of
  // generate()'s loop, so a sequence decodes the same steps whenever it
  // joined. Returns the sequences that ended (stopped or failed).
  std::vector<Sequence*> step() {
    c10::InferenceMode inference_mode;  // no autograd bookkeeping per op
    std::vector<Sequence*> ended, live;
    for (Sequence* s : pending_) (s->rules.stopped() ? ended : live).push_back(s);
    pending_.clear();
    if (!live.empty()) {
      seqs_.insert(seqs_.end(), live.begin(), live.end());
      std::vector<HeadInput> last_rows = prefill(live);
      // The first token from head 1 at the last prompt row, then drafts there.
      auto logits = logits_per_item(last_rows, head(0, last_rows));
      std::vector<HeadInput> drafting;
      for (size_t i = 0; i < last_rows.size(); ++i) {
        Sequence* s = last_rows[i].seq;
        s->result.stats.forward_passes = 1;  // the prompt's pass
        if (!logits[i].ok()) {
          fail(s, logits[i].status());
          continue;
        }
        s->t = s->drafter.pick(*logits[i], 0);
        drafting.push_back(last_rows[i]);
      }
      const auto t0 = Clock::now();
      draft(drafting);
      const double ms = ms_between(t0, Clock::now());
      for (const HeadInput& in : drafting) in.seq->draft_ms = drafting.size() == 1 ? ms : 0;
    }

    std::vector<Sequence*> pass;
    for (Sequence* s : seqs_) {
      if (!s->running) continue;
      if (s->emit(&s->t, 1)) {
        finish(s);
        continue;
      }
      if (s->n >= s->session.cache.capacity) {
        s->rules.stop(StopReason::kContextFull);
        finish(s);
        continue;
      }
      if (s->interrupted()) {
        finish(s);
        continue;
      }
      const auto& drafts = s->drafter.drafts();
      const int64_t fit = std::min<int64_t>(drafts.size(), s->session.cache.capacity - s->n - 1);
      s->fed.assign(1, s->t);
      s->fed.insert(s->fed.end(), drafts.begin(), drafts.begin() + fit);
      pass.push_back(s);
    }
    if (!pass.empty()) {
      // One sequence alone: its step's wall time teaches the step costs
      // (a packed pass's time belongs to no single draft length). A step
      // with k drafts costs its verifying pass of k + 1 rows and the
      // drafting that made those k drafts (timed in the step before); the
      // drafting this step does for the next one is the next step's.
      Sequence* alone = pass.size() == 1 ? pass[0] : nullptr;
      const int fed_drafts = static_cast<int>(pass[0]->fed.size()) - 1;
      const bool fed_context = pass[0]->drafter.drafts_from_context();
      const double drafted_ms = fed_drafts > 0 ? pass[0]->draft_ms : 0;
      const StepTimes times = step(pass);
      if (alone != nullptr) {
        alone->drafter.observe_step_time(fed_drafts, fed_context, times.verify_ms + drafted_ms);
        alone->draft_ms = times.draft_ms;
      } else {
        for (Sequence* s : pass) s->draft_ms = 0;
      }
    }
    auto gone = std::stable_partition(seqs_.begin(), seqs_.end(), [](Sequence* s) { return s->running; });
    ended.insert(ended.end(), gone, seqs_.end());
    seqs_.erase(gone, seqs_.end());
    return ended;
  }

  // Every sequence, ended or not, out of the decoder (after a device error).
  std::vector<Sequence*> take_all() {
    std::vector<Sequence*> all = std::move(pending_);
    all.insert(all.end(), seqs_.begin(), seqs_.end());
    pending_.clear();
    seqs_.clear();
    return all;
  }

 private:
  // Prompts into the sessions' caches in one trunk pass, each after the
  // prefix its session already holds (the last prompt token is always
  // recomputed, for its logits). Returns each last prompt row.
  std::vector<HeadInput> prefill(const std::vector<Sequence*>& live) {
    const auto t0 = Clock::now();
    std::vector<std::vector<int32_t>> feeds;
    std::vector<int64_t> starts;
    for (Sequence* s : live) {
      auto& st = s->session;
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
      Sequence* s = live[i];
      s->n = static_cast<int64_t>(s->session.tokens.size());
      s->running = true;
      last.push_back({s, hidden[i].narrow(1, hidden[i].size(1) - 1, 1), s->n - 1});
    }
    e_.synchronize();  // the prompts' pass belongs to prefill_ms
    const auto t1 = Clock::now();
    for (Sequence* s : live) {
      s->result.stats.prefill_ms = ms_between(t0, t1);
      s->decode_start = t1;
    }
    return last;
  }

  // The trunk over each sequence's tokens at its start (after rolling its
  // session back there), in one call; stores the hidden rows. Returns each
  // sequence's hidden rows [1, T, dim].
  std::vector<torch::Tensor> feed(const std::vector<Sequence*>& seqs, const std::vector<std::vector<int32_t>>& tokens,
                                  const std::vector<int64_t>& starts) {
    if (!packed_) return {e_.feed(seqs[0]->session, tokens[0], starts[0])};
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

  // Head `index` over each input's rows in one call, first bringing each
  // sequence's head cache up to the input's start from its stored trunk
  // rows (as Engine::Impl::head does). Returns states [1, T, dim] per input.
  std::vector<torch::Tensor> head(int index, const std::vector<HeadInput>& inputs) {
    if (inputs.empty()) return {};
    if (!packed_) return {e_.head(inputs[0].seq->session, index, inputs[0].hidden, inputs[0].start)};
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
                                       std::to_string(inputs[i].start) + " (a corrupt or diverged checkpoint?)"));
      else
        out.emplace_back(l);
    }
    return out;
  }

  struct StepTimes {
    double verify_ms = 0;  // feed, head 1, verification
    double draft_ms = 0;   // the drafts for the next pass
  };

  // One pass: feed, verify with head 1, keep the accepted drafts, draft again.
  StepTimes step(const std::vector<Sequence*>& pass) {
    const auto t0 = Clock::now();
    std::vector<std::vector<int32_t>> tokens;
    std::vector<int64_t> starts;
    for (Sequence* s : pass) {
      tokens.push_back(s->fed);
      starts.push_back(s->n);
    }
    auto hidden = feed(pass, tokens, starts);
    std::vector<HeadInput> verify_in;
    for (size_t i = 0; i < pass.size(); ++i) verify_in.push_back({pass[i], hidden[i], starts[i]});
    auto verify = logits_per_item(verify_in, head(0, verify_in));

    std::vector<HeadInput> drafting;
    for (size_t i = 0; i < pass.size(); ++i) {
      Sequence* s = pass[i];
      ++s->result.stats.forward_passes;
      if (!verify[i].ok()) {
        fail(s, verify[i].status());
        continue;
      }
      const int checked = static_cast<int>(s->fed.size()) - 1;
      const Drafter::Verdict v = s->drafter.verify(*verify[i], checked, s->result.stats);
      s->session.truncate(s->n + v.accepted + 1);  // rows of t and the accepted drafts stay
      const int64_t pass_start = s->n;
      s->n += v.accepted + 1;
      if (s->emit(s->drafter.drafts().data(), v.accepted)) {
        finish(s);
        continue;
      }
      s->t = v.next;
      drafting.push_back({s, hidden[i].narrow(1, 0, v.accepted + 1), pass_start});
    }
    const auto t1 = Clock::now();
    draft(drafting);
    return {ms_between(t0, t1), ms_between(t1, Clock::now())};
  }

  // Drafts for each input's sequence from heads 2..k+1 at the input's last
  // row, one call per head for every sequence drafting that far.
  void draft(const std::vector<HeadInput>& inputs) {
    int most = 0;
    for (const HeadInput& in : inputs) {
      Sequence* s = in.seq;
      s->drafter.clear_drafts();
      if (s->drafter.context_drafting()) {
        // The sequence so far: its session's tokens, then the pending one.
        s->history.assign(s->session.tokens.begin(), s->session.tokens.end());
        s->history.push_back(s->t);
        s->drafter.plan(s->history);
      }
      most = std::max(most, s->drafter.draft_length());
    }
    if (most == 0) return;
    std::vector<std::vector<torch::Tensor>> rows(inputs.size());
    if (e_.mlp_heads) {
      // MLP heads keep no cache: every sequence's last row through heads
      // 2..most+1 in one call; each sequence takes its first k.
      std::vector<torch::Tensor> lasts;
      for (const HeadInput& in : inputs)
        if (in.seq->drafter.draft_length() > 0)
          lasts.push_back(in.hidden.select(0, 0).narrow(0, in.hidden.size(1) - 1, 1));
      auto all = e_.mlp_heads->states(lasts.size() == 1 ? lasts[0] : torch::cat(lasts, 0), 1, most);  // [most, R, dim]
      int64_t r = 0;
      for (size_t i = 0; i < inputs.size(); ++i)
        if (const int k = inputs[i].seq->drafter.draft_length(); k > 0)
          rows[i].push_back(all.narrow(0, 0, k).select(1, r++).unsqueeze(0));
    } else {
      // Transformer heads run on all the input's rows (their caches need them).
      for (int h = 1; h <= most; ++h) {
        std::vector<HeadInput> with_head;
        std::vector<size_t> which;
        for (size_t i = 0; i < inputs.size(); ++i)
          if (inputs[i].seq->drafter.draft_length() >= h) {
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
      states.push_back(rows[i].size() == 1 ? rows[i][0] : torch::cat(rows[i], 1));
    }
    auto logits = logits_per_item(drafted, states);
    for (size_t i = 0; i < drafted.size(); ++i) {
      if (!logits[i].ok()) {
        fail(drafted[i].seq, logits[i].status());
        continue;
      }
      drafted[i].seq->drafter.propose(*logits[i]);
    }
  }

  void finish(Sequence* s) {
    s->running = false;
    e_.synchronize();
    s->result.stats.decode_ms = ms_between(s->decode_start, Clock::now());
    s->flush_stream();
  }

  void fail(Sequence* s, Status status) {
    s->running = false;
    s->error = std::move(status);
    s->session.truncate(0);  // never leave a half-updated cache behind
  }

  Engine::Impl& e_;
  const bool packed_;
  std::vector<Sequence*> pending_;  // added, prefilled at the next step
  std::vector<Sequence*> seqs_;     // prefilled, running until they end
};

}  // namespace

struct StepDecoder::Impl {
  Impl(Engine::Impl& e, ForwardCalls calls) : decoder(e, calls) {}
  Decoder decoder;
};

StepDecoder::StepDecoder(Engine::Impl& engine, ForwardCalls calls)
    : impl_(std::make_unique<Impl>(engine, calls)) {}
StepDecoder::~StepDecoder() = default;
void StepDecoder::add(Sequence* s) { impl_->decoder.add(s); }
std::vector<Sequence*> StepDecoder::step() { return impl_->decoder.step(); }
std::vector<Sequence*> StepDecoder::take_all() { return impl_->decoder.take_all(); }
size_t StepDecoder::size() const { return impl_->decoder.size(); }

Sequence::Sequence(Engine::Impl& engine, Session::State& s, const GenerationRequest& r,
                   Engine::Impl::Prepared prepared)
    : session(s), request(r), prompt(std::move(prepared.prompt)), rules(r, *engine.tokenizer),
      drafter(r, engine.model->config().n_future - 1, engine.options.adaptive_min_acceptance, engine.step_costs,
              engine.context_costs) {
  const int model_draft = engine.model->config().n_future - 1;
  result.prompt_truncated = prepared.truncated;
  result.stats.proposed.assign(model_draft, 0);
  result.stats.accepted.assign(model_draft, 0);
}

bool Sequence::emit(const int32_t* tokens, size_t count) {
  for (size_t i = 0; i < count && !rules.stopped(); ++i) rules.push(tokens[i]);
  const size_t settled = rules.settled_length();
  if (request.on_chunk && settled > streamed) {
    request.on_chunk(std::string_view(rules.text()).substr(streamed, settled - streamed));
    streamed = settled;
  }
  return rules.stopped();
}

bool Sequence::interrupted() {
  if (request.cancel && request.cancel->cancelled()) {
    rules.stop(StopReason::kCancelled);
    return true;
  }
  if (request.deadline && Clock::now() >= *request.deadline) {
    rules.stop(StopReason::kDeadline);
    return true;
  }
  return false;
}

void Sequence::flush_stream() {
  if (request.on_chunk && rules.text().size() > streamed) {
    request.on_chunk(std::string_view(rules.text()).substr(streamed));
    streamed = rules.text().size();
  }
}

Result<GenerationResult> Sequence::take_result() {
  if (!error.ok()) return error;
  GenerationResult out = std::move(result);
  out.tokens = rules.tokens();
  out.text = rules.text();
  out.reason = rules.reason();
  out.stats.tokens = static_cast<int64_t>(out.tokens.size());
  return out;
}

void decode(Engine::Impl& engine, const std::vector<Sequence*>& sequences, ForwardCalls calls) {
  Decoder decoder(engine, calls);
  for (Sequence* s : sequences) decoder.add(s);
  while (decoder.size() > 0) decoder.step();
}

}  // namespace mtpc
