"""PyTorch side of bench/train-gpu: the same Llama-style model as veritas
(bench/train-vs-pytorch/torch_fast.py: fused QKV and gate/up, scaled_dot_product_attention
(flash attention on the GPU), F.rms_norm, fused AdamW) on CUDA, with bf16 autocast and
torch.compile, as PyTorch's docs advise for speed; the same presets, batch and FLOP
formula as bench_train_gpu.cpp. Prints one JSON line.

usage: torch_gpu.py --config gpt2|smollm2|tiny [--steps N] [--warmup N] [--no-compile] [--fp32]
                    [--device cuda|cpu]   (cpu: a smoke test of the script itself)
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train-vs-pytorch"))
from bench_train_torch import train_flops  # noqa: E402  (the FLOP formula of both sides)
from torch_fast import FastLlama  # noqa: E402

PRESETS = {  # (config, B, T, micro-batches per step)
    "gpt2": (dict(vocab_size=50257, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, num_key_value_heads=12, rope_theta=10000.0), 16, 1024, 4),
    "smollm2": (dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0), 16, 1024, 4),
    "tiny": (dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, rope_theta=10000.0), 2, 32, 2),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="gpt2", choices=PRESETS)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    a = ap.parse_args()
    cfg, B, T, accum = PRESETS[a.config]
    cfg = dict(cfg, rms_norm_eps=1e-5)
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = a.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    model = FastLlama(cfg, T).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8, fused=dev == "cuda")
    fwd = model if a.no_compile else torch.compile(model)
    g = torch.Generator(device=dev).manual_seed(7)
    batches = [torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=g, device=dev) for _ in range(accum)]

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for b in batches:
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=not a.fp32):
                loss = fwd(b[:, :-1], b[:, 1:]) / accum
            loss.backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return total

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step().item()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    tokens = B * T * accum
    tflops = train_flops(cfg, B * accum, T) / med / 1e12
    side = "pytorch-" + torch.__version__.split("+")[0] + ("-eager" if a.no_compile else "-compiled") + \
        ("-fp32" if a.fp32 else "-bf16")
    print(json.dumps({"side": side, "config": a.config, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
                      "tokens_per_step": tokens, "ms_per_step": med * 1e3, "best_ms": times[0] * 1e3,
                      "tokens_per_s": tokens / med, "tflops": tflops, "mfu": tflops / a.peak_tflops, "loss": loss}))


if __name__ == "__main__":
    main()
