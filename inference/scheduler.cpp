// The scheduler's engine thread: admission (queue bound, deadlines,
// round-robin between users), continuous batching, draining.
#include "inference/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace mtpc {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Queued {
  ScheduledRequest req;
  Clock::time_point submitted;
};

// A request in the batch: the caller's cancel token is copied into ours
// before every step, and ours is also set when a drain runs out of time.
struct Running {
  ScheduledRequest req;
  std::shared_ptr<const CancellationToken> theirs;
  std::shared_ptr<CancellationToken> ours;
  Clock::time_point joined;
  double queue_ms = 0;
  int batch_size = 0;
  double budget_ms = -1;  // half the time its deadline left it when it joined (-1: no deadline)
};

}  // namespace

struct Scheduler::Impl {
  Impl(std::shared_ptr<Engine> e, SchedulerOptions o)
      : engine(e), options(o), batch(std::move(e), o.batching), limit(o.max_batch) {}

  std::shared_ptr<Engine> engine;
  SchedulerOptions options;
  BatchDecoder batch;                   // engine thread only
  std::map<uint64_t, Running> running;  // engine thread only

  mutable std::mutex mu;
  std::condition_variable cv;       // wakes the engine thread
  std::condition_variable idle_cv;  // wakes drain()
  std::map<std::string, std::deque<Queued>> queues;  // per user
  std::deque<std::string> turn;  // users with queued requests, next first
  int queued = 0;
  int in_batch = 0;           // admitted, not yet answered (done called)
  int answering = 0;          // refused from the queue, done not yet called
  double service_ms = 0;      // moving average of join-to-leave times (0: none yet)
  bool draining = false, cancel_all = false, stopping = false;
  SchedulerStats stats;
  std::thread thread;

  int capacity() const { return options.batching ? std::max(1, static_cast<int>(limit)) : 1; }
  // The batch's adaptive limit (under mu; AIMD between 1 and max_batch): a
  // sequence that ran past half the time its deadline left it (cut at the
  // deadline, or cancelled by then as superseded: too slow to be of use)
  // halves it; one that finished within that raises it by 1/limit. Sharing
  // the passes among more sequences slows each; on a CPU, where a pass's
  // cost grows with its rows, a full batch of typists' requests would each
  // be superseded before finishing.
  double limit = 1;
  void learn(bool late, bool finished) {
    if (late) limit = std::max(1.0, limit / 2);
    else if (finished) limit = std::min<double>(options.max_batch, limit + 1 / limit);
  }
  // Under mu.
  void told() const {
    if (options.on_load) options.on_load(in_batch, queued);
  }

  void loop();
  bool admit(std::vector<Queued>& join, std::vector<std::pair<Queued, ScheduleOutcome>>& refuse,
             std::vector<Queued>& cancelled, std::set<const Session*>& busy);
};

Result<std::unique_ptr<Scheduler>> Scheduler::start(std::shared_ptr<Engine> engine, SchedulerOptions options) {
  if (!engine) return Status::Error("scheduler: no engine");
  if (options.max_batch < 1) return Status::Error("max_batch must be >= 1, got " + std::to_string(options.max_batch));
  if (options.max_queue < 0) return Status::Error("max_queue must be >= 0, got " + std::to_string(options.max_queue));
  auto impl = std::make_unique<Impl>(std::move(engine), options);
  Impl* raw = impl.get();
  std::unique_ptr<Scheduler> s(new Scheduler(std::move(impl)));
  raw->thread = std::thread([raw] { raw->loop(); });
  return s;
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scheduler::~Scheduler() {
  drain(std::chrono::milliseconds(0));
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

const SchedulerOptions& Scheduler::options() const { return impl_->options; }

void Scheduler::observe_load(std::function<void(int running, int queued)> observer) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->options.on_load = std::move(observer);
  impl_->told();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SchedulerStats s = impl_->stats;
  s.queued = impl_->queued;
  s.running = impl_->in_batch;
  s.batch_limit = impl_->capacity();
  return s;
}

void Scheduler::submit(ScheduledRequest request) {
  Impl& m = *impl_;
  ScheduleOutcome refused = ScheduleOutcome::kDone;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    ++m.stats.submitted;
    const auto now = Clock::now();
    if (m.draining || m.stopping) {
      refused = ScheduleOutcome::kDraining;
      ++m.stats.draining;
    } else if (m.in_batch + m.queued >= m.capacity() && m.queued >= m.options.max_queue) {
      refused = ScheduleOutcome::kQueueFull;
      ++m.stats.queue_full;
    } else if (request.request.deadline) {
      // The wait ahead: none with a free place, else the requests ahead
      // (and this one) each take a place for about one service time, and
      // capacity() places free in that time.
      double wait_ms = 0;
      if (m.in_batch + m.queued >= m.capacity())
        wait_ms = m.service_ms * static_cast<double>(m.queued + 1) / m.capacity();
      const auto start = now + std::chrono::microseconds(static_cast<int64_t>(wait_ms * 1000));
      if (*request.request.deadline <= now || start > *request.request.deadline) {
        refused = ScheduleOutcome::kBusy;
        ++m.stats.busy;
      }
    }
    if (refused == ScheduleOutcome::kDone) {
      auto& q = m.queues[request.user];
      if (q.empty()) m.turn.push_back(request.user);
      q.push_back({std::move(request), now});
      ++m.queued;
      m.told();
    }
  }
  if (refused != ScheduleOutcome::kDone) {
    ScheduledResult r;
    r.outcome = refused;
    r.result = Status::Error(std::string("not scheduled: ") + schedule_outcome_name(refused));
    if (request.done) request.done(std::move(r));
    return;
  }
  m.cv.notify_one();
}

