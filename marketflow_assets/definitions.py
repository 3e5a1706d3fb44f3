"""The code location: every area's Definitions (`defs/<area>/definitions.py`) merged into one.

An area is a folder under `defs/` whose `definitions.py` has `build_defs(area: AreaContext)`;
adding one touches only its folder. Nothing is read from the environment at import: Dagster
calls `defs` when it loads the code location, and tests call `build_definitions` with their
own settings.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import dagster as dg

from marketflow_assets import defs as areas
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.settings import Settings


def area_modules() -> list[ModuleType]:
    """The `definitions` module of every area folder under `defs/`, by name."""
    return [
        importlib.import_module(f"{areas.__name__}.{info.name}.definitions")
        for info in sorted(pkgutil.iter_modules(areas.__path__), key=lambda info: info.name)
        if info.ispkg
    ]


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every area's definitions, with partitions, rules and resources made from `settings`."""
    return definitions_for(AreaContext.from_settings(settings))


def definitions_for(area: AreaContext) -> dg.Definitions:
    """Every area's definitions for one context, with the resources of its settings."""
    return dg.Definitions.merge(
        *(module.build_defs(area) for module in area_modules()),
        dg.Definitions(resources=resources_from_settings(area.settings)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location Dagster loads: settings from the environment, read at load time."""
    return build_definitions(Settings.from_env())
