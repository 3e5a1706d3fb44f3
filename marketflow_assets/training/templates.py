"""The Jinja templates of the training pairs: loaded sandboxed and strict, rendered per snapshot.

`marketflow_assets/templates/` (package data) holds `system.j2` (the shared system prompt,
rendered without context) and one `<conversation type>.j2` per type with a `user` and an
`assistant` block; files starting with `_` hold shared macros. A template sees the snapshot's
fields (and the whole snapshot as `snapshot`) and nothing else.

Rendering runs at some 20,000 pairs a second on one core: the environment (`sandbox.py`) takes
a few fast paths through the sandbox, filters remember what they formatted, and a snapshot's
templates share one context and the outputs of the shared macros.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2.runtime import Context, Macro

from marketflow_assets.settings import DEFAULT_TEMPLATES_DIR
from marketflow_assets.training.filters import FILTERS
from marketflow_assets.training.sandbox import SHARED_MACRO_OUTPUTS, SnapshotEnvironment

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


@dataclass(frozen=True)
class ConversationTemplate:
    """One conversation type's template, compiled, with the hash of what it renders from."""

    conversation_type: str
    name: str
    hash: str
    template: jinja2.Template

    def render(self, snapshot: dict[str, Any]) -> tuple[str, str]:
        """(user prompt, assistant response) for one snapshot, each stripped."""
        return self.render_in(snapshot_context(self.template.environment, snapshot))

    def render_in(self, context: Context) -> tuple[str, str]:
        """(user prompt, assistant response) in a context made by `snapshot_context`."""
        blocks = self.template.blocks
        try:
            user = "".join(blocks["user"](context)).strip()
            assistant = "".join(blocks["assistant"](context)).strip()
        except Exception as exc:
            raise located_error(self.template.environment, self.name, exc) from exc
        return user, assistant


def snapshot_context(env: jinja2.Environment, snapshot: dict[str, Any]) -> Context:
    """The context a template renders a snapshot in: the environment's globals, the snapshot's
    fields, and the whole snapshot as `snapshot` (for macros that read most of it).

    The blocks of every template can share it: they read it and never write to it (a block's
    `set` stays in the block). Made directly rather than by `Template.new_context`, which copies
    the globals out of a ChainMap on every call.
    """
    return env.context_class(env, {**env.globals, **snapshot, "snapshot": snapshot}, None, {})


@dataclass(frozen=True)
class TemplateSet:
    """The system prompt and every conversation type's template, from one folder."""

    directory: Path
    system: str
    templates: Mapping[str, ConversationTemplate]

    def __iter__(self) -> Iterator[ConversationTemplate]:
        return iter(self.templates.values())

    def render_snapshot(
        self, snapshot: dict[str, Any]
    ) -> list[tuple[ConversationTemplate, str, str]]:
        """(template, prompt, response) of every conversation type that applies to the
        snapshot (those in NEEDS_EVENTS only when it has events), sharing one context and the
        shared macros' outputs."""
        context = snapshot_context(self.environment, snapshot)
        token = SHARED_MACRO_OUTPUTS.set({})
        try:
            return [
                (template, *template.render_in(context))
                for template in self.templates.values()
                if snapshot["events"] or template.conversation_type not in NEEDS_EVENTS
            ]
        finally:
            SHARED_MACRO_OUTPUTS.reset(token)

    @property
    def environment(self) -> jinja2.Environment:
        """The environment the templates were compiled in."""
        return next(iter(self.templates.values())).template.environment


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
        # Templates do not change while a set is in use: no stat of the file on every import.
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    system_template = _compile(env, SYSTEM_TEMPLATE)
    try:
        system = system_template.render().strip()
    except Exception as exc:
        raise located_error(env, SYSTEM_TEMPLATE, exc) from exc
    shared_paths = [path for path in sorted(directory.glob("_*.j2")) if path.is_file()]
    shared = "".join(path.read_text() for path in shared_paths)
    env.shared_templates = MappingProxyType(
        {path.name: _compile(env, path.name) for path in shared_paths}
    )
    env.shared_macros = MappingProxyType(
        {
            macro: (macro._func, len(macro.arguments))
            for path in shared_paths
            for macro in _macros_of(env, path.name)
            if not (macro.caller or macro.catch_kwargs or macro.catch_varargs)
        }
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


def _macros_of(env: jinja2.Environment, name: str) -> list[Macro]:
    """The macros a shared file exports, from the module every import without context gets."""
    template = _compile(env, name)
    try:
        module = template.module
    except Exception as exc:
        raise located_error(env, name, exc) from exc
    return [value for value in vars(module).values() if type(value) is Macro]


def _compile(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"{name}: template not found in {env.loader.searchpath}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.name or name
        raise TemplateError(f"{where}, line {exc.lineno}: {exc.message}") from exc


def located_error(env: jinja2.Environment, name: str, exc: Exception) -> TemplateError:
    """A rendering error as a TemplateError naming the template file and line it arose at
    (the innermost template frame, its Python line mapped back to the template's)."""
    where, line = name, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = Path(filename).name
            template = env.get_template(where)
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    at = f", line {line}" if line is not None else ""
    return TemplateError(f"{where}{at}: {type(exc).__name__}: {exc}")
