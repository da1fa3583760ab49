#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mtpc {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Writes all of `bytes`, retrying short writes and EINTR. Returns 0 or errno.
int write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // write(2) never returns 0 for a regular file; don't spin
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Error(dir + ": cannot open directory to fsync: " + errno_text(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);  // read-only descriptor: nothing to lose on close
  if (rc != 0) return Status::Error(dir + ": fsync of directory failed: " + errno_text(err));
  return Status::Ok();
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  return write_file_atomic(path, std::vector<std::string_view>{bytes});
}

Status write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  auto fail = [&](const std::string& step, int err) {
    ::unlink(tmp.c_str());
    return Status::Error(path + ": " + step + " " + tmp + ": " + errno_text(err));
  };

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    // Not created by us (or not at all): do not unlink someone else's file.
    return Status::Error(path + ": cannot create temp file " + tmp + ": " + errno_text(err));
  }
  for (std::string_view piece : pieces) {
    if (int err = write_all(fd, piece)) {
      ::close(fd);
      return fail("write to", err);
    }
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return fail("fsync of", err);
  }
  // close can report deferred write errors (e.g. NFS); it is not retried on EINTR.
  if (::close(fd) != 0) return fail("close of", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename of", errno);
  Status dir = fsync_dir(parent_dir(path));
  if (!dir.ok()) {
    return Status::Error(path + ": written and renamed, but not yet durable: " + dir.message());
  }
  return Status::Ok();
}

}  // namespace mtpc
