"""What a monitor costs the page, side by side: no monitor, Pyodide alone, ours (Python in its
worker, and on the page where the page's CSP forbids the worker), @jitsi/rtcstats,
webrtc-issue-detector.

    .venv/bin/python bench/client_overhead.py [--browser chromium|firefox] [--seconds 60] [--streams 2 4 8]
                                              [--rounds 1] [--profile]

The same real call (two pcs in one page, fake camera and microphone; N RTP streams = N/2 tracks
sent one way, each an outbound and an inbound stream) in headless Chromium (or Firefox), once per monitor, every
monitor polling getStats() every 5 s (ours: the collector's submission interval set to 5 s, so it
also uploads every 5 s; rtcstats sends every poll as it is produced). Measured over `--seconds`
after a warm-up, then scaled to a minute:

- main-thread ms per poll: Chromium's own task time (CDP Performance.getMetrics TaskDuration) minus
  the no-monitor run's, divided by the polls; for ours also Python's own per-poll time (median, p95)
  as it measures it;
- worker ms per poll (ours): the CPU time of our worker (Python and its host), from a CPU profile of
  the worker over the same window: the work moved off the page, which still runs on the machine;
- long tasks (> 50 ms) per minute, the page's JS heap (and what it adds to the no-monitor run's),
  wasm memory (ours: Pyodide's linear memory, in the worker or on the page);
- bytes and requests sent per minute, as they go on the wire: our HTTP/2 requests to the collector
  (bodies as sent, headers HPACK-encoded on the page's one connection as Chromium sends them, and
  the 9-byte frame headers), rtcstats' WebSocket frames to a local endpoint (payload, frame header
  and mask; Playwright's WebSocket route answers as rtcstats-server does). webrtc-issue-detector
  uploads nothing (it diagnoses in the page).

"Pyodide alone" is our script loaded and Python started (in its worker) but never initialized:
what the loader and the worker's presence cost the page before any work.

In Firefox (`--browser firefox`), which gives a driver no task times, profiles or heap figures,
the main-thread and worker columns are CPU time from Linux's /proc: the content processes' main
threads ("Isolated Web Co", "Web Content") and their worker threads ("DOM Worker"), from each
thread's schedstat (ns on the CPU), the no-monitor run's subtracted likewise. Firefox has no Long Tasks API and no JS heap figure for
a page: those cells say "n/a" rather than a made-up zero. --profile is Chromium's only.

With --profile each run also records a CPU profile of the window (CDP Profiler) and a second
table splits the added main-thread time into garbage collection, wasm (our Python), JavaScript,
browser natives called from JS (fetch, getStats, postMessage...) and Chromium's own "(program)".

Machines are noisy: compare the ratios (x rtcstats), not the absolute times; `--rounds 3` runs
every monitor three times in turn and gives the medians.
"""

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import hpack
from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
sys.path.insert(0, str(ROOT))

from tests.browser.call_page import LOOPBACK_CALL  # noqa: E402,F401  (the same media the tests use)
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector, start_page_server  # noqa: E402

POLL_MS = 5000
RTCSTATS_ENDPOINT = "wss://rtcstats.bench.invalid"
NONE, IDLE, OURS = "no monitor", "Pyodide alone (ours, idle)", "callstats.js (ours)"
OURS_MAIN = "callstats.js (ours, on the page: CSP forbids workers)"
RTCSTATS, DETECTOR = "@jitsi/rtcstats 9.7.1", "webrtc-issue-detector 1.17.3"

PAGE = """<!doctype html><html><body><script>
window.longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push([e.startTime, e.duration]); })
  .observe({type: "longtask", buffered: true});
</script>
{monitor}
<script>
async function call(streams) {
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  window.monitorAdd(pc1, 1); window.monitorAdd(pc2, 2);
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const [audio, video] = [media.getAudioTracks()[0], media.getVideoTracks()[0]];
  for (let i = 0; i < streams / 2; i++) pc1.addTrack((i % 2 ? video : audio).clone(), media);
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  window.pcs = [pc1, pc2];
}
</script></body></html>"""

