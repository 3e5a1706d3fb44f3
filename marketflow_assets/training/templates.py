"""The Jinja templates of the training pairs: loaded sandboxed and strict, rendered per snapshot.

`templates/` holds `system.j2` (the shared system prompt, rendered without context) and one
`<conversation type>.j2` per type with a `user` and an `assistant` block; files starting with
`_` hold shared macros. A template sees the snapshot and nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from marketflow_assets.settings import PROJECT_ROOT

DEFAULT_TEMPLATES_DIR = PROJECT_ROOT / "templates"
SYSTEM_TEMPLATE = "system.j2"
CONVERSATION_TYPES = (
    "vpa_analysis",
    "trading_recommendation",
    "wyckoff_analysis",
    "risk_assessment",
    "pattern_explanation",
    "multi_timeframe",
)
# Types that only make sense for a session with a pattern event.
NEEDS_EVENTS = frozenset({"pattern_explanation"})
BLOCKS = ("user", "assistant")


class TemplateError(ValueError):
    """A template cannot be loaded or rendered; the message names the template and line."""


class SnapshotEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with dict items looked up before attributes.

    A snapshot is plain dicts and lists, so `bar.close` means `bar["close"]`. The stock sandbox
    tries the attribute first and pays for an AttributeError on every lookup; looking up a
    dict's item first reaches no attribute at all, so it is as safe and about twice as fast.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def words(value: str) -> str:
    """An identifier as plain words: `no_demand` -> `no demand`, `BUY` -> `buy`."""
    return value.replace("_", " ").lower()


def thousands(value: float) -> str:
    """A whole number with thousands separators: 4078400 -> `4,078,400`."""
    return f"{round(value):,}"


def number(value: float) -> str:
    """A number as written, without a trailing `.0`: 3.0 -> `3`, 1.25 -> `1.25`."""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"


FILTERS: Mapping[str, Callable[..., str]] = {
    "words": words,
    "thousands": thousands,
    "number": number,
}


@dataclass(frozen=True)
class ConversationTemplate:
    """One conversation type's template, compiled, with the hash of what it renders from."""

    conversation_type: str
    name: str
    hash: str
    template: jinja2.Template

    def render(self, snapshot: dict[str, Any]) -> tuple[str, str]:
        """(user prompt, assistant response) for one snapshot, each stripped."""
        try:
            context = self.template.new_context(snapshot)
            user = "".join(self.template.blocks["user"](context)).strip()
            assistant = "".join(self.template.blocks["assistant"](context)).strip()
        except Exception as exc:
            raise located_error(self.name, exc) from exc
        return user, assistant


@dataclass(frozen=True)
class TemplateSet:
    """The system prompt and every conversation type's template, from one folder."""

    directory: Path
    system: str
    templates: Mapping[str, ConversationTemplate]

    def __iter__(self) -> Iterator[ConversationTemplate]:
        return iter(self.templates.values())


def load_templates(directory: Path | None = None) -> TemplateSet:
    """Compile the system prompt and the six conversation templates of `directory`.

    Raises TemplateError naming the file (and line) when one is missing, does not parse, lacks
    a `user` or `assistant` block, or the system prompt needs a variable.
    """
    directory = Path(directory) if directory is not None else DEFAULT_TEMPLATES_DIR
    if not directory.is_dir():
        raise TemplateError(f"templates folder {directory} does not exist")
    env = SnapshotEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(FILTERS)
    system_template = _compile(env, SYSTEM_TEMPLATE)
    try:
        system = system_template.render().strip()
    except Exception as exc:
        raise located_error(SYSTEM_TEMPLATE, exc) from exc
    shared = "".join(
        (directory / path.name).read_text()
        for path in sorted(directory.glob("_*.j2"))
        if path.is_file()
    )
    system_source = (directory / SYSTEM_TEMPLATE).read_text()
    templates = {}
    for conversation_type in CONVERSATION_TYPES:
        name = f"{conversation_type}.j2"
        template = _compile(env, name)
        missing = [block for block in BLOCKS if block not in template.blocks]
        if missing:
            raise TemplateError(f"{name}: no {' or '.join(missing)} block")
        source = "\x1f".join((system_source, shared, (directory / name).read_text()))
        templates[conversation_type] = ConversationTemplate(
            conversation_type=conversation_type,
            name=name,
            hash=hashlib.sha256(source.encode()).hexdigest(),
            template=template,
        )
    return TemplateSet(directory=directory, system=system, templates=templates)


def _compile(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"{name}: template not found in {env.loader.searchpath}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.name or name
        raise TemplateError(f"{where}, line {exc.lineno}: {exc.message}") from exc


def located_error(name: str, exc: Exception) -> TemplateError:
    """A rendering error as a TemplateError naming the template file and line it arose at."""
    where, line = name, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where, line = Path(filename).name, tb.tb_lineno
        tb = tb.tb_next
    at = f", line {line}" if line is not None else ""
    return TemplateError(f"{where}{at}: {type(exc).__name__}: {exc}")
