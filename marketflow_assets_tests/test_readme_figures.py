"""The README's performance figures are those of benchmarks/results.json: stale figures fail
here, and the script that writes them touches nothing outside its markers."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "readme_figures.py"


def load_script() -> ModuleType:
    """benchmarks/readme_figures.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("readme_figures", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_script()
RESULTS: dict[str, Any] = json.loads((ROOT / "benchmarks" / "results.json").read_text())
OTHER = "# Project\n\nSomeone else's 130,040 pairs.\n\n## Performance\n\n"
AFTER = "\n## Layout\n\nSomeone else's text.\n"


def test_readme_figures_are_those_of_results_json() -> None:
    diff = figures.stale_diff((ROOT / "README.md").read_text(encoding="utf-8"), RESULTS)
    assert diff == "", (
        f"README.md is stale against benchmarks/results.json (`make figures`):\n{diff}"
    )


def test_figures_are_written_with_thousands_separators() -> None:
    body = figures.render(RESULTS)
    words = " ".join(body.split())
    training, validation = RESULTS["training"], RESULTS["validation"]
    pairs = f"{training['sessions_with_pairs']:,} sessions get {training['pairs']:,} pairs"
    assert pairs in words
    rows = training["export_rows"]
    assert f"{rows['train']:,} / {rows['validation']:,} / {rows['test']:,} pairs" in words
    assert f"the {validation['signals_scored']:,} signals" in words
    assert f"(target: {RESULTS['vpa']['target']};" in words
    assert max(len(line) for line in body.splitlines()) <= figures.WIDTH
    assert not [line for line in body.splitlines() if line.lstrip().startswith(">")]


def write(tmp_path: Path, body: str, results: dict[str, Any]) -> tuple[Path, Path]:
    """A README with `body` between the markers and text around them, and a results file."""
    readme = tmp_path / "README.md"
    readme.write_text(f"{OTHER}{figures.START}\n{body}{figures.END}\n{AFTER}", encoding="utf-8")
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    return readme, path


def test_check_reports_stale_figures_and_the_rewrite_fixes_only_the_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = copy.deepcopy(RESULTS)
    newer["training"]["pairs"] += 1
    old, new = f"{RESULTS['training']['pairs']:,} pairs", f"{newer['training']['pairs']:,} pairs"
    readme, results = write(tmp_path, figures.render(RESULTS), newer)
    before = readme.read_text(encoding="utf-8")

    assert figures.main(["--check"], readme=readme, results=results) == 1
    changed = [line for line in capsys.readouterr().out.splitlines() if line[:1] in "+-"]
    assert [line[0] for line in changed if old in line or new in line] == ["-", "+"]
    assert readme.read_text(encoding="utf-8") == before

    assert figures.main([], readme=readme, results=results) == 0
    after = readme.read_text(encoding="utf-8")
    assert after == before.replace(old, new)
    assert after.startswith(OTHER)
    assert after.endswith(AFTER)
    assert figures.main(["--check"], readme=readme, results=results) == 0


def test_a_readme_without_its_markers_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme, results = write(tmp_path, "", RESULTS)
    readme.write_text(OTHER + AFTER, encoding="utf-8")
    assert figures.main(["--check"], readme=readme, results=results) == 2
    assert f"needs exactly one {figures.START}" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == OTHER + AFTER
