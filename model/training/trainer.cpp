#include "model/training/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/atomic_file.h"
#include "model/checkpoint/checkpoint.h"
#include "model/corpus/corpus.h"
#include "model/network/network.h"
#include "model/tokenizer/tokenizer.h"
#include "model/training/adamw.h"
#include "model/training/autocast.h"
#include "model/training/distributed.h"
#include "model/training/mtp_loss.h"
#include "model/training/train_data.h"
#include "model/training/train_step.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace mtpc {
namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

// Installs SIGINT/SIGTERM handlers for the scope of a training run.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  int pending() const { return g_stop_signal.load(); }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

double learning_rate(const TrainConfig& t, int64_t step) {  // step: 0-based
  if (step < t.warmup_steps) return t.lr * static_cast<double>(step + 1) / t.warmup_steps;
  const double span = std::max<int64_t>(1, t.steps - t.warmup_steps);
  const double progress = std::min(1.0, (step - t.warmup_steps) / span);
  const double floor = t.lr * t.min_lr_ratio;
  return floor + (t.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::string format_duration(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

torch::Tensor batch_tensor(const std::vector<std::vector<int64_t>>& rows, torch::Device device) {
  const int64_t B = rows.size(), L = rows[0].size();
  auto t = torch::empty({B, L}, torch::kLong);
  auto* p = t.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) std::copy(rows[b].begin(), rows[b].end(), p + b * L);
  return t.to(device);
}

class Trainer {
 public:
  Trainer(const TrainOptions& o) : o_(o), device_(o.device == "cuda" ? torch::kCUDA : torch::kCPU) {}

  Result<TrainSummary> run();

 private:
  // Rank 0 speaks for a data-parallel run; the others are quiet.
  void say(const std::string& line) const {
    if (dp_ && !dp_->is_rank0()) return;
    if (o_.progress) o_.progress(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  }
  Status load_data();
  Status restore(const std::string& ckpt_dir);
  Status save_checkpoint(int64_t step);
  Status agree_on_start(bool have_ckpt);
  Status append_log(const nlohmann::json& record);
  Status truncate_log_after(int64_t step);
  MtpLoss train_step(int64_t step, double lr);
  std::vector<double> validate();
  nlohmann::json provenance(int64_t step) const;
  // --init: copies `dir`'s weights into model_ (same shapes), sets init_.
  Status init_from(const std::string& dir);
  nlohmann::json init_;  // provenance "init": {"dir", "provenance"} (null: random start)

  TrainOptions o_;
  RunConfig run_;
  torch::Device device_;
  MtpModel model_{nullptr};
  std::unique_ptr<AdamW> optimizer_;
  std::optional<WindowSampler> train_data_, val_data_;
  int64_t start_step_ = 0;  // steps already done
  std::ofstream log_;
  std::unique_ptr<DataParallel> dp_;  // null: a single-process run
  int world_size() const { return dp_ ? dp_->world_size() : 1; }
  bool writes_outputs() const { return !dp_ || dp_->is_rank0(); }
};

Status Trainer::load_data() {
  ByteTokenizer tok;
  const int64_t window = run_.train.seq_len + run_.model.n_future;
  for (auto [name, slot] : {std::pair{"train.bin", &train_data_}, {"val.bin", &val_data_}}) {
    const std::string path = (fs::path(o_.data_dir) / name).string();
    std::error_code ec;
    if (slot == &val_data_ && (!fs::exists(path, ec) || fs::file_size(path, ec) == 0)) {
      // Small corpora can have no validation file at all (split by hash).
      say(path + " is missing or empty: training without validation");
      continue;
    }
    auto tokens = read_token_file(path);
    if (!tokens.ok()) return tokens.status();
    for (uint16_t id : *tokens)
      if (id >= run_.model.vocab_size)
        return Status::Error(path + ": token id " + std::to_string(id) + " >= vocab_size " +
                             std::to_string(run_.model.vocab_size));
    auto s = WindowSampler::create(std::move(*tokens), window, run_.train.seed,
                                   std::string(name) == "train.bin" ? run_.train.fim_rate : 0.0,
                                   tok.specials(), path, run_.model.fim,
                                   std::string(name) == "train.bin" ? run_.train.fim_line_rate : 0.0,
                                   /*newline=*/'\n');
    if (!s.ok() && slot == &val_data_) {
      say(s.status().message() + ": training without validation");
      continue;
    }
    if (!s.ok()) return s.status();
    slot->emplace(std::move(*s));
  }
  return Status::Ok();
}

nlohmann::json Trainer::provenance(int64_t step) const {
  // The corpus manifest's checksums identify the data, wherever it moves.
  nlohmann::json data_sha256 = nullptr;
  std::ifstream manifest(fs::path(o_.data_dir) / "manifest.json");
  auto m = nlohmann::json::parse(manifest, nullptr, false);
  if (manifest && m.is_object() && m.contains("train") && m["train"].is_object())
    data_sha256 = m["train"].value("sha256", nlohmann::json(nullptr));
  nlohmann::json p = {{"trained_by", "mtpc train"},
          {"train_bin_sha256", data_sha256},
          {"step", step},
          {"tokens_seen", step * run_.train.batch_size * run_.train.accum_steps * run_.train.seq_len},
          {"world_size", world_size()},
          {"data_dir", fs::absolute(o_.data_dir).string()},
          {"train_tokens", train_data_->token_count()},
          {"train", train_config_to_json(run_.train)}};
  if (!init_.is_null()) p["init"] = init_;
  return p;
}

Status Trainer::save_checkpoint(int64_t step) {
  const std::string target = (fs::path(o_.out_dir) / "checkpoint").string();
  const std::string staging = target + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  if (!fs::create_directories(staging, ec))
    return Status::Error(staging + ": cannot create: " + ec.message());
  auto fail = [&](Status s) {
    fs::remove_all(staging, ec);
    return s.wrap("checkpoint at step " + std::to_string(step) + " not written");
  };
  if (Status s = write_model_files(staging, *model_, provenance(step)); !s.ok()) return fail(s);
  if (Status s = write_tensors((fs::path(staging) / "optimizer.safetensors").string(),
                               optimizer_->state(), DType::F32);
      !s.ok())
    return fail(s);
  nlohmann::json state = {{"step", step},
                          {"optimizer_steps", optimizer_->steps_taken()},
                          {"world_size", world_size()},
                          {"train", train_config_to_json(run_.train)}};
  if (Status s = write_file_atomic((fs::path(staging) / "trainer_state.json").string(), state.dump(2));
      !s.ok())
    return fail(s);
  if (Status s = publish_directory(staging, target); !s.ok()) return fail(s);
  return Status::Ok();
}

Status Trainer::init_from(const std::string& dir) {
  auto loaded = load_model(dir, torch::kCPU, LoadOptions{/*max_context=*/0});
  if (!loaded.ok()) return loaded.status();
  ModelConfig theirs = loaded->model->config();
  theirs.fim = run_.model.fim;  // a run may change the FIM layout
  // ... and keep fewer heads: heads 1..n of a model with more (a next-token
  // trunk continued from a multi-token one; retrofit drafting heads after).
  const int their_heads = theirs.n_future;
  if (run_.model.n_future < their_heads) theirs.n_future = run_.model.n_future;
  const nlohmann::json a = model_config_to_json(theirs), b = model_config_to_json(run_.model);
  if (a != b) {
    std::string diff;
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key()) || a[it.key()] != it.value())
        diff += (diff.empty() ? "" : ", ") + it.key() + " " + (a.contains(it.key()) ? a[it.key()].dump() : "absent") +
                " there, " + it.value().dump() + " here";
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key())) diff += (diff.empty() ? "" : ", ") + it.key() + " " + it.value().dump() + " there, absent here";
    return Status::Error(dir + ": its model differs from this run's: " + diff);
  }
  auto source = loaded->model->named_parameters(/*recurse=*/true);
  torch::NoGradGuard no_grad;
  for (auto& p : model_->named_parameters(/*recurse=*/true)) {
    const torch::Tensor* from = source.find(p.key());
    if (!from || from->sizes() != p.value().sizes())
      return Status::Error(dir + ": no parameter " + p.key() + " of shape " + c10::str(p.value().sizes()));
    p.value().copy_(*from);
  }
  init_ = {{"dir", fs::absolute(dir).string()}, {"provenance", loaded->provenance}};
  if (their_heads != run_.model.n_future) init_["n_future"] = their_heads;
  say("starting from the weights of " + dir +
      (their_heads != run_.model.n_future
           ? " (heads 1-" + std::to_string(run_.model.n_future) + " of its " + std::to_string(their_heads) + ")"
           : std::string()));
  return Status::Ok();
}

