// Adversarial samples. Each must be scored failed unless its tests genuinely
// pass, the harness must finish, no file outside the sample's directory may
// change, and no process may survive the run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>

#include "eval/sandbox.h"
#include "isolation_ledger.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::processes_with_cmdline;
using mtpc::testing::read_file;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;

constexpr double kTimeout = 2.0;
// Not a speed bound: a run that has not returned this long after its
// kTimeout means the harness is not killing the sample, and the test binary
// fails there instead of hanging until ctest's timeout.
constexpr std::chrono::seconds kHangGuard{120};

// Every test runs under each isolation mode the machine allows: the default
// (namespaces here) and the weaker fallbacks, which must hold the same line
// wherever they can.
class Adversarial : public ::testing::TestWithParam<Isolation> {
 protected:
  void SetUp() override {
    SandboxOptions o;
    o.timeout_s = kTimeout;
    o.max_processes = 32;
    o.isolation = GetParam();
    auto r = SandboxRunner::create(o);
    if (!r.ok() && GetParam() != Isolation::kAuto) {
      mtpc::testing::note_isolation_skipped(isolation_name(GetParam()), r.status().message());
      GTEST_SKIP() << r.status().message();
    }
    ASSERT_TRUE(r.ok()) << r.status().message();
    runner_ = std::move(r.value());
    mtpc::testing::note_isolation_ran(runner_->isolation());
    std::random_device rd;
    // A sleep duration no other process on the machine will have: the marker
    // by which the test finds processes a sample left behind.
    marker_ = "7" + std::to_string(rd() % 1000000) + "." + std::to_string(rd() % 1000);
  }

  // Runs and checks the invariants every adversarial sample must respect.
  ExecutionResult run(const std::string& program) {
    auto pending = std::async(std::launch::async, [&] { return runner_->run(program); });
    if (pending.wait_for(kHangGuard) != std::future_status::ready) {
      // The run cannot be abandoned (it uses this fixture): stop the binary.
      const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
      std::fprintf(stderr, "FAILED %s.%s: the sandbox had not returned %lld s after a %.0f s timeout: "
                   "it is not killing the sample\n", t->test_suite_name(), t->name(),
                   static_cast<long long>(kHangGuard.count()), kTimeout);
      std::abort();
    }
    ExecutionResult r = pending.get();
    EXPECT_TRUE(processes_with_cmdline(marker_).empty()) << "a process of the sample survived";
    EXPECT_TRUE(mtpc::testing::processes_under(runner_->work_root()).empty()) << "a sample process survived";
    return r;
  }

  // Notes `why` in the isolation ledger as a skip of this runner's mode;
  // returns it for GTEST_SKIP.
  std::string skipped(const std::string& why) const {
    mtpc::testing::note_isolation_skipped(isolation_name(runner_->isolation().mode), why);
    return why;
  }

  std::unique_ptr<SandboxRunner> runner_;
  std::string marker_;
};

TEST_P(Adversarial, InfiniteLoopTimesOut) {
  ExecutionResult r = run("while True:\n    pass\n");
  EXPECT_EQ(r.summary(), "timed out");
}

TEST_P(Adversarial, SleepingPastTheTimeoutTimesOut) {
  // An hour: a harness that waited for it would trip the hang guard.
  ExecutionResult r = run("import time\ntime.sleep(3600)\nassert True\n");
  EXPECT_EQ(r.summary(), "timed out");
}

TEST_P(Adversarial, ForkBombIsContainedAndKilled) {
  // Children become `sleep MARKER` so the test can find survivors; the
  // parent keeps forking until the process limit stops it.
  ExecutionResult r = run(
      "import os\n"
      "while True:\n"
      "    try:\n"
      "        if os.fork() == 0:\n"
      "            os.execv('/bin/sleep', ['sleep', '" + marker_ + "'])\n"
      "    except OSError:\n"
      "        pass\n");
  EXPECT_EQ(r.summary(), "timed out");
}

TEST_P(Adversarial, PurePythonForkBombIsContainedAndKilled) {
  ExecutionResult r = run(
      "import os\n"
      "while True:\n"
      "    try:\n"
      "        os.fork()\n"
      "    except OSError:\n"
      "        pass\n");
  EXPECT_NE(r.outcome, Outcome::kPassed);
  EXPECT_NE(r.outcome, Outcome::kError) << r.summary();
}

