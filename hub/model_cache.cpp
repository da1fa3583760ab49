#include "hub/model_cache.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hub/hub_api.h"
#include "hub/url.h"

namespace mtpc::hub {
namespace fs = std::filesystem;

Result<std::string> cache_root() {
  const char* mtpc = std::getenv("MTPC_CACHE");
  if (mtpc && *mtpc) return std::string(mtpc);
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/mtpc";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/mtpc";
  return Status::Error("no cache folder: set MTPC_CACHE (or XDG_CACHE_HOME or HOME)");
}

std::string repo_cache_dir(const std::string& root, const std::string& repo) {
  std::string name = repo;
  size_t slash = name.find('/');
  if (slash != std::string::npos) name.replace(slash, 1, "--");
  return root + "/models/" + name;
}

std::string ref_path(const std::string& root, const std::string& repo, const std::string& revision) {
  return repo_cache_dir(root, repo) + "/refs/" + percent_encode(revision, false);
}

Result<std::string> resolve_model_dir(const std::string& name) {
  std::error_code ec;
  if (fs::is_directory(name, ec)) return name;
  if (fs::exists(name, ec)) return Status::Error(name + ": not a directory");
  Result<ModelRef> ref = parse_model_ref(name);
  if (!ref.ok()) return Status::Error(name + ": no such model directory");
  Result<std::string> root = cache_root();
  if (!root.ok()) return root.status().wrap(name + ": not a directory");
  const std::string missing = name + ": not a directory and not in the cache (" + *root + "): run mtpc pull " + name;
  std::string commit;
  std::ifstream in(ref_path(*root, ref->repo, ref->revision));
  if (in) {
    std::getline(in, commit);
  } else {
    commit = ref->revision;  // a commit id given directly
  }
  if (commit.empty() || commit.find('/') != std::string::npos || commit == "." || commit == "..")
    return Status::Error(missing);
  const std::string dir = repo_cache_dir(*root, ref->repo) + "/" + commit;
  // A commit directory counts only once a ref names it: a pull that stopped
  // half-way leaves one without.
  if (!in) {
    bool named = false;
    for (const auto& e : fs::directory_iterator(repo_cache_dir(*root, ref->repo) + "/refs", ec)) {
      std::ifstream r(e.path());
      std::string c;
      if (std::getline(r, c) && c == commit) named = true;
    }
    if (!named) return Status::Error(missing);
  }
  if (!fs::is_directory(dir, ec)) return Status::Error(missing);
  if (ref->subfolder.empty()) return dir;
  const std::string sub = dir + "/" + ref->subfolder;
  if (!fs::is_regular_file(sub + "/" + kSubfolderComplete, ec)) return Status::Error(missing);
  return sub;
}

}  // namespace mtpc::hub
