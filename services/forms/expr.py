"""A tiny, safe expression language for relevance and consistency rules in form files,
in the spirit of XLSForm's ``relevant`` and ``constraint`` columns.

Allowed: numbers, strings, True/False/None, names of questions, ``.m`` / ``.f`` / ``.total``
of a sex-disaggregated count, ``+ - *``, comparisons, ``and or not``, ``in``, and the
functions ``sum(...)``, ``count(list)``, ``answered(name)``. A bare sex-disaggregated count in
arithmetic or a comparison means its total. Anything else is rejected when the form loads.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Call,
    ast.List,
    ast.Tuple,
)
_FUNCS = {"sum", "count", "answered"}
_ATTRS = {"m", "f", "total"}


class ExprError(ValueError):
    pass


class Unanswered(Exception):
    """Raised while evaluating when a needed answer is missing: the rule does not apply yet."""


def compile_expr(source: str) -> ast.Expression:
    tree = ast.parse(source, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"not allowed in a form expression: {type(node).__name__}")
        if isinstance(node, ast.Attribute) and node.attr not in _ATTRS:
            raise ExprError(f"unknown attribute .{node.attr}")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCS
        ):
            raise ExprError("only sum(), count() and answered() may be called")
    return tree


def names_in(tree: ast.Expression) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in _FUNCS | {"True", "False", "None"}:
            out.add(node.id)
    return out


def _num(v: Any) -> Any:
    if isinstance(v, dict) and "m" in v and "f" in v:
        return int(v["m"]) + int(v["f"])
    return v


def evaluate(tree: ast.Expression, env: Mapping[str, Any]) -> Any:
    return _ev(tree.body, env)


def _ev(node: ast.AST, env: Mapping[str, Any]) -> Any:  # noqa: C901
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env or env[node.id] is None:
            raise Unanswered(node.id)
        return env[node.id]
    if isinstance(node, ast.Attribute):
        v = _ev(node.value, env)
        if not isinstance(v, dict):
            raise ExprError(f".{node.attr} of a value that is not a sex-disaggregated count")
        return _num(v) if node.attr == "total" else int(v[node.attr])
    if isinstance(node, ast.UnaryOp):
        v = _ev(node.operand, env)
        return (not v) if isinstance(node.op, ast.Not) else -_num(v)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_ev(v, env) for v in node.values)
        return any(_ev(v, env) for v in node.values)
    if isinstance(node, ast.BinOp):
        a, b = _num(_ev(node.left, env)), _num(_ev(node.right, env))
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        return a * b
    if isinstance(node, ast.Compare):
        left = _ev(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _ev(comp, env)
            if isinstance(op, ast.In | ast.NotIn):
                ok = (left in right) == isinstance(op, ast.In)
            else:
                a, b = _num(left), _num(right)
                ok = {
                    ast.Eq: a == b,
                    ast.NotEq: a != b,
                    ast.Lt: a < b,
                    ast.LtE: a <= b,
                    ast.Gt: a > b,
                    ast.GtE: a >= b,
                }[type(op)]
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.List | ast.Tuple):
        return [_ev(e, env) for e in node.elts]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        fn = node.func.id
        if fn == "answered":
            arg = node.args[0]
            return isinstance(arg, ast.Name) and env.get(arg.id) is not None
        if fn == "count":
            v = _ev(node.args[0], env)
            return len(v) if isinstance(v, list) else int(bool(v))
        return sum(_num(_ev(a, env)) for a in node.args)
    raise ExprError(f"cannot evaluate {type(node).__name__}")
