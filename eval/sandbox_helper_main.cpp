// mtpc-sandbox: the supervisor of one sample as its own small executable.
//
// SandboxRunner starts it with posix_spawn (vfork + exec) instead of forking
// the harness: forking a process that has LibTorch loaded copies a large
// address space three times per sample and made scoring about twice as slow.
// The child code is the same (eval/sandbox_child.cpp); only the way the plan
// arrives differs. Not meant to be run by hand.
//
//   mtpc-sandbox MODE SWITCH_UID UID DIR CPU_S AS_BYTES FSIZE_BYTES NPROC NOFILE HIDE PYTHON [ARGS...]
//
// MODE is namespaces | user-namespaces | process-group; HIDE is a
// ':'-separated list of directories to cover (ChildPlan::hidden_dirs), or "". Descriptors 1-5 are
// the pipes described in sandbox_child.h; the environment is the sample's.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "eval/sandbox_child.h"

extern char** environ;

namespace {

bool parse_u64(const char* s, unsigned long long& out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(s, &end, 10);
  return errno == 0 && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mtpc::eval::detail;
  constexpr int kFixedArgs = 11;  // PYTHON is argv[11]
  ChildPlan plan;
  unsigned long long v[7] = {};  // SWITCH_UID UID CPU_S AS FSIZE NPROC NOFILE
  bool ok = argc >= kFixedArgs + 1;
  for (int i = 0; ok && i < 7; ++i) {
    int arg = i < 2 ? i + 2 : i + 3;  // skip MODE (1) and DIR (4)
    ok = parse_u64(argv[arg], v[i]);
  }
  if (ok) {
    if (std::strcmp(argv[1], "namespaces") == 0) plan.mode = ChildMode::kNamespaces;
    else if (std::strcmp(argv[1], "user-namespaces") == 0) plan.mode = ChildMode::kUserNamespaces;
    else if (std::strcmp(argv[1], "process-group") == 0) plan.mode = ChildMode::kProcessGroup;
    else ok = false;
  }
  if (!ok) {
    StatusMessage m{kSetupFailed, kStageArguments, EINVAL};
    (void)!::write(5, &m, sizeof m);
    return 126;
  }
  plan.switch_uid = v[0] != 0;
  plan.uid = static_cast<uid_t>(v[1]);
  plan.gid = static_cast<gid_t>(v[1]);
  plan.dir = argv[4];
  plan.cpu_seconds = v[2];
  plan.address_space_bytes = v[3];
  plan.file_size_bytes = v[4];
  plan.processes = v[5];
  plan.open_files = v[6];
  // Split HIDE in place: no allocation needed.
  const char* hidden[kMaxHiddenDirs + 1] = {};
  int n_hidden = 0;
  for (char* p = argv[10]; *p && n_hidden < kMaxHiddenDirs;) {
    hidden[n_hidden++] = p;
    char* colon = std::strchr(p, ':');
    if (!colon) break;
    *colon = '\0';
    p = colon + 1;
  }
  plan.hidden_dirs = hidden;
  plan.python = argv[kFixedArgs];
  plan.argv = argv + kFixedArgs;
  plan.envp = environ;
  plan.fd_stdout = 1;
  plan.fd_stderr = 2;
  plan.fd_nonce = 3;
  plan.fd_report = 4;
  plan.fd_status = 5;
  run_supervisor(plan);
}
