// The pieces of mtpc pull that need no server: URLs and redirects, model
// names, which files a model needs, the listing's fields, the cache lookup.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <cstdlib>
#include <filesystem>

#include "common/test_util.h"
#include "hub/http_client.h"
#include "hub/hub_api.h"
#include "hub/model_cache.h"
#include "hub/url.h"

namespace mtpc::hub {
namespace {

TEST(HubUrl, ParsesAndResolvesRedirectLocations) {
  Result<Url> u = parse_url("https://Hub.example:8443/acme/tiny/resolve/main/config.json?x=1#frag");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->host, "hub.example");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/acme/tiny/resolve/main/config.json?x=1");
  EXPECT_EQ(parse_url("http://h")->target, "/");
  EXPECT_EQ(parse_url("http://h")->port, 80);
  EXPECT_EQ(parse_url("https://[::1]:9/p")->authority(), "[::1]:9");

  auto resolve = [&](const char* loc) { return resolve_location(*u, loc)->str(); };
  EXPECT_EQ(resolve("https://cdn.example/blob?sig=1"), "https://cdn.example/blob?sig=1");
  EXPECT_EQ(resolve("//cdn.example/b"), "https://cdn.example/b");
  EXPECT_EQ(resolve("/other/resolve/main/config.json"), "https://hub.example:8443/other/resolve/main/config.json");
  EXPECT_EQ(resolve("../../raw/abc/config.json"), "https://hub.example:8443/acme/tiny/raw/abc/config.json");
  EXPECT_EQ(resolve("x.json"), "https://hub.example:8443/acme/tiny/resolve/main/x.json");
  EXPECT_EQ(resolve("../../../../../x"), "https://hub.example:8443/x");

  for (const char* bad : {"ftp://h/x", "huggingface.co/x", "https:///x", "https://h:99999/", "https://h:8x/"})
    EXPECT_FALSE(parse_url(bad).ok()) << bad;
  EXPECT_EQ(percent_encode("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(percent_encode("sub dir/a+b.json", true), "sub%20dir/a%2Bb.json");
}

TEST(HubModelRef, FollowsTheHubsRepositoryIdRules) {
  Result<ModelRef> r = parse_model_ref("Qwen/Qwen2.5-Coder-0.5B@refs/pr/3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repo, "Qwen/Qwen2.5-Coder-0.5B");
  EXPECT_EQ(r->revision, "refs/pr/3");
  EXPECT_EQ(parse_model_ref("facebook/multi-token-prediction")->revision, "main");
  for (const char* bad : {"gpt2", "a/b@", "/b", "a/", "a/b c", "a--x/b", "a/..b", ".a/b", "a/b-", "a/b/",
                          "a/b//c", "a/b/..", "a/b/./c", "a/b/c d", "a/b/../../etc@main"})
    EXPECT_FALSE(parse_model_ref(bad).ok()) << bad;
  EXPECT_NE(parse_model_ref("gpt2").status().message().find("OWNER/NAME[/SUBFOLDER][@REVISION]"), std::string::npos);
  // A model in a folder of the repository (Meta's release).
  Result<ModelRef> sub = parse_model_ref("facebook/multi-token-prediction/7B_1T_4@v1.0");
  ASSERT_TRUE(sub.ok()) << sub.status().message();
  EXPECT_EQ(sub->repo, "facebook/multi-token-prediction");
  EXPECT_EQ(sub->subfolder, "7B_1T_4");
  EXPECT_EQ(sub->revision, "v1.0");
  EXPECT_EQ(parse_model_ref("a/b/c/d")->subfolder, "c/d");
  EXPECT_EQ(parse_model_ref("a/b")->subfolder, "");
}

TEST(HubModelFiles, OnlyWhatAModelDirectoryNeeds) {
  for (const char* yes : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
                          "tokenizer_config.json", "mtpc.json", "params.json", "model.safetensors",
                          "model-00001-of-00002.safetensors", "model.safetensors.index.json", "consolidated.pth",
                          "consolidated.00.pth"})
    EXPECT_TRUE(is_model_file(yes)) << yes;
  for (const char* no : {"pytorch_model.bin", "model.gguf", "model.onnx", "flax_model.msgpack", "tf_model.h5",
                         "README.md", ".gitattributes", "original/consolidated.00.pth", "onnx/model.safetensors",
                         "special_tokens_map.json", "optimizer.pth"})
    EXPECT_FALSE(is_model_file(no)) << no;
}

TEST(HubListing, ReadsTheSiblingsAndNamesBadFields) {
  Result<RepoListing> l = parse_listing(R"({"sha": "0123abcd", "siblings": [
      {"rfilename": "config.json", "size": 12, "blobId": "ab"},
      {"rfilename": "model.safetensors", "size": 9, "blobId": "cd",
       "lfs": {"size": 1000, "sha256": "ee", "pointerSize": 134}},
      {"rfilename": "x.json"}]})", "reply");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->commit, "0123abcd");
  ASSERT_EQ(l->files.size(), 3u);
  EXPECT_EQ(*l->files[0].size, 12u);
  EXPECT_FALSE(l->files[0].lfs);
  EXPECT_TRUE(l->files[1].lfs);
  EXPECT_EQ(*l->files[1].size, 1000u);  // the content's size, not the pointer's
  EXPECT_EQ(l->files[1].sha256, "ee");
  EXPECT_FALSE(l->files[2].size.has_value());

