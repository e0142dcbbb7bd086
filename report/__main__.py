"""The command's entry point, for ``python -m report`` and ``mean-image-report`` alike."""

import os
import sys


def run() -> int:
    """Run the command line; loads the libraries only once the environment is set."""
    # The run multiplies no matrices, so OpenBLAS's pool of threads only costs its start-up:
    # numpy's import took twice as long with it on two busy cores. A value set by the user wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from .cli import main
    except KeyboardInterrupt:  # interrupted while the libraries were still loading
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
