"""Cross-check: the unit engine against GNU units on >= 1,000 random conversions and
formula evaluations (units and physics suites). GNU units evaluates each task's formula
in the task's answer unit; the verifier must accept that value with the unit, and must
reject the same number given in a unit of another dimension."""
import subprocess
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from xcheck_common import Checker, gen, judge  # noqa: E402

tasks = gen("units", 900, 301, "train", {"impossible_rate": 0})
tasks += gen("units", 150, 302, "dev", {"impossible_rate": 0, "quantities": 4, "digits": 6})
tasks += gen("physics", 400, 303, "train", {"impossible_rate": 0})
c = Checker("units vs GNU units")
inp = "".join(f"{t['truth']['formula']}\n{t['truth']['gnu_to']}\n" for t in tasks)
res = subprocess.run(["units", "-t", "-d", "15"], input=inp, capture_output=True, text=True)
lines = res.stdout.splitlines()
c.expect(len(lines) == len(tasks), f"GNU units gave {len(lines)} lines for {len(tasks)} tasks: {res.stderr[:300]}")
answers, expect = [], []
for t, line in zip(tasks, lines):
    try:
        gnu = float(line.strip())
    except ValueError:
        c.expect(False, f"{t['id']}: GNU units could not evaluate {t['truth']['formula']} -> {t['truth']['gnu_to']}: {line}")
        continue
    unit = t["truth"]["unit"]
    answers.append((t["id"], f"Answer: {gnu:.10g} {unit}"))
    expect.append(("correct", f"{t['id']}: {t['truth']['formula']} = {gnu} {unit}"))
    # The same number with a unit of another dimension is wrong.
    other = "m" if t["truth"]["dim"] == [0, 0, 1, 0, 0, 0, 0] else "s"
    answers.append((t["id"], f"Answer: {gnu:.10g} {other}"))
    expect.append(("wrong", f"{t['id']}: {gnu} {other}"))
for (want, what), (got, reason) in zip(expect, judge(tasks, answers)):
    c.expect(got == want, f"{what}: verdict {got}, expected {want} ({reason})")
c.done(1000)
