#!/usr/bin/python3
"""PyTorch peer for bench/generate-vs-pytorch: batch-1 greedy decoding with a KV cache.

  torch_decode.py make DIR                  write the SMALL random checkpoint to DIR
  torch_decode.py decode DIR [--tokens N] [--prompt-tokens N] [--precision fp32|bf16|int8]
                                            decode and print one JSON line (tokens/s, ids)
  torch_decode.py sample DIR [--k K] [--prompts P] [--prompt-tokens N] [--tokens N]
                                            self-play's generation: for each of P prompts,
                                            K samples (temperature 1) decoded as one batch
                                            from the prompt's cache; one JSON line

Tuned the usual ways: torch.inference_mode, 2 threads, q/k/v and gate/up weights fused
into one matrix each (as veritas does), a preallocated KV cache written in place, RoPE
tables precomputed, no Python work per token beyond the layer loop.
Precisions: fp32; bf16 (weights, activations and KV cache in bfloat16, as a user would
run it with model.to(torch.bfloat16)); int8 (dynamic quantization, what
torch.ao.quantization.quantize_dynamic does to each Linear: int8 weights with one scale
per output row, activations quantized per call, fbgemm/x86 kernels; the rest fp32).
"""
import json
import math
import os
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

SMALL = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32",
    "vocab_size": 8192, "hidden_size": 384, "intermediate_size": 1024, "num_hidden_layers": 6,
    "num_attention_heads": 6, "num_key_value_heads": 6, "max_position_embeddings": 512,
    "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
}


def make(d):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
    import infer_reference as ref
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(SMALL, f, indent=2)
    w = ref.random_weights(SMALL, 7)
    # A small embedding (as at initialization) keeps the tied head from simply predicting
    # the current token again, so greedy decoding produces varied tokens to compare.
    w["model.embed_tokens.weight"] *= 0.05
    ref.write_safetensors(os.path.join(d, "model.safetensors"), w)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", "the peer reads F32 checkpoints"
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").reshape(info["shape"]).copy())
    return out


def int8_linear(w):
    """A dynamically quantized linear layer: per-row symmetric int8 weights, prepacked."""
    scale = (w.abs().amax(1) / 127.0).clamp(min=1e-12).double()
    warnings.filterwarnings("ignore", message=".*quantize_per_channel.*")  # deprecated, still what quantize_dynamic runs
    qw = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
    packed = torch.ops.quantized.linear_prepack(qw, None)
    return lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)


