// JSON-RPC base protocol framing: `Content-Length: N\r\n\r\n<N bytes>`.
// FrameReader is fed bytes as they arrive (any chunking) and reports whole
// message bodies and framing errors; it never holds more than one header
// block plus one body within the size limit in memory: a message over the
// limit is skipped as it streams past. Not thread-safe: one reader per
// connection, used by the thread that reads it.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mtpc::lsp {

struct FramingOptions {
  // Largest body accepted; larger ones are refused and skipped unread.
  size_t max_message_bytes = 64u << 20;
  // Longest header block (all header lines) before it counts as garbage.
  size_t max_header_bytes = 8u << 10;
};

class FrameReader {
 public:
  // on_message gets each complete body; on_error a description of bytes that
  // could not be framed (the caller answers them with a JSON-RPC error).
  FrameReader(FramingOptions options, std::function<void(std::string body)> on_message,
              std::function<void(const std::string& error)> on_error);

  void feed(std::string_view bytes);
  // True while a message is partly read (a disconnect now cuts it).
  bool mid_message() const;

 private:
  enum class State { kHeader, kBody, kSkipBody, kResync };
  void step();
  bool parse_header();
  void resync();

  FramingOptions options_;
  std::function<void(std::string)> on_message_;
  std::function<void(const std::string&)> on_error_;
  State state_ = State::kHeader;
  std::string buffer_;
  size_t body_length_ = 0;
  size_t skip_left_ = 0;
};

// The framed bytes of one message body.
std::string frame_message(std::string_view body);

}  // namespace mtpc::lsp
