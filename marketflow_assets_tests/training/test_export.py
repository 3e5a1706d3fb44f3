import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import re
import resource
import signal
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from marketflow_assets.calendar import sessions_between
from marketflow_assets.settings import Settings
from marketflow_assets.store.export_reads import frame_pairs
from marketflow_assets.training.export import (
    ExportError,
    ExportSummary,
    export_dataset,
    similarity_key,
)
from marketflow_assets.training.splits import SPLITS, plan_splits, sessions_needed
from marketflow_assets.training.templates import CONVERSATION_TYPES
from marketflow_assets.vpa.rules import load_rules

START, END = dt.date(2022, 1, 3), dt.date(2023, 12, 29)
EXPORTS = load_rules().exports
NEEDED = sessions_needed(EXPORTS.purge_sessions, EXPORTS.fractions)
STATUSES = ("pending", "approved", "rejected", "edited")
TICKERS = ("AAPL", "MSFT", "BRK.B", "A")
DEFAULT_MIB = Settings.from_env({}).memory_mib


def _word(number: int) -> str:
    """`number` in letters, so that masking digits keeps responses apart."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += string.ascii_lowercase[digit]
        if number == 0:
            return letters


def make_pairs(
    count: int,
    start: dt.date = START,
    end: dt.date = END,
    *,
    statuses: Sequence[str] = STATUSES,
    tickers: Sequence[str] = TICKERS,
) -> pl.DataFrame:
    """`count` reviewed pairs spread evenly over the NYSE sessions of [start, end], cycling
    tickers, conversation types and review statuses; edited ones carry an edited response."""
    sessions = sessions_between(start, end)
    rows = []
    for i in range(count):
        ticker = tickers[i % len(tickers)]
        as_of = sessions[i * len(sessions) // count]
        status = statuses[i % len(statuses)]
        kind = CONVERSATION_TYPES[(i // len(tickers)) % len(CONVERSATION_TYPES)]
        response = f"{ticker} closed at {100 + i}.25 on {as_of}: case {_word(i)}."
        rows.append(
            {
                "pair_id": hashlib.sha256(str(i).encode()).hexdigest(),
                "snapshot_id": hashlib.sha256(f"{ticker}{as_of}".encode()).hexdigest(),
                "ticker": ticker,
                "as_of": as_of,
                "conversation_type": kind,
                "template_name": f"{kind}.j2",
                "template_hash": hashlib.sha256(kind.encode()).hexdigest(),
                "schema_version": 2,
                "rules_version": "1.0.0",
                "rules_hash": "f" * 64,
                "signal": ("BUY", "SELL", "HOLD")[i % 3],
                "strength": ("weak", "moderate", "strong")[i % 3],
                "confidence": round((i % 97) / 97, 6),
                "system": "You are a volume-price analyst.",
                "prompt": f"Analyse {ticker} as of {as_of}. Volume {i * 1000:,}.",
                "response": response,
                "review_status": status,
                "review_reason": "off topic" if status == "rejected" else None,
                "edited_response": f"Edited: {response}" if status == "edited" else None,
                "reviewer": None if status == "pending" else "ana",
                "reviewed_at": None if status == "pending" else dt.datetime(2024, 1, 2, 9, 30),
            }
        )
    return pl.DataFrame(rows)


def export(
    pairs: pl.DataFrame, directory: Path, memory_mib: int = DEFAULT_MIB, **kwargs: Any
) -> ExportSummary:
    """export_dataset of `pairs` with the export settings of rules.yaml."""
    with frame_pairs(pairs) as source:
        return export_dataset(source, directory, rules=EXPORTS, memory_mib=memory_mib, **kwargs)


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def jsonl(path: Path) -> list[dict[str, Any]]:
    # Split on newlines only: JSON text may hold U+2028, which str.splitlines() would cut at.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def exported(path: Path) -> pl.DataFrame:
    """The metadata Parquet of every split an export wrote."""
    return pl.concat(pl.read_parquet(p) for p in sorted((path / "parquet").glob("*.parquet")))


@pytest.fixture
def load_dataset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """datasets.load_dataset, offline, with a cache in the test's folder."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)

    def load(path: str, **kwargs: Any) -> Any:
        return datasets.load_dataset(path, cache_dir=str(tmp_path / "hf"), **kwargs)

    return load


