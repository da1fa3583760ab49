#include "model/training/heads_trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <optional>

#include "base/atomic_file.h"
#include "model/checkpoint/checkpoint.h"
#include "model/checkpoint/heads_checkpoint.h"
#include "model/corpus/corpus.h"
#include "model/network/network.h"
#include "model/tokenizer/tokenizer_files.h"
#include "model/training/adamw.h"
#include "model/training/distributed.h"
#include "model/training/hidden_cache.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace mtpc {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// SHA-256 (lowercase hex) of `n` bytes: names the targets a disk cache was made from.
std::string sha256_hex(const void* data, size_t n) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, n, digest, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += hex[digest[i] >> 4], out += hex[digest[i] & 15];
  return out;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt(const char* f, double a, double b = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

class HeadsTrainer {
 public:
  explicit HeadsTrainer(const HeadsTrainOptions& o)
      : o_(o), device_(o.device == "cuda" ? torch::kCUDA : torch::kCPU) {}
  Result<HeadsTrainSummary> run();

 private:
  // Rank 0 speaks for a data-parallel run; the others are quiet.
  void say(const std::string& line) const {
    if (dp_ && !dp_->is_rank0()) return;
    if (o_.progress) o_.progress(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  }
  int seq_len() const { return o_.targets == "distill" ? o_.prompt_len + o_.gen_len : o_.prompt_len + o_.gen_len + 1; }
  int min_prompt_len() const { return o_.min_prompt_len > 0 ? o_.min_prompt_len : o_.prompt_len; }
  // The prompt length of distilled record `index`.
  int record_prompt_len(int64_t index) const { return records_[index * (seq_len() + 1)]; }
  Status check_options() const;
  Status load_corpus();
  std::vector<int32_t> corpus_window(uint64_t key, int length) const;
  Status make_targets();
  // Rank 0's whole records in targets.bin after checking targets.json
  // against this run (written if missing); a torn last record is cut.
  Result<int64_t> targets_on_disk();
  // Greedy continuations of the `count` prompts from record `from`: [count, 1 + L] int32.
  torch::Tensor generate(int64_t from, int64_t count);
  Status make_targets_sharded(int64_t have);
  Status open_disk_cache(HeadsTrainSummary& summary);
  // In a data-parallel run: an error on any rank becomes an error on every
  // rank (the others' say which rank to read), so no rank waits alone.
  Status agree(Status local);
  Status restore_and_share(bool have_heads);
  Status load_inputs();
  torch::Tensor batch(const std::vector<int64_t>& indices) const;
  std::pair<torch::Tensor, torch::Tensor> frozen(const std::vector<int64_t>& indices, const torch::Tensor& tokens);
  // Per new head: loss (nats) and agreement; backward when `train`.
  std::pair<std::vector<double>, std::vector<double>> forward(const std::vector<int64_t>& indices, bool train);
  std::pair<std::vector<double>, std::vector<double>> evaluate();
  Status save(int64_t step);
  Status restore();
  double lr_at(int64_t step) const;

  HeadsTrainOptions o_;
  torch::Device device_;
  std::string base_sha256_;
  LoadedModel base_;
  std::shared_ptr<const Tokenizer> tokenizer_;  // null for byte-level bases
  ModelConfig config_;  // the retrofitted model's
  MtpModel model_{nullptr};
  std::unique_ptr<AdamW> optimizer_;
  std::vector<uint16_t> corpus_;
  // Distilled records of 1 + seq_len() int32: the prompt length p, then p
  // prompt tokens, gen_len greedy tokens and zeros up to seq_len().
  std::vector<int32_t> records_;
  // record -> (trunk states [L, dim], head 1's greedy tokens [L]) with cache_hidden
  std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> hidden_cache_;
  std::optional<HiddenStateCache> disk_cache_;
  int64_t frozen_rows_ = 0;
  int64_t start_step_ = 0;
  std::unique_ptr<DataParallel> dp_;  // null: a single-process run
  int world_size() const { return dp_ ? dp_->world_size() : 1; }
  bool writes_outputs() const { return !dp_ || dp_->is_rank0(); }
};

Status HeadsTrainer::check_options() const {
  if (o_.targets != "distill" && o_.targets != "corpus")
    return Status::Error("--targets must be distill or corpus, got '" + o_.targets + "'");
  if (o_.prompt_len < 1 || o_.gen_len < 2) return Status::Error("--prompt-len must be >= 1 and --gen-len >= 2");
  if (o_.min_prompt_len < 0 || o_.min_prompt_len > o_.prompt_len)
    return Status::Error("--min-prompt-len must be in [1, --prompt-len] (0: --prompt-len)");
  if (o_.n_future < 2 || o_.gen_len < o_.n_future)
    return Status::Error("--n-future must be at least 2 and --gen-len at least --n-future");
  if (o_.sequences < 2) return Status::Error("--sequences must be at least 2");
  if (o_.batch_size < 1 || o_.steps < 1 || o_.generate_batch < 1)
    return Status::Error("--batch-size, --steps and the generation batch must be positive");
  if (!(o_.lr > 0)) return Status::Error("--lr must be positive");
  if (!o_.cache_dir.empty() && o_.targets != "distill")
    return Status::Error("--cache-dir caches the states of distilled sequences: it needs --targets distill");
  return Status::Ok();
}

Status HeadsTrainer::load_corpus() {
  const std::string path = (fs::path(o_.data_dir) / "train.bin").string();
  auto tokens = read_token_file(path);
  if (!tokens.ok()) return tokens.status();
  corpus_ = std::move(*tokens);
  // A non-byte base reads the corpus as text: a window of bytes re-encoded.
  const int64_t need = tokenizer_ ? int64_t{8} * seq_len() : seq_len();
  if (static_cast<int64_t>(corpus_.size()) < need)
    return Status::Error(path + ": " + std::to_string(corpus_.size()) + " tokens, fewer than one window of " +
                         std::to_string(need));
  return Status::Ok();
}

std::vector<int32_t> HeadsTrainer::corpus_window(uint64_t key, int length) const {
  if (!tokenizer_) {
    const uint64_t start = mix(o_.seed ^ mix(key)) % (corpus_.size() - length + 1);
    return std::vector<int32_t>(corpus_.begin() + start, corpus_.begin() + start + length);
  }
  // Bytes (ids < 256; the corpus's specials dropped) through the base's tokenizer.
  const int64_t span = std::min<int64_t>(corpus_.size(), int64_t{8} * length);
  const uint64_t start = mix(o_.seed ^ mix(key)) % (corpus_.size() - span + 1);
  std::string text;
  for (int64_t i = 0; i < span; ++i)
    if (corpus_[start + i] < 256) text += static_cast<char>(corpus_[start + i]);
  std::vector<int32_t> ids = tokenizer_->encode(text);
  ids.resize(length, ids.empty() ? 0 : ids.back());
  return ids;
}

Result<int64_t> HeadsTrainer::targets_on_disk() {
  const int R = seq_len() + 1;
  const fs::path bin = fs::path(o_.out_dir) / "targets.bin", meta_path = fs::path(o_.out_dir) / "targets.json";
  nlohmann::json meta = {{"base_sha256", base_sha256_}, {"prompt_len", o_.prompt_len}, {"gen_len", o_.gen_len},
                         {"min_prompt_len", min_prompt_len()}, {"seed", o_.seed}, {"corpus_tokens", corpus_.size()}};
  std::error_code ec;
  int64_t have = 0;
  if (fs::exists(meta_path, ec)) {
    nlohmann::json old = nlohmann::json::parse(std::ifstream(meta_path), nullptr, false);
    if (old.is_discarded() || !old.is_object()) return Status::Error(meta_path.string() + ": not a JSON object");
    for (const auto& [key, value] : meta.items())
      if (old.value(key, nlohmann::json(nullptr)) != value)
        return Status::Error(meta_path.string() + ": made with " + key + " = " + old.value(key, nlohmann::json()).dump() +
                             ", this run has " + value.dump() + " (another base or settings: use another --out)");
    const auto bytes = fs::exists(bin, ec) ? fs::file_size(bin, ec) : 0;
    have = static_cast<int64_t>(bytes / (sizeof(int32_t) * R));
    if (bytes != have * R * sizeof(int32_t)) fs::resize_file(bin, have * R * sizeof(int32_t), ec);  // a record cut short
  } else {
    fs::remove(bin, ec);
    if (Status s = write_file_atomic(meta_path.string(), meta.dump(2) + "\n"); !s.ok()) return s;
  }
  return have;
}

torch::Tensor HeadsTrainer::generate(int64_t from, int64_t B) {
  const int L = seq_len();
  const int P = min_prompt_len() +
                static_cast<int>(mix(o_.seed + 7 * static_cast<uint64_t>(from)) % (o_.prompt_len - min_prompt_len() + 1));
  auto prompts = torch::empty({B, P}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    auto w = corpus_window(static_cast<uint64_t>(from + b), P);
    for (int t = 0; t < P; ++t) prompts[b][t] = w[t];
  }
  c10::InferenceMode guard;
  MtpModelImpl& m = *base_.model;
  KvCache cache = KvCache::create(m.config(), B, L, torch::kFloat32, device_);
  auto tokens = prompts.to(device_);
  std::vector<torch::Tensor> parts = {tokens};
  auto next = m.forward_next(tokens, 0, cache).select(1, -1).argmax(-1).view({B, 1});
  for (int g = 0; g < o_.gen_len; ++g) {
    parts.push_back(next);
    if (g + 1 == o_.gen_len) break;
    next = m.forward_next(next, P + g, cache).select(1, -1).argmax(-1).view({B, 1});
  }
  parts.insert(parts.begin(), torch::full({B, 1}, P, torch::kLong).to(device_));
  parts.push_back(torch::zeros({B, L - P - o_.gen_len}, torch::kLong).to(device_));
  return torch::cat(parts, 1).to(torch::kCPU, torch::kInt32).contiguous();
}

// Distilled sequences: p corpus tokens (p drawn per batch from
// [min_prompt_len, prompt_len], so the continuations cover the positions
// decoding meets), then the base's greedy continuation. Appended a batch at
// a time, so a stopped run resumes at the last whole record.
Status HeadsTrainer::make_targets() {
  const int R = seq_len() + 1;
  const fs::path bin = fs::path(o_.out_dir) / "targets.bin";
  if (dp_) {
    // Rank 0's targets.bin is the one that counts; the others need no copy.
    Result<int64_t> have = dp_->is_rank0() ? targets_on_disk() : Result<int64_t>(int64_t{0});
    if (Status s = agree(have.ok() ? Status::Ok() : have.status()); !s.ok()) return s;
    return make_targets_sharded(static_cast<int64_t>(dp_->allreduce_max({static_cast<double>(*have)})[0]));
  }
  auto on_disk = targets_on_disk();
  if (!on_disk.ok()) return on_disk.status();
  const int64_t have = *on_disk, want = o_.sequences;
  if (have < want)
    say("targets: " + std::to_string(have) + "/" + std::to_string(want) + " sequences on disk; generating " +
        std::to_string(want - have) + " greedy continuations of " + std::to_string(o_.gen_len) + " tokens");
  std::ofstream out;
  if (have < want) out.open(bin, std::ios::binary | std::ios::app);
  if (have < want && !out) return Status::Error(bin.string() + ": cannot open for writing");
  const auto t0 = Clock::now();
  for (int64_t from = have; from < want; from += o_.generate_batch) {
    const int64_t B = std::min<int64_t>(o_.generate_batch, want - from);
    torch::Tensor seq = generate(from, B);
    out.write(reinterpret_cast<const char*>(seq.data_ptr<int32_t>()), seq.numel() * sizeof(int32_t));
    out.flush();
    if (!out) return Status::Error(bin.string() + ": write failed");
    say("targets: " + std::to_string(from + B) + "/" + std::to_string(want) + " sequences, " +
        fmt("%.0f tokens/s", (from + B - have) * o_.gen_len / std::max(seconds_since(t0), 1e-9)));
  }
  if (out.is_open()) out.close();
  std::ifstream in(bin, std::ios::binary);
  records_.resize(static_cast<size_t>(want) * R);
  in.read(reinterpret_cast<char*>(records_.data()), records_.size() * sizeof(int32_t));
  if (in.gcount() != static_cast<std::streamsize>(records_.size() * sizeof(int32_t)))
    return Status::Error(bin.string() + ": shorter than " + std::to_string(want) + " records");
  return Status::Ok();
}

// Data-parallel targets: the batches after rank 0's `have` records go
// round-robin to the ranks; each appends its batches to its own part file
// (so a stopped job resumes them), one all-reduce of the disjoint rows gives
// every rank every record, and rank 0 alone writes targets.bin.
Status HeadsTrainer::make_targets_sharded(int64_t have) {
  const int R = seq_len() + 1;
  const int64_t want = o_.sequences, G = o_.generate_batch;
  const int W = dp_->world_size(), rank = dp_->rank();
  const fs::path bin = fs::path(o_.out_dir) / "targets.bin";
  const fs::path part = fs::path(o_.out_dir) / ("targets.part-" + std::to_string(rank) + "-of-" + std::to_string(W) +
                                                "-from-" + std::to_string(have) + "-g" + std::to_string(G) + ".bin");
  std::vector<int64_t> mine;  // the first record of each of this rank's batches
  for (int64_t k = rank; have + k * G < want; k += W) mine.push_back(have + k * G);
  auto size_of = [&](int64_t from) { return std::min<int64_t>(G, want - from); };
  std::error_code ec;
  // Whole batches already in this rank's part file (a torn one is cut).
  int64_t done_batches = 0, done_records = 0;
  if (!mine.empty() && fs::exists(part, ec)) {
    const int64_t on_disk = static_cast<int64_t>(fs::file_size(part, ec) / (sizeof(int32_t) * R));
    while (done_batches < static_cast<int64_t>(mine.size()) && done_records + size_of(mine[done_batches]) <= on_disk)
      done_records += size_of(mine[done_batches++]);
    fs::resize_file(part, done_records * R * sizeof(int32_t), ec);
  }
  if (have < want)
    say("targets: " + std::to_string(have) + "/" + std::to_string(want) + " sequences on disk; generating " +
        std::to_string(want - have) + " greedy continuations of " + std::to_string(o_.gen_len) + " tokens on " +
        std::to_string(W) + " ranks");
  if (done_batches < static_cast<int64_t>(mine.size())) {
    std::ofstream out(part, std::ios::binary | std::ios::app);
    if (!out) return Status::Error(part.string() + ": cannot open for writing");
    const auto t0 = Clock::now();
    int64_t made = 0;
    for (size_t k = done_batches; k < mine.size(); ++k) {
      torch::Tensor seq = generate(mine[k], size_of(mine[k]));
      out.write(reinterpret_cast<const char*>(seq.data_ptr<int32_t>()), seq.numel() * sizeof(int32_t));
      out.flush();
      if (!out) return Status::Error(part.string() + ": write failed");
      made += size_of(mine[k]);
      say("targets: rank 0 made " + std::to_string(done_records + made) + " of its sequences, " +
          fmt("%.0f tokens/s", made * o_.gen_len / std::max(seconds_since(t0), 1e-9)));
    }
  }
  auto all = torch::zeros({want, R}, torch::kInt32);
  auto read_rows = [&](const fs::path& path, int64_t records, const std::function<int64_t(int64_t)>& row_of) {
    std::ifstream in(path, std::ios::binary);
    for (int64_t i = 0; i < records; ++i)
      if (!in.read(reinterpret_cast<char*>(all[row_of(i)].data_ptr<int32_t>()), R * sizeof(int32_t)))
        return Status::Error(path.string() + ": shorter than " + std::to_string(records) + " records");
    return Status::Ok();
  };
  Status local = Status::Ok();
  if (dp_->is_rank0() && have > 0) local = read_rows(bin, have, [](int64_t i) { return i; });
  if (local.ok() && !mine.empty()) {
    std::vector<int64_t> rows;
    for (int64_t from : mine)
      for (int64_t i = 0; i < size_of(from); ++i) rows.push_back(from + i);
    local = read_rows(part, static_cast<int64_t>(rows.size()), [&](int64_t i) { return rows[i]; });
  }
  if (Status s = agree(local); !s.ok()) return s;
  dp_->allreduce_sum_inplace(all);
  records_.assign(all.data_ptr<int32_t>(), all.data_ptr<int32_t>() + all.numel());
  if (dp_->is_rank0() && have < want)
    local = write_file_atomic(bin.string(), std::string_view(reinterpret_cast<const char*>(records_.data()),
                                                             records_.size() * sizeof(int32_t)));
  if (Status s = agree(local); !s.ok()) return s;
  if (!mine.empty()) fs::remove(part, ec);
  return Status::Ok();
}

torch::Tensor HeadsTrainer::batch(const std::vector<int64_t>& indices) const {
  const int L = seq_len();
  auto t = torch::empty({static_cast<int64_t>(indices.size()), L}, torch::kLong);
  auto* p = t.data_ptr<int64_t>();
  for (size_t b = 0; b < indices.size(); ++b) {
    if (o_.targets == "distill") {
      std::copy_n(records_.begin() + indices[b] * (L + 1) + 1, L, p + b * L);
    } else {
      auto w = corpus_window(static_cast<uint64_t>(indices[b]) + (uint64_t{1} << 40), L);
      std::copy(w.begin(), w.end(), p + b * L);
    }
  }
  return t.to(device_);
}

// The frozen part exactly as decoding runs it: trunk states and head 1's
// greedy tokens [B, L], from the cache when a record's are there.
std::pair<torch::Tensor, torch::Tensor> HeadsTrainer::frozen(const std::vector<int64_t>& indices,
                                                             const torch::Tensor& tokens) {
  if (disk_cache_) {
    auto [hidden, greedy] = disk_cache_->read(indices);
    return {hidden.to(device_), greedy.to(device_)};
  }
  const bool cached = o_.cache_hidden && o_.targets == "distill";
  std::vector<int64_t> missing;
  for (size_t b = 0; b < indices.size(); ++b)
    if (!cached || !hidden_cache_.count(indices[b])) missing.push_back(static_cast<int64_t>(b));
  frozen_rows_ += static_cast<int64_t>(missing.size());
  if (!missing.empty()) {
    c10::InferenceMode guard;
    auto rows = tokens.index_select(0, torch::tensor(missing, torch::kLong).to(device_));
    auto hidden = model_->trunk(rows);
    auto greedy = model_->head_logits(0, hidden).argmax(-1);
    if (!cached) return {hidden.clone(), greedy.clone()};
    for (size_t m = 0; m < missing.size(); ++m)
      hidden_cache_[indices[missing[m]]] = {hidden[m].clone(), greedy[m].clone()};
  }
  std::vector<torch::Tensor> h, g;
  for (int64_t i : indices) {
    h.push_back(hidden_cache_.at(i).first);
    g.push_back(hidden_cache_.at(i).second);
  }
  // Outside inference mode: normal tensors that autograd may save.
  return {torch::stack(h).clone(), torch::stack(g).clone()};
}

std::pair<std::vector<double>, std::vector<double>> HeadsTrainer::forward(const std::vector<int64_t>& indices,
                                                                          bool train) {
  const int N = model_->config().n_future;
  const torch::Tensor tokens = batch(indices);
  const int64_t L = tokens.size(1);
  auto [hidden, greedy] = frozen(indices, tokens);
  std::vector<double> losses, agreement;
  for (int j = 1; j < N; ++j) {  // 0-based head j: 1-based head j + 1
    // Distill: positions t in [p - 1, p + gen_len - j), target head 1's
    // token at t + j. Corpus windows (L = prompt_len + gen_len + 1): t in
    // [0, L - j - 1), target the token t + j + 1.
    // Each distilled row starts at its own prompt length p: t in [p - 1,
    // p + gen_len - j), the same count for every row.
    const bool distill = o_.targets == "distill";
    const int64_t count = distill ? o_.gen_len - j + 1 : L - j - 1;
    auto rows = [&](const torch::Tensor& x, int64_t shift) {
      if (!distill) return x.narrow(1, shift, count);
      std::vector<torch::Tensor> parts;
      for (size_t b = 0; b < indices.size(); ++b)
        parts.push_back(x[b].narrow(0, record_prompt_len(indices[b]) - 1 + shift, count));
      return torch::stack(parts);
    };
    const torch::Tensor target = distill ? rows(greedy, j) : tokens.narrow(1, j + 1, count);
    // A transformer head attends over the whole sequence from position 0; an
    // MLP head's rows are independent, so only the rows with a target run.
    torch::Tensor states = model_->config().head_kind == HeadKind::kTransformer
                               ? rows(model_->head_states(j, hidden), 0)
                               : model_->head_states(j, rows(hidden, 0));
    auto logits = model_->logits(states);
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), target.reshape({-1}));
    if (train) loss.backward();
    losses.push_back(loss.item<double>());
    agreement.push_back(logits.detach().argmax(-1).eq(target).to(torch::kFloat32).mean().item<double>());
  }
  return {losses, agreement};
}

