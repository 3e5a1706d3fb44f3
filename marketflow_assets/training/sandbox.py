"""The sandboxed Jinja environment of the templates, with fast paths as safe as the stock ones.

Rendering runs at some 20,000 pairs a second on one core because of what is here: dict items
read in place, macro modules read directly, and a snapshot's shared macros rendered once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from operator import is_
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.environment import TemplateModule
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

# While `TemplateSet.render_snapshot` runs: each shared macro's last arguments and output.
SHARED_MACRO_OUTPUTS: ContextVar[dict[Macro, tuple[tuple[Any, ...], str]] | None] = ContextVar(
    "shared_macro_calls", default=None
)
# Arguments that template code cannot change in place under the immutable sandbox.
_FROZEN_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})


class SnapshotCodeGenerator(CodeGenerator):
    """Compiles `x.name` to read a plain dict's item in place and `x is none` to `x is None`.

    Templates read snapshot fields this way a few hundred times per snapshot; the stock code
    calls `environment.getattr` and a test function for each. Anything but a dict holding the
    name still goes through `environment.getattr`, so the sandbox sees every other access.
    """

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:  # noqa: N802
        if self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        value, name = self.temporary_identifier(), repr(node.attr)
        self.write(f"({value}[{name}] if type({value} := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {name} in {value} else environment.getattr({value}, {name}))")

    @optimizeconst
    def visit_Test(self, node: nodes.Test, frame: Frame) -> None:  # noqa: N802
        if node.name != "none" or node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
            super().visit_Test(node, frame)
            return
        self.write("(")
        self.visit(node.node, frame)
        self.write(" is None)")


class SnapshotTemplate(jinja2.Template):
    """A template whose imports skip a set difference when the context brings no globals."""

    def _get_default_module(self, ctx: Context | None = None) -> TemplateModule:
        # The stock method makes a fresh module when the importing context has globals the
        # imported template lacks; contexts made by `snapshot_context` bring none, so every
        # import without context gets the cached module, as the stock method would.
        if ctx is not None and not ctx.globals_keys and self._module is not None:
            return self._module
        return super()._get_default_module(ctx)


class SnapshotEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with fast paths for what templates do most, each as safe as the
    stock path it skips.

    A snapshot is plain dicts and lists, so `bar.close` means `bar["close"]`: the stock sandbox
    tries the attribute first and pays for an AttributeError on every lookup, while looking up
    a dict's item first reaches no attribute at all (and the code generator does it in place).
    A macro module's exported names (`m.names`) are read from the module directly; names
    starting with `_`, which the sandbox refuses anyway, take the stock path. A macro, which
    runs template code under this same sandbox, is called without the sandbox's callable
    checks.

    `shared_templates` are the `_*.j2` files, found without the loader's cache on every
    import. `shared_macros` are their macros. Imported without context, their output depends
    on their arguments only, so while `TemplateSet.render_snapshot` renders one snapshot, a
    call with the same argument objects as the macro's last call returns that call's output:
    the market-data block is rendered once per snapshot rather than once per conversation
    type.
    """

    code_generator_class = SnapshotCodeGenerator
    template_class = SnapshotTemplate
    # Each shared macro's body function and argument count, when it takes no caller, varargs
    # or keywords.
    shared_macros: Mapping[Macro, tuple[Callable[..., str], int]] = MappingProxyType({})
    shared_templates: Mapping[str, jinja2.Template] = MappingProxyType({})

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        if not globals and type(name) is str:
            found = self.shared_templates.get(name)
            if found is not None:
                return found
        return super().get_template(name, parent, globals)

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is dict:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if kind is TemplateModule and not attribute.startswith("_"):
            exported = vars(obj)
            if attribute in exported:
                return exported[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if type(__obj) is not Macro:
            return super().call(__context, __obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        shared = __self.shared_macros.get(__obj)
        if shared is None or kwargs or len(args) != shared[1]:
            return __obj(*args, **kwargs)
        memo = SHARED_MACRO_OUTPUTS.get()
        last = memo.get(__obj) if memo is not None else None
        # The same objects as last time (held by the memo, so no other object can take their
        # ids), which could not have changed since: the output is the same.
        if last is not None and all(map(is_, last[0], args)):
            return last[1]
        # Every argument given by position: what `Macro.__call__` would end up calling.
        output = shared[0](*args)
        if memo is not None and _FROZEN_TYPES.issuperset(map(type, args)):
            memo[__obj] = (args, output)
        return output
