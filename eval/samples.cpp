#include "eval/samples.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "base/gzip_file.h"
#include "eval/jsonl_log.h"
#include "eval/program.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string utf8_sanitized(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

Result<SamplesFile> read_samples(const std::string& path, const Dataset& dataset,
                                 const std::vector<const Task*>& tasks) {
  Result<std::string> bytes = read_file_maybe_gz(path);
  if (!bytes.ok()) return bytes.status();
  std::set<std::string> in_split;
  for (const Task* t : tasks) in_split.insert(t->id);
  std::map<std::string, int> per_task;
  SamplesFile out;
  const std::string& text = bytes.value();
  size_t line_no = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto problem = [&](const std::string& what) {
      out.problems.push_back(path + ":" + std::to_string(line_no) + ": " + what);
    };
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded() || !obj.is_object()) {
      problem("not a valid JSON object; skipped");
      continue;
    }
    auto id = obj.find("task_id");
    auto completion = obj.find("completion");
    if (id == obj.end()) {
      problem("no task_id; skipped");
      continue;
    }
    if (completion == obj.end() || !completion->is_string()) {
      problem("no string \"completion\"; skipped");
      continue;
    }
    std::string canonical = canonical_task_id(dataset.benchmark(), *id);
    if (canonical.empty() || !dataset.find(canonical)) {
      problem("unknown task_id " + id->dump(-1, ' ', false, json::error_handler_t::replace) + "; skipped");
      continue;
    }
    if (!in_split.count(canonical)) {
      problem("task " + canonical + " is not in the selected split; skipped");
      continue;
    }
    Sample s;
    s.task_id = canonical;
    s.index = per_task[canonical]++;
    s.completion = completion->get<std::string>();
    out.samples.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> reference_samples(const Dataset& dataset, const std::vector<const Task*>& tasks) {
  std::vector<Sample> out;
  for (const Task* t : tasks) {
    out.push_back({t->id, 0, reference_completion(dataset.benchmark(), *t)});
  }
  return out;
}

Result<std::unique_ptr<ResultsLog>> ResultsLog::open(const std::string& path) {
  std::unique_ptr<ResultsLog> log(new ResultsLog());
  log->path_ = path;
  ResultsLog* l = log.get();
  size_t torn = 0;  // a torn last line is cut off before appending after it
  Status read = read_jsonl_log(
      path,
      [&](size_t line_no, std::string_view line) {
        json j = json::parse(line, nullptr, false);
        auto bad = [&] {
          return Status::Error(path + ":" + std::to_string(line_no) +
                               ": not a results record; move the file away to start over");
        };
        if (j.is_discarded() || !j.is_object()) return bad();
        auto task = j.find("task_id"), sample = j.find("sample"), completion = j.find("completion"),
             passed = j.find("passed"), result = j.find("result");
        if (task == j.end() || !task->is_string() || sample == j.end() || !sample->is_number_integer() ||
            completion == j.end() || !completion->is_string() || passed == j.end() || !passed->is_boolean() ||
            result == j.end() || !result->is_string())
          return bad();
        SampleResult r;
        r.task_id = task->get<std::string>();
        r.index = sample->get<int>();
        r.completion = completion->get<std::string>();
        r.passed = passed->get<bool>();
        r.result = result->get<std::string>();
        if (auto s = j.find("seconds"); s != j.end() && s->is_number()) r.seconds = s->get<double>();
        auto key = std::make_pair(r.task_id, r.index);
        if (r.is_harness_error()) {
          l->done_.erase(key);
        } else {
          l->done_[key] = std::move(r);
        }
        return Status::Ok();
      },
      &torn);
  if (!read.ok()) return read;
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log->fd_ < 0) return Status::Error(path + ": cannot open for appending: " + std::strerror(errno));
  return log;
}

ResultsLog::~ResultsLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status ResultsLog::check_same_sample(const Sample& sample) const {
  auto it = done_.find({sample.task_id, sample.index});
  if (it == done_.end() || it->second.completion == utf8_sanitized(sample.completion)) return Status::Ok();
  return Status::Error(path_ + " holds a different completion for " + sample.task_id + " sample " +
                       std::to_string(sample.index) +
                       ": this output directory belongs to another samples file; use a fresh --out");
}

Status ResultsLog::append(const SampleResult& r) {
  json j = {{"task_id", r.task_id}, {"sample", r.index},  {"completion", r.completion},
            {"passed", r.passed},   {"result", r.result}, {"seconds", r.seconds}};
  std::string line = dump_line(j);
  std::lock_guard<std::mutex> lock(mu_);
  // O_APPEND and one write per line: lines from concurrent workers never interleave.
  return append_jsonl_line(fd_, path_, line);
}

}  // namespace mtpc::eval
