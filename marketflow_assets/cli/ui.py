"""`marketflow ui`: Dagster's webserver and daemon on the project's instance and settings."""

from __future__ import annotations

import argparse
import subprocess
import sys

from marketflow_assets.runs.instance import dagster_home
from marketflow_assets.settings import Settings

LOCALHOST = "127.0.0.1"
# The code location as workspace.yaml of the checkout names it, for a wheel install too.
WORKSPACE = """load_from:
  - python_module:
      module_name: marketflow_assets.definitions
      location_name: marketflow_assets
"""


def cmd_ui(_settings: Settings, args: argparse.Namespace) -> int:
    """Run `dagster dev` on the project's code location until it is stopped (Ctrl-C); its
    runs inherit the instance's server and bookkeeping settings from this process."""
    workspace = dagster_home() / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    command = [
        *(sys.executable, "-m", "dagster", "dev", "-w", str(workspace)),
        *("--host", LOCALHOST, "--port", str(args.port)),
    ]
    try:
        return subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return 0
