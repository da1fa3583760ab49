#!/usr/bin/python3
"""Hugging Face Llama/Qwen2 fixtures and a reference forward pass, for the
C++ tests (tests/model/hf_checkpoint_test.cpp). Debian's python3-torch only:
this file knows nothing of mtpc; it writes directories in Hugging Face's
exact layout and computes logits with the published Llama/Qwen2 math.

  hf_fixture.py write OUT LAYOUT [--defect D] [--seed N]
      LAYOUT: llama (GQA, untied lm_head, rope_scaling llama3), qwen2 (q/k/v
      biases, tied embeddings, explicit head_dim, vocab padded), sharded
      (llama in two shards + model.safetensors.index.json), bf16 (qwen2 in
      bf16), qwen05b / qwen05b-bf16 and qwen15b / qwen15b-bf16
      (Qwen2.5-Coder-0.5B's and -1.5B's shapes, for measurements:
      scripts/bench-real-shapes; not used by the tests).
      D: truncate, overlap, missing-shard, shape, missing-tensor, arch, rope.
  hf_fixture.py reference DIR PROMPTS GREEDY
      PROMPTS: token ids, "1,2,3;4,5". Prints JSON {"logits": [[T x vocab]
      per prompt], "greedy": [GREEDY ids per prompt]} computed in float64.
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {torch.float32: 'F32', torch.bfloat16: 'BF16', torch.float16: 'F16'}
FROM_NAME = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors, overlap=False):
    """The format: u64 little-endian header length, JSON header, raw bytes."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if overlap:  # the second tensor starts inside the first
        names = list(header)
        a, b = header[names[0]], header[names[1]]
        size = b['data_offsets'][1] - b['data_offsets'][0]
        b['data_offsets'] = [a['data_offsets'][0] + 4, a['data_offsets'][0] + 4 + size]
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        b, e = info['data_offsets']
        dtype = FROM_NAME[info['dtype']]
        raw = bytearray(data[base + b:base + e])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        out[name] = t.reshape(info['shape']).clone()
    return out


def config_for(layout):
    if layout in ('llama', 'sharded'):
        return {
            'architectures': ['LlamaForCausalLM'], 'model_type': 'llama',
            'vocab_size': 128, 'hidden_size': 64, 'intermediate_size': 96,
            'num_hidden_layers': 3, 'num_attention_heads': 4, 'num_key_value_heads': 2,
            'max_position_embeddings': 131072, 'rms_norm_eps': 1e-5, 'rope_theta': 10000.0,
            'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                             'high_freq_factor': 4.0, 'original_max_position_embeddings': 64},
            'hidden_act': 'silu', 'attention_bias': False, 'mlp_bias': False,
            'tie_word_embeddings': False, 'torch_dtype': 'float32',
            'bos_token_id': 1, 'eos_token_id': 2,
        }
    if layout in ('qwen2', 'bf16'):
        return {
            'architectures': ['Qwen2ForCausalLM'], 'model_type': 'qwen2',
            'vocab_size': 160, 'hidden_size': 48, 'intermediate_size': 80,
            'num_hidden_layers': 3, 'num_attention_heads': 4, 'num_key_value_heads': 2,
            'head_dim': 16, 'max_position_embeddings': 32768, 'rms_norm_eps': 1e-6,
            'rope_theta': 1000000.0, 'rope_scaling': None, 'hidden_act': 'silu',
            'tie_word_embeddings': True, 'use_sliding_window': False, 'sliding_window': 32768,
            'max_window_layers': 21, 'torch_dtype': 'bfloat16' if layout == 'bf16' else 'float32',
        }
    # Qwen2.5-Coder's real shapes (hidden, FFN, layers, query heads), for measurements.
    shapes = {'qwen05b': (896, 4864, 24, 14), 'qwen15b': (1536, 8960, 28, 12)}
    base = layout[:-len('-bf16')] if layout.endswith('-bf16') else layout
    if base in shapes:
        hidden, ffn, layers, heads = shapes[base]
        return {
            'architectures': ['Qwen2ForCausalLM'], 'model_type': 'qwen2',
            'vocab_size': 151936, 'hidden_size': hidden, 'intermediate_size': ffn,
            'num_hidden_layers': layers, 'num_attention_heads': heads, 'num_key_value_heads': 2,
            'max_position_embeddings': 32768, 'rms_norm_eps': 1e-6, 'rope_theta': 1000000.0,
            'hidden_act': 'silu', 'tie_word_embeddings': True, 'use_sliding_window': False,
            'torch_dtype': 'bfloat16' if layout.endswith('bf16') else 'float32',
        }
    raise SystemExit('unknown layout ' + layout)


