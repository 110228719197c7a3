"""Record the operands of every comparison inside a notebook's ``assert`` statements.

``benchmarks/spread.py`` re-runs each chapter with other seeds and the other CPU kernel
family. To learn how much each asserted quantity moves, it installs :class:`ProbeTransformer`
as an IPython AST transformer in the kernel: every comparison ``a <= b`` (chained or
inside ``and``/``or``/``not``) in an ``assert`` becomes a call that evaluates the operands
once and records them. An assert does not raise while it is measured: each of its
``and``-ed parts is checked on its own, a failure is logged (:data:`FAILED`) and execution
goes on, so one failing claim does not hide the quantities of those after it. Nothing in
the notebooks changes.

A comparison is identified by its *site key*: its source text with each constant operand
(a number, or arithmetic of numbers) replaced by ``#``, and how many comparisons of the same text come
before it in the notebook (``x <= # #0``). A bound can therefore be moved (``x <= 1.23``
to ``x <= 1.25``), and other asserts added or removed, without invalidating the
measurements, while any change to what is compared (``a > b - 0.4`` to ``a > b - 0.8``
included) makes the site new, and so unmeasured.
"""

from __future__ import annotations

import ast
import dataclasses
import operator

import numpy as np

RECORDER = "__spread_compare__"
FAILED = "__spread_failed__"

_OPS = {
    ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
    ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne),
    ast.Is: ("is", operator.is_), ast.IsNot: ("is not", operator.is_not),
    ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b),
}


class _Numbers(ast.NodeTransformer):
    def visit_Constant(self, node):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return ast.copy_location(ast.Name(id="#", ctx=ast.Load()), node)
        return node


def masked_text(node: ast.AST) -> str:
    """Source text of ``node`` with every number literal replaced by ``#``."""
    return ast.unparse(_Numbers().visit(ast.parse(ast.unparse(node), mode="eval")))


def _shape_text(compare: ast.Compare, constant) -> str:
    operands = [compare.left, *compare.comparators]
    parts = ["#" if c else ast.unparse(o) for o, c in zip(operands, constant)]
    symbols = [_OPS[type(op)][0] for op in compare.ops]
    return " ".join([parts[0]] + [f"{s} {p}" for s, p in zip(symbols, parts[1:])])


@dataclasses.dataclass(frozen=True)
class Site:
    """One comparison inside an assert: its key, source text and operator symbols."""

    key: str
    text: str
    ops: tuple
    constant: tuple  # per operand: True when it contains no name, attribute, call or subscript
    bounds: tuple = ()  # per operand: its value when it is a numeric constant, else None
    window: bool = True  # a nonzero number appears: a tolerance, not a plain ordering (a < b, x > 0)
    ordinal: int = 0  # which assert of the notebook (1, 2, ...) it belongs to; not part of the key
    spec: bool = False  # the assert's line says "# SPEC target": a required bound, not one we chose
    alternative: bool = False  # inside an ``or``: need not hold on its own


def _comparisons(test: ast.AST, alternative: bool = False):
    """``(compare, inside_an_or)`` for the Compare nodes of an assert's test, in source order."""
    if isinstance(test, ast.Compare):
        yield test, alternative
    elif isinstance(test, ast.BoolOp):
        for value in test.values:
            yield from _comparisons(value, alternative or isinstance(test.op, ast.Or))
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from _comparisons(test.operand, True)


def _constant_value(node: ast.AST):
    """The value of an operand made of number literals only (``1e-4``, ``-3 * 0.5``), else None."""
    try:
        value = eval(compile(ast.Expression(node), "<bound>", "eval"), {"__builtins__": {}})  # noqa: S307
    except Exception:  # noqa: BLE001 - e.g. a tuple literal: not a numeric bound
        return None
    return scalar(value)


def _has_tolerance(node: ast.AST) -> bool:
    """A nonzero number literal outside subscripts and call arguments (there it is an index)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value != 0
    if isinstance(node, ast.Subscript):
        return _has_tolerance(node.value)
    if isinstance(node, ast.Call):
        return _has_tolerance(node.func)
    return any(_has_tolerance(child) for child in ast.iter_child_nodes(node))


class SiteCounter:
    """Numbers the asserts of one notebook in execution (= source) order."""

    def __init__(self):
        self.asserts = 0
        self.seen = {}  # shape text -> comparisons of that text so far

    def sites(self, node: ast.Assert):
        self.asserts += 1
        for compare, alternative in _comparisons(node.test):
            ops = tuple(_OPS[type(op)][0] for op in compare.ops)
            operands = [compare.left, *compare.comparators]
            constant = tuple(not any(isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript))
                                     for n in ast.walk(o)) for o in operands)
            shape = _shape_text(compare, constant)
            key = f"{shape} #{self.seen.get(shape, 0)}"
            self.seen[shape] = self.seen.get(shape, 0) + 1
            bounds = tuple(_constant_value(o) if c else None for o, c in zip(operands, constant))
            window = _has_tolerance(compare)
            yield compare, Site(key, ast.unparse(compare), ops, constant, bounds, window, self.asserts,
                                alternative=alternative)


def notebook_sites(code_cells) -> list[Site]:
    """Every comparison site of a notebook, given its code cells' sources in order."""
    counter, sites = SiteCounter(), []
    for source in code_cells:
        lines = source.splitlines()
        for node in _asserts_in_order(ast.parse(source)):
            spec = any("# SPEC target" in line for line in lines[node.lineno - 1 : node.end_lineno])
            sites.extend(dataclasses.replace(site, spec=spec) for _, site in counter.sites(node))
    return sites


