"""Benchmark mean-image-report against a plain decode floor and a per-pixel-loop baseline.

One run prints, as a markdown table with one column per data set: the time of the decode floor
(with and without JPEG draft decoding), of the tool end to end (cold, and rerun with nothing or
one file changed when the tool has a cache), of the per-pixel-loop baseline, their ratios, the
peak PSS of each command's whole process tree, the size of the written report.html and its
first paint in Chromium. Every timed figure is the median of ``--runs`` runs, each command run
as a whole process. See benchmarks/README.md.

    python benchmarks/run.py [--sets pokemon,gen-1k] [--sizes 1000,10000,100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import datasets
import measure
import paint

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLOOR = HERE / "floor.py"
LOOPS = HERE / "loops.py"
DEFAULT_WORK = Path("/tmp/mir-bench")
DEFAULT_SIZES = "1000,10000,100000"
MEASURES = ("floor", "draft", "tool", "rerun", "loops", "page", "paint")


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# The machine -------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_state() -> str:
    """The checked-out commit, and whether the tool's code differs from it."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "report", "templates"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} with uncommitted changes to the tool" if dirty else commit


def machine_lines(tool_version: str) -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return [
        f"- CPU: {cpu_model()}, {cores} logical cores ({usable} usable)",
        f"- RAM: {ram_gib()}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, numpy {version_of('numpy')}, "
        f"Pillow {version_of('Pillow')}, plotly {version_of('plotly')}, "
        f"playwright {version_of('playwright')}",
        f"- tool: {tool_version}, checkout {git_state()}",
    ]


# The tool ------------------------------------------------------------------------------------

def tool_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "report", *args]


def tool_env(cache_home: Path) -> dict[str, str]:
    """The tool's environment, with a cache that follows XDG kept in ``cache_home``."""
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache_home)
    return env


def empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def holds_files(folder: Path) -> bool:
    return any(path.is_file() for path in folder.rglob("*"))


