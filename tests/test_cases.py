"""Tests built from the hostile-input cases in ``/work/shared/cases``.

Each case folder holds one or more input folders and an ``expected.json`` that says, in exact
values, what a user must get: which files load, which are skipped by name, pixel values after
compositing, reference distances, and what the report, CSV and JSON must (not) contain. The
cases folder is read-only, so every run works on a copy of its input inside ``tmp_path``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import tomllib
import warnings
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

import report.decoding
from report.cli import main
from report.config import PreprocessSettings, load_config
from report.assembly import compute
from report.decoding import DecodeError, decode

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"

if not CASES.is_dir():
    pytest.skip(f"hostile-input cases folder not found: {CASES}", allow_module_level=True)

THUMBNAIL_SIZE = 96
COORDINATE_KEY = re.compile(r"_at_\((\d+),(\d+)\)$")


# ---------------------------------------------------------------------------------------------
# Reading the cases


def case_dir(case_id: str) -> Path:
    """The folder of the case whose name starts with ``case_id`` (e.g. "BH-01")."""
    matches = sorted(CASES.glob(f"{case_id}_*"))
    assert len(matches) == 1, f"expected one folder for {case_id}, found {matches}"
    return matches[0]


def expected(case_id: str) -> dict:
    return json.loads((case_dir(case_id) / "expected.json").read_text(encoding="utf-8"))


def case_inputs(data: dict) -> list[tuple[str, dict]]:
    """(input folder name, the expectations for it) for every input a case lists."""
    inputs = data["input"]
    if isinstance(inputs, str):
        return [(inputs, data["expected"])]
    return [(name, data["expected"][name]) for name in inputs]


def all_inputs() -> list[tuple[str, str, dict]]:
    """(case id, input folder name, expectations) for every input of every case."""
    found = []
    for folder in sorted(p for p in CASES.iterdir() if (p / "expected.json").is_file()):
        data = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        found += [(data["id"], name, exp) for name, exp in case_inputs(data)]
    return found


def inputs_with_images() -> list:
    return [pytest.param(c, n, e, id=f"{c}/{n}") for c, n, e in all_inputs() if "loaded" in e]


def inputs_without_images() -> list:
    return [pytest.param(c, n, e, id=f"{c}/{n}") for c, n, e in all_inputs()
            if e.get("images_loaded") == 0]


def value_params(case_id: str) -> list:
    """(file name, values) for every file a case gives values for."""
    values = expected(case_id)["expected"].get("values", {})
    return [pytest.param(name, v, id=name) for name, v in values.items()]


def pixel_params(case_id: str) -> list:
    """(file name, x, y, point) for every ``..._at_(x,y)`` entry of a case's values."""
    params = []
    for name, values in expected(case_id)["expected"]["values"].items():
        for key, point in values.items():
            match = COORDINATE_KEY.search(key)
            if match:
                x, y = int(match[1]), int(match[2])
                params.append(pytest.param(name, x, y, point, id=f"{name}-{key}"))
    return params


# ---------------------------------------------------------------------------------------------
# Running the tool on a copy of an input


def copy_input(source: Path, target: Path) -> Path:
    """Copy an input folder (or create it empty if absent) into ``target``, writable."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=shutil.copyfile)
        for folder, _, _ in os.walk(target):
            os.chmod(folder, os.stat(folder).st_mode | stat.S_IWUSR)
    else:
        target.mkdir(parents=True)
    return target


def toml_string(text: str) -> str:
    """A TOML basic string; JSON's escapes (ASCII only) are valid TOML escapes."""
    return json.dumps(text, ensure_ascii=True)


def write_config(folder: Path, input_name: str, title: str | None = None,
                 input_keys: dict | None = None, mode: str = "L",
                 background: str | None = None) -> Path:
    """A config in ``folder`` reading ``folder/input_name`` and writing ``folder/out``."""
    lines = [f"title = {toml_string(title)}"] if title is not None else []
    lines += ["[input]", f"path = {toml_string(input_name)}"]
    for key, value in (input_keys or {}).items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["[preprocess]", f'mode = "{mode}"']
    if background is not None:
        lines.append(f'background = "{background}"')
    lines += ["[output]", 'path = "out/report.html"']
    config = folder / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def prepare(tmp_path: Path, case_id: str, input_name: str, **config_keys) -> Path:
    """Copy one input of a case into ``tmp_path`` and write a config for it."""
    copy_input(case_dir(case_id) / input_name, tmp_path / input_name)
    return write_config(tmp_path, input_name, **config_keys)