class Decoder:
    def __init__(self, d, ctx, precision="fp32"):
        with open(os.path.join(d, "config.json")) as f:
            c = json.load(f)
        w = read_safetensors(os.path.join(d, "model.safetensors"))
        self.L, self.C, self.H = c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"]
        self.KVH, self.I = c["num_key_value_heads"], c["intermediate_size"]
        self.hd, self.eps = self.C // self.H, c["rms_norm_eps"]
        self.embed = w["model.embed_tokens.weight"]
        self.head = self.embed if c["tie_word_embeddings"] else w["lm_head.weight"]
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            self.layers.append((
                w[p + "input_layernorm.weight"],
                torch.cat([w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"],
                           w[p + "self_attn.v_proj.weight"]]).contiguous(),
                w[p + "self_attn.o_proj.weight"],
                w[p + "post_attention_layernorm.weight"],
                torch.cat([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"]]).contiguous(),
                w[p + "mlp.down_proj.weight"]))
        self.norm = w["model.norm.weight"]
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        if precision == "bf16":
            self.embed, self.head, self.norm = self.embed.bfloat16(), self.head.bfloat16(), self.norm.bfloat16()
            self.layers = [tuple(t.bfloat16() for t in layer) for layer in self.layers]
        # Each weight matrix becomes a function x -> x W^T.
        if precision == "int8":
            lin = int8_linear
        else:
            lin = lambda w: (lambda x: F.linear(x, w))  # noqa: E731
        self.layers = [(n1, lin(wqkv), lin(wo), n2, lin(wgu), lin(wd)) for n1, wqkv, wo, n2, wgu, wd in self.layers]
        self.head_fn = lin(self.head)
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.hd, 2).float() / self.hd))
        ang = torch.outer(torch.arange(ctx).float(), inv)
        self.cos = torch.cat([ang, ang], -1).cos().to(self.dtype)
        self.sin = torch.cat([ang, ang], -1).sin().to(self.dtype)
        self.k = torch.zeros(self.L, self.KVH, ctx, self.hd, dtype=self.dtype)
        self.v = torch.zeros(self.L, self.KVH, ctx, self.hd, dtype=self.dtype)

    def rms(self, x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, cos, sin):
        h = self.hd // 2
        return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

    def forward(self, ids, pos):
        """ids: list of T tokens at positions pos..pos+T-1; returns last-token logits."""
        T, C, hd, H, KVH = len(ids), self.C, self.hd, self.H, self.KVH
        x = self.embed[torch.tensor(ids)]
        cos, sin = self.cos[pos:pos + T], self.sin[pos:pos + T]
        mask = None
        if T > 1:
            mask = torch.full((T, pos + T), float("-inf"), dtype=self.dtype).triu(pos + 1)
        for l, (n1, wqkv, wo, n2, wgu, wd) in enumerate(self.layers):
            qkv = wqkv(self.rms(x, n1))
            q = qkv[:, :C].view(T, H, hd).transpose(0, 1)
            k = qkv[:, C:C + KVH * hd].view(T, KVH, hd).transpose(0, 1)
            v = qkv[:, C + KVH * hd:].view(T, KVH, hd).transpose(0, 1)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            self.k[l, :, pos:pos + T] = k
            self.v[l, :, pos:pos + T] = v
            K, V = self.k[l, :, :pos + T], self.v[l, :, :pos + T]
            if H != KVH:
                K, V = K.repeat_interleave(H // KVH, 0), V.repeat_interleave(H // KVH, 0)
            s = torch.matmul(q, K.transpose(1, 2)) * (1.0 / math.sqrt(hd))
            if mask is not None:
                s = s + mask
            a = torch.matmul(torch.softmax(s, -1), V).transpose(0, 1).reshape(T, C)
            x = x + wo(a)
            gu = wgu(self.rms(x, n2))
            x = x + wd(F.silu(gu[:, :self.I]) * gu[:, self.I:])
        return self.head_fn(self.rms(x[-1:], self.norm))[0]


def forward_batch(dec, ids, pos, k, v):
    """ids: [B, T] tokens at positions pos..pos+T-1, caches k, v: [L, B, KVH, ctx, hd];
    returns the last position's logits [B, V]."""
    B, T = ids.shape
    C, hd, H, KVH = dec.C, dec.hd, dec.H, dec.KVH
    x = dec.embed[ids]
    cos, sin = dec.cos[pos:pos + T], dec.sin[pos:pos + T]
    mask = torch.full((T, pos + T), float("-inf")).triu(pos + 1) if T > 1 else None
    for l, (n1, wqkv, wo, n2, wgu, wd) in enumerate(dec.layers):
        qkv = wqkv(dec.rms(x, n1))
        q = qkv[..., :C].view(B, T, H, hd).transpose(1, 2)
        kk = qkv[..., C:C + KVH * hd].view(B, T, KVH, hd).transpose(1, 2)
        vv = qkv[..., C + KVH * hd:].view(B, T, KVH, hd).transpose(1, 2)
        q, kk = dec.rope(q, cos, sin), dec.rope(kk, cos, sin)
        k[l, :, :, pos:pos + T] = kk
        v[l, :, :, pos:pos + T] = vv
        a = F.scaled_dot_product_attention(q, k[l, :, :, :pos + T], v[l, :, :, :pos + T], attn_mask=mask)
        x = x + wo(a.transpose(1, 2).reshape(B, T, C))
        gu = wgu(dec.rms(x, n2))
        x = x + wd(F.silu(gu[..., :dec.I]) * gu[..., dec.I:])
    return dec.head_fn(dec.rms(x[:, -1], dec.norm))


def sample(d, k, prompts, prompt_tokens, tokens):
    """Self-play's generation as a PyTorch user would batch it: the prompt once, its cache
    copied to K rows, then K samples a step (multinomial at temperature 1) for a fixed
    number of tokens (no early stop: the same count for every sample)."""
    ctx = prompt_tokens + tokens + 1
    dec = Decoder(d, ctx)
    V = dec.embed.shape[0]
    gen = torch.Generator().manual_seed(1)
    total, t_all = 0, 0.0
    with torch.inference_mode():
        for p in range(prompts + 1):  # the first is a warm-up, not timed
            prompt = torch.tensor([[(i * 37 + p * 11 + 1) % V for i in range(prompt_tokens)]])
            kc = torch.zeros(dec.L, k, dec.KVH, ctx, dec.hd)
            vc = torch.zeros(dec.L, k, dec.KVH, ctx, dec.hd)
            t0 = time.perf_counter()
            logits = forward_batch(dec, prompt, 0, kc[:, :1], vc[:, :1])
            kc[:, 1:, :, :prompt_tokens] = kc[:, :1, :, :prompt_tokens]
            vc[:, 1:, :, :prompt_tokens] = vc[:, :1, :, :prompt_tokens]
            logits = logits.expand(k, V)
            pos = prompt_tokens
            for i in range(tokens):
                tok = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)
                if i == tokens - 1:
                    break
                logits = forward_batch(dec, tok, pos, kc, vc)
                pos += 1
            dt = time.perf_counter() - t0
            if p > 0:
                total += k * tokens
                t_all += dt
    print(json.dumps({"engine": "pytorch", "version": torch.__version__.split("+")[0], "k": k, "prompts": prompts,
                      "prompt_tokens": prompt_tokens, "tokens": tokens, "generated": total, "seconds": t_all,
                      "tokens_per_s": total / t_all, "threads": torch.get_num_threads()}))


