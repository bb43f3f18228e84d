"""``python -m convarch``: the CLI, also the entry point for ``torchrun -m convarch``."""

import sys

from convarch.cli import main

sys.exit(main())
