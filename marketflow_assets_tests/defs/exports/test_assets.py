"""The export through real Dagster runs on a real DuckDB file holding the pairs of forty tickers of
the sample, some reviewed: chunked exports give the bytes of the one-chunk export."""

import re
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.chain import run_chain
from marketflow_assets.definitions import build_definitions
from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.settings import Settings
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.sources.sample import load_sample
from marketflow_assets.store import reviews
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.writes import replace_windows
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa import load_rules
from marketflow_assets_tests.defs.stores import copy_of

TICKERS = 40


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store with the pairs of the first forty tickers of the sample (10,205 pairs over 185
    sessions): every 19th approved, every 23rd edited (some then approved), every 29th
    rejected."""
    rules = load_rules()
    raw = load_sample()
    raw = raw.filter(pl.col("ticker").is_in(raw["ticker"].unique().sort().head(TICKERS).implode()))
    bars = sort_bars(raw, sessions_between(raw["date"].min(), raw["date"].max()), "sample").bars
    snapshots = run_chain(bars, rules).snapshots(rules)
    pairs = render_pairs(select_snapshots(snapshots, rules.training.quiet_sample), load_templates())
    settings = Settings.from_env(
        {"MARKETFLOW_DATA_DIR": str(tmp_path_factory.mktemp("sample") / "data")}
    )
    with open_store(settings.duckdb_path) as conn:
        replace_windows(conn, {"training_pairs": pairs}, pairs["as_of"].min(), pairs["as_of"].max())
        for i, pair_id in enumerate(pairs["pair_id"].sort()):
            if i % 19 == 0:
                reviews.approve(conn, pair_id, reviewer="ana")
            elif i % 23 == 0:
                edited = f'Edited «{i}»: the volume\u2028says "wait"\n\nand\u00a0why.'
                reviews.edit(conn, pair_id, edited, reviewer="bo")
                if i % 2:
                    reviews.approve(conn, pair_id, reviewer="ana")
            elif i % 29 == 0:
                reviews.reject(conn, pair_id, reason="off topic", reviewer="ana")
    return settings


def export(
    settings: Settings, instance: dg.DagsterInstance, config: dict[str, object]
) -> dg.ExecuteInProcessResult:
    """Materialise the export asset of definitions built from `settings`, with `config`."""
    [asset] = [
        a for a in build_definitions(settings).assets or [] if a.key.path[-1] == "training_dataset"
    ]
    return dg.materialize(
        [asset],
        resources=resources_from_settings(settings),
        instance=instance,
        run_config={"ops": {"training_dataset": {"config": config}}},
        raise_on_error=False,
    )


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def exports_row(settings: Settings) -> pl.DataFrame:
    """The `exports` table but the time and place of each export."""
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        return conn.sql("SELECT * EXCLUDE (exported_at, path) FROM exports ORDER BY name").pl()


@pytest.mark.parametrize(
    "config",
    [
        {"name": "all"},
        {"name": "approved", "only_approved": True},
        {"name": "window", "start": "2010-01-04", "end": "2010-06-30", "max_similar": 3},
        {"name": "whole", "split": "none", "max_similar": 2},
    ],
    ids=lambda config: config["name"],
)
def test_an_export_in_many_chunks_writes_the_bytes_of_one_chunk(
    sample_store: Settings,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    config: dict[str, object],
) -> None:
    """1 MiB reads the pairs a few sessions at a time; the default budget reads them at once."""
    written = {}
    for memory_mib in (1, sample_store.memory_mib):
        settings = copy_of(sample_store, tmp_path / f"mib{memory_mib}", memory_mib=memory_mib)
        result = export(settings, instance, config)
        assert result.success, failure_reasons(result)
        logged = instance.all_logs(result.run_id)
        lines = [e.user_message for e in logged if e.dagster_event is None]
        keys = [line for line in lines if line.startswith("export keys:")]
        files = [line for line in lines if line.startswith("export files:")]
        # The default budget holds every pair: one chunk per pass and split.
        if memory_mib == 1:
            assert len(keys) > 20, lines
            assert len(files) > 10, lines
        else:
            assert len(keys) == 1, lines
            assert len(files) == (1 if config.get("split") == "none" else 3), lines
        assert re.match(r"export files: ([0-9,]+) of \1 sessions", files[-1]), files[-1]
        written[memory_mib] = (
            files_of(settings.exports_dir / str(config["name"])),
            exports_row(settings),
        )
    (small, small_row), (default, default_row) = written.values()
    assert small == default
    assert_frame_equal(small_row, default_row)
    assert {"README.md", "manifest.json", "chat/train.jsonl", "parquet/train.parquet"} <= set(
        default
    )
