"""`marketflow review` and `marketflow stats`, run in-process at 80 columns against a temporary
store."""

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from marketflow_assets.cli import main
from marketflow_assets.cli.review import NOTE_WIDTH
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.writes import replace_windows
from marketflow_assets_tests.store.test_connection import held_by_python
from marketflow_assets_tests.store.test_reviews import pair_rows
from marketflow_assets_tests.test_cli import assert_fits, isolate

DAY = dt.date(2024, 7, 1)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary store and data folder; the reviewer is `ana` unless --reviewer says else."""
    store = isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("LOGNAME", "ana")  # what getpass.getuser() reads first
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    return store


@pytest.fixture
def pair_ids(env: Path) -> list[str]:
    """Two pending pairs in the store: AAA's vpa_analysis, BBB's risk_assessment."""
    pairs = pair_rows(
        ("AAA", DAY, "vpa_analysis", "Buy: [volume] confirms the breakout."),
        ("BBB", DAY, "risk_assessment", "Stop below 97.5."),
    )
    with open_store(env) as conn:
        replace_windows(conn, {"training_pairs": pairs}, DAY, DAY)
    return pairs["pair_id"].to_list()


def reviewed(store: Path, pair_id: str) -> tuple:
    with duckdb.connect(str(store), read_only=True) as conn:
        return conn.execute(
            "SELECT review_status, review_reason, edited_response, reviewer FROM reviewed_pairs "
            "WHERE pair_id = ?",
            [pair_id],
        ).fetchall()[0]


def out(capsys: pytest.CaptureFixture[str]) -> str:
    """Captured output with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().out.split())


def test_list_shows_pairs_and_filters_them(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    aaa, bbb = pair_ids
    assert main(["review", "list"]) == 0
    text = out(capsys)
    assert aaa[:12] in text
    assert bbb[:12] in text
    assert "2 pair(s) shown (limit 50)" in text

    assert main(["review", "list", "--type", "risk_assessment", "--ticker", "bbb"]) == 0
    text = out(capsys)
    assert bbb[:12] in text
    assert aaa[:12] not in text

    assert main(["review", "list", "--status", "approved"]) == 0
    assert "No training pairs match." in out(capsys)


def test_approve_reject_and_show_the_history(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    aaa, bbb = pair_ids
    assert main(["review", "approve", aaa[:8]]) == 0
    assert f"Approved pair {aaa}." in out(capsys)
    assert reviewed(env, aaa) == ("approved", None, None, "ana")

    assert main(["review", "reject", bbb, "--reason", "stop too tight", "--reviewer", "bo"]) == 0
    assert f"Rejected pair {bbb}: stop too tight" in out(capsys)
    assert reviewed(env, bbb) == ("rejected", "stop too tight", None, "bo")

    assert main(["review", "show", bbb[:10]]) == 0
    text = out(capsys)
    assert f"Pair {bbb}" in text
    assert "BBB as of 2024-07-01, risk_assessment" in text
    assert "BBB on 2024-07-01: what does the volume say?" in text  # the prompt
    assert "Stop below 97.5." in text
    assert "Status: rejected by bo at" in text
    assert re.search(r" bo +rejected +stop too tight", text)  # the history table

    assert main(["review", "show", aaa]) == 0
    assert "Buy: [volume] confirms the breakout." in out(capsys)  # not taken for markup


def test_reject_without_a_reason_is_refused(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["review", "reject", pair_ids[0]])
    assert exit_info.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["review", "reject", pair_ids[0], "--reason", "  "]) == 2
    assert "needs a reason" in out(capsys)


def test_edit_from_a_file(
    env: Path, pair_ids: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrected = tmp_path / "corrected.txt"
    corrected.write_text("Stop below 96, under the spring's low.\n")
    assert main(["review", "edit", pair_ids[1], "--file", str(corrected)]) == 0
    assert f"Recorded the edited response of pair {pair_ids[1]}." in out(capsys)
    assert reviewed(env, pair_ids[1]) == (
        "edited",
        None,
        "Stop below 96, under the spring's low.",
        "ana",
    )

    assert main(["review", "edit", pair_ids[1], "--file", str(corrected)]) == 2
    assert "is unchanged; nothing written" in out(capsys)
    assert main(["review", "edit", pair_ids[1], "--file", str(tmp_path)]) == 2
    assert f"error: cannot read {tmp_path}: Is a directory" in out(capsys)


def editor_script(tmp_path: Path, text: str) -> Path:
    """An editor that keeps a copy of the file it is given, then overwrites it with `text`."""
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\ncp "$1" "{tmp_path}/seen.txt"\nprintf "{text}" > "$1"\n')
    script.chmod(0o755)
    return script


def test_edit_in_the_editor_prefilled_with_the_current_response(
    env: Path,
    pair_ids: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDITOR", str(editor_script(tmp_path, "Stop below 96.")))
    assert main(["review", "edit", pair_ids[1][:8], "--reviewer", "bo"]) == 0
    assert (tmp_path / "seen.txt").read_text() == "Stop below 97.5.\n"
    assert reviewed(env, pair_ids[1]) == ("edited", None, "Stop below 96.", "bo")
    assert f"Recorded the edited response of pair {pair_ids[1]}." in out(capsys)


@pytest.mark.parametrize(
    ("editor_text", "message"),
    [("", "is empty; nothing written"), ("Stop below 97.5.", "is unchanged; nothing written")],
)
def test_an_empty_or_unchanged_edit_writes_nothing(
    env: Path,
    pair_ids: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    editor_text: str,
    message: str,
) -> None:
    monkeypatch.setenv("VISUAL", str(editor_script(tmp_path, editor_text)))
    assert main(["review", "edit", pair_ids[1]]) == 2
    assert message in out(capsys)
    assert reviewed(env, pair_ids[1])[0] == "pending"


def test_edit_without_an_editor_says_how(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "edit", pair_ids[0]]) == 2
    assert "error: set $VISUAL or $EDITOR, or pass the corrected response with --file" in out(
        capsys
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["review", "show", "0123456789abcdef"],
        ["review", "approve", "0123456789abcdef"],
        ["review", "edit", "0123456789abcdef", "--file", __file__],
    ],
)
def test_an_unknown_id_exits_2_naming_it(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    assert "error: no training pair has the id '0123456789abcdef'" in out(capsys)


def test_reviews_need_a_store(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "approve", "0123456789abcdef"]) == 2
    assert "no store yet" in out(capsys)
    assert not env.exists()


def test_stats_counts_pairs_by_type_and_status(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "approve", pair_ids[0]]) == 0
    capsys.readouterr()
    assert main(["stats"]) == 0
    text = out(capsys)
    assert "Training pairs (2)" in text
    assert "risk_assessment 1" in text
    assert "approved 1" in text
    assert "pending 1" in text
    assert "No exports yet." in text
    assert "No snapshots yet." in text


