#!/usr/bin/python3
"""A stand-in for the Hugging Face hub and its file store, for tests.

Two HTTPS servers on 127.0.0.1 (free ports): the hub (API + resolve URLs) and
a file store on another port that the hub redirects LFS files to, the way
huggingface.co redirects to its CDN. Headers follow the hub: X-Repo-Commit,
X-Linked-Size, X-Linked-Etag (sha256 of an LFS file), ETag (git blob sha1 of
a small file), X-Error-Code / X-Error-Message on errors. Checksums come from
Python's hashlib, not from the code under test.

Usage: fixture_hub.py CERT KEY ROOT
Writes every repository's files under ROOT/repos/OWNER--NAME/, logs each
request as a JSON line in ROOT/requests.log, prints "PORTS <hub> <store>"
and serves until stdin closes or LIFETIME_S passes.

Repositories (behaviour chosen by name):
  acme/tiny     plain; small files through a relative redirect on the hub
  acme/drop     the store drops the connection half-way through the first
                full GET of model.safetensors; ranges are served
  acme/stall    the store stops sending half-way for STALL_S, then drops
  acme/badsum   the listing's sha256 of model.safetensors is wrong
  acme/gated    every resolve needs "Authorization: Bearer hf_fixture_token"
  acme/loop     model.safetensors redirects to itself forever
  acme/nometa   the listing has no sizes or checksums (no blobs): the
                client must use the resolve headers
  acme/downgrade  model.safetensors redirects to a plain http:// URL
  acme/meta     Meta's release layout: tokenizer.model at the top, each
                model (params.json, consolidated.pth) in its own folder
  anything else 404 RepoNotFound
The store answers 400 to any request carrying an Authorization header.
"""
import hashlib
import http.server
import json
import os
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse

LIFETIME_S = 300  # the server exits by itself after this
STALL_S = 8
TOKEN = "hf_fixture_token"
REPOS = ["acme/tiny", "acme/drop", "acme/stall", "acme/badsum", "acme/gated", "acme/loop", "acme/nometa",
         "acme/downgrade", "acme/meta"]


def commit_of(repo):
    return hashlib.sha1(repo.encode()).hexdigest()


def make_files(repo):
    rng = random.Random(repo)
    if repo == "acme/meta":
        return {
            "tokenizer.model": rng.randbytes(2000),
            "README.md": b"# multi-token fixture\n",
            "llama/model.py": b"# code, not wanted\n",
            "7B_1T_4/params.json": json.dumps({"n_future_tokens": 4}).encode(),
            "7B_1T_4/consolidated.pth": rng.randbytes(200_000),
            "7B_200B_1/params.json": json.dumps({"n_future_tokens": 1}).encode(),
            "7B_200B_1/consolidated.pth": rng.randbytes(100_000),
        }
    weights = rng.randbytes(300_000)
    return {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "repo": repo}).encode(),
        "tokenizer.json": json.dumps({"model": {"type": "BPE"}, "pad": "x" * 5000}).encode(),
        "model.safetensors": weights,
        "pytorch_model.bin": b"not wanted " * 100,
        "README.md": b"# fixture\n",
        "original/params.json": b"{}",
    }


LFS_NAMES = {"model.safetensors", "pytorch_model.bin", "consolidated.pth"}


