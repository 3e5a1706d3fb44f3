"""The lint of rendered pairs: each artefact, invented numbers and wrong dates are caught; clean
pairs, the numbers a snapshot holds and the ticker's characters pass; and every pair of the
offline sample passes."""

from __future__ import annotations

import polars as pl
import pytest

from marketflow_assets.chain import sample_chain
from marketflow_assets.training.lint import PROBLEM_COLUMNS, lint_pairs
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa import load_rules
from marketflow_assets_tests.training.fixtures.cases import (
    buy_with_events,
    changed,
    confirmed_later,
    snapshot_frame,
)

TEMPLATES = load_templates()
SNAPSHOTS = snapshot_frame([buy_with_events(), confirmed_later()])
PAIRS = render_pairs(SNAPSHOTS, TEMPLATES)
VPA = pl.col("conversation_type") == "vpa_analysis"
FIRST = pl.col("snapshot_id") == SNAPSHOTS["snapshot_id"][0]


def with_response(text: str, field: str = "response") -> pl.DataFrame:
    """The vpa_analysis pair of the first snapshot, with `text` appended to `field`."""
    pair = PAIRS.filter(VPA & FIRST)
    return pair.with_columns((pl.col(field) + text).alias(field))


def problems(pairs: pl.DataFrame, snapshots: pl.DataFrame = SNAPSHOTS) -> list[tuple[str, str]]:
    return lint_pairs(pairs, snapshots).select("problem", "detail").rows()


def test_clean_pairs_pass() -> None:
    found = lint_pairs(PAIRS, SNAPSHOTS)
    assert found.columns == list(PROBLEM_COLUMNS)
    assert found.height == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (" The signal is SignalType.BUY.", "enum_repr"),
        (" The signal is BUY.", "upper_case_word"),
        (" Volume was ultra_high.", "snake_case"),
        (" Support: None.", "none"),
        (" Support: nan.", "nan"),
        (" Support: null.", "null"),
        (" Warm-up: False.", "boolean"),
        (" Volume was  high.", "double_space"),
        (" Volume was high .", "space_before_punctuation"),
        (" Volume was high.It fell.", "missing_space"),
        (" Volume was high. \nIt fell.", "trailing_space"),
        ("\n\n\nIt fell.", "blank_lines"),
        (" Close {{ bar.close }}.", "template_syntax"),
        (" {% if x %}", "template_syntax"),
        (" A ratio of 1e-05.", "scientific_notation"),
    ],
)
def test_each_artefact_is_caught(text: str, problem: str) -> None:
    assert problem in {name for name, _ in problems(with_response(text))}


def test_artefacts_of_the_system_prompt_are_reported_for_every_pair() -> None:
    pairs = PAIRS.with_columns((pl.col("system") + " Be BUY.").alias("system"))
    found = lint_pairs(pairs, SNAPSHOTS)
    assert set(found["field"]) == {"system"}
    assert found["pair_id"].sort().to_list() == PAIRS["pair_id"].sort().to_list()


def test_empty_text_is_caught() -> None:
    pair = PAIRS.filter(VPA & FIRST).with_columns(pl.lit(" \n ").alias("response"))
    assert ("empty", "") in problems(pair)


@pytest.mark.parametrize(
    "text",
    [
        " The close of 29.17 was 29.2 and about 29.",  # fewer decimals than the snapshot
        " Volume of 6,828,700 against 3,323,020.",  # thousands separators
        " The gap was down 0.55%, or -0.55%.",  # the sign in words or as a minus
        " ATR(14) and the 20-session and 60-session ranges, sma20 and 5 sessions.",
        " The bar of 2010-02-05.",  # the as-of date
    ],
)
def test_numbers_and_dates_of_the_snapshot_pass(text: str) -> None:
    assert problems(with_response(text)) == []


@pytest.mark.parametrize(
    ("text", "token"),
    [
        (" A target of 123.45.", "123.45"),
        (" The close was 29.171.", "29.171"),  # more decimals than the snapshot holds
        (" Volume of 6,828,701.", "6,828,701"),
        (" Up 7 sessions.", "7"),
        (" A gap of -0.56%.", "-0.56"),
    ],
)
def test_invented_numbers_are_caught(text: str, token: str) -> None:
    assert problems(with_response(text)) == [("unknown_number", token)]


def test_numbers_of_the_prompt_are_checked_too() -> None:
    assert problems(with_response(" A score of 0.99.", "prompt")) == [("unknown_number", "0.99")]


def test_dates_must_be_the_as_of_or_an_event_bar_date() -> None:
    assert problems(with_response(" Next session 2010-02-08.")) == [("unknown_date", "2010-02-08")]
    spring = PAIRS.filter(VPA & ~FIRST)
    assert "2010-05-06" in spring["prompt"][0]  # the spring's bar date, before its as-of date
    assert problems(spring) == []
    wrong = spring.with_columns((pl.col("response") + " Not 2010-02-05.").alias("response"))
    assert problems(wrong) == [("unknown_date", "2010-02-05")]


def test_a_tickers_digits_are_not_numbers() -> None:
    snapshots = snapshot_frame([changed(buy_with_events(), ticker="7X")])
    pairs = render_pairs(snapshots, TEMPLATES)
    assert "Ticker: 7X" in pairs["prompt"][0]
    assert lint_pairs(pairs, snapshots).height == 0
    seven = pairs.head(1).with_columns((pl.col("response") + " In 7 days.").alias("response"))
    assert problems(seven, snapshots) == [("unknown_number", "7")]


def test_a_pair_without_its_snapshot_is_a_problem() -> None:
    found = lint_pairs(PAIRS.filter(FIRST), SNAPSHOTS.filter(~FIRST))
    assert set(found["problem"]) == {"unknown_snapshot"}
    assert found.height == PAIRS.filter(FIRST).height


@pytest.fixture(scope="module")
def sample_snapshots() -> pl.DataFrame:
    """Every snapshot of the offline sample (524 stocks, one year), built as the assets do,
    calibrated by the sample's own matured outcomes."""
    rules = load_rules()
    return sample_chain(rules).snapshots(rules)


def test_every_rendered_pair_of_the_sample_passes(sample_snapshots: pl.DataFrame) -> None:
    selected = select_snapshots(sample_snapshots, load_rules().training.quiet_sample)
    pairs = render_pairs(selected, TEMPLATES)
    # Quiet sessions are drawn by snapshot id, which holds the rules hash: new rules re-draw them.
    assert pairs.height == 130_390
    found = lint_pairs(pairs, selected)
    assert found.height == 0, found.head(10)
