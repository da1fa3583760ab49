#include "eval/scoring.h"

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "eval/report.h"

namespace mtpc::eval {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<EvalSummary> score_samples(const ScoreRequest& request, const ScoreOptions& options) {
  const Clock::time_point start = Clock::now();
  if (!request.dataset) return Status::Error("score_samples: no dataset");
  const Dataset& dataset = *request.dataset;
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) return Status::Error(options.out_dir + ": cannot create: " + ec.message());

  Result<std::unique_ptr<ResultsLog>> opened = ResultsLog::open(options.out_dir + "/results.jsonl");
  if (!opened.ok()) return opened.status();
  ResultsLog& log = *opened.value();
  std::vector<size_t> pending;
  for (size_t i = 0; i < request.samples.size(); ++i) {
    const Sample& s = request.samples[i];
    if (Status st = log.check_same_sample(s); !st.ok()) return st;
    if (!log.done().count({s.task_id, s.index})) pending.push_back(i);
  }

  Result<std::unique_ptr<SandboxRunner>> created = SandboxRunner::create(options.sandbox);
  if (!created.ok()) return created.status();
  const SandboxRunner& runner = *created.value();

  EvalSummary summary;
  summary.problems = request.problems;
  if (!runner.interpreter_status().ok()) summary.problems.push_back(runner.interpreter_status().message());

  // Workers take samples in order from a shared index; each sample's record
  // is appended the moment it is scored.
  std::vector<SampleResult> fresh(request.samples.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t done = 0, passed = 0;
  Status append_error;
  std::atomic<bool> stop{false};
  int workers = options.workers > 0 ? options.workers : static_cast<int>(std::thread::hardware_concurrency());
  workers = std::max(1, std::min<int>(workers, static_cast<int>(std::max<size_t>(pending.size(), 1))));
  auto work = [&] {
    for (;;) {
      size_t slot = next.fetch_add(1);
      if (slot >= pending.size() || stop.load()) return;
      const Sample& sample = request.samples[pending[slot]];
      const Task* task = dataset.find(sample.task_id);
      SampleResult r;
      r.task_id = sample.task_id;
      r.index = sample.index;
      r.completion = utf8_sanitized(sample.completion);
      if (!task) {
        r.result = "error: task not in the dataset";
      } else {
        ExecutionResult e =
            runner.run(assemble_program(dataset.benchmark(), *task, sample.completion, options.program));
        r.passed = e.passed();
        r.result = e.summary();
        r.seconds = e.seconds;
      }
      Status appended = log.append(r);
      std::lock_guard<std::mutex> lock(mu);
      if (!appended.ok()) {
        if (append_error.ok()) append_error = appended;
        stop = true;
        return;
      }
      fresh[pending[slot]] = std::move(r);
      ++done;
      passed += fresh[pending[slot]].passed;
      if (options.progress) {
        ScoreProgress p;
        p.done = done;
        p.total = pending.size();
        p.passed = passed;
        p.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
        p.eta_s = p.elapsed_s / static_cast<double>(done) * static_cast<double>(pending.size() - done);
        options.progress(p);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  if (!append_error.ok()) return append_error;

  std::vector<bool> is_pending(request.samples.size(), false);
  for (size_t i : pending) is_pending[i] = true;
  std::map<std::string, TaskCounts> per_task;
  for (size_t i = 0; i < request.samples.size(); ++i) {
    const Sample& s = request.samples[i];
    const SampleResult& r = is_pending[i] ? fresh[i] : log.done().at({s.task_id, s.index});
    TaskCounts& t = per_task[s.task_id];
    t.task_id = s.task_id;
    ++t.n;
    t.c += r.passed;
    ++summary.samples;
    summary.samples_resumed += !is_pending[i];
    ++summary.failure_kinds[failure_kind(r.result)];
    if (r.passed) ++summary.outcomes.passed;
    else if (r.result == "timed out") ++summary.outcomes.timed_out;
    else if (r.is_harness_error()) ++summary.outcomes.error;
    else ++summary.outcomes.failed;
  }
  std::vector<TaskCounts> counts;
  for (auto& [id, t] : per_task) counts.push_back(t);
  summary.pass_at_k = mean_pass_at_k(counts);

  summary.benchmark = benchmark_name(dataset.benchmark());
  summary.split = request.split;
  summary.data_path = dataset.path();
  summary.samples_path = request.samples_path;
  summary.reference = request.reference;
  summary.prompt_format = request.prompt_format;
  summary.generation = request.generation;
  summary.infill = request.infill;
  summary.created_utc = utc_now();
  summary.tasks_in_split = static_cast<int>(request.tasks.size());
  summary.split_size = request.split_size;
  summary.tasks_scored = static_cast<int>(per_task.size());
  summary.isolation = runner.isolation().describe();
  summary.network_isolated = runner.isolation().network_isolated;
  summary.python = runner.options().python;
  summary.timeout_s = runner.options().timeout_s;
  summary.workers = workers;
  summary.scoring_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (Status s = write_reports(options.out_dir, summary); !s.ok()) return s;
  return summary;
}

}  // namespace mtpc::eval
