#!/usr/bin/env python3
"""Format-phase SFT data (docs/selfplay.md, "SmolLM2"): train-split tasks of every suite
in English and Chinese, each answered with the suite's reference final line plus a
Confidence line, rendered as chat messages with a prompt set's system message (and,
with --fewshot, its worked turns). Every answer is scored by `veritas tasks check`
and only those the verifier calls correct are written: verifier-checked demonstrations.

usage: scripts/format-sft-data.py --prompt prompts/answer-protocol/v4 --n 12 -o sft.jsonl
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SUITES = ["arith", "algebra", "units", "physics", "facts", "impossible"]


def read_text(path):
    with open(path, encoding="utf-8") as f:
        t = f.read()
    return t[:-1] if t.endswith("\n") else t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--veritas", default="build/veritas")
    ap.add_argument("--prompt", required=True, help="prompt-set folder (system.L.txt, fewshot.L.jsonl)")
    ap.add_argument("--n", type=int, default=12, help="tasks per suite and language")
    ap.add_argument("--seed", type=int, default=100, help="first task seed (one per suite and language)")
    ap.add_argument("--confidence", type=float, default=0.5, help="the Confidence line's value")
    ap.add_argument("--fewshot", action="store_true", help="include the prompt set's worked turns")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    if not 0.0 <= a.confidence <= 1.0:
        sys.exit("--confidence must be in [0, 1]")
    with tempfile.TemporaryDirectory() as tmp:
        tasks_path = os.path.join(tmp, "tasks.jsonl")
        seed = a.seed
        with open(tasks_path, "w", encoding="utf-8") as out:
            for suite in SUITES:
                for lang in ["en", "zh"]:
                    r = subprocess.run([a.veritas, "tasks", "generate", "--suite", suite, "--split", "train", "--seed",
                                        str(seed), "--n", str(a.n), "--difficulty", json.dumps({"lang": lang}), "-o", "-"],
                                       check=True, capture_output=True, text=True)
                    out.write(r.stdout)
                    seed += 1
        tasks = [json.loads(l) for l in open(tasks_path, encoding="utf-8") if l.strip()]
        answers = []
        for t in tasks:
            ref = t["reference"]
            conf = ("置信度：" if t["lang"] == "zh" else "Confidence: ") + f"{a.confidence:g}"
            answers.append({"id": t["id"], "answer": ref + "\n" + conf})
        ans_path, ver_path = os.path.join(tmp, "answers.jsonl"), os.path.join(tmp, "verdicts.jsonl")
        with open(ans_path, "w", encoding="utf-8") as f:
            for x in answers:
                f.write(json.dumps(x, ensure_ascii=False) + "\n")
        subprocess.run([a.veritas, "tasks", "check", tasks_path, ans_path, "--verdicts", ver_path], check=True,
                       capture_output=True)
        verdict = {}
        for l in open(ver_path, encoding="utf-8"):
            v = json.loads(l)
            verdict[v["id"]] = v["verdict"]
    prompts = {}
    for lang in ["en", "zh"]:
        few = []
        if a.fewshot:
            for l in open(os.path.join(a.prompt, f"fewshot.{lang}.jsonl"), encoding="utf-8"):
                if l.strip():
                    q = json.loads(l)
                    few += [{"role": "user", "content": q["question"]}, {"role": "assistant", "content": q["answer"]}]
        prompts[lang] = [{"role": "system", "content": read_text(os.path.join(a.prompt, f"system.{lang}.txt"))}] + few
    kept = 0
    tmp_out = a.out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8") as f:
        for t, x in zip(tasks, answers):
            if verdict.get(t["id"]) != "correct":
                continue
            msgs = prompts[t["lang"]] + [{"role": "user", "content": t["question"]},
                                         {"role": "assistant", "content": x["answer"]}]
            f.write(json.dumps({"id": t["id"], "messages": msgs}, ensure_ascii=False) + "\n")
            kept += 1
    os.replace(tmp_out, a.out)
    print(f"wrote {kept} of {len(tasks)} demonstrations (verifier-checked) to {a.out}", file=sys.stderr)
    if kept < len(tasks):
        print(f"  {len(tasks) - kept} references the verifier did not accept were left out", file=sys.stderr)


if __name__ == "__main__":
    main()
