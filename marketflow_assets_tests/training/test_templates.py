"""The packaged templates: they render every kind of snapshot in plain English, fail loudly
with the file and line, stay in the sandbox, and cannot leak fields beyond the analysis."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path
from typing import Any

import jinja2.meta
import pytest

from marketflow_assets.training.lint import ARTEFACTS, lint_pairs
from marketflow_assets.training.pairs import render_pairs
from marketflow_assets.training.templates import (
    CONVERSATION_TYPES,
    DEFAULT_TEMPLATES_DIR,
    TemplateError,
    load_templates,
)
from marketflow_assets_tests.training.fixtures.cases import (
    CASES,
    before_calibration,
    buy_with_events,
    changed,
    confirmed_later,
    quiet_hold,
    sell,
    snapshot_frame,
    with_nulls,
)

TEMPLATES = load_templates()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the real templates folder that a test may break."""
    return Path(shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "templates"))


def insert_line(path: Path, after: str, line: str) -> int:
    """Insert `line` after the first line starting with `after`; the 1-based line it lands on."""
    lines = path.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith(after)) + 1
    lines.insert(at, line)
    path.write_text("\n".join(lines) + "\n")
    return at + 1


def rendered(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(prompt, response) of every conversation type for one snapshot document."""
    return {t.conversation_type: t.render(document) for t in TEMPLATES}


@pytest.mark.parametrize("case", CASES)
def test_every_template_renders_every_case(case: str) -> None:
    for conversation_type, (prompt, response) in rendered(CASES[case]()).items():
        assert prompt.strip(), conversation_type
        assert response.strip(), conversation_type
        assert "ABC" in prompt


def test_rendered_pairs_of_every_case_pass_the_lint() -> None:
    snapshots = snapshot_frame([make() for make in CASES.values()])
    pairs = render_pairs(snapshots, TEMPLATES)
    # pattern_explanation only where there are events: every case but the two quiet holds.
    assert pairs.height == len(CASES) * len(CONVERSATION_TYPES) - 2
    assert lint_pairs(pairs, snapshots).height == 0


def test_system_prompt_is_plain_and_names_its_limits() -> None:
    assert "only from the data given" in TEMPLATES.system
    assert "close of the stated session" in TEMPLATES.system
    assert "raw confidence" in TEMPLATES.system
    assert "calibrated by the track record" in TEMPLATES.system
    assert not any(re.search(pattern, TEMPLATES.system) for pattern in ARTEFACTS.values())
    assert not re.search(r"\d", TEMPLATES.system)


def test_signal_is_plain_english_naming_each_confidence() -> None:
    _, response = TEMPLATES.templates["vpa_analysis"].render(buy_with_events())
    assert response.startswith("Signal: moderate buy (raw confidence 0.57, calibrated 0.62).")
    _, response = TEMPLATES.templates["vpa_analysis"].render(sell())
    assert response.startswith("Signal: weak sell (raw confidence 0.54, calibrated 0.50).")
    _, response = TEMPLATES.templates["vpa_analysis"].render(before_calibration())
    assert response.startswith("Signal: moderate buy (raw confidence 0.57, not yet calibrated).")
    prompt, _ = TEMPLATES.templates["vpa_analysis"].render(buy_with_events())
    assert "ultra high" in prompt
    assert "stopping volume" in prompt
    for text in rendered(buy_with_events()).values():
        assert "BUY" not in " ".join(text)
        assert "SignalType" not in " ".join(text)


def test_risk_assessment_names_the_rules_the_track_record_flags() -> None:
    _, response = TEMPLATES.templates["risk_assessment"].render(buy_with_events())
    assert "The track record flags a hammer: it has failed repeatedly" in response
    _, response = TEMPLATES.templates["risk_assessment"].render(sell())
    assert "track record flags" not in response


def test_trading_recommendation_uses_the_side_of_the_signal() -> None:
    _, buy = TEMPLATES.templates["trading_recommendation"].render(buy_with_events())
    assert "Stop: 28.08, 1.5 ATR below the close" in buy
    assert "Target: 31.36, 3 ATR above the close" in buy
    assert "29.17" in buy
    _, short = TEMPLATES.templates["trading_recommendation"].render(sell())
    assert "Stop: 30.27, 1.5 ATR above the close" in short
    assert "Target: 26.98, 3 ATR below the close" in short
    _, hold = TEMPLATES.templates["trading_recommendation"].render(quiet_hold())
    assert hold.startswith("Recommendation: no position.")
    assert "resistance at 29.23" in hold
    assert "support at 27.92" in hold


def test_nulls_are_said_not_printed() -> None:
    texts = rendered(with_nulls())
    _, trading = texts["trading_recommendation"]
    assert "no resistance is confirmed" in trading
    assert "not yet established" in texts["multi_timeframe"][1]
    assert "ATR(14) is not available" in texts["risk_assessment"][1]
    for prompt, response in texts.values():
        assert "None" not in prompt + response
        assert "nan" not in prompt + response


# Figures that may be missing on a session past warm-up, in the groups they go missing in.
MISSING = {
    "spread_in_atr": {"spread__in_atr": None},
    "trend": {f"trend__{key}": None for key in buy_with_events()["trend"]},
    "trend_strength": {"trend__strength": None},
    "support": {f"levels__support{key}": None for key in ("", "_touches", "_distance_atr")},
    "resistance": {f"levels__resistance{key}": None for key in ("", "_touches", "_distance_atr")},
    "level_distances": {
        "levels__support_distance_atr": None,
        "levels__resistance_distance_atr": None,
    },
    "weekly_trend": {"weekly__trend": None},
    "weekly_change": {"weekly__change_pct": None},
    "weekly_volume": {"weekly__volume_relative": None},
    "atr": {
        f"risk__{key}": None
        for key in ("atr", "long_stop", "long_target", "short_stop", "short_target")
    },
}


def test_any_two_missing_figures_render_and_pass_the_lint() -> None:
    documents = [
        changed(make(), **{k: v for group in groups for k, v in MISSING[group].items()})
        for make in (buy_with_events, sell, quiet_hold)
        for size in (1, 2)
        for groups in itertools.combinations(MISSING, size)
    ]
    snapshots = snapshot_frame(documents)
    pairs = render_pairs(snapshots, TEMPLATES)
    assert (len(documents), pairs.height) == (165, 935)
    assert lint_pairs(pairs, snapshots).height == 0


def test_event_confirmed_after_its_bar_says_so() -> None:
    texts = rendered(confirmed_later())
    _, explanation = texts["pattern_explanation"]
    assert "It formed on the bar of 2010-05-06 and was confirmed today" in explanation
    assert "a higher close without a new low" in explanation
    assert "(bar of 2010-05-06)" in texts["vpa_analysis"][0]
    assert "confirmed today by the follow-through" in texts["wyckoff_analysis"][1]


def test_wyckoff_phase_and_multi_timeframe_views() -> None:
    _, wyckoff = TEMPLATES.templates["wyckoff_analysis"].render(buy_with_events())
    assert wyckoff.startswith("Phase: accumulation.")
    _, multi = TEMPLATES.templates["multi_timeframe"].render(buy_with_events())
    assert "10-week trend is down" in multi
    assert "up 4.07%" in multi
    assert "after 5 sessions" in multi
    assert "runs against the weekly trend" in multi


def test_syntax_error_names_file_and_line(folder: Path) -> None:
    line = insert_line(folder / "wyckoff_analysis.j2", "{% block assistant %}", "{% if %}")
    with pytest.raises(TemplateError, match=rf"wyckoff_analysis\.j2, line {line}:"):
        load_templates(folder)


def test_unknown_variable_names_file_and_line(folder: Path) -> None:
    line = insert_line(folder / "risk_assessment.j2", "{% block assistant %}", "{{ no_such }}")
    templates = load_templates(folder)
    with pytest.raises(TemplateError, match=rf"risk_assessment\.j2, line {line}: .*no_such"):
        templates.templates["risk_assessment"].render(buy_with_events())


def test_unknown_field_in_a_shared_macro_names_the_macro_file(folder: Path) -> None:
    line = insert_line(folder / "_macros.j2", "{% macro market_data(", "{{ snapshot.bar.no_such }}")
    templates = load_templates(folder)
    with pytest.raises(TemplateError, match=rf"_macros\.j2, line {line}: .*no_such"):
        templates.render_snapshot(buy_with_events())


@pytest.mark.parametrize(
    "expression",
    [
        "bar.__class__",
        "''.__class__.__mro__",
        "m._body_stream",
        "events.append(1)",
        "snapshot.update(bar)",
    ],
)
def test_sandbox_refuses_attribute_tricks(folder: Path, expression: str) -> None:
    insert_line(folder / "multi_timeframe.j2", "{% block assistant %}", f"{{{{ {expression} }}}}")
    templates = load_templates(folder)
    with pytest.raises(TemplateError, match=r"multi_timeframe\.j2, line \d+: (Security|Undefined)"):
        templates.templates["multi_timeframe"].render(buy_with_events())


SENTINEL = 987654.321


@pytest.mark.parametrize("case", CASES)
def test_poisoned_context_leaks_nothing(case: str) -> None:
    poisoned = changed(
        CASES[case](),
        outcome={"hit": "LEAKED", "forward_return": SENTINEL, "exit_price": SENTINEL},
        forward_return=SENTINEL,
        hit="LEAKED",
        label="LEAKED",
        bar__next_close=SENTINEL,
        signal__realised_return=SENTINEL,
    )
    for conversation_type, (prompt, response) in rendered(poisoned).items():
        for text in (prompt, response):
            assert "987654" not in text.replace(",", ""), conversation_type
            assert "987,654" not in text, conversation_type
            assert "LEAKED" not in text, conversation_type
        assert (prompt, response) == TEMPLATES.templates[conversation_type].render(CASES[case]())


def test_templates_name_only_snapshot_fields() -> None:
    fields = set(buy_with_events()) | {"snapshot"}
    env = TEMPLATES.environment
    for path in sorted(DEFAULT_TEMPLATES_DIR.glob("*.j2")):
        source = path.read_text()
        names = jinja2.meta.find_undeclared_variables(env.parse(source))
        assert names <= fields, (path.name, names - fields)
        for word in ("outcome", "forward_return", "hit", "label", "future"):
            assert not re.search(rf"\b{word}\b", source), (path.name, word)
