"""A copy of a test store, so a test can rerun assets on it without touching the original."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from marketflow_assets.settings import Settings


def copy_of(settings: Settings, folder: Path, **changes: Any) -> Settings:
    """`settings` with the store copied into `folder`, and `changes` applied."""
    folder.mkdir()
    copied = dataclasses.replace(
        settings, data_dir=folder, duckdb_path=folder / settings.duckdb_path.name, **changes
    )
    shutil.copyfile(settings.duckdb_path, copied.duckdb_path)
    return copied
