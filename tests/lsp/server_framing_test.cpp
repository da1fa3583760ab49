// FrameReader and position conversion: the edge where editor bytes come in.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lsp/framing.h"
#include "lsp/text.h"

namespace mtpc::lsp {
namespace {

struct Collected {
  std::vector<std::string> messages, errors;
  FrameReader reader;
  explicit Collected(FramingOptions o = {})
      : reader(o, [this](std::string b) { messages.push_back(std::move(b)); },
               [this](const std::string& e) { errors.push_back(e); }) {}
};

TEST(FrameReader, ReassemblesMessagesSplitAnywhere) {
  std::string bytes = frame_message("{\"a\":1}") + frame_message("{\"b\":22}") + frame_message("");
  for (size_t chunk = 1; chunk <= bytes.size(); ++chunk) {
    Collected c;
    for (size_t i = 0; i < bytes.size(); i += chunk) c.reader.feed(std::string_view(bytes).substr(i, chunk));
    ASSERT_EQ(c.messages.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(c.messages[0], "{\"a\":1}");
    EXPECT_EQ(c.messages[1], "{\"b\":22}");
    EXPECT_EQ(c.messages[2], "");
    EXPECT_TRUE(c.errors.empty());
    EXPECT_FALSE(c.reader.mid_message());
  }
}

TEST(FrameReader, MissingLengthIsAnErrorAndTheNextMessageIsFound) {
  Collected c;
  c.reader.feed("Content-Type: x\r\n\r\n{\"lost\":1}" + frame_message("{\"ok\":1}"));
  ASSERT_EQ(c.errors.size(), 1u);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0], "{\"ok\":1}");
}

TEST(FrameReader, GarbageIsReportedAtOnceAndSkipped) {
  Collected c;
  c.reader.feed("{\"no\":\"header\"}");
  EXPECT_EQ(c.errors.size(), 1u);  // known before any further byte
  c.reader.feed(frame_message("{}"));
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.errors.size(), 1u);
}

TEST(FrameReader, OversizeBodyIsSkippedWithoutBuffering) {
  FramingOptions o;
  o.max_message_bytes = 100;
  Collected c(o);
  c.reader.feed("Content-Length: 100000\r\n\r\n");
  ASSERT_EQ(c.errors.size(), 1u);
  std::string block(1000, 'x');
  for (int i = 0; i < 100; ++i) c.reader.feed(block);
  EXPECT_TRUE(c.messages.empty());
  c.reader.feed(frame_message("{\"after\":1}"));
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0], "{\"after\":1}");
}

TEST(FrameReader, BadLengthValues) {
  for (std::string header : {"Content-Length: -1", "Content-Length: 1e3", "Content-Length: ",
                             "Content-Length: 99999999999999999999999"}) {
    Collected c;
    c.reader.feed(header + "\r\n\r\n" + frame_message("{}"));
    EXPECT_EQ(c.errors.size(), 1u) << header;
    EXPECT_EQ(c.messages.size(), 1u) << header;
  }
}

TEST(FrameReader, TellsWhenAMessageIsCut) {
  Collected c;
  c.reader.feed("Content-Length: 10\r\n\r\n{\"a\"");
  EXPECT_TRUE(c.reader.mid_message());
}

TEST(Positions, Utf16CountsSurrogatePairsAsTwo) {
  const std::string text = "a\xC3\xA9\xF0\x9F\x98\x80z\nsecond";  // a é 😀 z
  EXPECT_EQ(offset_of(text, {0, 0}, PositionEncoding::kUtf16), 0u);
  EXPECT_EQ(offset_of(text, {0, 2}, PositionEncoding::kUtf16), 3u);  // after é
  EXPECT_EQ(offset_of(text, {0, 4}, PositionEncoding::kUtf16), 7u);  // after 😀
  EXPECT_EQ(offset_of(text, {0, 5}, PositionEncoding::kUtf16), 8u);
  EXPECT_EQ(offset_of(text, {0, 3}, PositionEncoding::kUtf16), 3u);  // inside the pair: before it
  EXPECT_EQ(offset_of(text, {0, 7}, PositionEncoding::kUtf8), 7u);
  EXPECT_EQ(offset_of(text, {0, 50}, PositionEncoding::kUtf16), 8u);  // past the end: end of line
  EXPECT_EQ(offset_of(text, {1, 3}, PositionEncoding::kUtf16), 12u);
  EXPECT_FALSE(offset_of(text, {2, 0}, PositionEncoding::kUtf16));
  EXPECT_FALSE(offset_of(text, {-1, 0}, PositionEncoding::kUtf16));
  EXPECT_EQ(position_of(text, 7, PositionEncoding::kUtf16), (Position{0, 4}));
  EXPECT_EQ(position_of(text, 7, PositionEncoding::kUtf8), (Position{0, 7}));
  EXPECT_EQ(position_of(text, 12, PositionEncoding::kUtf16), (Position{1, 3}));
}

TEST(Positions, InvalidUtf8BytesCountOneUnitEach) {
  const std::string text = "a\xFF\xFE" "b";
  EXPECT_EQ(offset_of(text, {0, 3}, PositionEncoding::kUtf16), 3u);
  EXPECT_EQ(position_of(text, 4, PositionEncoding::kUtf16), (Position{0, 4}));
  EXPECT_EQ(valid_utf8(text), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
}

}  // namespace
}  // namespace mtpc::lsp
