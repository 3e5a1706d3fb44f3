"""Shared fixtures: a temporary store and Dagster instance per test, and settings for them.

The suite never sees the caller's environment: `MARKETFLOW_*` variables are cleared and
`DAGSTER_HOME` points at a temporary folder before any test module is imported, and Dagster's
bookkeeping settings are those the project's commands set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from marketflow_assets.runs.instance import BOOKKEEPING_ENV
from marketflow_assets.settings import Settings

_HOME = tempfile.TemporaryDirectory(prefix="marketflow-tests-dagster-home-")


def pytest_configure(config: pytest.Config) -> None:
    """Forget the caller's settings before collection imports anything that could read them."""
    # A folder of this session's own for tmp_path: every pytest session started under the
    # shared pytest-of-<user> makes it private again, which would cut the embedded Postgres
    # (run as its own system user when the tests run as root) off from its data.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="marketflow-tests-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))
    for name in [name for name in os.environ if name.startswith("MARKETFLOW_")]:
        del os.environ[name]
    # rich fixes a width exported by the shell when its console is made; tests set their own.
    os.environ.pop("COLUMNS", None)
    os.environ["DAGSTER_HOME"] = _HOME.name
    # Dagster's bookkeeping as the project's commands set it, whichever test runs first.
    os.environ.update(BOOKKEEPING_ENV)


def pytest_unconfigure(config: pytest.Config) -> None:
    _HOME.cleanup()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings (sample source) with the store in a temporary folder."""
    return Settings.from_env({"MARKETFLOW_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A real SQLite-backed Dagster instance in a temporary folder; pools limited to 1."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = {"concurrency": {"pools": {"default_limit": 1, "granularity": "op"}}}
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as inst:
        yield inst