MONITORS = {
    NONE: "<script>window.monitorAdd = () => {}; window.monitorReady = Promise.resolve();</script>",
    # "Pyodide alone": see the docstring
    IDLE: """<script src="{collector}callstats.js"></script><script>
window.monitorAdd = () => {}; window.monitorReady = callstats.ready;
</script>""",
    OURS: """<script src="{collector}callstats.js"></script><script>
callstats.initialize("{app}", "{secret}", "alice");
window.monitorAdd = (pc, i) => callstats.addNewFabric(pc, "bob" + i, "multiplex", "bench");
window.monitorReady = callstats.ready;
</script>""",
    # the fallback: the page's policy (NO_WORKERS, in its head) forbids the worker
    OURS_MAIN: """<script src="{collector}callstats.js"></script><script>
callstats.initialize("{app}", "{secret}", "alice");
window.monitorAdd = (pc, i) => callstats.addNewFabric(pc, "bob" + i, "multiplex", "bench");
window.monitorReady = callstats.ready;
</script>""",
    RTCSTATS: """<script src="rtcstats.js"></script><script>
startRtcstats("%s", %d);
window.monitorAdd = () => {}; window.monitorReady = Promise.resolve();
</script>""" % (RTCSTATS_ENDPOINT, POLL_MS),
    DETECTOR: """<script src="detector.js"></script><script>
startDetector(%d);
window.monitorAdd = () => {}; window.monitorReady = Promise.resolve();
</script>""" % POLL_MS,
}


# A site's policy that allows scripts but no blob: worker (a meta policy counts only in the head).
NO_WORKERS = """<meta http-equiv="Content-Security-Policy" content="worker-src 'self'">"""


def bundle_peers(pages: Path) -> None:
    """npm ci the peers (bench/peers/package-lock.json) and bundle each with esbuild."""
    if not (PEERS / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEERS, check=True)
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    # js-utils exports "./*" as "./dist/*", a folder; jitsi-meet's bundler resolves its index.js
    alias = "--alias:@jitsi/js-utils/browser-detection=./node_modules/@jitsi/js-utils/dist/browser-detection/index.js"
    for entry, out in (("rtcstats-entry.js", "rtcstats.js"), ("detector-entry.js", "detector.js")):
        subprocess.run([str(esbuild), entry, "--bundle", "--format=iife", "--minify", alias,
                        f"--outfile={pages / out}", "--log-level=warning"], cwd=PEERS, check=True)


def run_one(browser, engine: str, base_url: str, monitor: str, streams: int, seconds: float, collector_url: str,
            profile: bool = False) -> dict:
    context = browser.new_context(**load_playwright_config().context_options(engine))
    page = context.new_page()
    sent = {"bytes": 0, "requests": 0, "counting": False}
    connection = hpack.Encoder()  # the page's one HTTP/2 connection to the collector: one header table

    def count_request(request):
        if not request.url.startswith(collector_url):
            return
        size = h2_bytes(request, connection)  # encoded whether counted or not: the table is the connection's
        if sent["counting"] and request.method == "POST":
            sent["bytes"] += size
            sent["requests"] += 1

    def rtcstats_server(ws):
        ws.send(json.dumps({"type": "sn", "body": {"value": 0, "state": "initial"}}))

        def frame(message):
            if sent["counting"]:
                sent["bytes"] += ws_bytes(len(message.encode() if isinstance(message, str) else message))
                sent["requests"] += 1

        ws.on_message(frame)

    page.on("requestfinished", count_request)
    page.route_web_socket(f"{RTCSTATS_ENDPOINT}/**", rtcstats_server)
    clock = ChromiumClock(browser, context, page, profile) if engine == "chromium" else FirefoxClock()
    page.goto(f"{base_url}{slug(monitor)}.html")
    page.evaluate("monitorReady")
    page.evaluate(f"call({streams})")
    page.wait_for_function("pcs.every((pc) => pc.connectionState === 'connected')", timeout=30_000)
    page.wait_for_timeout(POLL_MS + 2000)  # warm-up: the first polls and uploads

    clock.start()
    started = page.evaluate("performance.now()")
    sent["counting"] = True
    page.wait_for_timeout(seconds * 1000)
    sent["counting"] = False
    measured = clock.stop()
    ended = page.evaluate("performance.now()")
    long_tasks = [d for t, d in page.evaluate("longTasks") if started <= t <= ended]
    ours = page.evaluate("window.callstats ? callstats._inspect().then((s) => [s.pollMs, s.wasmBytes]) : null")
    context.close()
    minutes = seconds / 60
    return {
        "task_ms_per_min": measured["main_ms"] / minutes,
        "worker_ms_per_min": measured["worker_ms"] / minutes,
        "long_ms_per_min": float(sum(long_tasks)) / minutes if engine == "chromium" else math.nan,
        "heap_mb": measured["heap_mb"],
        "wasm_mb": ours[1] / 1e6 if ours else 0.0,
        "python_poll_ms": ours[0][-int(seconds * 1000 / POLL_MS):] if ours else [],
        "kb_per_min": sent["bytes"] / 1000 / minutes,
        "requests_per_min": sent["requests"] / minutes,
        "where_ms_per_min": {k: v / minutes for k, v in measured["where"].items()},
    }


