// Where pulled models live, and turning a --model argument into a directory.
// Torch-free.
//
// Layout under the cache root ($MTPC_CACHE, else $XDG_CACHE_HOME/mtpc, else
// ~/.cache/mtpc):
//   models/OWNER--NAME/COMMIT/...         the files of one commit
//   models/OWNER--NAME/refs/REVISION      the commit a pulled revision named
//   models/OWNER--NAME/COMMIT/SUBFOLDER/  a model pulled from a folder of the
//                                         repository (OWNER/NAME/SUBFOLDER),
//                                         with the marker kSubfolderComplete
// A ref is written only after every file of the pull was verified, so a
// name resolves only to a complete model; a subfolder resolves only once
// its marker is there too.
#pragma once

#include <string>

#include "base/status.h"

namespace mtpc::hub {

// Written into a subfolder model's directory when all its files verified.
inline constexpr const char kSubfolderComplete[] = ".mtpc-pull-complete";

// The cache root; an error only when none of the variables gives one.
Result<std::string> cache_root();

// models/OWNER--NAME under the cache root.
std::string repo_cache_dir(const std::string& root, const std::string& repo);

// The file naming the commit of `revision` (percent-encoded: "refs/pr/1"
// is one file).
std::string ref_path(const std::string& root, const std::string& repo, const std::string& revision);

// --model NAME: NAME itself when it is a directory; else, when NAME reads as
// OWNER/NAME[/SUBFOLDER][@REVISION] and that revision (or commit) was
// pulled, its directory in the cache. Otherwise an error naming NAME:
// "NAME: not a directory and not in the cache (ROOT): run mtpc pull NAME".
Result<std::string> resolve_model_dir(const std::string& name);

}  // namespace mtpc::hub
