// Which sandbox isolation modes the sandbox tests of this run actually ran,
// and which they skipped and why. A test that skips a mode passes, so
// without this a machine that cannot give namespaces would look as well
// tested as one that can. Printed once when the test binary ends:
//   [sandbox] isolation modes run: namespaces (12 tests), process-group (15 tests)
//   [sandbox] skipped: user-namespaces in Modes/Adversarial.InfiniteLoopTimesOut/user_namespaces (refused: ...)
// and recorded per test as the XML property "isolation".
#pragma once

#include <string>

#include "eval/sandbox.h"

namespace mtpc::testing {

// The current test ran samples under `report`.
void note_isolation_ran(const eval::IsolationReport& report);

// The current test skipped `what` (a mode, or a property such as "unique
// uid") because of `why`.
void note_isolation_skipped(const std::string& what, const std::string& why);

}  // namespace mtpc::testing
