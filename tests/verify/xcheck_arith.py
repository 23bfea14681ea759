"""Cross-check: the arith suite's exact truths and the verifier's verdicts against
Python's fractions (an independent big-rational implementation), on >= 1,000 cases
including huge numbers."""
import ast
import sys
from fractions import Fraction

sys.path.insert(0, __import__("os").path.dirname(__file__))
from xcheck_common import Checker, gen, judge  # noqa: E402


def ev(node):
    if isinstance(node, ast.Expression):
        return ev(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -ev(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = ev(node.left), ev(node.right)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Div:
            return a / b
        if op is ast.FloorDiv:
            return Fraction(a // b)
        if op is ast.Mod:
            return a % b
        if op is ast.Pow:
            assert b.denominator == 1
            return a ** int(b)
    raise ValueError(f"unsupported node {ast.dump(node)}")


def fmt(v):
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def decimal_or_none(v):
    d = v.denominator
    k = 0
    while d % 10 == 0 or d % 2 == 0 or d % 5 == 0:
        if d % 10 == 0:
            d //= 10
        elif d % 2 == 0:
            d //= 2
        else:
            d //= 5
        k += 1
    if d != 1 or k > 40:
        return None
    scaled = v * 10 ** k
    assert scaled.denominator == 1
    s = str(abs(scaled.numerator)).rjust(k + 1, "0")
    s = s[:-k] + "." + s[-k:] if k else s
    return ("-" if v < 0 else "") + s


tasks = gen("arith", 1000, 101, "train", {"impossible_rate": 0})
tasks += gen("arith", 150, 102, "train", {"impossible_rate": 0, "digits": 300, "form": "mul"})
tasks += gen("arith", 100, 103, "dev", {"impossible_rate": 0, "digits": 60, "form": "expr", "steps": 6})
tasks += gen("arith", 100, 104, "test", {"impossible_rate": 0, "digits": 40, "form": "qr"})
c = Checker("arith vs fractions")
answers, expect = [], []
for t in tasks:
    tr = t["truth"]
    if tr["kind"] == "exact":
        py = ev(ast.parse(tr["expr"], mode="eval"))
        c.expect(py == Fraction(tr["value"]), f"{t['id']}: {tr['expr']} = {fmt(py)} (python) vs {tr['value']}")
        answers.append((t["id"], "Working...\nAnswer: " + fmt(py)))
        expect.append(("correct", t["id"]))
        alt = decimal_or_none(py)
        if py.denominator == 1 and abs(py) >= 1000:
            alt = f"{py.numerator:,}"
        if alt:
            answers.append((t["id"], "Answer: " + alt))
            expect.append(("correct", t["id"] + " alt " + alt))
        answers.append((t["id"], "Answer: " + fmt(py + 1)))
        expect.append(("wrong", t["id"]))
    elif tr["kind"] == "qr":
        q, r = divmod(int(tr["dividend"]), int(tr["divisor"]))
        c.expect((str(q), str(r)) == (tr["quotient"], tr["remainder"]), f"{t['id']}: divmod mismatch")
        answers.append((t["id"], f"Answer: {q} remainder {r}"))
        expect.append(("correct", t["id"]))
        answers.append((t["id"], f"Answer: {q} remainder {r + 1}"))
        expect.append(("wrong", t["id"]))
    else:
        c.expect(False, f"{t['id']}: unexpected truth kind {tr['kind']}")
by_id = {t["id"]: t for t in tasks}
# The judge reads one task file; answers may repeat ids (a verdict per line).
verdicts = judge(tasks, answers)
for (want, what), (got, reason) in zip(expect, verdicts):
    c.expect(got == want, f"{what}: verdict {got}, expected {want} ({reason})")
c.expect(len(verdicts) == len(expect), "verdict count")
big = max(len(t["truth"].get("value", "")) for t in tasks)
print(f"largest exact value has {big} characters")
c.done(1000)