def test_export_loads_as_a_dataset_dict_in_each_configuration(
    tmp_path: Path, load_dataset: Callable[..., Any]
) -> None:
    import datasets

    summary = export(make_pairs(800), tmp_path / "exports", name="v1", only_approved=False)
    assert summary.path == tmp_path / "exports" / "v1"
    assert dict(summary.rows) == {"train": 421, "validation": 53, "test": 52}
    loaded = {
        name: load_dataset(str(summary.path), name=name) for name in (None, "chat", "instruction")
    }
    # What the card tells users to run for the Parquet configuration (see the test below).
    loaded["metadata"] = load_dataset("parquet", data_dir=str(summary.path / "parquet"))
    for dataset in loaded.values():
        assert isinstance(dataset, datasets.DatasetDict)
        assert list(dataset) == list(SPLITS)
        assert {s: dataset[s].num_rows for s in SPLITS} == dict(summary.rows)
    assert loaded[None]["train"][0]["messages"][0]["role"] == "system"
    instruction = loaded["instruction"]["validation"][0]
    assert set(instruction["input"]) == {"task", "ticker", "as_of", "prompt"}
    assert instruction["input"]["task"] in CONVERSATION_TYPES
    assert set(instruction["output"]["signal"]) == {"type", "strength", "confidence"}
    metadata = loaded["metadata"]["test"]
    assert {"review_status", "template_hash", "rules_hash", "split"} <= set(metadata.features)
    assert set(metadata["split"]) == {"test"}


@pytest.mark.xfail(
    reason="datasets reads every configuration with the first one's (JSON) reader: "
    "huggingface/datasets#7101; the card says how to load the Parquet files meanwhile",
    strict=False,
)
def test_the_metadata_configuration_loads_by_name(
    tmp_path: Path, load_dataset: Callable[..., Any]
) -> None:
    summary = export(make_pairs(400), tmp_path, name="v1", only_approved=False)
    metadata = load_dataset(str(summary.path), name="metadata")
    assert {s: metadata[s].num_rows for s in SPLITS} == dict(summary.rows)


def test_every_chat_line_is_an_openai_fine_tuning_record(tmp_path: Path) -> None:
    summary = export(make_pairs(400), tmp_path, name="chat", only_approved=False)
    for split in SPLITS:
        records = jsonl(summary.path / "chat" / f"{split}.jsonl")
        assert len(records) == summary.rows[split]
        for record in records:
            assert list(record) == ["messages"]
            assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
            for message in record["messages"]:
                assert set(message) == {"role", "content"}
                assert isinstance(message["content"], str)
                assert message["content"].strip()


def test_no_as_of_date_is_within_the_purged_sessions_of_another_split(tmp_path: Path) -> None:
    pairs = make_pairs(1500, statuses=("approved",))
    summary = export(pairs, tmp_path, name="gap", only_approved=True)
    rows = exported(summary.path)
    sessions = sessions_between(rows["as_of"].min(), rows["as_of"].max())
    index = {day: i for i, day in enumerate(sessions)}
    positions = {
        s: [index[d] for d in rows.filter(pl.col("split") == s)["as_of"].to_list()] for s in SPLITS
    }
    for before, after in itertools.pairwise(SPLITS):
        assert min(positions[after]) - max(positions[before]) > EXPORTS.purge_sessions
    assert summary.pairs_in == pairs.height
    assert summary.purged == 186
    assert sum(summary.rows.values()) + summary.purged + summary.near_duplicates_dropped == (
        summary.pairs_in
    )
    for split in SPLITS:
        dates = rows.filter(pl.col("split") == split)["as_of"]
        assert summary.date_ranges[split] == (dates.min(), dates.max())


def test_same_pairs_give_the_same_bytes_and_the_manifest_matches(tmp_path: Path) -> None:
    pairs = make_pairs(600)
    first = export(pairs, tmp_path / "one", name="same", only_approved=False)
    shuffled = pl.concat(list(pairs.sample(fraction=1.0, seed=7).iter_slices(97)), rechunk=False)
    second = export(shuffled, tmp_path / "two", name="same", only_approved=False)
    assert files_of(first.path) == files_of(second.path)
    assert dataclasses.replace(second, path=first.path) == first

    files = files_of(first.path)
    manifest = json.loads(files.pop("manifest.json"))
    assert (
        first.manifest_sha256
        == hashlib.sha256((first.path / "manifest.json").read_bytes()).hexdigest()
    )
    assert [f["path"] for f in manifest["files"]] == sorted(files)
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(files[entry["path"]]).hexdigest()
    assert {e["path"]: e["rows"] for e in manifest["files"]}["chat/train.jsonl"] == (
        first.rows["train"]
    )
    assert set(first.files) == {*files, "manifest.json"}


