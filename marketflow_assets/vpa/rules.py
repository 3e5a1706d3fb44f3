"""The versioned VPA thresholds of `rules.yaml`: loaded, checked and hashed once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

# Package data, so a wheel install finds it too; the package is installed unzipped.
DEFAULT_RULES_PATH = Path(str(files("marketflow_assets.vpa").joinpath("rules.yaml")))

PATTERN_IDS = (
    "no_demand",
    "no_supply",
    "stopping_volume",
    "selling_climax",
    "buying_climax",
    "upthrust",
    "spring",
    "test",
    "effort_without_result",
    "result_without_effort",
    "hammer",
    "shooting_star",
)
DIRECTIONS = ("bullish", "bearish", "against_bar")
VOLUME_SENSES = {"high": 1.0, "low": -1.0}
SECTIONS = (
    "version",
    "features",
    "patterns",
    "signals",
    "plan",
    "outcomes",
    "calibration",
    "training",
    "exports",
    "scorecard",
)


class RulesError(ValueError):
    """rules.yaml is missing a field or holds a value that cannot be used."""


@dataclass(frozen=True)
class PatternRule:
    """One pattern: its id, version, direction, rationale and parameters."""

    rule_id: str
    version: int
    direction: str
    rationale: str
    confidence_base: float
    volume_weight: float
    volume_sense: float
    confirm_bars: int
    params: MappingProxyType[str, float]

    def __getitem__(self, name: str) -> float:
        try:
            return self.params[name]
        except KeyError:
            raise RulesError(f"pattern {self.rule_id!r} has no parameter {name!r}") from None


@dataclass(frozen=True)
class OutcomeRules:
    """How a signal is scored: the calendar window and the HOLD band."""

    window_days: int
    hold_band: float


@dataclass(frozen=True)
class CalibrationRules:
    """How matured outcomes feed back: multiplier lookback, bounds and step; rule flags."""

    lookback_days: int
    min_outcomes: int
    bounds: tuple[float, float]
    max_step: float
    failure_days: int
    failure_flag: int


@dataclass(frozen=True)
class TrainingRules:
    """Which snapshots become pairs: the share of quiet sessions kept."""

    quiet_sample: float


@dataclass(frozen=True)
class ExportRules:
    """How an export is split in time and how many near-duplicates it keeps."""

    fractions: tuple[float, float, float]
    purge_sessions: int
    max_similar: int


@dataclass(frozen=True)
class ScorecardRules:
    """When a scorecard row counts as ready."""

    ready_min_matured: int


@dataclass(frozen=True)
class Rules:
    """The whole rule set: feature windows, pattern definitions, signal thresholds, the trade
    plan, and how signals are scored and calibrated."""

    version: str
    hash: str
    features: MappingProxyType[str, Any]
    patterns: MappingProxyType[str, PatternRule]
    signals: MappingProxyType[str, Any]
    plan: MappingProxyType[str, float]
    outcomes: OutcomeRules
    calibration: CalibrationRules
    training: TrainingRules
    exports: ExportRules
    scorecard: ScorecardRules
    path: Path

    @property
    def max_confirm_bars(self) -> int:
        """The longest follow-through any pattern waits for."""
        return max(rule.confirm_bars for rule in self.patterns.values())

    @property
    def signal_history_sessions(self) -> int:
        """Sessions of features a signal window reads before its first session."""
        return self.max_confirm_bars + int(self.signals["confirmation_margin"])


def load_rules(path: Path | str | None = None) -> Rules:
    """Read, check and hash a rules file (the packaged `rules.yaml` by default).

    The hash covers the parsed content, so comments and layout do not change it but every
    threshold, definition and rationale does.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read rules: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    for section in SECTIONS:
        if section not in raw:
            raise RulesError(f"{path}: missing section {section!r}")
        if section != "version" and not isinstance(raw[section], dict):
            raise RulesError(f"{path}: section {section!r} must be a mapping, not {raw[section]!r}")
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    patterns = _patterns(raw["patterns"], path)
    weights = raw["signals"].get("weights") or {}
    missing_weights = [rule_id for rule_id in PATTERN_IDS if rule_id not in weights]
    if missing_weights:
        raise RulesError(f"{path}: signals.weights has no weight for {', '.join(missing_weights)}")
    for rule_id, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise RulesError(f"{path}: signals.weights.{rule_id} must be a number, not {weight!r}")
    margin = raw["signals"].get("confirmation_margin")
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise RulesError(
            f"{path}: signals.confirmation_margin must be a whole number >= 0, not {margin!r}"
        )
    return Rules(
        version=str(raw["version"]),
        hash=digest,
        features=MappingProxyType(raw["features"]),
        patterns=MappingProxyType(patterns),
        signals=MappingProxyType(raw["signals"]),
        plan=MappingProxyType(_plan(raw["plan"], path)),
        outcomes=_outcomes(raw["outcomes"], path),
        calibration=_calibration(raw["calibration"], path),
        training=_training(raw["training"], path),
        exports=_exports(raw["exports"], path),
        scorecard=ScorecardRules(
            ready_min_matured=int(
                _number(raw["scorecard"], f"{path}: scorecard", "ready_min_matured", integer=True)
            )
        ),
        path=path,
    )


