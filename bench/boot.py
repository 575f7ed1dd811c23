"""What starting callstats costs the page, next to bare Pyodide, and what a first visit downloads.

    .venv/bin/python bench/boot.py [--runs 5]

Variants, each a page on another origin than the files it loads:
- "page alone (4 s)": the same page without any script of ours, done after 4 s, about as long as
  callstats takes to start (the baseline of main-thread time: an idle page is not free);
- "bare Pyodide in a worker (npm)": a blob: module worker that runs loadPyodide() from the npm
  package's files as shipped, the floor for Python off the main thread;
- "bare Pyodide on the page (npm)": the same on the main thread;
- "callstats.ready (worker)": the script tag, until callstats.ready resolves (Python started in its
  worker, validators built, ready to answer);
- "callstats.ready (on the page)": the same where the page's CSP forbids the worker (the fallback);
- "the page's own call, alone" / "... while callstats starts": a page that sets up a call of its own
  (two pcs, fake camera and microphone) at once; time until both are connected, without and with
  our script starting beside it (initialize and addNewFabric for both pcs, as an app would).
- "csInitCallback: ...": ms from `initialize` to csInitCallback's success, the deployed callstats.js
  3.73.16 (npm `callstats-js`, fetched here and checked by sha256, never shipped; pointed at the same
  collector with `window.csioproxy` and `setProxyConfig`, as README says) beside ours, in its worker
  and on the page. Integrations add their fabrics from this callback.

Per visit: ms from navigation until done; long tasks (> 50 ms) on the main thread from navigation
until 1 s after done; main-thread busy ms over the same window (Chromium's own task time, CDP
Performance.getMetrics TaskDuration), and what that adds to "page alone". Real Chromium; every file
served by the real collector (TLS, HTTP/2, pre-compressed twins). Each variant has its own browser
context: one cold visit (bytes counted), then `runs` warm visits (HTTP cache filled) reported as
medians. Variants alternate, so machine noise hits all alike: compare ratios, not absolute times.
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
from tests.browser.call_page import LOOPBACK_CALL  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector  # noqa: E402

OBSERVE = """<script>
window.longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); })
  .observe({type: "longtask", buffered: true});
