"""Trains the tiny model the serve tests share (a CTest fixture): one-digit additions by
imitation, so its answers are sometimes right and sometimes wrong. About 5 s."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_common import arith_model  # noqa: E402

BIN, OUT = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, VERITAS_QUIET="1")
work = OUT + ".work"
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env=ENV, timeout=300)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr[-800:]}")


model = arith_model(run, work, 120)
shutil.rmtree(OUT, ignore_errors=True)
os.rename(model, OUT)  # atomic: a test never sees half a model
shutil.rmtree(work)
print("serve test model in", OUT)