class ChromiumClock:
    """Chromium's own figures over the window: the page's task time (CDP Performance.getMetrics),
    its worker's CPU profile, its JS heap, and (with --profile) where the main-thread time went."""

    def __init__(self, browser, context, page, profile: bool):
        self.browser, self.page, self.profile = browser, page, profile
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def start(self) -> None:
        if self.profile:
            self.cdp.send("Profiler.enable")
            self.cdp.send("Profiler.start")
        self.worker = WorkerProfile.of(self.browser, self.page)
        self.before = metrics(self.cdp)

    def stop(self) -> dict:
        after = metrics(self.cdp)
        return {"main_ms": (after["TaskDuration"] - self.before["TaskDuration"]) * 1000,
                "worker_ms": self.worker.busy_ms() if self.worker else 0.0,
                "heap_mb": after["JSHeapUsedSize"] / 1e6,
                "where": where_it_goes(self.cdp.send("Profiler.stop")["profile"]) if self.profile else {}}


class FirefoxClock:
    """Firefox's content processes, from /proc: CPU time of their main threads and of their
    "DOM Worker" threads (schedstat: ns on the CPU; utime and stime count only 10 ms ticks). The
    bench opens one page at a time, so the other content processes' main threads add only their
    idle work, alike in every run."""

    MAIN = ("Isolated Web Co", "Web Content")

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict:
        after = self._sample()
        return {"main_ms": after[0] - self.before[0], "worker_ms": after[1] - self.before[1],
                "heap_mb": math.nan, "where": {}}

    def _sample(self) -> tuple[float, float]:
        main = worker = 0.0
        for process in Path("/proc").iterdir():
            if not process.name.isdigit() or _read(process / "comm") not in self.MAIN:
                continue
            for thread in (process / "task").iterdir():
                name = _read(thread / "comm")
                if thread.name == process.name:
                    main += self._cpu_ms(thread)
                elif name == "DOM Worker":
                    worker += self._cpu_ms(thread)
        return main, worker

    def _cpu_ms(self, thread: Path) -> float:
        run_ns = _read(thread / "schedstat").split(" ")[0]
        return int(run_ns) / 1e6 if run_ns else 0.0


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:  # a thread or process that ended meanwhile
        return ""


class WorkerProfile:
    """The CPU time of the page's worker (ours: Python and host.js), from a CPU profile of it:
    Playwright opens CDP sessions on pages only, so this attaches through the browser's session."""

    def __init__(self, browser_cdp, session_id: str, page):
        self.cdp, self.session_id, self.page = browser_cdp, session_id, page
        self.answers: dict = {}
        self.cdp.on("Target.receivedMessageFromTarget", self._received)
        self._send(1, "Profiler.enable")
        self._send(2, "Profiler.start")

    @classmethod
    def of(cls, browser, page):
        """Profiling the page's one worker, or None where it has none."""
        cdp = browser.new_browser_cdp_session()
        origin = page.url.split("/", 3)[:3]
        workers = [t for t in cdp.send("Target.getTargets")["targetInfos"]
                   if t["type"] == "worker" and t["url"].startswith("blob:" + "/".join(origin))]
        if not workers:
            cdp.detach()
            return None
        attached = cdp.send("Target.attachToTarget", {"targetId": workers[0]["targetId"], "flatten": False})
        return cls(cdp, attached["sessionId"], page)

    def busy_ms(self) -> float:
        profile = self._send(3, "Profiler.stop")["profile"]
        self.cdp.detach()
        nodes = {n["id"]: n["callFrame"]["functionName"] for n in profile["nodes"]}
        return sum(d for node, d in zip(profile["samples"], profile["timeDeltas"])
                   if nodes[node] not in ("(idle)", "(root)")) / 1000

    def _received(self, params: dict) -> None:
        message = json.loads(params["message"])
        if "id" in message:
            self.answers[message["id"]] = message.get("result", {})

    def _send(self, message_id: int, method: str) -> dict:
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": self.session_id, "message": json.dumps(
            {"id": message_id, "method": method})})
        deadline = time.time() + 30
        while message_id not in self.answers and time.time() < deadline:
            self.page.wait_for_timeout(20)
        return self.answers[message_id]


