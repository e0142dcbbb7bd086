"""Hostile inputs beyond the shared cases: odd files, odd names, failed and concurrent writes."""

import csv
import json
import os
import struct
import threading
import time
from pathlib import Path

import jinja2
import numpy as np
import pytest
from PIL import Image

from report.atomic import write_atomically
from report.cli import main
from report.config import PreprocessSettings, load_config
from report.decoding import decode


def pictures(folder, count=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("L", (10, 10), 40 * i).save(folder / f"p{i}.png")
    return folder


def config_for(tmp_path, text='[input]\npath = "pics"\n[output]\npath = "out/r.html"\n'):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_failed_write_leaves_every_previous_output(tmp_path, capsys):
    pictures(tmp_path / "pics")
    config = config_for(tmp_path)
    assert main([str(config), "-q"]) == 0
    out = tmp_path / "out"
    before = {name: (out / name).read_bytes() for name in ("r.html", "r.json")}
    (out / "r.csv").unlink()
    (out / "r.csv").mkdir()
    Image.new("L", (10, 10), 250).save(tmp_path / "pics" / "new.png")

    assert main([str(config), "-q"]) == 1

    assert "r.csv" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["r.csv", "r.html", "r.json"]


def test_a_rename_that_fails_midway_is_rolled_back(tmp_path, monkeypatch):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    write_atomically({first: b"old a", second: b"old b"})
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target) == str(second):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError) as caught:
        write_atomically({first: b"new a", second: b"new b"})
    monkeypatch.undo()

    assert caught.value.filename == str(second)
    assert (first.read_bytes(), second.read_bytes()) == (b"old a", b"old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_an_interrupt_in_the_swap_lands_after_it_whichever_thread_takes_it(tmp_path,
                                                                            monkeypatch):
    # The system may hand a signal to any thread not blocking it, such as one a process pool
    # started earlier; the swap must still finish before the interrupt is raised.
    import signal

    from report import atomic

    targets = [tmp_path / f"{name}.txt" for name in "abc"]
    write_atomically({target: b"old" for target in targets})
    swapping = threading.Event()
    sender = threading.Thread(target=lambda: swapping.wait() and os.kill(os.getpid(),
                                                                        signal.SIGINT))
    sender.start()
    real_keep = atomic._keep_previous

    def keep_and_interrupt(target):
        if not swapping.is_set():
            swapping.set()
            sender.join()
        return real_keep(target)

    monkeypatch.setattr(atomic, "_keep_previous", keep_and_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomically({target: b"new" for target in targets})

    assert [target.read_bytes() for target in targets] == [b"new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


def test_concurrent_writers_never_mix_their_files(tmp_path):
    targets = [tmp_path / name for name in ("r.html", "r.csv", "r.json")]

    def writer(tag, round_number):
        stamp = f"{tag}{round_number}".encode()
        write_atomically({target: stamp for target in targets})

    for round_number in range(30):
        threads = [threading.Thread(target=writer, args=(tag, round_number)) for tag in "AB"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({target.read_bytes() for target in targets}) == 1


def test_csv_round_trips_carriage_returns_and_apostrophes(tmp_path):
    names = ["a\rb.png", "\rstart.png", "'quoted.png", "''double.png", "=sum.png"]
    folder = tmp_path / "pics"
    folder.mkdir()
    for value, name in enumerate(names):
        Image.new("L", (8, 8), value * 40).save(folder / name, format="PNG")
    assert main([str(config_for(tmp_path)), "-q"]) == 0

    with open(tmp_path / "out" / "r.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    unguarded = [r["path"][1:] if r["path"][:1] == "'" else r["path"] for r in rows]

    assert len(rows) == len(names)
    assert sorted(unguarded) == sorted(names)


def test_config_with_byte_order_mark_and_bad_paths(tmp_path):
    pictures(tmp_path / "pics")
    config = tmp_path / "bom.toml"
    config.write_bytes(b'\xef\xbb\xbf[input]\npath = "pics"\n')
    assert load_config(config).input.path == "pics"

    config.write_text('[input]\npath = "pi\\u0000cs"\n', encoding="utf-8")
    assert main([str(config), "-q"]) == 2
    assert main([str(config_for(tmp_path)), "--output", str(tmp_path / "o\0.html")]) == 1


def test_deeply_nested_folders(tmp_path):
    folder = tmp_path / "pics"
    deep = folder
    for _ in range(300):
        deep = deep / "d"
    pictures(deep, 2)
    pictures(folder, 1)
    config = config_for(tmp_path, '[input]\npath = "pics"\nrecursive = true\n'
                                  '[output]\npath = "out/r.html"\n')
    assert main([str(config), "-q"]) == 0
    with open(tmp_path / "out" / "r.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_any_decoder_failure_skips_the_file(tmp_path):
    header = bytearray(124)
    struct.pack_into("<IIIII", header, 0, 124, 0x1007, 4, 4, 0)
    struct.pack_into("<II", header, 72, 32, 0)
    pictures(tmp_path / "pics")
    (tmp_path / "pics" / "odd.dds").write_bytes(b"DDS " + header + b"\0" * 64)

    assert main([str(config_for(tmp_path)), "-q"]) == 0
    text = (tmp_path / "out" / "r.json").read_text(encoding="utf-8")
    assert '"path": "odd.dds"' in text


def test_sixteen_bit_transparency_and_float_ranges(tmp_path):
    clear = tmp_path / "clear16.png"
    Image.fromarray(np.full((6, 6), 1000, np.uint16)).save(clear, transparency=1000)
    assert decode(clear, PreprocessSettings(size=(6, 6)), 32).pixels.min() == 255

    unit = np.linspace(0, 1, 36, dtype=np.float32).reshape(6, 6)
    unit[0, 0] = np.inf
    path = tmp_path / "unit.tif"
    Image.fromarray(unit, "F").save(path)
    pixels = decode(path, PreprocessSettings(size=(6, 6)), 32).pixels
    assert pixels[0, 1] == round(255 / 35) and pixels[5, 5] == 255 and pixels[0, 0] == 255


def test_control_characters_in_names_reach_the_terminal_escaped(tmp_path, capsys):
    pictures(tmp_path / "pics")
    (tmp_path / "pics" / "evil\x1b[2J\nFAKE.png").write_bytes(b"not an image")

    assert main([str(config_for(tmp_path))]) == 0

    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert len(err.strip().splitlines()) == 1
    assert "evil\\x1b[2J\\nFAKE.png" in err


def test_names_that_differ_only_in_undecodable_bytes_stay_apart(tmp_path):
    folder = pictures(tmp_path / "pics", 0)
    for value, raw in enumerate((b"bad\xff.png", b"bad\xfe.png")):
        with open(os.fsencode(str(folder)) + b"/" + raw, "wb") as handle:
            Image.new("L", (8, 8), 60 * value).save(handle, format="PNG")

    assert main([str(config_for(tmp_path)), "-q"]) == 0
    text = (tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    anchors = [part.split('"')[0] for part in text.split('<tr id="')[1:]]
    assert len(anchors) == 2 and len(set(anchors)) == 2


def test_cache_decodes_only_what_changed(tmp_path, monkeypatch):
    from report import decoding

    folder = pictures(tmp_path / "pics", 4)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[output]\npath = "out/r.html"\n'
                                  '[run]\nworkers = 1\n[cache]\npath = "cache"\n')
    decoded = []
    real = decoding.decode_result
    monkeypatch.setattr(decoding, "_decode_for_pool",
                        lambda path: decoded.append(os.path.basename(path)) or real(
                            path, *decoding._worker_settings))

    assert main([str(config), "-q"]) == 0
    assert sorted(decoded) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    first = (tmp_path / "out" / "r.html").read_bytes()

    decoded.clear()
    assert main([str(config), "-q"]) == 0
    assert decoded == []

    Image.new("L", (10, 10), 222).save(folder / "p2.png")
    os.utime(folder / "p2.png", ns=(1, 1))
    assert main([str(config), "-q"]) == 0
    assert decoded == ["p2.png"]
    assert (tmp_path / "out" / "r.html").read_bytes() != first

    decoded.clear()
    assert main([str(config), "-q", "--no-cache"]) == 0
    assert len(decoded) == 4
    assert (tmp_path / "cache").is_dir() and not (folder / "cache").exists()


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)).save(
            folder / f"r{i:02d}.png")
    outputs = []
    for workers in (1, 2, 3):
        out = tmp_path / f"w{workers}"
        config = config_for(tmp_path, f'[input]\npath = "pics"\n[run]\nworkers = {workers}\n'
                                      f'[output]\npath = "{out.name}/r.html"\n')
        assert main([str(config), "-q", "--no-cache"]) == 0
        outputs.append([(out / name).read_bytes() for name in ("r.html", "r.csv", "r.json")])
    assert outputs[0] == outputs[1] == outputs[2]


def _dies_on_marked_files(path):
    """Stands in for the worker's decode: the process vanishes on a file named 'die'."""
    from report import decoding

    if "die" in os.path.basename(path):
        os._exit(9)
    return decoding.decode_result(path, *decoding._worker_settings)


def test_a_worker_that_dies_stops_the_run_with_one_line(tmp_path, monkeypatch, capsys):
    from report import decoding

    folder = pictures(tmp_path / "pics", 30)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[run]\nworkers = 2\n'
                                  '[output]\npath = "out/r.html"\n')
    assert main([str(config), "-q", "--no-cache"]) == 0
    before = (tmp_path / "out" / "r.html").read_bytes()
    Image.new("L", (10, 10), 77).save(folder / "die.png")
    monkeypatch.setattr(decoding, "_decode_for_pool", _dies_on_marked_files)

    assert main([str(config), "-q", "--no-cache"]) == 1

    error = capsys.readouterr().err
    assert "decoding worker process stopped unexpectedly" in error
    assert len(error.strip().splitlines()) == 1
    assert (tmp_path / "out" / "r.html").read_bytes() == before


def test_a_report_is_rebuilt_when_any_of_its_files_changed(tmp_path, capsys):
    pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[cache]\npath = "cache"\n'
                                  '[output]\npath = "out/r.html"\nthumbnails = "files"\n')
    out = tmp_path / "out"
    assert main([str(config), "-q"]) == 0
    thumbs = sorted((out / "r-thumbs").iterdir())
    assert len(thumbs) == 3

    assert main([str(config)]) == 0
    assert "Report up to date:" in capsys.readouterr().out

    thumbs[0].unlink()
    (out / "r.csv").write_text("edited by hand\n")
    assert main([str(config), "-q"]) == 0
    assert thumbs[0].exists()
    assert (out / "r.csv").read_text().startswith("rank,path,distance,cluster")


def test_unreadable_files_are_not_remembered_as_broken(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("permissions do not stop root from reading a file")
    folder = pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[cache]\npath = "cache"\n'
                                  '[run]\nworkers = 1\n[output]\npath = "out/r.html"\n')
    os.chmod(folder / "p1.png", 0)
    assert main([str(config), "-q"]) == 0
    os.chmod(folder / "p1.png", 0o644)
    assert main([str(config), "-q"]) == 0
    assert '"p1.png"' in (tmp_path / "out" / "r.json").read_text().split('"records"')[1]


def test_failures_that_may_pass_are_marked_so(tmp_path):
    from report.config import PreprocessSettings
    from report.decoding import PassingFailure, decode_result

    missing = decode_result(tmp_path / "gone.png", PreprocessSettings(), 32)
    assert isinstance(missing, PassingFailure)
    (tmp_path / "junk.png").write_bytes(b"junk")
    corrupt = decode_result(tmp_path / "junk.png", PreprocessSettings(), 32)
    assert corrupt == "not a recognised image format"
    assert not isinstance(corrupt, PassingFailure)


def test_content_changed_behind_an_unchanged_mtime_is_seen(tmp_path):
    folder = pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[cache]\npath = "cache"\n'
                                  '[output]\npath = "out/r.html"\n')
    assert main([str(config), "-q"]) == 0
    before = (tmp_path / "out" / "r.csv").read_bytes()
    stat = os.stat(folder / "p1.png")
    Image.new("L", (10, 10), 200).save(folder / "p1.png")
    os.utime(folder / "p1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as touch -r does

    assert main([str(config), "-q"]) == 0
    assert (tmp_path / "out" / "r.csv").read_bytes() != before


def test_outputs_inside_the_input_folder_are_not_read_back(tmp_path):
    pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\nrecursive = true\n'
                                  '[output]\npath = "pics/r.html"\nthumbnails = "files"\n')
    for _ in range(3):
        assert main([str(config), "-q", "--no-cache"]) == 0
        with open(tmp_path / "pics" / "r.csv", newline="", encoding="utf-8") as handle:
            assert len(list(csv.DictReader(handle))) == 3


