"""Weight-update expressions: checked once, then compiled by numba or evaluated on arrays.

A rule states its weight change on a pre- or postsynaptic spike as one Python expression
(``"-a_minus * y * (w - w_min)"``). The names it may use are the weight ``w``, the rule's
trace names, its constants (numbers), and the functions ``exp``, ``min``, ``max``, ``abs``.
Only arithmetic (``+ - * / **``), calls of those functions, names and numbers are allowed, so
the same text means the same operations, in the same order, to every backend: the numba
backend inlines it into the run loop, the torch backend and the NumPy reference evaluate it
on arrays (``min``/``max`` become elementwise there).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import numpy as np

FUNCTIONS = ("exp", "min", "max", "abs")
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Load,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


def parse(text: str, what: str, allowed: set[str]) -> ast.Expression:
    """Parse and check ``text``; ``allowed`` are the names it may use besides the functions."""
    if not isinstance(text, str) or not text.strip():
        raise TypeError(f"{what} must be a non-empty expression string, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{what} = {text!r} is not a Python expression: {err.msg}") from err
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(
                f"{what} = {text!r} uses {type(node).__name__}; only arithmetic, numbers, names "
                f"and calls of {', '.join(FUNCTIONS)} are allowed")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (int, float))):
            raise ValueError(f"{what} = {text!r} has the constant {node.value!r}; use numbers")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise ValueError(
                    f"{what} = {text!r} calls something other than {', '.join(FUNCTIONS)} "
                    "with positional arguments")
            want = 1 if node.func.id in ("exp", "abs") else 2
            if len(node.args) != want:
                raise ValueError(f"{what}: {node.func.id}() takes {want} argument(s) in {text!r}")
        if isinstance(node, ast.Name) and node.id not in allowed and node.id not in FUNCTIONS:
            raise ValueError(
                f"{what} = {text!r} uses the unknown name {node.id!r}; known names: "
                f"{', '.join(sorted(allowed))}")
    return tree


def names(tree: ast.Expression) -> set[str]:
    """Names (not functions) an expression reads."""
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls}


def to_source(tree: ast.Expression, rename: Mapping[str, str]) -> str:
    """Source text with names replaced (``rename``) and ``exp`` as ``np.exp``, for numba."""

    class Rename(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if node.func.id == "exp":
                node.func = ast.Attribute(ast.Name("np", ast.Load()), "exp", ast.Load())
            return node

        def visit_Name(self, node):
            return ast.Name(rename.get(node.id, node.id), ast.Load())

    body = Rename().visit(ast.Expression(ast.parse(ast.unparse(tree), mode="eval").body))
    return "(" + ast.unparse(ast.fix_missing_locations(body)) + ")"


def evaluate(tree: ast.Expression, values: Mapping[str, object],
             functions: Mapping[str, Callable]) -> object:
    """Evaluate on arrays: ``values`` binds names, ``functions`` the four functions."""
    code = compile(tree, "<plasticity expression>", "eval")
    return eval(code, {"__builtins__": {}, **functions}, dict(values))  # noqa: S307 (checked AST)


NUMPY_FUNCTIONS: dict[str, Callable] = {"exp": np.exp, "min": np.minimum, "max": np.maximum,
                                        "abs": np.abs}


__all__ = ["FUNCTIONS", "NUMPY_FUNCTIONS", "evaluate", "names", "parse", "to_source"]