Status Trainer::restore(const std::string& ckpt_dir) {
  auto loaded = load_model(ckpt_dir, torch::kCPU);
  if (!loaded.ok()) return loaded.status();
  const std::string state_path = (fs::path(ckpt_dir) / "trainer_state.json").string();
  std::ifstream in(state_path);
  nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
  if (!in || state.is_discarded() || !state.is_object() || !state.contains("step") ||
      !state["step"].is_number_integer() || !state.contains("train") ||
      !state.contains("optimizer_steps"))
    return Status::Error(state_path + ": missing or malformed (needs step, optimizer_steps, train)");
  auto train = train_config_from_json(state["train"], state_path);
  if (!train.ok()) return train.status();
  // The global batch is what the checkpoint's schedule was tuned for; a
  // different world size is refused rather than silently re-sharded.
  const int64_t written_by = state.value("world_size", int64_t{1});
  if (written_by != world_size())
    return Status::Error(ckpt_dir + " was written by a run of world size " + std::to_string(written_by) +
                         "; this run has world size " + std::to_string(world_size()) +
                         ": resume with " + std::to_string(written_by) + " rank(s)");
  run_.model = loaded->model->config();
  run_.train = *train;
  init_ = loaded->provenance.is_object() ? loaded->provenance.value("init", nlohmann::json(nullptr)) : nlohmann::json();
  if (o_.steps_override) run_.train.steps = *o_.steps_override;
  model_ = loaded->model;
  model_->to(device_);
  optimizer_ = std::make_unique<AdamW>(
      named_parameters_sorted(*model_),
      AdamW::Options{run_.train.beta1, run_.train.beta2, run_.train.adam_eps, run_.train.weight_decay});
  auto moments = read_tensors_checked((fs::path(ckpt_dir) / "optimizer.safetensors").string(),
                                      optimizer_->state_shapes());
  if (!moments.ok()) return moments.status();
  for (auto& [name, t] : *moments) t = t.to(device_);
  optimizer_->load_state(*moments, state["optimizer_steps"].get<int64_t>());
  start_step_ = state["step"].get<int64_t>();
  return Status::Ok();
}