// Held out: every 10th distilled sequence (or corpus windows of their own keys).
std::pair<std::vector<double>, std::vector<double>> HeadsTrainer::evaluate() {
  torch::NoGradGuard no_grad;
  const int N = model_->config().n_future;
  std::vector<std::vector<int64_t>> batches;
  for (int k = 0; k < o_.eval_batches; ++k) {
    std::vector<int64_t> idx;
    for (int b = 0; b < o_.batch_size; ++b) {
      const int64_t i = static_cast<int64_t>(k * o_.batch_size + b) * 10 + 9;
      if (o_.targets == "distill" && i >= o_.sequences) break;
      idx.push_back(o_.targets == "distill" ? i : (int64_t{1} << 30) + i);
    }
    if (idx.empty()) break;
    batches.push_back(idx);
  }
  // Losses then agreements; data-parallel ranks split the batches and sum.
  std::vector<double> sums(2 * (N - 1), 0.0);
  for (size_t k = dp_ ? dp_->rank() : 0; k < batches.size(); k += world_size()) {
    auto [l, a] = forward(batches[k], false);
    for (int j = 0; j < N - 1; ++j) sums[j] += l[j], sums[N - 1 + j] += a[j];
  }
  if (dp_) sums = dp_->allreduce_sum(sums);
  std::vector<double> loss(N - 1, 0.0), agree(N - 1, 0.0);
  for (int j = 0; j < N - 1 && !batches.empty(); ++j)
    loss[j] = sums[j] / batches.size(), agree[j] = sums[N - 1 + j] / batches.size();
  return {loss, agree};
}

