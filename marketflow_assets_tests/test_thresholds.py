"""rules.yaml is the one place of every threshold and window length: a number of the rules
written again in the package, as a constant, a default or a keyword argument whose name shares
a word with the rule's key, fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import marketflow_assets
from marketflow_assets.vpa.rules import DEFAULT_RULES_PATH

PACKAGE = Path(marketflow_assets.__file__).parent
# Words too common in names to tie a literal to a rule.
GENERIC = {"default", "min", "max", "of", "the", "n", "k", "s", "version"}


def rule_numbers(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    """Every number of the rules with its key path (list items keep their parent's path)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from rule_numbers(value, (*path, str(key)))
    elif isinstance(node, list):
        for value in node:
            yield from rule_numbers(value, path)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path, float(node)


def words(name: str) -> set[str]:
    return {w for w in name.lower().replace(".", "_").split("_") if w} - GENERIC


def _number(node: ast.expr | None) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    return None


def named_literals(source: str) -> Iterator[tuple[str, float, int]]:
    """(name, number, line) for each numeric literal given a name: assigned to a constant or
    an attribute, a parameter's default, or a keyword argument."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = _number(node.value)
            for target in targets:
                name = getattr(target, "id", None) or getattr(target, "attr", None)
                if name and value is not None:
                    yield name, value, node.lineno
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = [
                *zip(
                    positional[len(positional) - len(args.defaults) :], args.defaults, strict=True
                ),
                *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d),
            ]
            for arg, default in pairs:
                value = _number(default)
                if value is not None:
                    yield arg.arg, value, node.lineno
        elif isinstance(node, ast.keyword) and node.arg:
            value = _number(node.value)
            if value is not None:
                yield node.arg, value, node.value.lineno


def duplicates(source: str, rules: dict[str, Any]) -> list[str]:
    """`name = number (line N) repeats rules key` for each literal that restates a rule."""
    numbers = list(rule_numbers(rules))
    found = []
    for name, value, line in named_literals(source):
        for path, number in numbers:
            if value == number and words(name) & words("_".join(path)):
                found.append(f"{name} = {value:g} (line {line}) repeats {'.'.join(path)}")
    return found


RULES: dict[str, Any] = yaml.safe_load(DEFAULT_RULES_PATH.read_text())


@pytest.mark.parametrize(
    "source",
    [
        "DEFAULT_WINDOW_DAYS = 30",
        "def plan(purge_sessions: int = 31) -> None: ...",
        "split(fractions=0.8)",
        "class Card:\n    ready_min_matured: int = 30",
        "def f(*, hold_band=0.05): ...",
    ],
)
def test_a_restated_threshold_is_caught(source: str) -> None:
    assert duplicates(source, RULES), source


@pytest.mark.parametrize(
    "source",
    [
        "NOTE_WIDTH = 60",  # 60 is a rule number (warmup_bars), but nothing ties the two
        "window_days = rules.outcomes.window_days",
        "def describe(limit: int = 5) -> None: ...",
    ],
)
def test_unrelated_numbers_pass(source: str) -> None:
    assert duplicates(source, RULES) == []


def test_no_rule_number_is_written_again_in_the_package() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}: {finding}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for finding in duplicates(path.read_text(), RULES)
    ]
    assert found == [], "read these from rules.yaml instead:\n" + "\n".join(found)
