"""A tiny, safe expression language for relevance and consistency rules in form files,
in the spirit of XLSForm's ``relevant`` and ``constraint`` columns.

Allowed: numbers, strings, True/False/None, names of questions, ``.m`` / ``.f`` / ``.total``
of a sex-disaggregated count, ``+ - *``, comparisons, ``and or not``, ``in``, and the
functions ``sum(...)``, ``count(list)``, ``answered(name)``. A bare sex-disaggregated count in
arithmetic or a comparison means its total. Anything else is rejected when the form loads.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
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


Fn = Callable[[Mapping[str, Any]], Any]
_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_COMPILED = "_bdg_compiled"  # attribute of an ast.Expression holding its compiled function


def evaluate(tree: ast.Expression, env: Mapping[str, Any]) -> Any:
    """The expression's value in ``env``. The tree is turned into nested Python closures
    once (kept on the tree): every step re-evaluates the relevance of every question, and
    walking the tree with ``isinstance`` tests each time was most of a step's form work."""
    fn: Fn | None = getattr(tree, _COMPILED, None)
    if fn is None:
        fn = _compile(tree.body)
        setattr(tree, _COMPILED, fn)
    return fn(env)


def _compile(node: ast.AST) -> Fn:  # noqa: C901 - one branch per node type
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda env: value
    if isinstance(node, ast.Name):
        return _name(node.id)
    if isinstance(node, ast.Attribute):
        return _attribute(_compile(node.value), node.attr)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda env: not operand(env)
        return lambda env: -_num(operand(env))
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: all(f(env) for f in parts)
        return lambda env: any(f(env) for f in parts)
    if isinstance(node, ast.BinOp):
        return _binop(_compile(node.left), _compile(node.right), node.op)
    if isinstance(node, ast.Compare):
        return _compare(node)
    if isinstance(node, ast.List | ast.Tuple):
        elts = [_compile(e) for e in node.elts]
        return lambda env: [f(env) for f in elts]
    if isinstance(node, ast.Call):
        return _call(node)
    raise ExprError(f"cannot evaluate {type(node).__name__}")


def _name(name: str) -> Fn:
    def get(env: Mapping[str, Any]) -> Any:
        v = env.get(name)
        if v is None:
            raise Unanswered(name)
        return v

    return get


def _attribute(value: Fn, attr: str) -> Fn:
    def get(env: Mapping[str, Any]) -> Any:
        v = value(env)
        if not isinstance(v, dict):
            raise ExprError(f".{attr} of a value that is not a sex-disaggregated count")
        return _num(v) if attr == "total" else int(v[attr])

    return get


def _binop(left: Fn, right: Fn, op: ast.operator) -> Fn:
    fn = operator.add if isinstance(op, ast.Add) else operator.sub
    if not isinstance(op, ast.Add | ast.Sub):
        fn = operator.mul

    def run(env: Mapping[str, Any]) -> Any:
        a = _num(left(env))
        return fn(a, _num(right(env)))

    return run


def _compare(node: ast.Compare) -> Fn:
    first = _compile(node.left)
    steps: list[tuple[ast.cmpop, Fn]] = [
        (op, _compile(comp)) for op, comp in zip(node.ops, node.comparators, strict=True)
    ]

    def run(env: Mapping[str, Any]) -> bool:
        left = first(env)
        for op, comp in steps:
            right = comp(env)
            if isinstance(op, ast.In | ast.NotIn):
                ok = (left in right) == isinstance(op, ast.In)
            else:
                ok = _CMP[type(op)](_num(left), _num(right))
            if not ok:
                return False
            left = right
        return True

    return run


def _call(node: ast.Call) -> Fn:
    assert isinstance(node.func, ast.Name)
    fn = node.func.id
    if fn == "answered":
        arg = node.args[0]
        name = arg.id if isinstance(arg, ast.Name) else None
        return lambda env: name is not None and env.get(name) is not None
    if fn == "count":
        inner = _compile(node.args[0])

        def count(env: Mapping[str, Any]) -> int:
            v = inner(env)
            return len(v) if isinstance(v, list) else int(bool(v))

        return count
    args = [_compile(a) for a in node.args]
    return lambda env: sum(_num(f(env)) for f in args)