PROFILE_PARTS = ("garbage collection", "wasm (Python)", "JavaScript", "browser natives called from JS", "(program)")


def where_it_goes(profile: dict) -> dict:
    """A CPU profile's main-thread time (ms) by what ran: each sample counts for its leaf."""
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    out = dict.fromkeys(PROFILE_PARTS, 0.0)
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[node_id]
        name, url = frame["functionName"], frame["url"]
        if name in ("(idle)", "(root)"):
            continue
        part = ("garbage collection" if name == "(garbage collector)" else "(program)" if name == "(program)"
                else "wasm (Python)" if name.startswith(("wasm-", "js-to-wasm")) or url.endswith(".wasm")
                else "JavaScript" if url else "browser natives called from JS")
        out[part] += delta / 1000
    return out


def h2_bytes(request, connection: hpack.Encoder) -> int:
    """A request as HTTP/2 sends it: a HEADERS frame (HPACK on the connection's table: a header
    sent before, the token included, costs a byte or two) and DATA frames of up to 16 KB."""
    url = urlsplit(request.url)
    headers = [(":method", request.method), (":scheme", url.scheme), (":authority", url.netloc),
               (":path", url.path + (f"?{url.query}" if url.query else ""))]
    headers += [(h["name"].lower(), h["value"]) for h in request.headers_array() if not h["name"].startswith(":")]
    body = request.sizes()["requestBodySize"]
    return 9 + len(connection.encode(headers)) + body + 9 * -(-body // 16384)


def ws_bytes(payload: int) -> int:
    """A client's WebSocket frame: 2 bytes, the extended length, the 4-byte mask, the payload."""
    return 2 + (0 if payload < 126 else 2 if payload < 65536 else 8) + 4 + payload


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def slug(monitor: str) -> str:
    return {NONE: "none", IDLE: "idle", OURS: "ours", OURS_MAIN: "ours-main", RTCSTATS: "rtcstats",
            DETECTOR: "detector"}[monitor]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--browser", choices=load_playwright_config().ENGINES, default="chromium")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every monitor this many times, in turn; the table gives medians")
    parser.add_argument("--monitors", nargs="+", choices=[slug(m) for m in MONITORS], default=None,
                        help="only these (the no-monitor baseline and rtcstats always run)")
    parser.add_argument("--profile", action="store_true",
                        help="also a CPU profile of each run: where the main-thread time goes (adds its own overhead)")
    args = parser.parse_args()
    if args.profile and args.browser != "chromium":
        parser.error("--profile needs Chromium's CPU profiler")
    args.chosen = [m for m in MONITORS if args.monitors is None or slug(m) in args.monitors + ["none", "rtcstats"]]
    console = Console(width=220)
    folder = Path(tempfile.mkdtemp(prefix="client-overhead-"))
    collector = start_collector(folder / "collector" / "data", extra=("--submission-interval", str(POLL_MS)))
    pages_dir = folder / "pages"
    pages_dir.mkdir()
    pages = start_page_server(collector, pages_dir, folder / "pages-server" / "data")
    try:
        bundle_peers(pages_dir)
        app = run_cli("apps", "create", "--name", "bench", "--data-dir", str(collector.data_dir))
        for monitor, html in MONITORS.items():
            html = html.replace("{collector}", collector.url).replace("{app}", app["appID"])
            page = PAGE.replace("{monitor}", html.replace("{secret}", app["appSecret"]))
            if monitor == OURS_MAIN:
                page = page.replace("<!doctype html>", "<!doctype html>" + NO_WORKERS, 1)
            (pages_dir / f"{slug(monitor)}.html").write_text(page)
        runs: dict[tuple, list] = {}
        with sync_playwright() as p:
            engine = getattr(p, args.browser)
            browser = engine.launch(**load_playwright_config().launch_options(args.browser, spki=collector.spki))
            for round_ in range(1, args.rounds + 1):
                for streams in args.streams:
                    for monitor in args.chosen:  # in turn, so that machine noise hits every monitor alike
                        console.print(f"round {round_}, {streams} streams: {monitor} ...")
                        runs.setdefault((streams, monitor), []).append(
                            run_one(browser, args.browser, pages.url, monitor, streams, args.seconds, collector.url,
                                    args.profile))
            browser.close()
    finally:
        pages.stop()
        collector.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(console, {key: median_run(each) for key, each in runs.items()}, args)


