#!/usr/bin/env python3
"""Data-parallel training under mpirun on loopback (docs/scale.md).

usage: mpi_test.py VERITAS_BIN CASE    CASE: curve | zero | kill | reshard | sft | device

A tiny model (2 layers, width 32, vocab 64) on synthetic shards, 1 thread per rank.
mpirun missing is a failure, not a skip (scripts/setup installs openmpi-bin).

Tolerance (curve, zero): 2 ranks x batch B sum two half-batch gradients where one
process sums one batch of 2B rows inside its matrix products, so the fp32 sums round in
a different order (relative error ~1e-7 per step). Over 50 AdamW steps at lr 1e-2 the
measured differences are 6e-8 relative on the loss and 6e-7 absolute on the parameters
(weights are O(0.1)); the bounds, 1e-6 and 1e-5, leave a margin of ~15x. A different
global batch (a rank reading the wrong rows, a missing rank's gradients) moves the loss
by > 1e-3, which the curve case checks it can tell apart.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_common import expect, mpi_env, mpirun, rank_pid, safetensors  # noqa: E402

LOSS_RTOL = 1e-6
PARAM_ATOL = 1e-5

BIN = sys.argv[1]
CASE = sys.argv[2]
ENV = mpi_env()
MPI = mpirun()
MODEL = ["--seq", "16", "--vocab-size", "64", "--hidden-size", "32", "--layers", "2", "--heads", "2",
         "--intermediate-size", "64", "--lr", "1e-2", "--warmup", "5", "--threads", "1", "--eval-every", "0"]


def make_data(d):
    rng = np.random.default_rng(1)
    os.makedirs(d, exist_ok=True)
    for name, n in (("train_000000.bin", 20000), ("val_000000.bin", 2000)):
        toks = ((np.arange(n) * 7 + rng.integers(0, 4, n)) % 64).astype("<u2")
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"VRTSHRD1" + struct.pack("<IIQQ", 1, 2, n, 0) + toks.tobytes())


def train(ranks, out, *args, zero=0, check=True, popen=False):
    cmd = ([*MPI, "-np", str(ranks)] if ranks > 0 else []) + [BIN, "train", "--data", DATA, "--out", out, *MODEL,
                                                                 *args]
    if zero:
        cmd += ["--zero", "1"]
    if popen:
        return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-3000:]}")
    return r


def losses(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return {rec["step"]: rec["loss"] for rec in map(json.loads, f)}


def params(run):
    return safetensors(os.path.join(run, "checkpoint", "model.safetensors"))


def same_within(a, b, what):
    la, lb = losses(a), losses(b)
    expect(sorted(la) == sorted(lb), f"{what}: both logged the same steps")
    worst = max(abs(la[s] - lb[s]) / abs(lb[s]) for s in la)
    expect(worst <= LOSS_RTOL, f"{what}: loss curves agree to {worst:.2e} relative (bound {LOSS_RTOL})")
    pa, pb = params(a), params(b)
    diff = max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pb)
    expect(diff <= PARAM_ATOL, f"{what}: parameters agree to {diff:.2e} absolute (bound {PARAM_ATOL})")
    return diff


def same_bits(a, b, what):
    pa, pb = params(a), params(b)
    expect(all(np.array_equal(pa[k], pb[k]) for k in pb), f"{what}: parameters are bit-identical")


def case_curve():
    one = os.path.join(TMP, "one")
    two = os.path.join(TMP, "two")
    train(0, one, "--steps", "50", "--batch", "8")
    train(2, two, "--steps", "50", "--batch", "4")
    same_within(two, one, "2 ranks x batch 4 vs 1 process x batch 8")
    # The bound is not vacuous: a different global batch (2 x 8 rows) leaves it.
    other = os.path.join(TMP, "other")
    train(2, other, "--steps", "50", "--batch", "8")
    la, lb = losses(other), losses(one)
    expect(max(abs(la[s] - lb[s]) for s in la) > 1e-3, "a different global batch is told apart")


def case_device():
    """The device code path on 2 ranks (cpu-staged: the CPU's kernels behind uploads and
    downloads; its gradient buckets, started during the backward pass as NCCL's are on
    GPUs, summed with MPI) against the CPU's data parallelism: the same runs bit for bit.
    A run stopped on the device path (time limit) resumes on the CPU."""
    cpu, dev, moved = (os.path.join(TMP, x) for x in ("cpu", "dev", "moved"))
    train(2, cpu, "--steps", "30", "--batch", "4")
    train(2, dev, "--steps", "30", "--batch", "4", "--device", "cpu-staged")
    expect(losses(dev) == losses(cpu), "2 ranks on cpu-staged: the CPU run's losses bit for bit")
    same_bits(dev, cpu, "2 ranks on cpu-staged vs 2 ranks on cpu")
    train(2, moved, "--steps", "30", "--batch", "4", "--device", "cpu-staged", "--step-delay-ms", "20",
          "--time-limit", "0.2")
    stopped = max(losses(moved))
    expect(5 <= stopped < 30, f"the cpu-staged run stopped early (step {stopped})")
    train(2, moved, "--resume", "--steps", "30", "--batch", "4", "--device", "cpu", "--time-limit", "0",
          "--step-delay-ms", "0")
    expect(losses(moved) == losses(cpu), f"stopped on cpu-staged at step {stopped}, resumed on cpu: the same losses")
    same_bits(moved, cpu, "stopped on cpu-staged, resumed on cpu vs 2 ranks on cpu")
    # ZeRO-1 on the device path (shards on the backend, NCCL's reduce-scatter and
    # all-gather on GPUs, MPI's here): the CPU's ZeRO-1 run bit for bit.
    zc, zd = os.path.join(TMP, "zero-cpu"), os.path.join(TMP, "zero-dev")
    train(2, zc, "--steps", "30", "--batch", "4", zero=1)
    train(2, zd, "--steps", "30", "--batch", "4", "--device", "cpu-staged", zero=1)
    expect(losses(zd) == losses(zc), "ZeRO-1, 2 ranks on cpu-staged: the CPU run's losses bit for bit")
    same_bits(zd, zc, "ZeRO-1, 2 ranks on cpu-staged vs on cpu")


def case_zero():
    plain = os.path.join(TMP, "plain")
    zero = os.path.join(TMP, "zero")
    train(2, plain, "--steps", "50", "--batch", "4", "--save-every", "20")
    train(2, zero, "--steps", "50", "--batch", "4", "--save-every", "20", zero=1)
    same_within(zero, plain, "ZeRO-1 vs plain data parallel, 2 ranks")
    # Its checkpoint holds the whole optimizer state: it resumes without ZeRO, on one process.
    for name, ranks, z in (("zero-to-1", 0, 0), ("zero-to-2", 2, 1)):
        d = os.path.join(TMP, name)
        shutil.copytree(zero, d, symlinks=True)
        train(ranks, d, "--resume", "--steps", "60", "--batch", "8" if ranks == 0 else "4", zero=z)
        expect(max(losses(d)) == 60, f"ZeRO-1 checkpoint resumes ({name})")
    same_within(os.path.join(TMP, "zero-to-2"), os.path.join(TMP, "zero-to-1"), "ZeRO-1 resume on 2 ranks vs 1")


def case_kill():
    run = os.path.join(TMP, "run")
    steps = ["--steps", "30", "--batch", "4", "--save-every", "5"]
    p = train(2, run, *steps, "--step-delay-ms", "150", popen=True)
    ck = os.path.join(run, "checkpoint", "train_state.json")

    def saved_step():
        try:
            with open(ck) as f:
                return json.load(f)["step"]
        except (OSError, ValueError):  # not written yet, or read during a swap
            return -1

    deadline = time.time() + 60
    while time.time() < deadline and saved_step() < 10 and p.poll() is None:
        time.sleep(0.05)
    expect(saved_step() >= 10 and p.poll() is None, "the run wrote a checkpoint at step >= 10 and still runs")
    pid = rank_pid(1, "train", TMP)
    expect(pid is not None, "found rank 1's process")
    os.kill(pid, signal.SIGKILL)
    t0 = time.time()
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("FAIL: the job hung after rank 1 was killed")
    took = time.time() - t0
    expect(p.returncode != 0, f"the job failed (exit {p.returncode}) after rank 1 was killed")
    expect(took < 15, f"the job stopped {took:.1f} s after the kill (limit 15 s)")
    said = [l.strip() for l in err.splitlines() if "rank 1" in l or "signal 9" in l]
    expect(bool(said), "the error names the dead rank: " + (said[0] if said else err[-500:]))
    at = json.load(open(os.path.join(run, "checkpoint", "train_state.json")))["step"]
    # Reference: an uninterrupted 2-rank run from a copy of that checkpoint.
    ref = os.path.join(TMP, "ref")
    shutil.copytree(run, ref, symlinks=True)
    train(2, run, "--resume", *steps)
    train(2, ref, "--resume", *steps)
    same_bits(run, ref, f"restart from step {at} vs an uninterrupted run from that checkpoint")
    la, lb = losses(run), losses(ref)
    expect(max(la) == 30 and la == lb, "the two loss logs are identical")
    # And the uninterrupted run from the start passes through the same states.
    full = os.path.join(TMP, "full")
    train(2, full, *steps)
    same_bits(run, full, "restarted run vs a run never killed")


def case_reshard():
    two = os.path.join(TMP, "two")
    train(2, two, "--steps", "20", "--batch", "4")
    to1 = os.path.join(TMP, "to1")
    shutil.copytree(two, to1, symlinks=True)
    train(0, to1, "--resume", "--steps", "40", "--batch", "8")
    expect(max(losses(to1)) == 40, "a 2-rank checkpoint resumes on 1 process")
    one = os.path.join(TMP, "one")
    train(0, one, "--steps", "20", "--batch", "8")
    to2 = os.path.join(TMP, "to2")
    shutil.copytree(one, to2, symlinks=True)
    train(2, to2, "--resume", "--steps", "40", "--batch", "4")
    expect(max(losses(to2)) == 40, "a 1-process checkpoint resumes on 2 ranks")
    # Same global batch and the data cursor carried over: the continuations agree too.
    cont1 = os.path.join(TMP, "cont1")
    shutil.copytree(two, cont1, symlinks=True)
    train(2, cont1, "--resume", "--steps", "40", "--batch", "4")
    same_within(to1, cont1, "2-rank checkpoint continued on 1 process vs on 2 ranks")


def case_sft():
    # SFT: masked batches (only answer tokens count) split over the ranks like shards.
    sft = os.path.join(TMP, "sft.jsonl")
    text = os.path.join(TMP, "text.txt")
    rng = np.random.default_rng(2)
    with open(sft, "w") as f, open(text, "w") as t:
        for _ in range(200):
            a, b = (int(x) for x in rng.integers(0, 50, 2))
            prompt, answer = f"What is {a} plus {b}?", f" {a + b}" + " and that is all" * int(rng.integers(0, 3))
            f.write(json.dumps({"prompt": prompt, "answer": answer}) + "\n")
            t.write(prompt + answer + "\n")
    tok = os.path.join(TMP, "tok.json")
    r = subprocess.run([BIN, "tokenizer", "train", "--input", text, "--vocab-size", "300", "-o", tok],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: tokenizer train: " + r.stderr[-1000:])
    sft_args = ["--sft", sft, "--tokenizer", tok, "--seq", "32", "--hidden-size", "32", "--layers", "2",
                "--heads", "2", "--intermediate-size", "64", "--lr", "1e-2", "--warmup", "5", "--threads", "1",
                "--eval-every", "0", "--steps", "30"]

    def run(ranks, out, batch):
        cmd = ([*MPI, "-np", str(ranks)] if ranks else []) + [BIN, "train", "--out", out, "--batch", batch,
                                                              *sft_args]
        r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-3000:]}")

    one, two = os.path.join(TMP, "sft1"), os.path.join(TMP, "sft2")
    run(0, one, "8")
    run(2, two, "4")
    same_within(two, one, "SFT: 2 ranks x batch 4 vs 1 process x batch 8")


DATA = None
TMP = tempfile.mkdtemp(prefix="veritas-mpi-")
try:
    DATA = os.path.join(TMP, "data")
    make_data(DATA)
    {"curve": case_curve, "zero": case_zero, "kill": case_kill, "reshard": case_reshard, "sft": case_sft,
     "device": case_device}[CASE]()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
