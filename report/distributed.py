"""Run the decoding and the method's passes as Dask tasks, for collections beyond one machine.

Files go to the workers in chunks, one task per chunk. Each chunk's arrays and thumbnails stay
in the workers' memory (a future per chunk, held by this client) from the mean pass through the
distance pass until the page has its thumbnails; Dask decodes a chunk again only when the worker
holding it is lost. Only small results come back: the sums, reduced on the cluster; a distance
and a thumbnail size per image; the thumbnails the page shows. Sums are exact integers and every
distance is computed the same way whatever chunk it falls in, so the result is the local
executor's to the last bit, however the files are chunked and whichever worker finishes first.

Dask is imported only when a run asks for it; what the workers run is in ``chunks``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import os
import uuid
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .analysis import (Analysis, add_totals, finish_analysis, join_measures,
                       means_from_totals, measure_chunk)
from .chunks import (add_up, arrays_at, chunk_sum, chunk_summary, cluster_totals_of,
                     decode_chunk, environment, mean_of, on_pixels, pick_thumbnails)
from .config import Config
from .discovery import Candidate, Skipped, printable
from .extras import ClusterError, require
from .decoding import PassingFailure
from .store import Thumbnail, ThumbnailStore

log = logging.getLogger(__name__)

MAX_TASK_FILES = 256  # files decoded by one task at the most
TASKS_PER_THREAD = 4  # tasks per worker thread at the least, so the load evens out
FAN_IN = 16  # partial sums added by one task of the reduction
FETCH_BATCH = 32  # chunks whose thumbnails are gathered at once, to bound this process's memory
CONNECT_TIMEOUT = "30s"
WORKERS_TIMEOUT = 120  # seconds to wait for a scheduler's first worker


def files_per_task(files: int, threads: int) -> int:
    return max(1, min(MAX_TASK_FILES, math.ceil(files / (max(1, threads) * TASKS_PER_THREAD))))


def task_source(candidate: Candidate) -> Any:
    """What a worker opens: a remote file as it is, a local path made absolute, since
    workers run in other folders (and, on a real cluster, see the files on a shared mount)."""
    path = candidate.path
    return path if hasattr(path, "fetch") else os.path.abspath(path)


class DaskExecutor:
    """A Dask client for one run: connected to ``[run] scheduler``, or to a cluster of
    ``[run] workers`` processes on this machine's loopback, started for the run and closed
    after it."""

    def __init__(self, config: Config):
        self.config = config
        self.client: Any = None
        self.cluster: Any = None
        self.distributed: Any = None

    def __enter__(self) -> DaskExecutor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _where(self) -> str:
        if self.config.scheduler is None:
            return f'{self.config.source}: [run] executor = "dask"'
        return f"{self.config.source}: [run] scheduler {printable(self.config.scheduler)}"

    def start(self) -> DaskExecutor:
        config = self.config
        distributed = require("distributed", "dask",
                              f'{config.source}: [run] executor = "dask"')
        self.distributed = distributed
        try:
            if config.scheduler is None:
                self.cluster = distributed.LocalCluster(
                    n_workers=config.workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
                log.info("started a local Dask cluster of %d workers", config.workers)
            else:
                self.client = distributed.Client(config.scheduler, timeout=CONNECT_TIMEOUT)
                self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
                log.info("connected to the Dask scheduler at %s", config.scheduler)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise ClusterError(f"{self._where()}: cannot use the Dask scheduler "
                               f"({str(exc) or type(exc).__name__})") from None
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Disconnect, and stop the cluster if this run started it; safe to call twice."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def _check_workers(self) -> None:
        """Warn about workers whose libraries may decode differently from this machine's."""
        here = environment()
        with self.errors():
            found = self.client.run(environment)
        for address, there in sorted(found.items()):
            differ = [f"{name} {there.get(name)} (here {version})"
                      for name, version in here.items() if there.get(name) != version]
            if differ:
                log.warning("Dask worker %s has %s; its images may not decode exactly as "
                            "here", address, ", ".join(differ))

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn a lost scheduler, or a task that keeps losing its workers, into one line."""
        try:
            yield
        except self.distributed.KilledWorker:
            raise ClusterError("Dask lost the workers running the same task several times (a "
                               "file may crash the decoder or need more memory than a worker "
                               "has)") from None
        except (self.distributed.comm.CommClosedError, TimeoutError,
                concurrent.futures.CancelledError) as exc:
            raise ClusterError(f"lost the Dask scheduler or its work ({type(exc).__name__}: "
                               f"{exc})") from None
        except ImportError as exc:
            raise ClusterError("the Dask workers cannot run this tool; install the same "
                               f"version of mean-image-report on them ({exc})") from None

    def threads(self) -> int:
        workers = self.client.scheduler_info()["workers"].values()
        return sum(worker.get("nthreads", 1) for worker in workers)

    def load(self, candidates: Iterable[Candidate], progress: bool = False) -> ClusterImages:
        """Decode every candidate on the cluster and compute the mean; arrays stay there."""
        candidates = list(candidates)
        size = files_per_task(len(candidates), self.threads())
        groups = [candidates[i : i + size] for i in range(0, len(candidates), size)]
        log.info("decoding %d files in %d Dask tasks", len(candidates), len(groups))
        images = ClusterImages(self, groups)
        with self.errors():
            images.decode(progress)
        return images


class ClusterImages:
    """One run's decoded images, held on the cluster chunk by chunk, and what came back.

    Alike to ``loading.LoadedSet`` for the rest of the run (names, keys, paths, skipped files,
    thumbnails, mean), with the passes over the arrays run where the arrays are. The analysis
    can also bring a bounded sample of arrays here (:meth:`sample`) or run its own function on
    every chunk (:meth:`map_chunks`).
    """

    def __init__(self, executor: DaskExecutor, groups: list[list[Candidate]]):
        self.executor = executor
        self.client = executor.client
        self.config = executor.config
        self.groups = groups
        self.names: list[str] = []
        self.keys: list[str] = []
        self.paths: list[Any] = []
        self.skipped: list[Skipped] = []
        self.decoded = 0
        self.passing = 0
        self.mean: np.ndarray | None = None
        self.thumbnails: Any = None
        self._run = uuid.uuid4().hex[:12]
        self._chunks: list[Any] = []  # a future per chunk that holds at least one image
        self._offsets: list[int] = []  # the index of each such chunk's first image
        self._mean: Any = None
        self._sizes = np.empty((0, 2), np.uint16)

    def _submit(self, name: str, func: Callable[..., Any], *args: Any, **where: Any) -> Any:
        return self.client.submit(func, *args, key=f"mir-{name}-{self._run}-{uuid.uuid4().hex}",
                                  **where)

    def _holders(self) -> list[dict[str, Any]]:
        """For each chunk, a preference for the workers that hold it.

        A task that also needs other data (the mean, say) would otherwise go to whichever
        worker looks less busy and pull the whole chunk there. The preference is loose: if
        those workers are lost, the task runs wherever the chunk is decoded again.
        """
        held = self.client.who_has(self._chunks)
        return [{"workers": list(held[f.key]), "allow_other_workers": True}
                if held.get(f.key) else {} for f in self._chunks]

    def decode(self, progress: bool) -> None:
        settings, thumbnail_size = self.config.preprocess, self.config.output.thumbnail_size
        futures = [self._submit("decode", decode_chunk, [task_source(c) for c in group],
                                settings, thumbnail_size) for group in self.groups]
        summaries = [self._submit("summary", chunk_summary, f) for f in futures]
        index = {future.key: i for i, future in enumerate(summaries)}
        results: list[Any] = [None] * len(summaries)
        total = sum(len(group) for group in self.groups)
        bar = tqdm(total=total, desc="Decoding", unit="img", disable=not progress, leave=False)
        with bar, logging_redirect_tqdm(loggers=[logging.getLogger("report")]):
            completed = self.executor.distributed.as_completed(summaries, with_results=True)
            for done, (future, result) in enumerate(completed, start=1):
                i = index[future.key]
                results[i] = result
                bar.update(len(self.groups[i]))
                log.debug("decoded chunk %d of %d on the cluster", done, len(summaries))
        sizes = []
        for future, group, (reasons, chunk_sizes) in zip(futures, self.groups, results):
            if chunk_sizes.shape[0]:
                self._chunks.append(future)
                self._offsets.append(len(self.names))
                sizes.append(chunk_sizes)
            self._take(group, reasons)
        self._sizes = np.concatenate(sizes) if sizes else self._sizes
        self.groups = []  # the candidates are booked; do not hold them for the rest of the run
        self.decoded = len(self.names)
        if self._chunks:
            sums = [self._submit("sum", chunk_sum, f) for f in self._chunks]
            self._mean = self._submit("mean", mean_of, self._reduce("add", add_up, sums),
                                      self.decoded)
            self.mean = self._mean.result()
            log.debug("the mean of %d images is computed; their arrays stay on the workers",
                      self.decoded)

    def _take(self, group: list[Candidate], reasons: list[str | None]) -> None:
        """Book one chunk's files, in input order, as the local loader does."""
        for candidate, reason in zip(group, reasons):
            if reason is None:
                self.names.append(candidate.rel)
                self.keys.append(candidate.key or candidate.rel)
                self.paths.append(candidate.path)
                continue
            self.passing += isinstance(reason, PassingFailure)
            log.warning("skipped %s: %s", printable(candidate.rel), printable(reason))
            self.skipped.append(Skipped(candidate.rel, reason))

    def _reduce(self, name: str, combine: Callable[..., Any], parts: list[Any]) -> Any:
        """Combine futures on the cluster, ``FAN_IN`` at a time, down to one."""
        while len(parts) > 1:
            parts = [self._submit(name, combine, *parts[i : i + FAN_IN])
                     for i in range(0, len(parts), FAN_IN)]
        return parts[0]

    def map_chunks(self, func: Callable[..., Any], *args: Any) -> list[Any]:
        """``func(pixels, *args)`` on every chunk's arrays, on the workers; results in order.

        ``func`` must be importable on the workers; keep what it returns small.
        """
        with self.executor.errors():
            futures = [self._submit("map", on_pixels, func, f, *args, **where)
                       for f, where in zip(self._chunks, self._holders())]
            return self.client.gather(futures)

    def arrays(self, indices: Sequence[int]) -> np.ndarray:
        """The arrays of the images at ``indices`` (input order), gathered to this process."""
        wanted = self._by_chunk(indices)
        with self.executor.errors():
            futures = {c: self._submit("arrays", on_pixels, arrays_at, self._chunks[c], p)
                       for c, p in wanted.items()}
            parts = dict(zip(futures, self.client.gather(list(futures.values()))))
        found = {}
        for c, positions in wanted.items():
            for position, array in zip(positions, parts[c]):
                found[self._offsets[c] + position] = array
        return np.stack([found[i] for i in indices])

    def map(self, func: Callable[..., Any], *args: Any, sliced: Sequence[np.ndarray] = ()
            ) -> list[Any]:
        """The review's passes (see :class:`report.sources.ImageSource`), on the workers.

        Each chunk's task gets the rows of ``sliced`` that belong to its images.
        """
        ends = self._offsets[1:] + [len(self.names)]
        with self.executor.errors():
            futures = [self._submit("map", on_pixels, func, future,
                                    *(part[start:end] for part in sliced), *args, **where)
                       for future, start, end, where in zip(self._chunks, self._offsets, ends,
                                                            self._holders())]
            return self.client.gather(futures)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """The arrays at sorted ``indices``, brought to the client (see ``ImageSource``)."""
        if len(indices) == 0:
            return np.empty((0, *self.mean.shape), dtype=np.uint8)
        return self.arrays([int(i) for i in indices])

    def sample(self, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """At most ``limit`` arrays evenly spaced through the input order, and their indices,
        for fitting on this machine what the cluster then applies to every chunk."""
        count = len(self.names)
        indices = np.unique(np.linspace(0, count - 1, min(limit, count)).astype(np.int64))
        return self.arrays(indices.tolist()), indices

    def _by_chunk(self, indices: Iterable[int]) -> dict[int, list[int]]:
        """Image indices grouped by the chunk holding them, as positions within the chunk."""
        grouped: dict[int, list[int]] = {}
        for index in sorted(set(indices)):
            chunk = int(np.searchsorted(self._offsets, index, side="right")) - 1
            grouped.setdefault(chunk, []).append(index - self._offsets[chunk])
        return grouped

    def analyse(self, count: int) -> Analysis:
        """The method's passes on the workers; then the thumbnails the page shows come here."""
        with self.executor.errors():
            measures = join_measures(self.map_chunks(measure_chunk, self._mean),
                                     int(self.mean.size))

            def means_of(clusters: np.ndarray) -> list[np.ndarray | None]:
                ends = self._offsets[1:] + [len(clusters)]
                parts = [self._submit("clusters", on_pixels, cluster_totals_of, future,
                                      clusters[start:end], count)
                         for future, start, end in zip(self._chunks, self._offsets, ends)]
                totals = self._reduce("clusters", add_totals, parts).result()
                return means_from_totals(totals, clusters, count)

            analysis = finish_analysis(self.mean, measures, self.keys, count, means_of)
            self._fetch_thumbnails(analysis)
        return analysis

    def _fetch_thumbnails(self, analysis: Analysis) -> None:
        output = self.config.output
        # A site always writes every thumbnail as a file.
        mode = "files" if output.site is not None else output.thumbnails
        shown = shown_thumbnails(analysis, output.layout, mode)
        if shown is None:
            self.thumbnails = self._all_thumbnails()
        else:
            self.thumbnails = SampledThumbnails(self._sizes, self._thumbnails_at)
            self.thumbnails.fetch(shown)

    def _all_thumbnails(self) -> ThumbnailStore:
        """Every thumbnail, in order, streamed to a file a batch of chunks at a time."""
        store = ThumbnailStore()
        for start in range(0, len(self._chunks), FETCH_BATCH):
            batch = [self._submit("thumbs", pick_thumbnails, f, None)
                     for f in self._chunks[start : start + FETCH_BATCH]]
            for thumbnails in self.client.gather(batch):
                for thumbnail in thumbnails:
                    store.append(thumbnail)
        return store

    def _thumbnails_at(self, indices: Iterable[int]) -> dict[int, Thumbnail]:
        wanted = self._by_chunk(indices)
        with self.executor.errors():
            futures = [self._submit("thumbs", pick_thumbnails, self._chunks[c], p)
                       for c, p in wanted.items()]
            results = self.client.gather(futures)
        return {self._offsets[c] + p: t for (c, positions), thumbnails
                in zip(wanted.items(), results) for p, t in zip(positions, thumbnails)}

    def close(self) -> None:
        """Let the workers drop this run's arrays and thumbnails."""
        if self.thumbnails is not None:
            self.thumbnails.close()
        # Futures no longer referenced are released: the scheduler then frees their data.
        self._chunks = []
        self._mean = None


class SampledThumbnails:
    """Every image's thumbnail size, and the pictures of those the page shows.

    A picture asked for that was not fetched ahead is fetched on its own, so the page is right
    even if it comes to show more than was foreseen.
    """

    def __init__(self, sizes: np.ndarray, fetch: Callable[[Iterable[int]], dict[int, Thumbnail]]):
        self._sizes = sizes
        self._fetch = fetch
        self._pictures: dict[int, Thumbnail] = {}

    def __len__(self) -> int:
        return len(self._sizes)

    def fetch(self, indices: Iterable[int]) -> None:
        missing = [i for i in indices if i not in self._pictures]
        if missing:
            self._pictures.update(self._fetch(missing))

    def __getitem__(self, index: int) -> Thumbnail:
        self.fetch([index])
        return self._pictures[index]

    def read_many(self, indices: Iterable[int]) -> Iterator[Thumbnail]:
        """The thumbnails at ``indices``, those not here yet fetched together first."""
        indices = list(indices)
        self.fetch(indices)
        return (self._pictures[i] for i in indices)

    def size(self, index: int) -> tuple[int, int]:
        width, height = self._sizes[index]
        return int(width), int(height)

    def close(self) -> None:
        self._pictures.clear()


def shown_thumbnails(analysis: Analysis, layout: str, mode: str) -> list[int] | None:
    """The images whose thumbnails the page holds: None for all of them, else the sample
    that the large layout's cluster grids show."""
    # The page's module, imported here: the workers that import this one never need it.
    from .render import GRID_SAMPLE, grid_sample, uses_large_layout

    if mode == "files" or not uses_large_layout(len(analysis.distances), layout):
        return None
    ranked = analysis.clusters[analysis.order]
    shown: set[int] = set()
    for summary in analysis.summaries:
        positions = np.flatnonzero(ranked == summary.number).tolist()
        shown.update(int(analysis.order[p]) for p in grid_sample(positions, GRID_SAMPLE))
    return sorted(shown)

