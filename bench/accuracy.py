"""Ground truth: what csStatsCallback reports against loss, delay and jitter a relay imposes.

    .venv/bin/python bench/accuracy.py [--browser chromium|firefox] [--seconds 20] [--quick]

A real call (pc1 sends the fake camera and microphone to pc2, in one headless Chromium or Firefox page)
whose packets all pass through bench/relay.py, which drops `loss` of them (evenly, so that
conditions compare) and holds the others `delay` +- uniform `jitter` ms, each way. The relay
counts, per SSRC, the RTP packets it saw and dropped, and the mean delay it applied: the
measured loss and rtt are compared with those, not only with the nominal settings.
Reported by our client, over `--seconds` after a warm-up: the loss fraction of pc2's inbound audio,
the round trip of pc1's outbound audio (from its remote-inbound-rtp), the inbound jitter, the
audio MOS (median of the intervals) and its rating. Goals: loss within 1 point of the relay's, rtt within 10 % + 5 ms of the
imposed round trip (2 x the applied delay, plus the no-delay call's own), the rating falling as
loss or delay rise. One run; each condition is a fresh call.
"""

import argparse
import json
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

from bench.relay import RELAYED_PAGE, Relay, connect, reported_loss  # noqa: E402
from callwire.quality import rating_of_mos  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector, start_page_server  # noqa: E402

INTERVAL_MS = 2000  # csStatsCallback every 2 s: the collector's submission interval


def measure(browser, engine: str, page_url: str, loss: float, delay: float, jitter: float, seconds: float) -> dict:
    relay = Relay().start()
    relay.set(loss, delay, jitter)
    page = browser.new_page(**load_playwright_config().context_options(engine))
    try:
        page.goto(page_url)
        connect(page, relay)
        page.wait_for_timeout(INTERVAL_MS * 3)  # warm-up: jitter buffers, rtt estimates settle
        first = len(page.evaluate("reports"))
        truth_before = {ssrc: list(c) for ssrc, c in relay.rtp.items()}
        page.wait_for_timeout(seconds * 1000)
        reports = page.evaluate("reports")[first:]
        truth_after = {ssrc: list(c) for ssrc, c in relay.rtp.items()}
    finally:
        page.close()
        relay.stop()
    return {**summarise(reports, truth_before, truth_after), "applied_delay": relay.mean_delay_ms()}


