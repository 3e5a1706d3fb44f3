"""The Jinja internals `training/sandbox.py` (and the shared macros `templates.py` hands it) rely
on: each still exists with the signature and behaviour its fast path assumes."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

RELIED_ON = "sandbox.py relies on it; re-check the fast path for this Jinja version"
SOURCES = {
    "_m.j2": "{% macro f(a, b) %}{{ a }}-{{ b }}{% endmacro %}",
    "t.j2": '{% import "_m.j2" as m %}{{ x.y }}{{ x is none }}'
    "{% block b %}{{ m.f(1, 2) }}{% for i in xs %}{{ m.f(i, 2) }}{% endfor %}{% endblock %}",
}
CHECKS: dict[str, Callable[[], None]] = {}


def internal(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a check of the internal `name`."""

    def register(check: Callable[[], None]) -> Callable[[], None]:
        CHECKS[name] = check
        return check

    return register


def resolve(dotted: str) -> Any:
    """The object at a dotted path such as `jinja2.compiler.CodeGenerator.visit_Getattr`."""
    module_name, _, rest = dotted.partition(".")
    obj: Any = importlib.import_module(module_name)
    for part in rest.split("."):
        if inspect.ismodule(obj) and not hasattr(obj, part):
            importlib.import_module(f"{obj.__name__}.{part}")
        obj = getattr(obj, part)
    return obj


def parameters(dotted: str) -> str:
    """The parameters of the callable at `dotted`, without annotations: `self, node, frame`."""
    signature = inspect.signature(resolve(dotted))
    return ", ".join(str(p.replace(annotation=p.empty)) for p in signature.parameters.values())


def environment() -> ImmutableSandboxedEnvironment:
    """A stock immutable sandbox holding the two templates of SOURCES."""
    return ImmutableSandboxedEnvironment(loader=jinja2.DictLoader(SOURCES))


def generated(name: str) -> str:
    """The Python source the stock sandbox compiles template `name` to."""
    return environment().compile(SOURCES[name], name, raw=True)


SIGNATURES = {
    "jinja2.compiler.CodeGenerator.visit_Getattr": "self, node, frame",
    "jinja2.compiler.CodeGenerator.visit_Test": "self, node, frame",
    "jinja2.compiler.CodeGenerator.temporary_identifier": "self",
    "jinja2.compiler.CodeGenerator.write": "self, x",
    "jinja2.compiler.CodeGenerator.visit": "self, node, *args, **kwargs",
    "jinja2.compiler.optimizeconst": "f",
    "jinja2.environment.Environment.get_template": "self, name, parent=None, globals=None",
    "jinja2.environment.Template._get_default_module": "self, ctx=None",
    "jinja2.runtime.Context.__init__": "self, environment, parent, name, blocks, globals=None",
    "jinja2.sandbox.SandboxedEnvironment.getattr": "self, obj, attribute",
    # `__self, __context, __obj, *args, **kwargs`, as name-mangled in the class.
    "jinja2.sandbox.SandboxedEnvironment.call": "_SandboxedEnvironment__self, "
    "_SandboxedEnvironment__context, _SandboxedEnvironment__obj, *args, **kwargs",
}


@internal("jinja2.compiler.Frame (a class)")
def _frame() -> None:
    assert inspect.isclass(resolve("jinja2.compiler.Frame"))


@internal("jinja2.compiler.CodeGenerator.environment (the compiling environment)")
def _code_generator_environment() -> None:
    env = environment()
    generator = resolve("jinja2.compiler.CodeGenerator")(env, "t.j2", None)
    assert generator.environment is env


@internal("jinja2.Environment.code_generator_class and .template_class (class hooks)")
def _class_hooks() -> None:
    assert resolve("jinja2.environment.Environment.code_generator_class") is resolve(
        "jinja2.compiler.CodeGenerator"
    )
    assert resolve("jinja2.environment.Environment.template_class") is jinja2.Template


@internal("jinja2.nodes.Getattr.fields (node, attr)")
def _getattr_fields() -> None:
    assert {"node", "attr"} <= set(resolve("jinja2.nodes.Getattr.fields"))


