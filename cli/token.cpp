// mtpc token add|remove|list: the users of a team server's --tokens file.
#include <iostream>

#include "cli/commands.h"
#include "lsp/auth.h"

namespace mtpc::cli {

void add_token_command(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("token", "manage the users of a --tokens file (mtpc serve --listen)");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto fail = [](const std::string& what, const Status& s) { throw CLI::RuntimeError("mtpc token " + what + ": " + s.message(), 1); };

  auto* add = cmd->add_subcommand("add", "add a user; prints its new token once (only its SHA-256 is stored)");
  add->add_option("NAME", *name, "user name (A-Z a-z 0-9 . _ @ -)")->required();
  add->add_option("--tokens", *file, "tokens file (created 0600)")->required();
  add->callback([file, name, fail] {
    auto token = lsp::add_user(*file, *name);
    if (!token.ok()) fail("add", token.status());
    std::cout << *token << "\n";
    std::cerr << "mtpc token add: user " << *name << " added to " << *file
              << "; the token above is not stored anywhere: give it to the user now\n";
    throw CLI::RuntimeError("", 0);
  });

  auto* remove = cmd->add_subcommand("remove", "remove a user (a running server forgets it on SIGHUP)");
  remove->add_option("NAME", *name, "user name")->required();
  remove->add_option("--tokens", *file, "tokens file")->required();
  remove->callback([file, name, fail] {
    if (Status s = lsp::remove_user(*file, *name); !s.ok()) fail("remove", s);
    std::cerr << "mtpc token remove: user " << *name << " removed from " << *file << "\n";
    throw CLI::RuntimeError("", 0);
  });

  auto* list = cmd->add_subcommand("list", "print the user names, one a line");
  list->add_option("--tokens", *file, "tokens file")->required();
  list->callback([file, fail] {
    auto names = lsp::list_users(*file);
    if (!names.ok()) fail("list", names.status());
    for (const auto& n : *names) std::cout << n << "\n";
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
