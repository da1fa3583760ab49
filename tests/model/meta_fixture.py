"""A random-weight checkpoint in the layout of Meta's multi-token release
(facebook/multi-token-prediction) and the reference outputs of Meta's own
formulation of the model, written with torch ops (Debian's python3-torch).

usage: /usr/bin/python3 meta_fixture.py OUT_DIR

OUT_DIR/model/params.json, OUT_DIR/model/consolidated.pth   the checkpoint
  (torch.save of an OrderedDict of fp32 tensors)
OUT_DIR/model/tokenizer.model  a SentencePiece model with Llama's layout
  (<unk> <s> </s>, 256 byte pieces, then 3 pieces: 262 ids, the fixture's
  vocabulary), written field by field in protobuf's wire format
OUT_DIR/extra/     the same plus an unexpected tensor
OUT_DIR/bf16/      the same weights stored as bfloat16 (as Meta ships them)
OUT_DIR/repacked/  model/'s archive rewritten by zipfile: ZIP64 fields and
                   storages at unaligned offsets
OUT_DIR/reference.json  {"prompts": [[ids]], "logits": [prompt][head][t][vocab],
                         "greedy": [prompt][ids]}: every head's logits at every
                         position, and head 1's greedy continuation (recomputed
                         from scratch each step)

The reference follows Meta's llama/model.py: interleaved rotary as complex
multiplication, repeat_kv for grouped-query attention, the trunk is
layers[:-1], the prediction heads are [layers[-1]] + extra_heads, each fed
the trunk's output, then the shared norm and output.
"""
import collections
import json
import math
import os
import sys
import zipfile

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("python3-torch is missing: run scripts/setup (apt-get install python3-torch)")

out = sys.argv[1]
torch.manual_seed(20240430)

params = {
    "dim": 64, "n_layers": 6, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 262,
    "multiple_of": 32, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-5, "rope_theta": 50000.0,
    "n_future_tokens": 4, "max_seq_len": 128,
}
dim, L, H, KV = params["dim"], params["n_layers"], params["n_heads"], params["n_kv_heads"]
n, V, eps = params["n_future_tokens"], params["vocab_size"], params["norm_eps"]
hd = dim // H
hidden = int(2 * (4 * dim) / 3)
hidden = int(params["ffn_dim_multiplier"] * hidden)
hidden = params["multiple_of"] * ((hidden + params["multiple_of"] - 1) // params["multiple_of"])


def block_tensors(prefix):
    return {
        prefix + ".attention.wq.weight": torch.randn(H * hd, dim) * 0.15,
        prefix + ".attention.wk.weight": torch.randn(KV * hd, dim) * 0.15,
        prefix + ".attention.wv.weight": torch.randn(KV * hd, dim) * 0.15,
        prefix + ".attention.wo.weight": torch.randn(dim, H * hd) * 0.15,
        prefix + ".feed_forward.w1.weight": torch.randn(hidden, dim) * 0.15,
        prefix + ".feed_forward.w2.weight": torch.randn(dim, hidden) * 0.15,
        prefix + ".feed_forward.w3.weight": torch.randn(hidden, dim) * 0.15,
        prefix + ".attention_norm.weight": 1 + 0.1 * torch.randn(dim),
        prefix + ".ffn_norm.weight": 1 + 0.1 * torch.randn(dim),
    }


sd = collections.OrderedDict()
sd["tok_embeddings.weight"] = torch.randn(V, dim)
for i in range(L - n + 1):            # Meta: layers has n_layers - n_future_tokens + 1 blocks
    sd.update(block_tensors("layers.%d" % i))
for j in range(n - 1):
    sd.update(block_tensors("extra_heads.%d" % j))
sd["norm.weight"] = 1 + 0.1 * torch.randn(dim)
sd["output.weight"] = torch.randn(V, dim) * 0.3

for name in ("model", "extra", "bf16", "repacked"):
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "params.json"), "w") as f:
        json.dump(params, f)
torch.save(sd, os.path.join(out, "model", "consolidated.pth"))


def sentencepiece_model(pieces):
    """A SentencePiece ModelProto: pieces [(text, score, type)], BPE with
    byte fallback, identity normalizer with the dummy prefix (Llama's)."""
    def varint(v):
        v &= (1 << 64) - 1
        b = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            b.append(byte | (0x80 if v else 0))
            if not v:
                return bytes(b)

    def field(num, wire, payload):
        return varint(num << 3 | wire) + payload

    def message(num, body):
        return field(num, 2, varint(len(body)) + body)

    import struct
    data = b""
    for text, score, kind in pieces:
        body = message(1, text.encode("utf-8")) + field(2, 5, struct.pack("<f", score))
        if kind != 1:
            body += field(3, 0, varint(kind))
        data += message(1, body)
    data += message(2, field(3, 0, varint(2)) + field(4, 0, varint(len(pieces))) + field(35, 0, varint(1)))
    data += message(3, message(1, b"identity") + field(3, 0, varint(1)) + field(4, 0, varint(0)) +
                    field(5, 0, varint(1)))
    return data


