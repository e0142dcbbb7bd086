"""Let ``python -m report CONFIG.toml`` run the command line."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # interrupted while the libraries were still loading
    sys.exit(130)

sys.exit(main())
