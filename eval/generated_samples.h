// OUT/samples.jsonl of generation runs: reading what is there (torn last
// line dropped), appending one fdatasync'ed line per sample. The format is
// described in generation.h. Not synchronised: one thread at a time.
// Never throws.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "eval/generation.h"

namespace mtpc::eval {

class GeneratedSamplesLog {
 public:
  // Reads the file if it exists and opens it for appending, creating it. A
  // last line without its newline is cut off, with a line in `messages`;
  // any other malformed line fails, naming it.
  static Result<std::unique_ptr<GeneratedSamplesLog>> open(const std::string& path,
                                                           std::vector<std::string>* messages);
  ~GeneratedSamplesLog();
  GeneratedSamplesLog(const GeneratedSamplesLog&) = delete;
  GeneratedSamplesLog& operator=(const GeneratedSamplesLog&) = delete;

  // (task_id, sample) -> record. A completion is final: a later error record
  // for the same pair does not replace it; a later completion replaces an
  // error.
  const std::map<std::pair<std::string, int>, GeneratedSample>& records() const { return records_; }

  // Writes the record as one line and fdatasyncs it.
  Status append(const GeneratedSample& sample);

  const std::string& path() const { return path_; }

 private:
  GeneratedSamplesLog() = default;
  void remember(GeneratedSample sample);
  std::string path_;
  int fd_ = -1;
  std::map<std::pair<std::string, int>, GeneratedSample> records_;
};

nlohmann::json to_json(const GeneratedSample& s);
// Fails with what is wrong when `j` is not a samples record.
Result<GeneratedSample> generated_sample_from_json(const nlohmann::json& j);

}  // namespace mtpc::eval
