#include "model/tokenizer/tokenizer_files.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/gzip_file.h"
#include "model/tokenizer/bpe_tokenizer.h"
#include "model/tokenizer/fim_families.h"
#include "model/tokenizer/sentencepiece_tokenizer.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Parses `path` if it exists: null json if it does not, an error naming the
// file if it is not JSON.
Result<json> read_optional_json(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return json();
  auto text = read_file(path.string());
  if (!text.ok()) return text.status();
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error(path.string() + ": not valid JSON");
  return doc;
}

// A token given as "<s>" or {"content": "<s>", ...} (or null: none).
Result<std::string> token_content(const json& node, const std::string& field) {
  if (node.is_null()) return std::string();
  if (node.is_string()) return node.get<std::string>();
  if (node.is_object() && node.contains("content") && node["content"].is_string())
    return node["content"].get<std::string>();
  return Status::Error(field + ": neither a string nor an object with a \"content\" string");
}

// The first token of a TemplateProcessing post-processor's "single"
// template when it is a special token (Llama-3's <|begin_of_text|>,
// DeepSeek-Coder's BOS): the BOS tokenizers' own encode would add.
std::string template_bos(const json& doc) {
  if (!doc.is_object() || !doc.contains("post_processor")) return "";
  const json& pp = doc["post_processor"];
  auto from_template = [](const json& p) -> std::string {
    if (!p.is_object() || p.value("type", "") != "TemplateProcessing" || !p.contains("single") ||
        !p["single"].is_array() || p["single"].empty())
      return "";
    const json& first = p["single"][0];
    if (first.is_object() && first.contains("SpecialToken") && first["SpecialToken"].is_object() &&
        first["SpecialToken"].contains("id") && first["SpecialToken"]["id"].is_string())
      return first["SpecialToken"]["id"].get<std::string>();
    return "";
  };
  if (pp.is_object() && pp.value("type", "") == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
    for (const json& p : pp["processors"]) {
      std::string bos = from_template(p);
      if (!bos.empty()) return bos;
    }
    return "";
  }
  return from_template(pp);
}

}  // namespace

Result<TokenizerEnds> resolve_tokenizer_ends(const Tokenizer& tokenizer, const TokenizerFileOptions& options) {
  TokenizerEnds ends;
  auto lookup = [&](const std::string& content, const char* field, int32_t& id) -> Status {
    if (content.empty()) return Status::Ok();
    id = tokenizer.token_id(content);
    if (id < 0) return Status::Error(options.source + ": " + field + ": the tokenizer has no token '" + content + "'");
    return Status::Ok();
  };
  if (Status s = lookup(options.bos_token, "bos_token", ends.bos); !s.ok()) return s;
  if (Status s = lookup(options.eos_token, "eos_token", ends.eos); !s.ok()) return s;

  DetectedFim fim;
  if (options.fim_family.empty()) {
    fim = detect_fim(tokenizer);
  } else if (options.fim_family != "none") {
    const FimFamily* family = find_fim_family(options.fim_family);
    if (family == nullptr) {
      std::string known;
      for (const FimFamily& f : fim_families()) known += (known.empty() ? "" : ", ") + f.name;
      return Status::Error("mtpc.json: fim: unknown family '" + options.fim_family + "' (known: " + known + ", none)");
    }
    fim = fim_for_family(tokenizer, *family);
    if (fim.family.empty())
      return Status::Error("mtpc.json: fim: the tokenizer lacks the markers of family '" + options.fim_family + "'");
  }
  ends.fim = fim.fim;
  if (options.add_bos && ends.bos >= 0) ends.fim.begin = {ends.bos};

  auto add_stop = [&ends](int32_t id) {
    if (id >= 0 && std::find(ends.stops.begin(), ends.stops.end(), id) == ends.stops.end()) ends.stops.push_back(id);
  };
  add_stop(ends.eos);
  for (int32_t id : options.extra_stop_ids) {
    if (id < 0 || id >= tokenizer.vocab_size())
      return Status::Error("generation_config.json: eos_token_id: " + std::to_string(id) +
                           " is outside the vocabulary [0, " + std::to_string(tokenizer.vocab_size()) + ")");
    add_stop(id);
  }
  for (const std::string& content : options.extra_stop_tokens) {
    int32_t id = tokenizer.token_id(content);
    if (id < 0) return Status::Error("mtpc.json: stop: the tokenizer has no token '" + content + "'");
    add_stop(id);
  }
  for (int32_t id : fim.stops) add_stop(id);
  return ends;
}

SpecialTokens special_tokens(const TokenizerEnds& ends) {
  SpecialTokens s;
  s.bos = ends.bos;
  s.eos = ends.eos;
  if (ends.fim.available()) {
    s.fim_prefix = ends.fim.prefix[0];
    s.fim_suffix = ends.fim.suffix[0];
    s.fim_middle = ends.fim.middle[0];
  }
  return s;
}

