#!/usr/bin/python3
"""Independent PyTorch reference of the veritas model (Hugging Face Llama semantics).

Written from the architecture's definition, without transformers: token embedding,
RMSNorm, rotary embedding in rotate_half layout, grouped-query causal attention, SwiGLU
MLP, tied or untied head, masked mean cross-entropy.

  llama_ref.py check DIR   reads DIR/config.json, DIR/model.safetensors, DIR/batch.json
                           and writes DIR/ref.safetensors with logits, loss and
                           grad.<param name> for every parameter.
  llama_ref.py selftest    checks the reference itself against other formulations
                           (RoPE as complex rotation, attention as explicit loops,
                           safetensors round trip).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    """Minimal safetensors reader (numpy); returns {name: np.ndarray}."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[base + b:base + e], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[base + b:base + e], dtype=_DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).astype(np.float32)
    return out


def write_safetensors(path, tensors):
    """Minimal safetensors writer: every tensor as F32."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def param_shapes(cfg):
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = C // cfg["num_attention_heads"]
    KC = cfg.get("num_key_value_heads", cfg["num_attention_heads"]) * hd
    shapes = {"model.embed_tokens.weight": (V, C)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        shapes[p + "input_layernorm.weight"] = (C,)
        shapes[p + "self_attn.q_proj.weight"] = (C, C)
        shapes[p + "self_attn.k_proj.weight"] = (KC, C)
        shapes[p + "self_attn.v_proj.weight"] = (KC, C)
        shapes[p + "self_attn.o_proj.weight"] = (C, C)
        shapes[p + "post_attention_layernorm.weight"] = (C,)
        shapes[p + "mlp.gate_proj.weight"] = (I, C)
        shapes[p + "mlp.up_proj.weight"] = (I, C)
        shapes[p + "mlp.down_proj.weight"] = (C, I)
    shapes["model.norm.weight"] = (C,)
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (V, C)
    return shapes


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights=None, dtype=torch.float32):
        super().__init__()
        self.cfg = cfg
        self.C = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.KVH = cfg.get("num_key_value_heads", self.H)
        self.hd = self.C // self.H
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.rotary = cfg.get("position_encoding", "rope") == "rope"  # "none": NoPE, no rotation
        self.tied = cfg.get("tie_word_embeddings", False)
        self.names = list(param_shapes(cfg).keys())
        self.p = torch.nn.ParameterDict()
        gen = torch.Generator().manual_seed(0)
        for name, shape in param_shapes(cfg).items():
            if weights is not None:
                t = torch.from_numpy(np.array(weights[name], dtype=np.float32))
            elif len(shape) == 1:
                t = torch.ones(shape)
            else:
                t = torch.randn(shape, generator=gen) * 0.02
            # ParameterDict keys may not contain dots.
            self.p[name.replace(".", "__")] = torch.nn.Parameter(t.to(dtype))

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def rms(self, x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, T, dtype):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2).float() / self.hd))
        freqs = torch.outer(torch.arange(T).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def forward(self, inputs):
        B, T = inputs.shape
        x = F.embedding(inputs, self.w("model.embed_tokens.weight"))
        cos, sin = self.rope(T, x.dtype)
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        rep = self.H // self.KVH
        for l in range(self.L):
            p = f"model.layers.{l}."
            h = self.rms(x, self.w(p + "input_layernorm.weight"))
            q = F.linear(h, self.w(p + "self_attn.q_proj.weight")).view(B, T, self.H, self.hd).transpose(1, 2)
            k = F.linear(h, self.w(p + "self_attn.k_proj.weight")).view(B, T, self.KVH, self.hd).transpose(1, 2)
            v = F.linear(h, self.w(p + "self_attn.v_proj.weight")).view(B, T, self.KVH, self.hd).transpose(1, 2)
            if self.rotary:
                q = q * cos + self.rotate_half(q) * sin
                k = k * cos + self.rotate_half(k) * sin
            k = k.repeat_interleave(rep, dim=1)  # head i uses kv head i // rep
            v = v.repeat_interleave(rep, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            s = s.masked_fill(causal, float("-inf"))
            a = torch.softmax(s, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, T, self.C)
            x = x + F.linear(a, self.w(p + "self_attn.o_proj.weight"))
            h = self.rms(x, self.w(p + "post_attention_layernorm.weight"))
            g = F.linear(h, self.w(p + "mlp.gate_proj.weight"))
            u = F.linear(h, self.w(p + "mlp.up_proj.weight"))
            x = x + F.linear(F.silu(g) * u, self.w(p + "mlp.down_proj.weight"))
        x = self.rms(x, self.w("model.norm.weight"))
        head = self.w("model.embed_tokens.weight") if self.tied else self.w("lm_head.weight")
        return F.linear(x, head)

    def loss(self, logits, targets, mask=None):
        V = logits.shape[-1]
        ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
        if mask is None:
            return ce.mean()
        m = mask.reshape(-1).to(ce.dtype)
        return (ce * m).sum() / m.sum()


def check(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(d, "batch.json")) as f:
        batch = json.load(f)
    weights = read_safetensors(os.path.join(d, "model.safetensors"))
    torch.set_num_threads(1)
    model = Llama(cfg, weights)
    B, T = batch["B"], batch["T"]
    inputs = torch.tensor(batch["inputs"], dtype=torch.long).view(B, T)
    targets = torch.tensor(batch["targets"], dtype=torch.long).view(B, T)
    mask = batch.get("mask")
    mask = None if mask is None else torch.tensor(mask, dtype=torch.float32).view(B, T)
    logits = model(inputs)
    loss = model.loss(logits, targets, mask)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": np.array([loss.item()], dtype=np.float32)}
    for name in model.names:
        out["grad." + name] = model.w(name).grad.numpy()
    write_safetensors(os.path.join(d, "ref.safetensors"), out)
    print(f"reference: loss {loss.item():.6f}, {len(model.names)} parameter gradients written")


def selftest():
    import tempfile
    torch.manual_seed(0)
    cfg = dict(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=4,
               num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
    m = Llama(cfg, dtype=torch.float64)
    B, T, H, KVH, hd = 2, 5, 4, 2, 4
    # RoPE in rotate_half layout == multiplying (x_i + i x_{i+hd/2}) by exp(i pos theta^(-2i/hd)).
    x = torch.randn(B, H, T, hd, dtype=torch.float64)
    cos, sin = m.rope(T, torch.float64)
    got = x * cos + m.rotate_half(x) * sin
    half = hd // 2
    z = torch.complex(x[..., :half], x[..., half:])
    ang = torch.outer(torch.arange(T, dtype=torch.float64),
                      10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    zr = z * torch.polar(torch.ones_like(ang), ang)
    want = torch.cat([zr.real, zr.imag], dim=-1)
    assert torch.allclose(got, want, atol=1e-6), "rope"
    # The whole model against explicit loops over positions and heads for layer 0.
    ids = torch.randint(0, 32, (B, T))
    logits = m(ids)
    w = m.w
    xe = w("model.embed_tokens.weight")[ids]
    p = "model.layers.0."

    def rms(v, g):
        return g * v / torch.sqrt((v * v).mean(-1, keepdim=True) + 1e-5)

    h = rms(xe, w(p + "input_layernorm.weight"))
    q = (h @ w(p + "self_attn.q_proj.weight").T).view(B, T, H, hd)
    k = (h @ w(p + "self_attn.k_proj.weight").T).view(B, T, KVH, hd)
    v = (h @ w(p + "self_attn.v_proj.weight").T).view(B, T, KVH, hd)

    def rot(t_, pos):
        zz = torch.complex(t_[..., :half], t_[..., half:]) * torch.polar(torch.ones(half, dtype=torch.float64),
                                                                          ang[pos])
        return torch.cat([zz.real, zz.imag], -1)

    att = torch.zeros(B, T, H, hd, dtype=torch.float64)
    for b in range(B):
        for hh in range(H):
            kv = hh // (H // KVH)
            for t in range(T):
                s = torch.stack([rot(q[b, t, hh], t) @ rot(k[b, j, kv], j) for j in range(t + 1)]) / math.sqrt(hd)
                pr = torch.softmax(s, 0)
                att[b, t, hh] = sum(pr[j] * v[b, j, kv] for j in range(t + 1))
    x1 = xe + att.reshape(B, T, H * hd) @ w(p + "self_attn.o_proj.weight").T
    h2 = rms(x1, w(p + "post_attention_layernorm.weight"))
    g = h2 @ w(p + "mlp.gate_proj.weight").T
    u = h2 @ w(p + "mlp.up_proj.weight").T
    x2 = x1 + (g * torch.sigmoid(g) * u) @ w(p + "mlp.down_proj.weight").T
    want = rms(x2, w("model.norm.weight")) @ w("lm_head.weight").T
    err = (logits - want).abs().max().item()
    assert err < 1e-9, f"model vs loops: {err}"
    # Masked loss == weighted mean of per-position cross-entropies.
    tg = torch.randint(0, 32, (B, T))
    mask = torch.tensor([[1, 0, 0.5, 1, 1], [0, 1, 1, 2, 1]], dtype=torch.float64)
    lp = torch.log_softmax(logits, -1).gather(-1, tg[..., None])[..., 0]
    want_loss = -(lp * mask).sum() / mask.sum()
    assert abs(m.loss(logits, tg, mask).item() - want_loss.item()) < 1e-12, "loss"
    # safetensors round trip
    with tempfile.TemporaryDirectory() as d:
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        write_safetensors(os.path.join(d, "x.safetensors"), {"a": a, "b": np.ones(1)})
        r = read_safetensors(os.path.join(d, "x.safetensors"))
        assert (r["a"] == a).all() and r["b"].shape == (1,), "safetensors"
    print(f"reference selftest passed (model vs explicit loops: max |diff| {err:.1e})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "selftest":
        selftest()
    else:
        print(__doc__)
        sys.exit(2)