def summarise(reports: list, before: dict, after: dict) -> dict:
    streams = [s for r in reports for s in r["mediaStreamTracks"] if s["mediaType"] == "audio"]
    inbound = [s for s in streams if s["statsType"] == "inbound-rtp" and s["fractionLoss"] is not None]
    outbound = [s for s in streams if s["statsType"] == "outbound-rtp" and s["rtt"] is not None]
    ssrc = inbound[0]["ssrc"] if inbound else None
    seen = after.get(int(ssrc), [0, 0])[0] - before.get(int(ssrc), [0, 0])[0] if ssrc else 0
    dropped = after.get(int(ssrc), [0, 0])[1] - before.get(int(ssrc), [0, 0])[1] if ssrc else 0
    return {
        "loss": reported_loss(inbound) if inbound else None,
        "true_loss": dropped / seen if seen else None,
        "rtt": statistics.median(s["rtt"] for s in outbound) if outbound else None,
        "jitter": statistics.median(s["jitter"] for s in inbound if s["jitter"] is not None) if inbound else None,
        "mos": statistics.median(s["mos"] for s in inbound if s["mos"] is not None) if inbound else None,
        "intervals": len(inbound),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--browser", choices=load_playwright_config().ENGINES, default="chromium")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="fewer conditions (loss at 50 ms, delay at 0 %%)")
    args = parser.parse_args()
    losses, delays, jitters = (0.0, 0.02, 0.05, 0.10), (0.0, 50.0, 150.0), (0.0, 20.0)
    if args.quick:
        conditions = [(l, 50.0, 0.0) for l in losses] + [(0.0, d, 0.0) for d in delays if d != 50.0] + [(0.0, 50.0, 20.0)]
    else:
        conditions = [(l, d, j) for j in jitters for d in delays for l in losses]
    console = Console(width=200)
    folder = Path(tempfile.mkdtemp(prefix="accuracy-"))
    collector = start_collector(folder / "collector" / "data", extra=("--submission-interval", str(INTERVAL_MS)))
    pages_dir = folder / "pages"
    pages_dir.mkdir()
    pages = start_page_server(collector, pages_dir, folder / "pages-server" / "data")
    results = {}
    try:
        app = run_cli("apps", "create", "--name", "accuracy", "--data-dir", str(collector.data_dir))
        (pages_dir / "accuracy.html").write_text(RELAYED_PAGE.replace("{collector}", collector.url))
        url = f"{pages.url}accuracy.html#{json.dumps(app)}"
        with sync_playwright() as p:
            engine = getattr(p, args.browser)
            browser = engine.launch(**load_playwright_config().launch_options(args.browser, spki=collector.spki))
            for loss, delay, jitter in conditions:
                console.print(f"loss {loss:.0%}, delay {delay:.0f} ms, jitter {jitter:.0f} ms ...")
                results[(loss, delay, jitter)] = measure(browser, args.browser, url, loss, delay, jitter, args.seconds)
            browser.close()
    finally:
        pages.stop()
        collector.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(console, results, args)


def report(console: Console, results: dict, args) -> None:
    base_rtt = next((r["rtt"] for (l, d, j), r in results.items() if d == 0 and j == 0 and r["rtt"]), 0.0)
    table = Table(title=f"Accuracy in {args.browser}: csStatsCallback against the relay, {args.seconds:.0f} s per call "
                        f"(the call's own rtt without delay: {base_rtt:.1f} ms)")
    for column in ("loss %", "delay ms", "jitter ms", "relay dropped %", "reported loss %", "error pp",
                   "imposed rtt ms", "reported rtt ms", "rtt error ms", "within goals", "jitter ms (reported)",
                   "MOS", "rating"):
        table.add_column(column, justify="right")
    for (loss, delay, jitter), r in results.items():
        true_loss = r["true_loss"] if r["true_loss"] is not None else loss
        error = None if r["loss"] is None else (r["loss"] - true_loss) * 100
        imposed = 2 * r["applied_delay"] + base_rtt  # what the relay really held them, on average
        rtt_error = None if r["rtt"] is None else r["rtt"] - imposed
        ok = (error is not None and abs(error) <= 1.0
              and rtt_error is not None and abs(rtt_error) <= 0.1 * imposed + 5)
        table.add_row(f"{loss * 100:.0f}", f"{delay:.0f}", f"{jitter:.0f}", f"{true_loss * 100:.2f}",
                      "-" if r["loss"] is None else f"{r['loss'] * 100:.2f}", "-" if error is None else f"{error:+.2f}",
                      f"{imposed:.0f}", "-" if r["rtt"] is None else f"{r['rtt']:.1f}",
                      "-" if rtt_error is None else f"{rtt_error:+.1f}", "yes" if ok else "NO",
                      "-" if r["jitter"] is None else f"{r['jitter']:.1f}",
                      "-" if r["mos"] is None else f"{r['mos']:.2f}", rating_of_mos(r["mos"]))
    console.print(table)
    console.print(monotone(results))


def monotone(results: dict) -> str:
    """Does the MOS fall (never rise) as loss rises at each delay, and as delay rises at each loss?"""
    broken = []
    keys = sorted(results)
    for jitter in {j for _, _, j in keys}:
        for delay in sorted({d for _, d, j in keys if j == jitter}):
            mos = [results[k]["mos"] for k in keys if k[1] == delay and k[2] == jitter]
            if any(a is not None and b is not None and b > a + 0.01 for a, b in zip(mos, mos[1:])):
                broken.append(f"loss at {delay:.0f} ms / jitter {jitter:.0f}")
        for loss in sorted({l for l, _, j in keys if j == jitter}):
            mos = [results[k]["mos"] for k in sorted(keys, key=lambda k: k[1]) if k[0] == loss and k[2] == jitter]
            if any(a is not None and b is not None and b > a + 0.01 for a, b in zip(mos, mos[1:])):
                broken.append(f"delay at {loss:.0%} / jitter {jitter:.0f}")
    return "MOS monotone in loss and in delay: " + ("yes" if not broken else "NO (" + ", ".join(broken) + ")")


if __name__ == "__main__":
    main()
