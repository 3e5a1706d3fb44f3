"""Paths and knobs from environment variables, with defaults for a checkout or a wheel install.

The templates and rules default to the copies packaged with the code. The data folder defaults
to the checkout's `data/` when the package lies in a source checkout, and to `./data` of the
working directory otherwise (a wheel install, whose package sits in site-packages).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from marketflow_assets.store.lake import Lake
from marketflow_assets.vpa.rules import DEFAULT_RULES_PATH

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Package data, so a wheel install finds it too; the package is installed unzipped.
DEFAULT_TEMPLATES_DIR = Path(str(files("marketflow_assets").joinpath("templates")))
# The instance config copied into a new DAGSTER_HOME: storage, the `duckdb` pool, run retries.
INSTANCE_CONFIG = Path(str(files("marketflow_assets").joinpath("dagster.yaml")))
SOURCE_NAMES = ("sample", "files", "yfinance")
# Where Dagster keeps run history (runs/instance.py): Postgres, by default a server embedded in
# DAGSTER_HOME, whose batched writes keep a long backfill's bookkeeping short; or SQLite files.
INSTANCE_NAMES = ("postgres", "sqlite")
DEFAULT_INSTANCE = "postgres"
# Brokers dagster-celery's workers can share with the project: Redis over TCP, TLS or a socket.
BROKER_SCHEMES = ("redis://", "rediss://", "redis+socket://")
DEFAULT_START_DATE = dt.date(2009, 8, 21)
# Memory a run's stage may fill with one chunk of its window: long ranges are processed in
# chunks of sessions that fit it, so peak memory does not grow with the range.
DEFAULT_MEMORY_MIB = 2048


class SettingsError(ValueError):
    """A setting from the environment is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    """Everything the project reads from the environment, validated once."""

    data_dir: Path
    duckdb_path: Path
    source: str
    files_dir: Path | None
    tickers: tuple[str, ...] | None
    start_date: dt.date
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    rules_path: Path = DEFAULT_RULES_PATH
    # Overrides `training.quiet_sample` of the rules when set.
    quiet_sample: float | None = None
    memory_mib: int = DEFAULT_MEMORY_MIB
    instance: str = DEFAULT_INSTANCE
    # Whether MARKETFLOW_INSTANCE chose `instance`; if not, an existing DAGSTER_HOME keeps its own.
    instance_chosen: bool = False
    # A server of the user's for `instance="postgres"`; None runs the embedded one.
    postgres_url: str | None = None
    # The Redis broker of the Celery workers that backfills run on (runs/workers.py); None runs
    # every stage in the command's own process.
    celery_broker: str | None = None
    # Worker processes of CPU-bound work (rendering, lint); None: every core this process may
    # use; 1: in this process.
    workers: int | None = None
    # A folder of Delta tables that is the store instead of the DuckDB file (store/lake.py).
    lake_dir: Path | None = None

    @property
    def store_location(self) -> Path | Lake:
        """Where the store is: the lake when one is set, else the DuckDB file."""
        return Lake(self.lake_dir) if self.lake_dir is not None else self.duckdb_path

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate MARKETFLOW_* variables; raise SettingsError naming the bad one."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("MARKETFLOW_DATA_DIR") or default_data_dir())
        duckdb_path = Path(env.get("MARKETFLOW_DUCKDB") or data_dir / "marketflow.duckdb")
        lake_dir = Path(env["MARKETFLOW_LAKE"]) if env.get("MARKETFLOW_LAKE") else None

        source = (env.get("MARKETFLOW_SOURCE") or "sample").strip().lower()
        if source not in SOURCE_NAMES:
            raise SettingsError(
                f"MARKETFLOW_SOURCE={source!r} is not a known source; "
                f"choose one of {', '.join(SOURCE_NAMES)}"
            )

        files_dir = None
        if env.get("MARKETFLOW_FILES_DIR"):
            files_dir = Path(env["MARKETFLOW_FILES_DIR"])
        if source == "files":
            if files_dir is None:
                raise SettingsError("MARKETFLOW_SOURCE=files needs MARKETFLOW_FILES_DIR (a folder)")
            if not files_dir.is_dir():
                raise SettingsError(f"MARKETFLOW_FILES_DIR={files_dir} is not an existing folder")

        tickers = parse_tickers(env.get("MARKETFLOW_TICKERS", ""))
        if source == "yfinance" and not tickers:
            raise SettingsError(
                "MARKETFLOW_SOURCE=yfinance needs MARKETFLOW_TICKERS (e.g. AAPL,MSFT)"
            )

        raw_start = env.get("MARKETFLOW_START_DATE")
        try:
            start_date = dt.date.fromisoformat(raw_start) if raw_start else DEFAULT_START_DATE
        except ValueError as exc:
            raise SettingsError(
                f"MARKETFLOW_START_DATE={raw_start!r} is not a date (YYYY-MM-DD)"
            ) from exc

        templates_dir = Path(env.get("MARKETFLOW_TEMPLATES_DIR") or DEFAULT_TEMPLATES_DIR)
        if not templates_dir.is_dir():
            raise SettingsError(
                f"MARKETFLOW_TEMPLATES_DIR={templates_dir} is not an existing folder"
            )

        rules_path = Path(env.get("MARKETFLOW_RULES") or DEFAULT_RULES_PATH)
        if not rules_path.is_file():
            raise SettingsError(f"MARKETFLOW_RULES={rules_path} is not an existing file")

        raw_quiet = env.get("MARKETFLOW_QUIET_SAMPLE")
        quiet_sample = None if not raw_quiet else _fraction("MARKETFLOW_QUIET_SAMPLE", raw_quiet)

        raw_memory = env.get("MARKETFLOW_MEMORY_MIB") or str(DEFAULT_MEMORY_MIB)
        if not raw_memory.isdigit() or int(raw_memory) < 1:
            raise SettingsError(
                f"MARKETFLOW_MEMORY_MIB={raw_memory!r} is not a positive whole number of MiB"
            )

        instance = (env.get("MARKETFLOW_INSTANCE") or DEFAULT_INSTANCE).strip().lower()
        if instance not in INSTANCE_NAMES:
            raise SettingsError(
                f"MARKETFLOW_INSTANCE={instance!r} is not a known instance; "
                f"choose one of {', '.join(INSTANCE_NAMES)}"
            )
        postgres_url = env.get("MARKETFLOW_POSTGRES_URL") or None
        if postgres_url and instance != "postgres":
            raise SettingsError(
                "MARKETFLOW_POSTGRES_URL is set but MARKETFLOW_INSTANCE is not postgres"
            )

        celery_broker = env.get("MARKETFLOW_CELERY_BROKER") or None
        if celery_broker and not celery_broker.startswith(BROKER_SCHEMES):
            raise SettingsError(
                "MARKETFLOW_CELERY_BROKER is not a Redis URL; give redis://host:port/db "
                "(or rediss://, redis+socket://)"
            )
        if celery_broker and instance != "postgres":
            raise SettingsError(
                "MARKETFLOW_CELERY_BROKER needs MARKETFLOW_INSTANCE=postgres: the workers and "
                "the command share the run history there"
            )

        raw_workers = env.get("MARKETFLOW_WORKERS")
        if raw_workers and (not raw_workers.isdigit() or int(raw_workers) < 1):
            raise SettingsError(
                f"MARKETFLOW_WORKERS={raw_workers!r} is not a positive whole number of processes"
            )

        return cls(
            data_dir=data_dir,
            duckdb_path=duckdb_path,
            source=source,
            files_dir=files_dir,
            tickers=tickers,
            start_date=start_date,
            templates_dir=templates_dir,
            rules_path=rules_path,
            quiet_sample=quiet_sample,
            memory_mib=int(raw_memory),
            instance=instance,
            instance_chosen=bool(env.get("MARKETFLOW_INSTANCE")),
            postgres_url=postgres_url,
            celery_broker=celery_broker,
            workers=int(raw_workers) if raw_workers else None,
            lake_dir=lake_dir,
        )


def _fraction(name: str, raw: str) -> float:
    """`raw` as a number in [0, 1], or a SettingsError naming the variable."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{name}={raw!r} is not a fraction between 0 and 1")
    return value


def working_dir(root: Path = PROJECT_ROOT) -> Path:
    """The checkout at `root` (it holds pyproject.toml), else the current folder: where the
    store and Dagster's home go by default, never inside an installed package."""
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def default_data_dir(root: Path = PROJECT_ROOT) -> Path:
    """`data/` of the checkout at `root`, else `./data` of the current folder."""
    return working_dir(root) / "data"


def default_dagster_home(root: Path = PROJECT_ROOT) -> Path:
    """`.dagster_home/` of the checkout at `root`, else of the current folder."""
    return working_dir(root) / ".dagster_home"


def parse_tickers(raw: str) -> tuple[str, ...] | None:
    """Comma- or space-separated tickers, upper-cased and de-duplicated; None when empty."""
    names = [t.strip().upper() for t in raw.replace(",", " ").split()]
    unique = tuple(dict.fromkeys(n for n in names if n))
    return unique or None
