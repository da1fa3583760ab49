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

# HTTPS to the replicas (--https --ca-file [--server-name]) and TLS on
# HAProxy's HTTP frontend (--frontend-crt), with a CA and a certificate made
# here: HAProxy and Prometheus accept what the generators write.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=mtpc-test-ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=mtpc-replica \
  -keyout "$tmp/key.pem" -out "$tmp/req.csr" 2> /dev/null
printf 'subjectAltName=DNS:mtpc-replica\n' > "$tmp/ext.cnf"
openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 1 \
  -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2> /dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/frontend.pem"
replicas2="127.0.0.1:7071:8081 127.0.0.1:7072:8082"
bash "$deploy/haproxy-config" --https --ca-file "$tmp/ca.pem" --server-name mtpc-replica \
  --frontend-crt "$tmp/frontend.pem" $replicas2 > "$tmp/https.cfg"
check haproxy -c -q -f "$tmp/https.cfg"
verify="verify required ca-file $tmp/ca.pem verifyhost mtpc-replica"
check grep -q "server replica2 127.0.0.1:7072 check port 8082 check-ssl $verify inter" "$tmp/https.cfg"
check grep -q "server replica2 127.0.0.1:8082 ssl check-ssl $verify check" "$tmp/https.cfg"
check grep -q "bind 0.0.0.0:8080 ssl crt $tmp/frontend.pem\$" "$tmp/https.cfg"
check test "$(grep -c ' ssl crt ' "$tmp/https.cfg")" = 1   # only the HTTP frontend; LSP passes TLS through
bash "$deploy/haproxy-config" --https --ca-file "$tmp/ca.pem" $replicas2 > "$tmp/https-chain.cfg"
check haproxy -c -q -f "$tmp/https-chain.cfg"
check grep -q "server replica1 127.0.0.1:8081 ssl check-ssl verify required ca-file $tmp/ca.pem check" "$tmp/https-chain.cfg"
check test "$(grep -c 'ssl crt\|verifyhost' "$tmp/https-chain.cfg")" = 0
# The frontend key may also sit beside the certificate as FILE.key (HAProxy loads it).
cp "$tmp/cert.pem" "$tmp/split.pem" && cp "$tmp/key.pem" "$tmp/split.pem.key"
bash "$deploy/haproxy-config" --frontend-crt "$tmp/split.pem" $replicas2 > "$tmp/frontend-only.cfg"
check haproxy -c -q -f "$tmp/frontend-only.cfg"
check test "$(grep -c 'check-ssl\|verify' "$tmp/frontend-only.cfg")" = 0
bash "$deploy/prometheus-config" --https --ca-file "$tmp/ca.pem" --server-name mtpc-replica \
  --haproxy 127.0.0.1:8404 127.0.0.1:8081 127.0.0.1:8082 > "$tmp/https.yml"
check promtool check config "$tmp/https.yml"
check grep -q "^    scheme: https$" "$tmp/https.yml"
check grep -q "^      ca_file: '$tmp/ca.pem'$" "$tmp/https.yml"
check grep -q "^      server_name: 'mtpc-replica'$" "$tmp/https.yml"
check test "$(grep -c 'scheme: https' "$tmp/https.yml")" = 1   # HAProxy's exporter stays plain

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
# MTPC_HTTP_PLAIN: unbraced in ExecStart (systemd splits it: empty is no
# argument), defaulted by the unit, and both its values there are serve flags.
check grep -q -- ' \$MTPC_HTTP_PLAIN$' <<< "$exec_line"
for value in $(sed -n 's/^Environment=MTPC_HTTP_PLAIN=//p' "$deploy/mtpc@.service") \
             $(sed -n 's/^MTPC_HTTP_PLAIN=//p' "$deploy/replica.env"); do
  check grep -q -- " $value " "$tmp/serve-help"
done
check test "$(grep -c '^Environment=MTPC_HTTP_PLAIN=--http-plain$' "$deploy/mtpc@.service")" = 1
check test "$(grep -c '^MTPC_HTTP_PLAIN=' "$deploy/replica.env")" = 1

# --help prints the usage, every option of the HTTPS variant included.
for gen in haproxy-config prometheus-config; do
  bash "$deploy/$gen" --help > "$tmp/help" 2>&1 || { echo "FAIL: $gen --help exited non-zero"; fails=$((fails + 1)); }
  for flag in --https --ca-file --server-name; do check grep -q -- "$flag" "$tmp/help"; done
done
check grep -q -- --frontend-crt <(bash "$deploy/haproxy-config" --help)

refused bash "$deploy/haproxy-config"
refused bash "$deploy/haproxy-config" 127.0.0.1:7071
refused bash "$deploy/haproxy-config" "bad host:1:2"
refused bash "$deploy/haproxy-config" --frobnicate 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --maxconn zero 127.0.0.1:1:2
refused bash "$deploy/prometheus-config"
refused bash "$deploy/prometheus-config" 127.0.0.1
refused bash "$deploy/prometheus-config" --haproxy nope 127.0.0.1:8081
refused bash "$deploy/prometheus-config" --interval soon 127.0.0.1:8081
refused bash "$deploy/prometheus-config" 127.0.0.1:8081 --interval
# HTTPS: the CA is required, must exist, be absolute and hold a certificate;
# its flags mean nothing without --https; the frontend PEM needs its key.
echo "not a certificate" > "$tmp/junk.pem"
refused bash "$deploy/haproxy-config" --https 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --https --ca-file "$tmp/missing.pem" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --https --ca-file "$tmp/junk.pem" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --https --ca-file "$tmp" 127.0.0.1:1:2
(cd "$tmp" && refused bash "$deploy/haproxy-config" --https --ca-file ca.pem 127.0.0.1:1:2)
refused bash "$deploy/haproxy-config" --ca-file "$tmp/ca.pem" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --server-name mtpc-replica 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --https --ca-file "$tmp/ca.pem" --server-name "bad name" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --frontend-crt "$tmp/cert.pem" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --frontend-crt "$tmp/missing.pem" 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" --http-port 70000 127.0.0.1:1:2
refused bash "$deploy/haproxy-config" 127.0.0.1:1:2 --https --ca-file
refused bash "$deploy/prometheus-config" --https 127.0.0.1:8081
refused bash "$deploy/prometheus-config" --https --ca-file "$tmp/missing.pem" 127.0.0.1:8081
refused bash "$deploy/prometheus-config" --https --ca-file "$tmp/junk.pem" 127.0.0.1:8081
refused bash "$deploy/prometheus-config" --ca-file "$tmp/ca.pem" 127.0.0.1:8081
refused bash "$deploy/prometheus-config" --https --ca-file "$tmp/ca.pem" --server-name "a'b" 127.0.0.1:8081

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all deploy checks passed"
