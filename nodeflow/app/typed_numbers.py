"""Numbers typed by the user (on the canvas or in the inspector): simple arithmetic allowed, clamped to the
input's range, and a note for the user whenever the typed text was not taken as it is (never clamp silently).
Qt-free, so the canvas and the inspector's number boxes share one reading of a typed number."""
from __future__ import annotations


def read_number(text: str, inp) -> tuple[int | float | None, str]:
    """``parse_number`` with what happened to the typed text, for the user: ("", when it was taken as typed)."""
    exact = parse_number(text, _Unbounded(inp))
    label = inp.display
    if exact is None:
        return None, f"'{text.strip()}' is not a number: {label} unchanged"
    value = parse_number(text, inp)
    if inp.max is not None and exact > inp.max:
        return value, f"{label}: {_fmt(exact)} is above the maximum {_fmt(inp.max)}; set to {_fmt(value)}"
    if inp.min is not None and exact < inp.min:
        return value, f"{label}: {_fmt(exact)} is below the minimum {_fmt(inp.min)}; set to {_fmt(value)}"
    if inp.type == "INT" and isinstance(_raw_number(text), float) and float(_raw_number(text)) != value:
        return value, f"{label} takes whole numbers: {_fmt(_raw_number(text))} rounded to {value}"
    return value, ""


class _Unbounded:
    """An input's type without its range (to see the typed value before clamping)."""

    def __init__(self, inp):
        self.type, self.min, self.max = inp.type, None, None


def _raw_number(text: str):
    class _Float:
        type, min, max = "FLOAT", None, None

    return parse_number(text, _Float)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def parse_number(text: str, inp) -> int | float | None:
    """A typed number (simple arithmetic allowed: "512*2"), clamped to the input's range; None if not a number."""
    import ast
    import operator

    allowed = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod}

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(
                node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in allowed:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError("exponent too large")
            return allowed[type(node.op)](left, right)
        raise ValueError("not a number")

    try:
        value = ev(ast.parse(text.strip().replace(",", "."), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError):
        return None
    if inp.min is not None:
        value = max(inp.min, value)
    if inp.max is not None:
        value = min(inp.max, value)
    return int(round(value)) if inp.type == "INT" else float(value)


__all__ = ["parse_number", "read_number"]
