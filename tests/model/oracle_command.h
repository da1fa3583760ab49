// The npm tokenizer oracle's command line (tests/model/bpe_oracle/oracle.js),
// shared by the BPE and SentencePiece tests.
#pragma once

#include <string>

namespace mtpc::testing {

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `node oracle.js` with the build's node_modules on NODE_PATH.
inline std::string oracle_command() {
  return std::string("NODE_PATH=") + shell_quote(MTPC_BPE_ORACLE_NODE_MODULES) + " node " +
         shell_quote(MTPC_BPE_ORACLE_SCRIPT);
}

}  // namespace mtpc::testing
