#!/usr/bin/env python3
"""The starting model's own continuations of Chinese prose, as SFT rows (E5).

The calibration phase's Chinese rows are questions answered with 不知道, over and over,
and they cost the model Chinese perplexity that its replies to chat prompts do not give
back (docs/selfplay.md#e5-truth-on-a-real-model). These rows anchor plain Chinese text
instead: a paragraph's first PREFIX characters from the Debian handbook's Chinese
translation (modern technical prose, not the held-out fortunes file), continued by the
starting model at temperature 1. Learning its own samples pulls the model back toward
its starting distribution on such text and nowhere else; the human text is never a
target. Each row is {"prompt": prefix, "answer": continuation} (`veritas train --sft`
puts the loss on the answer).

Usage: plain_replay.py VERITAS MODEL N OUT.jsonl [--prefix 32] [--tokens 96]
"""
import argparse
import glob
import html
import json
import os
import re
import subprocess
import sys

HANDBOOK = "/usr/share/doc/debian-handbook/html/zh-CN"


def paragraphs():
    """Paragraphs of the handbook's Chinese pages with at least 80 Han characters, in file order."""
    files = sorted(glob.glob(os.path.join(HANDBOOK, "*.html")))
    if not files:
        sys.exit(f"plain_replay: no pages under {HANDBOOK} (scripts/setup installs debian-handbook)")
    for f in files:
        text = open(f, encoding="utf-8", errors="replace").read()
        for p in re.findall(r'<div class="para">(.*?)</div>', text, flags=re.S):
            p = html.unescape(re.sub(r"<[^>]+>", "", p))
            p = re.sub(r"\s+", " ", p).strip()
            if len(re.findall(r"[\u4e00-\u9fff]", p)) >= 80:
                yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("veritas")
    ap.add_argument("model")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--prefix", type=int, default=32, help="characters of each paragraph given to the model")
    ap.add_argument("--tokens", type=int, default=96, help="tokens the model continues with")
    args = ap.parse_args()
    paras = list(paragraphs())
    if len(paras) < args.n:
        sys.exit(f"plain_replay: {len(paras)} paragraphs, {args.n} asked for")
    # Spread over the whole handbook rather than its first chapter.
    chosen = [paras[i * len(paras) // args.n] for i in range(args.n)]
    with open(args.out + ".tmp", "w", encoding="utf-8") as out:
        for i, p in enumerate(chosen):
            prefix = p[:args.prefix]
            r = subprocess.run([args.veritas, "sample", "--model", args.model, "--prompt", prefix, "--temperature", "1",
                                "--seed", str(i + 1), "--max-tokens", str(args.tokens), "--precision", "bf16", "-q"],
                               capture_output=True, text=True, check=True)
            if not r.stdout.startswith(prefix):
                sys.exit(f"plain_replay: the output does not start with the prompt: {r.stdout[:80]!r}")
            # A token cut inside a character prints as U+FFFD; the row keeps the whole characters.
            answer = r.stdout[len(prefix):].replace("\ufffd", "")
            out.write(json.dumps({"id": f"plain-zh-{i}", "prompt": prefix, "answer": answer},
                                 ensure_ascii=False) + "\n")
            print(f"plain_replay: {i + 1}/{args.n}", file=sys.stderr, end="\r")
    os.replace(args.out + ".tmp", args.out)
    print(f"\nplain_replay: {args.n} continuations -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
