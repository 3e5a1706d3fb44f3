"""The filters templates format snapshot values with: plain words, and numbers as quoted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


def words(value: str) -> str:
    """An identifier as plain words: `no_demand` -> `no demand`, `BUY` -> `buy`."""
    return value.replace("_", " ").lower()


def article(value: str) -> str:
    """Words with their indefinite article: `average` -> `an average`, `wide` -> `a wide`."""
    return f"{'an' if value[:1] in 'aeiou' else 'a'} {value}"


def thousands(value: float) -> str:
    """A whole number with thousands separators: 4078400 -> `4,078,400`."""
    return f"{round(value):,}"


def number(value: float) -> str:
    """A number as stored, without a trailing `.0`: 3.0 -> `3`, 1.5 -> `1.5`, 12345.67 ->
    `12,345.67`."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def price(value: float) -> str:
    """A price to the cent, with thousands separators: 1234.5 -> `1,234.50`."""
    return f"{value:,.2f}"


def ratio(value: float) -> str:
    """A ratio or score to two decimals, never `-0.00`: 1.148 -> `1.15`."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def change(value: float) -> str:
    """A change in percent as words, so the sign needs no minus: -2.06 -> `down 2.06%`."""
    if value > 0:
        return f"up {value:.2f}%"
    if value < 0:
        return f"down {-value:.2f}%"
    return "unchanged"


def paragraphs(text: str) -> str:
    """Text written over template lines as paragraphs: the lines of a paragraph joined by a
    space, paragraphs (separated by blank lines) by one blank line, empty ones dropped."""
    # Templates write no doubled spaces; splitting every word out would cost four times more.
    parts = [part.strip().replace("\n", " ") for part in text.split("\n\n")]
    return "\n\n".join([part for part in parts if part])


def lookup(value: str, table: Mapping[str, str]) -> str:
    """The entry of `value` in `table`, or `value` as plain words when it has none."""
    found = table.get(value)
    return found if found is not None else words(value)


def sentence_join(
    items: Iterable[Any], key: str | None = None, table: Mapping[str, str] | None = None
) -> str:
    """Items as a list inside a sentence: `a`, `a and b`, `a, b and c`; with `key`, each
    item's `key` entry, and with `table`, each as looked up there (see `lookup`)."""
    names = [item[key] for item in items] if key is not None else list(items)
    if table is not None:
        names = [lookup(name, table) for name in names]
    if len(names) < 3:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class _Remembered(dict[Any, str]):
    """Outputs of a formatting function by input value; a missing one is formatted and kept
    (all forgotten at once past `size`)."""

    def __init__(self, format_: Callable[[Any], str], size: int) -> None:
        super().__init__()
        self.format_, self.size = format_, size

    def __missing__(self, value: Any) -> str:
        if len(self) >= self.size:
            self.clear()
        text = self[value] = self.format_(value)
        return text


def remembered(format_: Callable[[Any], str], size: int = 1 << 16) -> Callable[[Any], str]:
    """`format_` with its outputs kept by input value, called as a dict lookup.

    Formatting a float takes several times longer than finding it in a dict, and the rounded
    prices, ratios and words of the snapshots repeat from pair to pair.
    """
    return _Remembered(format_, size).__getitem__


FILTERS: Mapping[str, Callable[..., str]] = {
    "words": remembered(words),
    "article": remembered(article),
    "thousands": thousands,
    "number": remembered(number),
    "price": remembered(price),
    "ratio": remembered(ratio),
    "change": remembered(change),
    "paragraphs": paragraphs,
    "lookup": lookup,
    "sentence_join": sentence_join,
}