UNKNOWN, CONTROL, BYTE, NORMAL = 2, 3, 6, 1
sp_pieces = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL)]
sp_pieces += [("<0x%02X>" % b, 0.0, BYTE) for b in range(256)]
sp_pieces += [("\u2581", -1.0, NORMAL), ("a", -2.0, NORMAL), ("\u2581a", -0.5, NORMAL)]
assert len(sp_pieces) == V
with open(os.path.join(out, "model", "tokenizer.model"), "wb") as f:
    f.write(sentencepiece_model(sp_pieces))
extra = collections.OrderedDict(sd)
extra["extra_heads.3.ffn_norm.weight"] = torch.ones(dim)
torch.save(extra, os.path.join(out, "extra", "consolidated.pth"))
torch.save(collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items()),
           os.path.join(out, "bf16", "consolidated.pth"))
with zipfile.ZipFile(os.path.join(out, "model", "consolidated.pth")) as src:
    items = [(i.filename, src.read(i.filename)) for i in src.infolist()]
zipfile.ZIP64_LIMIT = 1  # ZIP64 fields for every entry
with zipfile.ZipFile(os.path.join(out, "repacked", "consolidated.pth"), "w") as dst:
    dst.writestr("pad", b"x")  # shifts every later entry off torch's 64-byte alignment
    for name, data in items:
        dst.writestr(name, data)


# ---- Meta's formulation -------------------------------------------------
def precompute_freqs_cis(head_dim, end, theta):
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    t = torch.arange(end, device=freqs.device)
    return torch.polar(torch.ones(end, head_dim // 2), torch.outer(t, freqs).float())


def apply_rotary_emb(xq, xk, freqs_cis):
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    fc = freqs_cis.view(1, xq_.shape[1], 1, xq_.shape[-1])
    return torch.view_as_real(xq_ * fc).flatten(3), torch.view_as_real(xk_ * fc).flatten(3)


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def block(prefix, x, freqs_cis, mask):
    w = lambda s: sd[prefix + "." + s]
    bsz, T, _ = x.shape
    h = rms_norm(x, w("attention_norm.weight"))
    xq = (h @ w("attention.wq.weight").t()).view(bsz, T, H, hd)
    xk = (h @ w("attention.wk.weight").t()).view(bsz, T, KV, hd)
    xv = (h @ w("attention.wv.weight").t()).view(bsz, T, KV, hd)
    xq, xk = apply_rotary_emb(xq, xk, freqs_cis)
    rep = H // KV
    keys = xk[:, :, :, None, :].expand(bsz, T, KV, rep, hd).reshape(bsz, T, H, hd)
    values = xv[:, :, :, None, :].expand(bsz, T, KV, rep, hd).reshape(bsz, T, H, hd)
    q, k, v = xq.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2)
    scores = q @ k.transpose(2, 3) / math.sqrt(hd) + mask
    attn = F.softmax(scores.float(), dim=-1) @ v
    x = x + attn.transpose(1, 2).reshape(bsz, T, -1) @ w("attention.wo.weight").t()
    h = rms_norm(x, w("ffn_norm.weight"))
    ff = (F.silu(h @ w("feed_forward.w1.weight").t()) * (h @ w("feed_forward.w3.weight").t())) @ w(
        "feed_forward.w2.weight").t()
    return x + ff


def forward(tokens):
    """All heads' logits [n, T, V] for one sequence, positions from 0."""
    x = sd["tok_embeddings.weight"][torch.tensor(tokens)][None]
    T = len(tokens)
    freqs_cis = precompute_freqs_cis(hd, params["max_seq_len"] * 2, params["rope_theta"])[:T]
    mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
    layers = ["layers.%d" % i for i in range(L - n + 1)]
    for name in layers[:-1]:
        x = block(name, x, freqs_cis, mask)
    trunk = x
    heads = [layers[-1]] + ["extra_heads.%d" % j for j in range(n - 1)]
    latents = torch.stack([block(name, trunk, freqs_cis, mask) for name in heads], dim=-2)
    logits = rms_norm(latents, sd["norm.weight"]) @ sd["output.weight"].t()
    return logits[0].transpose(0, 1)  # [n, T, V]


with torch.no_grad():
    g = torch.Generator().manual_seed(7)
    prompts = [[int(t) for t in torch.randint(0, 256, (length,), generator=g)] for length in (1, 7, 23)]
    ref = {"prompts": prompts, "logits": [], "greedy": [], "hidden_dim": hidden}
    for p in prompts:
        ref["logits"].append(forward(p).tolist())
        seq = list(p)
        for _ in range(20):
            seq.append(int(forward(seq)[0, -1].argmax()))
        ref["greedy"].append(seq[len(p):])
with open(os.path.join(out, "reference.json"), "w") as f:
    json.dump(ref, f)
print("ok")