double HeadsTrainer::lr_at(int64_t step) const {
  if (step < o_.warmup_steps) return o_.lr * static_cast<double>(step + 1) / o_.warmup_steps;
  const double span = std::max<int64_t>(1, o_.steps - o_.warmup_steps);
  const double progress = std::min(1.0, (step - o_.warmup_steps) / span);
  const double floor = o_.lr * o_.min_lr_ratio;
  return floor + (o_.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

Status HeadsTrainer::save(int64_t step) {
  const std::string target = (fs::path(o_.out_dir) / "heads").string();
  const std::string staging = target + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  if (!fs::create_directories(staging, ec)) return Status::Error(staging + ": cannot create: " + ec.message());
  auto fail = [&](Status s) {
    fs::remove_all(staging, ec);
    return s.wrap("heads checkpoint at step " + std::to_string(step) + " not written");
  };
  nlohmann::json provenance = {{"trained_by", "mtpc train heads"}, {"targets", o_.targets},
                               {"step", step},                     {"sequences", o_.sequences},
                               {"prompt_len", o_.prompt_len},      {"gen_len", o_.gen_len}, {"min_prompt_len", min_prompt_len()},
                               {"lr", o_.lr},                      {"batch_size", o_.batch_size},
                               {"seed", o_.seed},                  {"data_dir", fs::absolute(o_.data_dir).string()}};
  // staging and target are siblings: the base's relative path is the same from either.
  if (Status s = write_heads_files(staging, *model_, o_.base_dir, base_sha256_, provenance); !s.ok()) return fail(s);
  if (Status s = write_tensors((fs::path(staging) / "optimizer.safetensors").string(), optimizer_->state(), DType::F32);
      !s.ok())
    return fail(s);
  nlohmann::json state = {
      {"step", step}, {"optimizer_steps", optimizer_->steps_taken()}, {"steps", o_.steps}, {"world_size", world_size()}};
  if (Status s = write_file_atomic((fs::path(staging) / "trainer_state.json").string(), state.dump(2)); !s.ok())
    return fail(s);
  if (Status s = publish_directory(staging, target); !s.ok()) return fail(s);
  return Status::Ok();
}

Status HeadsTrainer::restore() {
  const fs::path dir = fs::path(o_.out_dir) / "heads";
  auto loaded = load_heads_model(dir.string(), torch::kCPU, LoadOptions{});
  if (!loaded.ok()) return loaded.status();
  const ModelConfig& c = loaded->model->config();
  if (c.n_future != o_.n_future || c.head_kind != o_.head_kind)
    return Status::Error(dir.string() + ": holds " + std::to_string(c.n_future) + " " + head_kind_name(c.head_kind) +
                         " heads; this run asks for " + std::to_string(o_.n_future) + " " +
                         head_kind_name(o_.head_kind));
  {
    torch::NoGradGuard no_grad;
    auto from = new_head_parameters(*loaded->model);
    auto to = new_head_parameters(*model_);
    for (size_t i = 0; i < to.size(); ++i) to[i].second.copy_(from[i].second);
  }
  const std::string state_path = (dir / "trainer_state.json").string();
  nlohmann::json state = nlohmann::json::parse(std::ifstream(state_path), nullptr, false);
  if (!state.is_object() || !state.contains("step") || !state["step"].is_number_integer() ||
      !state.contains("optimizer_steps") || !state["optimizer_steps"].is_number_integer())
    return Status::Error(state_path + ": missing or malformed (needs step, optimizer_steps)");
  // The global batch is what the schedule was tuned for; another world size
  // is refused rather than silently re-sharded (as `mtpc train` does).
  const int64_t written_by = state.value("world_size", int64_t{1});
  if (written_by != world_size())
    return Status::Error(dir.string() + " was written by a run of world size " + std::to_string(written_by) +
                         "; this run has world size " + std::to_string(world_size()) + ": resume with " +
                         std::to_string(written_by) + " rank(s)");
  auto moments = read_tensors_checked((dir / "optimizer.safetensors").string(), optimizer_->state_shapes());
  if (!moments.ok()) return moments.status();
  for (auto& [name, t] : *moments) t = t.to(device_);
  optimizer_->load_state(*moments, state["optimizer_steps"].get<int64_t>());
  start_step_ = state["step"].get<int64_t>();
  return Status::Ok();
}

Status HeadsTrainer::agree(Status local) {
  if (!dp_) return local;
  const int W = dp_->world_size();
  // The lowest failing rank: the maximum of W - rank over the ranks that failed.
  const double v = dp_->allreduce_max({local.ok() ? 0.0 : static_cast<double>(W - dp_->rank())})[0];
  if (!local.ok()) return local;
  if (v > 0)
    return Status::Error("rank " + std::to_string(W - static_cast<int>(v)) +
                         " stopped with an error (its message says why); rank " + std::to_string(dp_->rank()) +
                         " stops too");
  return Status::Ok();
}

// Rank 0 (or the only process) reads OUT/heads; the others take its heads,
// optimizer state and step, so only rank 0 needs the checkpoint on disk.
Status HeadsTrainer::restore_and_share(bool have_heads) {
  Status local = Status::Ok();
  if (have_heads && writes_outputs()) local = restore();
  if (!dp_) return local;
  if (Status s = agree(local); !s.ok()) return s;
  const auto v = dp_->allreduce_max({static_cast<double>(start_step_), static_cast<double>(optimizer_->steps_taken())});
  start_step_ = static_cast<int64_t>(v[0]);
  std::vector<torch::Tensor> shared;
  for (auto& [name, p] : new_head_parameters(*model_)) shared.push_back(p);
  auto state = optimizer_->state();
  for (auto& [name, t] : state) shared.push_back(t);
  dp_->broadcast(shared);
  if (!dp_->is_rank0())
    optimizer_->load_state(std::map<std::string, torch::Tensor>(state.begin(), state.end()), static_cast<int64_t>(v[1]));
  return Status::Ok();
}

Status HeadsTrainer::open_disk_cache(HeadsTrainSummary& summary) {
  const int dim = model_->config().dim;
  const HiddenCacheKey key{base_sha256_, sha256_hex(records_.data(), records_.size() * sizeof(int32_t)), o_.sequences,
                           seq_len(), dim};
  const std::string path = (fs::path(o_.cache_dir) / HiddenStateCache::file_name(key)).string();
  const double mb = HiddenStateCache::record_bytes(seq_len(), dim) * static_cast<double>(o_.sequences) / (1 << 20);
  std::optional<HiddenStateCache> cache;
  Status local = Status::Ok();
  if (writes_outputs()) {
    auto existing = HiddenStateCache::open(path, key);
    if (existing.ok()) {
      cache.emplace(std::move(*existing));
    } else {
      std::error_code ec;
      say("hidden cache: " + (fs::exists(path, ec) ? existing.status().message() + "; rebuilding it" : "building " + path) +
          " (" + std::to_string(o_.sequences) + " sequences x " + std::to_string(seq_len()) + " x " + std::to_string(dim) +
          " x 4 bytes: " + fmt("%.1f MiB)", mb));
      local = HiddenStateCache::build(path, key, o_.batch_size, [&](int64_t begin, int64_t count) {
        std::vector<int64_t> idx(count);
        for (int64_t i = 0; i < count; ++i) idx[i] = begin + i;
        const torch::Tensor tokens = batch(idx);
        c10::InferenceMode guard;
        auto hidden = model_->trunk(tokens);
        auto greedy = model_->head_logits(0, hidden).argmax(-1);
        frozen_rows_ += count;
        return std::make_pair(hidden.cpu(), greedy.cpu());
      });
      summary.hidden_cache_built = local.ok();
    }
  }
  if (Status s = agree(local.wrap("--cache-dir")); !s.ok()) return s;
  if (!cache) {
    auto opened = HiddenStateCache::open(path, key);
    local = opened.ok() ? Status::Ok() : opened.status().wrap("--cache-dir (every rank must see the directory)");
    if (opened.ok()) cache.emplace(std::move(*opened));
  }
  if (Status s = agree(local); !s.ok()) return s;
  disk_cache_.emplace(std::move(*cache));
  summary.hidden_cache = path;
  say("hidden cache: reading " + path + fmt(" (%.1f MiB)", mb));
  return Status::Ok();
}

// Everything every rank loads for itself: the base, its tokenizer, the corpus.
Status HeadsTrainer::load_inputs() {
  auto sum = base_checksum(o_.base_dir);
  if (!sum.ok()) return sum.status().wrap("--base");
  base_sha256_ = *sum;
  auto loaded = load_model(o_.base_dir, device_, LoadOptions{});
  if (!loaded.ok()) return loaded.status().wrap("--base");
  base_ = std::move(*loaded);
  base_.model->eval();
  const ModelConfig& bc = base_.model->config();
  if (bc.tokenizer != "byte") {
    tokenizer_ = base_.tokenizer;
    if (!tokenizer_) {
      auto tok = load_model_tokenizer(o_.base_dir);
      if (!tok.ok()) return tok.status().wrap("--base");
      tokenizer_ = *tok;
    }
  }
  if (seq_len() > bc.max_seq_len)
    return Status::Error("--prompt-len + --gen-len = " + std::to_string(seq_len()) + " exceeds the base's context of " +
                         std::to_string(bc.max_seq_len) + " tokens");
  auto config = retrofit_config(bc, o_.n_future, o_.head_kind);
  if (!config.ok()) return config.status().wrap("--head-kind/--n-future");
  config_ = *config;
  if (Status s = load_corpus(); !s.ok()) return s.wrap("--data");
  std::error_code ec;
  if (!fs::create_directories(o_.out_dir, ec) && ec) return Status::Error(o_.out_dir + ": cannot create: " + ec.message());
  return Status::Ok();
}

Result<HeadsTrainSummary> HeadsTrainer::run() {
  if (Status s = check_options(); !s.ok()) return s;
  if (o_.dist.enabled) {
    auto dp = DataParallel::connect(o_.dist, o_.dist_timeouts, device_.is_cuda());
    if (!dp.ok()) return dp.status();
    dp_ = std::move(*dp);
    if (auto shard = dp_->shard(o_.batch_size); !shard.ok()) return shard.status().wrap("--batch-size");
  }
  std::error_code ec;
  const fs::path heads_dir = fs::path(o_.out_dir) / "heads";
  const bool have_heads = writes_outputs() && fs::exists(heads_dir, ec);
  if (Status s = agree(have_heads && !o_.resume ? Status::Error(heads_dir.string() +
                                                                " exists: pass --resume to continue it, or choose another --out")
                                                : Status::Ok());
      !s.ok())
    return s;
  if (Status s = agree(load_inputs()); !s.ok()) return s;

  torch::manual_seed(o_.seed);
  auto model = retrofit_model(*base_.model, config_);
  if (!model.ok()) return model.status();
  model_ = *model;
  model_->to(device_);
  model_->train();
  // Frozen: only the new heads take gradients.
  for (auto& p : model_->parameters()) p.requires_grad_(false);
  auto trained = new_head_parameters(*model_);
  for (auto& [name, p] : trained) p.requires_grad_(true);
  optimizer_ = std::make_unique<AdamW>(trained, AdamW::Options{0.9, 0.95, 1e-8, o_.weight_decay});
  const bool resuming = o_.resume && (dp_ ? dp_->allreduce_max({have_heads ? 1.0 : 0.0})[0] > 0 : have_heads);
  if (Status s = restore_and_share(resuming); !s.ok()) return s.wrap("--resume");
  if (resuming) say("resumed at step " + std::to_string(start_step_) + " from " + heads_dir.string());
  if (o_.targets == "distill")
    if (Status s = make_targets(); !s.ok()) return s;

  HeadsTrainSummary summary;
  if (!o_.cache_dir.empty())
    if (Status s = open_disk_cache(summary); !s.ok()) return s;
  std::ofstream log;
  if (writes_outputs()) {
    log.open(fs::path(o_.out_dir) / "train.jsonl", std::ios::app);
    if (!log) return Status::Error(o_.out_dir + "/train.jsonl: cannot open for writing");
  }
  summary.target_sequences = o_.targets == "distill" ? o_.sequences : 0;
  summary.heads_dir = heads_dir.string();
  const int64_t train_count = o_.sequences - o_.sequences / 10;  // training records: index % 10 != 9
  const int shard_begin = dp_ ? dp_->shard(o_.batch_size)->begin : 0;
  const int shard_end = dp_ ? dp_->shard(o_.batch_size)->end : o_.batch_size;
  const auto t0 = Clock::now();
  auto per_head = [](const std::vector<double>& v) {
    std::string s;
    for (size_t j = 0; j < v.size(); ++j) s += (j ? " " : "") + fmt("%.3f", v[j]);
    return s;
  };
  {
    auto [el, ea] = evaluate();
    summary.start_eval_loss = el, summary.start_eval_agreement = ea;
    say("eval step " + std::to_string(start_step_) + " loss " + per_head(el) + " agree " + per_head(ea));
  }
  for (int64_t step = start_step_; step < o_.steps; ++step) {
    // The global batch; this rank trains on its rows [shard_begin, shard_end).
    std::vector<int64_t> idx;
    for (int b = 0; b < o_.batch_size; ++b) {
      uint64_t r = mix(o_.seed * 31 + static_cast<uint64_t>(step * o_.batch_size + b));
      if (o_.targets == "distill") {
        int64_t k = static_cast<int64_t>(r % train_count);
        idx.push_back(k + k / 9);  // the k-th index with index % 10 != 9
      } else {
        idx.push_back(static_cast<int64_t>(r % (uint64_t{1} << 30)));
      }
    }
    const double lr = lr_at(step);
    auto [loss, agreement] = forward(std::vector<int64_t>(idx.begin() + shard_begin, idx.begin() + shard_end), true);
    std::vector<torch::Tensor> grads;
    for (auto& [name, p] : trained) grads.push_back(p);
    if (dp_) {
      // Each rank's loss is the mean over its rows, equal in number: the
      // mean of the ranks' gradients is the global batch's.
      dp_->allreduce_gradients(grads);
      std::vector<double> v = loss;
      v.insert(v.end(), agreement.begin(), agreement.end());
      v = dp_->allreduce_sum(v);
      for (size_t j = 0; j < loss.size(); ++j)
        loss[j] = v[j] / world_size(), agreement[j] = v[loss.size() + j] / world_size();
    }
    if (o_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(grads, o_.grad_clip);
    optimizer_->step(lr);
    optimizer_->zero_grad();
    if (summary.first_loss.empty()) summary.first_loss = loss;
    summary.last_loss = loss;
    const int64_t done = step + 1;
    if (done % o_.log_every == 0 || done == o_.steps) {
      say("step " + std::to_string(done) + "/" + std::to_string(o_.steps) + " lr " + fmt("%.2e", lr) + " loss " +
          per_head(loss) + " agree " + per_head(agreement) + " " +
          fmt("%.1f steps/s", (done - start_step_) / seconds_since(t0)));
      if (log.is_open())
        log << nlohmann::json{{"step", done}, {"lr", lr}, {"loss", loss}, {"agreement", agreement}}.dump() << "\n"
            << std::flush;
    }
    const bool last = done == o_.steps;
    if ((o_.eval_every > 0 && done % o_.eval_every == 0) || last) {
      auto [el, ea] = evaluate();
      summary.eval_loss = el, summary.eval_agreement = ea;
      say("eval step " + std::to_string(done) + " loss " + per_head(el) + " agree " + per_head(ea));
      if (log.is_open())
        log << nlohmann::json{{"step", done}, {"eval_loss", el}, {"eval_agreement", ea}}.dump() << "\n" << std::flush;
    }
    if ((o_.checkpoint_every > 0 && done % o_.checkpoint_every == 0) || last)
      if (Status s = agree(writes_outputs() ? save(done) : Status::Ok()); !s.ok()) return s;
  }
  if (start_step_ >= o_.steps) {
    auto [el, ea] = evaluate();
    summary.eval_loss = el, summary.eval_agreement = ea;
  }
  summary.final_step = std::max(start_step_, o_.steps);
  summary.frozen_rows = frozen_rows_;
  return summary;
}

}  // namespace

Result<HeadsTrainSummary> train_heads(const HeadsTrainOptions& options) {
  try {
    return HeadsTrainer(options).run();
  } catch (const std::exception& e) {
    return Status::Error(std::string("mtpc train heads: ") + e.what());
  }
}

}  // namespace mtpc