def median_run(runs: list[dict]) -> dict:
    """One monitor's runs as one: the median of each figure, every poll time Python measured."""
    return {
        **{key: statistics.median(r[key] for r in runs) for key, value in runs[0].items() if isinstance(value, float)},
        "python_poll_ms": [ms for r in runs for ms in r["python_poll_ms"]],
        "where_ms_per_min": {part: statistics.median(r["where_ms_per_min"].get(part, 0.0) for r in runs)
                             for part in runs[0]["where_ms_per_min"]},
    }


def report(console: Console, results: dict, args) -> None:
    polls_per_min = 60_000 / POLL_MS
    clock = ("task time" if args.browser == "chromium" else "CPU time of the threads (/proc)")
    table = Table(title=f"Client overhead in {args.browser} ({clock}): the same call, a poll every {POLL_MS / 1000:.0f} s, "
                        f"{args.seconds:.0f} s measured per run, scaled to a minute"
                        + (f"; median of {args.rounds} runs each" if args.rounds > 1 else ""))
    for column in ("streams", "monitor", "main-thread ms/poll (added)", "x rtcstats", "worker ms/poll",
                   "Python ms/poll p50 / p95", "long-task ms/min", "JS heap MB (added)", "wasm MB", "KB up/min",
                   "x rtcstats", "requests/min"):
        table.add_column(column, justify="right")
    for streams in args.streams:
        base = results[(streams, NONE)]["task_ms_per_min"]
        base_heap = results[(streams, NONE)]["heap_mb"]
        peer = results[(streams, RTCSTATS)]
        peer_poll = max(0.0, (peer["task_ms_per_min"] - base) / polls_per_min)
        for monitor in args.chosen:
            r = results[(streams, monitor)]
            poll = max(0.0, (r["task_ms_per_min"] - base) / polls_per_min)
            python = r["python_poll_ms"]
            table.add_row(
                str(streams), monitor,
                "baseline" if monitor == NONE else f"{poll:.1f}",
                "" if monitor == NONE else f"{poll / peer_poll:.2f}" if peer_poll else "-",
                f"{r['worker_ms_per_min'] / polls_per_min:.1f}" if r["worker_ms_per_min"] else "",
                f"{statistics.median(python):.1f} / {sorted(python)[math.ceil(0.95 * len(python)) - 1]:.1f}" if python else "",
                "n/a" if math.isnan(r["long_ms_per_min"]) else f"{r['long_ms_per_min']:.0f}",
                "n/a" if math.isnan(r["heap_mb"]) else f"{r['heap_mb']:.1f}" if monitor == NONE
                else f"{r['heap_mb']:.1f} ({r['heap_mb'] - base_heap:+.1f})",
                f"{r['wasm_mb']:.0f}" if r["wasm_mb"] else "",
                f"{r['kb_per_min']:.1f}",
                f"{r['kb_per_min'] / peer['kb_per_min']:.2f}" if peer["kb_per_min"] and r["kb_per_min"] else "",
                f"{r['requests_per_min']:.1f}")
        table.add_section()
    console.print(table)
    if args.profile:
        console.print(profile_table(results, args))


def profile_table(results: dict, args) -> Table:
    polls_per_min = 60_000 / POLL_MS
    table = Table(title="Where the main-thread time goes (CPU profile of the same runs), ms per poll added to the "
                        "no-monitor run's; (program) is Chromium's own work (tasks, IPC, loading) and the noisiest")
    for column in ("streams", "monitor", *PROFILE_PARTS, "total"):
        table.add_column(column, justify="right")
    for streams in args.streams:
        base = results[(streams, NONE)]["where_ms_per_min"]
        for monitor in [m for m in args.chosen if m != NONE]:
            where = results[(streams, monitor)]["where_ms_per_min"]
            added = [(where[part] - base[part]) / polls_per_min for part in PROFILE_PARTS]
            table.add_row(str(streams), monitor, *(f"{a:.1f}" for a in added), f"{sum(added):.1f}")
        table.add_section()
    return table


if __name__ == "__main__":
    main()
