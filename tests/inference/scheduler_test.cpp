// Continuous batching (BatchDecoder) and the scheduler in front of it:
// sequences joining and leaving mid-batch decode what they decode alone;
// admission is fair between users, bounded, deadline-aware; cancelling one
// request leaves the others; draining finishes what was admitted.
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "inference/engine.h"
#include "inference/scheduler.h"
#include "inference/test_models.h"

namespace mtpc {
namespace {

using mtpc::testing::fixed_length_request;
using mtpc::testing::generate_alone;
using mtpc::testing::make_engine;
using mtpc::testing::random_prompt;
using mtpc::testing::TempDir;
using Clock = std::chrono::steady_clock;

std::shared_ptr<Engine> engine() {
  static TempDir dir;
  static std::shared_ptr<Engine> e = make_engine(dir, HeadKind::kTransformer, 150);
  return e;
}

std::vector<GenerationRequest> requests(DecodeMode mode, uint32_t seed, int count) {
  std::mt19937 rng(seed);
  std::vector<GenerationRequest> rs;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> prompt = random_prompt(rng);
    GenerationRequest r = fixed_length_request(std::move(prompt), 6 + static_cast<int>(rng() % 20), mode);
    r.cost_aware_draft = false;  // drafting learned from timings would differ run to run
    rs.push_back(r);
  }
  return rs;
}

GenerationResult alone(const GenerationRequest& r) { return generate_alone(*engine(), r); }

void expect_same(const GenerationResult& single, const GenerationResult& got, const std::string& what) {
  EXPECT_EQ(got.tokens, single.tokens) << what;
  EXPECT_EQ(got.text, single.text) << what;
  EXPECT_EQ(got.reason, single.reason) << what;
  EXPECT_EQ(got.stats.forward_passes, single.stats.forward_passes) << what;
  EXPECT_EQ(got.stats.proposed, single.stats.proposed) << what;
  EXPECT_EQ(got.stats.accepted, single.stats.accepted) << what;
}

std::shared_ptr<Session> session() { return std::make_shared<Session>(std::move(*engine()->new_session())); }

TEST(BatchDecoder, SequencesJoiningAndLeavingMidBatchDecodeWhatTheyDecodeAlone) {
  for (DecodeMode mode : {DecodeMode::kGreedy, DecodeMode::kSpeculative}) {
    auto rs = requests(mode, 7, 7);
    BatchDecoder batch(engine());
    std::vector<std::shared_ptr<Session>> sessions;
    std::map<uint64_t, size_t> which;
    std::map<size_t, GenerationResult> got;
    size_t next = 0;
    int steps = 0, most = 0;
    // Two join at first, then one more every other step: each joins a batch
    // already decoding, and earlier ones leave while later ones run.
    while ((next < rs.size() || batch.size() > 0) && steps < 1000) {
      if (next < rs.size() && (steps == 0 || steps % 2 == 1)) {
        for (int j = 0; j < (steps == 0 ? 2 : 1) && next < rs.size(); ++j, ++next) {
          sessions.push_back(session());
          auto id = batch.join(*sessions.back(), rs[next]);
          ASSERT_TRUE(id.ok()) << id.status().message();
          which[*id] = next;
        }
      }
      most = std::max(most, static_cast<int>(batch.size()));
      for (auto& l : batch.step()) {
        ASSERT_TRUE(l.result.ok()) << l.result.status().message();
        got[which.at(l.id)] = *l.result;
      }
      ++steps;
    }
    EXPECT_GE(most, 3) << "the test should overlap sequences";
    ASSERT_EQ(got.size(), rs.size());
    for (size_t i = 0; i < rs.size(); ++i)
      expect_same(alone(rs[i]), got[i], std::string(decode_mode_name(mode)) + " request " + std::to_string(i));
  }
}

TEST(BatchDecoder, RefusesABusySessionAndASecondSequenceWhenNotPacked) {
  auto rs = requests(DecodeMode::kSpeculative, 3, 2);
  auto s = session(), t = session();
  BatchDecoder batch(engine());
  ASSERT_TRUE(batch.join(*s, rs[0]).ok());
  EXPECT_FALSE(batch.join(*s, rs[1]).ok());  // the same session twice
  BatchDecoder single(engine(), /*packed=*/false);
  ASSERT_TRUE(single.join(*t, rs[1]).ok());
  auto u = session();
  EXPECT_FALSE(single.join(*u, rs[0]).ok());
  GenerationRequest bad = rs[0];
  bad.draft_length = 99;
  EXPECT_FALSE(batch.join(*u, bad).ok());
  for (int i = 0; i < 1000 && (batch.size() > 0 || single.size() > 0); ++i) {
    batch.step();
    single.step();
  }
  EXPECT_EQ(batch.size(), 0u);
}

// Collects scheduled results by index, thread-safely, in completion order.
struct Collector {
  std::mutex mu;
  std::map<int, ScheduledResult> results;
  std::vector<int> order;
  std::condition_variable cv;
  std::function<void(ScheduledResult)> done(int i) {
    return [this, i](ScheduledResult r) {
      std::lock_guard<std::mutex> lock(mu);
      results.emplace(i, std::move(r));
      order.push_back(i);
      cv.notify_all();
    };
  }
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(120), [&] { return results.size() >= n; });
  }
};

