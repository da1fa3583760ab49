#include "hub/hub_api.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "hub/url.h"

namespace mtpc::hub {
namespace {

constexpr size_t kMaxRepoIdLength = 96;  // the hub's own limit

bool repo_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

Result<ModelRef> parse_model_ref(const std::string& text) {
  ModelRef ref;
  size_t at = text.find('@');
  ref.repo = text.substr(0, at);
  if (at != std::string::npos) {
    ref.revision = text.substr(at + 1);
    if (ref.revision.empty()) return Status::Error("\"" + text + "\": empty revision after '@'");
  }
  const std::string bad = "\"" + text + "\" is not a model repository OWNER/NAME[/SUBFOLDER][@REVISION]";
  size_t slash = ref.repo.find('/');
  if (slash == std::string::npos) return Status::Error(bad + ": expected OWNER/NAME");
  if (size_t sub = ref.repo.find('/', slash + 1); sub != std::string::npos) {
    ref.subfolder = ref.repo.substr(sub + 1);
    ref.repo.resize(sub);
    size_t start = 0;
    while (true) {
      const size_t end = ref.subfolder.find('/', start);
      const std::string part = ref.subfolder.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (part.empty() || part == "." || part == ".." || !std::all_of(part.begin(), part.end(), repo_char))
        return Status::Error(bad + ": each folder of the subfolder is letters, digits, '-', '_' or '.', and not "
                                   "empty, \".\" or \"..\"");
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  if (ref.repo.size() > kMaxRepoIdLength) return Status::Error(bad + ": longer than 96 characters");
  for (const std::string& part : {ref.repo.substr(0, slash), ref.repo.substr(slash + 1)}) {
    if (part.empty() || !std::all_of(part.begin(), part.end(), repo_char))
      return Status::Error(bad + ": each part is letters, digits, '-', '_' or '.'");
    if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
      return Status::Error(bad + ": a part cannot start or end with '-' or '.'");
  }
  if (ref.repo.find("--") != std::string::npos || ref.repo.find("..") != std::string::npos)
    return Status::Error(bad + ": \"--\" and \"..\" are not allowed");
  return ref;
}

std::string default_endpoint() {
  const char* env = std::getenv("HF_ENDPOINT");
  std::string e = env && *env ? env : "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

std::string default_token() {
  const char* env = std::getenv("HF_TOKEN");
  return env ? env : "";
}

std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& path) {
  return endpoint + "/" + repo + "/resolve/" + percent_encode(revision, false) + "/" + percent_encode(path, true);
}

Result<RepoListing> parse_listing(const std::string& json_text, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(where + ": the reply is not a JSON object");
  RepoListing listing;
  auto sha = j.find("sha");
  if (sha == j.end() || !sha->is_string() || sha->get<std::string>().empty())
    return Status::Error(where + ": field \"sha\" (the commit) missing or not a string");
  listing.commit = sha->get<std::string>();
  if (!std::all_of(listing.commit.begin(), listing.commit.end(),
                   [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
    return Status::Error(where + ": field \"sha\" is not a hexadecimal commit id: " + listing.commit);
  auto siblings = j.find("siblings");
  if (siblings == j.end() || !siblings->is_array())
    return Status::Error(where + ": field \"siblings\" (the file list) missing or not an array");
  for (size_t i = 0; i < siblings->size(); ++i) {
    const auto& s = (*siblings)[i];
    const std::string field = where + ": siblings[" + std::to_string(i) + "]";
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string())
      return Status::Error(field + ".rfilename missing or not a string");
    RepoFile f;
    f.path = s["rfilename"].get<std::string>();
    if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
    if (s.contains("blobId") && s["blobId"].is_string()) f.git_sha1 = s["blobId"].get<std::string>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      f.lfs = true;
      // "sha256" in model_info's siblings, "oid" in the tree API's entries.
      for (const char* key : {"sha256", "oid"})
        if (lfs.contains(key) && lfs[key].is_string()) f.sha256 = lfs[key].get<std::string>();
      if (f.sha256.empty()) return Status::Error(field + ".lfs.sha256 missing or not a string");
      if (!lfs.contains("size") || !lfs["size"].is_number_unsigned())
        return Status::Error(field + ".lfs.size missing or not a non-negative integer");
      f.size = lfs["size"].get<uint64_t>();
    }
    listing.files.push_back(std::move(f));
  }
  return listing;
}

Result<RepoListing> list_repo(const std::string& endpoint, const ModelRef& ref, const std::string& token,
                              const HttpOptions& http) {
  HttpRequest request;
  request.url = endpoint + "/api/models/" + ref.repo + "/revision/" + percent_encode(ref.revision, false) +
                "?blobs=true";
  request.bearer_token = token;
  Result<HttpResponse> response = http_get(request, http);
  if (!response.ok()) return response.status().wrap("listing " + ref.repo + "@" + ref.revision);
  if (response->status != 200)
    return Status::Error(describe_http_error(*response, "listing " + ref.repo + "@" + ref.revision, ref.repo,
                                             endpoint, !token.empty()));
  if (!response->body_status.ok())
    return response->body_status.wrap("listing " + ref.repo + "@" + ref.revision);
  return parse_listing(response->body, request.url);
}

bool is_model_file(const std::string& path) {
  if (path.find('/') != std::string::npos) return false;
  static const char* const kExact[] = {"config.json",          "generation_config.json", "tokenizer.json",
                                       "tokenizer.model",      "tokenizer_config.json",  "mtpc.json",
                                       "params.json"};
  for (const char* name : kExact)
    if (path == name) return true;
  if (ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json")) return true;
  return path.rfind("consolidated", 0) == 0 && ends_with(path, ".pth");
}

std::string describe_http_error(const HttpResponse& response, const std::string& what, const std::string& repo,
                                const std::string& endpoint, bool had_token) {
  const std::string code = response.header("x-error-code");
  std::string message = response.header("x-error-message");
  if (message.empty()) message = snippet(response.body);
  std::string out = what + ": HTTP " + std::to_string(response.status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += " (" + message + ")";
  const bool gated = code == "GatedRepo" || response.status == 403 ||
                     (response.status == 401 && code != "RepoNotFound");
  if (gated) {
    out += had_token ? ". The token in HF_TOKEN has no access: accept the licence at " + endpoint + "/" + repo +
                           " with that account, or use a token of an account that did"
                     : ". The repository is gated or private: set HF_TOKEN to an access token of an account "
                       "that accepted the licence at " + endpoint + "/" + repo;
  } else if (code == "RepoNotFound" || (response.status == 404 && code.empty() && what.rfind("listing", 0) == 0)) {
    out += ". Repository " + repo + " not found" + (had_token ? "" : " (a private one needs HF_TOKEN)");
  } else if (code == "RevisionNotFound") {
    out += ". No such revision (a branch, tag or commit) in " + repo;
  }
  return out;
}

}  // namespace mtpc::hub
