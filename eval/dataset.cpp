#include "eval/dataset.h"


#include <cerrno>
#include <cstring>

#include "base/gzip_file.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

bool blank(std::string_view line) { return line.find_first_not_of(" \t\r\n") == std::string_view::npos; }

Status field_error(const std::string& where, const char* field, const char* want) {
  return Status::Error(where + ": field \"" + field + "\" is missing or not " + want);
}

Status get_string(const json& obj, const char* field, const std::string& where, std::string& out) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) return field_error(where, field, "a string");
  out = it->get<std::string>();
  return Status::Ok();
}

Status get_strings(const json& obj, const char* field, const std::string& where, std::vector<std::string>& out) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_array()) return field_error(where, field, "a list of strings");
  out.clear();
  for (const json& v : *it) {
    if (!v.is_string()) return field_error(where, field, "a list of strings");
    out.push_back(v.get<std::string>());
  }
  return Status::Ok();
}

Status parse_humaneval(const json& obj, const std::string& where, Task& t) {
  for (auto [field, dest] : {std::pair{"task_id", &t.id}, {"prompt", &t.prompt}, {"entry_point", &t.entry_point},
                             {"canonical_solution", &t.canonical_solution}, {"test", &t.test}}) {
    if (Status s = get_string(obj, field, where, *dest); !s.ok()) return s;
  }
  size_t slash = t.id.rfind('/');
  std::string digits = slash == std::string::npos ? "" : t.id.substr(slash + 1);
  if (t.id.rfind("HumanEval/", 0) != 0 || digits.empty() || digits.size() > 6 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return Status::Error(where + ": task_id \"" + t.id + "\" is not of the form HumanEval/<number>");
  t.number = std::stoi(digits);
  if (t.entry_point.empty()) return Status::Error(where + ": entry_point is empty");
  return Status::Ok();
}

// "<Kind>Infilling[Light]/HumanEval/<number>/<hole>": the problem number
// is the HumanEval task's.
Status parse_humaneval_infill(const json& obj, const std::string& where, Task& t) {
  for (auto [field, dest] : {std::pair{"task_id", &t.id}, {"entry_point", &t.entry_point}, {"prompt", &t.prompt},
                             {"suffix", &t.suffix}, {"canonical_solution", &t.canonical_solution},
                             {"test", &t.test}}) {
    if (Status s = get_string(obj, field, where, *dest); !s.ok()) return s;
  }
  const size_t he = t.id.find("/HumanEval/");
  const size_t digits_begin = he == std::string::npos ? 0 : he + std::strlen("/HumanEval/");
  const size_t digits_end = he == std::string::npos ? std::string::npos : t.id.find('/', digits_begin);
  const std::string digits =
      digits_end == std::string::npos ? "" : t.id.substr(digits_begin, digits_end - digits_begin);
  const std::string kind = he == std::string::npos ? "" : t.id.substr(0, he);
  if (kind.find("Infilling") == std::string::npos || digits.empty() || digits.size() > 6 ||
      digits.find_first_not_of("0123456789") != std::string::npos || digits_end + 1 >= t.id.size())
    return Status::Error(where + ": task_id \"" + t.id +
                         "\" is not of the form <Kind>Infilling/HumanEval/<number>/<hole>");
  t.number = std::stoi(digits);
  if (t.entry_point.empty()) return Status::Error(where + ": entry_point is empty");
  return Status::Ok();
}

Status parse_mbpp(const json& obj, const std::string& where, Task& t) {
  auto id = obj.find("task_id");
  if (id == obj.end() || !id->is_number_integer() || id->get<int64_t>() < 1 || id->get<int64_t>() > 1000000)
    return field_error(where, "task_id", "a positive integer");
  t.number = static_cast<int>(id->get<int64_t>());
  t.id = "Mbpp/" + std::to_string(t.number);
  for (auto [field, dest] : {std::pair{"text", &t.text}, {"code", &t.code}, {"test_setup_code", &t.test_setup_code}}) {
    if (Status s = get_string(obj, field, where, *dest); !s.ok()) return s;
  }
  if (Status s = get_strings(obj, "test_list", where, t.test_list); !s.ok()) return s;
  if (Status s = get_strings(obj, "challenge_test_list", where, t.challenge_test_list); !s.ok()) return s;
  if (t.test_list.empty()) return Status::Error(where + ": test_list is empty");
  return Status::Ok();
}

}  // namespace

