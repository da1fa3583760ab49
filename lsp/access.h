// Access control for a team server: who may connect (tokens, lsp/auth.h),
// and the limits that keep one user from disturbing the others. One object
// is shared by every connection of `mtpc serve --listen` and `--http`, so
// the limits are shared between LSP and HTTP: --max-connections counts both
// transports' connections together, and a user's per-user connections and
// request bucket cover both (the same user name).
//
// Without a tokens file every LSP connection is its own user (named by its
// peer address and port), so per-user limits apply per connection; an HTTP
// client is named by its address ("http:ADDRESS").
//
// Every counting method takes the transport ("lsp" | "http"; kLsp is the
// default): the counters are kept in all and per transport, for /metrics.
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lsp/auth.h"

namespace mtpc::lsp {

// Each one a `mtpc serve` flag (lsp/README.md); 0 means unlimited.
struct AccessLimits {
  size_t max_connections = 256;           // --max-connections, all users together
  size_t max_connections_per_user = 16;   // --max-connections-per-user
  double requests_per_minute = 600;       // --requests-per-minute per user (token bucket, burst: one minute's worth)
  size_t max_documents_per_user = 64;     // --max-documents-per-user (least recently used evicted)
  double idle_timeout_s = 900;            // --idle-timeout-s: no bytes for this long: closed
  double read_timeout_s = 10;             // --read-timeout-s: a started message (or TLS handshake) must complete
};

// Counters since start, for /metrics and logs. A plain copy.
struct AccessStats {
  uint64_t auth_failures = 0;         // missing or wrong tokens, removed users
  uint64_t rejected_connections = 0;  // over --max-connections or per user
  uint64_t rate_limited = 0;          // requests refused by the token bucket
  uint64_t evictions = 0;             // documents closed by --max-documents-per-user
  uint64_t timeouts = 0;              // connections closed idle or slow
  uint64_t open_connections = 0;
};

// Tokens refill continuously at `per_minute`; at most `capacity` saved up.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double capacity, double per_minute, Clock::time_point now);
  // 0 when a token was taken, else the milliseconds until one will be there.
  int64_t take(Clock::time_point now);
  // Refilled to capacity by `now`: the same as a new bucket.
  bool full(Clock::time_point now) const;

 private:
  double capacity_, per_ms_, tokens_;
  Clock::time_point last_;
};

// Least-recently-used set of keys with a capacity: touch() returns the keys
// it pushed out.
template <typename Key>
class LruSet {
 public:
  explicit LruSet(size_t capacity) : capacity_(capacity) {}
  std::vector<Key> touch(const Key& key) {
    auto it = where_.find(key);
    if (it != where_.end()) order_.erase(it->second);
    order_.push_front(key);
    where_[key] = order_.begin();
    std::vector<Key> evicted;
    while (capacity_ > 0 && order_.size() > capacity_) {
      evicted.push_back(order_.back());
      where_.erase(order_.back());
      order_.pop_back();
    }
    return evicted;
  }
  void erase(const Key& key) {
    auto it = where_.find(key);
    if (it == where_.end()) return;
    order_.erase(it->second);
    where_.erase(it);
  }
  size_t size() const { return order_.size(); }
  bool contains(const Key& key) const { return where_.count(key) > 0; }
  std::vector<Key> keys() const { return {order_.begin(), order_.end()}; }

 private:
  size_t capacity_;
  std::list<Key> order_;  // most recent first
  std::map<Key, typename std::list<Key>::iterator> where_;
};

inline const std::string kLsp = "lsp";
inline const std::string kHttp = "http";

class AccessControl {
 public:
  // `auth` null: no tokens (the caller keeps such a server on loopback).
  AccessControl(AccessLimits limits, std::shared_ptr<Authenticator> auth);

  const AccessLimits& limits() const { return limits_; }
  bool requires_token() const { return auth_ != nullptr; }
  // Counts a failure; the token is never logged or kept.
  std::optional<Identity> authenticate(const std::string* token, const std::string& transport = kLsp);
  // Counts a failure when not.
  bool still_valid(const Identity& identity, const std::string& transport = kLsp);
  Status reload();

  // A new TCP connection; false (counted) over --max-connections.
  bool admit_connection(const std::string& transport = kLsp);
  void release_connection(const std::string& transport = kLsp);
  // After authentication; false (counted) over --max-connections-per-user.
  bool admit_user_connection(const std::string& user, const std::string& transport = kLsp);
  void release_user_connection(const std::string& user);

  // One request of `user`: allowed, or the milliseconds to wait (counted).
  struct RateDecision {
    bool allowed = true;
    int64_t retry_after_ms = 0;
  };
  RateDecision admit_request(const std::string& user, const std::string& transport = kLsp);

  // A document (connection `client`, `uri`) used by `user`: the documents
  // pushed out by --max-documents-per-user (counted), of any of the user's
  // connections.
  using DocumentKey = std::pair<int, std::string>;
  // opening false (a completion): only refreshes a document already counted.
  std::vector<DocumentKey> touch_document(const std::string& user, int client, const std::string& uri,
                                          bool opening = true);
  void forget_document(const std::string& user, int client, const std::string& uri);
  void forget_client(const std::string& user, int client);
  // Drops the user's rate bucket and documents (an anonymous connection's end).
  void forget_user(const std::string& user);

  void count_timeout(const std::string& transport = kLsp);

  // Request buckets kept before the full ones are dropped; past twice this,
  // anonymous HTTP users' ("http:ADDRESS") are dropped too (a new address
  // would get a new bucket anyway).
  static constexpr int kMaxIdleBuckets = 4096;
  size_t buckets() const;
  AccessStats stats() const;  // all transports together
  AccessStats stats(const std::string& transport) const;

 private:
  // ++field in all and for `transport`; mu_ held.
  void count(uint64_t AccessStats::*field, const std::string& transport);

  AccessLimits limits_;
  std::shared_ptr<Authenticator> auth_;
  mutable std::mutex mu_;
  AccessStats stats_;
  std::map<std::string, AccessStats> by_transport_;
  std::map<std::string, size_t> user_connections_;
  std::map<std::string, TokenBucket> buckets_;
  std::map<std::string, LruSet<DocumentKey>> documents_;
};

// `mtpc serve --listen HOST` rules: with a tokens file, any host; without
// one, loopback only unless insecure_no_auth. The tokens file must load.
bool is_loopback_host(const std::string& host);
Result<std::shared_ptr<AccessControl>> access_for_listen(const std::string& host, const std::string& tokens_file,
                                                         bool insecure_no_auth, const AccessLimits& limits);

}  // namespace mtpc::lsp
