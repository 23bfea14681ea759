"""`veritas self-improve` end to end through the binary, on a tiny model trained here by
imitation of reversed-digit sums of 1-digit numbers:

* a run writes rounds.jsonl (round 0 = the start, then one line per round with accuracy
  per length), accuracy.svg, data/round-R.jsonl and a loadable checkpoint;
* kept answers: with the verifier every one is correct; the majority arm logs how many are;
* --rounds 1 then --resume --rounds 3 ends with the same weights and logs as 3 rounds at once;
* SIGKILL after the first round, then --resume: the same final weights again;
* a first round on --device cpu-staged resumed on the CPU: the same again;
* --lookahead asks a share one digit up and keeps those answers with their level;
  with --frontier-share, a resumed run equals an uninterrupted one;
* --end-bias reaches the samples, never the test; --time-limit ends the run after a round;
* a copied run folder resumes into the copy, not the original;
* --filter none trains on the demonstrations only; bad settings give clear errors.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_common import arith_model, collecting_runner, read, rounds, untimed  # noqa: E402

BIN = sys.argv[1]
fail = []
ENV = dict(os.environ, VERITAS_QUIET="1")
run = collecting_runner(BIN, fail, ENV)


TIMING = {"cpu_seconds", "joules", "total_cpu_seconds", "total_joules"}


def weights(out):
    return read(os.path.join(out, "checkpoint", "model.safetensors"))


with tempfile.TemporaryDirectory() as d:
    model = arith_model(run, d, 300, demo_args=("--format", "reversed", "--error-rate", "0.1"), seq=48)
    demos = os.path.join(d, "demos.jsonl")

    base = ["--model", model, "--demos", demos, "--questions", "12", "--k", "4", "--start-level", "1",
            "--max-level", "2", "--steps", "6", "--batch", "8", "--seq", "48", "--eval-lengths", "1", "2", "3",
            "--eval-n", "8", "--threshold", "0.3", "--threads", "1", "--seed", "5"]
    full = os.path.join(d, "full")
    run("self-improve", *base, "--rounds", "3", "-o", full)
    rs = rounds(full)
    if [r["round"] for r in rs] != [0, 1, 2, 3]:
        fail.append(f"rounds.jsonl rounds: {[r['round'] for r in rs]}")
    for r in rs:
        if sorted(r.get("accuracy", {}).keys(), key=int) != ["1", "2", "3"]:
            fail.append(f"round {r['round']}: accuracy per length missing: {r}")
    for name in ("accuracy.svg", "checkpoint/model.safetensors", "checkpoint/tokenizer.json"):
        if not os.path.exists(os.path.join(full, name)):
            fail.append(f"missing {name}")
    kept = 0
    for i in (1, 2, 3):
        f = os.path.join(full, "data", f"round-{i}.jsonl")
        rows = [json.loads(l) for l in open(f)] if os.path.exists(f) else None
        if rows is None:
            fail.append(f"missing data/round-{i}.jsonl")
            continue
        kept += len(rows)
        if not all(x["correct"] for x in rows):
            fail.append(f"round {i}: the verifier filter kept a wrong answer")
        if len(rows) != rs[i]["sampled"]["kept"]:
            fail.append(f"round {i}: {len(rows)} rows, rounds.jsonl says {rs[i]['sampled']['kept']}")
    if kept == 0:
        fail.append("the verifier filter kept nothing in 3 rounds (the tiny model should solve some 1-digit sums)")
    # The level moves exactly as the rule says.
    for r in rs[1:]:
        want = r["level"] + 1 if r["sampled"]["advance_rate"] >= 0.3 and r["level"] < 2 else r["level"]
        if r["next_level"] != want:
            fail.append(f"round {r['round']}: level {r['level']} -> {r['next_level']}, rate {r['sampled']['advance_rate']}")

    # Stop after one round, then continue: identical to the uninterrupted run.
    part = os.path.join(d, "part")
    run("self-improve", *base, "--rounds", "1", "-o", part)
    run("self-improve", "--resume", "--rounds", "3", "-o", part)
    # The resume above passes no --threads: the run keeps the count it was started with
    # (on some CPUs the sums depend on it).
    saved = json.loads(read(os.path.join(part, "checkpoint", "train_state.json"), "r"))["extra"]["config"]
    if saved.get("threads") != 1:
        fail.append(f"the run's settings do not keep --threads 1: {saved.get('threads')}")
    if weights(part) != weights(full):
        fail.append("--rounds 1 then --resume --rounds 3: weights differ from an uninterrupted run")
    if untimed(rounds(part), TIMING) != untimed(rs, TIMING):
        fail.append("--rounds 1 then --resume: rounds.jsonl differs from an uninterrupted run")

    # The first round on the device code path (cpu-staged: the CPU's kernels behind
    # uploads and downloads, as on a GPU), the rest resumed on the CPU: the same run.
    moved = os.path.join(d, "moved")
    run("self-improve", *base, "--rounds", "1", "--device", "cpu-staged", "--sample-device", "cpu", "-o", moved)
    run("self-improve", "--resume", "--rounds", "3", "-o", moved)
    if weights(moved) != weights(full) or untimed(rounds(moved), TIMING) != untimed(rs, TIMING):
        fail.append("a round on --device cpu-staged, then resumed on the CPU: not the uninterrupted CPU run")

    # SIGKILL once round 1 is saved, then resume.
    killed = os.path.join(d, "killed")
    p = subprocess.Popen([BIN, "self-improve", *base, "--rounds", "3", "-o", killed], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while len(rounds(killed)) < 2 and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    if len(rounds(killed)) >= 4:
        fail.append("the run ended before the kill: the test did not interrupt it")
    run("self-improve", "--resume", "-o", killed)
    if weights(killed) != weights(full):
        fail.append("SIGKILL + --resume: weights differ from an uninterrupted run")

    # Lookahead and frontier weighting: a share of the problems one digit above the level,
    # kept with their own level; resumed runs rebuild the levels from data/ and match.
    ahead = ["--lookahead", "0.5", "--frontier-share", "0.4"]
    la, la_part = os.path.join(d, "ahead"), os.path.join(d, "ahead-part")
    run("self-improve", *base, *ahead, "--rounds", "3", "-o", la)
    run("self-improve", *base, *ahead, "--rounds", "1", "-o", la_part)
    run("self-improve", "--resume", "--rounds", "3", "-o", la_part)
    if weights(la) != weights(la_part) or untimed(rounds(la), TIMING) != untimed(rounds(la_part), TIMING):
        fail.append("--lookahead/--frontier-share: --rounds 1 then --resume differs from an uninterrupted run")
    for r in rounds(la)[1:]:
        s = r["sampled"]
        if r["level"] < 2 and (s.get("ahead_level") != r["level"] + 1 or s.get("ahead_asked") != 6
                               or s["asked"] != 6 or not 0 <= s["ahead_solve_rate"] <= 1):
            fail.append(f"--lookahead 0.5: round {r['round']}: {s}")
        f = os.path.join(la, "data", f"round-{r['round']}.jsonl")
        levels = {json.loads(l)["level"] for l in open(f)} if os.path.exists(f) else set()
        if not levels <= {r["level"], min(r["level"] + 1, 2)}:
            fail.append(f"--lookahead: round {r['round']} at level {r['level']} kept levels {levels}")
    if weights(la) == weights(full):
        fail.append("--lookahead/--frontier-share changed nothing")

    # --end-bias -30: no sample ever ends, so none is right; the test stays greedy and
    # unbiased (no training steps: the accuracy after the round is the start's). It starts
    # from the 3-round run's weights, which answer some test questions right whatever the
    # CPU (the imitation model alone may answer none, and then a leak could not show).
    eb = os.path.join(d, "eb")
    no_steps = [("0" if i > 0 and base[i - 1] == "--steps" else a) for i, a in enumerate(base)]
    no_steps[no_steps.index("--model") + 1] = os.path.join(full, "checkpoint")
    run("self-improve", *no_steps, "--end-bias", "-30", "--rounds", "1", "-o", eb)
    er = rounds(eb)
    if len(er) != 2 or er[1]["sampled"]["solve_rate"] != 0 or rs[1]["sampled"]["solve_rate"] == 0:
        fail.append(f"--end-bias -30: rounds {er}, unbiased {rs[1]['sampled']}")
    elif not any(er[0]["accuracy"].values()):
        fail.append(f"--end-bias: the starting model answers no test question right ({er[0]['accuracy']}), "
                    "so a bias leaking into the test could not show")
    elif er[1]["accuracy"] != er[0]["accuracy"]:
        fail.append(f"--end-bias changed the test: {er[0]['accuracy']} -> {er[1]['accuracy']}")

    # --time-limit: the round that passes it is the last one, saved as usual.
    tl = os.path.join(d, "tl")
    run("self-improve", *base, "--time-limit", "0.001", "--rounds", "3", "-o", tl)
    if [r["round"] for r in rounds(tl)] != [0, 1]:
        fail.append(f"--time-limit 0.001: rounds {[r['round'] for r in rounds(tl)]}")

    # A copied run folder resumes into the copy (the saved settings name the original).
    cp = os.path.join(d, "copy")
    shutil.copytree(full, cp)
    before = read(os.path.join(full, "rounds.jsonl"))
    run("self-improve", "--resume", "--rounds", "4", "--end-bias", "-1", "-o", cp)
    if read(os.path.join(full, "rounds.jsonl")) != before or [r["round"] for r in rounds(cp)] != [0, 1, 2, 3, 4]:
        fail.append("resuming a copied run folder: the original changed or the copy did not grow")
    st = json.loads(read(os.path.join(cp, "checkpoint", "train_state.json")))
    if st["extra"]["config"].get("end_bias") != -1 or st["extra"]["config"].get("out_dir") != cp:
        fail.append(f"resumed copy's settings: {st['extra']['config']}")

    # Majority filter: never reads the truth, logs how many kept answers were right.
    maj = os.path.join(d, "maj")
    run("self-improve", *base, "--filter", "majority", "--rounds", "1", "-o", maj)
    mr = rounds(maj)
    if len(mr) == 2:
        s = mr[1]["sampled"]
        if not 0 <= s["kept_correct"] <= s["kept"] or s["advance_rate"] != s["agreement_rate"]:
            fail.append(f"majority round: {s}")
    else:
        fail.append("majority run wrote no round")

    # More imitation: no data files, trains on the demonstrations.
    imi = os.path.join(d, "imi")
    run("self-improve", *base, "--filter", "none", "--rounds", "1", "-o", imi)
    ir = rounds(imi)
    if len(ir) != 2 or "sampled" in ir[1] or os.path.exists(os.path.join(imi, "data")) or weights(imi) == read(
            os.path.join(model, "checkpoint", "model.safetensors")):
        fail.append(f"--filter none: {ir}")

    # Errors.
    for args, msg in [(["--filter", "vote"], "--filter"), (["--k", "1", "--filter", "majority"], "--k"),
                      (["--threshold", "0"], "--threshold"),
                      (["--start-level", "9", "--max-level", "4"], "levels"), (["--op", "sub"], "--op"),
                      (["--lookahead", "0.7"], "--lookahead"), (["--frontier-share", "1"], "--frontier-share"),
                      (["--end-bias", "nan"], "--end-bias"), (["--time-limit", "-1"], "--time-limit")]:
        r = run("self-improve", "--model", model, "--demos", demos, *args, "-o", os.path.join(d, "bad"), ok=False)
        if r.returncode == 0 or msg not in r.stderr:
            fail.append(f"{args}: exit {r.returncode}, stderr {r.stderr[-300:]!r}")
    r = run("self-improve", *base, "-o", full, ok=False)
    if r.returncode == 0 or "--resume" not in r.stderr:
        fail.append(f"reusing a run folder without --resume: {r.stderr[-300:]!r}")
    r = run("self-improve", "--resume", "-o", os.path.join(d, "nothing"), ok=False)
    if r.returncode == 0 or "no self-improvement checkpoint" not in r.stderr:
        fail.append(f"--resume of an empty folder: {r.stderr[-300:]!r}")

if fail:
    print("FAIL\n" + "\n".join(fail))
    sys.exit(1)
print("ok")
