#include "eval/jsonl_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mtpc::eval {

Status read_jsonl_log(const std::string& path,
                      const std::function<Status(size_t line_no, std::string_view line)>& on_line,
                      size_t* torn_line) {
  *torn_line = 0;
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::Error(path + ": cannot open: " + std::strerror(errno));
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::Error(path + ": read error: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  size_t complete = text.rfind('\n');
  complete = complete == std::string::npos ? 0 : complete + 1;
  if (complete < text.size()) {
    if (::truncate(path.c_str(), static_cast<off_t>(complete)) != 0)
      return Status::Error(path + ": cannot cut off a torn last line: " + std::strerror(errno));
    *torn_line = static_cast<size_t>(std::count(text.begin(), text.begin() + complete, '\n')) + 1;
    text.resize(complete);
  }
  size_t line_no = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (Status s = on_line(line_no, line); !s.ok()) return s;
  }
  return Status::Ok();
}

Status append_jsonl_line(int fd, const std::string& path, const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Error(path + ": write failed: " + std::strerror(n < 0 ? errno : EIO));
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace mtpc::eval
