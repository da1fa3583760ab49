#include "model/training/train_config.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace mtpc {

Status TrainConfig::validate(const ModelConfig& model) const {
  auto err = [](const std::string& m) { return Status::Error(m); };
  if (steps < 1) return err("steps must be >= 1, got " + std::to_string(steps));
  if (batch_size < 1) return err("batch_size must be >= 1");
  if (seq_len < 4) return err("seq_len must be >= 4, got " + std::to_string(seq_len));
  if (seq_len > model.max_seq_len)
    return err("seq_len (" + std::to_string(seq_len) + ") must be <= max_seq_len (" +
               std::to_string(model.max_seq_len) + ")");
  if (accum_steps < 1) return err("accum_steps must be >= 1");
  if (model.vocab_size > 65536)
    return err("vocab_size must be <= 65536 to train (uint16 token files), got " + std::to_string(model.vocab_size));
  if (!(lr > 0 && lr < 1)) return err("lr must be in (0, 1)");
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) return err("min_lr_ratio must be in [0, 1]");
  if (warmup_steps < 0) return err("warmup_steps must be >= 0");
  if (!(weight_decay >= 0)) return err("weight_decay must be >= 0");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) return err("beta1, beta2 must be in [0, 1)");
  if (!(adam_eps > 0)) return err("adam_eps must be > 0");
  if (!(grad_clip >= 0)) return err("grad_clip must be >= 0");
  if (!(fim_rate >= 0 && fim_rate <= 1)) return err("fim_rate must be in [0, 1]");
  if (!(fim_line_rate >= 0 && fim_line_rate <= 1)) return err("fim_line_rate must be in [0, 1]");
  if (loss_order != "sequential" && loss_order != "naive")
    return err("loss_order must be sequential or naive, got '" + loss_order + "'");
  if (log_every < 1) return err("log_every must be >= 1");
  if (eval_every < 0 || checkpoint_every < 0) return err("eval_every and checkpoint_every must be >= 0");
  if (eval_batches < 1) return err("eval_batches must be >= 1");
  return Status::Ok();
}

Result<TrainConfig> train_preset(const std::string& name) {
  TrainConfig t;
  if (name == "tiny") {
    t.steps = 200; t.batch_size = 8; t.seq_len = 128; t.lr = 2e-3; t.warmup_steps = 20;
    t.eval_every = 100; t.checkpoint_every = 100; t.eval_batches = 4;
  } else if (name == "small") {
    t.steps = 3000; t.batch_size = 16; t.seq_len = 256; t.lr = 1.5e-3; t.warmup_steps = 100;
  } else if (name == "base") {
    t.steps = 3000; t.batch_size = 16; t.seq_len = 512; t.lr = 1e-3; t.warmup_steps = 200;
  } else {
    return Status::Error("unknown preset '" + name + "' (known: tiny, small, base)");
  }
  return t;
}

nlohmann::json train_config_to_json(const TrainConfig& t) {
  return {{"steps", t.steps},           {"batch_size", t.batch_size},
          {"seq_len", t.seq_len},       {"accum_steps", t.accum_steps},
          {"lr", t.lr},                 {"min_lr_ratio", t.min_lr_ratio},
          {"warmup_steps", t.warmup_steps}, {"weight_decay", t.weight_decay},
          {"beta1", t.beta1},           {"beta2", t.beta2},
          {"adam_eps", t.adam_eps},     {"grad_clip", t.grad_clip},
          {"fim_rate", t.fim_rate},     {"fim_line_rate", t.fim_line_rate}, {"seed", t.seed},
          {"bf16", t.bf16},             {"loss_order", t.loss_order},
          {"log_every", t.log_every},   {"eval_every", t.eval_every},
          {"eval_batches", t.eval_batches}, {"checkpoint_every", t.checkpoint_every}};
}

