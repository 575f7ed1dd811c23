"""Python's time per stats poll (in its worker), in a real call, next to what reading the stats costs.

    .venv/bin/python bench/poll.py [--seconds 30]

A page with two RTCPeerConnections calling each other, each sending audio and video (4 RTP streams
per pc: 2 outbound, 2 inbound), both monitored; the collector tells the client to poll every 2 s.
Side by side, per poll of both pcs:
- pyclient: Python's own work (parse the JSON, figures, E-model, delta, csStatsCallback payload),
  as measured around it with performance.now(), in the worker (off the page's main thread);
- baseline: JSON.stringify([...report.values()]) of both reports in JS, the least any monitor that
  moves the report as one value must do (getStats() itself runs off the main thread's JS).
Also: long tasks (over 50 ms) on the main thread while monitoring, after start-up.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.call_page import LOOPBACK_CALL  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector  # noqa: E402

PAGE = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script>
window.longTasks = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push([e.startTime, e.duration]); })
  .observe({type: "longtask", buffered: true});
</script>
<script src="{collector}callstats.js"></script>
<script>
window.baseline = [];
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
callstats.initialize(app.appID, app.appSecret, "bench", null, null, {});
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
callstats.addNewFabric(pc1, "b", "multiplex", "bench");
callstats.addNewFabric(pc2, "a", "multiplex", "bench");
(async () => {
  await loopbackCall(pc1, pc2, true);
  await callstats.ready;
  window.readyAt = performance.now();
  setInterval(async () => {
    const reports = [await pc1.getStats(), await pc2.getStats()];
    const t = performance.now();
    for (const r of reports) JSON.stringify([...r.values()]);
    baseline.push(performance.now() - t);
  }, 2000);
})();
</script></body></html>"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        collector = start_collector(tmp / "c", dist=ROOT / "dist", extra=("--submission-interval", "2000"))
        pages = tmp / "pages"
        pages.mkdir()
        (pages / "poll.html").write_text(PAGE.replace("{collector}", collector.url))
        cert = ("--certfile", str(tmp / "c" / "collector-cert.pem"), "--keyfile", str(tmp / "c" / "collector-key.pem"))
        app_server = start_collector(tmp / "a", dist=pages, extra=cert)
        app = run_cli("apps", "create", "--name", "bench", "--data-dir", str(tmp / "c"))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(**load_playwright_config().launch_options(spki=collector.spki))
                page = browser.new_page()
                page.goto(app_server.url + "poll.html#" + quote(json.dumps(app)))
                page.wait_for_function("window.readyAt", timeout=120_000)
                page.wait_for_timeout(args.seconds * 1000)
                result = page.evaluate("""async () => {
                    const state = await callstats._inspect();
                    return {python: state.pollMs, baseline, streams: state.fabrics.length,
                            longTasks: longTasks.filter(([start]) => start > readyAt).map(([, d]) => d)};
                }""")
                browser.close()
        finally:
            app_server.stop()
            collector.stop()
    report(result, args.seconds)


def report(result: dict, seconds: int) -> None:
    def row(values):
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        return statistics.median(values), p95, len(values)

    console = Console(width=160)
    table = Table(title="Time per poll of 2 pcs x 4 RTP streams (ms): Python in its worker, the baseline on the page")
    for col in ("what", "median", "p95", "polls", "x baseline (median)"):
        table.add_column(col, justify="left" if col == "what" else "right")
    py, base = row(result["python"][1:]), row(result["baseline"])  # the first poll has no interval yet
    table.add_row("pyclient: Python's work per poll", f"{py[0]:.2f}", f"{py[1]:.2f}", str(py[2]), f"{py[0] / base[0]:.1f}")
    table.add_row("baseline: JSON.stringify of the reports", f"{base[0]:.2f}", f"{base[1]:.2f}", str(base[2]), "1.0")
    console.print(table)
    lt = result["longTasks"]
    console.print(f"long tasks while monitoring for {seconds} s after ready: {len(lt)}, {sum(lt):.0f} ms in all")


if __name__ == "__main__":
    main()