@internal("jinja2.nodes.Test.fields (node, name, args, kwargs, dyn_args, dyn_kwargs)")
def _test_fields() -> None:
    fields = resolve("jinja2.nodes.Test.fields")
    assert fields == ("node", "name", "args", "kwargs", "dyn_args", "dyn_kwargs"), fields


@internal("generated code: `x.y` is `environment.getattr(x, 'y')`")
def _generated_getattr() -> None:
    assert "environment.getattr(" in generated("t.j2")


@internal("generated code: `x is none` is the stock `none` test, `value is None`")
def _generated_none_test() -> None:
    assert "environment.tests['none']" in generated("t.j2")
    none = environment().tests["none"]
    assert none(None) is True
    assert not any(none(value) for value in (0, "", False, [], {}))


@internal(
    "generated code: imports call `environment.get_template(name, parent)`, then the "
    "template's `_get_default_module(context)`"
)
def _generated_import() -> None:
    code = "environment.get_template('_m.j2', 't.j2')._get_default_module(context)"
    assert code in generated("t.j2")


@internal(
    "generated code: calls are `environment.call(context, ...)`, passing `_loop_vars` and "
    "`_block_vars` only"
)
def _generated_call() -> None:
    source = generated("t.j2")
    assert "environment.call(context, " in source
    assert set(re.findall(r"\b(_\w+)=", source)) == {"_loop_vars", "_block_vars"}


@internal("jinja2.runtime.Context.call pops `_block_vars` and `_loop_vars`")
def _context_call_pops() -> None:
    source = inspect.getsource(resolve("jinja2.runtime.Context.call"))
    assert set(re.findall(r"kwargs\.pop\(\"(\w+)\"", source)) == {"_block_vars", "_loop_vars"}


@internal("jinja2.runtime.Context.globals_keys (empty without globals)")
def _globals_keys() -> None:
    env = environment()
    context = resolve("jinja2.runtime.Context")(env, {"x": 1}, None, {})
    assert context.globals_keys == set()


@internal("jinja2.Template._module (the cached default module)")
def _template_module() -> None:
    env = environment()
    template = env.get_template("_m.j2")
    assert template._module is None
    context = env.context_class(env, {}, None, {})
    module = template._get_default_module(context)
    assert template._module is module
    assert template._get_default_module(context) is module


@internal("jinja2.environment.TemplateModule (exports in vars(module))")
def _template_module_exports() -> None:
    module = environment().get_template("_m.j2").module
    assert type(module) is resolve("jinja2.environment.TemplateModule")
    assert type(vars(module)["f"]) is resolve("jinja2.runtime.Macro")


@internal("jinja2.runtime.Macro._func, .arguments, .caller, .catch_kwargs, .catch_varargs")
def _macro_attributes() -> None:
    macro = vars(environment().get_template("_m.j2").module)["f"]
    assert macro.arguments == ("a", "b")
    assert (macro.caller, macro.catch_kwargs, macro.catch_varargs) == (False, False, False)
    assert callable(macro._func)


@internal("jinja2.runtime.Macro.__call__ with every argument by position is `_func(*args)`")
def _macro_call() -> None:
    macro = vars(environment().get_template("_m.j2").module)["f"]
    assert macro._func("x", 2) == macro("x", 2) == "x-2"


def fail(name: str, exc: Exception) -> None:
    """Fail the test, naming the internal, what went wrong and what to do."""
    pytest.fail(
        f"Jinja {version('jinja2')}: {name} changed or is gone "
        f"({type(exc).__name__}: {exc}); {RELIED_ON}",
        pytrace=False,
    )


@pytest.mark.parametrize("dotted", list(SIGNATURES))
def test_jinja_signature_is_unchanged(dotted: str) -> None:
    expected = SIGNATURES[dotted]
    try:
        found = parameters(dotted)
        assert found == expected, f"its parameters are now ({found})"
    except Exception as exc:
        fail(f"{dotted}({expected})", exc)


@pytest.mark.parametrize(
    "name", list(CHECKS), ids=[check.__name__.strip("_") for check in CHECKS.values()]
)
def test_jinja_internal_is_unchanged(name: str) -> None:
    try:
        CHECKS[name]()
    except Exception as exc:
        fail(name, exc)