def test_only_approved_keeps_approved_and_edited_with_the_edited_response(
    tmp_path: Path,
) -> None:
    pairs = make_pairs(800)
    first = pl.col("pair_id") == pairs["pair_id"][0]
    # A pair edited, then approved: its status is approved and its edited response stays.
    pairs = pairs.with_columns(
        review_status=pl.when(first).then(pl.lit("approved")).otherwise("review_status"),
        edited_response=pl.when(first)
        .then(pl.lit("Approved after edit."))
        .otherwise("edited_response"),
    )
    summary = export(pairs, tmp_path, name="approved", only_approved=True)
    rows = exported(summary.path)
    assert set(rows["review_status"]) == {"approved", "edited"}
    assert summary.pairs_in == pairs["review_status"].is_in(["approved", "edited"]).sum()
    trained = dict(zip(rows["pair_id"], rows["response"], strict=True))
    assert trained[pairs["pair_id"][0]] == "Approved after edit."
    edited = rows.filter(pl.col("review_status") == "edited")
    assert edited.height == 176
    assert (edited["response"] == "Edited: " + edited["rendered_response"]).all()
    plain = rows.filter(
        pl.col("pair_id") != pairs["pair_id"][0], pl.col("review_status") == "approved"
    )
    assert (plain["response"] == plain["rendered_response"]).all()
    chat = {
        record["messages"][1]["content"]: record["messages"][2]["content"]
        for s in SPLITS
        for record in jsonl(summary.path / "chat" / f"{s}.jsonl")
    }
    assert chat == dict(zip(rows["prompt"], rows["response"], strict=True))


def test_rejected_pairs_are_never_exported_and_pending_only_when_asked(tmp_path: Path) -> None:
    pairs = make_pairs(800)
    rejected = set(pairs.filter(pl.col("review_status") == "rejected")["pair_id"])
    summary = export(pairs, tmp_path, name="all", only_approved=False)
    rows = exported(summary.path)
    assert set(rows["review_status"]) == {"pending", "approved", "edited"}
    assert not rejected & set(rows["pair_id"])
    with pytest.raises(ValueError, match="no approved or edited pairs"):
        export(
            pairs.filter(pl.col("review_status").is_in(["pending", "rejected"])),
            tmp_path,
            name="none",
            only_approved=True,
        )


def test_start_and_end_bound_the_as_of_dates(tmp_path: Path) -> None:
    start, end = dt.date(2022, 3, 1), dt.date(2023, 9, 29)
    summary = export(
        make_pairs(800), tmp_path, name="window", start=start, end=end, only_approved=False
    )
    rows = exported(summary.path)
    assert start <= rows["as_of"].min()
    assert rows["as_of"].max() <= end
    assert "from 2022-03-01 to 2023-09-29" in (summary.path / "README.md").read_text()


def test_similarity_key_masks_tickers_dates_and_numbers_only() -> None:
    responses = pl.DataFrame(
        {
            "response": [
                "A fell 1,250.5 on 2024-01-02; ATR 2.5 since Jan 3, and BRK.B held.",
                "MSFT fell 7 on 2023-11-30; ATR 10 since March 14, and A held.",
                "A rose 1,250.5 on 2024-01-02; ATR 2.5 since Jan 3, and BRK.B held.",
            ]
        }
    )
    keys = responses.select(similarity_key(["A", "BRK.B", "MSFT"]))["response"].to_list()
    assert keys[0] == "# fell # on #-#-#; ATR # since #, and # held."
    assert keys[0] == keys[1] != keys[2]


