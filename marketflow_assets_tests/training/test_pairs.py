"""Which snapshots get training pairs, and the pairs rendered for them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.parallel import FramePool
from marketflow_assets.training import pairs as pairs_module
from marketflow_assets.training.pairs import (
    PAIR_COLUMNS,
    render_in_parts,
    render_pairs,
    select_snapshots,
)
from marketflow_assets.training.templates import (
    CONVERSATION_TYPES,
    DEFAULT_TEMPLATES_DIR,
    TemplateError,
    load_templates,
)
from marketflow_assets.vpa import load_rules
from marketflow_assets_tests.training.fixtures.cases import CASES, snapshot_frame

QUIET_SHARE = load_rules().training.quiet_sample

QUIET = 4000


def candidates() -> pl.DataFrame:
    """Quiet sessions (no event, HOLD), eventful ones, a SELL without an event, and warm-up
    rows of each kind; ids are sha256 hex like real snapshot ids."""
    rows = [(False, [], "HOLD")] * QUIET
    rows += [(False, ["no_demand"], "HOLD"), (False, ["hammer"], "BUY"), (False, [], "SELL")]
    rows += [(True, [], "HOLD")] * 200 + [(True, ["test"], "BUY")]
    return pl.DataFrame(
        {
            "snapshot_id": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(len(rows))],
            "warmup": [warmup for warmup, _, _ in rows],
            "events": pl.Series([events for _, events, _ in rows], dtype=pl.List(pl.String)),
            "signal": [signal for _, _, signal in rows],
        }
    )


def quiet(frame: pl.DataFrame) -> pl.Series:
    return (frame["events"].list.len() == 0) & (frame["signal"] == "HOLD")


def test_selection_keeps_every_eventful_or_traded_session_and_a_sample_of_quiet_ones() -> None:
    frame = candidates()
    chosen = select_snapshots(frame, quiet_sample=QUIET_SHARE)
    assert not chosen["warmup"].any()
    assert chosen.filter(~quiet(chosen)).height == 3
    assert chosen.filter(quiet(chosen)).height == 208  # 5.2 % of QUIET


def test_selection_is_deterministic_and_follows_the_ids_not_the_order() -> None:
    frame = candidates()
    chosen = set(select_snapshots(frame, QUIET_SHARE)["snapshot_id"])
    assert chosen == set(select_snapshots(frame, QUIET_SHARE)["snapshot_id"])
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7)
    assert chosen == set(select_snapshots(shuffled, QUIET_SHARE)["snapshot_id"])


def test_selection_rates_zero_and_one() -> None:
    frame = candidates()
    assert select_snapshots(frame, quiet_sample=0.0).height == 3
    assert select_snapshots(frame, quiet_sample=1.0).height == QUIET + 3


@pytest.mark.parametrize("rate", [-0.01, 1.5])
def test_selection_rate_outside_zero_one_is_an_error(rate: float) -> None:
    with pytest.raises(ValueError, match="quiet_sample must be within"):
        select_snapshots(candidates(), quiet_sample=rate)


SNAPSHOTS = snapshot_frame([make() for make in CASES.values()])
TEMPLATES = load_templates()


def test_pairs_carry_their_snapshot_and_template() -> None:
    pairs = render_pairs(SNAPSHOTS, TEMPLATES)
    assert pairs.columns == list(PAIR_COLUMNS)
    joined = pairs.join(SNAPSHOTS, on="snapshot_id", suffix="_snapshot")
    for column in ("ticker", "as_of", "signal", "strength", "confidence", "rules_hash"):
        assert joined[column].equals(joined[f"{column}_snapshot"], check_names=False)
    hashes = {t.conversation_type: t.hash for t in TEMPLATES}
    assert all(hashes[c] == h for c, h in pairs.select("conversation_type", "template_hash").rows())
    assert (pairs["template_name"] == pairs["conversation_type"] + ".j2").all()
    assert (pairs["system"] == TEMPLATES.system).all()


def test_pair_id_is_sha256_of_system_prompt_and_response() -> None:
    pairs = render_pairs(SNAPSHOTS, TEMPLATES)
    for pair_id, system, prompt, response in pairs.select(
        "pair_id", "system", "prompt", "response"
    ).rows():
        assert pair_id == hashlib.sha256(f"{system}\x1f{prompt}\x1f{response}".encode()).hexdigest()
    assert pairs["pair_id"].n_unique() == pairs.height


def test_rendering_is_deterministic() -> None:
    first = render_pairs(SNAPSHOTS, TEMPLATES)
    second = render_pairs(SNAPSHOTS, load_templates())
    assert first.equals(second)


def test_pattern_explanation_only_for_sessions_with_events() -> None:
    pairs = render_pairs(SNAPSHOTS, TEMPLATES)
    counts = pairs.group_by("snapshot_id").agg(pl.col("conversation_type"))
    eventful = set(SNAPSHOTS.filter(pl.col("events").list.len() > 0)["snapshot_id"])
    for snapshot_id, types in counts.rows():
        expected = set(CONVERSATION_TYPES)
        if snapshot_id not in eventful:
            expected.discard("pattern_explanation")
        assert set(types) == expected


def test_empty_selection_gives_no_pairs() -> None:
    pairs = render_pairs(SNAPSHOTS.clear(), TEMPLATES)
    assert pairs.height == 0
    assert pairs.columns == list(PAIR_COLUMNS)


def test_template_hash_changes_with_its_template_and_the_shared_files(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "templates"))
    before = {t.conversation_type: t.hash for t in load_templates(folder)}
    path = folder / "risk_assessment.j2"
    path.write_text(path.read_text() + "{# a comment changes the source #}\n")
    after = {t.conversation_type: t.hash for t in load_templates(folder)}
    assert {c for c in CONVERSATION_TYPES if before[c] != after[c]} == {"risk_assessment"}
    for shared in ("_macros.j2", "system.j2"):
        path = folder / shared
        path.write_text(path.read_text() + "\n")
        changed = {t.conversation_type: t.hash for t in load_templates(folder)}
        assert all(changed[c] != after[c] for c in CONVERSATION_TYPES), shared
        after = changed


@pytest.mark.parametrize("workers", [1, 2])
def test_rendering_in_parts_gives_the_rows_of_one_call(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four cases a slice: several slices, the last one short.
    monkeypatch.setattr(pairs_module, "PART_ROWS", 4)
    snapshots = pl.concat([SNAPSHOTS, SNAPSHOTS.reverse()])
    assert snapshots.height > 2 * pairs_module.PART_ROWS
    with FramePool(workers, load_templates) as pool:
        assert_frame_equal(
            render_in_parts(snapshots, TEMPLATES, pool), render_pairs(snapshots, TEMPLATES)
        )
        assert_frame_equal(
            render_in_parts(snapshots.clear(), TEMPLATES, pool),
            render_pairs(snapshots.clear(), TEMPLATES),
        )


def test_a_template_error_in_a_worker_names_file_and_line(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "templates"))
    path = folder / "risk_assessment.j2"
    lines = path.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("{% block assistant %}"))
    path.write_text("\n".join([*lines[: at + 1], "{{ no_such }}", *lines[at + 1 :]]) + "\n")
    templates = load_templates(folder)
    messages = []
    for workers in (1, 2):
        with (
            pytest.raises(
                TemplateError, match=rf"^risk_assessment\.j2, line {at + 2}: .*no_such"
            ) as raised,
            FramePool(workers, load_templates, folder) as pool,
        ):
            render_in_parts(SNAPSHOTS, templates, pool)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
