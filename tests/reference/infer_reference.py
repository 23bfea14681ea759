#!/usr/bin/python3
"""PyTorch reference for the inference engine's tests (Hugging Face Llama semantics,
written from the architecture's definition, without transformers).

  infer_reference.py fixture DIR [--seed S] [--tokens N]
      Writes a small random checkpoint to DIR (config.json + model.safetensors, written
      here, not by veritas), a token sequence DIR/tokens.json, and DIR/ref_logits.f32:
      the [N, vocab] logits of a full causal forward pass in float64 (little-endian
      float32 on disk).

The fixture exercises every configuration knob the engine reads: grouped-query attention
(4 query heads, 2 key/value heads), an untied output head, a non-default rope_theta and
rms_norm_eps, norm weights away from 1, and activations of order 1 (weights scaled by
1/sqrt(fan_in)) so that errors are not hidden by tiny logits.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 320,
    "hidden_size": 64,
    "intermediate_size": 176,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 96,
    "rope_theta": 50000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}


def shapes(cfg):
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = C // cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"] * hd
    out = {"model.embed_tokens.weight": (V, C)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out[p + "input_layernorm.weight"] = (C,)
        out[p + "self_attn.q_proj.weight"] = (C, C)
        out[p + "self_attn.k_proj.weight"] = (KV, C)
        out[p + "self_attn.v_proj.weight"] = (KV, C)
        out[p + "self_attn.o_proj.weight"] = (C, C)
        out[p + "post_attention_layernorm.weight"] = (C,)
        out[p + "mlp.gate_proj.weight"] = (I, C)
        out[p + "mlp.up_proj.weight"] = (I, C)
        out[p + "mlp.down_proj.weight"] = (C, I)
    out["model.norm.weight"] = (C,)
    if not cfg["tie_word_embeddings"]:
        out["lm_head.weight"] = (V, C)
    return out


def random_weights(cfg, seed):
    rng = np.random.default_rng(seed)
    w = {}
    for name, shape in shapes(cfg).items():
        if len(shape) == 1:
            w[name] = (1.0 + 0.2 * rng.standard_normal(shape)).astype(np.float32)
        elif name == "model.embed_tokens.weight":
            w[name] = rng.standard_normal(shape).astype(np.float32)
        else:
            w[name] = (rng.standard_normal(shape) / math.sqrt(shape[1])).astype(np.float32)
    return w


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def forward(cfg, w, tokens, dtype=torch.float64):
    """Full causal forward of one sequence; returns [T, vocab] logits."""
    W = {k: torch.from_numpy(v).to(dtype) for k, v in w.items()}
    C, H, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, T = C // H, cfg["rms_norm_eps"], len(tokens)

    def rms(x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rot(x):
        return torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], dim=-1)

    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=dtype) / hd))
    ang = torch.outer(torch.arange(T, dtype=dtype), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    x = W["model.embed_tokens.weight"][torch.tensor(tokens)]
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = F.linear(h, W[p + "self_attn.q_proj.weight"]).view(T, H, hd).transpose(0, 1)
        k = F.linear(h, W[p + "self_attn.k_proj.weight"]).view(T, KVH, hd).transpose(0, 1)
        v = F.linear(h, W[p + "self_attn.v_proj.weight"]).view(T, KVH, hd).transpose(0, 1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // KVH, 0), v.repeat_interleave(H // KVH, 0)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        a = torch.softmax(s.masked_fill(mask, float("-inf")), -1) @ v
        x = x + F.linear(a.transpose(0, 1).reshape(T, C), W[p + "self_attn.o_proj.weight"])
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g, u = F.linear(h, W[p + "mlp.gate_proj.weight"]), F.linear(h, W[p + "mlp.up_proj.weight"])
        x = x + F.linear(F.silu(g) * u, W[p + "mlp.down_proj.weight"])
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return F.linear(x, head)


def fixture(d, seed=1, n_tokens=40):
    os.makedirs(d, exist_ok=True)
    cfg = dict(CONFIG)
    w = random_weights(cfg, seed)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    rng = np.random.default_rng(seed + 1000)
    tokens = [int(t) for t in rng.integers(0, cfg["vocab_size"], n_tokens)]
    with open(os.path.join(d, "tokens.json"), "w") as f:
        json.dump(tokens, f)
    with torch.no_grad():
        logits = forward(cfg, w, tokens)
    logits.numpy().astype("<f4").tofile(os.path.join(d, "ref_logits.f32"))
    print(f"fixture: {len(w)} tensors, {n_tokens} tokens, logits std {logits.std().item():.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "fixture":
        opts = dict(zip(args[2::2], args[3::2]))
        fixture(args[1], int(opts.get("--seed", 1)), int(opts.get("--tokens", 40)))
    else:
        print(__doc__)
        sys.exit(2)
