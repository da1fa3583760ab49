#include "hub/pull.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "base/atomic_file.h"
#include "hub/hub_api.h"
#include "hub/model_cache.h"

namespace mtpc::hub {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHashBlock = 1 << 20;  // bytes read per hashing step

bool is_hex(const std::string& s, size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The hub's ETags come quoted and sometimes weak (W/"..."); the digest is inside.
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return lower(etag);
}

std::string errno_text() { return std::strerror(errno); }

// sha256 of the file's bytes, or git's blob id: sha1("blob <size>\0" + bytes).
Result<std::string> hash_file(const std::string& path, bool git_blob) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(path + ": cannot open to verify: " + errno_text());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), git_blob ? EVP_sha1() : EVP_sha256(), nullptr);
  if (git_blob) {
    struct stat st {};
    ::fstat(fd, &st);
    std::string header = "blob " + std::to_string(st.st_size);
    EVP_DigestUpdate(ctx.get(), header.data(), header.size() + 1);  // with its NUL
  }
  std::string block(kHashBlock, '\0');
  while (true) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = errno_text();
      ::close(fd);
      return Status::Error(path + ": read error while verifying: " + why);
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), block.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

uint64_t size_or_zero(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

// What a file must be, from the listing and, where it is silent, the hub's
// headers on the resolve reply.
struct Expected {
  std::optional<uint64_t> size;
  std::string sha256;    // LFS content
  std::string git_sha1;  // small files: git blob id
};

Expected expected_from_listing(const RepoFile& f) {
  Expected e;
  e.size = f.size;
  if (f.lfs) {
    e.sha256 = lower(f.sha256);
  } else if (is_hex(lower(f.git_sha1), 40)) {
    e.git_sha1 = lower(f.git_sha1);
  }
  return e;
}

void fill_from_headers(Expected& e, const HttpResponse& r) {
  // X-Linked-* describe the LFS object behind the hub's redirect.
  const std::string linked_etag = normalize_etag(r.origin_header("x-linked-etag"));
  if (e.sha256.empty() && e.git_sha1.empty()) {
    if (is_hex(linked_etag, 64)) {
      e.sha256 = linked_etag;
    } else if (std::string etag = normalize_etag(r.origin_header("etag")); is_hex(etag, 40)) {
      e.git_sha1 = etag;
    } else if (is_hex(etag, 64)) {
      e.sha256 = etag;
    }
  }
  if (!e.size) {
    const std::string linked = r.origin_header("x-linked-size");
    if (!linked.empty() && std::all_of(linked.begin(), linked.end(), ::isdigit)) e.size = std::stoull(linked);
  }
}

// Parses "bytes START-END/TOTAL"; START, or nullopt.
std::optional<uint64_t> content_range_start(const std::string& value) {
  if (value.rfind("bytes ", 0) != 0) return std::nullopt;
  size_t dash = value.find('-', 6);
  std::string start = value.substr(6, dash == std::string::npos ? std::string::npos : dash - 6);
  if (start.empty() || !std::all_of(start.begin(), start.end(), ::isdigit)) return std::nullopt;
  return std::stoull(start);
}

class FileFetch {
 public:
  FileFetch(const PullOptions& o, const std::string& endpoint, const std::string& repo, const std::string& commit,
            const std::string& dir)
      : o_(o), endpoint_(endpoint), repo_(repo), commit_(commit), dir_(dir) {}

  // `local`: the file's name under the model directory.
  Result<PulledFile> run(const RepoFile& file, const std::string& local);

 private:
  void note(const std::string& s) const {
    if (o_.log) o_.log(s);
  }
  Status verify(const std::string& path, const Expected& e, const std::string& url, PulledFile& out);

  const PullOptions& o_;
  std::string endpoint_, repo_, commit_, dir_;
};

Status FileFetch::verify(const std::string& path, const Expected& e, const std::string& url, PulledFile& out) {
  const std::string name = out.path;
  out.size = size_or_zero(path);
  if (e.size && out.size != *e.size) {
    return Status::Error(name + ": size mismatch: the hub lists " + std::to_string(*e.size) + " bytes, got " +
                         std::to_string(out.size) + " from " + url);
  }
  if (e.sha256.empty() && e.git_sha1.empty()) {
    note(name + ": the hub lists no checksum; checked the size only");
    out.checksum = "size:" + std::to_string(out.size);
    return Status::Ok();
  }
  const bool git = e.sha256.empty();
  Result<std::string> got = hash_file(path, git);
  if (!got.ok()) return got.status();
  const std::string& want = git ? e.git_sha1 : e.sha256;
  const std::string kind = git ? "git-sha1" : "sha256";
  if (*got != want)
    return Status::Error(name + ": " + kind + " mismatch: the hub lists " + want + ", the download has " + *got +
                         " (from " + url + ")");
  out.checksum = kind + ":" + want;
  return Status::Ok();
}

Result<PulledFile> FileFetch::run(const RepoFile& file, const std::string& local) {
  PulledFile out;
  out.path = file.path;
  out.local_path = local;
  const std::string final_path = dir_ + "/" + local;
  const std::string partial = final_path + ".incomplete";
  Expected expected = expected_from_listing(file);
  const std::string url = resolve_url(endpoint_, repo_, commit_, file.path);

  // Already there from an earlier pull: keep it when it still verifies.
  std::error_code ec;
  if (fs::is_regular_file(final_path, ec) && expected.size && size_or_zero(final_path) == *expected.size &&
      (!expected.sha256.empty() || !expected.git_sha1.empty())) {
    if (verify(final_path, expected, final_path, out).ok()) {
      if (o_.progress) o_.progress({file.path, out.size, out.size, true});
      return out;
    }
    note(file.path + ": the copy on disk does not verify; downloading it again");
  }

  HttpResponse last;
  bool complete = false;
  for (int attempt = 1; attempt <= o_.max_attempts && !complete; ++attempt) {
    uint64_t offset = size_or_zero(partial);
    if (expected.size && offset > *expected.size) {
      fs::remove(partial, ec);
      offset = 0;
    }
    if (expected.size && offset == *expected.size && offset > 0) {
      complete = true;  // the earlier run got every byte; only the check is left
      break;
    }
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Status::Error(partial + ": cannot open for writing: " + errno_text());
    // Two pulls appending to one partial file would interleave their bytes.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::Error(partial + ": another mtpc pull is downloading this file; wait for it to finish");
    }
    uint64_t done = offset, total = expected.size.value_or(0);
    Status write_error;
    HttpRequest request;
    request.url = url;
    request.bearer_token = o_.token;
    if (offset > 0) {
      request.headers.push_back({"Range", "bytes=" + std::to_string(offset) + "-"});
      note(file.path + ": resuming at byte " + std::to_string(offset));
    }
    auto on_head = [&](int status, const std::map<std::string, std::string>& headers) -> Status {
      auto header = [&](const char* n) {
        auto it = headers.find(n);
        return it == headers.end() ? std::string() : it->second;
      };
      if (status == 200 && offset > 0) {  // the server ignored the range: start over
        if (::ftruncate(fd, 0) != 0) return Status::Error(partial + ": cannot truncate: " + errno_text());
        done = offset = 0;
      } else if (status == 206) {
        auto start = content_range_start(header("content-range"));
        if (!start || *start != offset)
          return Status::Error(file.path + ": asked for bytes from " + std::to_string(offset) +
                               ", the server sent Content-Range \"" + header("content-range") + "\"");
      }
      if (total == 0 && (status == 200 || status == 206)) {
        const std::string length = header("content-length");
        if (!length.empty() && std::all_of(length.begin(), length.end(), ::isdigit))
          total = offset + std::stoull(length);
      }
      return Status::Ok();
    };
    auto sink = [&](std::string_view chunk) -> Status {
      while (!chunk.empty()) {
        ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return write_error = Status::Error(partial + ": write failed: " + errno_text());
        chunk.remove_prefix(static_cast<size_t>(n));
        done += static_cast<uint64_t>(n);
      }
      if (o_.progress) o_.progress({file.path, done, total, false});
      return Status::Ok();
    };
    Result<HttpResponse> response = http_get(request, o_.http, sink, on_head);
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!response.ok()) return response.status().wrap(file.path);
    if (!write_error.ok()) return write_error;
    if (!synced) return Status::Error(partial + ": fsync failed: " + errno_text());
    last = *response;
    const int status = response->status;
    if (status == 416 && offset > 0) {  // nothing past our end: the partial file is all of it, or wrong
      fill_from_headers(expected, last);
      if (expected.size && offset == *expected.size) {
        complete = true;
      } else {
        fs::remove(partial, ec);
      }
      continue;
    }
    if (status >= 500) {
      note(file.path + ": HTTP " + std::to_string(status) + " from " + response->url + "; retrying");
      continue;
    }
    if (status != 200 && status != 206)
      return Status::Error(describe_http_error(*response, file.path, repo_, endpoint_, !o_.token.empty()));
    fill_from_headers(expected, last);
    if (!response->body_status.ok()) {
      note(file.path + ": " + response->body_status.message());
      if (attempt == o_.max_attempts)
        return Status::Error(file.path + ": transfer interrupted " + std::to_string(o_.max_attempts) +
                             " times; the part downloaded is kept in " + partial +
                             " and the next pull resumes it. Last: " + response->body_status.message());
      continue;
    }
    complete = true;
  }
  if (!complete)
    return Status::Error(file.path + ": no complete download after " + std::to_string(o_.max_attempts) +
                         " tries (last HTTP status " + std::to_string(last.status) + ")");

  Status verified = verify(partial, expected, url, out);
  if (!verified.ok()) {
    fs::remove(partial, ec);
    return Status::Error(verified.message() + "; the download was deleted");
  }
  fs::rename(partial, final_path, ec);
  if (ec) return Status::Error(final_path + ": cannot rename the verified download into place: " + ec.message());
  Status synced = fsync_dir(dir_);
  if (!synced.ok()) return synced;
  out.downloaded = true;
  if (o_.progress) o_.progress({file.path, out.size, out.size, true});
  return out;
}

}  // namespace

