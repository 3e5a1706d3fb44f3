"""The store's kinds: every test taking `store_path` runs on a DuckDB file and on a lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketflow_assets.store.lake import Lake

StorePath = Path | Lake


@pytest.fixture(params=["duckdb", "lake"])
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> StorePath:
    """Where a fresh store lives: a DuckDB file, or a folder of Delta tables."""
    return tmp_path / "s.duckdb" if request.param == "duckdb" else Lake(tmp_path / "lake")
