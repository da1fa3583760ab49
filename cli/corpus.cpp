// `mtpc corpus build`: source trees -> train.bin / val.bin / manifest.json.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "model/corpus/corpus.h"

namespace mtpc::cli {

void add_corpus_command(CLI::App& app, GlobalOptions& /*global*/) {
  CLI::App* corpus = app.add_subcommand("corpus", "build training corpora");
  corpus->require_subcommand(1);
  CLI::App* build = corpus->add_subcommand(
      "build", "walk source trees, filter and decontaminate, write packed byte tokens");
  auto opts = std::make_shared<CorpusOptions>();
  build->add_option("--from", opts->from_dirs, "source tree roots")->required()->expected(1, -1);
  build->add_option("--ext", opts->extensions, "file extensions kept")
      ->expected(1, -1)
      ->capture_default_str();
  build->add_option("--out", opts->out_dir, "output directory")->required();
  build->add_option("--exclude-overlap", opts->exclude_overlap_files,
                    "benchmark .jsonl/.jsonl.gz files; corpus files sharing an n-gram are dropped")
      ->expected(1, -1);
  build->add_option("--max-file-bytes", opts->max_file_bytes, "larger files are skipped")
      ->capture_default_str();
  build->add_option("--val-permille", opts->val_permille, "share of files in validation")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  build->add_option("--ngram", opts->ngram, "decontamination n-gram length in code tokens")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  build->add_option("--ngram-min-words", opts->ngram_min_words,
                    "identifier tokens (>= 2 chars) an n-gram needs to count")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  build->callback([opts] {
    opts->progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    Result<CorpusManifest> m = build_corpus(*opts);
    if (!m.ok()) throw CLI::RuntimeError("mtpc corpus build: " + m.status().message(), 1);
    std::printf("%s\n", corpus_summary(m.value()).c_str());
    std::fflush(stdout);
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
