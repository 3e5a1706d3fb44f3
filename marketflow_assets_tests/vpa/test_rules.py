"""rules.yaml: the packaged rule set, its hash, and the errors a broken copy gives."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from marketflow_assets.vpa import load_rules
from marketflow_assets.vpa.rules import (
    DEFAULT_RULES_PATH,
    DIRECTIONS,
    PATTERN_IDS,
    Rules,
    RulesError,
)

RAW: dict[str, Any] = yaml.safe_load(DEFAULT_RULES_PATH.read_text())


def write_rules(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    """A copy of the packaged rules with `change` applied to the parsed content."""
    raw = copy.deepcopy(RAW)
    change(raw)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_packaged_rules_have_twelve_documented_patterns() -> None:
    rules = load_rules()
    assert isinstance(rules, Rules)
    assert rules.path == DEFAULT_RULES_PATH
    assert rules.version == "1.3.0"
    assert tuple(rules.patterns) == PATTERN_IDS
    assert len(rules.patterns) == 12
    for rule_id, rule in rules.patterns.items():
        assert rule.rule_id == rule_id
        assert isinstance(rule.version, int)
        assert rule.version >= 1
        assert rule.direction in DIRECTIONS
        assert len(rule.rationale.split()) >= 10, rule_id
        assert rule.confidence_base + rule.volume_weight <= 1.0
        assert rule.volume_sense in (1.0, -1.0)
        assert rule.confirm_bars >= 0
    assert set(rules.signals["weights"]) == set(PATTERN_IDS)
    assert rules.signal_history_sessions == 13
    assert rules.training.quiet_sample == 0.05
    assert rules.exports.fractions == (0.8, 0.1, 0.1)
    assert rules.exports.purge_sessions == 31
    assert rules.exports.max_similar == 50
    assert rules.scorecard.ready_min_matured == 30


def test_packaged_directions_and_confirmation() -> None:
    rules = load_rules()
    directions = {rule_id: rule.direction for rule_id, rule in rules.patterns.items()}
    assert directions == {
        "no_demand": "bearish",
        "no_supply": "bullish",
        "stopping_volume": "bullish",
        "selling_climax": "bullish",
        "buying_climax": "bearish",
        "upthrust": "bearish",
        "spring": "bullish",
        "test": "bullish",
        "effort_without_result": "against_bar",
        "result_without_effort": "against_bar",
        "hammer": "bullish",
        "shooting_star": "bearish",
    }
    confirming = {rule_id for rule_id, rule in rules.patterns.items() if rule.confirm_bars}
    assert confirming == {"spring", "upthrust"}
    assert rules.max_confirm_bars == 3


def test_parameters_read_by_name() -> None:
    spring = load_rules().patterns["spring"]
    assert spring["min_close_location"] == 0.65
    assert spring["min_lower_wick"] == 0.5
    with pytest.raises(RulesError, match=r"'spring' has no parameter 'max_volume_ratio'"):
        spring["max_volume_ratio"]


def test_hash_is_stable_across_loads() -> None:
    first, second = load_rules(), load_rules(DEFAULT_RULES_PATH)
    assert re.fullmatch(r"[0-9a-f]{64}", first.hash)
    assert first.hash == second.hash


def test_hash_ignores_comments_and_layout(tmp_path: Path) -> None:
    text = DEFAULT_RULES_PATH.read_text()
    commented = tmp_path / "commented.yaml"
    commented.write_text("# a comment that changes nothing\n" + text.replace("\n\n", "\n"))
    assert load_rules(commented).hash == load_rules().hash
    reordered = write_rules(tmp_path, lambda raw: raw)
    assert reordered.read_text() != text
    assert load_rules(reordered).hash == load_rules().hash


@pytest.mark.parametrize(
    "change",
    [
        lambda raw: raw["patterns"]["spring"].update(min_close_location=0.66),
        lambda raw: raw["features"]["volume_classes"].update(low=0.75),
        lambda raw: raw["signals"].update(threshold=0.55),
        lambda raw: raw["patterns"]["hammer"].update(rationale="Another reason entirely."),
        lambda raw: raw.update(version="1.0.1"),
    ],
    ids=["pattern-threshold", "feature-threshold", "signal-threshold", "rationale", "version"],
)
def test_hash_changes_with_the_content(tmp_path: Path, change: Callable[[dict], object]) -> None:
    changed = load_rules(write_rules(tmp_path, change))
    assert changed.hash != load_rules().hash


def test_changed_threshold_is_what_loads(tmp_path: Path) -> None:
    path = write_rules(tmp_path, lambda raw: raw["patterns"]["test"].update(max_volume_ratio=0.9))
    rules = load_rules(path)
    assert rules.path == path
    assert rules.patterns["test"]["max_volume_ratio"] == 0.9


def drop(section: str, key: str | None = None) -> Callable[[dict[str, Any]], object]:
    if key is None:
        return lambda raw: raw.pop(section)
    return lambda raw: raw[section].pop(key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (drop("patterns", "spring"), r"missing: spring"),
        (
            lambda raw: raw["patterns"].update(wyckoff_jump=RAW["patterns"]["spring"]),
            r"unknown: wyckoff_jump",
        ),
        (drop("version"), r"missing section 'version'"),
        (drop("features"), r"missing section 'features'"),
        (drop("patterns"), r"missing section 'patterns'"),
        (drop("signals"), r"missing section 'signals'"),
        (drop("plan"), r"missing section 'plan'"),
        (drop("plan", "stop_atr"), r"plan.stop_atr must be a positive number"),
        (drop("outcomes"), r"missing section 'outcomes'"),
        (drop("calibration"), r"missing section 'calibration'"),
        (
            lambda raw: raw["outcomes"].update(hold_band=-0.05),
            r"outcomes.hold_band must be a positive number, not -0.05",
        ),
        (
            lambda raw: raw["outcomes"].update(window_days=30.5),
            r"outcomes.window_days must be a positive whole number",
        ),
        (
            lambda raw: raw["calibration"].update(bounds=[1.2, 2.0]),
            r"calibration.bounds must be \[low, high\] around 1",
        ),
        (
            lambda raw: raw["calibration"].update(max_step=1.5),
            r"calibration.max_step must be a fraction below 1",
        ),
        (
            lambda raw: raw["calibration"].pop("failure_flag"),
            r"calibration.failure_flag must be a positive whole number, not None",
        ),
        (
            lambda raw: raw["patterns"]["hammer"].update(direction="sideways"),
            r"patterns\.hammer: direction 'sideways' not in bullish, bearish, against_bar",
        ),
        (
            lambda raw: raw["patterns"]["test"].pop("confirm_bars"),
            r"patterns\.test: missing or unknown 'confirm_bars'",
        ),
        (
            lambda raw: raw["patterns"]["upthrust"]["confidence"].update(volume_sense="medium"),
            r"patterns\.upthrust: missing or unknown 'medium'",
        ),
        (
            lambda raw: raw["patterns"]["no_demand"].update(rationale="  "),
            r"patterns\.no_demand: a rule needs a line of rationale",
        ),
        (
            lambda raw: raw["patterns"]["no_supply"].update(max_volume_ratio="low"),
            r"patterns\.no_supply: could not convert",
        ),
        (
            lambda raw: raw["signals"]["weights"].pop("shooting_star"),
            r"signals\.weights has no weight for shooting_star",
        ),
        (
            lambda raw: raw["signals"].update(confirmation_margin=-1),
            r"signals\.confirmation_margin must be a whole number >= 0, not -1",
        ),
        (drop("training"), r"missing section 'training'"),
        (
            lambda raw: raw["training"].update(quiet_sample=1.5),
            r"training\.quiet_sample must be a share in \[0, 1\], not 1\.5",
        ),
        (drop("exports"), r"missing section 'exports'"),
        (
            lambda raw: raw["exports"].update(fractions=[0.8, 0.2]),
            r"exports\.fractions must be three numbers",
        ),
        (
            lambda raw: raw["exports"].update(purge_sessions=-3),
            r"exports\.purge_sessions must be a whole number >= 0, not -3",
        ),
        (
            lambda raw: raw["exports"].pop("max_similar"),
            r"exports\.max_similar must be a positive whole number, not None",
        ),
        (drop("scorecard"), r"missing section 'scorecard'"),
        (
            lambda raw: raw["scorecard"].update(ready_min_matured=0),
            r"scorecard\.ready_min_matured must be a positive whole number, not 0",
        ),
    ],
    ids=[
        "missing-pattern",
        "unknown-pattern",
        "missing-version",
        "missing-features",
        "missing-patterns",
        "missing-signals",
        "missing-plan",
        "missing-stop",
        "missing-outcomes",
        "missing-calibration",
        "negative-hold-band",
        "fractional-window",
        "bounds-not-around-one",
        "step-too-large",
        "missing-failure-flag",
        "bad-direction",
        "missing-field",
        "bad-volume-sense",
        "empty-rationale",
        "non-numeric-parameter",
        "missing-weight",
        "negative-confirmation-margin",
        "missing-training",
        "quiet-share-above-one",
        "missing-exports",
        "two-fractions",
        "negative-purge",
        "missing-max-similar",
        "missing-scorecard",
        "zero-ready-minimum",
    ],
)
def test_broken_rules_name_the_problem(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = write_rules(tmp_path, change)
    with pytest.raises(RulesError, match=message) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # `signals:` with its body commented out parses as null.
        (lambda raw: raw.update(signals=None), r"signals"),
        (lambda raw: raw.update(features=None), r"features"),
        (lambda raw: raw.update(patterns=None), r"patterns"),
        (lambda raw: raw["patterns"].update(spring=3), r"patterns\.spring"),
        (lambda raw: raw["signals"]["weights"].update(spring="heavy"), r"spring"),
        (lambda raw: raw["patterns"]["spring"].update(confirm_bars=-1), r"confirm_bars"),
    ],
    ids=[
        "null-signals",
        "null-features",
        "null-patterns",
        "scalar-pattern",
        "text-weight",
        "negative-confirm",
    ],
)
def test_unusable_values_raise_rules_error(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    """RulesError is documented for "a value that cannot be used"; these are such values."""
    with pytest.raises(RulesError, match=message):
        load_rules(write_rules(tmp_path, change))


def test_missing_and_unknown_patterns_both_named(tmp_path: Path) -> None:
    def rename(raw: dict[str, Any]) -> None:
        raw["patterns"]["shakeout"] = raw["patterns"].pop("spring")

    with pytest.raises(RulesError, match=r"unknown: shakeout; missing: spring"):
        load_rules(write_rules(tmp_path, rename))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", r"expected a mapping at the top level"),
        ("version: [unclosed\n", r"cannot read rules"),
    ],
    ids=["not-a-mapping", "bad-yaml"],
)
def test_unreadable_rules(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError, match=message):
        load_rules(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"cannot read rules"):
        load_rules(tmp_path / "absent.yaml")


def test_rules_error_is_a_value_error() -> None:
    assert issubclass(RulesError, ValueError)
