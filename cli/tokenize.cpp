// mtpc tokenize: the ids and pieces of a text under a model directory's
// tokenizer (model/tokenizer/token_listing.h), as llama-tokenize prints them.
#include <cstdio>

#include "base/gzip_file.h"
#include "cli/commands.h"
#include "model/tokenizer/token_listing.h"

namespace mtpc::cli {

void add_tokenize_command(CLI::App& app, GlobalOptions& /*global*/) {
  auto* cmd = app.add_subcommand("tokenize", "print the token ids and pieces of a text");
  struct Args {
    std::string model, text, file;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "model directory (tokenizer.json, tokenizer.model or an mtpc checkpoint), or a pulled OWNER/NAME")
      ->required();
  auto* text = cmd->add_option("--text", a->text, "the text to tokenize");
  auto* file = cmd->add_option("--file", a->file, "file whose bytes are the text");
  text->excludes(file);
  cmd->add_flag("--json", a->json, "print {\"ids\", \"pieces\", \"special\"} as one JSON object");
  cmd->callback([a, text, file] {
    if (text->count() == 0 && file->count() == 0)
      throw CLI::RuntimeError("mtpc tokenize: give --text or --file", 2);
    Result<std::string> input = file->count() ? read_file(a->file) : Result<std::string>(a->text);
    if (!input.ok()) throw CLI::RuntimeError("mtpc tokenize: " + input.status().message(), 1);
    a->model = resolve_model_flag(a->model, "tokenize");
    auto listing = list_tokens(a->model, *input, a->json);
    if (!listing.ok()) throw CLI::RuntimeError("mtpc tokenize: " + listing.status().message(), 1);
    std::fwrite(listing->data(), 1, listing->size(), stdout);
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
