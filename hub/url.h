// URLs as the hub client needs them: parsing http(s) URLs, resolving a
// redirect's Location against the URL it came from, and percent-encoding
// path pieces. Torch-free, no I/O.
//
// Only what HTTP/1.1 fetching needs: scheme (http or https), host (a name,
// an IPv4 address or a bracketed IPv6 address), port (default 80/443) and
// the request target (path plus query, "/" when empty). User info and
// fragments are dropped. Never throws.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace mtpc::hub {

struct Url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // without brackets for IPv6
  int port = 0;        // always set (the scheme's default when absent)
  std::string target;  // path and query, starts with '/'

  bool https() const { return scheme == "https"; }
  // host:port, the "netloc" the hub client compares to decide whether a
  // redirect leaves the server the credentials were meant for.
  std::string authority() const;
  std::string str() const;
};

// Errors say what is wrong and quote the text.
Result<Url> parse_url(std::string_view text);

// A redirect's Location: absolute ("https://host/p"), scheme-relative
// ("//host/p"), absolute-path ("/p") or relative ("p", "../p").
Result<Url> resolve_location(const Url& base, std::string_view location);

// Percent-encodes everything outside RFC 3986's unreserved set; '/' is kept
// when keep_slash (file paths), encoded otherwise (revisions such as
// "refs/pr/1", which the hub takes as one path segment).
std::string percent_encode(std::string_view text, bool keep_slash);

}  // namespace mtpc::hub
