#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) peer for bench/generate-vs-llamacpp/run: prompt
processing and greedy batch-1 decode on a GGUF file, printed as one JSON line.
  llama_decode.py FILE.gguf --tokens N --prompt-tokens P --threads T"""
import argparse
import json
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--tokens", type=int, default=128)
ap.add_argument("--prompt-tokens", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--label", default="")
a = ap.parse_args()
llm = Llama(a.model, n_ctx=a.prompt_tokens + a.tokens + 8, n_threads=a.threads, n_threads_batch=a.threads,
            n_batch=max(64, a.prompt_tokens), verbose=False)
V = llm.n_vocab()
prompt = [(i * 37 + 1) % V for i in range(a.prompt_tokens)]  # the same ids as bench_generate


def run(n):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    ids = []
    for _ in range(n):
        # Llama.scores is only filled with logits_all=True: read the last logits directly.
        tok = int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(V,))))
        ids.append(tok)
        llm.eval([tok])
    return t1 - t0, time.perf_counter() - t1, ids


run(16)  # warm-up
pre, dec, ids = run(a.tokens)
print(json.dumps({"engine": "llama.cpp", "precision": a.label, "tokens": a.tokens, "tokens_per_s": a.tokens / dec,
                  "prompt_tokens": a.prompt_tokens, "prompt_tokens_per_s": a.prompt_tokens / pre, "ids": ids}))
