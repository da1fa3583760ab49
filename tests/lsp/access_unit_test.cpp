// The team server's access pieces, without a server: the tokens file and its
// commands, hashing, the token bucket, the LRU of documents, the limits and
// the --listen rules.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <set>

#include "common/test_util.h"
#include "lsp/access.h"
#include "lsp/auth.h"
#include "lsp/server_metrics.h"

namespace mtpc::lsp {
namespace {

using mtpc::testing::TempDir;
using mtpc::testing::read_file;
using mtpc::testing::write_file;

TEST(Tokens, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Tokens, GeneratedTokensAreLongRandomAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto t = generate_token();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->rfind("mtpc_", 0), 0u) << *t;
    EXPECT_EQ(t->size(), 5u + 43u) << *t;  // 32 bytes in base64url, unpadded
    EXPECT_EQ(t->find_first_not_of("mtpc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos);
    seen.insert(*t);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(Tokens, ParsesNamesHashesCommentsAndBlankLines) {
  const std::string h = to_hex(sha256("secret"));
  auto e = parse_tokens_file("# team\n\nalice " + h + "  # the lead\r\n  bob\t" + to_hex(sha256("x")) + "\n", "t");
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[0].name, "alice");
  EXPECT_EQ((*e)[0].hash, sha256("secret"));
  EXPECT_EQ((*e)[1].name, "bob");
}

TEST(Tokens, AMalformedLineIsAnErrorNamingTheLine) {
  const std::string h = to_hex(sha256("a"));
  struct Case {
    std::string text, says;
  } cases[] = {
      {"alice " + h + "\nbob\n", "f:2: want `NAME SHA256HEX`"},
      {"alice " + h.substr(0, 63) + "\n", "f:1: the hash must be 64 hex digits"},
      {"\n\nalice " + h.substr(0, 63) + "z\n", "f:3: the hash must be 64 hex digits"},
      {"al/ice " + h + "\n", "f:1: user name"},
      {"alice " + h + "\nalice " + h + "\n", "f:2: user alice appears twice"},
  };
  for (const auto& c : cases) {
    auto e = parse_tokens_file(c.text, "f");
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_NE(e.status().message().find(c.says), std::string::npos) << e.status().message();
  }
}

TEST(Tokens, AddListRemoveKeepOnlyHashesInA0600File) {
  TempDir dir;
  const std::string path = dir / "tokens";
  auto alice = add_user(path, "alice");
  ASSERT_TRUE(alice.ok()) << alice.status().message();
  auto bob = add_user(path, "bob");
  ASSERT_TRUE(bob.ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = read_file(path);
  EXPECT_EQ(text.find(*alice), std::string::npos) << "the token itself is never stored";
  EXPECT_NE(text.find("alice " + to_hex(sha256(*alice))), std::string::npos) << text;
  EXPECT_FALSE(add_user(path, "alice").ok()) << "a name is added once";
  EXPECT_FALSE(add_user(path, "bad name").ok());
  EXPECT_EQ(*list_users(path), (std::vector<std::string>{"alice", "bob"}));

  auto auth = Authenticator::load(path);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ((*auth)->authenticate(*alice)->user, "alice");
  EXPECT_EQ((*auth)->authenticate(*bob)->user, "bob");
  EXPECT_FALSE((*auth)->authenticate("mtpc_wrong").has_value());
  EXPECT_FALSE((*auth)->authenticate("").has_value());
  const Identity a = *(*auth)->authenticate(*alice);

  ASSERT_TRUE(remove_user(path, "alice").ok());
  EXPECT_FALSE(remove_user(path, "alice").ok());
  EXPECT_EQ(*list_users(path), (std::vector<std::string>{"bob"}));
  EXPECT_TRUE((*auth)->still_valid(a)) << "until reloaded";
  ASSERT_TRUE((*auth)->reload().ok());
  EXPECT_FALSE((*auth)->still_valid(a));
  EXPECT_FALSE((*auth)->authenticate(*alice).has_value());
  // Re-added with a new token: the old identity stays invalid.
  auto alice2 = add_user(path, "alice");
  ASSERT_TRUE((*auth)->reload().ok());
  EXPECT_FALSE((*auth)->still_valid(a));
  EXPECT_EQ((*auth)->authenticate(*alice2)->user, "alice");
}

TEST(Tokens, ABrokenFileOnReloadKeepsTheOldTable) {
  TempDir dir;
  const std::string path = dir / "tokens";
  auto t = add_user(path, "alice");
  auto auth = Authenticator::load(path);
  ASSERT_TRUE(auth.ok());
  write_file(path, "garbage\n");
  Status s = (*auth)->reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(":1:"), std::string::npos) << s.message();
  EXPECT_TRUE((*auth)->authenticate(*t).has_value());
  EXPECT_FALSE(Authenticator::load(dir / "missing").ok());
  EXPECT_FALSE(Authenticator::load(path).ok());
}

TEST(TokenBucket, AllowsTheBurstThenRefillsAtTheRate) {
  using namespace std::chrono_literals;
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket b(3, 60, t0);  // one a second
  EXPECT_EQ(b.take(t0), 0);
  EXPECT_EQ(b.take(t0), 0);
  EXPECT_EQ(b.take(t0), 0);
  EXPECT_EQ(b.take(t0), 1000);
  EXPECT_EQ(b.take(t0 + 400ms), 600);
  EXPECT_EQ(b.take(t0 + 1000ms), 0);
  EXPECT_GT(b.take(t0 + 1000ms), 0);
  // A long pause saves up no more than the capacity.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.take(t0 + 1h), 0);
  EXPECT_GT(b.take(t0 + 1h), 0);
}

TEST(LruSet, EvictsTheLeastRecentlyUsed) {
  LruSet<std::string> lru(2);
  EXPECT_TRUE(lru.touch("a").empty());
  EXPECT_TRUE(lru.touch("b").empty());
  EXPECT_TRUE(lru.touch("a").empty());  // a is now the most recent
  EXPECT_EQ(lru.touch("c"), std::vector<std::string>{"b"});
  EXPECT_TRUE(lru.contains("a"));
  lru.erase("a");
  EXPECT_TRUE(lru.touch("d").empty());
  EXPECT_EQ(lru.size(), 2u);
}

TEST(AccessControl, CountsLimitsPerUserAndInAll) {
  AccessLimits limits;
  limits.max_connections = 2;
  limits.max_connections_per_user = 1;
  limits.requests_per_minute = 2;
  limits.max_documents_per_user = 2;
  AccessControl access(limits, std::make_shared<Authenticator>(std::vector<TokenEntry>{{"alice", sha256("t")}}));
  EXPECT_TRUE(access.admit_connection());
  EXPECT_TRUE(access.admit_connection());
  EXPECT_FALSE(access.admit_connection());
  access.release_connection();
  EXPECT_TRUE(access.admit_connection());

  const std::string token = "t", wrong = "u";
  EXPECT_FALSE(access.authenticate(nullptr).has_value());
  EXPECT_FALSE(access.authenticate(&wrong).has_value());
  EXPECT_EQ(access.authenticate(&token)->user, "alice");

  EXPECT_TRUE(access.admit_user_connection("alice"));
  EXPECT_FALSE(access.admit_user_connection("alice"));
  EXPECT_TRUE(access.admit_user_connection("bob"));
  access.release_user_connection("alice");
  EXPECT_TRUE(access.admit_user_connection("alice"));

  EXPECT_TRUE(access.admit_request("alice").allowed);
  EXPECT_TRUE(access.admit_request("alice").allowed);
  auto third = access.admit_request("alice");
  EXPECT_FALSE(third.allowed);
  EXPECT_GT(third.retry_after_ms, 0);
  EXPECT_LE(third.retry_after_ms, 30000);
  EXPECT_TRUE(access.admit_request("bob").allowed) << "buckets are per user";

  EXPECT_TRUE(access.touch_document("alice", 1, "a").empty());
  EXPECT_TRUE(access.touch_document("alice", 2, "b").empty());
  EXPECT_TRUE(access.touch_document("alice", 1, "a", false).empty());
  EXPECT_TRUE(access.touch_document("alice", 1, "never-opened", false).empty()) << "a completion adds nothing";
  auto evicted = access.touch_document("alice", 1, "c");
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], (AccessControl::DocumentKey{2, "b"}));
  EXPECT_TRUE(access.touch_document("bob", 3, "a").empty()) << "documents are per user";