Result<TrainConfig> train_config_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return Status::Error(source + ": train config must be a JSON object");
  TrainConfig t;
  std::map<std::string, int64_t*> i64 = {{"steps", &t.steps}, {"warmup_steps", &t.warmup_steps},
                                         {"log_every", &t.log_every}, {"eval_every", &t.eval_every},
                                         {"checkpoint_every", &t.checkpoint_every}};
  std::map<std::string, int*> i32 = {{"batch_size", &t.batch_size}, {"seq_len", &t.seq_len},
                                     {"accum_steps", &t.accum_steps}, {"eval_batches", &t.eval_batches}};
  std::map<std::string, double*> dbl = {
      {"lr", &t.lr},       {"min_lr_ratio", &t.min_lr_ratio}, {"weight_decay", &t.weight_decay},
      {"beta1", &t.beta1}, {"beta2", &t.beta2},               {"adam_eps", &t.adam_eps},
      {"grad_clip", &t.grad_clip}, {"fim_rate", &t.fim_rate}, {"fim_line_rate", &t.fim_line_rate}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    auto need_int = [&]() { return v.is_number_integer(); };
    if (auto p = i64.find(k); p != i64.end()) {
      if (!need_int()) return Status::Error(source + ": train field '" + k + "' must be an integer");
      *p->second = v.get<int64_t>();
    } else if (auto q = i32.find(k); q != i32.end()) {
      if (!need_int() || v.get<int64_t>() > INT32_MAX || v.get<int64_t>() < INT32_MIN)
        return Status::Error(source + ": train field '" + k + "' must be a 32-bit integer");
      *q->second = static_cast<int>(v.get<int64_t>());
    } else if (auto r = dbl.find(k); r != dbl.end()) {
      if (!v.is_number()) return Status::Error(source + ": train field '" + k + "' must be a number");
      *r->second = v.get<double>();
    } else if (k == "seed") {
      if (!v.is_number_unsigned()) return Status::Error(source + ": train field 'seed' must be a non-negative integer");
      t.seed = v.get<uint64_t>();
    } else if (k == "bf16") {
      if (!v.is_boolean()) return Status::Error(source + ": train field 'bf16' must be true or false");
      t.bf16 = v.get<bool>();
    } else if (k == "loss_order") {
      if (!v.is_string()) return Status::Error(source + ": train field 'loss_order' must be a string");
      t.loss_order = v.get<std::string>();
    } else {
      return Status::Error(source + ": unknown train field '" + k + "'");
    }
  }
  return t;
}

Result<RunConfig> run_config_from_preset(const std::string& name) {
  auto m = model_preset(name);
  if (!m.ok()) return m.status();
  auto t = train_preset(name);
  if (!t.ok()) return t.status();
  return RunConfig{*m, *t};
}

Result<RunConfig> run_config_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": cannot open config file");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(path + ": not valid JSON");
  if (!j.is_object()) return Status::Error(path + ": must be a JSON object");
  RunConfig run;
  nlohmann::json model_j = nlohmann::json::object(), train_j = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "preset") {
      if (!it.value().is_string()) return Status::Error(path + ": 'preset' must be a string");
      auto base = run_config_from_preset(it.value().get<std::string>());
      if (!base.ok()) return base.status().wrap(path);
      model_j = model_config_to_json(base->model);
      train_j = train_config_to_json(base->train);
    }
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "preset") continue;
    if (it.key() == "model" && it.value().is_object()) model_j.update(it.value());
    else if (it.key() == "train" && it.value().is_object()) train_j.update(it.value());
    else return Status::Error(path + ": unexpected top-level field '" + it.key() +
                              "' (expected preset, model, train)");
  }
  auto m = model_config_from_json(model_j, path);
  if (!m.ok()) return m.status();
  auto t = train_config_from_json(train_j, path);
  if (!t.ok()) return t.status();
  run.model = *m;
  run.train = *t;
  if (Status s = run.train.validate(run.model); !s.ok()) return s.wrap(path);
  return run;
}

}  // namespace mtpc