def test_a_cache_folder_inside_the_input_folder_is_not_read_as_input(tmp_path):
    pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\nrecursive = true\n'
                                  '[output]\npath = "out/r.html"\n[cache]\npath = "pics/cache"\n')
    assert main([str(config), "-q"]) == 0
    assert any((tmp_path / "pics" / "cache" / "templates").iterdir())
    assert main([str(config), "-q", "--no-cache"]) == 0
    document = json.loads((tmp_path / "out" / "r.json").read_text(encoding="utf-8"))
    assert document["images_used"] == 3 and document["skipped"] == []


def test_no_text_from_the_input_can_hold_a_placeholder_of_the_page():
    import markupsafe

    from report.render import PLOTLY_PLACEHOLDER, THUMBNAILS_PLACEHOLDER, script_json

    for placeholder in (PLOTLY_PLACEHOLDER, THUMBNAILS_PLACEHOLDER):
        name = f"a{placeholder}b.png"
        assert placeholder not in markupsafe.escape(name)
        assert placeholder not in script_json({"paths": [name]})


def test_a_damaged_compiled_template_is_compiled_again(tmp_path):
    from jinja2.bccache import bc_magic

    from report.render import _CompiledTemplates

    env = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}))
    env.bytecode_cache = _CompiledTemplates(str(tmp_path))
    assert env.get_template("t").render() == "2"
    (kept,) = tmp_path.iterdir()
    os.mkfifo(tmp_path / "fifo")
    for damage in (bc_magic, bc_magic + b"\x00garbage", b""):
        kept.write_bytes(damage)
        env.cache.clear()
        assert env.get_template("t").render() == "2"
    kept.unlink()
    (tmp_path / "fifo").rename(kept)  # a pipe in its place must not make the run wait
    env.cache.clear()
    assert env.get_template("t").render() == "2"


