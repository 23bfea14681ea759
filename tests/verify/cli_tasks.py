"""End-to-end test of `veritas tasks generate | check | demos | protocol-demos` through the binary."""
import collections
import json
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
# The reference answer of open problems (impossible suite): an abstention, with no Confidence line.
DONT_KNOW = ("Answer: I don't know", "答案：不知道")


def demo_answer(final, lang, c):
    """The answer a demonstration writes: the final line, then a Confidence line unless c is None."""
    return final + ("" if c is None else "\n" + ("置信度：" if lang == "zh" else "Confidence: ") + f"{c:g}")

fail = []


def run(*args, ok=True):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        fail.append(f"{args}: exit {r.returncode}: {r.stderr[-400:]}")
    return r


with tempfile.TemporaryDirectory() as d:
    for suite in ["arith", "algebra", "units", "physics", "facts", "impossible"]:
        tp = os.path.join(d, f"{suite}.jsonl")
        run("tasks", "generate", "--suite", suite, "--n", "40", "--seed", "5", "--split", "dev", "-o", tp)
        tasks = [json.loads(l) for l in open(tp, encoding="utf-8")]
        if len(tasks) != 40:
            fail.append(f"{suite}: {len(tasks)} tasks")
            continue
        # 40 answers: 20 references, 10 abstentions, 5 malformed, 5 missing.
        ap = os.path.join(d, f"{suite}.answers.jsonl")
        with open(ap, "w", encoding="utf-8") as f:
            for i, t in enumerate(tasks[:35]):
                a = t["reference"] if i < 20 else ("Answer: I don't know" if i < 30 else "no final line")
                f.write(json.dumps({"id": t["id"], "answer": a}, ensure_ascii=False) + "\n")
        vp = os.path.join(d, f"{suite}.verdicts.jsonl")
        r = run("tasks", "check", tp, ap, "--json", "--verdicts", vp)
        s = json.loads(r.stdout)
        imp = sum(1 for t in tasks[20:30] if t["truth"]["kind"] == "impossible")
        want = {"n": 35, "correct": 20 + imp, "abstained": 10 - imp, "malformed": 5, "wrong": 0, "unanswered": 5}
        got = {k: s[k] for k in want}
        if got != want:
            fail.append(f"{suite}: summary {got}, expected {want}")
        if sum(1 for _ in open(vp)) != 35:
            fail.append(f"{suite}: verdicts file")
        text = run("tasks", "check", tp, ap).stdout
        if "correct" not in text or "malformed" not in text:
            fail.append(f"{suite}: text summary: {text}")
    # Bad input: a clear error naming the line, never a crash.
    bad = os.path.join(d, "bad.jsonl")
    open(bad, "w").write('{"id": "x"}\n')
    r = run("tasks", "check", bad, bad, ok=False)
    if r.returncode != 1 or "bad.jsonl:1" not in r.stderr:
        fail.append(f"bad tasks file: exit {r.returncode}, {r.stderr}")
    r = run("tasks", "generate", "--suite", "arith", "--difficulty", "{oops", "-o", bad, ok=False)
    if r.returncode != 1 or "difficulty" not in r.stderr:
        fail.append(f"bad difficulty: exit {r.returncode}, {r.stderr}")
    # A number beyond the double range: an error, not an escaped exception.
    r = run("tasks", "generate", "--suite", "arith", "--difficulty", '{"digits": 1e999}', "-o", bad, ok=False)
    if r.returncode != 1 or "difficulty" not in r.stderr:
        fail.append(f"difficulty 1e999: exit {r.returncode}, {r.stderr}")
    # Demos: the error rate and the coherent rule show up in the file.
    dp = os.path.join(d, "demos.jsonl")
    run("tasks", "demos", "--suite", "arith", "--n", "200", "--seed", "1", "--error-rate", "0.5", "--error-kind", "rule",
        "--rule", "drop_carry", "--digits", "8", "--op", "add", "-o", dp)
    demos = [json.loads(l) for l in open(dp, encoding="utf-8")]
    ruled = [x for x in demos if x["error_kind"] == "rule:drop_carry"]
    if not (70 < len(ruled) < 130) or not all(x["correct"] for x in demos if x["error_kind"] == "") or \
            not all(set(x) >= {"prompt", "completion", "correct", "error_kind"} for x in demos):
        fail.append(f"demos: {len(ruled)} ruled of {len(demos)}")
    for x in demos[:5]:
        if not x["completion"].splitlines()[-1].startswith(("Answer: ", "答案：")):
            fail.append("demo without an Answer line")
    if "--error-rate" not in run("tasks", "demos", "--help").stdout:
        fail.append("demos --help")
    # Protocol demonstrations: every suite in both languages behind the prompt set's system
    # message; each kept answer is the reference plus a Confidence line (none after "I don't
    # know", which claims nothing: the reference of open problems), and `tasks check` (run
    # here, independently) calls every one correct with that confidence.
    prompt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "prompts", "answer-protocol", "v5")
    pp = os.path.join(d, "protocol.jsonl")
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "5", "--confidence", "0.7", "-o", pp)
    rows = [json.loads(l) for l in open(pp, encoding="utf-8")]
    if len(rows) < 50 or f"wrote {len(rows)} of 60 demonstrations" not in r.stderr:
        fail.append(f"protocol-demos: {len(rows)} rows; {r.stderr}")
    system = {lang: open(os.path.join(prompt, f"system.{lang}.txt"), encoding="utf-8").read().rstrip("\n")
              for lang in ("en", "zh")}
    tasks_path, answers_path = os.path.join(d, "pt.jsonl"), os.path.join(d, "pa.jsonl")
    run("tasks", "protocol-demos", "--tasks-only", "--split", "train", "--n", "5", "-o", tasks_path)
    by_id = {t["id"]: t for t in map(json.loads, open(tasks_path, encoding="utf-8"))}
    if len(by_id) != 60 or {t["suite"] for t in by_id.values()} != {"arith", "algebra", "units", "physics", "facts",
                                                                     "impossible"} or \
            {t["lang"] for t in by_id.values()} != {"en", "zh"}:
        fail.append(f"protocol-demos --tasks-only: {len(by_id)} tasks")
    with open(answers_path, "w", encoding="utf-8") as f:
        for x in rows:
            m, t = x["messages"], by_id.get(x["id"])
            if t is None or [y["role"] for y in m] != ["system", "user", "assistant"] or \
                    m[0]["content"] != system[t["lang"]] or m[1]["content"] != t["question"] or \
                    m[2]["content"] != demo_answer(t["reference"], t["lang"], None if t["reference"] in DONT_KNOW else 0.7):
                fail.append(f"protocol-demos row {x['id']}: {m}")
                break
            f.write(json.dumps({"id": x["id"], "answer": m[2]["content"]}, ensure_ascii=False) + "\n")
    verdicts = os.path.join(d, "pv.jsonl")
    s = json.loads(run("tasks", "check", tasks_path, answers_path, "--json", "--verdicts", verdicts).stdout)
    dont_know = sum(by_id[x["id"]]["reference"] in DONT_KNOW for x in rows)
    if s["correct"] != len(rows) or not 0 < dont_know < len(rows) or \
            any(v.get("confidence") != (None if by_id[v["id"]]["reference"] in DONT_KNOW else 0.7)
                for v in map(json.loads, open(verdicts))):
        fail.append(f"protocol-demos answers: {s}")
    # Graded demonstrations: each task's confidence is its share of right samples in an
    # eval answers file; below --answer-above the demonstration abstains. `tasks check`
    # scores the abstentions abstained (right on impossible tasks) and reads the confidences.
    graded = os.path.join(d, "graded.jsonl")
    ids = sorted(by_id)
    share = {i: [0.0, 0.25, 0.5, 0.75, 1.0][n % 5] for n, i in enumerate(ids)}
    with open(graded, "w", encoding="utf-8") as f:
        for i in ids:
            for k in range(4):
                f.write(json.dumps({"id": i, "sample": k, "verdict": "correct" if k < 4 * share[i] else
                                    ["wrong", "malformed", "abstained"][k % 3]}) + "\n")
    gp = os.path.join(d, "graded-demos.jsonl")
    # A question without an answer is refused in the suite's words with Confidence 1 whatever
    # the record; an abstention elsewhere states no confidence (it claims nothing).
    def expected(i):
        t, p = by_id[i], share[i]
        if t["truth"]["kind"] == "impossible":
            return t["reference"], "correct", None if t["reference"] in DONT_KNOW else 1
        if p >= 0.5:
            return t["reference"], "correct", p
        return ("答案：不知道" if t["lang"] == "zh" else "Answer: I don't know"), "abstained", None
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "5", "--graded", graded, "-o", gp)
    grows = [json.loads(l) for l in open(gp, encoding="utf-8")]
    impossible = {i for i, t in by_id.items() if t["truth"]["kind"] == "impossible"}
    expect_abstain = sum(1 for x in grows if share[x["id"]] < 0.5 or x["id"] in impossible)
    if len(grows) < 50 or f"{len(grows)} of 60 demonstrations" not in r.stderr or len(impossible) < 10 or \
            f"{expect_abstain} abstain or refuse" not in r.stderr or expect_abstain < 15:
        fail.append(f"protocol-demos --graded: {len(grows)} rows, {expect_abstain} expected to abstain; {r.stderr}")
    with open(answers_path, "w", encoding="utf-8") as f:
        for x in grows:
            a, t = x["messages"][-1]["content"], by_id[x["id"]]
            final, _, c = expected(x["id"])
            if a != demo_answer(final, t["lang"], c):
                fail.append(f"protocol-demos --graded row {x['id']} (p {share[x['id']]}): {a!r}")
                break
            f.write(json.dumps({"id": x["id"], "answer": a}, ensure_ascii=False) + "\n")
    s = json.loads(run("tasks", "check", tasks_path, answers_path, "--json", "--verdicts", verdicts).stdout)
    v = {j["id"]: j for j in map(json.loads, open(verdicts, encoding="utf-8"))}
    for x in grows:
        _, want, c = expected(x["id"])
        got = v.get(x["id"], {})
        if got.get("verdict") != want or got.get("confidence") != c:
            fail.append(f"protocol-demos --graded {x['id']}: {got}, wanted {want} with confidence {c}")
            break
    # --repeat-answered R writes each claim (an answer, a refusal) R times, each abstention once.
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "5", "--graded", graded, "--repeat-answered", "3",
            "-o", gp)
    rep = collections.Counter(json.loads(l)["id"] for l in open(gp, encoding="utf-8"))
    if rep != {x["id"]: 1 if share[x["id"]] < 0.5 and x["id"] not in impossible else 3 for x in grows}:
        fail.append(f"protocol-demos --repeat-answered 3: {rep}")
    # --mix appends chat rows as they are (ids kept); a row without messages is an error
    # naming its line. --easy takes each suite's easiest knobs.
    mix = os.path.join(d, "mix.jsonl")
    extra = [{"id": "chat-1", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
             {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]}]
    with open(mix, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in extra))
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "5", "--confidence", "0.7", "--mix", mix, "--mix", mix,
            "-o", gp)
    mrows = [json.loads(l) for l in open(gp, encoding="utf-8")]
    if mrows[:len(rows)] != rows or mrows[len(rows):] != [extra[0], {"id": "mix-1", **extra[1]}, extra[0],
                                                         {"id": "mix-3", **extra[1]}] or "appended 4 chat rows" not in r.stderr:
        fail.append(f"protocol-demos --mix: {mrows[len(rows):]}; {r.stderr}")
    with open(mix, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "bad", "prompt": "x"}) + "\n")
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "1", "--mix", mix, "-o", gp, ok=False)
    if r.returncode == 0 or "mix.jsonl:3" not in r.stderr or "messages" not in r.stderr:
        fail.append(f"protocol-demos --mix, a row without messages: exit {r.returncode}, {r.stderr}")
    easy_path = os.path.join(d, "easy.jsonl")
    run("tasks", "protocol-demos", "--tasks-only", "--easy", "--n", "30", "-o", easy_path)
    easy = [json.loads(l) for l in open(easy_path, encoding="utf-8")]
    knobs = {"arith": {"digits": 1}, "algebra": {"vars": 1, "digits": 1}, "units": {"quantities": 1, "digits": 1},
             "physics": {"digits": 2}, "facts": {"table": "elements"}}
    for t in easy:
        want = knobs.get(t["suite"], {})
        if t["truth"]["kind"] != "impossible" and any(t["difficulty"].get(k) != v for k, v in want.items()):
            fail.append(f"protocol-demos --easy: {t['id']} has difficulty {t['difficulty']}")
            break
    if len(easy) != 360:
        fail.append(f"protocol-demos --easy: {len(easy)} tasks")
    with open(graded, "w", encoding="utf-8") as f:  # a graded file that misses tasks is an error
        f.write(json.dumps({"id": ids[0], "verdict": "correct"}) + "\n")
    r = run("tasks", "protocol-demos", "--prompt", prompt, "--n", "5", "--graded", graded, "-o", gp, ok=False)
    if r.returncode == 0 or "has no answer in" not in r.stderr:
        fail.append(f"protocol-demos --graded, tasks missing: exit {r.returncode}, {r.stderr}")
    r = run("tasks", "protocol-demos", "--n", "1", "-o", pp, ok=False)
    if r.returncode == 0 or "--prompt" not in r.stderr:
        fail.append(f"protocol-demos without --prompt: exit {r.returncode}, {r.stderr}")
    r = run("tasks", "protocol-demos", "--prompt", d, "--n", "1", "-o", pp, ok=False)
    if r.returncode == 0 or "system.en.txt" not in r.stderr:
        fail.append(f"protocol-demos, folder without a prompt set: exit {r.returncode}, {r.stderr}")
print(f"cli tasks: {len(fail)} failures")
for f in fail:
    print("  FAIL:", f)
sys.exit(1 if fail else 0)
