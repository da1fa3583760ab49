// The scheduler in front of the engine (torch-free header): requests from
// any thread, one engine thread decoding them together by continuous
// batching (BatchDecoder, engine.h): a request joins the running batch at
// the next pass and leaves it when it stops, each with its own session
// (prefix reuse per user and document), stop rules, deadline and
// cancellation.
//
// Admission:
//   - a bounded queue (max_queue): a request beyond it is answered at once
//     as kQueueFull;
//   - a request whose deadline would pass before it could start (the
//     deadline already passed, or the estimated wait runs past it) is
//     answered at once as kBusy, never late; a queued request whose
//     deadline passes while it waits is answered kBusy then;
//   - fair between users: when a place in the batch frees, the next request
//     comes from the next user in round-robin order (each user's own
//     requests first come, first served);
//   - max_batch sequences decode together at most; batching = false runs
//     one at a time through generate()'s plain model calls (the baseline);
//   - adaptive_batch: the limit halves when a sequence ran past half of the
//     time its deadline left it, and grows back as sequences finish in
//     time (so under overload fewer run at once, each finishing sooner);
//   - one sequence per session: a request whose session is in the batch
//     (an older request on the same document) waits in the queue until
//     that one leaves (a cancelled one leaves at the next pass), so a
//     newer keystroke is never refused for a busy session;
//   - a request cancelled while it waits is answered kDone/kCancelled at
//     the next pass without joining (no prefill, no decoding).
// Draining: drain() stops admitting (new requests get kDraining), lets what
// is queued and running finish, and returns true when all is done within
// the grace period; whatever is left then is cancelled.
//
// `done` is called exactly once per submitted request: on the engine thread,
// or on the submitting thread when refused at once. It must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "inference/engine.h"

namespace mtpc {

enum class ScheduleOutcome {
  kDone,       // decoded: result holds the generation (or its error)
  kBusy,       // not started: it would have waited past its deadline
  kQueueFull,  // not started: the queue was full
  kDraining,   // not started: the scheduler is draining or stopped
};
inline const char* schedule_outcome_name(ScheduleOutcome o) {
  switch (o) {
    case ScheduleOutcome::kDone: return "done";
    case ScheduleOutcome::kBusy: return "busy";
    case ScheduleOutcome::kQueueFull: return "queue_full";
    case ScheduleOutcome::kDraining: return "draining";
  }
  return "?";
}

struct ScheduledResult {
  ScheduleOutcome outcome = ScheduleOutcome::kDone;
  Result<GenerationResult> result = Status::Error("not decoded");
  double queue_ms = 0;  // from submit() until the request joined the batch
  int batch_size = 0;   // sequences in the batch when it joined (itself included)
};

struct ScheduledRequest {
  std::string user;                  // fairness key (a client, a token's user)
  std::shared_ptr<Session> session;  // kept alive by the scheduler until done
  GenerationRequest request;         // its deadline and cancel are honoured
  std::function<void(ScheduledResult)> done;
};

struct SchedulerOptions {
  int max_batch = 16;   // sequences decoding together at most (>= 1)
  // The batch limit starts at max_batch, halves when a sequence runs past
  // half the time its deadline left it, and grows back by 1/limit per
  // sequence finished within it (AIMD): sharing passes slows each, and a request
  // finished after the user typed on is of no use. false: max_batch always.
  bool adaptive_batch = true;
  int max_queue = 256;  // requests waiting to join (>= 0)
  bool batching = true;
  // Told the load after every change: sequences in the batch, requests
  // waiting to join (for gauges). Called under the scheduler's lock, from
  // any thread: it must be quick and must not call the scheduler.
  std::function<void(int running, int queued)> on_load;
};

struct SchedulerStats {
  int64_t submitted = 0, decoded = 0, busy = 0, queue_full = 0, draining = 0;
  int64_t steps = 0;           // BatchDecoder steps
  int64_t sequence_steps = 0;  // sum over steps of the sequences in the batch
  int queued = 0, running = 0;
  int batch_limit = 0;  // the adaptive limit now (max_batch when not adaptive)
};

class Scheduler {
 public:
  // Errors: bad options. Starts the engine thread.
  static Result<std::unique_ptr<Scheduler>> start(std::shared_ptr<Engine> engine, SchedulerOptions options);
  ~Scheduler();  // drains with no grace (cancels what runs), joins

  void submit(ScheduledRequest request);
  // Stops admitting, waits up to `grace` for the queued and running
  // requests, then cancels the rest (they finish with kCancelled); true when
  // everything finished within the grace period.
  bool drain(std::chrono::milliseconds grace);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const;
  // Replaces options().on_load (told the current load at once).
  void observe_load(std::function<void(int running, int queued)> observer);

  struct Impl;

 private:
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtpc
