"""Runs on Dask: a real scheduler and workers on loopback give the local executor's outputs,
byte for byte, even when a worker is killed mid-run."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import POKEMON, ROOT, needs_pokemon, outputs
from report import distributed as cluster
from report.analysis import analyse_chunks, squared_distances
from report.cli import main
from report.config import ConfigError, ReviewSettings, load_config
from report.discovery import discover
from report.loading import load_images
from report.pipeline import run
from report.quality import review
from report.sources import LocalImages


def start_cluster(folder, workers=2):
    """A scheduler and ``workers`` single-threaded workers as processes on 127.0.0.1.

    Workers run without a nanny, so a worker killed stays dead. Returns the scheduler's
    address and the processes, scheduler first.
    """
    distributed = pytest.importorskip("distributed")
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    common = ["--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", str(scheduler_file)]
    log = open(folder / "cluster.log", "ab")
    processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--port", "0",
                                   *common], stdout=log, stderr=log)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(workers):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--nthreads", "1", "--no-nanny",
                 *common], stdout=log, stderr=log, cwd=folder))
        with distributed.Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(workers, timeout=60)
        address = json.loads(scheduler_file.read_text())["address"]
    except BaseException:
        stop_cluster(processes)
        raise
    return address, processes


def stop_cluster(processes):
    """Stop the workers, then the scheduler, so no worker waits on a scheduler gone."""
    workers, scheduler = processes[1:], processes[:1]
    for group in (workers, scheduler):
        for process in group:
            if process.poll() is None:
                process.terminate()
        for process in group:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    address, processes = start_cluster(tmp_path_factory.mktemp("dask"))
    yield address
    stop_cluster(processes)


def run_both(write_config, tmp_path, input_path, address=None, **sections):
    """The same config run locally and on Dask; the outputs of each, page, CSV and JSON."""
    dask_run = {"executor": "dask", **({"scheduler": address} if address else {"workers": 2})}
    results = []
    for name, run_section in (("local", {"workers": 2}), ("dask", dask_run)):
        config = write_config(f"{name}.toml", input={"path": str(input_path)},
                              output={"path": f"{name}/report.html",
                                      **sections.get("output", {})},
                              run=run_section)
        assert main([str(config), "-q"]) == 0
        results.append(outputs(tmp_path / name / "report.html"))
    return results


@needs_pokemon
def test_cluster_run_gives_the_local_outputs_byte_for_byte(scheduler, write_config, tmp_path):
    local, dask = run_both(write_config, tmp_path, POKEMON, scheduler)
    assert dask[1] == local[1]  # the CSV
    assert dask[2] == local[2]  # the JSON
    assert dask[0] == local[0]  # the page, thumbnails and mean images included


def make_images(folder, count, seed=0):
    """Small random pictures of different sizes, so the preprocessing has work to do."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        size = tuple(int(x) for x in rng.integers(8, 40, 2))
        pixels = rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")
    return folder


def test_files_that_fail_on_a_worker_are_skipped_and_listed(scheduler, write_config, tmp_path):
    folder = make_images(tmp_path / "images", 25)
    (folder / "broken.png").write_bytes(b"not a picture")
    (folder / "truncated.png").write_bytes((folder / "img000.png").read_bytes()[:60])
    local, dask = run_both(write_config, tmp_path, folder, scheduler)
    assert dask == local
    skipped = json.loads(dask[2])["skipped"]
    assert [entry["path"] for entry in skipped] == ["broken.png", "truncated.png"]


@pytest.mark.parametrize("thumbnails", ["inline", "files"])
def test_large_layout_fetches_what_the_page_shows(scheduler, write_config, tmp_path,
                                                  thumbnails):
    folder = make_images(tmp_path / "images", 120, seed=1)
    local, dask = run_both(write_config, tmp_path, folder, scheduler,
                           output={"layout": "large", "thumbnails": thumbnails})
    assert dask == local
    if thumbnails == "files":
        local_thumbs = sorted((tmp_path / "local" / "report-thumbs").iterdir())
        dask_thumbs = sorted((tmp_path / "dask" / "report-thumbs").iterdir())
        assert [p.name for p in dask_thumbs] == [p.name for p in local_thumbs]
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(local_thumbs, dask_thumbs))


class KillOnMessage(logging.Handler):
    """Kills a process the first time a log message starts with ``prefix``."""

    def __init__(self, prefix, process):
        super().__init__(logging.DEBUG)
        self.prefix = prefix
        self.process = process
        self.killed = False

    def emit(self, record):
        if not self.killed and record.getMessage().startswith(self.prefix):
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.killed = True


