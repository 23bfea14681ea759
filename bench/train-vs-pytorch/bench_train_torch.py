#!/usr/bin/python3
"""PyTorch side of bench/train-vs-pytorch: the reference model (tests/reference/llama_ref.py)
trained on one fixed random batch with torch.optim.AdamW; prints one JSON line."""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
from llama_ref import Llama  # noqa: E402

PRESETS = {
    "small": (dict(vocab_size=8192, hidden_size=384, intermediate_size=1024, num_hidden_layers=6,
                   num_attention_heads=6, num_key_value_heads=6), 8, 256),
    "124m": (dict(vocab_size=50257, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, num_key_value_heads=12), 4, 64),
    "124m-2k": (dict(vocab_size=50257, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, num_key_value_heads=12), 4, 512),
    "tiny": (dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4), 2, 32),
}


def train_flops(c, B, T):  # same formula as bench_train.cpp
    C, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = C // c["num_attention_heads"]
    KC = c["num_key_value_heads"] * hd
    per_layer = 2 * C * C + 2 * C * KC + 3 * C * I
    mm = (c["num_hidden_layers"] * per_layer + V * C) * 2.0 * B * T
    att = c["num_hidden_layers"] * 2.0 * 2.0 * B * c["num_attention_heads"] * (T * (T + 1) / 2.0) * hd
    return 3.0 * (mm + att)


def time_training(loss_fn, opt, a, cfg, B, T, side):
    """Times a.steps training steps after a.warmup, the optimizer apart; the JSON record
    bench/train-vs-pytorch/run reads (both PyTorch peers use it)."""
    opt_s = [0.0]  # time in zero_grad + optimizer, reported separately

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        opt_s[0] += time.perf_counter() - t0
        loss = loss_fn()
        loss.backward()
        t0 = time.perf_counter()
        opt.step()
        opt_s[0] += time.perf_counter() - t0
        return loss.item()

    for _ in range(a.warmup):
        loss = step()
    opt_s[0] = 0.0
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    return {"side": side, "config": a.config, "ms_per_step": med * 1e3, "best_ms": times[0] * 1e3,
            "optimizer_ms": opt_s[0] / a.steps * 1e3,
            "tokens_per_s": B * T / med, "gflops": train_flops(cfg, B, T) / med / 1e9,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "loss": loss}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="small", choices=PRESETS)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, B, T = PRESETS[a.config]
    cfg = dict(cfg, tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0)
    torch.manual_seed(0)
    model = Llama(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    # foreach=True: the multi-tensor AdamW, the faster one on CPU.
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    g = torch.Generator().manual_seed(7)
    inputs = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    targets = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)

    loss_fn = lambda: model.loss(model(inputs), targets)
    print(json.dumps(time_training(loss_fn, opt, a, cfg, B, T, "pytorch")))

if __name__ == "__main__":
    main()
