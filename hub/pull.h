// mtpc pull: download the files a model needs from a Hugging Face hub
// repository, the way the hub's own client does. Torch-free.
//
// pull_model lists the repository at the revision (hub_api.h), keeps the
// files is_model_file accepts (in the top folder; for OWNER/NAME/SUBFOLDER,
// those of that folder plus the top folder's it lacks, all into one model
// directory), and fetches each from its resolve URL at the
// listed commit (so a branch moving mid-pull cannot mix two commits):
// - into PATH.incomplete beside the final PATH; an interrupted transfer (a
//   dropped connection, a stall past the stall timeout) is resumed with
//   "Range: bytes=N-", up to max_attempts tries, and so is a rerun after the
//   process was killed;
// - checked against the listed size and sha256 (LFS files), or size and git
//   blob sha1 (small files); when the listing lacks them, the hub's
//   X-Linked-Size / X-Linked-Etag (sha256) or ETag (git sha1) headers;
// - renamed to PATH only when it verified (fsync first), so a file that is
//   there is complete. A wrong checksum deletes the download and is an
//   error naming the file, both digests and the URL.
// A file already present with the right size and checksum is kept.
//
// Destination: out_dir when set, else the cache (model_cache.h):
// models/OWNER--NAME/COMMIT[/SUBFOLDER], and after every file verified,
// refs/REVISION -> COMMIT, so `--model OWNER/NAME[@REVISION]` finds it.
// Never throws; errors say what the user can do (HF_TOKEN for a gated
// repository, --ca-file for a private CA).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "hub/http_client.h"
#include "hub/progress.h"

namespace mtpc::hub {

struct PullOptions {
  std::string model;     // OWNER/NAME[@REVISION]
  std::string out_dir;   // empty: the cache
  std::string endpoint;  // without a trailing '/'; empty: default_endpoint()
  std::string token;     // sent as "Authorization: Bearer" to the hub only; may be empty
  HttpOptions http;
  int max_attempts = 5;  // tries per file before an interrupted transfer is an error
  std::function<void(const TransferProgress&)> progress;  // may be empty
  std::function<void(const std::string&)> log;            // notes (resuming, skipping); may be empty
};

struct PulledFile {
  std::string path;      // in the repository
  std::string local_path;  // under dir (path without the subfolder)
  uint64_t size = 0;
  std::string checksum;  // "sha256:..." or "git-sha1:..."
  bool downloaded = false;  // false: was already there and verified
};

struct PullResult {
  std::string dir;     // the model directory
  std::string commit;  // the commit the revision named
  std::vector<PulledFile> files;
  std::vector<std::string> skipped;  // files of the repository a model does not need
};

Result<PullResult> pull_model(const PullOptions& options);

}  // namespace mtpc::hub
