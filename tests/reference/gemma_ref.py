#!/usr/bin/env python3
"""References for Gemma 3 270M (base, Q4_K_M GGUF; tests/infer/gemma_test.cpp). Runs in the
project's .venv; nothing is downloaded; a missing package or model file is an error.

  gemma_ref.py model OUT      transformers' Gemma3 on the GGUF's dequantized weights, fp32:
                              logits of every position of 5 prompts (English, Chinese, code)
                              and 32 greedy tokens after each; llama.cpp (llama-cpp-python,
                              f32 KV cache) on the same file: top-1 at every position of
                              600 tokens of mixed text, with the exact model's top-1 and
                              margin there
  gemma_ref.py tokenizer OUT  >= 900 kB of mixed text and its ids from transformers' Gemma
                              tokenizer loaded from the GGUF and from llama.cpp's
                              tokenize(special=True)
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gemma_file import gemma_path  # noqa: E402
from gguf_ref import mixed_text  # noqa: E402

PROMPTS = [
    "The capital of France is",
    "天空为什么是蓝色的？因为",
    "def fibonacci(n):\n    ",
    "<start_of_turn>user\n用一句话介绍长城。<end_of_turn>\n<start_of_turn>model\n",
    "Once upon a time, in a small village by the sea, there lived",
]


def hf_tokenizer(path):
    from transformers import AutoTokenizer

    d, f = os.path.split(path)
    return AutoTokenizer.from_pretrained(d, gguf_file=f)


def gemma_text(max_chars=None):
    # The mixed text with Gemma's control tokens where it has ChatML's.
    return (mixed_text(max_chars=max_chars).replace("<|im_start|>", "<start_of_turn>").replace("<|im_end|>", "<end_of_turn>")
            .replace("<|endoftext|>", "<eos>"))


def cmd_model(out):
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    path = gemma_path()
    tok = hf_tokenizer(path)
    d, f = os.path.split(path)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    meta = []
    with torch.no_grad():
        for i, p in enumerate(PROMPTS):
            ids = tok(p)["input_ids"]  # <bos> first, as the file's add_bos_token says
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            logits.astype("<f4").tofile(os.path.join(out, f"logits{i}.f32"))
            res = model(torch.tensor([ids]), use_cache=True)
            past, nxt, gen = res.past_key_values, int(res.logits[0, -1].argmax()), []
            for _ in range(32):
                gen.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past, nxt = res.past_key_values, int(res.logits[0, -1].argmax())
            meta.append({"prompt": p, "ids": ids, "greedy": gen})
        # 600 positions of mixed text: llama.cpp's top-1 with an f32 KV cache (type 0 = f32;
        # its default f16 cache moves its own top-1 at a few % of positions), and the exact
        # model's top-1 and its margin over the runner-up as a share of the row's max |logit|.
        ids = tok(gemma_text()[:40_000], add_special_tokens=False)["input_ids"][:599]
        ids = [tok.bos_token_id] + ids
        logits = model(torch.tensor([ids])).logits[0]
    best = logits.topk(2, dim=-1).values
    margin = ((best[:, 0] - best[:, 1]) / logits.abs().max(-1).values).tolist()
    exact = logits.argmax(-1).tolist()
    del model
    llm = Llama(path, n_ctx=700, n_batch=700, logits_all=True, n_threads=2, n_threads_batch=2, type_k=0, type_v=0,
                verbose=False)
    llm.eval(ids)
    top1 = [int(np.argmax(llm.scores[i])) for i in range(len(ids))]
    json.dump({"model": path, "prompts": meta, "ids": ids, "top1": top1, "exact_top1": exact, "exact_margin": margin},
              open(os.path.join(out, "model.json"), "w"), ensure_ascii=False)


def cmd_tokenizer(out):
    from llama_cpp import Llama

    path = gemma_path()
    # 600,000 characters (911 kB, 71,000 of them Chinese) before the edge cases: llama.cpp's
    # special-token pass grows faster than linearly with the text (2.3 MB took minutes).
    text = gemma_text(max_chars=600_000)
    open(os.path.join(out, "text.txt"), "wb").write(text.encode())
    tok = hf_tokenizer(path)
    np.array(tok(text, add_special_tokens=False)["input_ids"], dtype="<i4").tofile(os.path.join(out, "ids-hf.i32"))
    llm = Llama(path, vocab_only=True, verbose=False)
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    np.array(ids, dtype="<i4").tofile(os.path.join(out, "ids-llamacpp.i32"))
    json.dump({"model": path}, open(os.path.join(out, "tokenizer.json"), "w"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("model", "tokenizer"):
        sys.exit(__doc__)
    os.makedirs(sys.argv[2], exist_ok=True)
    {"model": cmd_model, "tokenizer": cmd_tokenizer}[sys.argv[1]](sys.argv[2])