std::unique_ptr<Scheduler> start(SchedulerOptions o) {
  auto s = Scheduler::start(engine(), o);
  if (!s.ok()) throw std::runtime_error(s.status().message());
  return std::move(*s);
}

TEST(Scheduler, BatchedAndOneAtATimeGiveEveryRequestItsAloneOutput) {
  for (bool batching : {true, false}) {
    auto rs = requests(DecodeMode::kSpeculative, 11, 8);
    SchedulerOptions o;
    o.max_batch = 4;
    o.batching = batching;
    auto sched = start(o);
    Collector c;
    for (size_t i = 0; i < rs.size(); ++i)
      sched->submit({"user" + std::to_string(i % 3), session(), rs[i], c.done(static_cast<int>(i))});
    ASSERT_TRUE(c.wait_for(rs.size()));
    for (size_t i = 0; i < rs.size(); ++i) {
      const ScheduledResult& r = c.results.at(static_cast<int>(i));
      ASSERT_EQ(r.outcome, ScheduleOutcome::kDone);
      ASSERT_TRUE(r.result.ok()) << r.result.status().message();
      expect_same(alone(rs[i]), *r.result, (batching ? "batched " : "one at a time ") + std::to_string(i));
    }
    const SchedulerStats st = sched->stats();
    EXPECT_EQ(st.decoded, 8);
    if (batching) EXPECT_GT(st.sequence_steps, st.steps) << "some passes were shared";
    else EXPECT_EQ(st.sequence_steps, st.steps) << "one sequence per pass";
  }
}

// A request that holds the engine thread (its stop predicate waits) until
// `release` is set, so what is submitted meanwhile queues deterministically.
GenerationRequest blocker(std::shared_future<void> release, int max_new_tokens = 2) {
  GenerationRequest r = requests(DecodeMode::kGreedy, 1, 1)[0];
  r.max_new_tokens = max_new_tokens;
  r.stop_predicate = [release](std::string_view) -> std::optional<size_t> {
    release.wait();
    return std::nullopt;
  };
  return r;
}