  struct Bad { const char* json; const char* field; };
  for (const Bad& b : {Bad{"[]", "not a JSON object"}, Bad{R"({"siblings": []})", "\"sha\""},
                       Bad{R"({"sha": "zz", "siblings": []})", "hexadecimal"},
                       Bad{R"({"sha": "ab"})", "\"siblings\""},
                       Bad{R"({"sha": "ab", "siblings": [{"size": 1}]})", "siblings[0].rfilename"},
                       Bad{R"({"sha": "ab", "siblings": [{"rfilename": "m", "lfs": {"size": 1}}]})",
                           "siblings[0].lfs.sha256"}}) {
    Result<RepoListing> r = parse_listing(b.json, "reply");
    ASSERT_FALSE(r.ok()) << b.json;
    EXPECT_NE(r.status().message().find(b.field), std::string::npos) << r.status().message();
  }
}

TEST(HubHttp, AClosedPortIsAConnectError) {
  HttpRequest request;
  request.url = "http://127.0.0.1:1/x";  // nothing listens on port 1 here
  HttpOptions options;
  options.connect_timeout_ms = 2000;
  Result<HttpResponse> r = http_get(request, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot connect to 127.0.0.1:1"), std::string::npos) << r.status().message();
}

TEST(HubHttp, AServerThatNeverAnswersTheHandshakeTimesOut) {
  // Listening but never accepting: TCP connects (the kernel's backlog), the
  // TLS handshake gets no reply.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  HttpRequest request;
  request.url = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/api";
  HttpOptions options;
  options.connect_timeout_ms = 500;
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> r = http_get(request, options);
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(HubModelCache, ResolvesDirectoriesAndPulledNames) {
  mtpc::testing::TempDir tmp;
  setenv("MTPC_CACHE", (tmp / "cache").c_str(), 1);
  std::filesystem::create_directories(tmp / "plain");
  EXPECT_EQ(*resolve_model_dir(tmp / "plain"), tmp / "plain");

  mtpc::testing::write_file(tmp / "file", "x");
  Result<std::string> file = resolve_model_dir(tmp / "file");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("not a directory"), std::string::npos);

  Result<std::string> none = resolve_model_dir("no/such-model@v1");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "no/such-model@v1: not a directory and not in the cache (" + (tmp / "cache") +
                "): run mtpc pull no/such-model@v1");
  Result<std::string> odd = resolve_model_dir("./nowhere");
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().message(), "./nowhere: no such model directory");

  // A pulled revision: refs/REV names the commit folder.
  const std::string repo_dir = tmp / "cache/models/acme--m";
  std::filesystem::create_directories(repo_dir + "/abc123");
  std::filesystem::create_directories(repo_dir + "/refs");
  mtpc::testing::write_file(repo_dir + "/refs/refs%2Fpr%2F1", "abc123\n");
  EXPECT_EQ(*resolve_model_dir("acme/m@refs/pr/1"), repo_dir + "/abc123");
  EXPECT_EQ(*resolve_model_dir("acme/m@abc123"), repo_dir + "/abc123");
  EXPECT_FALSE(resolve_model_dir("acme/m").ok());  // main was never pulled
  // A commit folder no ref names is a pull that did not finish.
  std::filesystem::create_directories(repo_dir + "/def456");
  EXPECT_FALSE(resolve_model_dir("acme/m@def456").ok());

  unsetenv("MTPC_CACHE");
  setenv("XDG_CACHE_HOME", (tmp / "xdg").c_str(), 1);
  EXPECT_EQ(*cache_root(), tmp / "xdg/mtpc");
  unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  setenv("HOME", (tmp / "home").c_str(), 1);
  EXPECT_EQ(*cache_root(), tmp / "home/.cache/mtpc");
  setenv("HOME", saved_home.c_str(), 1);
}

}  // namespace
}  // namespace mtpc::hub
