// Transcript tests: a file of JSON messages in, expected messages out, run
// against the real `mtpc serve` over a pipe. Format (tests/lsp/transcripts):
//   --> {json}            send the message (framed)
//   --> pad N {json}      send it with a top-level "pad" of N bytes
//   --> raw TEXT          send TEXT as is (C escapes \r \n \\ \xHH), no framing
//   <-- {pattern}         wait for a message matching the pattern
//   == close              close the server's stdin
//   == exit N             the server must exit with N
// Consecutive sends go out in one write, so a $/cancelRequest or a didChange
// reaches the server before the request it follows can be answered. A pattern
// matches a message holding its keys with equal values; "<any>" matches any
// value, "<nonempty>" a non-empty string or array. After the last line every
// message must have been matched: exactly one reply per request.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "lsp/framing.h"
#include "lsp/server_fixture.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {
namespace {

using nlohmann::json;
constexpr auto kWait = std::chrono::seconds(60);  // a loaded CI machine, not a latency bound

bool matches(const json& pattern, const json& value) {
  if (pattern.is_string()) {
    const auto& p = pattern.get_ref<const std::string&>();
    if (p == "<any>") return true;
    if (p == "<nonempty>")
      return (value.is_string() && !value.get_ref<const std::string&>().empty()) ||
             (value.is_array() && !value.empty());
  }
  if (pattern.is_object()) {
    if (!value.is_object()) return false;
    for (auto it = pattern.begin(); it != pattern.end(); ++it)
      if (!value.contains(it.key()) || !matches(it.value(), value[it.key()])) return false;
    return true;
  }
  if (pattern.is_array()) {
    if (!value.is_array() || value.size() != pattern.size()) return false;
    for (size_t i = 0; i < pattern.size(); ++i)
      if (!matches(pattern[i], value[i])) return false;
    return true;
  }
  return pattern == value;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'r') out += '\r';
    else if (c == 'n') out += '\n';
    else if (c == 'x' && i + 2 < s.size() + 1) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else out += c;
  }
  return out;
}

void run_transcript(const std::string& path) {
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  auto spawned = lsp::ServerProcess::spawn({kBinary, "serve", "--model", random_model_dir(),
                                            "--max-message-bytes", "65536", "--deadline-ms", "5000"});
  ASSERT_TRUE(spawned.ok()) << spawned.status().message();
  lsp::ServerProcess& server = **spawned;
  std::string outbox;
  std::vector<json> unmatched;
  auto flush = [&] {
    if (!outbox.empty()) ASSERT_TRUE(server.write_raw(outbox).ok());
    outbox.clear();
  };
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = path + ":" + std::to_string(number);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("--> raw ", 0) == 0) {
      outbox += unescape(line.substr(8));
    } else if (line.rfind("--> pad ", 0) == 0) {
      size_t sp = line.find(' ', 8);
      json m = json::parse(line.substr(sp + 1));
      m["pad"] = std::string(std::stoul(line.substr(8, sp - 8)), 'x');
      outbox += lsp::frame_message(m.dump());
    } else if (line.rfind("--> ", 0) == 0) {
      outbox += lsp::frame_message(json::parse(line.substr(4)).dump());
    } else if (line.rfind("<-- ", 0) == 0) {
      flush();
      json pattern = json::parse(line.substr(4));
      bool found = false;
      for (;;) {
        for (auto it = unmatched.begin(); it != unmatched.end(); ++it) {
          if (matches(pattern, *it)) {
            unmatched.erase(it);
            found = true;
            break;
          }
        }
        if (found) break;
        auto m = server.receive(kWait);
        ASSERT_TRUE(m) << where << ": no message matching " << pattern.dump() << "; unmatched: "
                       << json(unmatched).dump();
        unmatched.push_back(*m);
      }
    } else if (line == "== close") {
      flush();
      server.close_input();
    } else if (line.rfind("== exit ", 0) == 0) {
      flush();
      // Everything still in flight must come out before the end of output.
      while (auto m = server.receive(kWait)) unmatched.push_back(*m);
      auto code = server.wait(kWait);
      ASSERT_TRUE(code) << where << ": the server did not exit";
      EXPECT_EQ(*code, std::stoi(line.substr(8))) << where;
    } else {
      FAIL() << where << ": bad transcript line: " << line;
    }
  }
  EXPECT_TRUE(unmatched.empty()) << path << ": unexpected messages: " << json(unmatched).dump();
}

class Transcript : public ::testing::TestWithParam<std::string> {};

TEST_P(Transcript, ServerRepliesAsExpected) {
  run_transcript(std::string(MTPC_TRANSCRIPTS_DIR) + "/" + GetParam() + ".txt");
}

INSTANTIATE_TEST_SUITE_P(Server, Transcript,
                         ::testing::Values("lifecycle", "encoding", "sync", "cancellation", "errors",
                                           "framing", "settings", "disconnect"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mtpc::lsp_testing
