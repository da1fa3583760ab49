// mtpc pull against the local stand-in hub (fixture_hub.py): the files a
// model needs and nothing else, checked against the hub's checksums (computed
// by Python's hashlib), resumed after a dropped or stalled transfer, a wrong
// checksum refused, a gated repository, a missing one, a redirect loop, TLS
// verification, and the cache --model resolves names in.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "hub/fixture_hub.h"
#include "hub/model_cache.h"
#include "hub/pull.h"

namespace mtpc::hub {
namespace {

namespace fs = std::filesystem;
using mtpc::testing::FixtureHub;
using mtpc::testing::read_file;
using mtpc::testing::run_command;

constexpr const char* kToken = "hf_fixture_token";  // the fixture's gated repository accepts this one

class HubPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(hub_.error(), "");
    cache_ = hub_.scratch("cache");
    setenv("MTPC_CACHE", cache_.c_str(), 1);
    unsetenv("SSL_CERT_FILE");
  }
  PullOptions options(const std::string& model) const {
    PullOptions o;
    o.model = model;
    o.endpoint = hub_.endpoint();
    o.http.ca_file = hub_.cert();
    o.http.connect_timeout_ms = 5000;
    o.http.stall_timeout_ms = 5000;
    o.log = [this](const std::string& s) { notes_ += s + "\n"; };
    return o;
  }
  // Requests to the file store that asked for a range starting after 0 (the
  // hub sees the same request first, on its way to the redirect).
  int resumed_requests() const {
    int n = 0;
    std::istringstream log(hub_.request_log());
    for (std::string line; std::getline(log, line);)
      if (line.find("\"server\": \"store\"") != std::string::npos &&
          line.find("\"range\": \"bytes=") != std::string::npos && line.find("bytes=0-") == std::string::npos)
        ++n;
    return n;
  }
  bool any_file_named(const std::string& suffix) const {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(cache_, ec)) {
      const std::string p = e.path().string();
      if (p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
    }
    return false;
  }

  FixtureHub hub_;
  std::string cache_;
  mutable std::string notes_;
};

TEST_F(HubPullTest, FetchesOnlyModelFilesVerifiedIntoTheCacheAndResolvesTheName) {
  PullOptions o = options("acme/tiny");
  o.token = "some-token";  // must reach the hub but never the file store (it answers 400 to one)
  int progress_calls = 0;
  bool saw_finished = false;
  o.progress = [&](const TransferProgress& p) {
    ++progress_calls;
    if (p.file == "model.safetensors" && p.finished) saw_finished = p.done == 300000 && p.total == 300000;
  };
  Result<PullResult> r = pull_model(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dir, cache_ + "/models/acme--tiny/" + r->commit);
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"})
    EXPECT_EQ(read_file(r->dir + "/" + f), hub_.file("acme/tiny", f)) << f;
  for (const char* f : {"pytorch_model.bin", "README.md", "original", "model.safetensors.incomplete"})
    EXPECT_FALSE(fs::exists(r->dir + "/" + std::string(f))) << f;
  EXPECT_EQ(r->files.size(), 3u);
  EXPECT_EQ(r->skipped.size(), 3u);
  for (const PulledFile& f : r->files) {
    EXPECT_TRUE(f.downloaded);
    EXPECT_EQ(f.checksum.rfind(f.path == "model.safetensors" ? "sha256:" : "git-sha1:", 0), 0u) << f.checksum;
  }
  EXPECT_GT(progress_calls, 3);
  EXPECT_TRUE(saw_finished);

  const std::string log = hub_.request_log();
  EXPECT_NE(log.find("\"server\": \"store\""), std::string::npos);
  EXPECT_EQ(log.find("authorization sent"), std::string::npos);
  // The relative same-host redirect to /raw/ kept the token.
  EXPECT_NE(log.find("/acme/tiny/raw/" + r->commit + "/config.json\", \"range\": null, \"auth\": \"Bearer some-token\""),
            std::string::npos)
      << log;

  for (const std::string& name : std::vector<std::string>{"acme/tiny", "acme/tiny@main", "acme/tiny@" + r->commit}) {
    Result<std::string> dir = resolve_model_dir(name);
    ASSERT_TRUE(dir.ok()) << name << ": " << dir.status().message();
    EXPECT_EQ(*dir, r->dir);
  }
  Result<std::string> other = resolve_model_dir("acme/tiny@v2");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("run mtpc pull acme/tiny@v2"), std::string::npos);
}