// Under mu: answers queued requests whose deadline passed (kBusy) or all of
// them after a drain ran out of time (kDraining), takes out the cancelled
// ones (answered kCancelled without joining), then takes requests for the
// free places, one per user in turn: each user's first request whose
// session is not in the batch (`busy`: the sessions decoding now; taken
// ones are added). False when the thread should end.
bool Scheduler::Impl::admit(std::vector<Queued>& join, std::vector<std::pair<Queued, ScheduleOutcome>>& refuse,
                            std::vector<Queued>& cancelled, std::set<const Session*>& busy) {
  const auto now = Clock::now();
  for (auto it = queues.begin(); it != queues.end(); ++it) {
    auto& q = it->second;
    for (auto r = q.begin(); r != q.end();) {
      const bool late = r->req.request.deadline && *r->req.request.deadline <= now;
      if (late || cancel_all) {
        refuse.emplace_back(std::move(*r), late && !cancel_all ? ScheduleOutcome::kBusy : ScheduleOutcome::kDraining);
        ++(late && !cancel_all ? stats.busy : stats.draining);
        r = q.erase(r);
        --queued;
      } else if (r->req.request.cancel && r->req.request.cancel->cancelled()) {
        cancelled.push_back(std::move(*r));
        r = q.erase(r);
        --queued;
      } else {
        ++r;
      }
    }
  }
  const int free = capacity() - in_batch;
  // One round over the users waiting now; a user whose every request waits
  // for a busy session keeps its turn for the next pass.
  std::deque<std::string> waiting;
  while (static_cast<int>(join.size()) < free && !turn.empty()) {
    const std::string user = turn.front();
    turn.pop_front();
    auto& q = queues[user];
    auto r = std::find_if(q.begin(), q.end(), [&busy](const Queued& x) {
      return !x.req.session || busy.count(x.req.session.get()) == 0;
    });
    if (r == q.end()) {
      if (!q.empty()) waiting.push_back(user);
      continue;
    }
    if (r->req.session) busy.insert(r->req.session.get());
    join.push_back(std::move(*r));
    q.erase(r);
    --queued;
    if (!q.empty()) turn.push_back(user);
  }
  // Those that waited on a session go first next time (fairness kept).
  for (auto w = waiting.rbegin(); w != waiting.rend(); ++w) turn.push_front(*w);
  for (auto it = queues.begin(); it != queues.end();) {
    if (it->second.empty()) {
      turn.erase(std::remove(turn.begin(), turn.end(), it->first), turn.end());
      it = queues.erase(it);
    } else {
      ++it;
    }
  }
  in_batch += static_cast<int>(join.size());
  answering += static_cast<int>(refuse.size() + cancelled.size());
  told();
  return true;
}

