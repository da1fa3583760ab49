// Subcommand registration. Each cli/<name>.cpp adds one subcommand to the app;
// its callback calls a library function and ends by throwing CLI::RuntimeError
// with the exit code (0 included) so main() has one exit path.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace mtpc::cli {

// Options every subcommand honours; applied before any subcommand runs.
struct GlobalOptions {
  std::string device = "cpu";  // cpu | cuda
  int threads = 0;             // 0: all cores
};

void add_corpus_command(CLI::App& app, GlobalOptions& global);

void add_train_command(CLI::App& app, GlobalOptions& global);
void add_train_heads_command(CLI::App& train, GlobalOptions& global);
void add_bench_command(CLI::App& app, GlobalOptions& global);
void add_bench_decode_command(CLI::App& bench, GlobalOptions& global);
void add_complete_command(CLI::App& app, GlobalOptions& global);
void add_eval_command(CLI::App& app, GlobalOptions& global);
void add_serve_command(CLI::App& app, GlobalOptions& global);
void add_bench_lsp_command(CLI::App& bench, GlobalOptions& global);
void add_bench_serve_command(CLI::App& bench, GlobalOptions& global);
void add_convert_command(CLI::App& app, GlobalOptions& global);
void add_tokenize_command(CLI::App& app, GlobalOptions& global);
void add_pull_command(CLI::App& app, GlobalOptions& global);
void add_token_command(CLI::App& app, GlobalOptions& global);

// --model NAME: a directory, or OWNER/NAME[@REVISION] pulled into the cache
// (hub/model_cache.h). Anything else ends the command with exit code 1 and
// a message that says to run `mtpc pull NAME`.
std::string resolve_model_flag(const std::string& model, const std::string& command);

}  // namespace mtpc::cli
