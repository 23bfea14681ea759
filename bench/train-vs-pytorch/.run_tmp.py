#!/usr/bin/python3
"""Training speed, veritas vs PyTorch, same model, same batch, same optimizer (AdamW):
forward + backward + optimizer step. Each side runs in its own process (so each peak RSS
is its own), the sides alternating, REPS times; each side's best run is kept.

  bench/train-vs-pytorch/run [small|124m|124m-2k|all] [--reps N] [--build DIR] [--no-compile]

The peer is the strongest of the PyTorch variants measured in the same run:
- PyTorch 2.x from the project's .venv (scripts/setup --bench), written for speed
  (torch_fast.py: fused QKV and gate/up, scaled_dot_product_attention, RoPE tables
  computed once, F.rms_norm, fused AdamW): eager fp32, eager with bf16 autocast (on CPUs
  with AVX-512 BF16), and torch.compile'd fp32 (unless --no-compile);
- Debian's PyTorch 1.13 running the test reference model (bench_train_torch.py), the
  peer of earlier runs, for continuity.
Every side runs on 2 threads: torch.set_num_threads(2), OPENBLAS_NUM_THREADS=2,
OMP_WAIT_POLICY=PASSIVE, VERITAS_THREADS=2. The fp32 ceiling is a 2048^3 cblas_sgemm
timed in the same run, before and after each config (the better is kept).
124m-2k is the 124M model at 2,048 tokens a step (4 x 512), where the model, not the
optimizer, dominates the step. The last line is the smaller ratio over the configs run."""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DESC = {
    "small": "SMALL: 6 layers, hidden 384, 6 heads, intermediate 1024, vocab 8192, batch 8 x seq 256",
    "124m": "124M: 12 layers, hidden 768, 12 heads, intermediate 3072, vocab 50257, batch 4 x seq 64",
    "124m-2k": "124M: 12 layers, hidden 768, 12 heads, intermediate 3072, vocab 50257, batch 4 x seq 512",
    "tiny": "tiny (smoke test)",
}
STEPS = {"small": (4, 1), "124m": (4, 1), "124m-2k": (3, 1), "tiny": (5, 1)}
VENV_PY = "/work/wt-gguf/.venv/bin/python"


def has_bf16(build):
    out = subprocess.run([os.path.join(build, "veritas"), "--version"], capture_output=True, text=True)
    return "avx512-bf16" in out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default="all", choices=["small", "124m", "124m-2k", "tiny", "all"])
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch.compile variant (slow to compile)")
    ap.add_argument("--reps", type=int, default=2, help="alternating runs per side (best is kept)")
    ap.add_argument("--build", default=os.environ.get("VERITAS_BUILD", os.path.join(ROOT, "build")))
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "bench_train_veritas")
    if not os.path.exists(exe):
        sys.exit(f"error: {exe} not found; build the target bench_train_veritas (or pass --build)")
    subprocess.run(["true"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(ROOT, "bench", "header"), a.build, "train-vs-pytorch"], check=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", OMP_WAIT_POLICY="PASSIVE",
               VERITAS_QUIET="1", VERITAS_THREADS="2")
    fast = [VENV_PY, os.path.join(HERE, "torch_fast.py")]
    subprocess.run(fast + ["--check"], check=True, env=env)  # the peer is the same model
    peers = {"pytorch-1.13-reference": ["/usr/bin/python3", os.path.join(HERE, "bench_train_torch.py")],
             "pytorch-2.x-eager-fp32": fast}
    if has_bf16(a.build):
        peers["pytorch-2.x-eager-bf16"] = fast + ["--bf16"]
    if not a.no_compile:
        peers["pytorch-2.x-compiled-fp32"] = fast + ["--compile"]

    def run(cmd):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} failed:\n{r.stderr}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    configs = ["small", "124m", "124m-2k"] if a.config == "all" else [a.config]
    ratios = []
    for cfg in configs:
        steps, warm = STEPS[cfg]
        # The ceiling is measured next to each config's runs: on a shared machine the load
        # changes between configs.
        ceiling = max(run([exe, "--sgemm"])["sgemm_gflops"] for _ in range(2))
        best = {}
        for rep in range(a.reps):
            sides = ["veritas"] + list(peers)
            for side in sides if rep % 2 == 0 else sides[::-1]:
                args = ["--config", cfg, "--steps", str(steps), "--warmup", str(warm)]
                if side == "veritas":
                    cmd = [exe] + args
                else:
                    # torch.compile compiles during the warm-up steps: give it two.
                    extra = ["--warmup", "2"] if "compiled" in side else []
                    cmd = peers[side] + args + ["--threads", "2"] + extra
                r = run(cmd)
                if side not in best or r["tokens_per_s"] > best[side]["tokens_per_s"]:
                    best[side] = r
        ceiling = max(ceiling, run([exe, "--sgemm"])["sgemm_gflops"])
        print(DESC[cfg])
        print(f"  fp32 ceiling: cblas_sgemm 2048^3 on 2 threads = {ceiling:.1f} GFLOP/s (best of before/after)")
        peer = max(peers, key=lambda p: best[p]["tokens_per_s"])
        for side in ["veritas"] + list(peers):
            r = best[side]
            print(f"  {side:26s} {r['ms_per_step']:9.1f} ms/step (optimizer {r['optimizer_ms']:6.1f}) "
                  f"{r['tokens_per_s']:9.1f} tokens/s "
                  f"{r['gflops']:7.1f} GFLOP/s ({100 * r['gflops'] / ceiling:4.1f}% of sgemm) "
                  f"peak RSS {r['peak_rss_mb']:7.1f} MB  loss {r['loss']:.4f}")
        ratio = best["veritas"]["tokens_per_s"] / best[peer]["tokens_per_s"]
        mem = best["veritas"]["peak_rss_mb"] / best[peer]["peak_rss_mb"]
        print(f"  strongest peer: {peer}")
        print(f"  ratio peak RSS veritas/{peer} ({cfg}): {mem:.2f}")
        print(f"  ratio tokens/s veritas/{peer} ({cfg}): {ratio:.2f}")
        ratios.append(ratio)
    print(f"ratio tokens/s veritas/strongest pytorch: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