void Scheduler::Impl::loop() {
  for (;;) {
    std::vector<Queued> join;
    std::vector<std::pair<Queued, ScheduleOutcome>> refuse;
    std::vector<Queued> cancelled_waiting;
    std::set<const Session*> busy;
    for (const auto& [id, run] : running) busy.insert(run.req.session.get());
    bool cancel_running = false;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [this] {
        return stopping || in_batch > 0 || (queued > 0 && in_batch < capacity()) || (cancel_all && queued > 0);
      });
      if (stopping && in_batch == 0 && queued == 0) return;
      admit(join, refuse, cancelled_waiting, busy);
      cancel_running = cancel_all;
    }
    for (Queued& q : cancelled_waiting) {
      // Cancelled while it waited (a newer keystroke): answered without
      // joining, so it never holds its session.
      GenerationResult cancelled;
      cancelled.reason = StopReason::kCancelled;
      ScheduledResult r;
      r.queue_ms = ms_between(q.submitted, Clock::now());
      r.result = std::move(cancelled);
      if (q.req.done) q.req.done(std::move(r));
    }
    if (!cancelled_waiting.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      answering -= static_cast<int>(cancelled_waiting.size());
    }
    for (auto& [q, outcome] : refuse) {
      ScheduledResult r;
      r.outcome = outcome;
      r.queue_ms = ms_between(q.submitted, Clock::now());
      r.result = Status::Error(outcome == ScheduleOutcome::kBusy
                                   ? "server busy: the request would have waited past its deadline"
                                   : "server draining: the request was not started");
      if (q.req.done) q.req.done(std::move(r));
    }
    if (!refuse.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      answering -= static_cast<int>(refuse.size());
    }
    const auto now = Clock::now();
    int failed_joins = 0;
    for (Queued& q : join) {
      Running run;
      run.theirs = q.req.request.cancel;
      run.ours = std::make_shared<CancellationToken>();
      run.joined = now;
      run.queue_ms = ms_between(q.submitted, now);
      run.batch_size = static_cast<int>(running.size() + 1);
      if (q.req.request.deadline) run.budget_ms = std::max(0.0, ms_between(now, *q.req.request.deadline)) / 2;
      if (run.theirs && run.theirs->cancelled()) {
        // Cancelled while it waited (a newer keystroke): no prefill for it.
        ++failed_joins;
        GenerationResult cancelled;
        cancelled.reason = StopReason::kCancelled;
        ScheduledResult r;
        r.queue_ms = run.queue_ms;
        r.result = std::move(cancelled);
        if (q.req.done) q.req.done(std::move(r));
        continue;
      }
      GenerationRequest request = q.req.request;
      request.cancel = run.ours;
      Result<uint64_t> id = q.req.session ? batch.join(*q.req.session, request)
                                          : Result<uint64_t>(Status::Error("no session"));
      if (!id.ok()) {
        ++failed_joins;
        ScheduledResult r;
        r.queue_ms = run.queue_ms;
        r.result = id.status();
        if (q.req.done) q.req.done(std::move(r));
        continue;
      }
      run.req = std::move(q.req);
      running.emplace(*id, std::move(run));
    }
    for (auto& [id, run] : running)
      if (cancel_running || (run.theirs && run.theirs->cancelled())) run.ours->cancel();
    std::vector<BatchDecoder::Left> left;
    const size_t stepped = running.size();
    if (stepped > 0) left = batch.step();
    const auto end = Clock::now();
    std::vector<std::pair<Running, Result<GenerationResult>>> finished;
    for (auto& l : left) {
      auto it = running.find(l.id);
      if (it == running.end()) continue;
      finished.emplace_back(std::move(it->second), std::move(l.result));
      running.erase(it);
    }
    for (auto& [run, result] : finished) {
      // A cancel the caller asked for reads as the caller's; ours (a drain
      // out of time) reads the same: kCancelled.
      ScheduledResult r;
      r.queue_ms = run.queue_ms;
      r.batch_size = run.batch_size;
      r.result = std::move(result);
      if (run.req.done) run.req.done(std::move(r));
    }
    {
      // Counted out only now, so that drain() returns after every answer.
      std::lock_guard<std::mutex> lock(mu);
      in_batch -= failed_joins;
      in_batch -= static_cast<int>(finished.size());
      if (stepped > 0) {
        ++stats.steps;
        stats.sequence_steps += static_cast<int64_t>(stepped);
      }
      for (auto& [run, result] : finished) {
        ++stats.decoded;
        const double took = ms_between(run.joined, end);
        if (options.adaptive_batch && options.batching) {
          const bool cut = !result.ok() || result->reason == StopReason::kCancelled ||
                           result->reason == StopReason::kDeadline;
          learn(run.budget_ms >= 0 && took > run.budget_ms, !cut);
        }
        service_ms = service_ms == 0 ? took : 0.8 * service_ms + 0.2 * took;
      }
      told();
    }
    idle_cv.notify_all();
  }
}

bool Scheduler::drain(std::chrono::milliseconds grace) {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  m.draining = true;
  const bool clean = m.idle_cv.wait_until(lock, Clock::now() + grace, [&m] { return m.queued == 0 && m.in_batch == 0 && m.answering == 0; });
  if (clean) return true;
  m.cancel_all = true;
  m.cv.notify_all();
  // Cancellation takes effect at the next pass; bounded by one step per
  // sequence, but never wait forever on a wedged device.
  m.idle_cv.wait_for(lock, std::chrono::seconds(60), [&m] { return m.queued == 0 && m.in_batch == 0 && m.answering == 0; });
  return false;
}

}  // namespace mtpc