def test_near_duplicates_are_capped_per_conversation_type_and_counted_in_the_card(
    tmp_path: Path,
) -> None:
    pairs = make_pairs(800, statuses=("approved",))
    # One sentence about other tickers, days and numbers, in two types, within train sessions.
    templated = (pl.col("as_of") < dt.date(2022, 6, 1)) & pl.col("conversation_type").is_in(
        ["vpa_analysis", "risk_assessment"]
    )
    same = pl.format("{} closed at {} on {}.", "ticker", "confidence", "as_of")
    pairs = pairs.with_columns(response=pl.when(templated).then(same).otherwise("response"))
    groups = dict(
        pairs.filter(templated)
        .group_by("conversation_type")
        .agg(pl.col("pair_id").sort())
        .iter_rows()
    )
    assert {kind: len(ids) for kind, ids in groups.items()} == {
        "risk_assessment": 28,
        "vpa_analysis": 28,
    }

    summary = export(pairs, tmp_path, name="dups", only_approved=True, max_similar=3)
    rows = exported(summary.path)
    exported_ids = set(rows["pair_id"])
    for ids in groups.values():
        assert sorted(exported_ids.intersection(ids)) == ids[:3]
    dropped = {kind: len(ids) - 3 for kind, ids in sorted(groups.items())}
    assert summary.near_duplicates_dropped == sum(dropped.values())
    card = (summary.path / "README.md").read_text()
    assert f"{sum(dropped.values()):,} near-duplicate pairs were dropped" in card
    kept = rows.filter(pl.col("conversation_type") == "vpa_analysis").height
    assert f"| vpa_analysis | {kept:,} | {dropped['vpa_analysis']:,} |" in card
    manifest = json.loads((summary.path / "manifest.json").read_text())
    assert manifest["near_duplicates_dropped_by_type"] == dropped


def test_card_declares_the_three_configurations_with_their_files(tmp_path: Path) -> None:
    summary = export(make_pairs(400), tmp_path, name="card", only_approved=False)
    text = (summary.path / "README.md").read_text()
    _, header, body = text.split("---\n", 2)
    front = yaml.safe_load(header)
    configs = {c["config_name"]: c for c in front["configs"]}
    assert list(configs) == ["chat", "instruction", "metadata"]
    assert configs["chat"]["default"] is True
    for config in configs.values():
        assert [f["split"] for f in config["data_files"]] == list(SPLITS)
        assert all((summary.path / f["path"]).is_file() for f in config["data_files"])
    assert {"license", "language", "task_categories", "tags", "size_categories"} <= set(front)
    for split in SPLITS:
        first, last = summary.date_ranges[split]
        assert f"| {first} | {last} | {summary.rows[split]:,} |" in body
    assert f"{EXPORTS.purge_sessions} sessions are purged" in body
    assert "no validation or test split" not in body
    assert "rules hash" in body
    assert "not calibrated" in body


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", ".hidden", "a b", "a\\b", "x/../y"])
def test_unsafe_export_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="export name"):
        export(make_pairs(400), tmp_path, name=name, only_approved=False)
    assert not any(tmp_path.iterdir())


def test_a_time_split_of_too_few_sessions_says_how_many_and_offers_split_none(
    tmp_path: Path,
) -> None:
    last = sessions_between(START, END)[NEEDED - 2]
    pairs = make_pairs(200, START, last, statuses=("approved",))
    with pytest.raises(
        ExportError,
        match=rf"^200 pairs from {START} to {last} span {NEEDED - 1} session\(s\), too few for a "
        rf"time split \({NEEDED} sessions needed with {EXPORTS.purge_sessions} purged between "
        r"splits\); --split none writes them as one train split$",
    ):
        export(pairs, tmp_path, name="short", only_approved=False, split="time")
    assert not any(tmp_path.iterdir())


def test_auto_exports_too_few_sessions_as_one_train_split_that_loads(
    tmp_path: Path, load_dataset: Callable[..., Any]
) -> None:
    import datasets

    # Three sessions, a quarter of the pairs approved and another quarter edited.
    pairs = make_pairs(24, START, dt.date(2022, 1, 5))
    summary = export(pairs, tmp_path, name="few", only_approved=True)
    assert summary.split == "none"
    assert summary.note == (
        f"12 pairs from 2022-01-03 to 2022-01-05 span 3 session(s), too few for a time split "
        f"({NEEDED} sessions needed with {EXPORTS.purge_sessions} purged between splits); "
        "exported as one train split"
    )
    assert dict(summary.rows) == {"train": 12}
    assert dict(summary.date_ranges) == {"train": (START, dt.date(2022, 1, 5))}
    assert summary.purged == summary.near_duplicates_dropped == 0
    assert (
        set(files_of(summary.path))
        == set(summary.files)
        == {
            "README.md",
            "chat/train.jsonl",
            "instruction/train.jsonl",
            "manifest.json",
            "parquet/train.parquet",
        }
    )
    assert set(exported(summary.path)["split"]) == {"train"}
    loaded = {
        name: load_dataset(str(summary.path), name=name) for name in (None, "chat", "instruction")
    }
    loaded["metadata"] = load_dataset("parquet", data_dir=str(summary.path / "parquet"))
    for dataset in loaded.values():
        assert isinstance(dataset, datasets.DatasetDict)
        assert {s: dataset[s].num_rows for s in dataset} == {"train": 12}
    assert loaded[None]["train"][0]["messages"][2]["role"] == "assistant"


