// `mtpc convert DIR --out OUT [--dtype fp32|bf16]`: model/checkpoint/convert.h.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "model/checkpoint/convert.h"

namespace mtpc::cli {

void add_convert_command(CLI::App& app, GlobalOptions& /*global*/) {
  struct Args {
    std::string dir, out, dtype = "fp32";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "write any loadable model (mtpc, Hugging Face Llama/Qwen2) as an mtpc checkpoint");
  cmd->add_option("DIR", a->dir, "model directory, or OWNER/NAME[@REVISION] pulled with mtpc pull")->required();
  cmd->add_option("--out", a->out, "output checkpoint directory (replaced if it exists)")->required();
  cmd->add_option("--dtype", a->dtype, "weights written as fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->callback([a] {
    a->dir = resolve_model_flag(a->dir, "convert");
    auto s = convert_model(a->dir, a->out, a->dtype == "bf16" ? DType::BF16 : DType::F32);
    if (!s.ok()) throw CLI::RuntimeError("mtpc convert: " + s.status().message(), 1);
    nlohmann::json j = {{"out", a->out},
                        {"parameters", s->parameters},
                        {"dtype", s->dtype},
                        {"tokenizer_files", s->tokenizer_files},
                        {"seconds", s->seconds}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
