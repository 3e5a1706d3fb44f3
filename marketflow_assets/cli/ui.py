"""`marketflow ui` and `marketflow dagster ...`: Dagster's own commands on the project's
instance, with its server running and its bookkeeping settings, for as long as they run."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from marketflow_assets.runs.instance import dagster_home
from marketflow_assets.settings import Settings

LOCALHOST = "127.0.0.1"
# The code location as workspace.yaml of the checkout names it, for a wheel install too.
WORKSPACE = """load_from:
  - python_module:
      module_name: marketflow_assets.definitions
      location_name: marketflow_assets
"""


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    """`dagster dev` (webserver and daemon) on 127.0.0.1 until stopped with Ctrl-C."""
    workspace = dagster_home() / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    return _dagster(["dev", "-w", str(workspace), "--host", LOCALHOST, "--port", str(args.port)])


def cmd_dagster(settings: Settings, args: argparse.Namespace) -> int:
    """Any `dagster` command, e.g. `asset materialize -m marketflow_assets.definitions ...`."""
    return _dagster(args.arguments)


def _dagster(arguments: Sequence[str]) -> int:
    """Dagster's command line in a child process, which inherits this one's environment."""
    try:
        return subprocess.run([sys.executable, "-m", "dagster", *arguments], check=False).returncode
    except KeyboardInterrupt:
        return 0