@needs_pokemon
@pytest.mark.parametrize("moment", ["decoded chunk 1 of", "the mean of"])
def test_a_worker_killed_mid_run_changes_nothing(write_config, tmp_path, caplog, moment):
    """Killed while chunks are decoding, or once every chunk is held for the distance pass:
    Dask runs the lost tasks on the other worker and the outputs are the local ones."""
    address, processes = start_cluster(tmp_path / "cluster")
    try:
        local = write_config("local.toml", input={"path": str(POKEMON)},
                             output={"path": "local/report.html"})
        assert main([str(local), "-q"]) == 0
        config = load_config(write_config(
            "dask.toml", input={"path": str(POKEMON)}, output={"path": "dask/report.html"},
            run={"executor": "dask", "scheduler": address}))
        killer = KillOnMessage(moment, processes[1])
        logger = logging.getLogger("report.distributed")
        caplog.set_level(logging.DEBUG, logger="report")
        logger.addHandler(killer)
        try:
            run(config, use_cache=False)
        finally:
            logger.removeHandler(killer)
        assert killer.killed
        assert outputs(tmp_path / "dask" / "report.html") == outputs(
            tmp_path / "local" / "report.html")
    finally:
        stop_cluster(processes)


def test_the_analysis_can_gather_a_sample_and_map_chunks(scheduler, write_config, tmp_path):
    """What an analysis on a cluster builds on: a bounded sample of arrays brought to the
    client, and a function run on every chunk where it is held."""
    folder = make_images(tmp_path / "images", 40, seed=2)
    config = load_config(write_config(input={"path": str(folder)},
                                      run={"executor": "dask", "scheduler": scheduler}))
    candidates = discover(folder).candidates
    local = load_images(candidates, config.preprocess, config.output.thumbnail_size)
    with cluster.DaskExecutor(config) as executor:
        images = executor.load(candidates)
        try:
            arrays, indices = images.sample(7)
            assert len(indices) == 7 and indices[0] == 0 and indices[-1] == 39
            assert np.array_equal(arrays, local.pixels[indices])
            sums = images.map_chunks(np.sum)
            assert sum(int(s) for s in sums) == int(local.pixels.sum(dtype=np.int64))
            assert np.array_equal(images.mean, local.mean)
            assert len(sums) > 1  # the review below runs over several chunks

            # The review's passes on the workers give what they give locally.
            analysis = analyse_chunks(local.arrays.chunks, local.keys, 3, mean=local.mean)
            here = review(LocalImages(local.arrays.chunks), analysis, ReviewSettings())
            there = review(images, analysis, ReviewSettings())
            # Products on other processes may differ in the last bits, which the outputs round.
            for a, b in zip(here.groupings, there.groupings):
                assert np.array_equal(a.labels, b.labels)
                assert a.silhouette == pytest.approx(b.silhouette, abs=1e-12)
            assert np.allclose(here.components.coordinates, there.components.coordinates,
                               rtol=0, atol=1e-8)
            assert here.duplicates == there.duplicates
        finally:
            images.close()
            local.close()


@pytest.mark.parametrize("rows", [1, 2, 3, 255, 256, 257])
def test_a_distance_does_not_depend_on_its_chunk(rows):
    """Each image's distance is the same to the last bit alone, in a pair or in a block, so
    Dask's chunks and the local store's give the same distances."""
    rng = np.random.default_rng(rows)
    images = rng.integers(0, 256, (300, 99, 99), dtype=np.uint8)
    mean = images.sum(axis=0, dtype=np.int64) / len(images)
    whole = squared_distances([images], mean)
    chunked = squared_distances((images[i : i + rows] for i in range(0, 300, rows)), mean)
    assert np.array_equal(whole, chunked)


def test_without_dask_installed_the_error_names_the_extra(write_config, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    config = write_config(input={"path": str(ROOT / "sample" / "noto-emoji")},
                          run={"executor": "dask"})
    assert main([str(config)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "pip install '.[dask]' in the mean-image-report checkout" in error
    assert '[run] executor = "dask"' in error


def test_an_unreachable_scheduler_is_a_one_line_error(write_config, monkeypatch, capsys,
                                                      tmp_path):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    config = write_config(input={"path": str(ROOT / "sample" / "noto-emoji")},
                          output={"path": "out/report.html"},
                          run={"executor": "dask", "scheduler": "tcp://127.0.0.1:9"})
    assert main([str(config)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "[run] scheduler tcp://127.0.0.1:9" in error
    assert not (tmp_path / "out").exists()


def test_run_keys_are_checked(write_config):
    with pytest.raises(ConfigError, match=r"\[run\] executor must be"):
        load_config(write_config(input={"path": "x"}, run={"executor": "spark"}))
    with pytest.raises(ConfigError, match=r'\[run\] scheduler is used only with executor'):
        load_config(write_config(input={"path": "x"}, run={"scheduler": "tcp://h:8786"}))
    config = load_config(write_config(input={"path": "x"}))
    assert (config.executor, config.scheduler) == ("local", None)
    assert replace(config, executor="dask").settings() == config.settings()


def test_a_local_run_imports_neither_dask_nor_fsspec(tmp_path):
    script = ("import sys; from report.cli import main; "
              f"code = main([{str(ROOT / 'sample_config.toml')!r}, '--output', "
              f"{str(tmp_path / 'r.html')!r}, '-q', '--no-cache']); "
              "print(code, sorted(m for m in ('dask', 'distributed', 'fsspec', 's3fs') "
              "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "0 []"
