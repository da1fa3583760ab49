#include "eval/generated_samples.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "eval/jsonl_log.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

// Optional typed fields: absent is fine, present with the wrong type is not.
template <class T>
bool read_field(const json& j, const char* name, T* out, std::string* why) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return true;
  try {
    *out = it->get<T>();
    return true;
  } catch (const json::exception&) {
    *why = std::string("field \"") + name + "\" has the wrong type";
    return false;
  }
}

}  // namespace

json to_json(const GeneratedSample& s) {
  json j = {{"task_id", s.task_id}, {"sample", s.index}};
  if (!s.ok()) {
    j["error"] = s.error;
    return j;
  }
  j["completion"] = s.completion;
  j["stop"] = s.stop;
  j["tokens"] = s.stats.tokens;
  j["forward_passes"] = s.stats.forward_passes;
  j["proposed"] = s.stats.proposed;
  j["accepted"] = s.stats.accepted;
  j["prefill_tokens"] = s.stats.prefill_tokens;
  j["reused_tokens"] = s.stats.reused_tokens;
  j["prefill_ms"] = s.stats.prefill_ms;
  j["decode_ms"] = s.stats.decode_ms;
  j["seconds"] = s.seconds;
  j["prompt_truncated"] = s.prompt_truncated;
  if (s.wall_ms) {
    j["wall_ms"] = *s.wall_ms;
    j["deadline_hit"] = s.deadline_hit;
    j["syntax_retries"] = s.syntax_retries;
    j["from_retry"] = s.from_retry;
  }
  return j;
}

Result<GeneratedSample> generated_sample_from_json(const json& j) {
  if (!j.is_object()) return Status::Error("not a JSON object");
  GeneratedSample s;
  auto task = j.find("task_id"), sample = j.find("sample");
  if (task == j.end() || !task->is_string()) return Status::Error("no string \"task_id\"");
  if (sample == j.end() || !sample->is_number_integer() || sample->get<int64_t>() < 0 ||
      sample->get<int64_t>() > (1 << 30))
    return Status::Error("no sample index (\"sample\", an integer >= 0)");
  s.task_id = task->get<std::string>();
  s.index = sample->get<int>();
  auto completion = j.find("completion"), error = j.find("error");
  if (completion != j.end() && completion->is_string()) {
    s.completion = completion->get<std::string>();
  } else if (error != j.end() && error->is_string() && !error->get<std::string>().empty()) {
    s.error = error->get<std::string>();
    return s;
  } else {
    return Status::Error("neither a string \"completion\" nor an \"error\"");
  }
  std::string why;
  if (!read_field(j, "stop", &s.stop, &why) || !read_field(j, "tokens", &s.stats.tokens, &why) ||
      !read_field(j, "forward_passes", &s.stats.forward_passes, &why) ||
      !read_field(j, "proposed", &s.stats.proposed, &why) || !read_field(j, "accepted", &s.stats.accepted, &why) ||
      !read_field(j, "prefill_tokens", &s.stats.prefill_tokens, &why) ||
      !read_field(j, "reused_tokens", &s.stats.reused_tokens, &why) ||
      !read_field(j, "prefill_ms", &s.stats.prefill_ms, &why) ||
      !read_field(j, "decode_ms", &s.stats.decode_ms, &why) || !read_field(j, "seconds", &s.seconds, &why) ||
      !read_field(j, "prompt_truncated", &s.prompt_truncated, &why))
    return Status::Error(why);
  if (j.contains("wall_ms")) {
    double wall_ms = 0;
    if (!read_field(j, "wall_ms", &wall_ms, &why) || !read_field(j, "deadline_hit", &s.deadline_hit, &why))
      return Status::Error(why);
    s.wall_ms = wall_ms;
    if ((j.contains("syntax_retries") && !read_field(j, "syntax_retries", &s.syntax_retries, &why)) ||
        (j.contains("from_retry") && !read_field(j, "from_retry", &s.from_retry, &why)))
      return Status::Error(why);
  }
  if (s.stats.proposed.size() != s.stats.accepted.size())
    return Status::Error("\"proposed\" and \"accepted\" differ in length");
  return s;
}

void GeneratedSamplesLog::remember(GeneratedSample sample) {
  auto key = std::make_pair(sample.task_id, sample.index);
  auto it = records_.find(key);
  if (it != records_.end() && it->second.ok() && !sample.ok()) return;
  records_[key] = std::move(sample);
}

Result<std::unique_ptr<GeneratedSamplesLog>> GeneratedSamplesLog::open(const std::string& path,
                                                                       std::vector<std::string>* messages) {
  std::unique_ptr<GeneratedSamplesLog> log(new GeneratedSamplesLog());
  log->path_ = path;
  GeneratedSamplesLog* l = log.get();
  size_t torn = 0;
  Status read = read_jsonl_log(
      path,
      [&](size_t line_no, std::string_view line) {
        json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        Result<GeneratedSample> s =
            j.is_discarded() ? Result<GeneratedSample>(Status::Error("not valid JSON")) : generated_sample_from_json(j);
        if (!s.ok())
          return Status::Error(path + ":" + std::to_string(line_no) + ": not a samples record (" +
                               s.status().message() + "); move the file away to start over");
        s->resumed = true;
        l->remember(std::move(s.value()));
        return Status::Ok();
      },
      &torn);
  if (!read.ok()) return read;
  if (torn > 0)
    messages->push_back(path + ":" + std::to_string(torn) +
                        ": dropped a torn last line (a run was interrupted while writing it); its sample is "
                        "generated again");
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log->fd_ < 0) return Status::Error(path + ": cannot open for appending: " + std::strerror(errno));
  return log;
}

GeneratedSamplesLog::~GeneratedSamplesLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status GeneratedSamplesLog::append(const GeneratedSample& sample) {
  std::string line = to_json(sample).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (Status w = append_jsonl_line(fd_, path_, line); !w.ok()) return w;
  // A sample costs seconds of decoding; a sync per line keeps it after a
  // machine crash too, at a cost far below that.
  if (::fdatasync(fd_) != 0) return Status::Error(path_ + ": fdatasync failed: " + std::strerror(errno));
  GeneratedSample kept = sample;
  kept.resumed = false;
  remember(std::move(kept));
  return Status::Ok();
}

}  // namespace mtpc::eval