TEST_P(Adversarial, MemoryBombFails) {
  // A lower cap than the default 1 GiB: page faults are slow on small VMs,
  // and the bomb must reach the cap before the timeout.
  SandboxOptions o = runner_->options();
  o.max_memory_bytes = int64_t{256} << 20;
  auto r = SandboxRunner::create(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  runner_ = std::move(r.value());
  ExecutionResult big = run("x = bytearray(64 * 1024 ** 3)\nassert True\n");
  EXPECT_EQ(big.summary(), "failed: MemoryError");
  ExecutionResult growing = run("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))\n");
  EXPECT_EQ(growing.summary(), "failed: MemoryError");
}

// Files the test owns outside the sample directory. `open_to_all` makes them
// world-writable, so only the read-only mount (not permissions) protects them.
struct OutsideFiles {
  explicit OutsideFiles(bool open_to_all) {
    ::chmod(dir.path().c_str(), open_to_all ? 0777 : 0755);
    write_file(dir / "keep.txt", "original");
    ::chmod((dir / "keep.txt").c_str(), open_to_all ? 0666 : 0644);
  }
  void expect_unchanged() const {
    EXPECT_EQ(read_file(dir / "keep.txt"), "original");
    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      (void)e;
      ++entries;
    }
    EXPECT_EQ(entries, 1) << "the sample created a file outside its directory";
  }
  // `world_writable_target`: also try a world-writable place every process
  // can write to unless the mount namespace is read-only.
  std::string attack(const std::string& world_writable_target = "") const {
    std::string keep = dir / "keep.txt";
    return "import os, shutil\n"
           "def attempt(f):\n"
           "    try:\n"
           "        f()\n"
           "    except OSError:\n"
           "        pass\n"
           "attempt(lambda: open('" + keep + "', 'w').write('changed'))\n"
           "attempt(lambda: os.remove('" + keep + "'))\n"
           "attempt(lambda: os.rename('" + keep + "', '" + dir.path() + "/moved'))\n"
           "attempt(lambda: open('" + dir.path() + "/new.txt', 'w').write('x'))\n"
           "attempt(lambda: os.symlink('/etc/passwd', '" + dir.path() + "/link'))\n"
           "attempt(lambda: os.chmod('" + keep + "', 0))\n"
           "attempt(lambda: shutil.rmtree('" + dir.path() + "'))\n" +
           (world_writable_target.empty() ? ""
                                          : "attempt(lambda: open('" + world_writable_target +
                                                "', 'w').write('x'))\n") +
           "assert False\n";
  }
  TempDir dir;
};

TEST_P(Adversarial, CannotChangeFilesOutsideItsDirectory) {
  OutsideFiles files(/*open_to_all=*/false);
  ExecutionResult r = run(files.attack());
  EXPECT_EQ(r.summary(), "failed: AssertionError");
  files.expect_unchanged();
}

TEST_P(Adversarial, CannotChangeWorldWritableFilesOutsideItsDirectory) {
  if (!runner_->isolation().filesystem_read_only)
    GTEST_SKIP() << skipped("no read-only mount namespace here: " + runner_->isolation().describe());
  OutsideFiles files(/*open_to_all=*/true);
  const std::string in_tmp = "/tmp/mtpc-escape-" + marker_;
  ExecutionResult r = run(files.attack(in_tmp));
  EXPECT_EQ(r.summary(), "failed: AssertionError");
  files.expect_unchanged();
  EXPECT_FALSE(std::filesystem::exists(in_tmp));
  std::filesystem::remove(in_tmp);
}

TEST_P(Adversarial, KillingTheParentDoesNotStopTheHarness) {
  ExecutionResult direct = run("import os\nos.kill(os.getppid(), 9)\nimport time\ntime.sleep(0.2)\nassert False\n");
  EXPECT_NE(direct.outcome, Outcome::kPassed) << direct.summary();
  EXPECT_NE(direct.outcome, Outcome::kError) << direct.summary();

  ExecutionResult group = run("import os\nos.killpg(os.getpgid(os.getppid()) or 0, 9)\nassert False\n");
  EXPECT_NE(group.outcome, Outcome::kPassed) << group.summary();
  EXPECT_NE(group.outcome, Outcome::kError) << group.summary();

  ExecutionResult own_group = run("import os\nos.killpg(0, 9)\n");
  EXPECT_EQ(own_group.summary(), "failed: killed by signal SIGKILL");

  ExecutionResult everyone = run("import os\ntry:\n    os.kill(-1, 9)\nexcept OSError:\n    pass\nassert False\n");
  EXPECT_NE(everyone.outcome, Outcome::kPassed) << everyone.summary();

  // The harness process is alive (this test runs in it) and still works.
  EXPECT_TRUE(runner_->run("assert True\n").passed());
}

TEST_P(Adversarial, CannotOpenANetworkConnection) {
  if (!runner_->isolation().network_isolated)
    GTEST_SKIP() << skipped("not network-isolated here: " + runner_->isolation().describe());
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);

  ExecutionResult r = run("import socket\ns = socket.create_connection(('127.0.0.1', " +
                          std::to_string(port) + "), timeout=1)\ns.sendall(b'hello')\n");
  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.summary();
  EXPECT_NE(r.detail.find("unreachable"), std::string::npos) << r.detail;
  int accepted = ::accept(listener, nullptr, nullptr);
  EXPECT_LT(accepted, 0) << "the sample reached the host's loopback";
  if (accepted >= 0) ::close(accepted);
  ::close(listener);

  ExecutionResult outside = run("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n");
  EXPECT_EQ(outside.outcome, Outcome::kFailed) << outside.summary();
}

