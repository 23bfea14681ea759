#!/usr/bin/python3
"""PyTorch reference of veritas's group-relative policy-gradient loss (docs/selfplay.md).

  grpo_ref.py DIR   reads DIR/config.json, DIR/model.safetensors and DIR/batch.json
                    (inputs, targets, old_logp, ref_logp, advantage, weight, clip, beta)
                    and writes DIR/ref.safetensors with the loss, the targets'
                    log-probabilities and grad.<param name> for every parameter, all
                    computed by autograd through the llama_ref.py model.

The loss is written here from its formula, independently of the C++ code:
  r = exp(logp - old);  s = min(r A, clamp(r, 1 - eps, 1 + eps) A)
  kl = exp(ref - logp) - (ref - logp) - 1;  loss = sum(w * (-s + beta * kl))
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import Llama, read_safetensors, write_safetensors  # noqa: E402


def main(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(d, "batch.json")) as f:
        b = json.load(f)
    torch.set_num_threads(1)
    model = Llama(cfg, read_safetensors(os.path.join(d, "model.safetensors")), dtype=torch.float64)
    B, T = b["B"], b["T"]
    inputs = torch.tensor(b["inputs"], dtype=torch.long).view(B, T)
    targets = torch.tensor(b["targets"], dtype=torch.long).view(B, T)

    def vec(name):
        return torch.tensor(b[name], dtype=torch.float64).view(B, T)

    old, ref, adv, w = vec("old_logp"), vec("ref_logp"), vec("advantage"), vec("weight")
    eps, beta = b["clip"], b["beta"]
    logits = model(inputs)
    logp = F.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    r = torch.exp(logp - old)
    s = torch.min(r * adv, torch.clamp(r, 1 - eps, 1 + eps) * adv)
    kl = torch.exp(ref - logp) - (ref - logp) - 1
    loss = (w * (-s + beta * kl)).sum()
    loss.backward()
    out = {"loss": np.array([loss.item()], dtype=np.float64), "logp": logp.detach().numpy()}
    for name in model.names:
        out["grad." + name] = model.w(name).grad.numpy()
    write_safetensors(os.path.join(d, "ref.safetensors"), out)
    print(f"grpo reference: loss {loss.item():.8f}, {len(model.names)} parameter gradients written")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