def outputs(config: Path) -> tuple[str, str, dict]:
    """The report's HTML, the CSV text and the parsed JSON a run wrote."""
    out = config.parent / "out"
    html_text = (out / "report.html").read_text(encoding="utf-8")
    with open(out / "report.csv", encoding="utf-8", newline="") as handle:
        csv_text = handle.read()
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return html_text, csv_text, document


def run_ok(config: Path, quiet: bool = True) -> tuple[str, str, dict]:
    """Run the CLI on ``config``, require success, and return what it wrote."""
    code = main([str(config)] + (["-q"] if quiet else []))
    assert code == 0, f"run on {config} exited with {code}"
    return outputs(config)


def compute_case(tmp_path: Path, case_id: str, input_name: str, mode: str = "L"):
    config = prepare(tmp_path, case_id, input_name, mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division or NaN warning may escape
        return compute(load_config(config))


def decode_case_file(case_id: str, name: str, input_name: str = "images",
                     **settings) -> report.decoding.DecodedImage:
    """Decode one case file with default settings (or the ones given)."""
    path = case_dir(case_id) / input_name / name
    return decode(path, PreprocessSettings(**settings), THUMBNAIL_SIZE)


def csv_rows(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text, newline="")))


def unguard(cell: str, prefixes: tuple[str, ...]) -> str:
    """Remove the apostrophe a tool may put before a cell that starts like a formula."""
    if cell.startswith("'") and cell[1:].startswith(prefixes):
        return cell[1:]
    return cell


# ---------------------------------------------------------------------------------------------
# Reading the report back


