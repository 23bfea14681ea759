"""Cross-check: algebra tasks against sympy (independent CAS): sympy solves every
system; its unique solution must be the task's, the verifier must accept it (as written
by sympy) and reject a perturbed one; contradictory / underdetermined impossible tasks
must have no / infinitely many solutions according to sympy."""
import ast
import re
import sys

import sympy

sys.path.insert(0, __import__("os").path.dirname(__file__))
from xcheck_common import Checker, gen, judge  # noqa: E402

X = sympy.symbols("x y z w")
NAMES = {str(s): s for s in X}


def to_sympy(node):
    # sympify() is slow; the equations are small arithmetic over integers and x..w, so
    # build them from Python's own parse tree (sympy still does all the solving).
    if isinstance(node, ast.Expression):
        return to_sympy(node.body)
    if isinstance(node, ast.Constant):
        return sympy.Integer(node.value)
    if isinstance(node, ast.Name):
        return NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -to_sympy(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = to_sympy(node.left), to_sympy(node.right)
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(node.op)] if not isinstance(node.op, ast.Div) else a / b
    raise ValueError(ast.dump(node))


def parse_eq(text):
    lhs, rhs = text.split("=")
    # Implicit multiplication as displayed ("3x + 2y") -> "3*x + 2*y".
    fix = lambda s: re.sub(r"(\d)([xyzw])", r"\1*\2", s).strip()
    return sympy.Eq(to_sympy(ast.parse(fix(lhs), mode="eval")), to_sympy(ast.parse(fix(rhs), mode="eval")))


tasks = gen("algebra", 920, 201, "train", {"impossible_rate": 0})
tasks += gen("algebra", 80, 202, "dev", {"impossible_rate": 0, "vars": 4, "digits": 6, "rational": True})
c = Checker("algebra vs sympy")
answers, expect = [], []
for t in tasks:
    tr = t["truth"]
    vs = [NAMES[v] for v in tr["vars"]]
    eqs = [parse_eq(e) for e in tr["equations"]]
    sol = sympy.linsolve(eqs, vs)
    c.expect(len(sol) == 1, f"{t['id']}: sympy finds {sol}")
    if len(sol) != 1:
        continue
    (vals,) = list(sol)
    ours = [sympy.Rational(tr["solution"][v]) for v in tr["vars"]]
    c.expect(list(vals) == ours, f"{t['id']}: sympy {vals} vs ours {ours}")
    text = ", ".join(f"{v} = {sympy.Rational(val)}" for v, val in zip(tr["vars"], vals))
    answers.append((t["id"], "Substituting back...\nAnswer: " + text))
    expect.append(("correct", t["id"]))
    bad = list(vals)
    bad[-1] = bad[-1] + sympy.Rational(1, 2)
    answers.append((t["id"], "Answer: " + ", ".join(f"{v} = {sympy.Rational(val)}" for v, val in zip(tr["vars"], bad))))
    expect.append(("wrong", t["id"]))
for (want, what), (got, reason) in zip(expect, judge(tasks, answers)):
    c.expect(got == want, f"{what}: verdict {got}, expected {want} ({reason})")

# Impossible algebra: sympy agrees the systems have no unique solution.
imp = gen("impossible", 150, 203, "train", {"kind": "contradictory"}) + gen("impossible", 100, 204, "train", {"kind": "underdetermined"})
for t in imp:
    key = t["truth"]["key"]
    m = re.match(r"impossible:(contradictory|underdetermined):(.*)", key)
    if not m or "=" not in m.group(2) or m.group(2).startswith(("car:", "ke-no-v:")):
        continue
    eqs = [parse_eq(e) for e in m.group(2).split(";") if e.strip()]
    sol = sympy.linsolve(eqs, [NAMES["x"], NAMES["y"]])
    if m.group(1) == "contradictory":
        c.expect(sol == sympy.EmptySet, f"{t['id']}: sympy solves {key}: {sol}")
    else:
        (s,) = list(sol)
        c.expect(not s[0].is_number, f"{t['id']}: x is determined in {key}: {sol}")
c.done(1000)