TEST_P(Adversarial, CannotReachTheHostsUnixSockets) {
  if (!runner_->isolation().network_isolated)
    GTEST_SKIP() << skipped("not network-isolated here: " + runner_->isolation().describe());
  // A socket anyone may connect to, where daemons keep theirs.
  const std::string path = "/run/mtpc-test-" + marker_ + ".sock";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(listener);
    GTEST_SKIP() << skipped("cannot create " + path);
  }
  ::chmod(path.c_str(), 0777);
  ASSERT_EQ(::listen(listener, 8), 0);
  ExecutionResult r = run("import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('" + path + "')\n");
  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.summary();
  int accepted = ::accept(listener, nullptr, nullptr);
  EXPECT_LT(accepted, 0) << "the sample reached a host unix socket";
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
  ::unlink(path.c_str());
}

TEST_P(Adversarial, ExitingWithStatusZeroBeforeTheAssertsFails) {
  for (const char* exit_call : {"import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "quit()\n",
                                "raise SystemExit\n"}) {
    ExecutionResult r = run(std::string(exit_call) + "assert False\n");
    EXPECT_EQ(r.summary(), "failed: exited with status 0 before the tests completed") << exit_call;
    EXPECT_EQ(r.exit_code, 0);
  }
}

TEST_P(Adversarial, OverridingBuiltinsCannotFakeAPass) {
  // A failed assert whose exit status is forced to 0 afterwards, with the
  // usual output and marker functions replaced.
  ExecutionResult r = run(
      "import atexit, builtins, os, sys\n"
      "atexit.register(lambda: os._exit(0))\n"
      "sys.excepthook = lambda *a: None\n"
      "builtins.AssertionError = type('Quiet', (Exception,), {})\n"
      "os.write = lambda fd, data: len(data)\n"
      "builtins.print = lambda *a, **k: None\n"
      "builtins.exec = lambda *a, **k: None\n"
      "sys.stdout.write('PASSED\\n')\n"
      "assert False\n");
  EXPECT_EQ(r.summary(), "failed: exited with status 0 before the tests completed");

  // The nonce is neither in the program nor still readable from fd 3.
  ExecutionResult peek = run(
      "import os\n"
      "src = open('program.py').read()\n"
      "try:\n"
      "    os.read(3, 64)\n"
      "except OSError:\n"
      "    pass\n"
      "else:\n"
      "    raise SystemExit('fd 3 was readable')\n"
      "os.write(4, b'0' * 32)\n"
      "os._exit(0)\n");
  EXPECT_EQ(peek.summary(), "failed: exited with status 0 before the tests completed");

  // Overriding builtins is fine when the tests genuinely pass.
  ExecutionResult honest = run("import builtins\nbuiltins.print = lambda *a, **k: None\nassert sum([1, 2]) == 3\n");
  EXPECT_TRUE(honest.passed()) << honest.summary();
}

TEST_P(Adversarial, ClosingStdoutNeitherFakesNorSpoilsAPass) {
  ExecutionResult genuine = run("import os, sys\nos.close(1)\nos.close(2)\nassert 2 * 2 == 4\n");
  EXPECT_TRUE(genuine.passed()) << genuine.summary();
  ExecutionResult failing = run("import os\nos.close(1)\nos.close(2)\nassert 2 * 2 == 5\n");
  EXPECT_EQ(failing.outcome, Outcome::kFailed) << failing.summary();
}

TEST_P(Adversarial, DaemonDoesNotOutliveTheSample) {
  if (!runner_->isolation().pid_namespace && !runner_->isolation().unique_uid)
    GTEST_SKIP() << skipped("a setsid() daemon escapes a process group; needs a pid namespace or root");
  // Double fork + setsid: the grandchild leaves the session and the process
  // group, and is re-parented away from the sample.
  std::string daemon =
      "import os\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        os.execv('/bin/sleep', ['sleep', '" + marker_ + "'])\n"
      "    os._exit(0)\n"
      "import time\n"
      "time.sleep(0.3)\n";
  ExecutionResult passing = run(daemon + "assert True\n");
  EXPECT_TRUE(passing.passed()) << passing.summary();  // its tests pass; the daemon still dies
  ExecutionResult failing = run(daemon + "assert False\n");
  EXPECT_EQ(failing.summary(), "failed: AssertionError");
}

std::string mode_name(const ::testing::TestParamInfo<Isolation>& info) {
  std::string s = isolation_name(info.param);
  for (char& c : s) c = c == '-' ? '_' : c;
  return s;
}

INSTANTIATE_TEST_SUITE_P(Modes, Adversarial,
                         ::testing::Values(Isolation::kAuto, Isolation::kUserNamespaces,
                                           Isolation::kProcessGroup),
                         mode_name);

}  // namespace
}  // namespace mtpc::eval