class ReportParser(HTMLParser):
    """Collects visible text, every start tag with its attributes, and the path cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.path_cells: list[str] = []
        self.scripts: dict[str, str] = {}
        self._raw: str | None = None
        self._cell: list[str] | None = None
        self._script_id: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("script", "style"):
            self._raw, self._script_id = tag, attributes.get("id")
        elif tag == "td" and "path" in (attributes.get("class") or "").split():
            self._cell = []

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None
        elif tag == "td" and self._cell is not None:
            self.path_cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._raw == "script" and self._script_id:
            self.scripts[self._script_id] = self.scripts.get(self._script_id, "") + data
        if self._raw:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_report(html_text: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html_text)
    parser.close()
    return parser


# ---------------------------------------------------------------------------------------------
# Every input: which files load and which are skipped


@pytest.mark.parametrize(("case_id", "input_name", "exp"), inputs_with_images())
def test_loaded_and_skipped_files(tmp_path, case_id, input_name, exp):
    """The run succeeds with exactly the expected images and skips exactly the bad files."""
    config = prepare(tmp_path, case_id, input_name)
    html_text, csv_text, document = run_ok(config)

    records = document["records"]
    assert document["images_used"] == exp["images_loaded"]
    assert sorted(r["path"] for r in records) == sorted(exp["loaded"])
    skipped = document["skipped"]
    assert sorted(s["path"] for s in skipped) == sorted(exp.get("skipped", []))
    assert all(s["reason"].strip() for s in skipped)
    assert len(csv_rows(csv_text)) == exp["images_loaded"]

    cells = parse_report(html_text).path_cells
    assert Counter(cells) == Counter(exp["loaded"] + exp.get("skipped", []))


@pytest.mark.parametrize(("case_id", "input_name", "exp"), inputs_without_images())
def test_no_usable_images_stops_cleanly(tmp_path, capsys, case_id, input_name, exp):
    """No image: a message naming the folder, exit 1, and an existing report left alone."""
    config = prepare(tmp_path, case_id, input_name)
    out = tmp_path / "out"
    out.mkdir()
    old_report = out / "report.html"
    old_report.write_text("previous report", encoding="utf-8")

    code = main([str(config), "-q"])
    error = capsys.readouterr().err

    assert exp["exit_status"] == "non-zero"
    assert code != 0
    assert code == 1  # the documented status for "no usable images"
    assert "images found in" in error and input_name in error
    assert "Traceback" not in error
    assert old_report.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]


# ---------------------------------------------------------------------------------------------
# BH-01 and BH-02: transparency composited on the background


def mean_params() -> list:
    """(case id, file name, expected L mean) for the compositing cases."""
    return [pytest.param(case_id, name, values["expected_L_mean"], id=f"{case_id}/{name}")
            for case_id in ("BH-01", "BH-02")
            for name, values in expected(case_id)["expected"]["values"].items()]


@pytest.mark.parametrize(("case_id", "name", "mean"), mean_params())
def test_grayscale_mean_after_compositing(case_id, name, mean):
    """Transparent pixels become the white background before the grayscale conversion."""
    pixels = decode_case_file(case_id, name).pixels
    assert pixels.shape == (100, 100)
    assert float(pixels.mean()) == pytest.approx(mean, abs=0.5)


@pytest.mark.parametrize(("name", "x", "y", "point"), pixel_params("BH-01"))
def test_palette_transparency_pixels(name, x, y, point):
    """Pixel (x, y) has the stated L and RGB values, never the hidden palette colour."""
    gray = decode_case_file("BH-01", name).pixels
    assert int(gray[y, x]) == pytest.approx(point["L"], abs=1)
    colour = decode_case_file("BH-01", name, mode="RGB").pixels
    assert colour[y, x].tolist() == pytest.approx(point["rgb"], abs=1)
    if "naive_rgb" in point:
        assert colour[y, x].tolist() != point["naive_rgb"]


@pytest.mark.parametrize(("name", "values"), value_params("BH-02"))
def test_alpha_hidden_colour_square(name, values):
    """Outside the 50x50 square is the white background, inside is black; nothing else."""
    pixels = decode_case_file("BH-02", name).pixels
    counts = Counter(pixels.ravel().tolist())
    assert counts == {
        values["expected_L_outside_square"]: 100 * 100 - 50 * 50,
        values["expected_L_inside_square"]: 50 * 50,
    }


@pytest.mark.parametrize(("case_id", "name", "x", "y"), [
    ("BH-01", "p_trns.png", 10, 50),
    ("BH-01", "gif_transparent_index.gif", 10, 50),
    ("BH-02", "rgba_hidden_red.png", 2, 2),
    ("BH-02", "la_hidden_gray.png", 2, 2),
])
def test_transparent_pixels_take_configured_background(case_id, name, x, y):
    """With another background configured, fully transparent pixels show that colour."""
    background = (0x33, 0x66, 0x99)
    pixels = decode_case_file(case_id, name, mode="RGB", background=background).pixels
    assert tuple(pixels[y, x].tolist()) == background


# ---------------------------------------------------------------------------------------------
# BH-04: truncated and corrupt files


@pytest.mark.parametrize("name", expected("BH-04")["expected"]["skipped"])
def test_corrupt_file_is_rejected(name):
    with pytest.raises(DecodeError) as caught:
        decode_case_file("BH-04", name)
    assert str(caught.value).strip()


def test_each_bad_file_reported_once(tmp_path, capsys):
    """Every bad file appears once on stderr and once in the report's skipped list."""
    exp = expected("BH-04")["expected"]
    config = prepare(tmp_path, "BH-04", "images")
    html_text, _, document = run_ok(config, quiet=False)
    error = capsys.readouterr().err

    assert "Traceback" not in error
    for name in exp["skipped"]:
        assert error.count(name) == 1, f"{name} reported {error.count(name)} times"
    assert Counter(s["path"] for s in document["skipped"]) == Counter(exp["skipped"])
    assert Counter(parse_report(html_text).path_cells) == Counter(exp["loaded"] + exp["skipped"])


# ---------------------------------------------------------------------------------------------
# BH-06: CMYK


@pytest.mark.parametrize(("name", "values"), value_params("BH-06"))
def test_cmyk_converted(name, values):
    """Left half cyan, right half magenta, in L and RGB, within the stated tolerance."""
    tolerance = values["tolerance"]
    decoded = decode_case_file("BH-06", name)
    gray = decoded.pixels.astype(int)
    assert np.abs(gray[:, :45] - values["left_L"]).max() <= tolerance
    assert np.abs(gray[:, 55:] - values["right_L"]).max() <= tolerance

    colour = decode_case_file("BH-06", name, mode="RGB").pixels.astype(int)
    assert colour.shape == (100, 100, 3)
    assert np.abs(colour[:, :45] - values["left_rgb"]).max() <= tolerance
    assert np.abs(colour[:, 55:] - values["right_rgb"]).max() <= tolerance

    with Image.open(io.BytesIO(decoded.thumbnail.data)) as thumbnail:
        assert thumbnail.mode in ("L", "RGB")
        assert len(thumbnail.getbands()) <= 3


# ---------------------------------------------------------------------------------------------
# BH-08: hidden files and OS junk


