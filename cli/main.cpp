#include <csignal>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "model/runtime.h"

int main(int argc, char** argv) {
  // A full disk or a file-size limit must surface as a write error with a
  // message, not as a silent kill by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"mtpc: multi-token prediction code completion"};
  app.require_subcommand(1);
  mtpc::cli::GlobalOptions global;
  app.add_option("--device", global.device, "compute device: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  auto* threads = app.add_option("--threads", global.threads,
                                  "compute threads (0: all cores; default: all cores for corpus, train and "
                                  "bench train|load, 1 for decoding: serve, complete, eval, bench decode|lsp|serve)")
                      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&app, &global, threads] {
    // Decoding runs passes of one to eight rows: a second thread only adds
    // hand-offs (slower even on an idle machine here), and a thread team
    // stalls every pass while another process holds a core. Training and
    // corpus builds keep every core.
    if (threads->count() == 0) {
      const bool decoding = app.got_subcommand("serve") || app.got_subcommand("complete") ||
                            app.got_subcommand("eval") ||
                            (app.got_subcommand("bench") && (app.get_subcommand("bench")->got_subcommand("decode") ||
                                                             app.get_subcommand("bench")->got_subcommand("lsp") ||
                                                             app.get_subcommand("bench")->got_subcommand("serve")));
      if (decoding) global.threads = 1;
    }
    mtpc::Status s = mtpc::configure_runtime(global.device, global.threads);
    if (!s.ok()) throw CLI::RuntimeError("mtpc: " + s.message(), 2);
  });

  mtpc::cli::add_corpus_command(app, global);

  mtpc::cli::add_train_command(app, global);
  mtpc::cli::add_bench_command(app, global);
  mtpc::cli::add_complete_command(app, global);
  mtpc::cli::add_eval_command(app, global);
  mtpc::cli::add_serve_command(app, global);
  mtpc::cli::add_convert_command(app, global);
  mtpc::cli::add_tokenize_command(app, global);
  mtpc::cli::add_pull_command(app, global);
  mtpc::cli::add_token_command(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    if (e.get_exit_code() != 0 && std::string(e.what()) != "Runtime error")
      std::fprintf(stderr, "%s\n", e.what());
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Library calls return Status; reaching here is a bug, reported not crashed.
    std::fprintf(stderr, "mtpc: internal error: %s\n", e.what());
    return 70;
  }
  return 0;
}