// Waits (bounded) until `n` requests are in the batch.
void wait_running(Scheduler& s, int n) {
  for (int i = 0; i < 12000 && s.stats().running < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(s.stats().running, n);
}

TEST(Scheduler, FreedPlacesGoToUsersInTurn) {
  SchedulerOptions o;
  o.max_batch = 1;
  auto sched = start(o);
  std::promise<void> release;
  Collector c;
  sched->submit({"x", session(), blocker(release.get_future().share()), c.done(0)});
  const char* users[] = {"a", "a", "a", "b", "c", "b"};
  auto rs = requests(DecodeMode::kGreedy, 5, 6);
  for (int i = 0; i < 6; ++i) {
    rs[i].max_new_tokens = 2;
    sched->submit({users[i], session(), rs[i], c.done(i + 1)});
  }
  release.set_value();
  ASSERT_TRUE(c.wait_for(7));
  // a1 b1 c1 a2 b2 a3 (one place: completion order is joining order).
  EXPECT_EQ(c.order, (std::vector<int>{0, 1, 4, 5, 2, 6, 3}));
}

TEST(Scheduler, AFullQueueAndAHopelessDeadlineAreAnsweredAtOnce) {
  SchedulerOptions o;
  o.max_batch = 1;
  o.max_queue = 2;
  auto sched = start(o);
  std::promise<void> release;
  Collector c;
  sched->submit({"x", session(), blocker(release.get_future().share()), c.done(0)});
  wait_running(*sched, 1);
  auto rs = requests(DecodeMode::kGreedy, 9, 4);
  for (auto& r : rs) r.max_new_tokens = 2;
  // 1: its deadline passed already.
  rs[0].deadline = Clock::now() - std::chrono::milliseconds(1);
  sched->submit({"a", session(), rs[0], c.done(1)});
  // 2: queued, with a deadline that passes while the engine is held.
  const auto soon = Clock::now() + std::chrono::milliseconds(30);
  rs[1].deadline = soon;
  sched->submit({"b", session(), rs[1], c.done(2)});
  // 3: queued without a deadline; 4: the queue (2) is full.
  sched->submit({"c", session(), rs[2], c.done(3)});
  sched->submit({"d", session(), rs[3], c.done(4)});
  {
    std::lock_guard<std::mutex> lock(c.mu);
    EXPECT_EQ(c.results.count(1), 1u) << "answered before the engine was free";
    EXPECT_EQ(c.results.count(4), 1u);
    if (c.results.count(1)) EXPECT_EQ(c.results.at(1).outcome, ScheduleOutcome::kBusy);
    if (c.results.count(4)) EXPECT_EQ(c.results.at(4).outcome, ScheduleOutcome::kQueueFull);
  }
  while (Clock::now() <= soon) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  release.set_value();
  ASSERT_TRUE(c.wait_for(5));
  EXPECT_EQ(c.results.at(0).outcome, ScheduleOutcome::kDone);
  EXPECT_EQ(c.results.at(2).outcome, ScheduleOutcome::kBusy);
  EXPECT_FALSE(c.results.at(2).result.ok());
  EXPECT_EQ(c.results.at(3).outcome, ScheduleOutcome::kDone);
  EXPECT_TRUE(c.results.at(3).result.ok());
  const SchedulerStats st = sched->stats();
  EXPECT_EQ(st.busy, 2);
  EXPECT_EQ(st.queue_full, 1);
}

TEST(Scheduler, CancellingOneRequestLeavesTheOthers) {
  auto rs = requests(DecodeMode::kSpeculative, 21, 4);
  for (auto& r : rs) r.max_new_tokens = 30;
  auto token = std::make_shared<CancellationToken>();
  token->cancel();
  rs[1].cancel = token;
  SchedulerOptions o;
  o.max_batch = 4;
  auto sched = start(o);
  Collector c;
  for (int i = 0; i < 4; ++i) sched->submit({"u" + std::to_string(i), session(), rs[i], c.done(i)});
  ASSERT_TRUE(c.wait_for(4));
  ASSERT_TRUE(c.results.at(1).result.ok());
  EXPECT_EQ(c.results.at(1).result->reason, StopReason::kCancelled);
  EXPECT_LT(c.results.at(1).result->tokens.size(), 30u);
  for (int i : {0, 2, 3}) {
    GenerationRequest plain = rs[i];
    ASSERT_TRUE(c.results.at(i).result.ok());
    expect_same(alone(plain), *c.results.at(i).result, "request " + std::to_string(i));
  }
}

TEST(Scheduler, ARequestCancelledWhileQueuedNeverRuns) {
  SchedulerOptions o;
  o.max_batch = 1;
  auto sched = start(o);
  std::promise<void> release;
  Collector c;
  sched->submit({"x", session(), blocker(release.get_future().share()), c.done(0)});
  wait_running(*sched, 1);
  auto rs = requests(DecodeMode::kSpeculative, 51, 1);
  auto token = std::make_shared<CancellationToken>();
  rs[0].cancel = token;
  sched->submit({"y", session(), rs[0], c.done(1)});
  token->cancel();
  release.set_value();
  ASSERT_TRUE(c.wait_for(2));
  const ScheduledResult& r = c.results.at(1);
  EXPECT_EQ(r.outcome, ScheduleOutcome::kDone);
  ASSERT_TRUE(r.result.ok());
  EXPECT_EQ(r.result->reason, StopReason::kCancelled);
  EXPECT_EQ(r.result->stats.forward_passes, 0) << "no prefill for a cancelled request";
}

TEST(Scheduler, ARequestForABusySessionWaitsForItInsteadOfFailing) {
  // The editor's case: a keystroke's request is decoding on its document's
  // session when the next keystroke's request, on the same session, comes.
  SchedulerOptions o;
  o.max_batch = 4;
  auto sched = start(o);
  std::promise<void> release;
  Collector c;
  auto shared = session();
  sched->submit({"x", shared, blocker(release.get_future().share()), c.done(0)});
  wait_running(*sched, 1);
  auto rs = requests(DecodeMode::kSpeculative, 61, 2);
  sched->submit({"x", shared, rs[0], c.done(1)});
  sched->submit({"y", session(), rs[1], c.done(2)});  // another session joins at once
  release.set_value();
  ASSERT_TRUE(c.wait_for(3));
  const ScheduledResult& r = c.results.at(1);
  ASSERT_EQ(r.outcome, ScheduleOutcome::kDone);
  ASSERT_TRUE(r.result.ok()) << r.result.status().message();
  expect_same(alone(rs[0]), *r.result, "after waiting for its session");
}

TEST(Scheduler, ACancelledRequestFreesItsSessionForTheNextOne) {
  SchedulerOptions o;
  o.max_batch = 4;
  auto sched = start(o);
  Collector c;
  auto shared = session();
  auto rs = requests(DecodeMode::kGreedy, 71, 2);
  GenerationRequest older = rs[0];
  older.max_new_tokens = 200;  // would run long
  auto token = std::make_shared<CancellationToken>();
  older.cancel = token;
  // Cancelled when it has decoded a few tokens, from inside the engine thread.
  older.stop_predicate = [token, n = 0](std::string_view) mutable -> std::optional<size_t> {
    if (++n == 3) token->cancel();
    return std::nullopt;
  };
  older.stop_at_eos = false;
  sched->submit({"x", shared, older, c.done(0)});
  sched->submit({"x", shared, rs[1], c.done(1)});
  ASSERT_TRUE(c.wait_for(2));
  ASSERT_TRUE(c.results.at(0).result.ok());
  EXPECT_EQ(c.results.at(0).result->reason, StopReason::kCancelled);
  EXPECT_LT(c.results.at(0).result->tokens.size(), 20u) << "no decoding after the cancel";
  ASSERT_TRUE(c.results.at(1).result.ok()) << c.results.at(1).result.status().message();
  expect_same(alone(rs[1]), *c.results.at(1).result, "the newer request");
}

TEST(Scheduler, TellsTheLoadAndEndsAtZero) {
  std::mutex mu;
  int most_running = 0, most_queued = 0, last_running = -1, last_queued = -1;
  SchedulerOptions o;
  o.max_batch = 2;
  o.on_load = [&](int running, int queued) {
    std::lock_guard<std::mutex> lock(mu);
    most_running = std::max(most_running, running);
    most_queued = std::max(most_queued, queued);
    last_running = running;
    last_queued = queued;
  };
  auto sched = start(o);
  Collector c;
  auto rs = requests(DecodeMode::kSpeculative, 81, 5);
  for (int i = 0; i < 5; ++i) sched->submit({"u" + std::to_string(i), session(), rs[i], c.done(i)});
  ASSERT_TRUE(c.wait_for(5));
  EXPECT_TRUE(sched->drain(std::chrono::seconds(60)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(most_running, 2);
  EXPECT_GE(most_queued, 1);
  EXPECT_EQ(last_running, 0);
  EXPECT_EQ(last_queued, 0);
}

TEST(Scheduler, ABatchLimitHalvesWhenASequenceRunsPastHalfItsDeadline) {
  for (bool adaptive : {true, false}) {
    SchedulerOptions o;
    o.max_batch = 4;
    o.adaptive_batch = adaptive;
    auto sched = start(o);
    EXPECT_EQ(sched->stats().batch_limit, 4);
    Collector c;
    // Runs 1.5 s of its 2 s: past half of what its deadline left it (wide
    // margins: a loaded machine must not start it late or slow it more).
    GenerationRequest slow = requests(DecodeMode::kGreedy, 91, 1)[0];
    slow.max_new_tokens = 3;
    slow.stop_predicate = [n = 0](std::string_view) mutable -> std::optional<size_t> {
      if (n++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      return std::nullopt;
    };
    auto its_session = session();
    slow.deadline = Clock::now() + std::chrono::seconds(2);
    sched->submit({"x", its_session, slow, c.done(0)});
    ASSERT_TRUE(c.wait_for(1));
    ASSERT_EQ(c.results.at(0).outcome, ScheduleOutcome::kDone);
    EXPECT_EQ(sched->stats().batch_limit, adaptive ? 2 : 4);
    // A request that finishes in time (no deadline: always) grows it back.
    auto rs = requests(DecodeMode::kSpeculative, 92, 1);
    sched->submit({"x", session(), rs[0], c.done(1)});
    ASSERT_TRUE(c.wait_for(2));
    EXPECT_TRUE(sched->drain(std::chrono::seconds(60)));
    EXPECT_EQ(sched->stats().batch_limit, adaptive ? 2 : 4) << "2.5 rounds down";
  }
}

TEST(Scheduler, DrainFinishesWhatWasAdmittedAndRefusesTheRest) {
  auto rs = requests(DecodeMode::kSpeculative, 31, 5);
  SchedulerOptions o;
  o.max_batch = 2;
  auto sched = start(o);
  Collector c;
  for (int i = 0; i < 5; ++i) sched->submit({"u", session(), rs[i], c.done(i)});
  EXPECT_TRUE(sched->drain(std::chrono::seconds(120)));
  {
    std::lock_guard<std::mutex> lock(c.mu);
    ASSERT_EQ(c.results.size(), 5u);
    for (auto& [i, r] : c.results) {
      EXPECT_EQ(r.outcome, ScheduleOutcome::kDone) << i;
      EXPECT_TRUE(r.result.ok()) << i;
    }
  }
  sched->submit({"u", session(), rs[0], c.done(5)});
  ASSERT_TRUE(c.wait_for(6));
  EXPECT_EQ(c.results.at(5).outcome, ScheduleOutcome::kDraining);
}

TEST(Scheduler, DrainOutOfTimeCancelsWhatRunsAndAnswersWhatWaits) {
  SchedulerOptions o;
  o.max_batch = 1;
  auto sched = start(o);
  Collector c;
  auto rs = requests(DecodeMode::kGreedy, 41, 1);
  rs[0].max_new_tokens = 100;
  std::promise<void> release;
  sched->submit({"x", session(), blocker(release.get_future().share(), 50), c.done(0)});
  wait_running(*sched, 1);
  sched->submit({"y", session(), rs[0], c.done(1)});
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release.set_value();
  });
  EXPECT_FALSE(sched->drain(std::chrono::milliseconds(1)));
  releaser.join();
  ASSERT_TRUE(c.wait_for(2));
  ASSERT_TRUE(c.results.at(0).result.ok());
  EXPECT_EQ(c.results.at(0).result->reason, StopReason::kCancelled);
  EXPECT_EQ(c.results.at(1).outcome, ScheduleOutcome::kDraining);
}

TEST(Scheduler, BadOptionsAreRefused) {
  SchedulerOptions o;
  o.max_batch = 0;
  EXPECT_FALSE(Scheduler::start(engine(), o).ok());
  o.max_batch = 1;
  o.max_queue = -1;
  EXPECT_FALSE(Scheduler::start(engine(), o).ok());
}

}  // namespace
}  // namespace mtpc
