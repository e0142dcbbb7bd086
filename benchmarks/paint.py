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


def measure_once(page_path: Path) -> tuple[float | None, float | None, str]:
    """One fresh browser's first contentful paint and load-event end, in ms, and its version."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", _only_files)
            page.goto(page_path.resolve().as_uri(), wait_until="load",
                      timeout=LOAD_TIMEOUT_MS)
            timings = page.evaluate(TIMINGS_JS)
            return timings["fcp"], timings["load"], browser.version
        finally:
            browser.close()


def measure(page_path: Path, runs: int) -> tuple[float | None, float | None, str]:
    """Median first contentful paint and load-event end over ``runs`` fresh browsers."""
    paints, loads, version = [], [], ""
    for _ in range(runs):
        paint, load, version = measure_once(page_path)
        if paint is not None:
            paints.append(paint)
        if load is not None:
            loads.append(load)
    return (statistics.median(paints) if paints else None,
            statistics.median(loads) if loads else None, version)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    paint, load, version = measure(args.page, args.runs)
    print(f"chromium={version} first_contentful_paint_ms={paint} load_event_end_ms={load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
