"""Whole runs through the command line: the sample, real collections and failure paths."""

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from report.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def needs_data(name):
    folder = SHARED_DATA / name
    return pytest.mark.skipif(not folder.is_dir(), reason=f"{folder} is not present")


def read_outputs(report_path):
    text = report_path.read_text(encoding="utf-8")
    with open(report_path.with_suffix(".csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    document = json.loads(report_path.with_suffix(".json").read_text(encoding="utf-8"))
    return text, rows, document


def ranking_paths(text):
    """The path column of the ranking table, unescaped, in page order."""
    table = text[text.index('<table id="ranking">'):]
    table = table[: table.index("</table>")]
    return [html.unescape(p) for p in re.findall(r'<td class="path">(.*?)</td>', table, re.S)]


def run_cli(*args):
    return main([str(arg) for arg in args])


def run_on_shared(tmp_path, name):
    """The sample config run on a shared collection; returns the page, CSV rows and JSON."""
    output = tmp_path / f"{name}.html"
    assert run_cli(ROOT / "sample_config.toml", "--input", SHARED_DATA / name,
                   "--output", output, "-q") == 0
    return read_outputs(output)


@pytest.fixture()
def sample_run(tmp_path):
    output = tmp_path / "out" / "report.html"
    assert run_cli(ROOT / "sample_config.toml", "--output", output, "-q") == 0
    return output


def test_sample_report_has_every_part(sample_run):
    text, rows, document = read_outputs(sample_run)
    images = sorted(p.name for p in (ROOT / "sample" / "noto-emoji").iterdir())

    assert len(rows) == len(images) == 150
    assert sorted(ranking_paths(text)) == images
    assert '<img id="mean-image"' in text
    assert '<div id="distance-histogram"' in text
    assert text.count('<section id="cluster-') == 4
    for number in range(1, 5):
        assert f'<section id="cluster-{number}"' in text
    assert '<section id="skipped">' in text
    assert "sample/noto-emoji" in text
    assert str(ROOT) not in text


def test_sample_exports_agree_with_the_page(sample_run):
    text, rows, document = read_outputs(sample_run)

    assert list(rows[0]) == ["rank", "path", "distance", "cluster"]
    assert ranking_paths(text) == [row["path"] for row in rows]
    assert document["schema_version"] == 2
    assert [r["path"] for r in document["records"]] == [row["path"] for row in rows]
    assert [r["distance"] for r in document["records"]] == [float(r["distance"]) for r in rows]
    distances = [float(row["distance"]) for row in rows]
    assert distances == sorted(distances)
    assert [int(row["rank"]) for row in rows] == list(range(1, 151))
    sizes = [c["size"] for c in document["clusters"]]
    assert sizes == [sum(int(r["cluster"]) == k for r in rows) for k in range(1, 5)]
    assert document["settings"]["preprocess"]["size"] == [100, 100]


def test_rerun_is_byte_identical(sample_run, tmp_path):
    first = {p.name: p.read_bytes() for p in sample_run.parent.iterdir()}
    second_output = tmp_path / "again" / "report.html"
    assert run_cli(ROOT / "sample_config.toml", "--output", second_output, "-q") == 0
    second = {p.name: p.read_bytes() for p in second_output.parent.iterdir()}
    assert first == second
    assert sorted(first) == ["report.csv", "report.html", "report.json"]


def test_report_works_without_network_resources(sample_run):
    text = sample_run.read_text(encoding="utf-8")
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text)
    assert "@import" not in text
    assert "Plotly.newPlot" in text


def test_entry_points_run(tmp_path):
    import report

    output = tmp_path / "r.html"
    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "report", str(ROOT / "sample_config.toml"), "--output",
         "r.html"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Report written to r.html" in done.stdout
    assert output.exists()

    version = subprocess.run([sys.executable, "-m", "report", "--version"],
                             capture_output=True, text=True, cwd=tmp_path, env=env)
    assert version.stdout.startswith("mean-image-report ")


def make_images(folder, values):
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        Image.new("L", (12, 12), value).save(folder / name)


def test_failures_exit_non_zero_and_keep_the_old_report(tmp_path, capsys):
    make_images(tmp_path / "pics", {"a.png": 0, "b.png": 255})
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[output]\npath = "report.html"\n')
    assert run_cli(config, "-q") == 0
    before = (tmp_path / "report.html").read_bytes()

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    assert run_cli(config, "--input", empty, "-q") == 1
    error = capsys.readouterr().err
    assert "no usable images found in" in error and str(empty) in error
    assert "Traceback" not in error
    assert (tmp_path / "report.html").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    config.write_text('[input]\npath = "pics"\n[clusters]\ncount = "four"\n')
    assert run_cli(config) == 2
    assert "[clusters] count" in capsys.readouterr().err

    config.write_text('[input]\npath = "pics"\n')
    assert run_cli(config, "--input", tmp_path / "nowhere") == 2
    assert "--input: input folder not found" in capsys.readouterr().err
    config.write_text('[input]\npath = "missing"\n')
    assert run_cli(config) == 2
    assert f"{config}: [input] path: input folder not found" in capsys.readouterr().err


def test_single_image_and_identical_images_give_what_can_be_said(tmp_path):
    make_images(tmp_path / "one", {"only.png": 90})
    make_images(tmp_path / "same", {f"s{i}.png": 40 for i in range(5)})
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "one"\n')

    for folder in ("one", "same"):
        output = tmp_path / folder / "out.html"
        assert run_cli(config, "--input", tmp_path / folder, "--output", output, "-q") == 0
        text, rows, document = read_outputs(output)
        assert {float(row["distance"]) for row in rows} == {0.0}
        assert {row["cluster"] for row in rows} == {"1"}
        assert len(embedded_json(text, "histogram-data")["data"][0]["y"]) == 1
        json.dumps(embedded_json(text, "scatter-data"), allow_nan=False)  # raises on NaN
        json.dumps(document, allow_nan=False)

        # The review says there is too little variation, and its figures are null.
        assert document["diagnostics"] == {"brightness_rank_correlation": None,
                                           "background_rank_correlation": None}
        assert document["principal_components"] is None
        assert [g["silhouette"] for g in document["groupings"]] == [None, None, None]
        assert {"one": "There are too few images to relate the distance to mean brightness",
                "same": "Every image has the same mean brightness"}[folder] in text
        assert "not enough variation among these images for a map" in text
        visible = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
        assert "NaN" not in visible and "Infinity" not in visible
    assert document["duplicates"]["exact"] == [[f"s{i}.png" for i in range(5)]]


def test_names_are_escaped_and_csv_is_guarded(tmp_path):
    names = {"<b>x<b>.png": 0, "=1+1.png": 90, "comma,quote\".png": 180, "&amp;.png": 255}
    make_images(tmp_path / "pics", names)
    config = tmp_path / "run.toml"
    config.write_text('title = "<script>alert(1)</script>"\n[input]\npath = "pics"\n'
                      '[output]\npath = "r.html"\n')

    assert run_cli(config, "-q") == 0
    text, rows, document = read_outputs(tmp_path / "r.html")

    assert "<b>x<b>" not in text and "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert sorted(ranking_paths(text)) == sorted(names)
    assert "'=1+1.png" in [row["path"] for row in rows]
    assert sorted(r["path"] for r in document["records"]) == sorted(names)


@needs_data("pokemon")
def test_pokemon_collection(tmp_path):
    text, rows, document = run_on_shared(tmp_path, "pokemon")

    assert len(rows) == 149 == document["images_used"]
    assert document["skipped"] == []
    assert sorted(ranking_paths(text)) == sorted(p.name for p in
                                                 (SHARED_DATA / "pokemon").glob("*.png"))


@needs_data("pokemon")
def test_pokemon_distances_match_a_direct_computation():
    from report.config import load_config
    from report.assembly import compute

    folder = SHARED_DATA / "pokemon"
    config = load_config(ROOT / "sample_config.toml", input_override=folder)
    outcome = compute(config)
    stack = []
    for name in outcome.names:
        with Image.open(folder / name) as image:
            canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
            canvas.alpha_composite(image.convert("RGBA"))
            gray = canvas.convert("RGB").convert("L").resize((100, 100), Image.LANCZOS)
            stack.append(np.asarray(gray, dtype=np.float64))
    stack = np.array(stack)
    expected = ((stack - stack.mean(axis=0)) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(outcome.analysis.distances, expected, rtol=1e-9)


@needs_data("pokemon_artwork1017")
def test_artwork_collection_skips_its_corrupt_file(tmp_path):
    text, rows, document = run_on_shared(tmp_path, "pokemon_artwork1017")

    assert len(rows) == 1016
    assert [s["path"] for s in document["skipped"]] == ["sinistcha.png"]
    skipped = text[text.index('<section id="skipped">'):]
    assert "sinistcha.png" in skipped and "not a recognised image format" in skipped


def test_templates_are_found_where_the_package_is():
    from report import render

    folder = render.template_folder()
    assert {"report.html.j2", "report.css", "report.js"} <= {p.name for p in folder.iterdir()}


@pytest.mark.skipif(shutil.which("mean-image-report") is None,
                    reason="the console script is not installed in this environment")
def test_console_script_runs_from_another_folder(tmp_path):
    output = tmp_path / "r.html"
    done = subprocess.run(["mean-image-report", str(ROOT / "sample_config.toml"), "--output",
                           str(output), "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '<table id="ranking">' in output.read_text(encoding="utf-8")


def test_input_and_output_need_a_single_config(tmp_path, capsys):
    make_images(tmp_path / "pics", {"a.png": 0, "b.png": 255})
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n')

    assert run_cli(config, config, "--output", tmp_path / "x.html") == 2
    assert "only when one config is given" in capsys.readouterr().err
    assert run_cli(config, "--site", tmp_path / "site", "--output", tmp_path / "x.html") == 2
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "site").exists()


def test_site_page_names_are_safe_for_pages(tmp_path):
    from report.config import load_config
    from report.site import safe_page_names

    configs = []
    for name in ("_Hidden", "Trip Photos", "trip photos", "index", ".dot", "Ünï"):
        path = tmp_path / f"{name}.toml"
        path.write_text('[input]\npath = "pics"\n', encoding="utf-8")
        configs.append(load_config(path))

    names = safe_page_names(configs)

    assert names == ["hidden", "trip-photos", "trip-photos-2", "index-report", "dot", "uni"]
    assert len({n.lower() for n in names}) == len(names)
    assert not any(n.startswith(("_", ".")) for n in names)


def test_config_site_key_writes_a_site(tmp_path):
    make_images(tmp_path / "pics", {"a.png": 0, "b.png": 255, "c.png": 90})
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[output]\nsite = "public"\n')

    assert run_cli(config, "-q") == 0

    site = tmp_path / "public"
    assert sorted(p.name for p in site.iterdir()) == [
        ".nojekyll", "index-thumbs", "index.csv", "index.html", "index.json", "plotly.min.js"]
    assert len(list((site / "index-thumbs").iterdir())) == 3
    text = (site / "index.html").read_text(encoding="utf-8")
    assert '<script src="plotly.min.js"' in text
    assert 'href="./index.csv"' in text


@needs_data("imagenet_sample")
def test_jpeg_draft_decoding_barely_moves_the_ranking():
    from report.config import load_config
    from report.assembly import compute

    results = []
    for draft in (True, False):
        config = load_config(ROOT / "sample_config.toml",
                             input_override=SHARED_DATA / "imagenet_sample")
        config = replace(config, preprocess=replace(config.preprocess, draft=draft),
                         workers=1, cache=None)
        outcome = compute(config)
        results.append(outcome.analysis)
        outcome.close()
    drafted, full = results

    assert not np.array_equal(drafted.distances, full.distances)
    relative = np.abs(drafted.distances - full.distances) / full.distances
    assert np.median(relative) < 0.01 and relative.max() < 0.1
    ranks_drafted = np.argsort(np.argsort(drafted.distances))
    ranks_full = np.argsort(np.argsort(full.distances))
    assert np.corrcoef(ranks_drafted, ranks_full)[0, 1] > 0.999
    assert np.mean(drafted.clusters == full.clusters) > 0.98


def embedded_json(text, element_id):
    start = text.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    return json.loads(text[start: text.index("</script>", start)])


def test_sample_report_judges_its_grouping(sample_run):
    text, rows, document = read_outputs(sample_run)

    assert [g["method"] for g in document["groupings"]] == ["quantile", "normalized", "kmeans"]
    by_path = {row["path"]: row for row in rows}
    records = document["records"]
    for grouping in document["groupings"]:
        assert len(grouping["image_clusters"]) == len(records) == 150
        sizes = [c["size"] for c in grouping["clusters"]]
        assert sizes == [grouping["image_clusters"].count(k) for k in range(1, 5)]
        assert -1 <= grouping["silhouette"] <= 1
    quantile = document["groupings"][0]["image_clusters"]
    assert quantile == [int(by_path[r["path"]]["cluster"]) for r in records]
    diagnostics = document["diagnostics"]
    assert -1 <= diagnostics["brightness_rank_correlation"] <= 1
    assert document["principal_components"]["fitted_on"] == 150
    assert len(document["principal_components"]["explained_variance_ratio"]) == 20

    # The emoji all sit on white: the border correlation is read as subjects at the edge.
    assert "The background hardly varies" in text and "subjects that reach the edge" in text
    for section in ("diagnostics", "quantile-grouping", "normalized-grouping",
                    "kmeans-grouping", "normalized-cluster-1", "kmeans-cluster-4", "duplicates"):
        assert f'id="{section}"' in text
    assert "Do these clusters mean anything?" in text
    assert text.count("Component ") >= 8
    scatter = embedded_json(text, "scatter-data")
    assert sum(len(trace["x"]) for trace in scatter["data"]) == 150
    assert len(embedded_json(text, "map-data")["x"]) == 150


@needs_data("pokemon")
def test_pokemon_report_says_the_clusters_follow_brightness(tmp_path):
    text, rows, document = run_on_shared(tmp_path, "pokemon")

    # The figures the original experiment's verdict rests on.
    assert document["diagnostics"]["brightness_rank_correlation"] == pytest.approx(-0.56, abs=0.01)
    silhouettes = {g["method"]: g["silhouette"] for g in document["groupings"]}
    assert silhouettes["quantile"] < 0 < silhouettes["kmeans"]
    assert max(silhouettes, key=silhouettes.get) == "kmeans"
    assert "strongly follows mean brightness" in text
    assert "k-means on principal components scores best" in text


@needs_data("noto_emoji_72")
def test_noto_emoji_exact_and_near_duplicates(tmp_path):
    text, rows, document = run_on_shared(tmp_path, "noto_emoji_72")

    exact = document["duplicates"]["exact"]
    assert len(exact) == 5 and sum(len(group) for group in exact) == 15
    assert ["emoji_u1f468_200d_1f466.png", "emoji_u1f9d1_200d_1f9d2.png"] in exact
    near = document["duplicates"]["near"]
    # Skin-tone variants of one emoji look alike in grayscale.
    assert ["emoji_u1f385.png", "emoji_u1f385_1f3fc.png"] in near
    assert "5 groups of images whose" in text
    assert len(embedded_json(text, "map-data")["x"]) == 2000  # a bounded sample of 3583


def test_quantile_only_runs_never_import_scikit_learn(tmp_path):
    import report

    make_images(tmp_path / "pics", {f"p{i}.png": 20 * i for i in range(6)})
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[clusters]\nmethods = ["quantile"]\n'
                      'components = 0\n')
    script = ("import sys; from report.cli import main; code = main([sys.argv[1], '-q']);"
              "print(code, sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                          text=True, env=env)
    assert done.stdout.split() == ["0", "[]"], done.stderr
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [g["method"] for g in document["groupings"]] == ["quantile"]
    assert document["duplicates"]["near"] is None
    text = (tmp_path / "out" / "report.html").read_text()
    assert "Principal components are turned off" in text


def random_images(folder, count, size=16, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"r{i:02d}.png")


def run_small(tmp_path, extra):
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[preprocess]\nsize = [16, 16]\n' + extra)
    assert run_cli(config, "-q") == 0
    return read_outputs(tmp_path / "out" / "report.html")


def readings(text):
    return [html.unescape(p) for p in re.findall(r'<p class="reading">(.*?)</p>', text, re.S)]


def test_the_verdict_quotes_the_quantile_cut_whatever_the_order(tmp_path):
    random_images(tmp_path / "pics", 12)
    text, rows, document = run_small(
        tmp_path, '[clusters]\nmethods = ["kmeans", "normalized", "quantile"]\n')
    scores = {g["method"]: g["silhouette"] for g in document["groupings"]}
    quantile = f"{scores['quantile']:+.2f}".replace("-", "\u2212")
    said = " ".join(readings(text))
    assert f"The distance-quantile cut has a silhouette of {quantile}" in said
    best = max(scores, key=scores.get)
    if best != "quantile":
        assert "scores best" in said
    assert [g["method"] for g in document["groupings"]] == ["kmeans", "normalized", "quantile"]


def test_what_the_review_says_on_odd_settings(tmp_path):
    random_images(tmp_path / "pics", 12)

    text, _, document = run_small(tmp_path, "[clusters]\ncount = 100\n")
    assert "cannot be scored: every image is in a cluster of its own" in " ".join(readings(text))
    found = len(document["principal_components"]["explained_variance_ratio"])
    assert found < 20 and "The config asks for 20" in text
    assert f"vary in only {found} independent" in text
    assert document["duplicates"]["near_checked_on_pixels"] is True

    text, _, document = run_small(tmp_path, "[clusters]\ncomponents = 1\n")
    assert "The map needs two principal components; this run has one" in text
    assert text.count('alt="Principal component') == 1
    assert "in the space of 1 principal\ncomponent." in text

    text, _, document = run_small(tmp_path, '[clusters]\nmethods = ["quantile"]\n')
    assert "Only the distance-quantile cut was computed" in text

    text, _, document = run_small(tmp_path, "[duplicates]\nnear_threshold = -0.0\n")
    assert document["duplicates"]["near_threshold"] == 0.0
    assert "-0.0" not in json.dumps(document["settings"])


def test_tiny_images_and_constant_borders_are_read_for_what_they_are(tmp_path):
    random_images(tmp_path / "pics", 5)
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[preprocess]\nsize = [2, 2]\n')
    assert run_cli(config, "-q") == 0
    text, _, document = read_outputs(tmp_path / "out" / "report.html")
    said = " ".join(readings(text))
    assert "too small to tell a background from the subject" in said
    assert "With only 5 images, read these figures as hints" in said
    assert document["diagnostics"]["background_rank_correlation"] is None

    shutil.rmtree(tmp_path / "pics")
    (tmp_path / "pics").mkdir()
    for value in (0, 60, 120, 180):
        inside = np.full((6, 6), value, dtype=np.uint8)
        Image.fromarray(np.pad(inside, 1, constant_values=255)).save(
            tmp_path / "pics" / f"v{value}.png")
    assert run_cli(config, "--no-cache", "-q") == 0
    config.write_text('[input]\npath = "pics"\n[preprocess]\nsize = [8, 8]\n')
    assert run_cli(config, "--no-cache", "-q") == 0
    text, _, _ = read_outputs(tmp_path / "out" / "report.html")
    assert "Every image has the same background tone" in " ".join(readings(text))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two processors")
def test_the_page_is_the_same_on_any_number_of_cores(tmp_path):
    import report

    pages = []
    env = {key: value for key, value in os.environ.items()
           if not key.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(Path(report.__file__).parents[1])
    for cores in ({0}, os.sched_getaffinity(0)):
        output = tmp_path / str(len(cores)) / "report.html"
        done = subprocess.run([sys.executable, "-m", "report", str(ROOT / "sample_config.toml"),
                               "--output", str(output), "--no-cache", "-q"],
                              capture_output=True, text=True, env=env,
                              preexec_fn=lambda: os.sched_setaffinity(0, cores))
        assert done.returncode == 0, done.stderr
        pages.append(output.read_bytes())
    assert pages[0] == pages[1]


def test_compiled_templates_are_kept_in_the_cache_folder_unless_the_cache_is_off(tmp_path):
    import report

    make_images(tmp_path / "pics", {"a.png": 0, "b.png": 255})
    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])}
    pages = []
    for name, flags in (("off", ["--no-cache"]), ("on", []), ("again", [])):
        config = tmp_path / f"{name}.toml"
        cache = "off-cache" if name == "off" else "on-cache"
        config.write_text(f'[input]\npath = "pics"\n[output]\npath = "{name}/report.html"\n'
                          f'[cache]\npath = "{cache}"\n')
        done = subprocess.run([sys.executable, "-m", "report", str(config), "-q", *flags],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        pages.append((tmp_path / name / "report.html").read_bytes())

    assert not (tmp_path / "off-cache").exists()
    templates = [p for p in (ROOT / "templates").iterdir() if p.is_file()]
    assert len(list((tmp_path / "on-cache" / "templates").iterdir())) == len(templates)
    # Compiled or kept, the templates make the same page.
    assert pages[0] == pages[1] == pages[2]
