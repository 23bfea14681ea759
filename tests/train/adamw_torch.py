"""Five AdamW steps of veritas (tests/train/tools/adamw_tool) against torch.optim.AdamW.

Parameters: two matrices (decayed) and a 1-D norm weight (no decay, its own param group,
as veritas does); a different learning rate each step, as a schedule gives. Parameters
and both moments must agree within 1e-6 relative.
Usage: /usr/bin/python3 adamw_torch.py PATH/TO/adamw_tool
"""
import json
import os
import subprocess
import sys
import tempfile

import torch


def main():
    tool = sys.argv[1]
    torch.manual_seed(0)
    shapes = {"model.layers.0.mlp.up_proj.weight": (6, 4),
              "model.layers.0.input_layernorm.weight": (4,),
              "model.embed_tokens.weight": (5, 4)}
    betas, eps, wd = (0.9, 0.95), 1e-8, 0.1
    lrs = [1e-3, 5e-3, 1e-2, 7e-3, 2e-3]
    params = {n: torch.randn(*s, dtype=torch.float32) for n, s in shapes.items()}
    grads = [{n: torch.randn(*s, dtype=torch.float32) * (0.1 + k) for n, s in shapes.items()} for k in range(5)]

    def flat(t):
        return [float(x) for x in t.reshape(-1).tolist()]

    doc = {"beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": wd,
           "params": [{"name": n, "shape": list(s), "data": flat(params[n])} for n, s in shapes.items()],
           "steps": [{"lr": lr, "grads": [flat(g[n]) for n in shapes]} for lr, g in zip(lrs, grads)]}
    with tempfile.TemporaryDirectory() as d:
        inp, outp = os.path.join(d, "in.json"), os.path.join(d, "out.json")
        with open(inp, "w") as f:
            json.dump(doc, f)
        subprocess.run([tool, inp, outp], check=True)
        with open(outp) as f:
            ours = {r["name"]: r for r in json.load(f)}

    tp = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    decay = [tp[n] for n in shapes if len(shapes[n]) >= 2]
    nodecay = [tp[n] for n in shapes if len(shapes[n]) < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": nodecay, "weight_decay": 0.0}], lr=lrs[0], betas=betas, eps=eps)
    for lr, g in zip(lrs, grads):
        for group in opt.param_groups:
            group["lr"] = lr
        for n in shapes:
            tp[n].grad = g[n].clone()
        opt.step()

    worst = 0.0
    failures = []
    for n in shapes:
        st = opt.state[tp[n]]
        for key, ref in (("data", tp[n].detach()), ("exp_avg", st["exp_avg"]), ("exp_avg_sq", st["exp_avg_sq"])):
            got = torch.tensor(ours[n][key], dtype=torch.float64)
            want = ref.reshape(-1).to(torch.float64)
            rel = ((got - want).abs() / want.abs().clamp_min(1e-30)).max().item()
            worst = max(worst, rel)
            if rel > 1e-6:
                failures.append(f"{n} {key}: max relative error {rel:.3e}")
    print(f"AdamW vs torch.optim.AdamW ({torch.__version__}), 5 steps: max relative error {worst:.3e}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