Result<PullResult> pull_model(const PullOptions& options) {
  Result<ModelRef> ref = parse_model_ref(options.model);
  if (!ref.ok()) return ref.status();
  const std::string endpoint = options.endpoint.empty() ? default_endpoint() : options.endpoint;
  Result<RepoListing> listing = list_repo(endpoint, *ref, options.token, options.http);
  if (!listing.ok()) return listing.status();

  // The files to fetch and their names in the model directory. With a
  // subfolder: its model files, plus the top folder's that it lacks (Meta's
  // release keeps tokenizer.model at the top, the weights in folders).
  std::vector<std::pair<RepoFile, std::string>> wanted;
  std::vector<std::string> skipped;
  const std::string prefix = ref->subfolder.empty() ? "" : ref->subfolder + "/";
  if (!prefix.empty()) {
    for (const RepoFile& f : listing->files)
      if (f.path.compare(0, prefix.size(), prefix) == 0 && is_model_file(f.path.substr(prefix.size())))
        wanted.emplace_back(f, f.path.substr(prefix.size()));
    if (wanted.empty())
      return Status::Error(ref->repo + "@" + ref->revision + ": no model files (config.json, params.json, "
                           "*.safetensors, consolidated*.pth) in the folder " + ref->subfolder);
  }
  const size_t from_subfolder = wanted.size();
  for (const RepoFile& f : listing->files) {
    const bool in_subfolder = !prefix.empty() && f.path.compare(0, prefix.size(), prefix) == 0 &&
                              is_model_file(f.path.substr(prefix.size()));
    if (in_subfolder) continue;
    const bool shadowed = std::any_of(wanted.begin(), wanted.begin() + from_subfolder,
                                      [&](const auto& w) { return w.second == f.path; });
    if (is_model_file(f.path) && !shadowed)
      wanted.emplace_back(f, f.path);
    else
      skipped.push_back(f.path);
  }
  // A repository whose models are all in folders: say which, rather than
  // fetch a tokenizer alone.
  const bool has_config = std::any_of(wanted.begin(), wanted.end(), [](const auto& w) {
    return w.second == "config.json" || w.second == "params.json";
  });
  std::vector<std::string> folders;
  if (!has_config) {
    for (const RepoFile& f : listing->files) {
      const size_t slash = f.path.rfind('/');
      if (slash == std::string::npos || f.path.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string name = f.path.substr(slash + 1);
      if (name == "config.json" || name == "params.json") folders.push_back(f.path.substr(0, slash));
    }
    std::sort(folders.begin(), folders.end());
  }
  if (wanted.empty() || !folders.empty()) {
    std::string hint;
    if (!folders.empty()) {
      hint = "; models are in the folders ";
      for (size_t i = 0; i < folders.size(); ++i) hint += (i ? ", " : "") + folders[i];
      hint += ": pull one as " + ref->repo + "/" + folders.front() +
              (ref->revision == "main" ? "" : "@" + ref->revision);
    }
    return Status::Error(ref->repo + "@" + ref->revision +
                         ": no model files (config.json, params.json, *.safetensors, consolidated*.pth, tokenizer "
                         "files) in the repository's " +
                         (prefix.empty() ? std::string("top folder") : "folder " + ref->subfolder) + hint);
  }

  PullResult result;
  result.commit = listing->commit;
  result.skipped = std::move(skipped);
  std::string root;
  if (options.out_dir.empty()) {
    Result<std::string> r = cache_root();
    if (!r.ok()) return r.status();
    root = *r;
    result.dir = repo_cache_dir(root, ref->repo) + "/" + listing->commit + (prefix.empty() ? "" : "/" + ref->subfolder);
  } else {
    result.dir = options.out_dir;
  }
  std::error_code ec;
  fs::create_directories(result.dir, ec);
  if (ec) return Status::Error(result.dir + ": cannot create the model directory: " + ec.message());

  // Small files first: a gated repository or a bad name fails in a second,
  // not after the weights.
  std::stable_sort(wanted.begin(), wanted.end(), [](const auto& a, const auto& b) {
    return a.first.size.value_or(UINT64_MAX) < b.first.size.value_or(UINT64_MAX);
  });
  FileFetch fetch(options, endpoint, ref->repo, listing->commit, result.dir);
  for (const auto& [f, local] : wanted) {
    Result<PulledFile> pulled = fetch.run(f, local);
    if (!pulled.ok()) return pulled.status().wrap(ref->repo + "@" + ref->revision);
    result.files.push_back(*pulled);
  }
  if (!prefix.empty()) {
    // The ref below names the commit, not which of its folders are whole:
    // a folder counts once this marker is there (model_cache.h).
    Status s = write_file_atomic(result.dir + "/" + kSubfolderComplete, listing->commit + "\n");
    if (!s.ok()) return s;
  }
  if (!root.empty()) {
    const std::string ref_file = ref_path(root, ref->repo, ref->revision);
    fs::create_directories(fs::path(ref_file).parent_path(), ec);
    if (ec) return Status::Error(ref_file + ": cannot create the refs folder: " + ec.message());
    Status s = write_file_atomic(ref_file, listing->commit + "\n");
    if (!s.ok()) return s;
  }
  return result;
}

}  // namespace mtpc::hub
