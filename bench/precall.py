"""Ground truth for the pre-call test: what it reports against loss and delay imposed in front of
a real TURN server.

    .venv/bin/python bench/precall.py [--browser chromium|firefox] [--runs 1]

A real coturn on this machine, with bench/relay.py's TurnFront in front of it: the collector hands
out the front as its TURN server (UDP), and the front drops `loss` of each client's media packets
on their way in to TURN (evenly, so that conditions compare; it counts what it dropped) and holds
the others `delay` ms. Each packet between the test's two pcs is impaired once: one trip from one
pc to the other through TURN (what the test's rtt is: one client-TURN round trip, as the deployed
client meant it) is imposed `delay` plus the test's own trip without delay. The front also counts
the bytes of the ramp's packets it passed on (the only datagrams over the ramp's packet size): the
most in any half second is the throughput ground truth. Each condition is one
`makePrecallTest()` in a headless page. Goals: loss within 1.5 points of what the front dropped,
rtt within 10 % + 10 ms of the imposed trip, throughput within a factor of 2 of what the front passed.

Then what a test costs the page's main thread (Chromium: its task time from CDP; Firefox: its
main thread's CPU from /proc, as bench/client_overhead.py measures them) and its long tasks,
against the page left idle as long. Then the call's own setup (addNewFabric -> its pc connected, a loopback call with the fake camera)
with no test running and with a test stopped by that very addNewFabric, and how long after
addNewFabric the test's pcs were closed.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client_overhead import ChromiumClock, FirefoxClock  # noqa: E402
from bench.relay import TurnFront  # noqa: E402
from collector import coturn  # noqa: E402
from pyclient import precall  # noqa: E402
from tests.browser.call_page import LOOPBACK_CALL  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector, start_page_server  # noqa: E402

PAGE = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script>
window.probeClosed = [];  // when each of the test's relay-only pcs was closed
const NativePc = RTCPeerConnection;
window.RTCPeerConnection = function (config) {
  const pc = new NativePc(config);
  if (config && config.iceTransportPolicy === "relay") {
    const close = pc.close.bind(pc);
    pc.close = () => { probeClosed.push(performance.now()); close(); };
  }
  return pc;
};
window.RTCPeerConnection.prototype = NativePc.prototype;
window.longTasks = [];
try {
  new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)))
    .observe({ entryTypes: ["longtask"] });
} catch (err) { /* no long task timing in this engine */ }
</script>
<script src="{collector}callstats.js"></script><script>
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
window.auth = null;
callstats.initialize(app.appID, app.appSecret, "bench", (status) => { window.auth = status; }, null,
                     {disablePrecalltest: true});
window.test = () => new Promise((resolve) => callstats.makePrecallTest((status, results) => resolve({status, results})));
// a call set up while `testing` (a test started 2.5 s before, in the middle of its measurements)
window.callSetup = async (testing) => {
  let stopped = null;
  if (testing) {
    callstats.makePrecallTest((status, results) => { stopped = results.reason; });
    await new Promise((r) => setTimeout(r, 2500));
  }
  window.probeClosed = [];
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  const started = performance.now();
  const connected = new Promise((resolve) => pc1.addEventListener("connectionstatechange",
    () => pc1.connectionState === "connected" && resolve(performance.now())));
  callstats.addNewFabric(pc1, "bob", "multiplex", "setup-" + Math.random());
  await loopbackCall(pc1, pc2, false);
  const setupMs = (await connected) - started;
  const stopMs = probeClosed.length ? Math.max(...probeClosed) - started : null;
  pc1.close(); pc2.close();
  await new Promise((r) => setTimeout(r, 500));
  return { setupMs, stopMs, stopped };
};
</script></body></html>"""