@pytest.mark.parametrize("recursive", [False, True], ids=["flat", "recursive"])
@pytest.mark.parametrize("hidden", [False, True], ids=["default", "hidden"])
def test_hidden_and_system_files(tmp_path, capsys, monkeypatch, hidden, recursive):
    """Junk never reaches the decoder; the dot-file image follows the ``hidden`` setting."""
    exp = expected("BH-08")["expected"]
    config = prepare(tmp_path, "BH-08", "images",
                     input_keys={"hidden": hidden, "recursive": recursive})
    (tmp_path / "images" / "empty_subfolder").mkdir(exist_ok=True)

    decoded = []
    real_decode = report.decoding.decode

    def recording_decode(path, *args, **kwargs):
        decoded.append(Path(path).relative_to(tmp_path / "images").as_posix())
        return real_decode(path, *args, **kwargs)

    monkeypatch.setattr(report.decoding, "decode", recording_decode)
    _, _, document = run_ok(config, quiet=False)
    error = capsys.readouterr().err

    wanted = exp["loaded"] + ([".hidden_real.png"] if hidden else [])
    count = exp["images_loaded_if_hidden_files_included"] if hidden else exp["images_loaded"]
    assert document["images_used"] == count
    assert sorted(r["path"] for r in document["records"]) == sorted(wanted)
    assert document["skipped"] == exp["skipped"]
    assert not [p for p in decoded if Path(p).name.startswith("._")]
    assert not set(decoded) & set(exp["ignored_quietly"])
    assert len(error.splitlines()) <= 1, error


# ---------------------------------------------------------------------------------------------
# BH-10: HTML injection through names and the title


def test_html_injection(tmp_path):
    """Names and the title are text, escaped once; no markup or script URL comes from them."""
    data = expected("BH-10")
    exp = data["expected"]
    fragment = case_dir("BH-10") / data["config_fragment"]
    title = tomllib.loads(fragment.read_text(encoding="utf-8"))["title"]
    config = prepare(tmp_path, "BH-10", "images", title=title)
    html_text, _, _ = run_ok(config)

    for needle in exp["report_must_not_contain"]:
        assert needle not in html_text, f"report contains {needle!r}"

    parsed = parse_report(html_text)
    visible = "".join(parsed.text)
    for needle in exp["visible_text_must_include"]:
        assert needle in visible, f"visible text lacks {needle!r}"
    assert Counter(parsed.path_cells) == Counter(exp["loaded"])
    assert html_text.count("&amp;lt;b&amp;gt;already-escaped.png") >= 1
    assert "&amp;amp;lt;" not in html_text

    labels = [attrs.get("aria-label") for _, attrs in parsed.tags]
    for name in exp["loaded"]:
        assert name in labels, f"no element labelled exactly {name!r}"

    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"svg", "b"}
    assert not [attrs for tag, attrs in parsed.tags if tag == "img" and attrs.get("src") == "x"]
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], f"<{tag}> has a handler: {attrs}"
        for key in ("href", "src", "action", "formaction"):
            if attrs.get(key):
                assert urlsplit(attrs[key]).scheme in ("", "data"), f"<{tag} {key}={attrs[key]}>"


# ---------------------------------------------------------------------------------------------
# BH-13: multi-frame files


@pytest.mark.parametrize(("name", "values"), value_params("BH-13"))
def test_first_frame_only(name, values):
    decoded = decode_case_file("BH-13", name)
    assert decoded.frames == values["n_frames"]
    assert np.abs(decoded.pixels.astype(int) - values["expected_L"]).max() <= 1
    colour = decode_case_file("BH-13", name, mode="RGB").pixels.astype(int)
    assert np.abs(colour - values["first_frame_rgb"]).max() <= 1


# ---------------------------------------------------------------------------------------------
# BH-14 and BH-17: reference distances


def reference_params() -> list:
    params = []
    for case_id in ("BH-14", "BH-17"):
        for input_name, exp in case_inputs(expected(case_id)):
            for mode, reference in exp["reference"].items():
                if mode in ("L", "RGB"):
                    params.append(pytest.param(case_id, input_name, mode, reference,
                                               id=f"{case_id}/{input_name}/{mode}"))
    return params


