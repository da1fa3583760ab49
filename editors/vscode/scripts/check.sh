#!/usr/bin/env bash
# The extension's checks, as ctest runs them (tests/editors/CMakeLists.txt):
#   check.sh package   npm ci, eslint, tsc --noEmit, unit tests, mtpc.vsix
#   check.sh server    the client modules against the real `mtpc serve`
#                      (MTPC_BINARY, MTPC_TEST_MODEL); exit 77 = skipped
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
    # CLI11 answers --help after an unknown subcommand with the main help
    # and status 0: look for serve's own option.
    if ! "$bin" serve --help 2>/dev/null | grep -q -- --listen; then
      echo "SKIP: '$bin serve' does not exist in this build (the language server has not landed)"
      exit 77
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