def test_a_one_split_card_and_manifest_say_there_is_no_validation_or_test_split(
    tmp_path: Path,
) -> None:
    summary = export(
        make_pairs(24, START, dt.date(2022, 1, 5)), tmp_path, name="few", only_approved=True
    )
    _, header, body = (summary.path / "README.md").read_text().split("---\n", 2)
    for config in yaml.safe_load(header)["configs"]:
        assert [f["split"] for f in config["data_files"]] == ["train"]
        assert all((summary.path / f["path"]).is_file() for f in config["data_files"])
    assert f"There is no validation or test split: {summary.note}." in body
    assert "sessions are purged" not in body
    assert "| conversation_type | train | total |" in body
    assert "| train | 2022-01-03 | 2022-01-05 | 3 | 2022-01-03 | 2022-01-05 | 12 |" in body
    manifest = json.loads((summary.path / "manifest.json").read_text())
    assert manifest["split_mode"] == "none"
    assert manifest["splits"] == ["train"]
    assert manifest["split_note"] == summary.note
    assert manifest["purge_sessions"] == manifest["purged"] == 0
    assert [f["path"] for f in manifest["files"]] == [
        "README.md",
        "chat/train.jsonl",
        "instruction/train.jsonl",
        "parquet/train.parquet",
    ]

    asked = export(make_pairs(800), tmp_path, name="whole", only_approved=False, split="none")
    body = (asked.path / "README.md").read_text()
    assert asked.note is None
    assert "There is no validation or test split: the export was asked for as one split" in body
    assert json.loads((asked.path / "manifest.json").read_text())["split_note"] is None


def test_split_none_exports_every_selected_pair_left_by_the_near_duplicate_cap(
    tmp_path: Path,
) -> None:
    # No edited pairs: their edited response would tell them apart.
    pairs = make_pairs(800, statuses=("pending", "approved", "rejected"))
    # Near-duplicates in one conversation type across the whole range: the first 3 stay.
    templated = pl.col("conversation_type") == "vpa_analysis"
    same = pl.format("{} closed at {} on {}.", "ticker", "confidence", "as_of")
    pairs = pairs.with_columns(response=pl.when(templated).then(same).otherwise("response"))
    selected = pairs.filter(pl.col("review_status") != "rejected")
    duplicates = selected.filter(templated)["pair_id"].sort().to_list()
    assert len(duplicates) > 3

    whole = export(pairs, tmp_path, name="whole", only_approved=False, split="none", max_similar=3)
    rows = exported(whole.path)
    assert set(rows["pair_id"]) == set(selected["pair_id"]) - set(duplicates[3:])
    assert whole.split == "none"
    assert dict(whole.rows) == {"train": selected.height - len(duplicates) + 3}
    assert whole.purged == 0
    assert whole.near_duplicates_dropped == len(duplicates) - 3
    assert dict(whole.date_ranges) == {"train": (rows["as_of"].min(), rows["as_of"].max())}

    timed = export(pairs, tmp_path, name="timed", only_approved=False, max_similar=3)
    assert timed.split == "time"
    assert timed.purged > 0
    assert sum(timed.rows.values()) < whole.rows["train"]


def test_auto_with_enough_sessions_is_byte_identical_to_a_time_split(tmp_path: Path) -> None:
    pairs = make_pairs(400)
    auto = export(pairs, tmp_path / "auto", name="same", only_approved=False)
    timed = export(pairs, tmp_path / "time", name="same", only_approved=False, split="time")
    assert files_of(auto.path) == files_of(timed.path)
    assert dataclasses.replace(auto, path=timed.path) == timed
    assert auto.split == "time"
    assert auto.note is None
    assert list(auto.rows) == list(SPLITS)
    manifest = json.loads((auto.path / "manifest.json").read_text())
    assert manifest["split_mode"] == "time"
    assert manifest["splits"] == list(SPLITS)