</script>"""

# as long as callstats takes to start, give or take: the idle page's own main-thread time over as long
ALONE = OBSERVE + """<script>setTimeout(() => { window.done = performance.now(); }, 4000);</script>"""

BARE_PAGE = OBSERVE + """<script type="module">
const { loadPyodide } = await import("{assets}pyodide.mjs");
await loadPyodide({ indexURL: "{assets}" });
window.done = performance.now();
</script>"""

BARE_WORKER = OBSERVE + """<script>
const code = `const { loadPyodide } = await import("{assets}pyodide.mjs");
await loadPyodide({ indexURL: "{assets}" }); postMessage("done");`;
const worker = new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), { type: "module" });
worker.onmessage = () => { window.done = performance.now(); };
</script>"""

READY = OBSERVE + """<script src="{collector}callstats.js"></script>
<script>callstats.ready.then(() => { window.done = performance.now(); });</script>"""

# The fallback: a site whose policy allows scripts but no blob: worker.
NO_WORKERS = """<meta http-equiv="Content-Security-Policy" content="worker-src 'self'">"""

CALL = LOOPBACK_CALL + """<script>
const pcs = [new RTCPeerConnection(), new RTCPeerConnection()];
if (window.callstats) {
  callstats.initialize("{app}", "{secret}", "alice");
  pcs.forEach((pc, i) => callstats.addNewFabric(pc, "bob" + i, "multiplex", "boot"));
}
const connected = () => pcs.every((pc) => pc.connectionState === "connected");
pcs.forEach((pc) => pc.addEventListener("connectionstatechange", () => {
  if (connected() && !window.done) window.done = performance.now();
}));
loopbackCall(pcs[0], pcs[1], true);
</script>"""

ALONE_V, BARE_WORKER_V, BARE_PAGE_V = "page alone (4 s)", "bare Pyodide in a worker (npm)", "bare Pyodide on the page (npm)"
OURS_V, FALLBACK_V = "callstats.ready (worker)", "callstats.ready (on the page: CSP forbids workers)"
CALL_V, CALL_OURS_V = "the page's own call, alone", "the page's own call while callstats starts"
INIT_DEPLOYED_V, INIT_OURS_V = "csInitCallback: deployed callstats.js 3.73.16", "csInitCallback: ours (worker)"
INIT_FALLBACK_V = "csInitCallback: ours (on the page)"
DEPLOYED = {"version": "3.73.16", "sha256": "40ff44288a64adb04916fa83adfdf0b0f27efa7fb2ffd0ff4b059140e2cc6fd7"}

# initialize -> csInitCallback("success"), on the page's clock
INIT = OBSERVE + """{before}<script src="{script}"></script><script>
const cs = new callstats();  // the deployed client's methods are its instance's (ours: both)
{proxy}
const asked = performance.now();
cs.initialize("{app}", "{secret}", "alice", (status) => {
  if (status !== "success" || window.done) return;
  window.done = performance.now();
  window.initMs = window.done - asked;
});
</script>"""
# the deployed client speaks to a self-hosted collector this way (README: drop-in)
DEPLOYED_PROXY = """cs.setProxyConfig({collectorURL: "{collector}", authServiceURL: "{collector}",
  restEventURL: "{collector}v1/apps/", restStatsURL: "{collector}v1/apps/"});"""




def pages_of(collector_url: str, app: dict) -> dict:
    """Each variant's page, by variant."""
    assets = f"{collector_url}bare-npm/"
    pages = {
        ALONE_V: ALONE,
        BARE_WORKER_V: BARE_WORKER.replace("{assets}", assets),
        BARE_PAGE_V: BARE_PAGE.replace("{assets}", assets),
        OURS_V: READY,
        FALLBACK_V: NO_WORKERS + READY,
        CALL_V: OBSERVE + CALL,
        CALL_OURS_V: READY.replace("window.done", "window.ready") + CALL,
        INIT_DEPLOYED_V: INIT.replace("{before}", "<script>window.csioproxy = true;</script>")
                             .replace("{script}", "callstats.min.js").replace("{proxy}", DEPLOYED_PROXY),
        INIT_OURS_V: INIT.replace("{before}", "").replace("{script}", "{collector}callstats.js").replace("{proxy}", ""),
        INIT_FALLBACK_V: NO_WORKERS + INIT.replace("{before}", "").replace("{script}", "{collector}callstats.js")
                                          .replace("{proxy}", ""),
    }
    return {name: html.replace("{collector}", collector_url).replace("{app}", app["appID"])
            .replace("{secret}", app["appSecret"]) for name, html in pages.items()}


# Waiting in the page on a slow timer: Playwright's wait_for_function polls every animation frame,
# main-thread time that would count against whichever variant takes longest.
UNTIL_DONE = "new Promise((resolve) => { const check = () => window.done ? resolve() : setTimeout(check, 250); check(); })"


def measure(page, url: str) -> dict:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = task_ms(cdp)
    page.goto(url)
    page.evaluate(UNTIL_DONE)
    page.wait_for_timeout(1000)  # work left running after "done" counts too
    busy = task_ms(cdp) - before
    found = page.evaluate("({ms: done, initMs: window.initMs ?? null, "
                          "longTasks: longTasks.reduce((a, b) => a + b, 0), count: longTasks.length})")
    return {**found, "busy": busy}


def task_ms(cdp) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["TaskDuration"] * 1000


def first_visit_bytes(context, url: str, files: "Served") -> dict:
    """Bytes of each file a first visit downloads from the collector, the worker's included, as
    served (its Brotli twin: Chromium asks for br; Playwright cannot size a worker's responses)."""
    page = context.new_page()
    page.on("pageerror", lambda exc: print("page error:", exc))
    sizes = {}
    context.on("requestfinished", lambda r: files.owns(r.url) and sizes.__setitem__(r.url, files.size(r.url)))
    measure(page, url)
    page.close()
    return sizes


