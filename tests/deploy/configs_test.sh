#!/usr/bin/env bash
# deploy/: the generators' output is what HAProxy, Prometheus and systemd
# accept, the checked-in examples are the generators' output, and bad
# arguments are refused with a message.
# usage: configs_test.sh REPO_ROOT MTPC_BINARY
set -euo pipefail
root=$1 mtpc=$2
deploy=$root/deploy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { if "$@"; then echo "ok: ${*:1:3}"; else echo "FAIL: $*"; fails=$((fails + 1)); fi; }
refused() {  # the command must exit non-zero and say something on stderr
  if "$@" > /dev/null 2> "$tmp/err"; then echo "FAIL (accepted): $*"; fails=$((fails + 1));
  elif [ ! -s "$tmp/err" ]; then echo "FAIL (no message): $*"; fails=$((fails + 1));
  else echo "ok (refused: $(head -1 "$tmp/err")): $*"; fi
}

# The checked-in examples are exactly the generators' output.
bash "$deploy/haproxy-config" 127.0.0.1:7071:8081 127.0.0.1:7072:8082 > "$tmp/haproxy.cfg"
check cmp "$tmp/haproxy.cfg" "$deploy/haproxy.cfg"
bash "$deploy/prometheus-config" --haproxy 127.0.0.1:8404 127.0.0.1:8081 127.0.0.1:8082 > "$tmp/prometheus.yml"
check cmp "$tmp/prometheus.yml" "$deploy/prometheus.yml"

# HAProxy and Prometheus accept them, for 1 and for 5 replicas too.
check haproxy -c -q -f "$deploy/haproxy.cfg"
bash "$deploy/haproxy-config" --bind 127.0.0.1 192.0.2.10:1:2 > "$tmp/one.cfg"
check haproxy -c -q -f "$tmp/one.cfg"
bash "$deploy/haproxy-config" 192.0.2.1:7071:8081 192.0.2.2:7071:8081 192.0.2.3:7071:8081 192.0.2.4:7071:8081 192.0.2.5:7071:8081 > "$tmp/five.cfg"
check grep -q "server replica5 192.0.2.5:7071 check port 8081" "$tmp/five.cfg"
check grep -q "balance leastconn" "$tmp/five.cfg"
check haproxy -c -q -f "$tmp/five.cfg"
check promtool check config "$deploy/prometheus.yml"

# The systemd unit: systemd-analyze accepts it once the binary is where it says.
sed "s#/usr/local/bin/mtpc#$mtpc#" "$deploy/mtpc@.service" > "$tmp/mtpc@a.service"
out=$(systemd-analyze verify "$tmp/mtpc@a.service" 2>&1 || true)
check test -z "$out"
[ -n "$out" ] && echo "$out"
# Every flag the unit's ExecStart passes is one mtpc knows: those before
# `serve` are global (`mtpc --help`), the rest `mtpc serve --help`'s.
exec_line=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$deploy/mtpc@.service" | tr -d '\\\n')
check test -n "$exec_line"
global_part=${exec_line%% serve *} serve_part=${exec_line#* serve }
check test "$global_part" != "$exec_line"
"$mtpc" --help > "$tmp/global-help" 2>&1 || true
"$mtpc" serve --help > "$tmp/serve-help" 2>&1 || true
for flag in $(grep -o -- ' --[a-z][a-z-]*' <<< "$global_part" | sort -u); do
  check grep -q -- "$flag" "$tmp/global-help"
done
for flag in $(grep -o -- ' --[a-z][a-z-]*' <<< "$serve_part" | sort -u); do
  check grep -q -- "$flag" "$tmp/serve-help"
done

refused bash "$deploy/haproxy-config"
refused bash "$deploy/haproxy-config" 127.0.0.1:7071
refused bash "$deploy/haproxy-config" "bad host:1:2"
refused bash "$deploy/haproxy-config" --frobnicate 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --maxconn zero 127.0.0.1:1:2
refused bash "$deploy/prometheus-config"
refused bash "$deploy/prometheus-config" 127.0.0.1
refused bash "$deploy/prometheus-config" --haproxy nope 127.0.0.1:8081

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all deploy checks passed"