def _number(raw: dict[str, Any], where: str, name: str, *, integer: bool = False) -> float:
    """A positive number of a section, or an error naming `where.name`."""
    value = raw.get(name)
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "a positive whole number" if integer else "a positive number"
        raise RulesError(f"{where}.{name} must be {kind}, not {value!r}")
    return value


def _outcomes(raw: dict[str, Any], path: Path) -> OutcomeRules:
    where = f"{path}: outcomes"
    return OutcomeRules(
        window_days=int(_number(raw, where, "window_days", integer=True)),
        hold_band=float(_number(raw, where, "hold_band")),
    )


def _calibration(raw: dict[str, Any], path: Path) -> CalibrationRules:
    where = f"{path}: calibration"
    bounds = raw.get("bounds")
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        or not 0 < bounds[0] <= 1 <= bounds[1]
    ):
        raise RulesError(f"{where}.bounds must be [low, high] around 1, not {bounds!r}")
    step = _number(raw, where, "max_step")
    if step >= 1:
        raise RulesError(f"{where}.max_step must be a fraction below 1, not {step!r}")
    return CalibrationRules(
        lookback_days=int(_number(raw, where, "lookback_days", integer=True)),
        min_outcomes=int(_number(raw, where, "min_outcomes", integer=True)),
        bounds=(float(bounds[0]), float(bounds[1])),
        max_step=float(step),
        failure_days=int(_number(raw, where, "failure_days", integer=True)),
        failure_flag=int(_number(raw, where, "failure_flag", integer=True)),
    )


def _training(raw: dict[str, Any], path: Path) -> TrainingRules:
    share = raw.get("quiet_sample")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise RulesError(f"{path}: training.quiet_sample must be a share in [0, 1], not {share!r}")
    return TrainingRules(quiet_sample=float(share))


def _exports(raw: dict[str, Any], path: Path) -> ExportRules:
    where = f"{path}: exports"
    fractions = raw.get("fractions")
    if (
        not isinstance(fractions, list)
        or len(fractions) != 3
        or not all(isinstance(f, int | float) and not isinstance(f, bool) for f in fractions)
    ):
        raise RulesError(f"{where}.fractions must be three numbers, not {fractions!r}")
    purge = raw.get("purge_sessions")
    if isinstance(purge, bool) or not isinstance(purge, int) or purge < 0:
        raise RulesError(f"{where}.purge_sessions must be a whole number >= 0, not {purge!r}")
    return ExportRules(
        fractions=(float(fractions[0]), float(fractions[1]), float(fractions[2])),
        purge_sessions=purge,
        max_similar=int(_number(raw, where, "max_similar", integer=True)),
    )


def _plan(raw: dict[str, Any], path: Path) -> dict[str, float]:
    return {name: float(_number(raw, f"{path}: plan", name)) for name in ("stop_atr", "target_atr")}


def _patterns(raw: dict[str, Any], path: Path) -> dict[str, PatternRule]:
    unknown = sorted(set(raw) - set(PATTERN_IDS))
    missing = [rule_id for rule_id in PATTERN_IDS if rule_id not in raw]
    if unknown or missing:
        raise RulesError(
            f"{path}: patterns must be exactly {', '.join(PATTERN_IDS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    rules = {}
    for rule_id in PATTERN_IDS:
        where = f"{path}: patterns.{rule_id}"
        if not isinstance(raw[rule_id], dict):
            raise RulesError(f"{where}: must be a mapping, not {raw[rule_id]!r}")
        spec = dict(raw[rule_id])
        try:
            confidence = spec.pop("confidence")
            direction = spec.pop("direction")
            sense = confidence["volume_sense"]
            rule = PatternRule(
                rule_id=rule_id,
                version=int(spec.pop("version")),
                direction=direction,
                rationale=str(spec.pop("rationale")).strip(),
                confidence_base=float(confidence["base"]),
                volume_weight=float(confidence["volume_weight"]),
                volume_sense=VOLUME_SENSES[sense],
                confirm_bars=int(spec.pop("confirm_bars")),
                params=MappingProxyType({k: float(v) for k, v in spec.items()}),
            )
        except KeyError as exc:
            raise RulesError(f"{where}: missing or unknown {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise RulesError(f"{where}: {exc}") from None
        if direction not in DIRECTIONS:
            raise RulesError(f"{where}: direction {direction!r} not in {', '.join(DIRECTIONS)}")
        if not rule.rationale:
            raise RulesError(f"{where}: a rule needs a line of rationale")
        if rule.confirm_bars < 0:
            raise RulesError(f"{where}: confirm_bars must be 0 or more")
        rules[rule_id] = rule
    return rules
