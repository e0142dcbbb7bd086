"""The command's entry point, for ``python -m report`` and ``mean-image-report`` alike."""

import sys


def run() -> int:
    """Run the command line; the package has set the environment before any library loads."""
    try:
        from .cli import main
    except KeyboardInterrupt:  # interrupted while the libraries were still loading
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
