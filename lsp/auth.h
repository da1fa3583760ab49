// Who may use a team server: the tokens file (`--tokens FILE`) and the
// authenticator that checks a presented token against it.
//
// The file holds one user per line, `NAME SHA256HEX`, where SHA256HEX is the
// SHA-256 of the user's token in lowercase hex; `#` starts a comment, blank
// lines are allowed. The tokens themselves are never stored: `mtpc token add`
// prints a new one once (`mtpc_` + 43 base64url characters, 32 random bytes).
// Names are 1-64 characters of [A-Za-z0-9._@-].
//
// Thread-safety: the free functions are reentrant; Authenticator may be used
// from any thread (reload() swaps the table under a mutex). Never throws.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mtpc::lsp {

using TokenHash = std::array<uint8_t, 32>;

struct TokenEntry {
  std::string name;
  TokenHash hash{};
};

TokenHash sha256(std::string_view bytes);
std::string to_hex(const TokenHash& hash);

// A malformed line is an error naming `source` and the line number.
Result<std::vector<TokenEntry>> parse_tokens_file(std::string_view text, const std::string& source);
std::string format_tokens_file(const std::vector<TokenEntry>& entries);
// A missing file reads as no users (so `token add` can create it).
Result<std::vector<TokenEntry>> read_tokens_file(const std::string& path);

bool valid_user_name(std::string_view name);
// 32 bytes from the OS's random source, as `mtpc_` + base64url.
Result<std::string> generate_token();

// `mtpc token add/remove/list`. The file is rewritten atomically with mode
// 0600. add: the new token (shown once); an existing name is an error.
Result<std::string> add_user(const std::string& path, const std::string& name);
Status remove_user(const std::string& path, const std::string& name);
Result<std::vector<std::string>> list_users(const std::string& path);

// The identity a connection proved: its user and the hash it matched (a
// re-added user with a new token invalidates the old connections).
struct Identity {
  std::string user;
  TokenHash hash{};
};

class Authenticator {
 public:
  // Loads `path`; an unreadable or malformed file is an error.
  static Result<std::shared_ptr<Authenticator>> load(const std::string& path);
  // For tests and the fuzzer: a table given directly.
  explicit Authenticator(std::vector<TokenEntry> entries, std::string path = "");

  // The user whose hash matches the token's, compared in constant time
  // against every entry; nullopt for an unknown token.
  std::optional<Identity> authenticate(std::string_view token) const;
  // False once the user was removed (or given a new token) by reload().
  bool still_valid(const Identity& identity) const;
  // Re-reads the file; on error the old table stays and the error is returned.
  Status reload();
  size_t users() const;

 private:
  std::string path_;
  mutable std::mutex mu_;
  std::vector<TokenEntry> entries_;
};

}  // namespace mtpc::lsp
