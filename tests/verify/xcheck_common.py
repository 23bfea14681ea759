"""Shared helpers for the cross-check scripts: run the helper, judge answers in bulk."""
import json
import os
import subprocess
import sys
import tempfile

TOOL = sys.argv[1] if len(sys.argv) > 1 else "verify_xcheck"


def gen(suite, n, seed, split="train", difficulty=None):
    args = [TOOL, "gen", suite, str(n), str(seed), split]
    if difficulty is not None:
        args.append(json.dumps(difficulty))
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def judge(tasks, answers):
    """answers: list of (task_id, answer_text); returns list of (verdict, reason)."""
    with tempfile.TemporaryDirectory() as d:
        tp, ap = os.path.join(d, "t.jsonl"), os.path.join(d, "a.jsonl")
        with open(tp, "w") as f:
            for t in tasks:
                f.write(json.dumps(t, ensure_ascii=False) + "\n")
        with open(ap, "w") as f:
            for i, a in answers:
                f.write(json.dumps({"id": i, "answer": a}, ensure_ascii=False) + "\n")
        out = subprocess.run([TOOL, "judge", tp, ap], check=True, capture_output=True, text=True).stdout
    return [tuple((l.split("\t", 1) + [""])[:2]) for l in out.splitlines()]


class Checker:
    def __init__(self, name):
        self.name, self.n, self.fail = name, 0, []

    def expect(self, ok, what):
        self.n += 1
        if not ok:
            self.fail.append(what)

    def done(self, minimum):
        print(f"{self.name}: {self.n} checks, {len(self.fail)} failures")
        for f in self.fail[:20]:
            print("  FAIL:", f)
        if self.n < minimum:
            print(f"  FAIL: only {self.n} checks, need at least {minimum}")
            sys.exit(1)
        sys.exit(1 if self.fail else 0)