Result<TokenizerFileOptions> read_tokenizer_file_options(const std::string& dir, bool default_add_bos) {
  TokenizerFileOptions options;
  options.add_bos = default_add_bos;
  const fs::path root(dir);

  auto config = read_optional_json(root / "tokenizer_config.json");
  if (!config.ok()) return config.status();
  if (config->is_object()) {
    const std::string file = (root / "tokenizer_config.json").string();
    options.source = file;
    if (config->contains("add_bos_token") && !(*config)["add_bos_token"].is_null()) {
      if (!(*config)["add_bos_token"].is_boolean()) return Status::Error(file + ": add_bos_token: not a boolean");
      options.add_bos = (*config)["add_bos_token"].get<bool>();
    }
    for (auto [key, target] : {std::pair{"bos_token", &options.bos_token}, std::pair{"eos_token", &options.eos_token}}) {
      if (!config->contains(key)) continue;
      auto content = token_content((*config)[key], file + ": " + key);
      if (!content.ok()) return content.status();
      *target = *content;
    }
  } else if (!config->is_null()) {
    return Status::Error((root / "tokenizer_config.json").string() + ": not a JSON object");
  }

  auto generation = read_optional_json(root / "generation_config.json");
  if (!generation.ok()) return generation.status();
  if (generation->is_object() && generation->contains("eos_token_id")) {
    const json& eos = (*generation)["eos_token_id"];
    const std::string field = (root / "generation_config.json").string() + ": eos_token_id";
    auto add = [&](const json& v) -> Status {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
        return Status::Error(field + ": not a non-negative integer id");
      options.extra_stop_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      return Status::Ok();
    };
    if (eos.is_array()) {
      for (const json& v : eos)
        if (Status s = add(v); !s.ok()) return s;
    } else if (!eos.is_null()) {
      if (Status s = add(eos); !s.ok()) return s;
    }
  }

  auto overrides = read_optional_json(root / "mtpc.json");
  if (!overrides.ok()) return overrides.status();
  if (!overrides->is_null()) {
    const std::string file = (root / "mtpc.json").string();
    if (!overrides->is_object()) return Status::Error(file + ": not a JSON object");
    if (overrides->contains("fim")) {
      if (!(*overrides)["fim"].is_string()) return Status::Error(file + ": fim: not a string");
      options.fim_family = (*overrides)["fim"].get<std::string>();
      if (options.fim_family.empty()) return Status::Error(file + ": fim: empty (a family name or \"none\")");
      // Checked here so the error names mtpc.json whichever loader runs.
      if (options.fim_family != "none" && find_fim_family(options.fim_family) == nullptr) {
        std::string known;
        for (const FimFamily& f : fim_families()) known += f.name + ", ";
        return Status::Error(file + ": fim: unknown family '" + options.fim_family + "' (known: " + known + "none)");
      }
    }
    if (overrides->contains("stop")) {
      const json& stop = (*overrides)["stop"];
      if (!stop.is_array()) return Status::Error(file + ": stop: not an array of token strings");
      for (const json& s : stop) {
        if (!s.is_string()) return Status::Error(file + ": stop: not an array of token strings");
        options.extra_stop_tokens.push_back(s.get<std::string>());
      }
    }
  }
  return options;
}

Result<std::shared_ptr<const Tokenizer>> load_model_tokenizer(const std::string& dir) {
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::Error(dir + ": not a directory");

  // mtpc's own checkpoints name their tokenizer kind in config.json; "files"
  // (a converted Hugging Face or Meta model, mtpc convert) means the files
  // beside it, as for the original directory.
  auto config = read_optional_json(root / "config.json");
  if (!config.ok()) return config.status();
  const bool mtpc_checkpoint = config->is_object() && config->value("format", "") == "mtpc-checkpoint";
  const json kind = mtpc_checkpoint && config->contains("tokenizer") ? (*config)["tokenizer"] : json("byte");
  if (mtpc_checkpoint && kind != "files") {
    if (!kind.is_string()) return Status::Error((root / "config.json").string() + ": tokenizer: not a string");
    // The byte model's FIM layout (config.h's ModelConfig::fim; "psm" when absent).
    const json* model = config->contains("model") && (*config)["model"].is_object() ? &(*config)["model"] : nullptr;
    const bool spm = model && model->contains("fim") && (*model)["fim"] == "spm";
    auto t = make_tokenizer(kind.get<std::string>(), spm ? FimTemplate::Order::kSuffixPrefixMiddle
                                                         : FimTemplate::Order::kPrefixSuffixMiddle);
    if (!t.ok()) return t.status().wrap((root / "config.json").string());
    return t;
  }

  const fs::path json_path = root / "tokenizer.json";
  const fs::path sp_path = root / "tokenizer.model";
  std::string json_problem;  // why tokenizer.json was not used, for the final error
  if (fs::exists(json_path, ec)) {
    auto doc = read_optional_json(json_path);
    if (!doc.ok()) return doc.status();
    if (is_byte_level_bpe(*doc)) {
      // Without add_bos_token, BOS is added when tokenizer.json's own
      // post-processor template would add one.
      const std::string bos = template_bos(*doc);
      auto options = read_tokenizer_file_options(dir, !bos.empty());
      if (!options.ok()) return options.status();
      if (options->bos_token.empty()) options->bos_token = bos;
      return make_bpe_tokenizer(*doc, json_path.string(), *options);
    }
    const json* type = doc->is_object() && doc->contains("model") && (*doc)["model"].is_object() &&
                               (*doc)["model"].contains("type")
                           ? &(*doc)["model"]["type"] : nullptr;
    json_problem = json_path.string() + ": model.type: " +
                   (type != nullptr && type->is_string() ? "'" + type->get<std::string>() + "'" : std::string("missing")) +
                   " with this pre_tokenizer is not a byte-level BPE";
  }
  if (fs::exists(sp_path, ec)) {
    // Llama-2, CodeLlama and Meta's release start prompts with BOS unless
    // tokenizer_config.json says otherwise; BOS/EOS are the model's own
    // <s>/</s> unless it names others.
    auto options = read_tokenizer_file_options(dir, /*default_add_bos=*/true);
    if (!options.ok()) return options.status();
    return load_sentencepiece_tokenizer(sp_path.string(), *options);
  }
  if (!json_problem.empty()) return Status::Error(json_problem + ", and there is no tokenizer.model");
  return Status::Error(dir + ": no tokenizer: neither tokenizer.json nor tokenizer.model, and config.json is not an "
                             "mtpc checkpoint's");
}

}  // namespace mtpc