def head_dim_of(c):
    return c.get('head_dim') or c['hidden_size'] // c['num_attention_heads']


def random_weights(c, gen):
    d, hd, hid = c['hidden_size'], head_dim_of(c), c['intermediate_size']
    q, kv = c['num_attention_heads'] * hd, c.get('num_key_value_heads', c['num_attention_heads']) * hd
    qwen = c['model_type'] == 'qwen2'

    def lin(out_f, in_f):  # scaled so activations stay O(1) through the blocks
        return torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)

    def norm(n):
        return 1.0 + 0.1 * torch.randn(n, generator=gen)

    w = {'model.embed_tokens.weight': torch.randn(c['vocab_size'], d, generator=gen)}
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d.' % i
        w[p + 'input_layernorm.weight'] = norm(d)
        w[p + 'self_attn.q_proj.weight'] = lin(q, d)
        w[p + 'self_attn.k_proj.weight'] = lin(kv, d)
        w[p + 'self_attn.v_proj.weight'] = lin(kv, d)
        if qwen:
            w[p + 'self_attn.q_proj.bias'] = 0.1 * torch.randn(q, generator=gen)
            w[p + 'self_attn.k_proj.bias'] = 0.1 * torch.randn(kv, generator=gen)
            w[p + 'self_attn.v_proj.bias'] = 0.1 * torch.randn(kv, generator=gen)
        w[p + 'self_attn.o_proj.weight'] = lin(d, q)
        w[p + 'post_attention_layernorm.weight'] = norm(d)
        w[p + 'mlp.gate_proj.weight'] = lin(hid, d)
        w[p + 'mlp.up_proj.weight'] = lin(hid, d)
        w[p + 'mlp.down_proj.weight'] = lin(d, hid)
    w['model.norm.weight'] = norm(d)
    if not c.get('tie_word_embeddings', False):
        w['lm_head.weight'] = lin(c['vocab_size'], d)
    return w


def write(out, layout, defect, seed):
    os.makedirs(out, exist_ok=True)
    c = config_for(layout)
    gen = torch.Generator().manual_seed(seed)
    w = random_weights(c, gen)
    if c['torch_dtype'] == 'bfloat16':
        w = {k: v.to(torch.bfloat16) for k, v in w.items()}
    if defect == 'shape':
        w['model.layers.1.self_attn.k_proj.weight'] = torch.zeros(4 * head_dim_of(c), c['hidden_size'])
    if defect == 'missing-tensor':
        del w['model.layers.1.mlp.up_proj.weight']
    if defect == 'arch':
        c['architectures'], c['model_type'] = ['StarCoder2ForCausalLM'], 'starcoder2'
    if defect == 'rope':
        c['rope_scaling'] = {'rope_type': 'yarn', 'factor': 4.0, 'original_max_position_embeddings': 4096}
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(out, 'generation_config.json'), 'w') as f:
        json.dump({'bos_token_id': 1, 'eos_token_id': 2}, f)
    if layout == 'sharded':
        names = list(w)
        half = len(names) // 2
        parts = {'model-00001-of-00002.safetensors': names[:half],
                 'model-00002-of-00002.safetensors': names[half:]}
        weight_map = {}
        for fname, part in parts.items():
            write_safetensors(os.path.join(out, fname), {n: w[n] for n in part}, overlap=defect == 'overlap')
            weight_map.update({n: fname for n in part})
        with open(os.path.join(out, 'model.safetensors.index.json'), 'w') as f:
            json.dump({'metadata': {'total_size': 0}, 'weight_map': weight_map}, f, indent=2)
        if defect == 'missing-shard':
            os.remove(os.path.join(out, 'model-00002-of-00002.safetensors'))
    else:
        path = os.path.join(out, 'model.safetensors')
        write_safetensors(path, w, overlap=defect == 'overlap')
        if defect == 'truncate':
            size = os.path.getsize(path)
            with open(path, 'r+b') as f:
                f.truncate(size - 100)


