"""How long until callstats is ready, next to bare Pyodide, and what a first visit downloads.

    .venv/bin/python bench/boot.py [--runs 5]

Variants, each a page on another origin than the files it loads:
- "bare Pyodide (npm)": loadPyodide() from the npm package's files as shipped;
- "bare Pyodide (our stdlib)": the same with dist/'s trimmed, precompiled python_stdlib.zip, so the
  long-task time that callstats itself adds can be told apart from what the stdlib saves;
- "callstats.ready": the script tag, until callstats.ready resolves (Python started, validators built).
Real Chromium; every file served by the real collector (TLS, HTTP/2, pre-compressed twins). Each
variant has its own browser context: one cold visit (bytes counted), then `runs` warm visits (HTTP
cache filled) reported as medians. Variants alternate, so machine noise hits all alike: compare the
ratios, not the absolute times. Long tasks are counted from navigation until 1 s after done.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import build  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import start_collector  # noqa: E402

OBSERVE = """<script>
window.longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); })
  .observe({type: "longtask", buffered: true});
</script>"""

BARE = OBSERVE + """<script type="module">
const { loadPyodide } = await import("{assets}pyodide.mjs");
await loadPyodide({ indexURL: "{assets}" });
window.done = performance.now();
</script>"""

STOCK, SAME_STDLIB, OURS = "bare Pyodide (npm)", "bare Pyodide (our stdlib)", "callstats.ready"

READY = OBSERVE + """<script src="{collector}callstats.js"></script>
<script>callstats.ready.then(() => { window.done = performance.now(); });</script>"""


def measure(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_function("window.done", timeout=120_000)
    page.wait_for_timeout(1000)  # work left running after "done" counts too
    return page.evaluate("({ms: done, longTasks: longTasks.reduce((a, b) => a + b, 0), count: longTasks.length})")


def first_visit_bytes(context, url: str) -> dict:
    """Bytes on the wire (as served: compressed where the server had a compressed twin) per file."""
    page = context.new_page()
    page.on("pageerror", lambda exc: print("page error:", exc))
    sizes = {}
    page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
    measure(page, url)
    page.close()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    dist = ROOT / "dist"
    assets_dir = next(dist.glob("callstats-*/"))
    console = Console(width=200)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served = tmp / "served"
        shutil.copytree(dist, served)
        stock = build.fetch_pyodide()
        for label, stdlib in (("npm", stock / "python_stdlib.zip"), ("ours", assets_dir / "python_stdlib.zip")):
            folder = served / f"bare-{label}"
            folder.mkdir()
            for name in build.PYODIDE_FILES + ["pyodide-lock.json"]:
                shutil.copy(stock / name, folder / name)
            shutil.copy(stdlib, folder / "python_stdlib.zip")
            build.compress(folder)
        collector = start_collector(tmp / "collector", dist=served)
        pages = tmp / "pages"
        pages.mkdir()
        for label in ("npm", "ours"):
            (pages / f"bare-{label}.html").write_text(BARE.replace("{assets}", f"{collector.url}bare-{label}/"))
        (pages / "ready.html").write_text(READY.replace("{collector}", collector.url))
        cert = ("--certfile", str(tmp / "collector" / "collector-cert.pem"),
                "--keyfile", str(tmp / "collector" / "collector-key.pem"))
        app = start_collector(tmp / "app", dist=pages, extra=cert)
        try:
            results, downloads = run(args.runs, app.url, collector.spki)
        finally:
            app.stop()
            collector.stop()
    report(console, results, downloads, args.runs)


def run(runs: int, app_url: str, spki: str):
    options = load_playwright_config().launch_options(spki=spki, media=False)
    variants = {STOCK: app_url + "bare-npm.html", SAME_STDLIB: app_url + "bare-ours.html",
                OURS: app_url + "ready.html"}
    results = {name: [] for name in variants}
    downloads = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(**options)
        contexts = {name: browser.new_context() for name in variants}
        for name, url in variants.items():
            downloads[name] = first_visit_bytes(contexts[name], url)
        for _ in range(runs):
            for name, url in variants.items():
                page = contexts[name].new_page()
                results[name].append(measure(page, url))
                page.close()
        browser.close()
    return results, downloads


def report(console: Console, results: dict, downloads: dict, runs: int) -> None:
    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    table = Table(title=f"Start-up, warm HTTP cache, median of {runs}")
    for col in ("variant", "ready ms", "x bare (npm)", "long-task ms", "long tasks",
                "long-task ms added vs same stdlib"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name in results:
        ms, lt = median(name, "ms"), median(name, "longTasks")
        added = f"{lt - median(SAME_STDLIB, 'longTasks'):+.0f}" if name == OURS else ""
        table.add_row(name, f"{ms:.0f}", f"{ms / median(STOCK, 'ms'):.2f}", f"{lt:.0f}",
                      f"{median(name, 'count'):.0f}", added)
    console.print(table)

    files = Table(title="First visit: bytes on the wire per file (as served, compressed)")
    files.add_column("file")
    files.add_column("bytes", justify="right")
    ours = downloads[OURS]
    for url, size in sorted(ours.items(), key=lambda kv: -kv[1]):
        if not url.endswith(".html"):
            files.add_row(url.rsplit("/", 1)[-1], f"{size:,}")
    total = sum(size for url, size in ours.items() if not url.endswith(".html"))
    files.add_row("[b]total, callstats[/b]", f"[b]{total:,}[/b]")
    stock = sum(size for url, size in downloads[STOCK].items() if not url.endswith(".html"))
    files.add_row("total, bare Pyodide (npm)", f"{stock:,}")
    console.print(files)


if __name__ == "__main__":
    main()
