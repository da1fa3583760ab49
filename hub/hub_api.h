// The Hugging Face hub's model API, as far as pulling a model needs it:
// naming a repository, listing its files at a revision, choosing the files a
// model needs. Torch-free.
//
// Facts this follows (huggingface_hub's constants and HfApi.model_info):
// - endpoint: $HF_ENDPOINT, default https://huggingface.co (a path prefix,
//   as mirrors use, is kept);
// - listing: GET {endpoint}/api/models/{owner}/{name}/revision/{rev}?blobs=true
//   with the revision percent-encoded as one segment; the reply's "sha" is
//   the commit and "siblings" the files ({"rfilename", "size", "blobId",
//   "lfs": {"size", "sha256", "pointerSize"}});
// - file: {endpoint}/{owner}/{name}/resolve/{rev}/{path};
// - errors carry X-Error-Code (RepoNotFound, RevisionNotFound, GatedRepo,
//   EntryNotFound) and X-Error-Message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "hub/http_client.h"

namespace mtpc::hub {

// OWNER/NAME[/SUBFOLDER][@REVISION]; revision "main" when absent. A
// subfolder names a model kept in a folder of the repository (Meta's
// multi-token release: facebook/multi-token-prediction/7B_1T_4).
struct ModelRef {
  std::string repo;  // OWNER/NAME
  std::string revision = "main";
  std::string subfolder;  // "" = the top folder; else "a" or "a/b", no "." or ".." parts
};

// Validates the hub's repository id rules (two parts of letters, digits,
// '-', '_', '.'; no "--" or ".."; at most 96 characters) and the
// subfolder's parts (the same characters, none "." or "..").
Result<ModelRef> parse_model_ref(const std::string& text);

struct RepoFile {
  std::string path;                     // "rfilename"
  std::optional<uint64_t> size;         // of the file's content (LFS: the object)
  std::string git_sha1;                 // "blobId": the git blob id (of the pointer for LFS files)
  std::string sha256;                   // LFS only: sha256 of the content
  bool lfs = false;
};

struct RepoListing {
  std::string commit;  // "sha"
  std::vector<RepoFile> files;
};

// $HF_ENDPOINT or https://huggingface.co, without a trailing '/'.
std::string default_endpoint();
// $HF_TOKEN, else empty.
std::string default_token();

std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& path);

// Lists the files. Errors say what the user can do: "not found" (and that a
// private repository needs HF_TOKEN), "revision not found", gated.
Result<RepoListing> list_repo(const std::string& endpoint, const ModelRef& ref, const std::string& token,
                              const HttpOptions& http);

// Parses a listing reply; `where` names it in errors.
Result<RepoListing> parse_listing(const std::string& json_text, const std::string& where);

// The files a model directory needs: config.json, generation_config.json,
// tokenizer.json, tokenizer.model, tokenizer_config.json, mtpc.json,
// params.json, *.safetensors, *.safetensors.index.json, consolidated*.pth,
// at the top of the repository. Everything else (pytorch_model*.bin, *.gguf,
// *.onnx, *.msgpack, *.h5, READMEs, subfolders such as original/) is skipped.
bool is_model_file(const std::string& path);

// A 4xx/5xx reply to a request for `what`, as a message a user can act on
// (401/403: set HF_TOKEN and accept the licence at the repository's page).
std::string describe_http_error(const HttpResponse& response, const std::string& what, const std::string& repo,
                                const std::string& endpoint, bool had_token);

}  // namespace mtpc::hub
