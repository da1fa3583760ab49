// BatchDecoder: continuous batching over StepDecoder (inference/decoder.h).
#include <map>

#include "inference/decoder.h"
#include "inference/session_state.h"

namespace mtpc {

struct BatchDecoder::Impl {
  // A joined sequence: the request's copy (the Sequence refers to it), the
  // session's busy mark, and the sequence.
  struct Entry {
    uint64_t id = 0;
    GenerationRequest request;
    std::unique_ptr<BusyGuard> guard;
    std::unique_ptr<Sequence> seq;
  };
  Impl(std::shared_ptr<Engine> e, bool p)
      : engine(std::move(e)), packed(p), decoder(*engine->impl_, p ? ForwardCalls::kPacked : ForwardCalls::kSingle) {}
  std::shared_ptr<Engine> engine;
  bool packed;
  StepDecoder decoder;
  std::map<const Sequence*, std::unique_ptr<Entry>> entries;
  uint64_t next_id = 1;
};

BatchDecoder::BatchDecoder(std::shared_ptr<Engine> engine, bool packed)
    : impl_(std::make_unique<Impl>(std::move(engine), packed)) {}
BatchDecoder::~BatchDecoder() {
  // Sequences still joined: their sessions may hold half a pass.
  for (auto& [seq, entry] : impl_->entries) entry->seq->session.truncate(0);
}
size_t BatchDecoder::size() const { return impl_->entries.size(); }
bool BatchDecoder::packed() const { return impl_->packed; }

Result<uint64_t> BatchDecoder::join(Session& session, const GenerationRequest& request) {
  if (!impl_->packed && !impl_->entries.empty())
    return Status::Error("this decoder runs one sequence at a time and one is running");
  if (!session.state_) return Status::Error("no session");
  auto entry = std::make_unique<Impl::Entry>();
  entry->request = request;
  Session::State& st = *session.state_;
  entry->guard = std::make_unique<BusyGuard>(st.busy);
  if (!entry->guard->owned()) return Status::Error("session is in use (by another thread or sequence); request refused");
  Engine::Impl& e = *impl_->engine->impl_;
  auto prepared = e.prepare(entry->request);
  if (!prepared.ok()) return prepared.status();
  entry->seq = std::make_unique<Sequence>(e, st, entry->request, std::move(*prepared));
  entry->id = impl_->next_id++;
  const uint64_t id = entry->id;
  impl_->decoder.add(entry->seq.get());
  impl_->entries.emplace(entry->seq.get(), std::move(entry));
  return id;
}

std::vector<BatchDecoder::Left> BatchDecoder::step() {
  std::vector<Left> left;
  std::vector<Sequence*> ended;
  Status failed;
  try {
    ended = impl_->decoder.step();
  } catch (const std::exception& e) {
    failed = Status::Error(std::string("batched decoding failed: ") + e.what());
    ended = impl_->decoder.take_all();
    for (Sequence* s : ended) s->session.truncate(0);
  }
  for (Sequence* s : ended) {
    auto it = impl_->entries.find(s);
    if (it == impl_->entries.end()) continue;
    left.push_back({it->second->id, failed.ok() ? s->take_result() : Result<GenerationResult>(failed)});
    impl_->entries.erase(it);  // releases the session's busy mark
  }
  return left;
}

}  // namespace mtpc
