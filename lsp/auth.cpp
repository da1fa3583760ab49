#include "lsp/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"

namespace mtpc::lsp {

TokenHash sha256(std::string_view bytes) {
  TokenHash h{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h.data());
  return h;
}

std::string to_hex(const TokenHash& hash) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : hash) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '@';
  });
}

Result<std::vector<TokenEntry>> parse_tokens_file(std::string_view text, const std::string& source) {
  std::vector<TokenEntry> entries;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Status::Error(source + ":" + std::to_string(line_no) + ": " + why);
    };
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return bad("want `NAME SHA256HEX`, got one field");
    std::string_view name = line.substr(0, sp), hex = trim(line.substr(sp));
    if (!valid_user_name(name)) return bad("user name must be 1-64 characters of A-Z a-z 0-9 . _ @ -");
    if (hex.size() != 64) return bad("the hash must be 64 hex digits (SHA-256), got " + std::to_string(hex.size()) + " characters");
    TokenEntry e;
    e.name = std::string(name);
    for (size_t i = 0; i < 32; ++i) {
      int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return bad("the hash must be 64 hex digits (SHA-256)");
      e.hash[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    for (const auto& other : entries)
      if (other.name == e.name) return bad("user " + e.name + " appears twice");
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string format_tokens_file(const std::vector<TokenEntry>& entries) {
  std::string out = "# mtpc tokens: NAME SHA256(token) (managed by `mtpc token`)\n";
  for (const auto& e : entries) out += e.name + " " + to_hex(e.hash) + "\n";
  return out;
}

Result<std::vector<TokenEntry>> read_tokens_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::vector<TokenEntry>{};
    return Status::Error("cannot read tokens file " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::Error("cannot read tokens file " + path);
  return parse_tokens_file(ss.str(), path);
}

Result<std::string> generate_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Error("no random bytes from OpenSSL's RAND_bytes");
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "mtpc_";
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  OPENSSL_cleanse(bytes, sizeof bytes);
  return out;
}

namespace {

Status write_tokens(const std::string& path, const std::vector<TokenEntry>& entries) {
  // The temp file inherits the process umask; tighten it so the file is
  // 0600 whatever the umask.
  mode_t old = ::umask(077);
  Status s = write_file_atomic(path, format_tokens_file(entries));
  ::umask(old);
  if (!s.ok()) return s;
  if (::chmod(path.c_str(), 0600) != 0)
    return Status::Error("cannot chmod 0600 " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Result<std::string> add_user(const std::string& path, const std::string& name) {
  if (!valid_user_name(name)) return Status::Error("user name must be 1-64 characters of A-Z a-z 0-9 . _ @ -");
  auto entries = read_tokens_file(path);
  if (!entries.ok()) return entries.status();
  for (const auto& e : *entries)
    if (e.name == name) return Status::Error("user " + name + " exists in " + path + " (remove it first)");
  auto token = generate_token();
  if (!token.ok()) return token.status();
  entries->push_back({name, sha256(*token)});
  if (Status s = write_tokens(path, *entries); !s.ok()) return s;
  return *token;
}

Status remove_user(const std::string& path, const std::string& name) {
  auto entries = read_tokens_file(path);
  if (!entries.ok()) return entries.status();
  auto it = std::find_if(entries->begin(), entries->end(), [&](const TokenEntry& e) { return e.name == name; });
  if (it == entries->end()) return Status::Error("no user " + name + " in " + path);
  entries->erase(it);
  return write_tokens(path, *entries);
}

Result<std::vector<std::string>> list_users(const std::string& path) {
  auto entries = read_tokens_file(path);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  return names;
}

Result<std::shared_ptr<Authenticator>> Authenticator::load(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0)
    return Status::Error("cannot read tokens file " + path + ": " + std::strerror(errno));
  auto entries = read_tokens_file(path);
  if (!entries.ok()) return entries.status();
  return std::make_shared<Authenticator>(std::move(*entries), path);
}

Authenticator::Authenticator(std::vector<TokenEntry> entries, std::string path)
    : path_(std::move(path)), entries_(std::move(entries)) {}

std::optional<Identity> Authenticator::authenticate(std::string_view token) const {
  const TokenHash h = sha256(token);
  std::lock_guard<std::mutex> lock(mu_);
  const TokenEntry* found = nullptr;
  // Every entry is compared, whatever matched, so the time says nothing.
  for (const auto& e : entries_)
    if (CRYPTO_memcmp(e.hash.data(), h.data(), h.size()) == 0) found = &e;
  if (!found) return std::nullopt;
  return Identity{found->name, found->hash};
}

bool Authenticator::still_valid(const Identity& identity) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_)
    if (e.name == identity.user && CRYPTO_memcmp(e.hash.data(), identity.hash.data(), 32) == 0) return true;
  return false;
}

Status Authenticator::reload() {
  if (path_.empty()) return Status::Error("no tokens file to reload");
  if (::access(path_.c_str(), R_OK) != 0)
    return Status::Error("cannot read tokens file " + path_ + ": " + std::strerror(errno));
  auto entries = read_tokens_file(path_);
  if (!entries.ok()) return entries.status();
  std::lock_guard<std::mutex> lock(mu_);
  entries_ = std::move(*entries);
  return Status::Ok();
}

size_t Authenticator::users() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace mtpc::lsp