def compile_tool() -> None:
    """Write the tool's compiled modules, as an installed package has them.

    A checkout run with ``PYTHONDONTWRITEBYTECODE`` set would otherwise compile every module on
    every run, a cost no installed copy pays.
    """
    done = subprocess.run([sys.executable, "-c", "import report; print(report.__file__)"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    compileall.compile_dir(Path(done.stdout.strip()).parent, quiet=1)


def tool_facts() -> tuple[str, bool]:
    """The tool's version line and whether it has a ``--no-cache`` flag."""
    done = subprocess.run(tool_argv("--help"), cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m report --help failed:\n{done.stderr}")
    version = subprocess.run(tool_argv("--version"), cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
    return version or "unknown version", "--no-cache" in done.stdout


def plotly_bundle_size() -> tuple[bytes | None, int]:
    """The installed plotly.js bundle, found without importing plotly, and its size."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None, 0
    bundle = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
    if not bundle.is_file():
        return None, 0
    data = bundle.read_bytes()
    return data, len(data)


# Measuring -----------------------------------------------------------------------------------

class Failed(Exception):
    """A command exited with an error; the message is its last line of stderr."""


def timed(label: str, argv: list[str], runs: int, before=None, cwd: Path | None = None,
          env: dict[str, str] | None = None, memory: bool = True) -> dict:
    """Median wall time and CPU time of ``runs`` runs of one command, and with ``memory`` its
    peak PSS in one more run, prepared by ``before`` like the others.

    The timed runs go without the memory sampler, whose own CPU time would slow a command that
    keeps every core busy more than one that uses a single core.
    """
    def attempt(run: int, sample: bool) -> measure.RunResult:
        if before:
            before(run)
        result = measure.run_command(argv, cwd=cwd, env=env, sample=sample)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise Failed(f"{label} exited with {result.returncode}: {last}")
        return result

    results = []
    for run in range(runs):
        results.append(attempt(run, sample=False))
        log(f"    {label} run {run + 1}/{runs}: {results[-1].seconds:.2f} s")
    peak = attempt(runs, sample=True).peak_pss_mib if memory else None
    if memory:
        log(f"    {label}, memory run: {peak or 0:.0f} MiB")
    return {
        "seconds": measure.median([r.seconds for r in results]),
        "cpu_seconds": measure.median([r.cpu_seconds for r in results]),
        "pss_mib": peak,
        "stdout": results[-1].stdout.strip(),
    }


def warm_page_cache(files: list[Path]) -> None:
    """Read every file once so that no measured run is the only one to pay for the disk."""
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass


def page_sizes(report: Path, bundle: bytes | None) -> tuple[int, int | None]:
    """The report's size, and its size less the inlined plotly.js (None if not inlined)."""
    data = report.read_bytes()
    if bundle and bundle in data:
        return len(data), len(data) - len(bundle)
    return len(data), None


def bench_tool(dataset: datasets.DataSet, args: argparse.Namespace, no_cache_flag: bool,
               row: dict, notes: list[str]) -> Path | None:
    """The tool's cold runs and, when it caches, its reruns; returns the report written.

    Every cold run starts with an empty XDG cache folder, and with ``--no-cache`` when the
    tool has it, so a cache cannot make a cold run warm even before the flag exists. A cache
    is taken to exist when the tool has the flag or a cold run left files in that folder.
    """
    wanted = set(args.measures)
    copy = datasets.private_copy(dataset, args.work)
    config, report = datasets.write_config(args.work, dataset.name, copy)
    command = tool_argv(str(config), "--output", str(report), "-q")
    cold_cache = args.work / "xdg-cache" / "cold"
    cold_flag = ["--no-cache"] if no_cache_flag else []
    try:
        cold = timed("tool, cold", command + cold_flag,
                     args.runs if "tool" in wanted or "rerun" in wanted else 1,
                     before=lambda run: empty_folder(cold_cache),
                     cwd=REPO, env=tool_env(cold_cache))
    except Failed as error:
        row["tool"] = "fail"
        notes.append(f"{dataset.name}: {error}")
        return None
    if "tool" in wanted or "rerun" in wanted:
        row["tool"] = cold

    cached = holds_files(cold_cache)
    if cached and not no_cache_flag:
        notes.append("the tool wrote a cache under XDG_CACHE_HOME but has no --no-cache "
                     "flag: every cold run was given an empty cache folder instead")
    if "rerun" not in wanted:
        return report
    if not (no_cache_flag or cached):
        notes.append("reruns not measured: the tool has no --no-cache flag and wrote no "
                     "cache under XDG_CACHE_HOME")
        return report

    warm_cache = args.work / "xdg-cache" / "warm"
    empty_folder(warm_cache)
    env = tool_env(warm_cache)
    try:
        timed("tool, fill the cache", command, 1, cwd=REPO, env=env, memory=False)
        row["rerun_same"] = timed("rerun, nothing changed", command, args.runs,
                                  cwd=REPO, env=env)
        row["rerun_one"] = timed("rerun, one file changed", command, args.runs,
                                 cwd=REPO, env=env,
                                 before=lambda run: datasets.change_one_file(copy, run))
    except Failed as error:
        row.setdefault("rerun_same", "fail")
        row.setdefault("rerun_one", "fail")
        notes.append(f"{dataset.name}: {error}")
    return report


def bench_set(dataset: datasets.DataSet, args: argparse.Namespace, no_cache_flag: bool,
              bundle: bytes | None, notes: list[str]) -> dict:
    """Every figure for one data set."""
    wanted = set(args.measures)
    row: dict = {}
    files = dataset.files()
    row["files"] = len(files)
    row["jpeg"] = dataset.jpeg_count()
    log(f"{dataset.name}: {len(files)} files ({row['jpeg']} JPEG) in {dataset.folder}")
    warm_page_cache(files)

    def attempt(key: str, label: str, argv: list[str], **kwargs) -> None:
        try:
            row[key] = timed(label, argv, args.runs, **kwargs)
        except Failed as error:
            row[key] = "fail"
            notes.append(f"{dataset.name}: {error}")

    python = sys.executable
    if "floor" in wanted:
        attempt("floor", "floor", [python, str(FLOOR), str(dataset.folder)])
        if isinstance(row["floor"], dict):
            row["decoded"] = row["floor"]["stdout"]
    if "draft" in wanted and row["jpeg"]:
        attempt("draft", "floor, draft", [python, str(FLOOR), str(dataset.folder), "--draft"])

    report = None
    if wanted & {"tool", "rerun", "page", "paint"}:
        report = bench_tool(dataset, args, no_cache_flag, row, notes)

    if "loops" in wanted and not args.skip_loops:
        if len(files) <= args.loops_max:
            attempt("loops", "per-pixel loops", [python, str(LOOPS), str(dataset.folder)])
        else:
            log(f"    per-pixel loops skipped: more than {args.loops_max} files")

    if report is not None and report.exists():
        if "page" in wanted:
            row["page_bytes"], row["page_bytes_no_plotly"] = page_sizes(report, bundle)
        if "paint" in wanted:
            reason = paint.unavailable_reason()
            if reason:
                notes.append(f"first paint not measured: {reason}")
            else:
                timings, version = paint.measure(report, args.runs)
                row["fcp_ms"], row["load_ms"] = timings["fcp"], timings["load"]
                row["sort_ms"], row["filter_ms"] = timings["sort"], timings["filter"]
                row["chromium"] = version
                log(f"    page timings {timings}")
    return row


# The table -----------------------------------------------------------------------------------

def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def ratio(top: float, bottom: float) -> str:
    value = top / bottom
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def figure(row: dict, key: str, field: str = "seconds") -> float | None:
    value = row.get(key)
    return value.get(field) if isinstance(value, dict) else None


def cell(row: dict, key: str, field: str = "seconds", fmt=seconds) -> str:
    if row.get(key) == "fail":
        return "fail"
    value = figure(row, key, field)
    return fmt(value) if value is not None else "-"


def ratio_cell(row: dict, top: str, bottom: str) -> str:
    a, b = figure(row, top), figure(row, bottom)
    return ratio(a, b) if a is not None and b else "-"


def decoded_cell(stdout: str | None) -> str:
    """The floor's "decoded=N failed=M" as "N", or "N (+M not decodable)"."""
    if not stdout:
        return "-"
    counts = dict(part.split("=", 1) for part in stdout.split() if "=" in part)
    failed = int(counts.get("failed", 0))
    return counts.get("decoded", "?") + (f" (+{failed} not decodable)" if failed else "")


def mib(value: float) -> str:
    return f"{value:.0f} MiB"


def plain(row: dict, key: str, fmt) -> str:
    value = row.get(key)
    return fmt(value) if value is not None else "-"


TABLE = [
    ("files (JPEG among them)", lambda r: f"{r['files']} ({r['jpeg']})"),
    ("decoded by the floor", lambda r: decoded_cell(r.get("decoded"))),
    ("plain decode floor", lambda r: cell(r, "floor")),
    ("plain decode floor, JPEG draft", lambda r: cell(r, "draft")),
    ("the tool end to end, cold", lambda r: cell(r, "tool")),
    ("rerun, nothing changed", lambda r: cell(r, "rerun_same")),
    ("rerun, one file changed", lambda r: cell(r, "rerun_one")),
    ("per-pixel loops", lambda r: cell(r, "loops")),
    ("tool / floor", lambda r: ratio_cell(r, "tool", "floor")),
    ("tool / floor, JPEG draft", lambda r: ratio_cell(r, "tool", "draft")),
    ("speed-up: per-pixel loops / tool", lambda r: ratio_cell(r, "loops", "tool")),
    ("rerun / cold, nothing changed", lambda r: ratio_cell(r, "rerun_same", "tool")),
    ("rerun / cold, one file changed", lambda r: ratio_cell(r, "rerun_one", "tool")),
    ("tool cold, CPU time (user+sys)", lambda r: cell(r, "tool", "cpu_seconds")),
    ("peak PSS, floor", lambda r: cell(r, "floor", "pss_mib", mib)),
    ("peak PSS, tool cold", lambda r: cell(r, "tool", "pss_mib", mib)),
    ("peak PSS, rerun, nothing changed", lambda r: cell(r, "rerun_same", "pss_mib", mib)),
    ("peak PSS, rerun, one file changed", lambda r: cell(r, "rerun_one", "pss_mib", mib)),
    ("peak PSS, per-pixel loops", lambda r: cell(r, "loops", "pss_mib", mib)),
    ("report.html", lambda r: plain(r, "page_bytes", lambda v: f"{v:,} B")),
    ("report.html without plotly.js",
     lambda r: plain(r, "page_bytes_no_plotly", lambda v: f"{v:,} B")),
    ("first contentful paint", lambda r: plain(r, "fcp_ms", lambda v: f"{v:.0f} ms")),
    ("load event end", lambda r: plain(r, "load_ms", lambda v: f"{v:.0f} ms")),
    ("sort the ranking by distance", lambda r: plain(r, "sort_ms", lambda v: f"{v:.0f} ms")),
    ("filter the ranking by path", lambda r: plain(r, "filter_ms", lambda v: f"{v:.0f} ms")),
    ("tool cold, time per image", lambda r: per_image(r)),
]


def per_image(row: dict) -> str:
    tool = row.get("tool")
    if not isinstance(tool, dict) or not row.get("files"):
        return "-"
    return f"{tool['seconds'] / row['files'] * 1000:.3f} ms"


def markdown_table(names: list[str], rows: dict[str, dict]) -> list[str]:
    lines = ["| | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for label, render in TABLE:
        cells = [render(rows[name]) for name in names]
        if any(text != "-" for text in cells):  # a row nobody measured is left out
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


# The command line ----------------------------------------------------------------------------

def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="sets: " + ", ".join(datasets.REAL_SETS) + ", and gen-<size> for each of "
               "--sizes (gen-1k, gen-10k, gen-100k by default)")
    parser.add_argument("--sets", type=comma_list,
                        help="comma-separated sets to run (default: every real set present "
                             "and every generated size)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"image counts of the generated sets (default {DEFAULT_SIZES})")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--skip-loops", action="store_true",
                        help="never run the per-pixel-loop baseline")
    parser.add_argument("--loops-max", type=int, default=4000,
                        help="run the per-pixel loops only on sets of at most this many "
                             "files (default 4000)")
    parser.add_argument("--measures", type=comma_list, default=list(MEASURES),
                        help="comma-separated subset of " + ",".join(MEASURES))
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"folder for generated sets, copies and reports "
                             f"(default {DEFAULT_WORK}; never inside the repository)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                        help="folder holding the real sets (default ../shared/data)")
    parser.add_argument("--generate-only", action="store_true",
                        help="build the selected generated sets and stop")
    args = parser.parse_args()

    args.work = args.work.resolve()
    if args.work == REPO or REPO in args.work.parents:
        parser.error("--work must be outside the repository")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    unknown = set(args.measures) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measures: {', '.join(sorted(unknown))}")
    try:
        args.sizes = [int(size) for size in comma_list(args.sizes)]
    except ValueError:
        parser.error("--sizes takes whole numbers, for example 1000,10000")
    if any(size < 1 for size in args.sizes):
        parser.error("--sizes must be positive")
    return args


def choose_sets(args: argparse.Namespace, notes: list[str]) -> list[datasets.DataSet]:
    """The selected sets in table order, generating any generated one that is not ready."""
    real, absent = datasets.real_sets(args.data)
    generated = {datasets.generated_name(size): size for size in args.sizes}
    known = list(datasets.REAL_SETS) + list(generated)
    selected = args.sets or known
    unknown = [name for name in selected if name not in known]
    if unknown:
        raise SystemExit(f"unknown sets: {', '.join(unknown)} (known: {', '.join(known)})")
    notes.extend(note for note in absent if note.split(":")[0] in selected)
    by_name = {dataset.name: dataset for dataset in real}
    chosen = []
    for name in selected:
        if name in generated:
            chosen.append(datasets.ensure_generated(args.work, generated[name], args.data))
        elif name in by_name:
            chosen.append(by_name[name])
    return chosen


def main() -> int:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    chosen = choose_sets(args, notes)
    if args.generate_only:
        for dataset in chosen:
            if dataset.generated:
                log(f"{dataset.name}: ready in {dataset.folder}")
        return 0

    compile_tool()
    tool_version, no_cache_flag = tool_facts()
    if args.skip_loops:
        notes.append("per-pixel loops skipped (--skip-loops)")
    bundle, _ = plotly_bundle_size()

    started = time.perf_counter()
    rows = {}
    for dataset in chosen:
        rows[dataset.name] = bench_set(dataset, args, no_cache_flag, bundle, notes)
    chromium = next((row["chromium"] for row in rows.values() if "chromium" in row), None)

    lines = ["# mean-image-report benchmark", ""] + machine_lines(tool_version)
    if chromium:
        lines.append(f"- Chromium {chromium}")
    lines += [
        f"- median of {args.runs} run{'s' if args.runs > 1 else ''} per figure; "
        "tool cold runs each with an empty XDG_CACHE_HOME"
        + (" and --no-cache" if no_cache_flag else " (the tool has no --no-cache flag)"),
        "",
    ]
    lines += markdown_table([d.name for d in chosen], rows)
    too_big = [d.name for d in chosen
               if "loops" in args.measures and not args.skip_loops
               and rows[d.name]["files"] > args.loops_max]
    if too_big:
        notes.append(f"per-pixel loops not run on {', '.join(too_big)}: more than "
                     f"{args.loops_max} files (--loops-max)")
    if notes:
        lines += [""] + [f"- {note}" for note in dict.fromkeys(notes)]
    lines.append(f"\nBenchmark took {time.perf_counter() - started:.0f} s.")
    print("\n".join(lines))

    results = args.work / "results.json"
    results.write_text(json.dumps({"argv": sys.argv[1:], "machine": machine_lines(tool_version),
                                   "sets": rows, "notes": notes}, indent=1, default=str))
    log(f"figures also written to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
