"""Every reason, stage and state the code can write into the ledger, collected from the source.

The Vietnamese wording (:mod:`pipeline.display`) must cover what the pipeline writes,
including what is added after it was written; reading the source finds them without a
list to keep up by hand. What counts as a written reason:

- a ``reason=`` or ``stage=`` keyword, and a positional argument given to a parameter
  named ``reason`` or ``stage`` of a function defined in the same module
  (``run.settle(state, stage, reason)``, the ledgers' ``_event``, requeue's ``_queue``);
- the message of an exception that the runner records as a document's reason: every
  :class:`RejectedInput` and :class:`PipelineError` (and subclass) built anywhere;
- what functions named ``*_event``, ``*_reason`` or ``*_note`` return (reason builders),
  and module constants named ``*_REASON``.

An f-string's fields become :data:`SAMPLE`, so the collected text is a sample reason
that a pattern must match; a value that is only a variable (``reason=reason``) is
skipped, its text comes from somewhere collected.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline import errors

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "7"  # stands for every f-string field: a number, a name, a key alike
_HOLE = "\x00"  # a part that is not known text


@dataclass(frozen=True)
class Written:
    """One reason or stage as the source writes it."""

    kind: str  # "reason" or "stage"
    text: str  # with SAMPLE for each field
    where: str  # file:line


def _reason_exceptions() -> set[str]:
    names = set()
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, (errors.RejectedInput, errors.PipelineError)):
            names.add(name)
    return names


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = node.value
    return out


def _texts(node: ast.expr | None, consts: dict[str, ast.expr]) -> list[str]:
    """Every text the expression can be (f-string fields as SAMPLE, unknowns as holes)."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):
        parts = [""]
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts = [p + str(value.value) for p in parts]
            else:
                parts = [p + SAMPLE for p in parts]
        return parts
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        lefts = _texts(node.left, consts) or [_HOLE]
        rights = _texts(node.right, consts) or [_HOLE]
        return [a + b for a in lefts for b in rights]
    if isinstance(node, ast.IfExp):
        return _texts(node.body, consts) + _texts(node.orelse, consts)
    if isinstance(node, ast.Name) and node.id in consts:
        return _texts(consts[node.id], consts)
    return []


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _written(path: Path) -> Iterator[Written]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    consts = _constants(tree)
    exceptions = _reason_exceptions()
    rel = path.relative_to(ROOT)
    # positions of the ``reason``/``stage`` parameters of this module's own functions
    params: dict[str, dict[int, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names = [a.arg for a in node.args.args]
            if names and names[0] in ("self", "cls"):
                names = names[1:]
            wanted = {i: n for i, n in enumerate(names) if n in ("reason", "stage")}
            if wanted:
                params.setdefault(node.name, {}).update(wanted)

    def emit(kind: str, node: ast.expr | None) -> Iterator[Written]:
        for text in _texts(node, consts):
            if any(ch.isalpha() for ch in text.replace(_HOLE, "")):
                # an unknown part (a variable) reads as a sample value too
                yield Written(kind, text.replace(_HOLE, SAMPLE), f"{rel}:{node.lineno}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            for kw in node.keywords:
                if kw.arg in ("reason", "stage"):
                    yield from emit(kw.arg, kw.value)
            if name == "settle":  # DocumentRun.settle(state, stage, reason), from the steps
                for position, kind in ((1, "stage"), (2, "reason")):
                    if position < len(node.args):
                        yield from emit(kind, node.args[position])
            for position, kind in params.get(name, {}).items():
                if position < len(node.args):
                    yield from emit(kind, node.args[position])
            if name in exceptions and node.args:
                yield from emit("reason", node.args[0])
            if name == "stage" and node.args and isinstance(node.func, ast.Name):
                yield from emit("stage", node.args[0])  # the @stage("pages") decorator
        elif isinstance(node, ast.FunctionDef) and node.name.endswith(
            ("_event", "_reason", "_note")
        ):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return):
                    yield from emit("reason", sub.value)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and stmt.targets[0].id == "stage"
                ):
                    yield from emit("stage", stmt.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.endswith("_REASON"):
                    yield from emit("reason", node.value)


def written(kind: str) -> list[Written]:
    """Every ``kind`` ("reason" or "stage") the pipeline and workers write, deduplicated."""
    seen: dict[str, Written] = {}
    for folder in ("pipeline", "workers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.parent.name == "access":  # the audit chain's verdicts: not ledger reasons
                continue
            for item in _written(path):
                if item.kind == kind:
                    seen.setdefault(item.text, item)
    return list(seen.values())
