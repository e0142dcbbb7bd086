"""Run one command as a whole process and measure it: wall time, CPU time and peak PSS.

Peak memory is the proportional set size (``Pss:`` in ``/proc/<pid>/smaps_rollup``) summed over
the process and every descendant alive at the moment of sampling, sampled about every 20 ms; the
figure kept is the largest such sum. PSS splits shared pages between the processes sharing
them, so a pool of forked workers is not counted several times over for the pages they share.
The sampling itself takes about a sixth of a core, which a command using every core would feel,
so time is taken from runs without it (``sample=False``) and memory from runs of its own.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_INTERVAL = 0.02
PROC = Path("/proc")


@dataclass(frozen=True)
class RunResult:
    """One finished command: how long it took, what it cost, and what it said."""

    seconds: float
    cpu_seconds: float
    peak_pss_mib: float | None
    returncode: int
    stdout: str
    stderr: str


def _parent_map() -> dict[int, list[int]]:
    """Every live process's children, read from ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the fields follow the last ")".
        fields = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """The process ``root`` and all of its descendants."""
    children = _parent_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_kib(pid: int) -> int:
    """The process's PSS in KiB, or 0 when it has gone or cannot be read."""
    try:
        with open(PROC / str(pid) / "smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def pss_available() -> bool:
    """Whether this system exposes ``smaps_rollup`` (Linux 4.14 and later)."""
    return (PROC / "self" / "smaps_rollup").exists()


class PssSampler(threading.Thread):
    """Samples the summed PSS of a process tree until told to stop; keeps the largest sum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(pss_kib(pid) for pid in process_tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_command(argv: list[str], cwd: Path | None = None,
                env: dict[str, str] | None = None, sample: bool = True) -> RunResult:
    """Run ``argv`` to completion, sampling its process tree's PSS while it runs if ``sample``.

    The wall time runs from just before the process is started until it has been reaped, so it
    includes the interpreter's start-up and every import, as a person running it would see.
    The CPU time (user + system) covers the process and every descendant it waited for.
    """
    sample = sample and pss_available()
    with open(os.devnull, "rb") as stdin, \
            _TempText() as out, _TempText() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin,
                                stdout=out.handle, stderr=err.handle)
        sampler = PssSampler(proc.pid) if sample else None
        if sampler:
            sampler.start()
        # wait4 rather than Popen.wait: it also hands back the child's resource usage.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop()
        return RunResult(
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_pss_mib=sampler.peak_kib / 1024 if sampler else None,
            returncode=proc.returncode,
            stdout=out.text(),
            stderr=err.text(),
        )


class _TempText:
    """An unnamed temporary file to catch a child's output without a pipe that could fill."""

    def __enter__(self) -> "_TempText":
        self.handle = tempfile.TemporaryFile()
        return self

    def text(self) -> str:
        self.handle.seek(0)
        return self.handle.read().decode("utf-8", "replace")

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def median(values: list[float | None]) -> float | None:
    """The median of the values that are known, or None when none is."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None