class Served:
    """The folder the collector serves, and its base URL."""

    def __init__(self, folder: Path, url: str):
        self.folder, self.url = folder, url

    def owns(self, url: str) -> bool:
        """A file it serves (not the collector's API: the loader authenticates at once)."""
        return url.startswith(self.url) and (self.folder / url[len(self.url):].split("?")[0]).is_file()

    def size(self, url: str) -> int:
        path = self.folder / url[len(self.url):].split("?")[0]
        twin = path.with_name(path.name + ".br")
        return (twin if twin.exists() else path).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    dist = ROOT / "dist"
    console = Console(width=200)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served = tmp / "served"
        shutil.copytree(dist, served)
        stock = build.fetch_pyodide()
        folder = served / "bare-npm"
        folder.mkdir()
        for name in build.PYODIDE_FILES + ["pyodide-lock.json"]:
            shutil.copy(stock / name, folder / name)
        build.compress(folder)
        collector = start_collector(tmp / "collector", dist=served)
        app = run_cli("apps", "create", "--name", "boot", "--data-dir", str(tmp / "collector"))
        pages = tmp / "pages"
        pages.mkdir()
        shutil.copy(build.fetch_npm("callstats-js", DEPLOYED) / "callstats.min.js", pages / "callstats.min.js")
        urls = {}
        for i, (name, html) in enumerate(pages_of(collector.url, app).items()):
            (pages / f"variant-{i}.html").write_text(html)
            urls[name] = f"variant-{i}.html"
        cert = ("--certfile", str(tmp / "collector" / "collector-cert.pem"),
                "--keyfile", str(tmp / "collector" / "collector-key.pem"))
        origin = start_collector(tmp / "app", dist=pages, extra=cert)
        try:
            variants = {name: origin.url + url for name, url in urls.items()}
            results, downloads = run(args.runs, variants, collector.spki, Served(served, collector.url))
        finally:
            origin.stop()
            collector.stop()
    report(console, results, downloads, args.runs)


def run(runs: int, variants: dict, spki: str, files: Served):
    options = load_playwright_config().launch_options(spki=spki)
    results = {name: [] for name in variants}
    downloads = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(**options)
        contexts = {name: browser.new_context() for name in variants}
        for name, url in variants.items():
            downloads[name] = first_visit_bytes(contexts[name], url, files)
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

    table = Table(title=f"Start-up, warm HTTP cache, median of {runs}; main thread from navigation to 1 s after done")
    for col in ("variant", "done ms", "x", "long-task ms", "long tasks", "busy ms", "busy ms added"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    reference = {BARE_WORKER_V: None, BARE_PAGE_V: BARE_WORKER_V, OURS_V: BARE_WORKER_V,
                 FALLBACK_V: BARE_WORKER_V, CALL_V: None, CALL_OURS_V: CALL_V}
    alone = median(ALONE_V, "busy")
    for name in results:
        ms, base = median(name, "ms"), reference.get(name)
        table.add_row(name, f"{ms:.0f}", f"{ms / median(base, 'ms'):.2f}" if base else "",
                      f"{median(name, 'longTasks'):.0f}", f"{median(name, 'count'):.0f}",
                      f"{median(name, 'busy'):.0f}", "" if name == ALONE_V else f"{median(name, 'busy') - alone:+.0f}")
        if name in (ALONE_V, FALLBACK_V):
            table.add_section()
    console.print(table)
    console.print('"x": done ms over bare Pyodide in a worker (the page\'s own call: over the call alone); '
                  '"busy ms added": over the page alone.')

    init = Table(title=f"initialize -> csInitCallback(\"success\"), warm HTTP cache, ms, median of {runs} (and each run)")
    for col in ("client", "ms", "x deployed", "runs"):
        init.add_column(col, justify="left" if col in ("client", "runs") else "right")
    deployed = median(INIT_DEPLOYED_V, "initMs")
    for name in (INIT_DEPLOYED_V, INIT_OURS_V, INIT_FALLBACK_V):
        init.add_row(name, f"{median(name, 'initMs'):.0f}", f"{median(name, 'initMs') / deployed:.2f}",
                     ", ".join(f"{r['initMs']:.0f}" for r in results[name]))
    console.print(init)

    files = Table(title="First visit: bytes on the wire per file (as served, compressed)")
    files.add_column("file")
    files.add_column("bytes", justify="right")
    ours = downloads[OURS_V]
    for url, size in sorted(ours.items(), key=lambda kv: -kv[1]):
        files.add_row(url.rsplit("/", 1)[-1], f"{size:,}")
    files.add_row("[b]total, callstats[/b]", f"[b]{sum(ours.values()):,}[/b]")
    stock = sum(downloads[BARE_WORKER_V].values())
    files.add_row("total, bare Pyodide (npm)", f"{stock:,}")
    console.print(files)


if __name__ == "__main__":
    main()
