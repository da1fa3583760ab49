#!/usr/bin/env python3
"""Scale-out test: two mtpc replicas behind HAProxy, watched by Prometheus.

Starts, on 127.0.0.1 only: two `mtpc serve` replicas (LSP + HTTP), HAProxy
configured by deploy/haproxy-config, Prometheus configured by
deploy/prometheus-config. Then:
  - two LSP clients connect through HAProxy (least connections: one per
    replica) and complete;
  - HTTP completions go through HAProxy; after some are answered, one replica
    is killed (SIGKILL) and the rest keep going; a request that HAProxy
    answers 502/503 (backend down) is sent again by the client, as a real
    client would;
  - every HTTP request ends answered with a completion;
  - the LSP client whose replica died sees its connection close, reconnects
    through HAProxy and completes again;
  - Prometheus scraped both replicas' /metrics (and HAProxy's).
Every wait is bounded; all processes are killed at the end.

With --https the same run goes over TLS end to end, with a CA and a
certificate made by openssl in the temp dir: the replicas serve TLS on the
LSP port and HTTPS on the HTTP port (a plain request to it is refused);
HAProxy is configured by `haproxy-config --https --ca-file --server-name
--frontend-crt` (health checks and HTTP traffic to the replicas over
verified TLS, HTTPS for clients at its HTTP port, the LSP's TLS passed
through), Prometheus by `prometheus-config --https --ca-file --server-name`;
every client verifies the certificate against the CA.

usage: scale_out_test.py [--https] MTPC_BINARY MODEL_DIR REPO_ROOT
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HOST = "127.0.0.1"
HTTP_REQUESTS = 24          # completions sent through HAProxy in all
KILL_AFTER = 8              # answered requests before one replica is killed
REQUEST_TRIES = 20          # sends of one request before giving up
TEST_BUDGET_S = 240         # the whole run, after start-up
CERT_NAME = "mtpc-replica"  # --https: the DNS name in the replicas' certificate

# --https: the context every client here verifies the servers with (set in main).
CLIENT_TLS = None


def fail(msg):
    print("FAIL: " + msg, flush=True)
    raise SystemExit(1)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_until(what, predicate, timeout_s, procs=()):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for name, p in procs:
            if p.poll() is not None:
                fail(f"{name} exited with {p.returncode} while waiting for {what}")
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.2)
    fail(f"timed out after {timeout_s} s waiting for {what}")


def http_get(url, timeout=5):
    context = CLIENT_TLS if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
        return r.status, r.read().decode()


def base_url(port, tls=None):
    """A server we reach with HTTPS under --https (replicas, HAProxy's HTTP
    port); tls=False for the ones that stay plain (HAProxy's stats, Prometheus)."""
    use_tls = CLIENT_TLS is not None if tls is None else tls
    return f"{'https' if use_tls else 'http'}://{HOST}:{port}"


def health_ok(port, tls=None):
    status, _ = http_get(base_url(port, tls) + "/health", timeout=2)
    return status == 200


def make_certificates(work):
    """A CA, and a certificate it signed for CERT_NAME and 127.0.0.1 (the
    replicas' and HAProxy's frontend). Returns (ca, cert, key, cert+key)."""
    d = os.path.join(work, "tls")
    os.mkdir(d)
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    cert, key, csr = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"), os.path.join(d, "req.csr")
    ext = os.path.join(d, "ext.cnf")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{CERT_NAME},IP:{HOST}\n")
    for argv in (["openssl", "req", "-x509", *ec, "-days", "1", "-subj", "/CN=mtpc scale-out test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", ca_key, "-out", ca],
                 ["openssl", "req", *ec, "-subj", f"/CN={CERT_NAME}", "-keyout", key, "-out", csr],
                 ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                  "-days", "1", "-extfile", ext, "-out", cert]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail(f"{' '.join(argv[:3])} failed: {r.stderr[-500:]}")
    bundle = os.path.join(d, "haproxy.pem")
    with open(bundle, "w") as out:
        for part in (cert, key):
            with open(part) as f:
                out.write(f.read())
    return ca, cert, key, bundle


# --- LSP over TCP -----------------------------------------------------------
class LspClient:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=30)
        if CLIENT_TLS is not None:  # passed through HAProxy: the replica's own TLS
            try:
                self.sock = CLIENT_TLS.wrap_socket(self.sock, server_hostname=HOST)
            except OSError:
                self.sock.close()
                raise
        self.buf = b""
        self.next_id = 1

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def read_message(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        length = None
        for line in head.split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        if length is None:
            raise ValueError("no Content-Length")
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            rest += chunk
        self.buf = rest[length:]
        return json.loads(rest[:length])

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            msg = self.read_message()
            if msg.get("id") == rid:
                return msg

    def start(self, uri, text):
        reply = self.request("initialize", {"capabilities": {}})
        if "result" not in reply:
            raise ValueError(f"initialize failed: {reply}")
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        self.send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                   "params": {"textDocument": {"uri": uri, "languageId": "python",
                                               "version": 1, "text": text}}})

    def complete(self, uri, line, character):
        reply = self.request("textDocument/inlineCompletion",
                             {"textDocument": {"uri": uri},
                              "position": {"line": line, "character": character}})
        if "result" not in reply:
            raise ValueError(f"completion failed: {reply}")
        return reply["result"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


DOC_TEXT = "def add(a, b):\n    return "
DOC_POS = (1, 11)


def lsp_session(port, uri):
    c = LspClient(port)
    c.start(uri, DOC_TEXT)
    c.complete(uri, *DOC_POS)
    return c


# --- HTTP -------------------------------------------------------------------
def post_completion(port, prompt):
    body = json.dumps({"prompt": prompt, "max_tokens": 8, "temperature": 0}).encode()
    req = urllib.request.Request(base_url(port) + "/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30, context=CLIENT_TLS) as r:
        return r.status, json.loads(r.read())


def main():
    global CLIENT_TLS
    args = sys.argv[1:]
    https = bool(args) and args[0] == "--https"
    if https:
        args = args[1:]
    if len(args) != 3:
        print(__doc__)
        return 2
    mtpc, model, root = args
    for tool in ("haproxy", "prometheus") + (("openssl",) if https else ()):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed (scripts/setup installs it)")
    work = tempfile.mkdtemp(prefix="mtpc-scale-out-")
    procs = []  # (name, Popen)
    passed = False

    def start(name, argv):
        log = open(os.path.join(work, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        procs.append((name, p))
        return p

    try:
        lsp1, http1, lsp2, http2, fe_lsp, fe_http, fe_stats, prom = free_ports(8)
        tls_serve, haproxy_tls, prom_tls = [], [], []
        if https:
            ca, cert, key, bundle = make_certificates(work)
            CLIENT_TLS = ssl.create_default_context(cafile=ca)
            tls_serve = ["--tls-cert", cert, "--tls-key", key]
            verify = ["--https", "--ca-file", ca, "--server-name", CERT_NAME]
            haproxy_tls = verify + ["--frontend-crt", bundle]
            prom_tls = verify
        replicas = {}
        for name, lsp, http in (("replica1", lsp1, http1), ("replica2", lsp2, http2)):
            replicas[name] = start(name, [mtpc, "--threads", "1", "serve", "--model", model,
                                          "--listen", f"{HOST}:{lsp}", "--http", f"{HOST}:{http}", *tls_serve])
        wait_until("both replicas' /health", lambda: health_ok(http1) and health_ok(http2), 120, procs)
        if https:
            # The replicas take HTTPS only: HAProxy and Prometheus below must speak TLS to them.
            try:
                http_get(f"http://{HOST}:{http1}/health")
                fail("replica1 answered plain HTTP although it serves HTTPS")
            except urllib.error.HTTPError as e:
                if e.code != 400:
                    fail(f"plain HTTP to an HTTPS replica: {e.code}, want 400")
            print("https: replicas serve HTTPS only (plain HTTP: 400)", flush=True)

        cfg = subprocess.run(["bash", os.path.join(root, "deploy/haproxy-config"), "--bind", HOST, "--maxconn", "256",
                              "--lsp-port", str(fe_lsp), "--http-port", str(fe_http),
                              "--stats-port", str(fe_stats), *haproxy_tls,
                              f"{HOST}:{lsp1}:{http1}", f"{HOST}:{lsp2}:{http2}"],
                             check=True, capture_output=True, text=True).stdout
        cfg_path = os.path.join(work, "haproxy.cfg")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        start("haproxy", ["haproxy", "-db", "-f", cfg_path])

        prom_cfg = subprocess.run(["bash", os.path.join(root, "deploy/prometheus-config"),
                                   "--interval", "1s", "--haproxy", f"{HOST}:{fe_stats}", *prom_tls,
                                   f"{HOST}:{http1}", f"{HOST}:{http2}"],
                                  check=True, capture_output=True, text=True).stdout
        prom_path = os.path.join(work, "prometheus.yml")
        with open(prom_path, "w") as f:
            f.write(prom_cfg)
        start("prometheus", ["prometheus", f"--config.file={prom_path}",
                             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                             f"--web.listen-address={HOST}:{prom}", "--log.level=warn"])

        wait_until("HAProxy's /health", lambda: health_ok(fe_stats, tls=False), 30, procs)

        def checks_passed():
            """Every replica's health check, in both backends, last passed
            (L7OK in HAProxy's exporter): under --https that is a verified
            TLS handshake and GET /health over it."""
            _, text = http_get(base_url(fe_stats, tls=False) + "/metrics")
            ok = set()
            for line in text.splitlines():
                m = re.match(r'haproxy_server_check_status\{proxy="([^"]+)",server="([^"]+)",state="L7OK"\} 1$',
                             line)
                if m:
                    ok.add(m.groups())
            return ok >= {(b, r) for b in ("mtpc_lsp", "mtpc_http") for r in ("replica1", "replica2")}
        wait_until("HAProxy's health checks of both replicas to pass in both backends", checks_passed, 30, procs)
        # HAProxy starts with the servers up and checks them at once.
        wait_until("HAProxy to answer a completion",
                   lambda: post_completion(fe_http, "def f(x):\n    return ")[0] == 200, 30, procs)

        def prom_query(q):
            url = base_url(prom, tls=False) + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
            status, body = http_get(url)
            data = json.loads(body)
            if data.get("status") != "success":
                raise ValueError(body)
            return data["data"]["result"]

        def both_scraped():
            up = prom_query('up{job="mtpc"} == 1')
            return len(up) == 2
        wait_until("Prometheus to scrape both replicas", both_scraped, 60, procs)

        deadline = time.monotonic() + TEST_BUDGET_S

        # Two LSP clients through HAProxy: least connections puts one on each replica.
        lsp_clients = []
        for i in range(2):
            try:
                lsp_clients.append(lsp_session(fe_lsp, f"file:///client{i}.py"))
            except (ConnectionError, OSError, ValueError) as e:
                fail(f"LSP client {i} could not connect and complete through HAProxy: {e!r}")

        # HTTP completions through HAProxy from two threads; kill replica1 midway.
        answered, errors, retried = [], [], [0]
        lock = threading.Lock()
        killed = threading.Event()

        def worker(k):
            for i in range(k, HTTP_REQUESTS, 2):
                prompt = f"def f{i}(x):\n    return "
                for attempt in range(REQUEST_TRIES):
                    if time.monotonic() > deadline:
                        with lock:
                            errors.append(f"request {i}: out of time")
                        return
                    try:
                        status, body = post_completion(fe_http, prompt)
                        if status == 200 and isinstance(body.get("choices"), list) and body["choices"] \
                                and isinstance(body["choices"][0].get("text"), str):
                            with lock:
                                answered.append(i)
                            break
                        with lock:
                            errors.append(f"request {i}: {status} {body}")
                        return
                    except urllib.error.HTTPError as e:
                        if e.code in (502, 503, 504):
                            with lock:
                                retried[0] += 1
                            time.sleep(0.5)
                            continue
                        with lock:
                            errors.append(f"request {i}: HTTP {e.code} {e.read()[:200]!r}")
                        return
                    except (ConnectionError, urllib.error.URLError, socket.timeout) as e:
                        with lock:
                            retried[0] += 1
                        time.sleep(0.5)
                        continue
                else:
                    with lock:
                        errors.append(f"request {i}: not answered after {REQUEST_TRIES} tries")
                    return

        def killer():
            while time.monotonic() < deadline:
                with lock:
                    if len(answered) >= KILL_AFTER:
                        break
                time.sleep(0.05)
            replicas["replica1"].send_signal(signal.SIGKILL)
            replicas["replica1"].wait(10)
            killed.set()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
        threads.append(threading.Thread(target=killer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            fail("the HTTP load did not finish in time")
        if not killed.is_set():
            fail("replica1 was never killed")
        if errors:
            fail("HTTP requests not answered: " + "; ".join(errors[:5]))
        if sorted(answered) != list(range(HTTP_REQUESTS)):
            fail(f"answered {len(answered)} of {HTTP_REQUESTS}")
        print(f"http: {len(answered)}/{HTTP_REQUESTS} answered, {retried[0]} sends retried after the kill",
              flush=True)

        # The LSP clients: the one on the dead replica lost its connection;
        # every client, after reconnecting where needed, completes again.
        reconnected = 0
        for i, c in enumerate(lsp_clients):
            uri = f"file:///client{i}.py"
            try:
                c.complete(uri, *DOC_POS)
                continue
            except (ConnectionError, OSError, ValueError):
                c.close()
            end = time.monotonic() + 30
            while True:
                try:
                    lsp_clients[i] = lsp_session(fe_lsp, uri)
                    reconnected += 1
                    break
                except (ConnectionError, OSError, ValueError) as e:
                    if time.monotonic() > end:
                        fail(f"LSP client {i} could not reconnect through HAProxy: {e}")
                    time.sleep(0.5)
        if reconnected == 0:
            fail("no LSP client lost its connection when its replica was killed "
                 "(least connections should have put one on each replica)")
        print(f"lsp: {reconnected} client(s) reconnected and completed", flush=True)

        # Prometheus: both replicas' mtpc metrics were scraped (replica1 before it died).
        series = prom_query('count by (instance) (last_over_time({job="mtpc", __name__=~"mtpc_.+"}[10m]))')
        instances = sorted(s["metric"].get("instance", "") for s in series)
        if instances != sorted([f"{HOST}:{http1}", f"{HOST}:{http2}"]):
            fail(f"Prometheus has mtpc metrics from {instances}, want both replicas")
        # Prometheus scrapes each job on its own schedule: HAProxy's first
        # scrape may come after the replicas' (seen once in a full run).
        wait_until("Prometheus to scrape HAProxy's exporter",
                   lambda: len(prom_query('up{job="haproxy"} == 1')) > 0, 30)  # replica1 was killed on purpose
        print("prometheus: scraped " + ", ".join(instances) + " and HAProxy", flush=True)
        for c in lsp_clients:
            c.close()
        print("PASS", flush=True)
        passed = True
        return 0
    finally:
        for name, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not passed:
            for name, _ in procs:
                try:
                    with open(os.path.join(work, name + ".log"), errors="replace") as f:
                        tail = f.read()[-2000:]
                    print(f"--- {name}.log (end) ---\n{tail}", flush=True)
                except OSError:
                    pass
        if os.environ.get("MTPC_KEEP_TEST_DIR"):
            print("logs kept in " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
