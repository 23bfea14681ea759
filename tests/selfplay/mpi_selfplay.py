#!/usr/bin/env python3
"""Data-parallel self-play under mpirun on loopback (docs/scale.md).

usage: mpi_selfplay.py VERITAS_BIN CASE    CASE: round | resume

The fixture is the tiny model of cli_selfplay.py (one-digit additions learnt by imitation,
so its answers are sometimes right, sometimes wrong), 1 thread per rank. mpirun missing is
a failure, not a skip (scripts/setup installs openmpi-bin).

round:  one round, 2 ranks x Q/2 questions vs 1 process x Q questions (GRPO, 2 epochs, a
        KL term, the model proposer too): the questions, samples, verdicts, rewards and
        every count in rounds.jsonl are equal exactly (each question's k samples are drawn
        from its own seed on identical weights, and the statistics are read from one
        table in question order); samples.jsonl is byte-identical. The loss, gradient
        norm, clipped share and KL are fp32/fp64 sums in another order: relative 1e-4.
        The parameters: see PARAM_ATOL. Expert iteration is checked the same way.
resume: a 2-rank run killed (SIGKILL of rank 1) after round 1 resumes on 1 process and
        finishes; a 1-process run resumes on 2 ranks; both agree with uninterrupted runs.

PARAM_ATOL. The one process sums a micro-batch's gradients over its rows inside the
matrix products and adds its micro-batches in turn; two ranks do the same over their
halves (other micro-batches, other padding lengths) and MPI adds the two sums, so the
fp32 gradients differ by rounding (relative ~1e-7 of the sum of the terms' magnitudes).
AdamW's first steps are u = lr * g / (|g| + eps): insensitive to g where |g| >> eps, but
du/dg = lr * eps / (|g| + eps)^2 <= lr / eps where g is a near-cancelling sum, so a
rounding error dg moves that weight by up to lr * dg / eps. With lr 1e-3 and eps 1e-8 a
dg of 1e-12 moves a weight by 1e-7. Measured (printed as "figure:"): one round 1.3e-7
(GRPO) and 6.6e-7 (expert iteration), three rounds 8.6e-7; the bound is 1e-5 = lr / 100.
A round on part of the questions moves weights by ~lr = 1e-3, which the test checks it
tells apart.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_common import arith_model, expect, mpi_env, mpirun, rank_pid, safetensors  # noqa: E402

PARAM_ATOL = 1e-5
STAT_RTOL = 1e-4
LR = "1e-3"

BIN = sys.argv[1]
CASE = sys.argv[2]
ENV = mpi_env(VERITAS_QUIET="1", OPENBLAS_NUM_THREADS="1")
MPI = mpirun()
# Rates and counts must agree exactly; these are sums whose order the rank count changes.
INEXACT = {"loss", "grad_norm", "clipped_share", "kl"}
TIMING = {"seconds", "seconds_generate", "seconds_verify", "seconds_update", "cpu_seconds", "joules",
          "total_joules", "total_seconds", "ranks"}


def run(*args, check=True, timeout=300):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env=ENV, timeout=timeout)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)}: exit {r.returncode}: {r.stderr[-2000:]}")
    return r


def selfplay(ranks, out, *args, popen=False):
    cmd = ([*MPI, "-np", str(ranks)] if ranks > 0 else []) + [BIN, "selfplay", "-o", out, "--threads", "1", *args]
    if popen:
        return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-3000:]}")
    return r


def rounds(out):
    with open(os.path.join(out, "rounds.jsonl")) as f:
        return [json.loads(l) for l in f]


def weights(run_dir):
    return safetensors(os.path.join(run_dir, "checkpoint", "model.safetensors"))


def max_diff(pa, pb):
    return max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pb)


def same_stats(a, b, what):
    ra, rb = rounds(a), rounds(b)
    expect(len(ra) == len(rb), f"{what}: {len(ra)} rounds each")
    for x, y in zip(ra, rb):
        ex = {k: v for k, v in x.items() if k not in TIMING | INEXACT}
        ey = {k: v for k, v in y.items() if k not in TIMING | INEXACT}
        if ex != ey:
            print("differs:", {k: (ex.get(k), ey.get(k)) for k in set(ex) | set(ey) if ex.get(k) != ey.get(k)})
        expect(ex == ey, f"{what}, round {x['round']}: rewards, rates, counts, suites, proposer equal exactly "
                         f"(mean reward {x['mean_reward']:.6f}, correct {x['correct_rate']:.4f}, "
                         f"{x['trained_sequences']} sequences trained)")
        for k in sorted(INEXACT):
            d = abs(x[k] - y[k]) / max(abs(y[k]), 1e-12)
            expect(d <= STAT_RTOL or abs(x[k] - y[k]) <= 1e-12,
                   f"{what}, round {x['round']}: {k} {x[k]:.9g} vs {y[k]:.9g} (relative {d:.1e})")


def same_params(a, b, what):
    d = max_diff(weights(a), weights(b))
    expect(d <= PARAM_ATOL, f"{what}: parameters agree to {d:.2e} absolute (bound {PARAM_ATOL})")
    return d


def case_round():
    # 15 questions: rank 0 asks 8, rank 1 asks 7 (an uneven split), plus 4 proposals that
    # every rank writes and rank 0 learns from; micro-batches of 4 sequences.
    args = ["--model", MODEL, "--suites", "add", "--questions", "15", "--k", "4", "--max-tokens", "80",
            "--start-level", "1", "--max-level", "1", "--lr", LR, "--seed", "9", "--rounds", "1", "--epochs", "2",
            "--kl", "0.1", "--micro-batch", "4", "--proposer", "both", "--proposals", "4"]
    one, two = os.path.join(TMP, "one"), os.path.join(TMP, "two")
    selfplay(0, one, *args)
    selfplay(2, two, *args)
    expect(rounds(two)[0].get("ranks") == 2 and "ranks" not in rounds(one)[0], "the 2-rank round says so")
    same_stats(two, one, "GRPO round, 2 ranks vs 1 process")
    with open(os.path.join(one, "samples.jsonl"), "rb") as f1, open(os.path.join(two, "samples.jsonl"), "rb") as f2:
        expect(f1.read() == f2.read(), "samples.jsonl is byte-identical (rank 0 gathers, question order)")
    d = same_params(two, one, "GRPO round, 2 ranks vs 1 process")
    # Not vacuous: the round moved the weights by far more than the bound, and a job that
    # lost one rank's gradients (here: a run with only rank 0's questions) is told apart.
    start = weights(MODEL)
    moved = max_diff(weights(one), start)
    expect(moved > 100 * PARAM_ATOL, f"the round moved the weights by {moved:.2e} (> 100 x the bound)")
    half = os.path.join(TMP, "half")
    selfplay(0, half, *[a if a != "15" else "8" for a in args])
    apart = max_diff(weights(half), weights(one))
    expect(apart > 20 * PARAM_ATOL, f"a round on part of the questions is told apart ({apart:.2e})")
    # Expert iteration: the same split, the mean over every rank's correct tokens.
    exp = [a for a in args if a not in ("--kl", "0.1")] + ["--algo", "expert"]
    e1, e2 = os.path.join(TMP, "e1"), os.path.join(TMP, "e2")
    selfplay(0, e1, *exp)
    selfplay(2, e2, *exp)
    same_stats(e2, e1, "expert iteration, 2 ranks vs 1 process")
    de = same_params(e2, e1, "expert iteration, 2 ranks vs 1 process")
    print(f"figure: one round, 2 ranks vs 1 process, parameters max |diff|: GRPO {d:.2e}, expert {de:.2e} (lr {LR})")


def saved_round(out):
    try:
        with open(os.path.join(out, "checkpoint", "train_state.json")) as f:
            return json.load(f)["extra"]["round"]
    except (OSError, ValueError, KeyError):  # not written yet, or read during a swap
        return -1


def case_resume():
    args = ["--model", MODEL, "--suites", "add", "--questions", "12", "--k", "4", "--max-tokens", "80",
            "--start-level", "1", "--max-level", "2", "--lr", LR, "--seed", "9", "--rounds", "3"]
    full2 = os.path.join(TMP, "full2")
    selfplay(2, full2, *args)
    # 2 ranks, killed after round 1 (rank 1 gets SIGKILL while the job waits after it).
    run2 = os.path.join(TMP, "run2")
    p = selfplay(2, run2, *args, "--round-delay-ms", "4000", popen=True)
    deadline = time.time() + 120
    while time.time() < deadline and saved_round(run2) < 1 and p.poll() is None:
        time.sleep(0.05)
    expect(saved_round(run2) == 1 and p.poll() is None, "the 2-rank run checkpointed round 1 and still runs")
    pid = rank_pid(1, "selfplay", run2)
    expect(pid is not None, "found rank 1's process")
    os.kill(pid, signal.SIGKILL)
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("FAIL: the job hung after rank 1 was killed")
    expect(p.returncode != 0 and saved_round(run2) == 1, f"the job failed (exit {p.returncode}) at round 1")
    selfplay(0, run2, "--resume", "--rounds", "3")
    expect(len(rounds(run2)) == 3, "the 2-rank run killed after round 1 finished on 1 process")
    same_stats(run2, full2, "killed 2-rank run resumed on 1 process vs uninterrupted 2 ranks")
    same_params(run2, full2, "killed 2-rank run resumed on 1 process vs uninterrupted 2 ranks")
    # And the other way: 1 process for a round, then 2 ranks.
    full1, run1 = os.path.join(TMP, "full1"), os.path.join(TMP, "run1")
    selfplay(0, full1, *args)
    selfplay(0, run1, *[a if a != "3" else "1" for a in args])
    selfplay(2, run1, "--resume", "--rounds", "3")
    same_stats(run1, full1, "1-process run resumed on 2 ranks vs uninterrupted 1 process")
    same_params(run1, full1, "1-process run resumed on 2 ranks vs uninterrupted 1 process")
    same_stats(full1, full2, "uninterrupted 1 process vs 2 ranks, 3 rounds")
    d = same_params(full1, full2, "uninterrupted 1 process vs 2 ranks, 3 rounds")
    print(f"figure: 3 rounds, 2 ranks vs 1 process: parameters max |diff| {d:.2e}")


TMP = tempfile.mkdtemp(prefix="veritas-mpi-selfplay-")
try:
    MODEL = arith_model(run, TMP, 400, "--threads", "2")
    if os.environ.get("KEEP_MODEL"):
        shutil.copytree(MODEL, os.environ["KEEP_MODEL"], symlinks=True, dirs_exist_ok=True)
    {"round": case_round, "resume": case_resume}[CASE]()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
