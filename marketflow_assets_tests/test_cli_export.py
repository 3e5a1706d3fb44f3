"""`marketflow export` through its recorded run: a few approved pairs export as one split, and
an error inside the run reaches the terminal as one line."""

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from marketflow_assets.cli import main
from marketflow_assets.store import reviews
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.writes import replace_windows
from marketflow_assets.vpa import load_rules
from marketflow_assets_tests.store.test_reviews import pair_rows

DAYS = (dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3))


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with three pairs of the current rules, two of them approved; the data folder."""
    folder = tmp_path / "data"
    monkeypatch.setenv("MARKETFLOW_DATA_DIR", str(folder))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("COLUMNS", "80")
    rules = load_rules()
    pairs = pair_rows(
        *((ticker, day, "vpa_analysis", f"{ticker} holds.") for ticker in "AB" for day in DAYS[:2]),
        ("C", DAYS[2], "vpa_analysis", "C holds."),
    ).with_columns(
        pl.lit(rules.hash).alias("rules_hash"), pl.lit(rules.version).alias("rules_version")
    )
    with open_store(folder / "marketflow.duckdb") as conn:
        replace_windows(conn, {"training_pairs": pairs}, DAYS[0], DAYS[-1])
        for pair_id in pairs.filter(pl.col("ticker") != "C")["pair_id"].head(2):
            reviews.approve(conn, pair_id, reviewer="ana")
    return folder


def test_a_few_approved_pairs_export_as_one_split_and_say_so(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--name", "few", "--only-approved"]) == 0
    printed = capsys.readouterr().out
    assert max(map(len, printed.splitlines())) <= 80
    out = " ".join(printed.split())
    # The run's progress, a line per chunk, as it goes.
    assert "export keys: 2 of 2 sessions, 2 rows (" in out
    assert "export files: 2 of 2 sessions, 2 rows (" in out
    assert (
        "2 pairs from 2024-07-01 to 2024-07-02 span 2 session(s), too few for a time split" in out
    )
    assert "one split: train 2 pairs (of 2;" in out
    folder = data / "exports" / "few"
    assert (folder / "chat" / "train.jsonl").read_text().count("\n") == 2
    assert not (folder / "chat" / "validation.jsonl").exists()
    assert json.loads((folder / "manifest.json").read_text())["split_mode"] == "none"


def test_an_error_inside_the_run_is_one_line_with_the_way_out(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--name", "few", "--only-approved", "--split", "time"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [line for line in lines if line.startswith("failed")]
    assert len(failed) == 1
    assert failed[0].startswith("failed training_dataset: 2 pairs from 2024-07-01")
    assert "--split none writes them as one train split" in " ".join(lines)
    assert not any("Traceback" in line or "dagster._core" in line for line in lines)
    assert len(lines) <= 6, lines
