"""The command line: parse arguments, set up logging, run, and turn failures into exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .config import ConfigError, load_config
from .decoding import WorkerLost
from .discovery import InputError, printable
from .extras import ClusterError
from .pipeline import NoImagesError, run

PROG = "mean-image-report"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Rank a folder of images by their squared distance to the collection's mean image, cut the
ranking into distance-quantile clusters, and write one self-contained HTML report (with the
ranking also as CSV and JSON beside it). The run is described by a TOML config; see the README
for every key. Several configs give several reports; with --site they become one folder ready
for GitHub Pages, with an index page listing them."""

EPILOG = """\
exit status: 0 on success, 1 when the run fails (for example no usable image),
2 for a bad config or bad arguments, 130 when interrupted (nothing is changed then).

examples:
  mean-image-report sample_config.toml
  python -m report my.toml --input photos/ --output out/photos.html
  python -m report a.toml b.toml --site docs/"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("configs", type=Path, metavar="CONFIG", nargs="+",
                        help="a TOML config; paths inside it are relative to its folder")
    parser.add_argument("--input", metavar="DIR",
                        help="image folder (or URL such as s3://bucket/prefix) to use instead "
                             "of the config's [input] path (relative to the current directory)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="report file to write instead of the config's [output] path "
                             "(relative to the current directory); the CSV and JSON go beside it")
    parser.add_argument("--site", type=Path, metavar="DIR",
                        help="write every report into DIR as a static site for GitHub Pages "
                             "(overrides the configs' [output] site)")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode every image again, neither reading nor writing the cache "
                             "of decoded images (see [cache] path)")
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


def execute(args: argparse.Namespace, progress: bool) -> list[tuple[Path, bool]]:
    """Run every config as asked; return each page and whether it was written afresh."""
    if len(args.configs) > 1 and (args.input is not None or args.output):
        raise ConfigError("--input and --output apply only when one config is given")
    if args.site and args.output:
        raise ConfigError("--output and --site do not go together: a site names its own pages")
    configs = [load_config(path, args.input, args.output) for path in args.configs]

    sites: dict[Path, list] = {}
    written: list[tuple[Path, bool]] = []
    for config in configs:
        site = args.site or config.output.site
        if site is None:
            result = run(config, progress, use_cache=not args.no_cache)
            written.append((result.report, result.fresh))
        else:
            sites.setdefault(Path(os.path.normpath(site)), []).append(config)
    if sites:
        # A site lays out its pages from the start, so its libraries load here, not earlier.
        from .site import build_site
    for folder, members in sites.items():
        pages = build_site(members, folder, progress, use_cache=not args.no_cache)
        written.extend((page, True) for page in pages)
    return written


def _stop_on_terminate(signum: int, frame: object) -> None:
    # Unwinding as for Ctrl-C runs the clean-up of temporary files, and changes no output.
    raise KeyboardInterrupt


def _interrupted(exc: BaseException) -> bool:
    """Whether an error stands for Ctrl-C: Python turns one that lands while a library is
    being loaded into another error caused by it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _say_interrupted() -> int:
    print(f"{PROG}: interrupted; the outputs are as they were, or complete if the "
          "interrupt came while they were being put in place", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_terminate)
    configure_logging(args.verbose, args.quiet)
    try:
        # No standard error at all (started with "2>&-") draws no bar.
        bar = not args.quiet and sys.stderr is not None and sys.stderr.isatty()
        written = execute(args, progress=bar)
    except (ConfigError, InputError) as exc:
        print(f"{PROG}: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (NoImagesError, WorkerLost, ClusterError) as exc:
        print(f"{PROG}: error: {exc}; no output was changed", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        where = f": {printable(str(exc.filename))}" if exc.filename else ""
        print(f"{PROG}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        if not _interrupted(exc):
            raise
        return _say_interrupted()
    except KeyboardInterrupt:
        return _say_interrupted()

    if not args.quiet:
        for page, fresh in written:
            state = "written to" if fresh else "up to date:"
            print(f"Report {state} {_shown(page)}")
    return 0
