"""Trains the tiny model the serve tests share (a CTest fixture): one-digit additions by
imitation, so its answers are sometimes right and sometimes wrong. About 5 s."""
import json
import os
import shutil
import subprocess
import sys

BIN, OUT = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, VERITAS_QUIET="1")
work = OUT + ".work"
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env=ENV, timeout=300)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr[-800:]}")


demos, text, tok, model = (os.path.join(work, x) for x in ("demos.jsonl", "text.txt", "tok.json", "model"))
run("tasks", "demos", "--suite", "arith", "--op", "add", "--max-digits", "1", "--n", "3000", "--lang", "en",
    "--error-rate", "0.3", "--seed", "3", "-o", demos)
with open(text, "w") as f:
    for line in open(demos):
        j = json.loads(line)
        f.write(j["prompt"] + "\n" + j["completion"] + "\n")
run("tokenizer", "train", "--input", text, "--vocab-size", "300", "--split-digits", "-o", tok)
run("train", "--sft", demos, "--tokenizer", tok, "--hidden-size", "48", "--layers", "2", "--heads", "2",
    "--intermediate-size", "128", "--max-seq-len", "128", "--seq", "64", "--batch", "16", "--steps", "120",
    "--warmup", "10", "--lr", "1e-2", "--eval-every", "0", "--out", model)
shutil.rmtree(OUT, ignore_errors=True)
os.rename(model, OUT)  # atomic: a test never sees half a model
shutil.rmtree(work)
print("serve test model in", OUT)
