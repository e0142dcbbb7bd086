"""Build the sample report and photograph it in headless Chromium, for the README.

Usage: python tools/screenshot.py [FOLDER]   (needs the test extras and Debian's chromium)
Writes sample-report.png (the top of the page) and sample-review.png (its review section).
"""

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_browser import CHROMIUM_FLAGS, find_chromium  # noqa: E402

from report.cli import main  # noqa: E402


def photograph(folder_out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.html"
        if main([str(ROOT / "sample_config.toml"), "--output", str(report), "-q"]) != 0:
            raise SystemExit("the sample report could not be built")
        executable = find_chromium()
        if executable is None:
            raise SystemExit("no Chromium found")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 1500})
            page.route("**/*", lambda route: route.abort()
                       if route.request.url.startswith("http") else route.continue_())
            page.goto(report.as_uri())
            page.wait_for_selector("#distance-histogram .bars path", state="attached")
            page.screenshot(path=str(folder_out / "sample-report.png"))
            page.wait_for_selector("#component-map .point", state="attached")
            box = page.locator("#diagnostics").bounding_box()
            # The readings, the scatter plot and the groupings table: the review's first screen.
            page.screenshot(path=str(folder_out / "sample-review.png"), full_page=True,
                            clip={"x": box["x"], "y": box["y"], "width": box["width"],
                                  "height": 1000})
            browser.close()


if __name__ == "__main__":
    photograph(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
