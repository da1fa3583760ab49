#!/usr/bin/env bash
# The extension's checks, as ctest runs them (tests/editors/CMakeLists.txt):
#   check.sh package   npm ci, eslint, tsc --noEmit, unit tests, mtpc.vsix
#   check.sh server    the client modules against the real `mtpc serve`
#                      (MTPC_BINARY, MTPC_TEST_MODEL)
# npm ci needs the npm registry once; later runs use the cache in ~/.npm.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  package)
    npm ci --no-audit --no-fund --prefer-offline
    npm run lint
    npm run typecheck
    npm test
    npm run package
    test -s mtpc.vsix
    ;;
  server)
    bin=${MTPC_BINARY:-mtpc}
    # Every build of mtpc has `serve`: a failing `serve --help` is a broken
    # build. CLI11 answers --help after an unknown subcommand with the main
    # help and status 0: look for serve's own option.
    if ! help=$("$bin" serve --help 2>&1) || ! grep -q -- --listen <<<"$help"; then
      echo "FAIL: '$bin serve --help' failed or has no --listen option:" >&2
      echo "$help" >&2
      exit 1
    fi
    if [ ! -d node_modules ]; then
      npm ci --no-audit --no-fund --prefer-offline
    fi
    npm run test:server
    ;;
  *)
    echo "usage: $0 package|server" >&2
    exit 2
    ;;
esac
