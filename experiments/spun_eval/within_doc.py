#!/usr/bin/env python3
"""Document-relative language-model features, from the per-token evidence.

Gemma's mean surprisal on clean Chinese text differs by genre (news 4.35, reviews 5.16,
dialog 5.78 nats a content token) by more than spinning at rate 0.30 adds to a document,
so absolute levels do not carry across genres (docs/curation-filters.md). A spinner
changes some words and leaves the rest: its evidence is in the tokens that stand out
against the document's own level. These features measure that, each against the
document's median (nats unless a share):

  nll_spread       mean - median of -log p
  nll_tail         mean of the top 20 % of -log p, minus the median
  spike_4, spike_6 share of content tokens with -log p > median + 4 (+ 6)
  gap_tail         the same tail measure for log p(top) - log p(token)
  neighbour_spike  share with a preferred neighbour (d > 2) and -log p > median + 2

Input: `veritas curate score-spun --lm-en/--lm-zh ... --per-token` output. Output: the
same lines, "per_token" dropped and these features added to "spun"."lm", so that
loso.py --features can fit on them.

Usage: within_doc.py IN.jsonl OUT.jsonl
"""
import json
import os
import sys

import numpy as np

NEW = ["nll_spread", "nll_tail", "spike_4", "spike_6", "gap_tail", "neighbour_spike"]


def tail(v, q=0.2):
    """Mean of the top q share of v, minus its median."""
    s = np.sort(v)
    k = max(1, int(round(q * len(s))))
    return float(s[-k:].mean() - np.median(s))


def features(pt):
    nll, gap, nb = (np.array(pt[k], dtype=np.float64) for k in ("nll", "gap", "neighbour"))
    med = float(np.median(nll))
    return {
        "nll_spread": float(nll.mean() - med),
        "nll_tail": tail(nll),
        "spike_4": float((nll > med + 4).mean()),
        "spike_6": float((nll > med + 6).mean()),
        "gap_tail": tail(gap),
        "neighbour_spike": float(((nb > 2) & (nll > med + 2)).mean()),
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    n = 0
    with open(dst + ".tmp", "w", encoding="utf-8") as out:
        for line in open(src, encoding="utf-8"):
            if not line.strip():
                continue
            r = json.loads(line)
            lm = (r.get("spun") or {}).get("lm")
            if lm is not None:
                pt = lm.pop("per_token", None)
                if pt is None and lm.get("tokens", 0) > 0:
                    sys.exit(f"within_doc: {src}: {r.get('id')}: no per-token evidence (score-spun --per-token)")
                if pt is not None and len(pt["nll"]) > 0:
                    lm.update(features(pt))
                    n += 1
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(dst + ".tmp", dst)
    print(f"within_doc: {n} documents with per-token evidence -> {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
