#!/usr/bin/env python3
"""Reference for the spun detector's language-model features (src/veritas/curate_lm):
the same eight features, and each content token's evidence, computed from llama.cpp's logits (llama-cpp-python, the tool the
GGUF file is made for) and the input embedding dequantized by the gguf package, on the
token ids veritas gives. Independent of veritas's kernels and of its feature code.

Usage: spun_lm_ref.py MODEL.gguf IN.json OUT.json
IN: {"lang": "en"|"zh", "texts": [{"ids": [...]}, ...]}; OUT: a list of feature objects,
each with "per_token" (columns id, nll, gap, neighbour, as `score-spun --per-token`).
"""
import json
import math
import string
import sys

import numpy as np

WINDOW, SKIP, TOPK, COS = 256, 3, 16, 0.35
# Tokens whose value lies within NEAR nats of a thresholded feature's threshold are
# counted per feature ("near"): two implementations of the quantized products may put
# them on either side, so the test allows them on top of its fixed slack.
NEAR = 0.1


def content_flags(llm, lang, n_vocab):
    flags = np.zeros(n_vocab, dtype=bool)
    for i in range(n_vocab):
        b = llm.detokenize([i])
        if lang == "en":
            flags[i] = len(b) >= 2 and b[0:1] == b" " and chr(b[1]) in string.ascii_letters
        else:
            s = b[1:] if b[0:1] == b" " else b
            if len(s) >= 3 and (s[0] & 0xF0) == 0xE0:
                cp = ((s[0] & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F)
                flags[i] = 0x4E00 <= cp <= 0x9FFF
    return flags


class Embeddings:
    """Unit rows of the input embedding, dequantized by the gguf package a row at a time
    (a 262k-token vocabulary would not fit whole in float64)."""

    def __init__(self, path):
        import gguf

        r = gguf.GGUFReader(path)
        self.t = next(t for t in r.tensors if t.name == "token_embd.weight")
        self.rows = {}

    def __getitem__(self, v):
        if v not in self.rows:
            import gguf

            e = gguf.quants.dequantize(self.t.data[v:v + 1], self.t.tensor_type).astype(np.float64).ravel()
            self.rows[v] = e / max(np.linalg.norm(e), 1e-30)
        return self.rows[v]


def features(llm, ids, flags, unit, bos):
    n = nll_s = high = vhigh = miss = gap = p2 = p4 = pev = 0.0
    near = {"high_nll": 0, "very_high_nll": 0, "confident_miss": 0, "neighbour_2": 0, "neighbour_4": 0}
    per_token = {"id": [], "nll": [], "gap": [], "neighbour": []}
    # Every window starts with the BOS token when the file says add_bos_token (llama.cpp
    # adds it to a prompt then).
    step = WINDOW - (bos is not None)
    for start in range(0, len(ids) - 1, step):
        win = ([bos] if bos is not None else []) + ids[start:start + step]
        if len(win) < 2:
            break
        llm.reset()
        llm.eval(win)
        for t in range(SKIP, len(win) - 1):
            target = win[t + 1]
            if not flags[target]:
                continue
            row = np.asarray(llm.scores[t], dtype=np.float64)
            mx = row.max()
            lse = math.log(np.exp(row - mx).sum())
            nll = lse - (row[target] - mx)
            top_lp = -lse
            n += 1
            nll_s += nll
            high += nll > 6
            vhigh += nll > 10
            confident, missed = top_lp >= math.log(0.4), nll > -math.log(0.02)
            miss += confident and missed
            near["high_nll"] += int(abs(nll - 6) < NEAR)
            near["very_high_nll"] += int(abs(nll - 10) < NEAR)
            # A conjunction flips only where one part is near its threshold and the other
            # holds or is near its own.
            c_near, m_near = abs(top_lp - math.log(0.4)) < NEAR, abs(nll + math.log(0.02)) < NEAR
            near["confident_miss"] += int((c_near and (missed or m_near)) or (m_near and (confident or c_near)))
            gap += min(10.0, top_lp + nll)
            top = np.argsort(-row, kind="stable")[:TOPK]
            pref = 0.0
            for v in top:
                if v == target or not flags[v] or row[v] <= row[target]:
                    continue
                if float(unit[v] @ unit[target]) >= COS:
                    pref = max(pref, float(row[v] - row[target]))
            p2 += pref > 2
            p4 += pref > 4
            near["neighbour_2"] += int(abs(pref - 2) < NEAR)
            near["neighbour_4"] += int(abs(pref - 4) < NEAR)
            pev += min(10.0, max(0.0, pref - 2))
            for k, v in (("id", int(target)), ("nll", nll), ("gap", top_lp + nll), ("neighbour", pref)):
                per_token[k].append(v)
    d = max(n, 1)
    return {"tokens": int(n), "mean_nll": nll_s / d, "high_nll": high / d, "very_high_nll": vhigh / d,
            "confident_miss": miss / d,
            "mean_gap": gap / d, "neighbour_2": p2 / d, "neighbour_4": p4 / d, "neighbour_evidence": pev / d,
            "near": near, "per_token": per_token}


def main():
    from llama_cpp import Llama

    model, inp, out = sys.argv[1:4]
    spec = json.load(open(inp, encoding="utf-8"))
    llm = Llama(model, n_ctx=WINDOW, n_batch=WINDOW, logits_all=True, n_threads=2, n_threads_batch=2, verbose=False)
    flags = content_flags(llm, spec["lang"], llm.n_vocab())
    unit = Embeddings(model)
    bos = llm.token_bos() if llm.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true" else None
    res = [features(llm, t["ids"], flags, unit, bos) for t in spec["texts"]]
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
