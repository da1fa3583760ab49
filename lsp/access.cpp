#include "lsp/access.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cmath>

namespace mtpc::lsp {

TokenBucket::TokenBucket(double capacity, double per_minute, Clock::time_point now)
    : capacity_(std::max(1.0, capacity)), per_ms_(per_minute / 60000.0), tokens_(std::max(1.0, capacity)),
      last_(now) {}

int64_t TokenBucket::take(Clock::time_point now) {
  if (now > last_) {
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    tokens_ = std::min(capacity_, tokens_ + ms * per_ms_);
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  if (per_ms_ <= 0) return INT64_MAX;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - tokens_) / per_ms_)));
}

bool TokenBucket::full(Clock::time_point now) const {
  const double ms = now > last_ ? std::chrono::duration<double, std::milli>(now - last_).count() : 0.0;
  return tokens_ + ms * per_ms_ >= capacity_;
}

AccessControl::AccessControl(AccessLimits limits, std::shared_ptr<Authenticator> auth)
    : limits_(limits), auth_(std::move(auth)) {}

void AccessControl::count(uint64_t AccessStats::*field, const std::string& transport) {
  ++(stats_.*field);
  ++(by_transport_[transport].*field);
}

std::optional<Identity> AccessControl::authenticate(const std::string* token, const std::string& transport) {
  std::optional<Identity> id;
  if (auth_ && token) id = auth_->authenticate(*token);
  if (!id) {
    std::lock_guard<std::mutex> lock(mu_);
    count(&AccessStats::auth_failures, transport);
  }
  return id;
}

bool AccessControl::still_valid(const Identity& identity, const std::string& transport) {
  if (!auth_ || auth_->still_valid(identity)) return true;
  std::lock_guard<std::mutex> lock(mu_);
  count(&AccessStats::auth_failures, transport);
  return false;
}

Status AccessControl::reload() {
  if (!auth_) return Status::Error("no --tokens file to reload");
  return auth_->reload();
}

bool AccessControl::admit_connection(const std::string& transport) {
  std::lock_guard<std::mutex> lock(mu_);
  if (limits_.max_connections > 0 && stats_.open_connections >= limits_.max_connections) {
    count(&AccessStats::rejected_connections, transport);
    return false;
  }
  count(&AccessStats::open_connections, transport);
  return true;
}

void AccessControl::release_connection(const std::string& transport) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stats_.open_connections > 0) --stats_.open_connections;
  auto it = by_transport_.find(transport);
  if (it != by_transport_.end() && it->second.open_connections > 0) --it->second.open_connections;
}

bool AccessControl::admit_user_connection(const std::string& user, const std::string& transport) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t& n = user_connections_[user];
  if (limits_.max_connections_per_user > 0 && n >= limits_.max_connections_per_user) {
    if (n == 0) user_connections_.erase(user);
    count(&AccessStats::rejected_connections, transport);
    return false;
  }
  ++n;
  return true;
}

void AccessControl::release_user_connection(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = user_connections_.find(user);
  if (it == user_connections_.end()) return;
  if (--it->second == 0) user_connections_.erase(it);
}

AccessControl::RateDecision AccessControl::admit_request(const std::string& user, const std::string& transport) {
  if (limits_.requests_per_minute <= 0) return {};
  const auto now = TokenBucket::Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(user);
  if (it == buckets_.end() && buckets_.size() >= static_cast<size_t>(kMaxIdleBuckets)) {
    for (auto b = buckets_.begin(); b != buckets_.end();) b = b->second.full(now) ? buckets_.erase(b) : std::next(b);
    if (buckets_.size() >= static_cast<size_t>(2 * kMaxIdleBuckets))
      for (auto b = buckets_.begin(); b != buckets_.end();)
        b = b->first.rfind("http:", 0) == 0 ? buckets_.erase(b) : std::next(b);
  }
  if (it == buckets_.end())
    it = buckets_.emplace(user, TokenBucket(limits_.requests_per_minute, limits_.requests_per_minute, now)).first;
  const int64_t wait = it->second.take(now);
  if (wait == 0) return {};
  count(&AccessStats::rate_limited, transport);
  return {false, wait};
}

std::vector<AccessControl::DocumentKey> AccessControl::touch_document(const std::string& user, int client,
                                                                      const std::string& uri, bool opening) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = documents_.find(user);
  if (!opening && (it == documents_.end() || !it->second.contains({client, uri}))) return {};
  if (it == documents_.end()) it = documents_.emplace(user, LruSet<DocumentKey>(limits_.max_documents_per_user)).first;
  auto evicted = it->second.touch({client, uri});
  stats_.evictions += evicted.size();
  by_transport_[kLsp].evictions += evicted.size();  // documents are LSP's
  return evicted;
}

void AccessControl::forget_document(const std::string& user, int client, const std::string& uri) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = documents_.find(user);
  if (it == documents_.end()) return;
  it->second.erase({client, uri});
  if (it->second.size() == 0) documents_.erase(it);
}

void AccessControl::forget_client(const std::string& user, int client) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = documents_.find(user);
  if (it == documents_.end()) return;
  for (const auto& key : it->second.keys())
    if (key.first == client) it->second.erase(key);
  if (it->second.size() == 0) documents_.erase(it);
}

void AccessControl::forget_user(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  buckets_.erase(user);
  documents_.erase(user);
}

void AccessControl::count_timeout(const std::string& transport) {
  std::lock_guard<std::mutex> lock(mu_);
  count(&AccessStats::timeouts, transport);
}

size_t AccessControl::buckets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

AccessStats AccessControl::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

AccessStats AccessControl::stats(const std::string& transport) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_transport_.find(transport);
  return it == by_transport_.end() ? AccessStats{} : it->second;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

Result<std::shared_ptr<AccessControl>> access_for_listen(const std::string& host, const std::string& tokens_file,
                                                         bool insecure_no_auth, const AccessLimits& limits) {
  std::shared_ptr<Authenticator> auth;
  if (!tokens_file.empty()) {
    auto loaded = Authenticator::load(tokens_file);
    if (!loaded.ok()) return loaded.status();
    auth = *loaded;
  } else if (!is_loopback_host(host) && !insecure_no_auth) {
    return Status::Error("--listen " + host + " is not a loopback address: give --tokens FILE (mtpc token add), "
                         "or --insecure-no-auth to serve it without authentication");
  }
  return std::make_shared<AccessControl>(limits, std::move(auth));
}

}  // namespace mtpc::lsp