const char* benchmark_name(Benchmark b) {
  switch (b) {
    case Benchmark::kHumanEval: return "humaneval";
    case Benchmark::kMbpp: return "mbpp";
    case Benchmark::kHumanEvalInfill: return "humaneval-infill";
  }
  return "unknown";
}

Result<Benchmark> parse_benchmark(std::string_view name) {
  if (name == "humaneval") return Benchmark::kHumanEval;
  if (name == "mbpp") return Benchmark::kMbpp;
  if (name == "humaneval-infill") return Benchmark::kHumanEvalInfill;
  return Status::Error("unknown benchmark \"" + std::string(name) + "\" (humaneval, mbpp or humaneval-infill)");
}

const Task* Dataset::find(const std::string& canonical_id) const {
  auto it = by_id_.find(canonical_id);
  return it == by_id_.end() ? nullptr : &tasks_[it->second];
}

const Task* Dataset::find_number(int number) const {
  if (benchmark_ == Benchmark::kHumanEvalInfill) return nullptr;  // several holes per number
  return find(benchmark_ == Benchmark::kMbpp ? "Mbpp/" + std::to_string(number)
                                             : "HumanEval/" + std::to_string(number));
}

Result<Dataset> load_dataset(Benchmark benchmark, const std::string& path) {
  Result<std::string> bytes = read_file_maybe_gz(path);
  if (!bytes.ok()) return bytes.status();
  Dataset d;
  d.benchmark_ = benchmark;
  d.path_ = path;
  const std::string& text = bytes.value();
  size_t line_no = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (blank(line)) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return Status::Error(where + ": not valid JSON");
    if (!obj.is_object()) return Status::Error(where + ": not a JSON object");
    Task t;
    Status s = benchmark == Benchmark::kHumanEval       ? parse_humaneval(obj, where, t)
               : benchmark == Benchmark::kHumanEvalInfill ? parse_humaneval_infill(obj, where, t)
                                                          : parse_mbpp(obj, where, t);
    if (!s.ok()) return s;
    if (!d.by_id_.emplace(t.id, d.tasks_.size()).second)
      return Status::Error(where + ": duplicate task_id " + t.id);
    d.tasks_.push_back(std::move(t));
  }
  if (d.tasks_.empty()) return Status::Error(path + ": no tasks");
  return d;
}

Result<std::vector<const Task*>> select_split(const Dataset& dataset, std::string_view split) {
  int lo = 0, hi = 0;
  if (split == "all") {
    lo = 0;
    hi = 1 << 30;
  } else if (dataset.benchmark() != Benchmark::kMbpp) {
    if (split != "test") return Status::Error("HumanEval has only the \"test\" split (or \"all\")");
    lo = 0;
    hi = 1 << 30;
  } else if (split == "prompt") {
    lo = 1, hi = 10;
  } else if (split == "test") {
    lo = 11, hi = 510;
  } else if (split == "validation") {
    lo = 511, hi = 600;
  } else if (split == "train") {
    lo = 601, hi = 974;
  } else {
    return Status::Error("unknown MBPP split \"" + std::string(split) +
                         "\" (prompt, test, validation, train or all)");
  }
  std::vector<const Task*> out;
  for (const Task& t : dataset.tasks())
    if (t.number >= lo && t.number <= hi) out.push_back(&t);
  if (out.empty()) return Status::Error(dataset.path() + ": no tasks in split \"" + std::string(split) + "\"");
  return out;
}

std::string canonical_task_id(Benchmark benchmark, const json& id) {
  if (benchmark != Benchmark::kMbpp) {
    if (!id.is_string()) return "";
    return id.get<std::string>();
  }
  if (id.is_number_integer()) return "Mbpp/" + std::to_string(id.get<int64_t>());
  if (!id.is_string()) return "";
  std::string s = id.get<std::string>();
  for (const char* prefix : {"Mbpp/", "MBPP/", "mbpp/"}) {
    if (s.rfind(prefix, 0) == 0) {
      s = s.substr(std::strlen(prefix));
      break;
    }
  }
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return "";
  return "Mbpp/" + std::to_string(std::stol(s));
}

}  // namespace mtpc::eval
