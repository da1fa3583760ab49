// libFuzzer target: arbitrary bytes into the server's framing and dispatch,
// as an editor connection would deliver them. The real FrameReader,
// LspServer, CompletionService, completion core and tree-sitter context
// run; only the model is a few torch-free lines (LibTorch has no place in a
// sanitizer build):
// it continues the prompt by repeating its bytes, honouring the stop
// predicate, max tokens, the deadline and cancellation like the engine.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "lsp/completion_service.h"
#include "lsp/framing.h"
#include "lsp/server.h"
#include "tests/common/stand_in_tokenizer.h"

namespace mtpc::lsp {
namespace {

constexpr int kFuzzContext = 256;  // the stand-in model's context length

class RepeatModel final : public completion::CompletionModel {
 public:
  RepeatModel() { tokenizer_.fim = mtpc::testing::byte_psm(); }
  int max_seq_len() const override { return kFuzzContext; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  Result<std::unique_ptr<Sequence>> new_sequence() override { return std::make_unique<Sequence>(); }
  Result<GenerationResult> generate(Sequence&, const GenerationRequest& r) override {
    GenerationResult out;
    for (int i = 0; i < r.max_new_tokens; ++i) {
      if (r.cancel && r.cancel->cancelled()) {
        out.reason = StopReason::kCancelled;
        return out;
      }
      int32_t id = r.prompt.empty() ? 'x' : r.prompt[static_cast<size_t>(i) % r.prompt.size()];
      if (id < 0 || id > 255) id = ' ';
      out.tokens.push_back(id);
      out.text.push_back(static_cast<char>(id));
      if (r.stop_predicate) {
        if (auto keep = r.stop_predicate(out.text)) {
          out.text.resize(std::min(*keep, out.text.size()));
          out.reason = StopReason::kPredicate;
          return out;
        }
      }
    }
    out.reason = StopReason::kMaxTokens;
    return out;
  }

 private:
  mtpc::testing::StandInTokenizer tokenizer_;
};

struct Harness {
  Logger log;
  CompletionService service;
  Harness()
      : service([](const std::string&) -> Result<std::unique_ptr<completion::CompletionModel>> {
          return std::unique_ptr<completion::CompletionModel>(new RepeatModel());
        }, log) {
    log.open_file("/dev/null");
  }
};

// Runs every task posted to the "I/O thread" (this one) until the engine
// thread has finished all it was given.
void drain(Harness& h, std::vector<std::function<void()>>& posted, std::mutex& mu) {
  for (int round = 0; round < 4; ++round) {
    std::promise<void> barrier;
    h.service.ensure_model("fuzz", [&barrier](Status) { barrier.set_value(); });
    barrier.get_future().wait();
    std::vector<std::function<void()>> now;
    {
      std::lock_guard<std::mutex> lock(mu);
      now.swap(posted);
    }
    if (now.empty()) return;
    for (auto& f : now) f();
  }
}

}  // namespace
}  // namespace mtpc::lsp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtpc::lsp;
  static Harness* h = new Harness();  // one engine thread for the whole run
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  size_t replies = 0;
  ServerOptions options;
  options.model_dir = "fuzz";
  options.framing.max_message_bytes = 1 << 16;
  options.defaults.deadline_ms = 1000;
  auto server = LspServer::create(
      h->service, h->log, options, [&replies](std::string) { ++replies; },
      [&mu, &posted](std::function<void()> f) {
        std::lock_guard<std::mutex> lock(mu);
        posted.push_back(std::move(f));
      },
      "fuzz");
  // The first byte picks whether the session starts initialized with an
  // open document (so completion paths are reached) and how bytes are split.
  uint8_t mode = size > 0 ? data[0] : 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (size > 0) bytes.remove_prefix(1);
  if (mode & 1) {
    server->on_bytes(frame_message(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}})"));
    server->on_bytes(frame_message(
        R"({"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///f.py","languageId":"python","version":1,"text":"def f(x):\n    return x\n"}}})"));
  }
  size_t chunk = 1 + (mode >> 1) % 64;
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    server->on_bytes(bytes.substr(i, chunk));
    if (server->exit_requested()) break;
  }
  drain(*h, posted, mu);
  server->on_disconnect();
  server.reset();
  drain(*h, posted, mu);
  return 0;
}
