"""`python -m marketflow_assets.cli`: the same as the `marketflow` command."""

import sys

from marketflow_assets.cli import main

sys.exit(main())
