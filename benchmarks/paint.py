"""First paint of a report page in Chromium, driven by Playwright for Python.

Each measurement launches a fresh browser (the system's Chromium, never Playwright's download),
opens the page from disk with every request that is not a ``file:`` URL aborted, waits for the
load event and reads the page's own timings: the ``first-contentful-paint`` entry and the end of
the load event, both in milliseconds from the start of navigation.

    python benchmarks/paint.py REPORT.html [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
LOAD_TIMEOUT_MS = 600_000

# Resolves once the first contentful paint has been recorded (or after 10 s without one).
TIMINGS_JS = """
() => new Promise(resolve => {
  const report = () => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({fcp: paint ? paint.startTime : null, load: nav ? nav.loadEventEnd : null});
  };
  if (performance.getEntriesByName('first-contentful-paint').length) { report(); return; }
  new PerformanceObserver(report).observe({type: 'paint', buffered: true});
  setTimeout(report, 10000);
})
"""


# Sorts the ranking by distance (twice: descending) and filters it, timing each from the click
# or keystroke to the next frame drawn after it.
INTERACTION_JS = """
async () => {
  const frame = () => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  const time = async action => { const t0 = performance.now(); action(); await frame();
                                 return performance.now() - t0; };
  const button = document.querySelector('#ranking th[data-sort="distance"] button');
  const filter = document.getElementById('path-filter');
  if (!button || !filter) { return {sort: null, filter: null}; }
  await time(() => button.click());
  const sort = await time(() => button.click());
  const typed = await time(() => { filter.value = '1'; filter.dispatchEvent(new Event('input')); });
  return {sort: sort, filter: typed};
}
"""


def unavailable_reason() -> str | None:
    """Why first paint cannot be measured here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM}"
    return None


def _only_files(route) -> None:
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()


def measure_once(page_path: Path) -> tuple[dict[str, float | None], str]:
    """One fresh browser's first contentful paint, load-event end, and the time to sort and to
    filter the ranking, in ms, and the browser's version."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", _only_files)
            page.goto(page_path.resolve().as_uri(), wait_until="load",
                      timeout=LOAD_TIMEOUT_MS)
            timings = page.evaluate(TIMINGS_JS)
            timings.update(page.evaluate(INTERACTION_JS))
            return timings, browser.version
        finally:
            browser.close()


def measure(page_path: Path, runs: int) -> tuple[dict[str, float | None], str]:
    """Median of each timing (fcp, load, sort, filter) over ``runs`` fresh browsers."""
    samples: dict[str, list[float]] = {"fcp": [], "load": [], "sort": [], "filter": []}
    version = ""
    for _ in range(runs):
        timings, version = measure_once(page_path)
        for key, values in samples.items():
            if timings.get(key) is not None:
                values.append(timings[key])
    return {key: statistics.median(v) if v else None for key, v in samples.items()}, version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    timings, version = measure(args.page, args.runs)
    print(f"chromium={version} " + " ".join(f"{k}_ms={v}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