def test_a_damaged_cache_entry_is_decoded_again(tmp_path, capsys):
    import sqlite3

    pictures(tmp_path / "pics", 3)
    config = config_for(tmp_path, '[input]\npath = "pics"\n[cache]\npath = "cache"\n'
                                  '[run]\nworkers = 1\n[output]\npath = "out/r.html"\n')
    assert main([str(config), "-q"]) == 0
    before = (tmp_path / "out" / "r.csv").read_bytes()
    database = next((tmp_path / "cache").glob("*.sqlite"))
    with sqlite3.connect(database) as db:
        db.execute("UPDATE images SET pixels = x'00'")
        db.execute("UPDATE reports SET digests = '[]'")

    assert main([str(config), "-q"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "out" / "r.csv").read_bytes() == before


@pytest.mark.parametrize("delay", [0.6, 1.2])
def test_ctrl_c_to_the_whole_command_stops_it_cleanly(tmp_path, delay):
    # A terminal's Ctrl-C reaches the main process and every worker at once.
    import signal
    import subprocess
    import sys

    import report

    rng = np.random.default_rng(7)
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(600):
        Image.fromarray(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(
            folder / f"p{i:03d}.png", compress_level=1)
    config = config_for(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])}
    command = subprocess.Popen([sys.executable, "-m", "report", str(config), "--no-cache"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               start_new_session=True)
    time.sleep(delay)
    os.killpg(command.pid, signal.SIGINT)
    try:
        _, err = command.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(command.pid, signal.SIGKILL)
        raise AssertionError("the command did not stop after Ctrl-C")
    assert command.returncode == 130, err
    with pytest.raises(ProcessLookupError):
        os.killpg(command.pid, 0)  # no worker left behind
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob(".*"))


def test_an_interrupt_that_a_library_turned_into_another_error_reads_as_one(monkeypatch,
                                                                             capsys):
    # Ctrl-C while a class is being created during an import surfaces as a RuntimeError.
    from report import cli

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Error calling __set_name__") from interrupt

    monkeypatch.setattr(cli, "execute", interrupted_import)
    assert main(["any.toml"]) == 130
    assert "interrupted" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise RuntimeError("a real failure")

    monkeypatch.setattr(cli, "execute", broken)
    with pytest.raises(RuntimeError, match="a real failure"):
        main(["any.toml"])


@pytest.mark.parametrize("closed", [1, 2])
def test_a_command_started_without_stdout_or_stderr_still_runs(tmp_path, closed):
    import subprocess
    import sys

    import report

    pictures(tmp_path / "pics")
    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "report", str(config_for(tmp_path))],
                          env=env, preexec_fn=lambda: os.close(closed))
    assert done.returncode == 0
    assert (tmp_path / "out" / "r.html").exists()
