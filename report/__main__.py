"""Let ``python -m report CONFIG.toml`` run the command line."""

import sys

from .cli import main

sys.exit(main())
