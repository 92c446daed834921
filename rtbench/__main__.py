"""``python -m rtbench ...`` is ``bench ...`` (for environments without the console script on PATH)."""

import sys

from rtbench.cli import main

sys.exit(main())
