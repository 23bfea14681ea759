"""The strongest PyTorch 2.x training step a user who wants speed on a CPU would write,
for bench/train-vs-pytorch: the same Llama-style model as veritas (RMSNorm, RoPE,
SwiGLU, tied embeddings) with fused QKV and gate/up projections,
F.scaled_dot_product_attention, RoPE tables computed once, F.rms_norm, the fused AdamW,
and optionally bf16 autocast (where the CPU has bf16 math) and torch.compile.
Prints one JSON line like bench_train_torch.py.

usage: torch_fast.py --config small|124m|tiny [--steps N] [--warmup N] [--threads N]
                     [--compile] [--bf16]
       torch_fast.py --check     (same loss as tests/reference/llama_ref.py on one batch)
"""
import argparse
import json
import torch
import torch.nn.functional as F

from bench_train_torch import PRESETS, time_training


class FastLlama(torch.nn.Module):
    def __init__(self, c, T):
        super().__init__()
        C, I, V, L = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
        self.H, self.KVH = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = C // self.H
        self.eps = c["rms_norm_eps"]
        init = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        self.embed = init(V, C)
        self.qkv = torch.nn.ParameterList([init((self.H + 2 * self.KVH) * self.hd, C) for _ in range(L)])
        self.o = torch.nn.ParameterList([init(C, C) for _ in range(L)])
        self.gate_up = torch.nn.ParameterList([init(2 * I, C) for _ in range(L)])
        self.down = torch.nn.ParameterList([init(C, I) for _ in range(L)])
        self.norms = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(C)) for _ in range(2 * L + 1)])
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.hd, 2).float() / self.hd))
        freqs = torch.outer(torch.arange(T).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def rope(self, x):
        h = x.shape[-1] // 2
        return x * self.cos + torch.cat([-x[..., h:], x[..., :h]], dim=-1) * self.sin

    def forward(self, inputs, targets):
        B, T = inputs.shape
        C, H, KVH, hd = self.embed.shape[1], self.H, self.KVH, self.hd
        x = F.embedding(inputs, self.embed)
        for l in range(len(self.qkv)):
            h = F.rms_norm(x, (C,), self.norms[2 * l], self.eps)
            q, k, v = F.linear(h, self.qkv[l]).split([H * hd, KVH * hd, KVH * hd], dim=-1)
            q = self.rope(q.view(B, T, H, hd).transpose(1, 2))
            k = self.rope(k.view(B, T, KVH, hd).transpose(1, 2))
            v = v.view(B, T, KVH, hd).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=KVH != H)
            x = x + F.linear(a.transpose(1, 2).reshape(B, T, C), self.o[l])
            h = F.rms_norm(x, (C,), self.norms[2 * l + 1], self.eps)
            g, u = F.linear(h, self.gate_up[l]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(g) * u, self.down[l])
        x = F.rms_norm(x, (C,), self.norms[-1], self.eps)
        logits = F.linear(x, self.embed)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def check():
    """The peer must be the same model as veritas's: load the reference model's weights
    into the fused layout and compare the loss on a random batch (tiny and a GQA shape)."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
    from llama_ref import Llama
    for kvh in (4, 2):
        cfg, B, T = PRESETS["tiny"]
        cfg = dict(cfg, num_key_value_heads=kvh, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True)
        ref, fast = Llama(cfg), FastLlama(cfg, T)
        w = ref.w
        with torch.no_grad():
            fast.embed.copy_(w("model.embed_tokens.weight"))
            for l in range(cfg["num_hidden_layers"]):
                p = f"model.layers.{l}."
                fast.qkv[l].copy_(torch.cat([w(p + f"self_attn.{n}_proj.weight") for n in "qkv"]))
                fast.o[l].copy_(w(p + "self_attn.o_proj.weight"))
                fast.gate_up[l].copy_(torch.cat([w(p + "mlp.gate_proj.weight"), w(p + "mlp.up_proj.weight")]))
                fast.down[l].copy_(w(p + "mlp.down_proj.weight"))
                fast.norms[2 * l].copy_(w(p + "input_layernorm.weight") + 0.01 * torch.randn(cfg["hidden_size"]))
                fast.norms[2 * l + 1].copy_(w(p + "post_attention_layernorm.weight"))
                w(p + "input_layernorm.weight").copy_(fast.norms[2 * l])
            fast.norms[-1].copy_(w("model.norm.weight"))
        x = torch.randint(0, cfg["vocab_size"], (B, T))
        y = torch.randint(0, cfg["vocab_size"], (B, T))
        a, b = ref.loss(ref(x), y).item(), fast(x, y).item()
        print(f"kv heads {kvh}: reference loss {a:.7f}, fused peer {b:.7f}")
        if abs(a - b) > 1e-5 * abs(a):
            raise SystemExit("the fused PyTorch peer is not the reference model")
    print("check: same model")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small", choices=PRESETS)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (inductor, CPU)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the matmuls")
    ap.add_argument("--check", action="store_true", help="compare with the reference model and exit")
    a = ap.parse_args()
    if a.check:
        return check()
    torch.set_num_threads(a.threads)
    cfg, B, T = PRESETS[a.config]
    cfg = dict(cfg, rms_norm_eps=1e-5, rope_theta=10000.0)
    torch.manual_seed(0)
    model = FastLlama(cfg, T)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = torch.compile(model) if a.compile else model
    g = torch.Generator().manual_seed(7)
    inputs = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    targets = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    variant = "pytorch-" + torch.__version__.split("+")[0] + ("-compiled" if a.compile else "-eager") + \
        ("-bf16" if a.bf16 else "-fp32")

    def loss_fn():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            return fwd(inputs, targets)

    print(json.dumps(time_training(loss_fn, opt, a, cfg, B, T, variant)))

if __name__ == "__main__":
    main()
