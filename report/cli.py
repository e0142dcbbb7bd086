"""The command line: parse arguments, set up logging, run, and turn failures into exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .config import ConfigError, load_config
from .discovery import InputError
from .pipeline import NoImagesError, run

PROG = "mean-image-report"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Rank a folder of images by their squared distance to the collection's mean image, cut the
ranking into distance-quantile clusters, and write one self-contained HTML report (with the
ranking also as CSV and JSON beside it). The run is described by a TOML config; see the README
for every key."""

EPILOG = """\
exit status: 0 on success, 1 when the run fails (for example no usable image),
2 for a bad config or bad arguments.

example:
  mean-image-report sample_config.toml
  python -m report my.toml --input photos/ --output out/photos.html"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, metavar="CONFIG",
                        help="the TOML config; paths inside it are relative to its folder")
    parser.add_argument("--input", type=Path, metavar="DIR",
                        help="image folder to use instead of the config's [input] path "
                             "(relative to the current directory)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="report file to write instead of the config's [output] path "
                             "(relative to the current directory); the CSV and JSON go beside it")
    volume = parser.add_mutually_exclusive_group()
    volume.add_argument("-v", "--verbose", action="store_true",
                        help="also log each step and every passed-over file")
    volume.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors; no progress bar, no summary")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Send the package's log records to stderr; the library itself never adds handlers."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    logger = logging.getLogger("report")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _shown(path: Path) -> str:
    """A path as the user gave it, tidied: "a/../out/r.html" reads as "out/r.html"."""
    return os.path.normpath(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        config = load_config(args.config, args.input, args.output)
        written = run(config, progress=not args.quiet and sys.stderr.isatty())
    except (ConfigError, InputError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoImagesError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{PROG}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output was changed", file=sys.stderr)
        return EXIT_INTERRUPTED

    if not args.quiet:
        print(f"Report written to {_shown(written.report)}")
        print(f"Ranking written to {_shown(written.csv)} and {_shown(written.json)}")
    return 0