def _asserts_in_order(tree: ast.AST):
    """Assert nodes in the order a NodeTransformer visits them (depth first, source order)."""
    found = []

    class _Collect(ast.NodeVisitor):
        def visit_Assert(self, node):
            found.append(node)
            self.generic_visit(node)

    _Collect().visit(tree)
    return found


def _conjuncts(test: ast.AST):
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for value in test.values:
            yield from _conjuncts(value)
    else:
        yield test


class ProbeTransformer(ast.NodeTransformer):
    """Rewrite each assert into non-raising checks of its parts, recording every comparison.

    ``assert a <= b and c`` becomes, in effect::

        try:
            if not __spread_compare__(key, a, b): __spread_failed__(n, "a <= b")
        except Exception: __spread_failed__(n, "a <= b")
        ... the same for c
    """

    def __init__(self, registry: dict):
        self.counter = SiteCounter()
        self.registry = registry  # key -> Site, filled as cells are transformed

    def visit_Assert(self, node):
        replacements = {}
        ordinal = self.counter.asserts + 1
        for compare, site in self.counter.sites(node):
            self.registry[site.key] = site
            call = ast.Call(
                func=ast.Name(id=RECORDER, ctx=ast.Load()),
                args=[ast.Constant(site.key), compare.left, *compare.comparators], keywords=[],
            )
            replacements[id(compare)] = ast.copy_location(call, compare)

        class _Swap(ast.NodeTransformer):
            def visit_Compare(self, compare):
                return replacements.get(id(compare), compare)

        checks = []
        for part in _conjuncts(node.test):
            text = ast.unparse(part)
            fail = ast.Expr(ast.Call(func=ast.Name(id=FAILED, ctx=ast.Load()),
                                     args=[ast.Constant(ordinal), ast.Constant(text)], keywords=[]))
            test = ast.UnaryOp(op=ast.Not(), operand=_Swap().visit(part))
            handler = ast.ExceptHandler(type=ast.Name(id="Exception", ctx=ast.Load()), name=None, body=[fail])
            checks.append(ast.Try(body=[ast.If(test=test, body=[fail], orelse=[])], handlers=[handler],
                                  orelse=[], finalbody=[]))
        return [ast.fix_missing_locations(ast.copy_location(check, node)) for check in checks]


def scalar(value):
    """``value`` as a float when it is a real number or a one-element array, else None."""
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything not array-like is simply not recorded
        return None
    if array.size != 1 or array.dtype.kind not in "biuf":
        return None
    return float(array.reshape(()))


def make_failure_log(log: list):
    """The function a failed (measured) assert part calls: logs the assert's ordinal and text."""

    def failed(ordinal, text):
        log.append({"assert": f"A{ordinal}", "failed": text})

    return failed


def make_recorder(registry: dict, log: list):
    """The function the rewritten asserts call: evaluates, logs operands, returns the result."""

    def record(key, *operands):
        functions = [next(f for s, f in _OPS.values() if s == symbol) for symbol in registry[key].ops]
        result = True
        for function, a, b in zip(functions, operands, operands[1:]):
            result = function(a, b)
            if not result:
                break
        log.append({"key": key, "values": [scalar(v) for v in operands], "passed": bool(result)})
        return result

    return record


_DIRECTION = {"<": 1, "<=": 1, ">": -1, ">=": -1}


def slack(ops, values):
    """How far a recorded comparison is from failing (same units as its operands).

    ``a <= b`` has slack ``b - a``, ``a >= b`` has ``a - b``, ``a == b`` has ``-|a - b|``;
    a chain takes the smallest. None when an operand is not a number or an operator is
    not an order or equality.
    """
    if any(v is None for v in values):
        return None
    result = np.inf
    for op, a, b in zip(ops, values, values[1:]):
        if op in _DIRECTION:
            result = min(result, _DIRECTION[op] * (b - a))
        elif op == "==":
            result = min(result, -abs(a - b))
        else:
            return None
    return float(result)


def quantity(site: Site, values):
    """The asserted quantity: the one varying operand, or the slack when several vary."""
    varying = [v for v, c in zip(values, site.constant) if not c]
    if len(varying) == 1:
        return varying[0]
    return slack(site.ops, values)


def evaluate(site: Site, recorded):
    """(passed, slack, quantity) of one recorded execution, judged with the site's current bounds."""
    values = [b if b is not None else v for b, v in zip(site.bounds or (None,) * len(recorded), recorded)]
    if any(v is None for v in values):
        return None, None, None
    functions = [next(f for s, f in _OPS.values() if s == symbol) for symbol in site.ops]
    passed = all(bool(f(a, b)) for f, a, b in zip(functions, values, values[1:]))
    return passed, slack(site.ops, values), quantity(site, values)