# ---- the reference forward pass: Hugging Face's Llama/Qwen2 math ----

def inverse_frequencies(c):
    hd = head_dim_of(c)
    base = c.get('rope_theta', 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = c.get('rope_scaling') or {}
    kind = rs.get('rope_type', rs.get('type', 'default'))
    if kind == 'linear':
        return inv / rs['factor']
    if kind == 'llama3':
        factor, low, high = rs['factor'], rs['low_freq_factor'], rs['high_freq_factor']
        old = rs['original_max_position_embeddings']
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)
    assert kind == 'default', kind
    return inv


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def forward(c, w, ids):
    """logits [T, vocab] of one sequence, float64."""
    T = len(ids)
    nh, hd = c['num_attention_heads'], head_dim_of(c)
    nkv = c.get('num_key_value_heads', nh)
    eps = c['rms_norm_eps']
    x = w['model.embed_tokens.weight'][torch.tensor(ids)]
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inverse_frequencies(c))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float('-inf'), dtype=torch.float64).triu(1)
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d.' % i
        h = rms_norm(x, w[p + 'input_layernorm.weight'], eps)

        def proj(name):
            y = h @ w[p + 'self_attn.%s_proj.weight' % name].T
            bias = w.get(p + 'self_attn.%s_proj.bias' % name)
            return y if bias is None else y + bias

        q = proj('q').view(T, nh, hd).transpose(0, 1)
        k = proj('k').view(T, nkv, hd).transpose(0, 1)
        v = proj('v').view(T, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=0)
        v = v.repeat_interleave(nh // nkv, dim=0)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, nh * hd)
        x = x + o @ w[p + 'self_attn.o_proj.weight'].T
        h = rms_norm(x, w[p + 'post_attention_layernorm.weight'], eps)
        gate = torch.nn.functional.silu(h @ w[p + 'mlp.gate_proj.weight'].T)
        x = x + (gate * (h @ w[p + 'mlp.up_proj.weight'].T)) @ w[p + 'mlp.down_proj.weight'].T
    x = rms_norm(x, w['model.norm.weight'], eps)
    head = w['model.embed_tokens.weight'] if c.get('tie_word_embeddings') else w['lm_head.weight']
    return x @ head.T


def reference(model_dir, prompts, greedy):
    with open(os.path.join(model_dir, 'config.json')) as f:
        c = json.load(f)
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    w = {}
    for name in files:
        w.update(read_safetensors(os.path.join(model_dir, name)))
    w = {k: v.to(torch.float64) for k, v in w.items()}
    out = {'logits': [], 'greedy': []}
    for ids in prompts:
        out['logits'].append(forward(c, w, ids).tolist())
        seq = list(ids)
        for _ in range(greedy):  # whole-sequence recomputation: no cache to get wrong
            seq.append(int(forward(c, w, seq)[-1].argmax()))
        out['greedy'].append(seq[len(ids):])
    json.dump(out, sys.stdout)


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == 'write':
        defect = args[args.index('--defect') + 1] if '--defect' in args else None
        seed = int(args[args.index('--seed') + 1]) if '--seed' in args else 1
        write(args[1], args[2], defect, seed)
    elif len(args) == 4 and args[0] == 'reference':
        prompts = [[int(t) for t in p.split(',')] for p in args[2].split(';')]
        reference(args[1], prompts, int(args[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
