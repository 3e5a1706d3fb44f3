"""The `marketflow` command, run in-process against a temporary store and Dagster home."""

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from marketflow_assets.cli import main
from marketflow_assets_tests.frames import bars_for


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary store and DAGSTER_HOME; returns the store path."""
    store = tmp_path / "data" / "marketflow.duckdb"
    monkeypatch.setenv("MARKETFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MARKETFLOW_DUCKDB", str(store))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("COLUMNS", "200")
    return store


@pytest.fixture
def files_env(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    bars_for(["AAA", "BBB"], dt.date(2024, 7, 1), dt.date(2024, 7, 12)).write_csv(
        folder / "bars.csv"
    )
    monkeypatch.setenv("MARKETFLOW_SOURCE", "files")
    monkeypatch.setenv("MARKETFLOW_FILES_DIR", str(folder))
    return env


def test_backfill_then_status(files_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The VPA assets would need the year before; bars alone need nothing earlier.
    args = ["backfill", "--start", "2024-06-29", "--end", "2024-07-12", "--select", "daily_bars"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sessions 2024-07-01 .. 2024-07-12 (one run)" in out
    assert "daily_bars" in out
    assert "succeeded" in out
    with duckdb.connect(str(files_env), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM bars").fetchone()[0] == 18

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "bars" in out
    assert "18" in out
    assert "2024-07-12" in out
    assert "Last run: daily_pipeline 2024-07-01 .. 2024-07-12 SUCCESS" in out


def test_backfill_of_selected_assets(files_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03", "--select", "daily_bars"])
        == 0
    )
    assert "daily_bars" in capsys.readouterr().out
    assert (
        main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03", "--select", "nope"]) == 2
    )
    assert "['nope'] were selected" in capsys.readouterr().out


def test_failed_run_exits_non_zero_with_the_reason(
    files_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "incoming" / "broken.csv").write_text("date,open\n2024-07-10,1\n")
    assert main(["backfill", "--start", "2024-07-01", "--end", "2024-07-12"]) == 1
    assert "broken.csv: missing column(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill", "--start", "2024-07-06", "--end", "2024-07-07"], "no closed trading session"),
        (["backfill", "--start", "2024-07-12", "--end", "2024-07-01"], "is before start"),
        (["status"], "no store yet"),
        (["export", "--name", "../elsewhere"], "export name '../elsewhere' refused"),
        (["export", "--name", "a/b"], "export name 'a/b' refused"),
    ],
)
def test_bad_requests_are_clear_errors(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().out


def test_demo_runs_the_whole_sample_scores_and_exports_it(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "sessions 2009-08-21 .. 2010-08-20 (one run)" in out
    # The windows closed by the sample's last session (2010-08-20) are scored.
    assert "score outcomes for sessions 2009-08-21 .. 2010-07-23 (one run)" in out
    assert "Scorecard by signal and strength" in out
    assert (tmp_path / "data" / "reports" / "scorecard.md").read_text().startswith("# Signal")
    with duckdb.connect(str(env), read_only=True) as conn:
        scored = conn.execute("SELECT count(*), max(date) FROM outcomes").fetchone()
        signals = conn.execute("SELECT count(*) FROM signals WHERE date <= '2010-07-23'").fetchone()
    assert scored == (signals[0], dt.date(2010, 7, 23))
    assert "122,496" in out  # bars
    assert "open_outside_range 78" in out
    assert "make ui" in out
    folder = tmp_path / "data" / "exports" / "sample"
    assert f"Export sample: {folder}" in out
    with duckdb.connect(str(env), read_only=True) as conn:
        rows = conn.execute("SELECT train_rows, validation_rows, test_rows FROM exports").fetchall()
    ((train, validation, test),) = rows
    assert f"train {train:,}, validation {validation:,}, test {test:,}" in out
    assert min(train, validation, test) > 0
    assert (folder / "chat" / "train.jsonl").read_text().count("\n") == train

    assert main(["scorecard", "--by", "year"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Scorecard by signal and year" in out
    assert "2009" in out
    assert "2010" in out


def test_a_backfill_without_history_names_the_missing_sessions(
    files_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "vpa_features: " in out
    assert "daily_bars has not been materialised for 250 session(s)" in out