@pytest.mark.parametrize(("case_id", "input_name", "mode", "reference"), reference_params())
def test_reference_distances(tmp_path, case_id, input_name, mode, reference):
    """Mean image, distances and far-to-near ranking match the float64 reference."""
    outcome = compute_case(tmp_path, case_id, input_name, mode)
    analysis = outcome.analysis
    distances = dict(zip(outcome.names, analysis.distances.tolist()))
    wanted = reference["squared_l2_distance"]

    assert set(distances) == set(wanted)
    for name, value in wanted.items():
        assert distances[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    mean_value = float(analysis.mean_image.mean())
    assert mean_value == pytest.approx(reference["mean_of_mean_image"], rel=1e-5)

    far_to_near = [outcome.names[i] for i in analysis.order[::-1]]
    # Ties may be broken differently, so compare the distances along both rankings.
    reference_order = reference["ranking_far_to_near"]
    assert [wanted[n] for n in far_to_near] == [wanted[n] for n in reference_order]


def test_overflow_mean_is_exact(tmp_path):
    exp = expected("BH-17")["expected"]["images"]
    outcome = compute_case(tmp_path, "BH-17", "images")
    assert np.all(outcome.analysis.mean_image == exp["mean_pixel"])
    assert float(outcome.analysis.mean_image.mean()) != exp["wrong_uint8_running_sum_mean"]


@pytest.mark.parametrize("input_name", expected("BH-17")["input"])
def test_exported_distances_match(tmp_path, input_name):
    """The CSV and JSON carry the same distances, which match the L reference."""
    reference = expected("BH-17")["expected"][input_name]["reference"]["L"]
    config = prepare(tmp_path, "BH-17", input_name)
    _, csv_text, document = run_ok(config)
    from_json = {r["path"]: r["distance"] for r in document["records"]}
    from_csv = {r["path"]: float(r["distance"]) for r in csv_rows(csv_text)}
    assert from_csv == from_json
    assert from_json == pytest.approx(reference["squared_l2_distance"], rel=1e-6)


def test_all_identical_is_one_cluster(tmp_path):
    """Every distance exactly 0.0, one cluster, one histogram bar, no NaN."""
    exp = expected("BH-14")["expected"]
    outcome = compute_case(tmp_path / "compute", "BH-14", "images")
    assert outcome.analysis.distances.tolist() == [0.0] * exp["images_loaded"]
    assert len(set(outcome.analysis.clusters.tolist())) == 1

    config = prepare(tmp_path / "run", "BH-14", "images")
    html_text, csv_text, document = run_ok(config)
    assert [r["distance"] for r in document["records"]] == [0.0] * exp["images_loaded"]
    assert len({r["cluster"] for r in document["records"]}) == 1
    assert "NaN" not in csv_text and "nan" not in csv_text.lower()
    histogram = json.loads(parse_report(html_text).scripts["histogram-data"])
    bars = [count for count in histogram["data"][0]["y"] if count]
    assert bars == [exp["images_loaded"]]


# ---------------------------------------------------------------------------------------------
# BH-18: a single image


def test_single_image(tmp_path, capsys):
    """Either one image at distance 0.0 in one cluster, or a clear 'at least two' message."""
    exp = expected("BH-18")["expected"]["single_image"]
    config = prepare(tmp_path, "BH-18", "single_image")
    code = main([str(config), "-q"])
    error = capsys.readouterr().err
    assert "Traceback" not in error
    if code != 0:
        assert "two" in error or "2" in error, error
        return
    _, csv_text, document = outputs(config)
    assert [r["path"] for r in document["records"]] == exp["loaded"]
    assert document["records"][0]["distance"] == exp["distance_if_reported"]
    assert document["records"][0]["cluster"] == 1
    assert len(csv_rows(csv_text)) == exp["images_loaded"]


# ---------------------------------------------------------------------------------------------
# BH-20: names that break CSV


def test_csv_round_trip(tmp_path):
    """The CSV reads back to one row per image with the exact names, guarded against formulas."""
    exp = expected("BH-20")["expected"]
    prefixes = tuple(exp["formula_prefixes"])
    config = prepare(tmp_path, "BH-20", "images")
    html_text, csv_text, document = run_ok(config)

    rows = csv_rows(csv_text)
    assert len(rows) == exp["images_loaded"]
    assert all(set(row) == {"rank", "path", "distance", "cluster"} for row in rows)
    cells = [row["path"] for row in rows]
    assert not [cell for cell in cells if cell.startswith(prefixes)]
    names = [unguard(cell, prefixes) for cell in cells]
    assert Counter(names) == Counter(exp["loaded"])
    assert names == [r["path"] for r in document["records"]]
    assert [int(row["rank"]) for row in rows] == list(range(1, len(rows) + 1))
    assert Counter(parse_report(html_text).path_cells) == Counter(exp["loaded"])