def is_lfs(path):
    return path.rsplit("/", 1)[-1] in LFS_NAMES


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class State:
    def __init__(self, root):
        self.root = root
        self.repos = {r: make_files(r) for r in REPOS}
        self.by_sha = {}
        for repo, files in self.repos.items():
            d = os.path.join(root, "repos", repo.replace("/", "--"))
            for path, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
                with open(os.path.join(d, path), "wb") as f:
                    f.write(data)
                if is_lfs(path):
                    self.by_sha[(repo, hashlib.sha256(data).hexdigest())] = data
        self.full_gets = {}
        self.lock = threading.Lock()
        self.store_port = 0

    def log(self, entry):
        with self.lock:
            with open(os.path.join(self.root, "requests.log"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    def first_full_get(self, key):
        with self.lock:
            n = self.full_gets.get(key, 0)
            self.full_gets[key] = n + 1
            return n == 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None
    role = ""

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def error(self, status, code, message):
        self.reply(status, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        self.state.log({"server": self.role, "path": self.path, "range": self.headers.get("Range"),
                        "auth": self.headers.get("Authorization")})
        if self.role == "store":
            return self.store(path)
        return self.hub(path, urllib.parse.parse_qs(url.query))

    # --- the hub ---------------------------------------------------------
    def hub(self, path, query):
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            return self.listing("/".join(parts[2:4]), "/".join(parts[5:]), query)
        if len(parts) >= 5 and parts[2] in ("resolve", "raw"):
            return self.resolve("/".join(parts[:2]), parts[2], parts[3], "/".join(parts[4:]))
        self.error(404, "EntryNotFound", "no route " + path)

    def listing(self, repo, revision, query):
        if repo not in self.state.repos:
            return self.error(404, "RepoNotFound", "Repository not found")
        if revision not in ("main", commit_of(repo)):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        siblings = []
        for name, data in self.state.repos[repo].items():
            s = {"rfilename": name}
            if query.get("blobs") == ["true"] and repo != "acme/nometa":
                s["size"] = len(data)
                s["blobId"] = git_sha1(data)
                if is_lfs(name):
                    sha = hashlib.sha256(data).hexdigest()
                    if repo == "acme/badsum" and name == "model.safetensors":
                        sha = hashlib.sha256(b"something else").hexdigest()
                    s["lfs"] = {"size": len(data), "sha256": sha, "pointerSize": 134}
                    s["blobId"] = git_sha1(b"version https://git-lfs.github.com/spec/v1\n")
            siblings.append(s)
        body = json.dumps({"id": repo, "sha": commit_of(repo), "siblings": siblings}).encode()
        self.reply(200, body, {"Content-Type": "application/json"})

    def resolve(self, repo, kind, revision, name):
        if repo not in self.state.repos:
            return self.error(404, "RepoNotFound", "Repository not found")
        if revision not in ("main", commit_of(repo)):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        files = self.state.repos[repo]
        if name not in files:
            return self.error(404, "EntryNotFound", "Entry not found")
        if repo == "acme/gated" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.error(401, "GatedRepo", "Access to model acme/gated is restricted. You must have access to it and be authenticated to access it.")
        data = files[name]
        common = {"X-Repo-Commit": commit_of(repo)}
        if is_lfs(name):
            if repo == "acme/loop":
                return self.reply(302, b"", dict(common, Location="/%s/resolve/%s/%s" % (repo, revision, name)))
            sha = hashlib.sha256(data).hexdigest()
            scheme = "http" if repo == "acme/downgrade" else "https"
            location = "%s://127.0.0.1:%d/blobs/%s/%s?signature=fixture" % (
                scheme, self.state.store_port, repo.replace("/", "--"), sha)
            return self.reply(302, b"", dict(common, Location=location, **{
                "X-Linked-Size": str(len(data)), "X-Linked-Etag": '"%s"' % sha, "ETag": '"%s"' % git_sha1(data)}))
        if kind == "resolve":
            # Same host, relative Location: the credentials must still be sent.
            up = "../" * (2 + name.count("/"))  # from .../resolve/REV/[folders/] back to the repository
            return self.reply(307, b"", dict(common, Location="%sraw/%s/%s" % (up, revision, name)))
        self.reply(200, data, dict(common, ETag='"%s"' % git_sha1(data)))

    # --- the file store --------------------------------------------------
    def store(self, path):
        if self.headers.get("Authorization"):
            return self.reply(400, b"authorization sent to the file store")
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "blobs":
            return self.reply(404, b"no such blob")
        repo = parts[1].replace("--", "/")
        data = self.state.by_sha.get((repo, parts[2]))
        if data is None:
            return self.reply(404, b"no such blob")
        start = 0
        rng = self.headers.get("Range")
        if rng:
            if not rng.startswith("bytes=") or not rng.endswith("-"):
                return self.reply(400, b"unsupported range")
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % len(data)})
        body = data[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"s3-etag"')
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cut = repo in ("acme/drop", "acme/stall") and not rng and self.state.first_full_get(repo)
        if not cut:
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if repo == "acme/stall":
            time.sleep(STALL_S)
        # Drop the connection without a TLS close: the client sees it cut.
        self.connection.shutdown(socket.SHUT_RDWR)


def serve(state, role, cert, key):
    handler = type("H_" + role, (Handler,), {"state": state, "role": role})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    cert, key, root = sys.argv[1:4]
    state = State(root)
    store_port = serve(state, "store", cert, key)
    state.store_port = store_port
    hub_port = serve(state, "hub", cert, key)
    print("PORTS %d %d" % (hub_port, store_port), flush=True)
    deadline = threading.Timer(LIFETIME_S, lambda: os._exit(0))
    deadline.daemon = True
    deadline.start()
    sys.stdin.read()  # the test closes stdin (or exits) when done
    os._exit(0)


if __name__ == "__main__":
    main()