def decode(d, tokens, prompt_tokens, precision):
    dec = Decoder(d, prompt_tokens + tokens + 1, precision)
    V = dec.embed.shape[0]
    prompt = [(i * 37 + 1) % V for i in range(prompt_tokens)]

    def run(n):
        logits = dec.forward(prompt, 0)
        t0 = time.perf_counter()
        ids, pos = [], len(prompt)
        for i in range(n):
            tok = int(torch.argmax(logits))
            ids.append(tok)
            if i == n - 1:
                break
            logits = dec.forward([tok], pos)
            pos += 1
        return ids, time.perf_counter() - t0

    with torch.inference_mode():
        run(16)  # warm-up
        ids, dt = run(tokens)
    print(json.dumps({"engine": "pytorch", "version": torch.__version__.split("+")[0], "precision": precision,
                      "tokens": len(ids), "decode_s": dt, "tokens_per_s": len(ids) / dt,
                      "threads": torch.get_num_threads(), "ids": ids}))


if __name__ == "__main__":
    a = sys.argv[1:]
    torch.set_num_threads(2)
    if len(a) >= 2 and a[0] == "make":
        make(a[1])
    elif len(a) >= 2 and a[0] == "decode":
        o = dict(zip(a[2::2], a[3::2]))
        prec = o.get("--precision", "fp32")
        if prec not in ("fp32", "bf16", "int8"):
            sys.exit(f"error: --precision must be fp32, bf16 or int8, not '{prec}'")
        decode(a[1], int(o.get("--tokens", 200)), int(o.get("--prompt-tokens", 8)), prec)
    elif len(a) >= 2 and a[0] == "sample":
        o = dict(zip(a[2::2], a[3::2]))
        sample(a[1], int(o.get("--k", 8)), int(o.get("--prompts", 24)), int(o.get("--prompt-tokens", 24)),
               int(o.get("--tokens", 32)))
    else:
        print(__doc__)
        sys.exit(2)
