#include "hub/url.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace mtpc::hub {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Removes "." and ".." segments (RFC 3986 5.2.4) from a path starting with '/'.
std::string remove_dot_segments(const std::string& path) {
  std::vector<std::string> segments;
  size_t i = 1;
  while (true) {
    size_t j = path.find('/', i);
    const bool last = j == std::string::npos;
    std::string seg = path.substr(i, last ? std::string::npos : j - i);
    if (seg == ".." || seg == ".") {
      if (seg == ".." && !segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();  // "/a/.." is "/", a directory
    } else {
      segments.push_back(seg);
    }
    if (last) break;
    i = j + 1;
  }
  std::string result;
  for (const auto& s : segments) result += "/" + s;
  return result.empty() ? "/" : result;
}

}  // namespace

std::string Url::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::str() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string s = scheme + "://" + (v6 ? "[" + host + "]" : host);
  if (port != (https() ? 443 : 80)) s += ":" + std::to_string(port);
  return s + target;
}

Result<Url> parse_url(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  size_t colon = text.find("://");
  if (colon == std::string_view::npos) return Status::Error("not an absolute URL: " + quoted);
  Url u;
  u.scheme = lower(text.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https")
    return Status::Error("unsupported URL scheme \"" + u.scheme + "\" (http or https): " + quoted);
  std::string_view rest = text.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::Error("unclosed IPv6 address in URL " + quoted);
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::Error("bad host in URL " + quoted);
      port_text = after.substr(1);
    }
  } else {
    size_t pc = authority.find(':');
    u.host = lower(authority.substr(0, pc));
    if (pc != std::string_view::npos) port_text = authority.substr(pc + 1);
  }
  if (u.host.empty()) return Status::Error("no host in URL " + quoted);
  u.port = u.https() ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return Status::Error("bad port in URL " + quoted);
    u.port = std::stoi(std::string(port_text));
    if (u.port < 1 || u.port > 65535) return Status::Error("port out of range in URL " + quoted);
  }
  if (size_t hash = tail.find('#'); hash != std::string_view::npos) tail = tail.substr(0, hash);
  u.target = std::string(tail);
  if (u.target.empty() || u.target[0] == '?') u.target = "/" + u.target;
  return u;
}

Result<Url> resolve_location(const Url& base, std::string_view location) {
  if (location.empty()) return Status::Error("redirect without a Location from " + base.str());
  if (location.find("://") != std::string_view::npos && location.find("://") < location.find_first_of("/?#"))
    return parse_url(location);
  if (location.substr(0, 2) == "//") return parse_url(base.scheme + ":" + std::string(location));
  Url u = base;
  if (size_t hash = location.find('#'); hash != std::string_view::npos) location = location.substr(0, hash);
  std::string loc(location);
  if (loc.empty()) return u;
  if (loc[0] == '?') {
    u.target = base.target.substr(0, base.target.find('?')) + loc;
    return u;
  }
  std::string path, query;
  size_t q = loc.find('?');
  if (q != std::string::npos) {
    query = loc.substr(q);
    loc = loc.substr(0, q);
  }
  if (loc[0] == '/') {
    path = loc;
  } else {
    std::string base_path = base.target.substr(0, base.target.find('?'));
    path = base_path.substr(0, base_path.rfind('/') + 1) + loc;
  }
  u.target = remove_dot_segments(path) + query;
  return u;
}

std::string percent_encode(std::string_view text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace mtpc::hub
