// mtpc pull OWNER/NAME[@REVISION]: download a model from the Hugging Face hub
// (hub/pull.h), and the --model resolution every model-taking command uses.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "hub/hub_api.h"
#include "hub/model_cache.h"
#include "hub/pull.h"

namespace mtpc::cli {

std::string resolve_model_flag(const std::string& model, const std::string& command) {
  Result<std::string> dir = hub::resolve_model_dir(model);
  if (!dir.ok()) throw CLI::RuntimeError("mtpc " + command + ": --model " + dir.status().message(), 1);
  return *dir;
}

void add_pull_command(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "pull",
      "download a model from the Hugging Face hub into the cache (or --out DIR); prints the directory.\n"
      "Fetches only what a model needs from the repository's top folder: config.json, generation_config.json,\n"
      "tokenizer.json, tokenizer.model, tokenizer_config.json, mtpc.json, params.json, *.safetensors,\n"
      "*.safetensors.index.json, consolidated*.pth; not *.bin, *.gguf, *.onnx, *.msgpack, *.h5, READMEs or\n"
      "other folders. OWNER/NAME/SUBFOLDER takes a model kept in a folder (facebook/multi-token-prediction/\n"
      "7B_1T_4) together with the top folder's files it lacks (tokenizer.model). Each file is checked\n"
      "against the size and sha256 (or git sha1) the hub lists; an interrupted pull resumes. Cache:\n"
      "$MTPC_CACHE, else $XDG_CACHE_HOME/mtpc, else ~/.cache/mtpc; --model OWNER/NAME[/SUBFOLDER][@REVISION]\n"
      "then finds it. Environment: HF_TOKEN (gated or private repositories),\n"
      "HF_ENDPOINT (default https://huggingface.co), SSL_CERT_FILE (CA bundle).");
  struct Args {
    std::string model, out, ca_file;
    double connect_timeout_s = 10, stall_timeout_s = 30;
    int max_attempts = 5;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "OWNER/NAME[/SUBFOLDER][@REVISION] (revision: branch, tag or commit; default main)")
      ->required();
  cmd->add_option("--out", a->out, "write the files into DIR instead of the cache");
  cmd->add_option("--ca-file", a->ca_file, "PEM file of extra trusted CAs (a private hub or proxy)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--connect-timeout", a->connect_timeout_s, "seconds to connect (TCP and TLS)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--stall-timeout", a->stall_timeout_s,
                  "seconds without a byte before a transfer is abandoned (then resumed)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--tries", a->max_attempts, "tries per file before an interrupted transfer is an error")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->callback([a] {
    hub::PullOptions o;
    o.model = a->model;
    o.out_dir = a->out;
    o.endpoint = hub::default_endpoint();
    o.token = hub::default_token();
    o.http.ca_file = a->ca_file;
    o.http.connect_timeout_ms = static_cast<int>(a->connect_timeout_s * 1000);
    o.http.stall_timeout_ms = static_cast<int>(a->stall_timeout_s * 1000);
    o.max_attempts = a->max_attempts;
    const bool tty = isatty(STDERR_FILENO) == 1;
    auto printer = std::make_shared<hub::ProgressPrinter>(stderr, tty);
    o.progress = [printer](const hub::TransferProgress& p) { printer->update(p); };
    // On a terminal a note replaces the bar's line; the bar comes back below it.
    o.log = [tty](const std::string& s) { std::fprintf(stderr, "%smtpc pull: %s\n", tty ? "\r\033[K" : "", s.c_str()); };
    Result<hub::PullResult> r = hub::pull_model(o);
    if (!r.ok()) throw CLI::RuntimeError("mtpc pull: " + r.status().message(), 1);
    size_t downloaded = 0;
    for (const auto& f : r->files) downloaded += f.downloaded ? 1 : 0;
    std::fprintf(stderr, "mtpc pull: %s at commit %s: %zu files (%zu downloaded, %zu already there), %zu skipped\n",
                 a->model.c_str(), r->commit.c_str(), r->files.size(), downloaded, r->files.size() - downloaded,
                 r->skipped.size());
    std::printf("%s\n", r->dir.c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