TEST_F(HubPullTest, AModelInAFolderComesWithTheTopFoldersTokenizer) {
  // Meta's layout: the top folder alone is no model; the error names the folders.
  Result<PullResult> top = pull_model(options("acme/meta"));
  ASSERT_FALSE(top.ok());
  EXPECT_NE(top.status().message().find("7B_1T_4, 7B_200B_1"), std::string::npos) << top.status().message();
  EXPECT_NE(top.status().message().find("pull one as acme/meta/7B_1T_4"), std::string::npos) << top.status().message();

  Result<PullResult> r = pull_model(options("acme/meta/7B_1T_4"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dir, cache_ + "/models/acme--meta/" + r->commit + "/7B_1T_4");
  for (const char* f : {"params.json", "consolidated.pth"})
    EXPECT_EQ(read_file(r->dir + "/" + f), hub_.file("acme/meta", std::string("7B_1T_4/") + f)) << f;
  EXPECT_EQ(read_file(r->dir + "/tokenizer.model"), hub_.file("acme/meta", "tokenizer.model"));
  EXPECT_EQ(r->files.size(), 3u);
  for (const PulledFile& f : r->files) {
    EXPECT_EQ(f.local_path, f.path.substr(f.path.rfind('/') + 1)) << f.path;
    if (f.local_path == "consolidated.pth") EXPECT_EQ(f.checksum.rfind("sha256:", 0), 0u) << f.checksum;
  }
  for (const char* f : {"README.md", "llama", "7B_200B_1", "7B_1T_4"})
    EXPECT_FALSE(fs::exists(r->dir + "/" + std::string(f))) << f;
  EXPECT_FALSE(fs::exists(cache_ + "/models/acme--meta/" + r->commit + "/7B_200B_1")) << "only the folder asked for";

  Result<std::string> dir = resolve_model_dir("acme/meta/7B_1T_4");
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(*dir, r->dir);
  // The other folder was never pulled: its name does not resolve, although
  // the commit's ref exists now.
  Result<std::string> other = resolve_model_dir("acme/meta/7B_200B_1");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("run mtpc pull acme/meta/7B_200B_1"), std::string::npos);
  // A folder holding no model is named.
  Result<PullResult> none = pull_model(options("acme/meta/llama"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("folder llama"), std::string::npos) << none.status().message();
}

TEST_F(HubPullTest, SecondPullKeepsVerifiedFilesAndDownloadsNothing) {
  ASSERT_TRUE(pull_model(options("acme/tiny")).ok());
  const size_t requests_before = hub_.request_log().size();
  Result<PullResult> again = pull_model(options("acme/tiny"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  for (const PulledFile& f : again->files) EXPECT_FALSE(f.downloaded) << f.path;
  // Only the listing was asked for.
  std::string new_requests = hub_.request_log().substr(requests_before);
  EXPECT_NE(new_requests.find("/api/models/acme/tiny/revision/main"), std::string::npos);
  EXPECT_EQ(new_requests.find("resolve"), std::string::npos) << new_requests;

  // A file changed on disk (same size) no longer verifies: fetched again.
  std::string config = read_file(again->dir + "/config.json");
  config[config.size() - 2] ^= 1;
  mtpc::testing::write_file(again->dir + "/config.json", config);
  Result<PullResult> third = pull_model(options("acme/tiny"));
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ(read_file(third->dir + "/config.json"), hub_.file("acme/tiny", "config.json"));
  for (const PulledFile& f : third->files) EXPECT_EQ(f.downloaded, f.path == "config.json") << f.path;
}

TEST_F(HubPullTest, ResumesWithARangeAfterTheConnectionDropsMidFile) {
  Result<PullResult> r = pull_model(options("acme/drop"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(read_file(r->dir + "/model.safetensors"), hub_.file("acme/drop", "model.safetensors"));
  EXPECT_EQ(resumed_requests(), 1) << hub_.request_log();
  EXPECT_NE(notes_.find("resuming at byte"), std::string::npos) << notes_;
}

TEST_F(HubPullTest, AStalledTransferTimesOutAndResumes) {
  PullOptions o = options("acme/stall");
  o.http.stall_timeout_ms = 1000;  // the fixture stalls for 8 s, then drops
  const auto start = std::chrono::steady_clock::now();
  Result<PullResult> r = pull_model(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(7));
  EXPECT_EQ(read_file(r->dir + "/model.safetensors"), hub_.file("acme/stall", "model.safetensors"));
  EXPECT_EQ(resumed_requests(), 1);
  EXPECT_NE(notes_.find("timed out"), std::string::npos) << notes_;
}

TEST_F(HubPullTest, ResumesThePartialFileAnEarlierRunLeft) {
  PullOptions o = options("acme/tiny");
  o.out_dir = hub_.scratch("out");
  fs::create_directories(o.out_dir);
  const std::string weights = hub_.file("acme/tiny", "model.safetensors");
  mtpc::testing::write_file(o.out_dir + "/model.safetensors.incomplete", weights.substr(0, 1000));
  Result<PullResult> r = pull_model(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dir, o.out_dir);
  EXPECT_EQ(read_file(o.out_dir + "/model.safetensors"), weights);
  EXPECT_NE(hub_.request_log().find("\"range\": \"bytes=1000-\""), std::string::npos);
  EXPECT_FALSE(fs::exists(o.out_dir + "/model.safetensors.incomplete"));
  // --out writes no ref into the cache.
  EXPECT_FALSE(resolve_model_dir("acme/tiny").ok());
}

TEST_F(HubPullTest, ACorruptPartialFileIsDeletedAndTheNextPullSucceeds) {
  PullOptions o = options("acme/tiny");
  o.out_dir = hub_.scratch("out");
  fs::create_directories(o.out_dir);
  mtpc::testing::write_file(o.out_dir + "/model.safetensors.incomplete", std::string(1000, 'x'));
  Result<PullResult> r = pull_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.safetensors: sha256 mismatch"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(o.out_dir + "/model.safetensors.incomplete"));
  EXPECT_FALSE(fs::exists(o.out_dir + "/model.safetensors"));
  Result<PullResult> again = pull_model(o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(read_file(o.out_dir + "/model.safetensors"), hub_.file("acme/tiny", "model.safetensors"));
}

TEST_F(HubPullTest, AWrongChecksumIsAnErrorAndLeavesNoFileOrName) {
  Result<PullResult> r = pull_model(options("acme/badsum"));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("model.safetensors: sha256 mismatch"), std::string::npos) << m;
  EXPECT_NE(m.find("deleted"), std::string::npos) << m;
  EXPECT_FALSE(any_file_named("model.safetensors"));
  EXPECT_FALSE(any_file_named(".incomplete"));
  Result<std::string> dir = resolve_model_dir("acme/badsum");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("run mtpc pull acme/badsum"), std::string::npos);
}

TEST_F(HubPullTest, AGatedRepositoryNeedsTheToken) {
  Result<PullResult> without = pull_model(options("acme/gated"));
  ASSERT_FALSE(without.ok());
  const std::string& m = without.status().message();
  EXPECT_NE(m.find("HTTP 401 GatedRepo"), std::string::npos) << m;
  EXPECT_NE(m.find("set HF_TOKEN"), std::string::npos) << m;
  EXPECT_NE(m.find("accepted the licence at " + hub_.endpoint() + "/acme/gated"), std::string::npos) << m;

  PullOptions o = options("acme/gated");
  o.token = kToken;
  Result<PullResult> with = pull_model(o);
  ASSERT_TRUE(with.ok()) << with.status().message();
  EXPECT_EQ(read_file(with->dir + "/model.safetensors"), hub_.file("acme/gated", "model.safetensors"));
  EXPECT_EQ(hub_.request_log().find("authorization sent"), std::string::npos);
}

TEST_F(HubPullTest, AMissingRepositoryOrRevisionIsNamed) {
  Result<PullResult> r = pull_model(options("acme/nothere"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("HTTP 404 RepoNotFound"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Repository acme/nothere not found"), std::string::npos);
  Result<PullResult> rev = pull_model(options("acme/tiny@nobranch"));
  ASSERT_FALSE(rev.ok());
  EXPECT_NE(rev.status().message().find("No such revision"), std::string::npos) << rev.status().message();
  EXPECT_FALSE(fs::exists(cache_ + "/models/acme--nothere"));
}

TEST_F(HubPullTest, ARedirectLoopEnds) {
  PullOptions o = options("acme/loop");
  o.http.max_redirects = 5;
  Result<PullResult> r = pull_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too many redirects (more than 5)"), std::string::npos) << r.status().message();
  int hops = 0;
  std::istringstream log(hub_.request_log());
  for (std::string line; std::getline(log, line);)
    if (line.find("/acme/loop/resolve/") != std::string::npos && line.find("model.safetensors") != std::string::npos)
      ++hops;
  EXPECT_EQ(hops, 6);  // the first request and 5 redirects followed
}

TEST_F(HubPullTest, ARedirectFromHttpsToPlainHttpIsRefused) {
  PullOptions o = options("acme/downgrade");
  o.token = "some-token";
  Result<PullResult> r = pull_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("refusing a redirect from https to plain http"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(hub_.request_log().find("\"server\": \"store\""), std::string::npos);
}

TEST_F(HubPullTest, WithoutListedChecksumsTheHubHeadersAreUsed) {
  Result<PullResult> r = pull_model(options("acme/nometa"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const PulledFile& f : r->files) {
    EXPECT_EQ(read_file(r->dir + "/" + f.path), hub_.file("acme/nometa", f.path));
    EXPECT_EQ(f.checksum.rfind(f.path == "model.safetensors" ? "sha256:" : "git-sha1:", 0), 0u) << f.checksum;
  }
}

TEST_F(HubPullTest, AnUntrustedCertificateIsRefused) {
  PullOptions o = options("acme/tiny");
  o.http.ca_file.clear();  // the system store does not know the fixture's certificate
  Result<PullResult> r = pull_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate not trusted"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("--ca-file"), std::string::npos);
  // SSL_CERT_FILE is OpenSSL's own way to trust it.
  setenv("SSL_CERT_FILE", hub_.cert().c_str(), 1);
  Result<PullResult> with_env = pull_model(o);
  unsetenv("SSL_CERT_FILE");
  EXPECT_TRUE(with_env.ok()) << with_env.status().message();
}

TEST_F(HubPullTest, TheCommandPullsPrintsTheDirectoryAndModelNamesResolve) {
  const std::string env = "MTPC_CACHE=" + cache_ + " HF_ENDPOINT=" + hub_.endpoint() + "/ HF_TOKEN=" + kToken + " ";
  const std::string stdout_file = hub_.scratch("stdout");
  auto pulled = run_command("{ " + env + MTPC_BINARY " pull acme/gated --ca-file " + hub_.cert() + " > " +
                            stdout_file + "; }");
  ASSERT_EQ(pulled.exit_code, 0) << pulled.output;
  Result<std::string> dir = resolve_model_dir("acme/gated");
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(read_file(stdout_file), *dir + "\n");
  EXPECT_NE(pulled.output.find("3 files (3 downloaded, 0 already there), 3 skipped"), std::string::npos)
      << pulled.output;

  // stderr is a pipe here: plain progress lines, no bar.
  auto again = run_command(env + MTPC_BINARY " pull acme/gated --out " + hub_.scratch("o") + " --ca-file " + hub_.cert());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("mtpc pull: model.safetensors 100% 0.3 MB / 0.3 MB"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find('\r'), std::string::npos);

  auto gated = run_command("MTPC_CACHE=" + cache_ + " HF_TOKEN= HF_ENDPOINT=" + hub_.endpoint() + " " MTPC_BINARY
                           " pull acme/gated --out " + hub_.scratch("o2") + " --ca-file " + hub_.cert());
  EXPECT_EQ(gated.exit_code, 1);
  EXPECT_NE(gated.output.find("set HF_TOKEN"), std::string::npos) << gated.output;

  auto help = run_command(MTPC_BINARY " pull --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* s : {"*.safetensors", "consolidated*.pth", "*.gguf", "HF_TOKEN", "HF_ENDPOINT", "--ca-file"})
    EXPECT_NE(help.output.find(s), std::string::npos) << s;

  auto unknown = run_command("MTPC_CACHE=" + cache_ + " " MTPC_BINARY " complete --model acme/unpulled --prompt x");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("acme/unpulled: not a directory and not in the cache (" + cache_ +
                                "): run mtpc pull acme/unpulled"),
            std::string::npos)
      << unknown.output;
}

}  // namespace
}  // namespace mtpc::hub
