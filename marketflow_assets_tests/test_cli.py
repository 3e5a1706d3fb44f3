"""The `marketflow` command, run in-process at 80 columns against a temporary store and Dagster
home."""

import contextlib
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from marketflow_assets.cli import main
from marketflow_assets.cli.scorecard import print_scorecard
from marketflow_assets.settings import Settings
from marketflow_assets_tests.frames import bars_for

WIDTH = 80
ROW = re.compile(r"(buy|sell|hold) ")


def isolate(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """Point the command at a store and DAGSTER_HOME under `root`, in an 80-column terminal,
    whatever MARKETFLOW_* variables the caller has set; returns the store path."""
    for name in list(os.environ):
        if name.startswith("MARKETFLOW_"):
            monkeypatch.delenv(name)
    store = root / "data" / "marketflow.duckdb"
    monkeypatch.setenv("MARKETFLOW_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("MARKETFLOW_DUCKDB", str(store))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return store


def assert_fits(output: str) -> None:
    """No line of `output` is wider than the terminal and no cell was cut to '…'."""
    assert [line for line in output.splitlines() if len(line) > WIDTH] == []
    assert "…" not in output


def joined(output: str) -> str:
    """`output` with rich's line wrapping undone."""
    return " ".join(output.split())


def squeezed(output: str) -> str:
    """`output` without whitespace: a path longer than a line is folded anywhere."""
    return "".join(output.split())


def cells(line: str) -> list[str]:
    """The cells of a table row: its columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


def percent(value: float | None, sign: str = "") -> str:
    return "–" if value is None else f"{100 * value:{sign}.1f}%"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary store and DAGSTER_HOME; returns the store path."""
    return isolate(monkeypatch, tmp_path)


def use_files(monkeypatch: pytest.MonkeyPatch, folder: Path, start: dt.date, end: dt.date) -> None:
    """The `files` source, reading AAA's and BBB's bars of every session in [start, end]."""
    folder.mkdir()
    bars_for(["AAA", "BBB"], start, end).write_csv(folder / "bars.csv")
    monkeypatch.setenv("MARKETFLOW_SOURCE", "files")
    monkeypatch.setenv("MARKETFLOW_FILES_DIR", str(folder))


@pytest.fixture
def files_env(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_files(monkeypatch, tmp_path / "incoming", dt.date(2024, 7, 1), dt.date(2024, 7, 12))
    return env


def test_backfill_then_status(files_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The VPA assets would need the year before; bars alone need nothing earlier.
    args = ["backfill", "--start", "2024-06-29", "--end", "2024-07-12", "--select", "daily_bars"]
    assert main(args) == 0
    out = joined(capsys.readouterr().out)
    assert "sessions 2024-07-01 .. 2024-07-12 (one run)" in out
    assert "daily_bars" in out
    assert "succeeded" in out
    with duckdb.connect(str(files_env), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM bars").fetchone()[0] == 18

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert re.search(r"^bars +18 +2 +2024-07-01 +2024-07-12$", out, re.MULTILINE)
    assert "Last run: daily_pipeline 2024-07-01 .. 2024-07-12 SUCCESS" in joined(out)


def test_backfill_of_selected_assets(files_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03", "--select", "daily_bars"])
        == 0
    )
    assert "daily_bars" in capsys.readouterr().out
    assert (
        main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03", "--select", "nope"]) == 2
    )
    assert "['nope'] were selected" in joined(capsys.readouterr().out)


def test_backfill_of_signal_outcomes_scores_the_range_in_job_score_outcomes(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # From the first partition on, so no history is needed; the bars reach past the 30-day
    # windows of every session up to 2009-09-30 (the last closes on 2009-10-30).
    use_files(monkeypatch, tmp_path / "incoming", dt.date(2009, 8, 21), dt.date(2009, 11, 30))
    analysis = "daily_bars,vpa_features,vpa_signals"
    assert (
        main(["backfill", "--start", "2009-08-21", "--end", "2009-11-30", "--select", analysis])
        == 0
    )
    capsys.readouterr()

    complete = ["--start", "2009-08-21", "--end", "2009-09-30"]  # windows in the store
    assert main(["backfill", *complete, "--select", "signal_outcomes"]) == 0
    out = joined(capsys.readouterr().out)
    assert "Materialising signal_outcomes for sessions 2009-08-21 .. 2009-09-30 (one run)" in out
    assert "succeeded" in out
    with duckdb.connect(str(env), read_only=True) as conn:
        scored = conn.execute(
            "SELECT count(*), count(DISTINCT ticker), count(DISTINCT date), min(date), max(date), "
            "max(matured_on) FROM outcomes"
        ).fetchone()
    # Two tickers by the 28 sessions of 2009-08-21 .. 2009-09-30 (Labor Day, 09-07, is none).
    assert scored == (56, 2, 28, dt.date(2009, 8, 21), dt.date(2009, 9, 30), dt.date(2009, 10, 30))
    assert main(["status"]) == 0
    assert "Last run: score_outcomes 2009-08-21 .. 2009-09-30 SUCCESS" in joined(
        capsys.readouterr().out
    )

    # A range reaching past the bars is scored up to its last complete window: 2009-10-30's
    # closes on Sunday 2009-11-29; 2009-11-02's needs 2009-12-01.
    assert (
        main(
            [
                "backfill",
                "--start",
                "2009-10-01",
                "--end",
                "2009-11-30",
                "--select",
                "signal_outcomes",
            ]
        )
        == 0
    )
    out = joined(capsys.readouterr().out)
    assert "Scoring up to 2009-10-30: the windows of later sessions are not complete." in out
    assert "signal_outcomes for sessions 2009-10-01 .. 2009-10-30 (one run)" in out
    with duckdb.connect(str(env), read_only=True) as conn:
        assert conn.execute("SELECT max(date) FROM outcomes").fetchone() == (dt.date(2009, 10, 30),)
    late = ["--start", "2009-11-02", "--end", "2009-11-30", "--select", "signal_outcomes"]
    assert main(["backfill", *late]) == 2
    assert "no session of 2009-11-02 .. 2009-11-30 has its whole outcome window" in joined(
        capsys.readouterr().out
    )


def test_failed_run_exits_non_zero_with_the_reason(
    files_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "incoming" / "broken.csv").write_text("date,open\n2024-07-10,1\n")
    assert main(["backfill", "--start", "2024-07-01", "--end", "2024-07-12"]) == 1
    assert "broken.csv:missingcolumn(s)" in squeezed(capsys.readouterr().out)


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
    assert message in joined(capsys.readouterr().out)


def test_a_backfill_without_history_names_the_missing_sessions(
    files_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", "--start", "2024-07-01", "--end", "2024-07-03"]) == 1
    out = joined(capsys.readouterr().out)
    assert "vpa_features: " in out
    assert "daily_bars has not been materialised for 250 session(s)" in out


@dataclass(frozen=True)
class Demo:
    """What `marketflow demo` left: its store, data folder and printed output."""

    store: Path
    data: Path
    output: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`marketflow demo` run once for the tests below, which read its store; its environment
    stays set while they run."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        store = isolate(monkeypatch, root)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["demo"])
        assert code == 0, printed.getvalue()
        yield Demo(store, root / "data", printed.getvalue())


def test_demo_runs_the_whole_sample_scores_and_exports_it(demo: Demo) -> None:
    assert_fits(demo.output)
    out = joined(demo.output)
    assert "sessions 2009-08-21 .. 2010-08-20 (one run)" in out
    # The windows closed by the sample's last session (2010-08-20) are scored.
    assert "score outcomes for sessions 2009-08-21 .. 2010-07-23 (one run)" in out
    assert "Scorecard by signal and strength: hit rates (30-day windows)" in out
    assert (demo.data / "reports" / "scorecard.md").read_text().startswith("# Signal")
    with duckdb.connect(str(demo.store), read_only=True) as conn:
        scored = conn.execute("SELECT count(*), max(date) FROM outcomes").fetchone()
        signals = conn.execute("SELECT count(*) FROM signals WHERE date <= '2010-07-23'").fetchone()
        rows = conn.execute("SELECT train_rows, validation_rows, test_rows FROM exports").fetchall()
    assert scored == (signals[0], dt.date(2010, 7, 23))
    assert re.search(r"^bars +122,496 +524 +2009-08-21 +2010-08-20$", demo.output, re.MULTILINE)
    assert "open_outside_range 78" in out
    assert "make ui" in out
    folder = demo.data / "exports" / "sample"
    assert "Export sample: " in demo.output
    assert str(folder) in squeezed(demo.output)
    ((train, validation, test),) = rows
    assert f"train {train:,}, validation {validation:,}, test {test:,}" in out
    assert min(train, validation, test) > 0
    assert (folder / "chat" / "train.jsonl").read_text().count("\n") == train


# The rows `scorecard --by` shows, by the scorecard's group column: the other two at "all".
SHOWN = {
    "strength": "pattern = 'all' AND period = 'all'",
    "pattern": "strength = 'all' AND period = 'all'",
    "period": "strength = 'all' AND pattern = 'all'",
}
SIGNAL_ORDER = {"BUY": 0, "SELL": 1, "HOLD": 2}


@pytest.mark.parametrize(
    ("by", "group"), [("strength", "strength"), ("pattern", "pattern"), ("year", "period")]
)
def test_the_scorecard_by_each_breakdown_fits_80_columns_in_two_tables(
    demo: Demo, capsys: pytest.CaptureFixture[str], by: str, group: str
) -> None:
    assert main(["scorecard", "--by", by]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert f"Scorecard by signal and {by}: hit rates (30-day windows)" in out
    assert f"Scorecard by signal and {by}: returns, calibration" in out
    assert "PF: profit factor" in joined(out)
    with duckdb.connect(str(demo.store), read_only=True) as conn:
        stored = conn.sql(f"SELECT * FROM scorecard WHERE {SHOWN[group]}").pl().to_dicts()
    # By signal type, BUY, SELL then HOLD, "all" first.
    stored.sort(key=lambda r: (SIGNAL_ORDER[r["signal"]], r[group] != "all", r[group]))
    hits = [
        [
            row["signal"].lower(),
            row[group].replace("_", " ").lower(),
            f"{row['signals']:,}",
            f"{row['matured']:,}",
            f"{percent(row['hit_rate'])} ({percent(row['hit_low'])[:-1]}–"
            f"{percent(row['hit_high'])})",
            percent(row["base_rate"]),
        ]
        for row in stored
    ]
    returns = [
        [
            row["signal"].lower(),
            row[group].replace("_", " ").lower(),
            percent(row["mean_ret_window"], "+"),
            percent(row["excess_ret_window"], "+"),
            "–" if row["profit_factor"] is None else f"{row['profit_factor']:.2f}",
            f"{row['brier']:.3f}",
            "–" if row["rank_corr"] is None else f"{row['rank_corr']:.3f}",
            "yes" if row["ready"] else "no",
        ]
        for row in stored
    ]
    assert [cells(line) for line in out.splitlines() if ROW.match(line)] == hits + returns
    if by == "year":
        # The sample's matured outcomes span 2009 and 2010: all years, then each.
        assert [row[:2] for row in hits] == [
            [signal, year] for signal in ("buy", "sell", "hold") for year in ("all", "2009", "2010")
        ]


def test_a_wide_terminal_shows_the_scorecard_in_one_table(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    print_scorecard(Settings.from_env(), by="year")
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("signal"))
    assert cells(header) == [
        "signal",
        "year",
        "signals",
        "matured",
        "hit rate (95% CI)",
        "base rate",
        "mean return",
        "excess",
        "profit factor",
        "Brier",
        "rank corr",
        "ready",
    ]
    assert len([line for line in lines if ROW.match(line)]) == 9


def test_status_fits_80_columns(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert re.search(r"^outcomes +113,053 +524 +2009-08-21 +2010-07-23$", out, re.MULTILINE)
    assert re.search(r"^exports +1 *$", out, re.MULTILINE)
    assert "Last run: " in out


def table_row(lines: list[str], header: str) -> tuple[list[str], list[str]]:
    """The cells of the header starting with `header` and of the first row under its rule."""
    at = next(i for i, line in enumerate(lines) if line.startswith(header))
    return cells(lines[at]), cells(lines[at + 2])


def test_stats_fits_80_columns_and_shows_every_export_count(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect(str(demo.store), read_only=True) as conn:
        ((when, *counts),) = conn.execute(
            "SELECT exported_at, pairs, train_rows, validation_rows, test_rows, "
            "near_duplicates_dropped FROM exports"
        ).fetchall()
    export = ["sample", f"{when:%Y-%m-%d %H:%M}", "no", *(f"{n:,}" for n in counts)]
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert table_row(out.splitlines(), "name") == (
        ["name", "exported (UTC)", "appr.", "pairs", "train", "val.", "test", "dups"],
        export,
    )
    assert "appr.: approved pairs only; val.: validation; dups: near-duplicates dropped." in out

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["stats"]) == 0
    header, row = table_row(capsys.readouterr().out.splitlines(), "name")
    assert header[2:] == [
        "approved only",
        "pairs",
        "train",
        "validation",
        "test",
        "near-duplicates dropped",
    ]
    assert row == export