def test_list_fits_80_columns_with_every_value_whole(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = pair_rows(
        ("GOOGL", DAY, "trading_recommendation", "Buy above 101, stop 97."),
        ("BRK.B", DAY, "pattern_explanation", "A spring: the low was tested on light volume."),
    )
    with open_store(env) as conn:
        replace_windows(conn, {"training_pairs": pairs}, DAY, DAY)
    first, second = pairs["pair_id"].to_list()
    assert main(["review", "approve", first, "--reviewer", "anastasia.example"]) == 0
    capsys.readouterr()

    assert main(["review", "list"]) == 0
    text = capsys.readouterr().out
    assert_fits(text)
    lines = text.splitlines()
    # Two lines a pair: id, ticker, type and status over as-of date, signal and reviewer.
    at = next(i for i, line in enumerate(lines) if line.startswith(first[:12]))
    assert lines[at].split() == [first[:12], "GOOGL", "trading_recommendation", "approved"]
    assert lines[at + 1].split() == ["2024-07-01", "moderate", "buy", "0.60", "anastasia.example"]
    at = next(i for i, line in enumerate(lines) if line.startswith(second[:12]))
    assert lines[at].split() == [second[:12], "BRK.B", "pattern_explanation", "pending"]
    assert lines[at + 1].split() == ["2024-07-01", "moderate", "buy", "0.60"]

    # A wide terminal gets a pair a line.
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["review", "list"]) == 0
    row = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(first[:12]))
    assert row.split() == [
        first[:12],
        "2024-07-01",
        "GOOGL",
        "trading_recommendation",
        "moderate",
        "buy",
        "0.60",
        "approved",
        "anastasia.example",
    ]


def test_show_fits_80_columns_with_the_whole_history(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "the stop sits inside the day's range, so any noise takes it out; widen it to 96"
    reviewer = "anastasia.example"
    assert main(["review", "reject", pair_ids[1], "--reason", reason, "--reviewer", reviewer]) == 0
    assert main(["review", "approve", pair_ids[1], "--reviewer", "bo"]) == 0
    capsys.readouterr()
    with duckdb.connect(str(env), read_only=True) as conn:
        (rejected,), (approved,) = conn.execute(
            "SELECT reviewed_at FROM reviews ORDER BY review_id"
        ).fetchall()

    assert main(["review", "show", pair_ids[1]]) == 0
    text = capsys.readouterr().out
    assert_fits(text)
    assert "Review history, oldest first" in text
    assert re.search(rf"^1  {rejected:%Y-%m-%d %H:%M:%S}  {reviewer}  rejected  ", text, re.M)
    assert re.search(rf"^2  {approved:%Y-%m-%d %H:%M:%S}  bo +approved", text, re.M)
    # The reason wraps within its column (over two lines or more), cut to NOTE_WIDTH characters.
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#  when (UTC)"))
    column = lines[header].index("reason or edit")
    second = next(i for i, line in enumerate(lines) if line.startswith("2  "))
    note = " ".join(line[column:].strip() for line in lines[header + 2 : second])
    assert note == " ".join((reason[: NOTE_WIDTH - 3] + "...").split())
    assert second > header + 3


def test_stats_fits_80_columns(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats"]) == 0
    text = capsys.readouterr().out
    assert_fits(text)
    assert re.search(r"^risk_assessment +1$", text, re.M)
    assert re.search(r"^pending +2$", text, re.M)


def test_a_review_while_a_notebook_holds_the_store_names_it(
    env: Path, pair_ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with held_by_python(env) as pid:
        assert main(["review", "approve", pair_ids[0]]) == 2
    text = out(capsys)
    assert f"is held by PID {pid}, a Python process" in text
    assert "it is not a running job, so waiting will not help" in text
    assert "running job has finished" not in text
    assert reviewed(env, pair_ids[0])[0] == "pending"
