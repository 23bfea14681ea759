"""What the command-line tests in Python share (tests/train/mpi_test.py,
tests/selfplay/mpi_selfplay.py, tests/selfplay/cli_selfplay.py): the loopback mpirun
command, checks that print what they saw, safetensors weights as numpy arrays, finding an
MPI rank's process, and the tiny one-digit-addition model the self-play tests start from.
Runs under Debian's python3 (numpy from python3-numpy)."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np


def mpirun():
    """mpirun on loopback (shared memory between this machine's ranks, no network), as
    root too, more ranks than cores allowed. Missing is a failure, not a skip."""
    exe = shutil.which("mpirun")
    if exe is None:
        sys.exit("FAIL: mpirun not found (install openmpi-bin: scripts/setup)")
    return [exe, "--oversubscribe", "--mca", "btl", "self,vader", "--mca", "pml", "ob1",
            "--mca", "mpi_yield_when_idle", "1"]


def mpi_env(**extra):
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                OMPI_MCA_rmaps_base_oversubscribe="1", **extra)


def expect(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)
    print("ok:", msg)


def safetensors(path):
    """{name: flat float32 array} of an fp32 safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    out = {}
    for k, v in json.loads(raw[8:8 + n]).items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4")
    return out


def rank_pid(rank, *needles):
    """The pid of the process of MPI rank `rank` whose command line contains every needle
    (the subcommand, the run folder), or None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and all(n.encode() in cmd for n in needles):
            return int(pid)
    return None


def collecting_runner(bin_, fail, env):
    """run(*args, ok=True): runs one veritas command; a failure (when ok) is appended to
    `fail` with the end of its stderr, so a test reports every failure at its end."""
    def run(*args, ok=True):
        r = subprocess.run([bin_, *args], capture_output=True, text=True, env=env)
        if ok and r.returncode != 0:
            fail.append(f"{' '.join(args)}: exit {r.returncode}: {r.stderr[-600:]}")
        return r
    return run


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def rounds(out):
    """The records of OUT/rounds.jsonl, [] before the first is written."""
    p = os.path.join(out, "rounds.jsonl")
    return [json.loads(line) for line in open(p)] if os.path.exists(p) else []


def untimed(rs, timing):
    return [{k: v for k, v in r.items() if k not in timing} for r in rs]


def arith_model(run, d, steps, *train_args, demo_args=("--lang", "en", "--error-rate", "0.3"), seq=64):
    """A tiny model that learnt one-digit additions by imitation of demonstrations with
    slips (30% by default), so its answers are sometimes right and sometimes wrong.
    `run(*args)` runs one veritas command; the demonstrations go to d/demos.jsonl and the
    model to d/model."""
    demos, text, tok, model = (os.path.join(d, x) for x in ("demos.jsonl", "text.txt", "tok.json", "model"))
    run("tasks", "demos", "--suite", "arith", "--op", "add", "--max-digits", "1", "--n", "3000", *demo_args,
        "--seed", "3", "-o", demos)
    with open(text, "w") as f:
        for line in open(demos):
            j = json.loads(line)
            f.write(j["prompt"] + "\n" + j["completion"] + "\n")
    run("tokenizer", "train", "--input", text, "--vocab-size", "300", "--split-digits", "-o", tok)
    run("train", "--sft", demos, "--tokenizer", tok, "--hidden-size", "48", "--layers", "2", "--heads", "2",
        "--intermediate-size", "128", "--max-seq-len", "128", "--seq", str(seq), "--batch", "16", "--steps", str(steps),
        "--warmup", "10", "--lr", "1e-2", "--eval-every", "0", "--out", model, *train_args)
    return model