@pytest.mark.parametrize("split", ["auto", "time"])
def test_a_split_left_empty_is_refused_offering_split_none(tmp_path: Path, split: str) -> None:
    pairs = make_pairs(800)
    plan = plan_splits(
        pairs["as_of"].min(),
        pairs["as_of"].max(),
        purge_sessions=EXPORTS.purge_sessions,
        fractions=EXPORTS.fractions,
    )
    first, last = plan.first_last("validation")
    pairs = pairs.filter(~pl.col("as_of").is_between(first, last))
    with pytest.raises(
        ExportError,
        match=rf"^no pairs left in the validation split \({first}\.\.{last}\); .*--split none",
    ):
        export(pairs, tmp_path, name="gap", only_approved=False, split=split)
    assert not any(tmp_path.iterdir())


def test_an_unknown_split_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="split mode 'random' unknown; use one of auto, time"):
        export(make_pairs(400), tmp_path, name="v1", only_approved=False, split="random")


def test_a_rewrite_replaces_every_file_of_the_previous_export(tmp_path: Path) -> None:
    first = export(make_pairs(800), tmp_path, name="v1", only_approved=False)
    (first.path / "stale.txt").write_text("from before")
    (first.path / "chat" / "old.jsonl").write_text("{}\n")
    second = export(make_pairs(400), tmp_path, name="v1", only_approved=True)
    assert set(files_of(second.path)) == set(second.files)
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_a_folder_that_is_not_an_export_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an export"):
        export(make_pairs(400), tmp_path, name="notes", only_approved=False)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_a_failure_mid_export_leaves_the_old_export_intact(tmp_path: Path) -> None:
    old = export(make_pairs(400), tmp_path, name="v1", only_approved=False)
    before = files_of(old.path)
    # A file-size limit makes the next export's first big write fail as a full disk would.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with pytest.raises(OSError, match="File too large"):
            export(make_pairs(4000), tmp_path, name="v1", only_approved=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert files_of(old.path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_an_export_in_many_chunks_gives_the_bytes_and_summary_of_one_chunk(
    tmp_path: Path,
) -> None:
    pairs = make_pairs(1500)
    lines: list[str] = []
    small = export(
        pairs, tmp_path / "small", name="same", only_approved=False, memory_mib=1, log=lines.append
    )
    whole = export(pairs, tmp_path / "whole", name="same", only_approved=False)
    assert files_of(small.path) == files_of(whole.path)
    assert dataclasses.replace(small, path=whole.path) == whole
    keys = [line for line in lines if line.startswith("export keys: ")]
    written = [line for line in lines if line.startswith("export files: ")]
    kept = sum(whole.rows.values())
    # Half of 1 MiB holds two chunks of 16 pairs (and up to a date's more): of the 1,125
    # selected pairs, then of the kept ones.
    assert len(keys) > 1125 // 32
    assert len(written) > kept // 32
    assert keys[-1].startswith(f"export keys: 501 of 501 sessions, {whole.pairs_in:,} rows (")
    assert re.match(rf"export files: ([0-9,]+) of \1 sessions, {kept:,} rows \(", written[-1])


def test_blank_texts_are_refused_counting_them_and_naming_the_first(tmp_path: Path) -> None:
    pairs = make_pairs(400)
    ids = pairs["pair_id"].sort()
    blank = pl.col("pair_id").is_in(ids.head(7).implode())
    pairs = pairs.with_columns(
        prompt=pl.when(blank).then(pl.lit(" \u00a0\n")).otherwise("prompt"),
        review_status=pl.when(blank).then(pl.lit("pending")).otherwise("review_status"),
    )
    with pytest.raises(
        ExportError, match=r"^7 pair\(s\) have an empty system, prompt or "
    ) as raised:
        export(pairs, tmp_path, name="blank", only_approved=False, memory_mib=1)
    named = str(raised.value).split(": ", 1)[1].split(", ")
    assert len(named) == 5
    assert set(named) <= set(ids.head(7))
    assert not any(tmp_path.iterdir())


def test_a_repeated_pair_id_is_refused(tmp_path: Path) -> None:
    pairs = make_pairs(400, statuses=("approved",))
    twice = ", ".join(pairs["pair_id"].slice(3, 2).sort())
    with pytest.raises(ExportError, match=rf"^pair_id repeated: {twice}$"):
        export(pl.concat([pairs, pairs.slice(3, 2)]), tmp_path, name="twice", only_approved=False)
