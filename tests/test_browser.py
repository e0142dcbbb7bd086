"""The report in a real Chromium: offline, interactive, and published as a site.

Every request that is not for the report's own files is aborted and counted. The tests skip
when Playwright or Chromium is missing, except under CI, where that is a failure.
"""

import csv
import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from report.cli import main
from report.render import image_anchor

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
]


def find_chromium():
    candidates = [os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"),
                  shutil.which("chromium-browser"), shutil.which("google-chrome")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def unavailable(reason):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install '.[test]')")
    executable = find_chromium()
    if executable is None:
        unavailable("no Chromium found (install Debian's chromium package)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Visit:
    """A page that may load only files below ``allowed``; everything else is aborted."""

    def __init__(self, browser, allowed, javascript=True):
        self.context = browser.new_context(java_script_enabled=javascript,
                                           viewport={"width": 1280, "height": 900},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.allowed = allowed
        self.blocked = []
        self.errors = []
        self.page.on("console",
                     lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.context.route("**/*", self.guard)

    def guard(self, route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or url.startswith(self.allowed):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, url):
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture()
def visit(browser):
    opened = []

    def start(allowed, javascript=True):
        session = Visit(browser, allowed, javascript)
        opened.append(session)
        return session

    yield start
    for session in opened:
        session.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def serve():
    """Serve a folder on 127.0.0.1 for the length of a test; returns its base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def build(tmp_path, name, *extra):
    folder = tmp_path / name
    output = folder / "report.html"
    assert main([str(ROOT / "sample_config.toml"), "--output", str(output), "-q", *extra]) == 0
    return output


def config_with(tmp_path, name, **output):
    """A copy of the sample config with extra [output] keys, reading the shipped sample."""
    lines = [f'[input]\npath = "{ROOT / "sample" / "noto-emoji"}"\n', "[output]\n"]
    lines += [f'{key} = "{value}"\n' for key, value in output.items()]
    path = tmp_path / f"{name}.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def open_sample(visit, tmp_path, name):
    """Build the sample report and open it; returns its ranking rows, the visit and the page."""
    output = build(tmp_path, name)
    session = visit(output.parent.as_uri() + "/")
    return ranking(output), session, session.open(output.as_uri())


def ranking(output):
    with open(output.with_suffix(".csv"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def natural(name):
    """The order a person expects, digits as numbers: u1f4a0 < u1f345 (4 < 345)."""
    return [(0, int(t)) if t.isdigit() else (1, t.lower()) for t in re.findall(r"\d+|\D+", name)]


def visible_paths(page):
    return page.eval_on_selector_all(
        "#ranking tbody tr:not(.spacer)",
        "rows => rows.filter(r => !r.hidden).map(r => r.querySelector('td.path').textContent)")


def assert_window(page, expected):
    """The drawn rows are the first rows of ``expected``: all of them, or a screenful."""
    drawn = visible_paths(page)
    assert drawn == expected[: len(drawn)]
    assert len(drawn) >= min(len(expected), 10)
    total = len(expected)
    counted = page.locator("#shown-count").inner_text()
    assert counted.startswith(f"{total} of ") or counted == f"{total} images"


def bars_drawn(page):
    page.wait_for_selector("#distance-histogram .bars path", state="attached", timeout=10000)
    return page.locator("#distance-histogram .bars path").count()


@pytest.mark.parametrize("mode", ["inline", "directory"])
def test_report_needs_nothing_from_the_network(visit, serve, tmp_path, mode):
    config = config_with(tmp_path, mode, path="out/report.html", plotly_js=mode)
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    assert (output.parent / "plotly.min.js").exists() == (mode == "directory")

    for base in (output.parent.as_uri() + "/", serve(output.parent)):
        session = visit(base)
        page = session.open(base + "report.html")
        assert bars_drawn(page) > 0
        assert session.blocked == []
        assert session.errors == []


def test_cdn_mode_asks_only_for_plotly(visit, tmp_path):
    config = config_with(tmp_path, "cdn", path="out/report.html", plotly_js="cdn")
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"

    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri())
    assert [urlparse(url).hostname for url in session.blocked] == ["cdn.plot.ly"]
    assert page.locator("#shown-count").inner_text() == "150 images"


def test_sorting_by_each_column(visit, tmp_path):
    rows, session, page = open_sample(visit, tmp_path, "sort")
    distance = page.locator('#ranking th[data-sort="distance"]')

    distance.locator("button").click()
    assert distance.get_attribute("aria-sort") == "ascending"
    distance.locator("button").click()
    assert distance.get_attribute("aria-sort") == "descending"
    assert visible_paths(page)[0] == rows[-1]["path"]
    assert_window(page, [row["path"] for row in reversed(rows)])
    assert page.locator('#ranking th[data-sort="rank"]').get_attribute("aria-sort") is None

    page.locator('#ranking th[data-sort="path"] button').click()
    assert_window(page, sorted((row["path"] for row in rows), key=natural))
    page.locator('#ranking th[data-sort="cluster"] button').click()
    page.locator('#ranking th[data-sort="cluster"] button').click()
    by_cluster = sorted(rows, key=lambda r: (-int(r["cluster"]), int(r["rank"])))
    assert_window(page, [row["path"] for row in by_cluster])
    assert session.errors == []


def test_filter_and_cluster_selector_show_exactly_the_matching_rows(visit, tmp_path):
    rows, session, page = open_sample(visit, tmp_path, "filter")

    page.fill("#path-filter", "U1F6")
    assert_window(page, [r["path"] for r in rows if "u1f6" in r["path"]])
    page.select_option("#cluster-filter", "2")
    assert_window(page, [r["path"] for r in rows if "u1f6" in r["path"] and r["cluster"] == "2"])
    page.fill("#path-filter", "")
    assert_window(page, [r["path"] for r in rows if r["cluster"] == "2"])
    assert "of 150 images shown" in page.locator("#shown-count").inner_text()
    page.select_option("#cluster-filter", "")
    assert_window(page, [r["path"] for r in rows])


def test_larger_view_steps_and_closes(visit, tmp_path):
    rows, session, page = open_sample(visit, tmp_path, "viewer")
    dialog = page.locator("#viewer")

    page.locator('#cluster-2 a.open').first.click()
    assert dialog.evaluate("d => d.open")
    first_of_cluster_2 = next(r for r in rows if r["cluster"] == "2")
    assert page.locator("#viewer-path").inner_text() == first_of_cluster_2["path"]
    rank = int(first_of_cluster_2["rank"])
    assert page.locator("#viewer-image").evaluate("i => i.naturalWidth") > 0
    assert page.locator("#viewer-image").is_visible()
    assert not page.locator("#viewer-missing").is_visible()

    page.keyboard.press("ArrowRight")
    assert page.locator("#viewer-path").inner_text() == rows[rank]["path"]
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#viewer-path").inner_text() == rows[rank - 2]["path"]

    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert session.errors == []


def test_original_file_link_is_relative_and_reachable(visit, tmp_path):
    pictures = tmp_path / "pictures"
    shutil.copytree(ROOT / "sample" / "noto-emoji", pictures)
    config = tmp_path / "near.toml"
    config.write_text('[input]\npath = "pictures"\n[output]\npath = "out/report.html"\n')
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    session = visit(tmp_path.as_uri() + "/")
    page = session.open(output.as_uri())

    page.locator("#ranking a.open").first.click()
    href = page.locator("#viewer-original").get_attribute("href")
    assert href == "../pictures/" + ranking(output)[0]["path"]
    assert (output.parent / href).resolve().is_file()


def test_deep_links_scroll_to_clusters_and_images(visit, tmp_path):
    output = build(tmp_path, "links")
    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri() + "#cluster-2")
    top = page.locator("#cluster-2").evaluate("e => e.getBoundingClientRect().top")
    assert page.evaluate("window.scrollY") > 0
    assert -5 <= top <= 100

    anchor = image_anchor(ranking(output)[120]["path"])
    page.goto(output.as_uri() + "#" + anchor)
    row = page.locator(f"tr#{anchor}")
    assert row.locator("td.path").inner_text() == ranking(output)[120]["path"]
    assert 0 <= row.evaluate("e => e.getBoundingClientRect().top") <= 900


def test_flags_download_as_text_and_csv(visit, tmp_path):
    rows, session, page = open_sample(visit, tmp_path, "flags")

    page.locator("#ranking input.flag").nth(3).check()
    page.locator("#ranking input.flag").nth(0).check()
    assert page.locator("#flag-count").inner_text() == "2 flagged"
    with page.expect_download() as text_download:
        page.click("#download-flags-txt")
    text = Path(text_download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines() == [rows[0]["path"], rows[3]["path"]]
    with page.expect_download() as csv_download:
        page.click("#download-flags-csv")
    with open(csv_download.value.path(), newline="", encoding="utf-8") as handle:
        flagged = list(csv.DictReader(handle))
    assert [r["path"] for r in flagged] == [rows[0]["path"], rows[3]["path"]]
    assert session.blocked == [] and session.errors == []


def test_without_javascript_everything_is_shown(visit, tmp_path):
    output = build(tmp_path, "nojs")
    session = visit(output.parent.as_uri() + "/", javascript=False)
    page = session.open(output.as_uri())

    assert page.locator("#ranking tbody tr:visible").count() == 150
    assert page.locator("#cluster-1 .thumb:visible").count() > 0
    assert not page.locator(".toolbar").is_visible()
    assert page.locator("#mean-image").evaluate("i => i.naturalWidth") > 0


def test_site_of_two_reports_works_from_disk_and_over_http(visit, serve, tmp_path):
    first = config_with(tmp_path, "First_Set", path="unused.html")
    second = config_with(tmp_path, "_second", path="unused.html")
    site = tmp_path / "docs"
    assert main([str(first), str(second), "--site", str(site), "-q"]) == 0

    names = sorted(p.name for p in site.iterdir())
    assert names == [".nojekyll", "first_set-thumbs", "first_set.csv", "first_set.html",
                     "first_set.json", "index.html", "plotly.min.js", "second-thumbs",
                     "second.csv", "second.html", "second.json"]
    assert len(list((site / "second-thumbs").iterdir())) == 150

    for base in (site.as_uri() + "/", serve(site)):
        session = visit(base)
        page = session.open(base + "index.html")
        links = page.eval_on_selector_all(".site-index h2 a", "a => a.map(x => x.href)")
        assert links == [base + "first_set.html", base + "second.html"]
        for link in links:
            page.goto(link)
            assert bars_drawn(page) > 0
            assert page.locator("#shown-count").inner_text() == "150 images"
        assert session.blocked == [] and session.errors == []


@pytest.mark.parametrize("thumbnails", ["inline", "files"])
def test_large_collection_layout(visit, tmp_path, thumbnails):
    config = config_with(tmp_path, f"large-{thumbnails}", path="out/report.html",
                         layout="large", thumbnails=thumbnails)
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    rows = ranking(output)
    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri())

    assert len(visible_paths(page)) < 150
    assert_window(page, [row["path"] for row in rows])

    page.locator('#ranking th[data-sort="distance"] button').click()
    page.locator('#ranking th[data-sort="distance"] button').click()
    assert visible_paths(page)[0] == rows[-1]["path"]

    page.fill("#path-filter", "u1f6")
    assert_window(page, [r["path"] for r in reversed(rows) if "u1f6" in r["path"]])
    page.fill("#path-filter", "")

    page.locator("#cluster-3 a.open").first.click()
    first_of_3 = next(r for r in rows if r["cluster"] == "3")
    assert page.locator("#viewer-path").inner_text() == first_of_3["path"]
    assert page.locator("#viewer-image").evaluate("i => i.naturalWidth") > 0
    page.keyboard.press("ArrowRight")
    assert page.locator("#viewer-path").inner_text() == rows[int(first_of_3["rank"])]["path"]
    page.keyboard.press("Escape")

    grid = page.locator("#cluster-1 .grid li").count()
    assert 0 < grid <= 48
    said = page.locator("#ranking-section").inner_text()
    assert ("the other rows show an empty frame" in said) == (thumbnails == "inline")
    assert session.blocked == [] and session.errors == []


def test_large_layout_deep_link_draws_the_row(visit, tmp_path):
    config = config_with(tmp_path, "deep", path="out/report.html", layout="large")
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    rows = ranking(output)
    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri())
    anchor = page.evaluate(
        "JSON.parse(document.getElementById('ranking-data').textContent).anchors[120]")

    page.goto(output.as_uri() + "#" + anchor)
    row = page.locator(f"tr#{anchor}")
    assert row.count() == 1
    assert row.locator("td.path").inner_text() == rows[120]["path"]
    box = row.bounding_box()
    assert box is not None and 0 <= box["y"] <= 900
    assert session.errors == []


def test_large_layout_without_javascript_says_what_it_shows(visit, tmp_path):
    config = config_with(tmp_path, "nojs-large", path="out/report.html", layout="large")
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    session = visit(output.parent.as_uri() + "/", javascript=False)
    page = session.open(output.as_uri())

    assert "more than the 5000 this page" in page.locator("#ranking-section").inner_text()
    assert page.locator("#cluster-1 .thumb:visible").count() > 0
    assert page.locator("#mean-image").is_visible()


def point_hover(page, plot, index):
    """Move the mouse onto a plotted point, as a person would, and let plotly react."""
    page.locator(f"#{plot} .point").nth(index).hover(force=True)
    page.wait_for_timeout(150)


@pytest.mark.parametrize("layout", ["full", "large"])
def test_review_plots_map_and_eigen_images(visit, tmp_path, layout):
    config = config_with(tmp_path, f"review-{layout}", path="out/report.html", layout=layout)
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    rows = ranking(output)
    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri())

    page.wait_for_selector("#component-map .point", state="attached")
    assert page.locator("#brightness-scatter .point").count() == 150
    assert page.locator("#component-map .point").count() == 150
    assert page.locator("#diagnostics img[alt^='Principal component']").count() == 8

    point_hover(page, "component-map", 5)
    hover = page.locator("#map-hover")
    assert hover.is_visible()
    image = hover.locator(".thumb").evaluate("t => getComputedStyle(t).backgroundImage")
    assert image.startswith('url("data:image/jpeg')

    document = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    sizes = [c["size"] for c in document["groupings"][2]["clusters"] if c["size"]]
    page.select_option("#map-grouping", label="k-means on principal components")
    page.wait_for_timeout(200)
    traces = page.locator("#component-map .trace.scatter")
    counts = [traces.nth(i).locator(".point").count() for i in range(traces.count())]
    assert page.locator("#component-map .legendtext").all_text_contents() == [
        f"cluster {k}" for k in range(1, len(counts) + 1)]
    assert counts == sizes

    point_hover(page, "brightness-scatter", 0)
    page.locator("#brightness-scatter .nsewdrag").first.click(
        position=page.evaluate("""() => {
            const gd = document.getElementById('brightness-scatter');
            const p = gd._fullData[0];
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            return {x: xa.l2p(xa.d2l(p.x[0])), y: ya.l2p(ya.d2l(p.y[0]))};
        }"""))
    rank = page.evaluate("document.getElementById('brightness-scatter')._fullData[0]"
                         ".customdata[0]")
    assert page.locator("#viewer").evaluate("v => v.open")
    assert page.locator("#viewer-path").inner_text() == rows[rank - 1]["path"]
    assert session.blocked == [] and session.errors == []


def test_plot_labels_show_markup_in_file_names_as_text(visit, tmp_path):
    from PIL import Image

    folder = tmp_path / "pics"
    folder.mkdir()
    names = ["<b>bold.png", "a&amp;b.png", "plain.png", "<br>x.png"]
    for value, name in enumerate(names):
        Image.new("L", (8, 8), 60 * value).save(folder / name)
    config = tmp_path / "run.toml"
    config.write_text('[input]\npath = "pics"\n[output]\npath = "out/report.html"\n')
    assert main([str(config), "-q"]) == 0
    output = tmp_path / "out" / "report.html"
    session = visit(output.parent.as_uri() + "/")
    page = session.open(output.as_uri())
    page.wait_for_selector("#brightness-scatter .point", state="attached")

    shown = set()
    for index in range(4):
        point_hover(page, "brightness-scatter", index)
        label = page.locator("#brightness-scatter .hoverlayer .hovertext .nums")
        if label.count():
            shown.add(label.first.text_content().split("distance")[0])
    assert shown == set(names)
    assert session.errors == []