RAMP_STEP_S = precall.MEASURE["ramp"]["stepMs"] / 1000  # the probe's window, the front's too
# the ramp's packets are the only datagrams this big (the trips' are ~80 bytes on the wire, SACKs less)
RAMP_PACKET_BYTES = precall.MEASURE["ramp"]["packetBytes"]
CONDITIONS = [(loss, delay) for delay in (0.0, 50.0, 150.0) for loss in (0.0, 0.02, 0.05)] + [(0.05, 100.0)]


def measure(page, front: TurnFront, loss: float, delay: float) -> dict:
    front.set(loss, delay)
    before = {client: list(seen) for client, seen in front.media.items()}
    passed_before = len(front.passed)
    outcome = page.evaluate("test()")
    seen = sum(s for s, _ in front.media.values()) - sum(s for s, _ in before.values())
    dropped = sum(d for _, d in front.media.values()) - sum(d for _, d in before.values())
    return {**outcome["results"], "status": outcome["status"], "true_loss": dropped / seen if seen else 0.0,
            "true_kbps": front.peak_kbps(passed_before, RAMP_STEP_S, min_bytes=RAMP_PACKET_BYTES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--browser", choices=load_playwright_config().ENGINES, default="chromium")
    parser.add_argument("--runs", type=int, default=1, help="tests per condition")
    parser.add_argument("--setups", type=int, default=5, help="calls set up with and without a test")
    args = parser.parse_args()
    console = Console(width=180)
    folder = Path(tempfile.mkdtemp(prefix="precall-"))
    turn = coturn.start(folder / "coturn")
    front = TurnFront(turn.host, turn.port).start()
    collector = start_collector(folder / "collector" / "data",
                                extra=("--turn-url", f"{front.url('udp')}", "--turn-secret", turn.turn.secret))
    pages_dir = folder / "pages"
    pages_dir.mkdir()
    pages = start_page_server(collector, pages_dir, folder / "pages-server" / "data")
    results, setups, costs = [], {False: [], True: []}, []
    try:
        app = run_cli("apps", "create", "--name", "precall-bench", "--data-dir", str(collector.data_dir))
        (pages_dir / "precall.html").write_text(PAGE.replace("{collector}", collector.url))
        with sync_playwright() as p:
            config = load_playwright_config()
            browser = getattr(p, args.browser).launch(**config.launch_options(args.browser, spki=collector.spki))
            page = browser.new_page(**config.context_options(args.browser))
            page.goto(f"{pages.url}precall.html#{json.dumps(app)}")
            page.wait_for_function("auth === 'success'", timeout=60_000)
            for loss, delay in CONDITIONS:
                for _ in range(args.runs):
                    console.print(f"loss {loss:.0%}, delay {delay:.0f} ms ...")
                    results.append(((loss, delay), measure(page, front, loss, delay)))
            front.set(0.0, 0.0)
            clock = (ChromiumClock(browser, page.context, page, False) if args.browser == "chromium"
                     else FirefoxClock())
            costs = [main_thread(page, clock, testing) for _ in range(args.setups) for testing in (False, True)]
            for _ in range(args.setups):
                for testing in (False, True):
                    setups[testing].append(page.evaluate("(t) => callSetup(t)", testing))
            browser.close()
    finally:
        pages.stop()
        collector.stop()
        front.stop()
        turn.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(console, results, args.browser)
    report_costs(console, costs, args.browser)
    report_setups(console, setups, args.browser)


def main_thread(page, clock, testing: bool) -> dict:
    """The page's main-thread time and long tasks over one test, or over as long idle."""
    page.evaluate("longTasks = []")
    started = time.monotonic()
    clock.start()
    if testing:
        outcome = page.evaluate("test()")
        seconds = time.monotonic() - started
    else:
        page.wait_for_timeout(8000)
        outcome, seconds = None, 8.0
    used = clock.stop()
    tasks = page.evaluate("longTasks")
    return {"testing": testing, "seconds": seconds, "main_ms": used["main_ms"], "worker_ms": used["worker_ms"],
            "long_tasks": len(tasks), "long_ms": sum(tasks),
            "status": outcome and outcome["status"]}


def report_costs(console: Console, costs: list, engine: str) -> None:
    table = Table(title=f"The page's main thread in {engine}: during a pre-call test, and idle ({len(costs) // 2} each)")
    for column in ("", "seconds", "main thread ms (median)", "per second", "Python's thread ms", "long tasks",
                   "long task ms"):
        table.add_column(column, justify="right")
    for testing in (False, True):
        runs = [c for c in costs if c["testing"] == testing]
        mid = lambda key: sorted(r[key] for r in runs)[len(runs) // 2]  # noqa: E731
        table.add_row("during a test" if testing else "idle", f"{mid('seconds'):.1f}", f"{mid('main_ms'):.0f}",
                      f"{mid('main_ms') / mid('seconds'):.1f}", f"{mid('worker_ms'):.0f}",
                      str(sum(r["long_tasks"] for r in runs)), f"{sum(r['long_ms'] for r in runs):.0f}")
    console.print(table)


def report_setups(console: Console, setups: dict, engine: str) -> None:
    table = Table(title=f"A call's setup in {engine} (addNewFabric -> connected, ms), {len(setups[False])} calls each")
    for column in ("", "median", "min", "max", "test's pcs closed after (median ms)", "test's result"):
        table.add_column(column, justify="right")
    for testing, runs in setups.items():
        ms = sorted(r["setupMs"] for r in runs)
        stops = sorted(r["stopMs"] for r in runs if r["stopMs"] is not None)
        table.add_row("during a pre-call test" if testing else "no test", f"{ms[len(ms) // 2]:.0f}", f"{ms[0]:.0f}",
                      f"{ms[-1]:.0f}", f"{stops[len(stops) // 2]:.1f}" if stops else "-",
                      ", ".join(sorted({str(r["stopped"]) for r in runs})) if testing else "-")
    console.print(table)


def report(console: Console, results: list, engine: str) -> None:
    base = next((r["rtt"] for (loss, delay), r in results if loss == 0 and delay == 0 and r["rtt"]), 0.0)
    table = Table(title=f"The pre-call test in {engine} against loss and delay in front of coturn "
                        f"(its own trip without delay: {base:.1f} ms)")
    for column in ("loss %", "delay ms", "front dropped %", "reported loss %", "error pp", "imposed rtt ms",
                   "reported rtt ms", "rtt error ms", "front passed kbit/s", "throughput kbit/s", "x",
                   "within goals", "jitter ms", "status"):
        table.add_column(column, justify="right")
    for (loss, delay), r in results:
        error = None if r["fractionalLoss"] is None else (r["fractionalLoss"] - r["true_loss"]) * 100
        imposed = delay + base
        rtt_error = None if r["rtt"] is None else r["rtt"] - imposed
        ratio = r["throughput"] / r["true_kbps"] if r["throughput"] and r["true_kbps"] else None
        ok = (error is not None and abs(error) <= 1.5 and rtt_error is not None
              and abs(rtt_error) <= 0.1 * imposed + 10 and ratio is not None and 0.5 <= ratio <= 2)
        table.add_row(f"{loss * 100:.0f}", f"{delay:.0f}", f"{r['true_loss'] * 100:.2f}",
                      "-" if r["fractionalLoss"] is None else f"{r['fractionalLoss'] * 100:.2f}",
                      "-" if error is None else f"{error:+.2f}", f"{imposed:.0f}",
                      "-" if r["rtt"] is None else f"{r['rtt']:.1f}",
                      "-" if rtt_error is None else f"{rtt_error:+.1f}", f"{r['true_kbps']:.0f}",
                      "-" if r["throughput"] is None else f"{r['throughput']:.0f}",
                      "-" if ratio is None else f"{ratio:.2f}", "yes" if ok else "NO",
                      "-" if r["jitter"] is None else f"{r['jitter']:.1f}",
                      r["status"] if r["status"] == "success" else f"{r['status']} ({r.get('reason')})")
    console.print(table)


if __name__ == "__main__":
    main()