  AccessStats s = access.stats();
  EXPECT_EQ(s.auth_failures, 2u);
  EXPECT_EQ(s.rejected_connections, 2u);
  EXPECT_EQ(s.rate_limited, 1u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.open_connections, 2u);
}

// LSP and HTTP share the limits; the counters are kept in all and per
// transport, and /metrics shows them by transport.
TEST(AccessControl, TransportsShareTheLimitsAndAreCountedApart) {
  AccessLimits limits;
  limits.max_connections = 2;
  limits.max_connections_per_user = 1;
  limits.requests_per_minute = 2;
  auto access = std::make_shared<AccessControl>(
      limits, std::make_shared<Authenticator>(std::vector<TokenEntry>{{"alice", sha256("t")}}));
  EXPECT_TRUE(access->admit_connection(kLsp));
  EXPECT_TRUE(access->admit_connection(kHttp));
  EXPECT_FALSE(access->admit_connection(kHttp)) << "one --max-connections for both";
  EXPECT_TRUE(access->admit_user_connection("alice", kLsp));
  EXPECT_FALSE(access->admit_user_connection("alice", kHttp)) << "one per-user count for both";
  EXPECT_TRUE(access->admit_request("alice", kLsp).allowed);
  EXPECT_TRUE(access->admit_request("alice", kHttp).allowed);
  EXPECT_FALSE(access->admit_request("alice", kHttp).allowed) << "one bucket for both";
  const std::string wrong = "u";
  EXPECT_FALSE(access->authenticate(&wrong, kLsp));
  access->count_timeout(kHttp);

  const AccessStats lsp = access->stats(kLsp), http = access->stats(kHttp), all = access->stats();
  EXPECT_EQ(lsp.open_connections, 1u);
  EXPECT_EQ(http.open_connections, 1u);
  EXPECT_EQ(all.open_connections, 2u);
  EXPECT_EQ(lsp.rejected_connections, 0u);
  EXPECT_EQ(http.rejected_connections, 2u);
  EXPECT_EQ(http.rate_limited, 1u);
  EXPECT_EQ(lsp.rate_limited, 0u);
  EXPECT_EQ(lsp.auth_failures, 1u);
  EXPECT_EQ(http.timeouts, 1u);
  EXPECT_EQ(all.rejected_connections, 2u);

  ServerMetrics metrics;
  metrics.watch_access(access);
  std::string text = metrics.render();
  for (const char* line :
       {"mtpc_open_connections{transport=\"http\"} 1\n", "mtpc_open_connections{transport=\"lsp\"} 1\n",
        "mtpc_rejected_connections_total{transport=\"http\"} 2\n",
        "mtpc_rate_limited_requests_total{transport=\"http\"} 1\n", "mtpc_auth_failures_total{transport=\"lsp\"} 1\n",
        "mtpc_connection_timeouts_total{transport=\"http\"} 1\n", "mtpc_evictions_total{what=\"document\"} 0\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  // A scrape copies the difference: counting again goes on from there.
  access->release_connection(kHttp);
  EXPECT_FALSE(access->admit_request("alice", kLsp).allowed);
  text = metrics.render();
  EXPECT_NE(text.find("mtpc_open_connections{transport=\"http\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mtpc_rate_limited_requests_total{transport=\"lsp\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mtpc_rate_limited_requests_total{transport=\"http\"} 1\n"), std::string::npos) << text;
}

// Buckets of users gone quiet (full again) are dropped once there are many,
// so anonymous HTTP clients (a user per address) cannot grow the table.
TEST(AccessControl, FullBucketsArePrunedPastTheTableLimit) {
  AccessLimits limits;
  limits.requests_per_minute = 600;
  AccessControl access(limits, nullptr);
  for (int i = 0; i < 3 * AccessControl::kMaxIdleBuckets; ++i)
    EXPECT_TRUE(access.admit_request("http:10.0.0." + std::to_string(i), kHttp).allowed);
  EXPECT_LE(access.buckets(), static_cast<size_t>(2 * AccessControl::kMaxIdleBuckets));
}

TEST(AccessControl, ListenRulesKeepAnUnauthenticatedServerOnLoopback) {
  TempDir dir;
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("10.1.2.3"));
  auto loop = access_for_listen("127.0.0.1", "", false, {});
  ASSERT_TRUE(loop.ok());
  EXPECT_FALSE((*loop)->requires_token());
  auto open = access_for_listen("0.0.0.0", "", false, {});
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("--insecure-no-auth"), std::string::npos);
  EXPECT_TRUE(access_for_listen("0.0.0.0", "", true, {}).ok());
  EXPECT_FALSE(access_for_listen("0.0.0.0", dir / "missing", false, {}).ok());
  ASSERT_TRUE(add_user(dir / "tokens", "alice").ok());
  auto with = access_for_listen("0.0.0.0", dir / "tokens", false, {});
  ASSERT_TRUE(with.ok());
  EXPECT_TRUE((*with)->requires_token());
}

}  // namespace
}  // namespace mtpc::lsp
