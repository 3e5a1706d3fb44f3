"""The wheel works outside the repository: built, installed into a fresh virtualenv, it runs a
backfill's first stage on the bundled sample and finds its packaged templates and rules."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb

from marketflow_assets.settings import PROJECT_ROOT
from marketflow_assets.training.templates import CONVERSATION_TYPES, load_templates
from marketflow_assets.vpa.rules import load_rules

SESSIONS = [dt.date(2010, 1, day) for day in (4, 5, 6, 7, 8)]
# Run in the new virtualenv with default settings: where the package, templates and rules are.
CHECK_INSTALL = """
import json, marketflow_assets
from marketflow_assets.settings import Settings
from marketflow_assets.training.templates import CONVERSATION_TYPES, load_templates
from marketflow_assets.vpa.rules import load_rules
settings = Settings.from_env({})
templates = load_templates(settings.templates_dir)
print(json.dumps({
    "package": marketflow_assets.__file__,
    "templates_dir": str(settings.templates_dir),
    "templates": {t.conversation_type: t.hash for t in templates},
    "rules_path": str(settings.rules_path),
    "rules_hash": load_rules(settings.rules_path).hash,
    "data_dir": str(settings.data_dir),
}))
"""


def run(
    *command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `command` to completion (two minutes at most), capturing its output as text."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def build_wheel(tmp_path: Path) -> Path:
    """The project's wheel, built without build isolation or an index."""
    # From a copy: setuptools builds in place, leaving `build/` and an egg-info behind.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    shutil.copytree(
        PROJECT_ROOT / "marketflow_assets",
        source / "marketflow_assets",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path / "wheels"
    built = run(
        *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--quiet", "-w", out, source),
    )
    assert built.returncode == 0, (
        "building the wheel failed; it needs setuptools>=70.1 in this environment "
        "(`make setup` installs the dev extra, or run "
        f"`{sys.executable} -m pip install 'setuptools>=70.1'`):\n{built.stderr[-3000:]}"
    )
    (wheel,) = out.glob("marketflow_assets-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, env: dict[str, str]) -> Path:
    """A new virtualenv's python, seeing this environment's installed packages."""
    # A .pth line adds the folder without running the .pth files in it, so this project's
    # editable finder stays out of the new virtualenv.
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    found = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", env=env)
    assert found.returncode == 0, found.stderr
    site_packages = Path(found.stdout.strip())
    outer = sysconfig.get_paths()["purelib"]
    (site_packages / "outer_environment.pth").write_text(f"{outer}\n")
    return python


def test_wheel_runs_outside_the_repository(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(PROJECT_ROOT.resolve())
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }
    wheel = build_wheel(tmp_path)
    python = fresh_venv(tmp_path, env)
    venv = python.parent.parent
    # The outer environment's pip, run by the new interpreter, so the script's shebang is the
    # new one; --ignore-installed leaves the outer environment's editable install alone.
    installed = run(
        *(python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed"),
        *("--quiet", wheel),
        env=env,
    )
    assert installed.returncode == 0, installed.stderr
    script = venv / "bin" / "marketflow"
    assert script.read_text().splitlines()[0] == f"#!{python}"

    work = tmp_path / "work"
    work.mkdir()
    checked = run(python, "-c", CHECK_INSTALL, cwd=work, env=env)
    assert checked.returncode == 0, checked.stderr
    found = json.loads(checked.stdout)
    for key in ("package", "templates_dir", "rules_path"):
        assert Path(found[key]).resolve().is_relative_to(venv.resolve()), (key, found[key])
    assert set(found["templates"]) == set(CONVERSATION_TYPES)
    assert found["templates"] == {t.conversation_type: t.hash for t in load_templates()}
    assert found["rules_hash"] == load_rules().hash
    assert Path(found["data_dir"]) == work.resolve() / "data"

    store = tmp_path / "data" / "marketflow.duckdb"
    backfill = run(
        *(script, "backfill", "--start", "2010-01-04", "--end", "2010-01-08"),
        *("--select", "daily_bars,vpa_features,vpa_signals"),
        cwd=work,
        env={
            **env,
            "MARKETFLOW_DATA_DIR": str(tmp_path / "data"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "MARKETFLOW_START_DATE": "2010-01-04",
        },
    )
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    with duckdb.connect(str(store), read_only=True) as conn:
        stored = {
            table: [
                d for (d,) in conn.sql(f"SELECT DISTINCT date FROM {table} ORDER BY 1").fetchall()
            ]
            for table in ("bars", "signals")
        }
    assert stored == {"bars": SESSIONS, "signals": SESSIONS}
