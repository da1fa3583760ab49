#include "lsp/framing.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace mtpc::lsp {
namespace {

constexpr std::string_view kLengthHeader = "content-length";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Position of the next "Content-Length" (any case) at or after `from`.
size_t find_length_header(const std::string& s, size_t from) {
  for (size_t i = from; i + kLengthHeader.size() <= s.size(); ++i)
    if (iequals(std::string_view(s).substr(i, kLengthHeader.size()), kLengthHeader)) return i;
  return std::string::npos;
}

}  // namespace

FrameReader::FrameReader(FramingOptions options, std::function<void(std::string)> on_message,
                         std::function<void(const std::string&)> on_error)
    : options_(options), on_message_(std::move(on_message)), on_error_(std::move(on_error)) {}

bool FrameReader::mid_message() const {
  return state_ == State::kBody || state_ == State::kSkipBody ||
         (state_ == State::kHeader && !buffer_.empty());
}

void FrameReader::feed(std::string_view bytes) {
  if (state_ == State::kSkipBody) {
    // Skipped bodies never enter the buffer: a huge message costs no memory.
    size_t n = std::min(skip_left_, bytes.size());
    skip_left_ -= n;
    bytes.remove_prefix(n);
    if (skip_left_ > 0) return;
    state_ = State::kHeader;
  }
  buffer_.append(bytes);
  step();
}

void FrameReader::step() {
  for (;;) {
    if (state_ == State::kResync) {
      resync();
      if (state_ == State::kResync) return;
    }
    if (state_ == State::kHeader) {
      if (!parse_header()) return;
      continue;
    }
    if (state_ == State::kBody) {
      if (buffer_.size() < body_length_) return;
      std::string body = buffer_.substr(0, body_length_);
      buffer_.erase(0, body_length_);
      state_ = State::kHeader;
      on_message_(std::move(body));
      continue;
    }
    if (state_ == State::kSkipBody) {
      size_t n = std::min(skip_left_, buffer_.size());
      buffer_.erase(0, n);
      skip_left_ -= n;
      if (skip_left_ > 0) return;
      state_ = State::kHeader;
      continue;
    }
  }
}

// Drops bytes up to the next "Content-Length" header: garbage between
// messages, or the body of a message whose length was missing.
void FrameReader::resync() {
  size_t at = find_length_header(buffer_, 0);
  if (at == std::string::npos) {
    // Keep a tail that may be the start of a header split across reads.
    size_t keep = std::min(buffer_.size(), kLengthHeader.size() - 1);
    buffer_.erase(0, buffer_.size() - keep);
    return;
  }
  buffer_.erase(0, at);
  state_ = State::kHeader;
}

// Returns true when it made progress (a header was consumed or an error
// moved the state on), false when more bytes are needed.
bool FrameReader::parse_header() {
  if (buffer_.empty()) return false;
  // Leading blank lines between messages are tolerated.
  size_t lead = 0;
  while (lead < buffer_.size() && (buffer_[lead] == '\r' || buffer_[lead] == '\n')) ++lead;
  if (lead > 0) buffer_.erase(0, lead);
  if (buffer_.empty()) return false;

  // A header block starts with a header name (an RFC 7230 token) and a
  // colon; anything else (a bare JSON body, the tail of a body whose length
  // was too short) is garbage, known as soon as its first bytes arrive.
  for (size_t i = 0; i < buffer_.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(buffer_[i]);
    if (c == ':' && i > 0) break;
    if (!std::isalnum(c) && c != '-' && c != '_') {
      on_error_("expected a header, got unframed bytes");
      buffer_.erase(0, 1);  // so resync cannot find a header at the same place
      state_ = State::kResync;
      return true;
    }
  }
  size_t end = buffer_.find("\r\n\r\n");
  size_t sep = 4;
  size_t lf_end = buffer_.find("\n\n");
  if (lf_end != std::string::npos && (end == std::string::npos || lf_end < end)) {
    end = lf_end;
    sep = 2;
  }
  if (end == std::string::npos) {
    if (buffer_.size() > options_.max_header_bytes) {
      on_error_("header block longer than " + std::to_string(options_.max_header_bytes) + " bytes");
      buffer_.erase(0, 1);
      state_ = State::kResync;
      return true;
    }
    return false;
  }
  std::string_view block(buffer_.data(), end);
  std::optional<size_t> length;
  bool bad_length = false;
  size_t pos = 0;
  while (pos <= block.size()) {
    size_t nl = block.find('\n', pos);
    std::string_view line = block.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? block.size() + 1 : nl + 1;
    line = trim(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header: ignored
    std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (!iequals(name, kLengthHeader)) continue;  // Content-Type and others
    size_t n = 0;
    bool ok = !value.empty() && value.size() <= 18;
    for (char c : value) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        ok = false;
        break;
      }
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    if (!ok) bad_length = true;
    else length = n;
  }
  buffer_.erase(0, end + sep);
  if (bad_length || !length) {
    on_error_(bad_length ? "invalid Content-Length" : "missing Content-Length header");
    state_ = State::kResync;
    return true;
  }
  if (*length > options_.max_message_bytes) {
    on_error_("message of " + std::to_string(*length) + " bytes is over the limit of " +
              std::to_string(options_.max_message_bytes));
    skip_left_ = *length;
    state_ = State::kSkipBody;
    return true;
  }
  body_length_ = *length;
  state_ = State::kBody;
  return true;
}

std::string frame_message(std::string_view body) {
  std::string out = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

}  // namespace mtpc::lsp