Status Trainer::append_log(const nlohmann::json& record) {
  if (!writes_outputs()) return Status::Ok();
  log_ << record.dump() << "\n";
  log_.flush();
  if (!log_) return Status::Error((fs::path(o_.out_dir) / "train.jsonl").string() + ": write failed");
  return Status::Ok();
}

// The log keeps only what the checkpoint vouches for, so after a resume it
// reads as if the run had never stopped.
Status Trainer::truncate_log_after(int64_t step) {
  const std::string path = (fs::path(o_.out_dir) / "train.jsonl").string();
  std::ifstream in(path);
  if (!in) return Status::Ok();
  std::string kept, line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut short by the kill
    if (j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  return write_file_atomic(path, kept);
}

MtpLoss Trainer::train_step(int64_t step, double lr) {
  const auto& t = run_.train;
  // batch_size is the global batch; a data-parallel rank takes its own rows
  // of it, so the ranks together see the windows one process would.
  const int begin = dp_ ? dp_->shard(t.batch_size)->begin : 0;
  const int end = dp_ ? dp_->shard(t.batch_size)->end : t.batch_size;
  std::function<void()> reduce;
  if (dp_) reduce = [&] { dp_->allreduce_gradients(model_->parameters()); };
  return optimizer_step(
      *model_, *optimizer_, t, lr, device_.is_cuda(),
      [&](int a) {
        std::vector<std::vector<int64_t>> rows;
        for (int b = begin; b < end; ++b)
          rows.push_back(train_data_->sample(static_cast<uint64_t>((step * t.accum_steps + a) * t.batch_size + b)));
        return batch_tensor(rows, device_);
      },
      reduce);
}

std::vector<double> Trainer::validate() {
  const auto& t = run_.train;
  std::vector<double> per_head(run_.model.n_future, 0.0);
  const int64_t batches =
      std::max<int64_t>(1, std::min<int64_t>(t.eval_batches, val_data_->sequential_count() / t.batch_size));
  // Ranks split the validation batches and sum their shares.
  for (int64_t k = dp_ ? dp_->rank() : 0; k < batches; k += world_size()) {
    std::vector<std::vector<int64_t>> rows;
    for (int b = 0; b < t.batch_size; ++b) rows.push_back(val_data_->sequential(k * t.batch_size + b));
    AutocastScope autocast(t.bf16, device_.is_cuda());
    MtpLoss l = mtp_loss_eval(*model_, batch_tensor(rows, device_));
    for (size_t h = 0; h < per_head.size(); ++h) per_head[h] += l.per_head[h] / batches;
  }
  return dp_ ? dp_->allreduce_sum(per_head) : per_head;
}

// Every rank reads the checkpoint from its own --out; they must all see one,
// or none (a rank on another machine without a copy would start afresh).
Status Trainer::agree_on_start(bool have_ckpt) {
  if (!dp_) return Status::Ok();
  const double h = have_ckpt ? 1 : 0;
  auto m = dp_->allreduce_max({h, -h});
  if (m[0] != -m[1])
    return Status::Error("some ranks find a checkpoint in their --out and some do not (rank " +
                         std::to_string(dp_->rank()) + (have_ckpt ? " does" : " does not") +
                         "): every rank reads OUT/checkpoint, so share OUT or copy it to every machine");
  return Status::Ok();
}

Result<TrainSummary> Trainer::run() {
  run_ = o_.run;
  if (o_.dist.enabled) {
    auto dp = DataParallel::connect(o_.dist, o_.dist_timeouts, device_.is_cuda());
    if (!dp.ok()) return dp.status();
    dp_ = std::move(*dp);
  }
  const std::string ckpt_dir = (fs::path(o_.out_dir) / "checkpoint").string();
  std::error_code ec;
  const bool have_ckpt = fs::exists(fs::path(ckpt_dir) / "config.json", ec);
  if (Status s = agree_on_start(have_ckpt); !s.ok()) return s;
  if (have_ckpt && !o_.resume)
    return Status::Error(o_.out_dir + " already holds a checkpoint; pass --resume to continue it, "
                         "or choose another --out");
  fs::create_directories(o_.out_dir, ec);
  if (!fs::is_directory(o_.out_dir)) return Status::Error(o_.out_dir + ": cannot create output directory");

  if (have_ckpt) {
    if (Status s = restore(ckpt_dir); !s.ok()) return s.wrap("--resume");
  } else {
    if (o_.resume) say("no checkpoint in " + o_.out_dir + "; starting at step 0");
    if (Status s = run_.model.validate(); !s.ok()) return s;
    torch::manual_seed(run_.train.seed);
    model_ = MtpModel(run_.model);
    if (!o_.init_dir.empty())
      if (Status s = init_from(o_.init_dir); !s.ok()) return s.wrap("--init");
    model_->to(device_);
    optimizer_ = std::make_unique<AdamW>(
        named_parameters_sorted(*model_),
        AdamW::Options{run_.train.beta1, run_.train.beta2, run_.train.adam_eps, run_.train.weight_decay});
  }
  if (Status s = run_.train.validate(run_.model); !s.ok()) return s;
  if (dp_) {
    if (auto shard = dp_->shard(run_.train.batch_size); !shard.ok()) return shard.status();
    // Every rank starts from rank 0's weights at rank 0's step.
    auto steps = dp_->allreduce_max({static_cast<double>(start_step_), -static_cast<double>(start_step_)});
    if (steps[0] != -steps[1])
      return Status::Error("the ranks' checkpoints disagree: steps " + std::to_string(-steps[1]) + " to " +
                           std::to_string(steps[0]) + " (every rank must resume the same checkpoint)");
    dp_->broadcast(model_->parameters());
  }
  if (Status s = load_data(); !s.ok()) return s;
  if (writes_outputs()) {
    if (Status s = truncate_log_after(start_step_); !s.ok()) return s;
    log_.open(fs::path(o_.out_dir) / "train.jsonl", std::ios::app);
    if (!log_) return Status::Error(o_.out_dir + "/train.jsonl: cannot open for writing");
  }

  const auto& t = run_.train;
  TrainSummary summary;
  summary.final_step = start_step_;
  say("training " + std::to_string(run_.model.parameter_count()) + " parameters, n_future=" +
      std::to_string(run_.model.n_future) + " (" + head_kind_name(run_.model.head_kind) +
      " heads), steps " + std::to_string(start_step_) + " -> " + std::to_string(t.steps) + ", " +
      std::to_string(train_data_->token_count()) + " train tokens");

  StopSignals signals;
  const int64_t tokens_per_step = static_cast<int64_t>(t.batch_size) * t.accum_steps * t.seq_len;
  const auto started = Clock::now();
  auto window_start = started;
  int64_t window_steps = 0;
  for (int64_t step = start_step_; step < t.steps; ++step) {
    const double lr = learning_rate(t, step);
    MtpLoss loss = train_step(step, lr);
    int sig = signals.pending();
    if (dp_) {
      // The logged loss is the global batch's; a stop on any rank stops all.
      std::vector<double> v = loss.per_head;
      v.push_back(loss.total);
      v.push_back(sig != 0 ? 1.0 : 0.0);
      v = dp_->allreduce_sum(v);
      for (size_t h = 0; h < loss.per_head.size(); ++h) loss.per_head[h] = v[h] / world_size();
      loss.total = v[loss.per_head.size()] / world_size();
      if (sig == 0 && v.back() > 0) sig = SIGTERM;
    }
    summary.final_step = step + 1;
    summary.last_loss = loss.per_head;
    ++window_steps;
    if (!std::isfinite(loss.total))
      return Status::Error("loss became " + std::to_string(loss.total) + " at step " +
                           std::to_string(step + 1) + "; lower lr (now " + std::to_string(t.lr) +
                           ") or check the data. Last checkpoint: " + ckpt_dir);
    const int64_t done = step + 1;
    if (done % t.log_every == 0 || done == t.steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double tps = window_steps * tokens_per_step / std::max(secs, 1e-9);
      const double total_secs = std::chrono::duration<double>(Clock::now() - started).count();
      const double eta = total_secs / (done - start_step_) * (t.steps - done);
      std::ostringstream line;
      line.precision(4);
      line << "step " << done << "/" << t.steps << " loss " << loss.total << " [";
      for (size_t h = 0; h < loss.per_head.size(); ++h) line << (h ? " " : "") << loss.per_head[h];
      line << "] lr " << lr << " " << static_cast<int64_t>(tps) << " tok/s ETA " << format_duration(eta);
      say(line.str());
      if (Status s = append_log({{"step", done}, {"loss", loss.total}, {"head_loss", loss.per_head},
                                 {"lr", lr}, {"tokens_per_s", tps}, {"elapsed_s", total_secs}});
          !s.ok())
        return s;
      window_start = Clock::now();
      window_steps = 0;
    }
    if (val_data_ && ((t.eval_every > 0 && done % t.eval_every == 0) || done == t.steps)) {
      summary.val_loss = validate();
      nlohmann::json bpb = nlohmann::json::array();
      std::ostringstream line;
      line.precision(4);
      line << "validation at step " << done << ": bits/byte [";
      for (size_t h = 0; h < summary.val_loss.size(); ++h) {
        bpb.push_back(summary.val_loss[h] / std::log(2.0));
        line << (h ? " " : "") << bpb.back().get<double>();
      }
      say(line.str() + "]");
      if (Status s = append_log({{"step", done}, {"val_loss", summary.val_loss}, {"val_bpb", bpb}});
          !s.ok())
        return s;
    }
    if ((t.checkpoint_every > 0 && done % t.checkpoint_every == 0) || done == t.steps || sig != 0) {
      if (writes_outputs())
        if (Status s = save_checkpoint(done); !s.ok()) return s;
      if (sig != 0) {
        say("stopped by signal " + std::to_string(sig) + "; checkpoint saved at step " +
            std::to_string(done) + " (continue with --resume)");
        summary.interrupted = true;
        break;
      }
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  summary.tokens_per_second = (summary.final_step - start_step_) * tokens_per_step / std::max(secs, 1e-9);
  return summary;
}

}  // namespace

Result<TrainSummary> train(const TrainOptions& options) {
  try {
    Trainer trainer(options);
    return trainer.run();
  } catch (const std::exception& e) {
    // LibTorch reports shape and device errors by throwing; keep them values.
    return Status::Error(std::string("training failed: ") + e.what());
  }
}

}  // namespace mtpc
