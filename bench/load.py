"""Participants held through a load balancer by two collector processes on one PostgreSQL, and
nothing acknowledged lost when one of them is killed in the middle.

    .venv/bin/python bench/load.py [--minutes 10] [--participants 200]

Runs the real parts: Debian's haproxy with deploy/haproxy.cfg as shipped, two `python -m collector
serve` processes (one worker each) on one PostgreSQL cluster, and simulated participants, each a
real session over HTTP/2 with a connection of its own: authenticate, join (4 to a conference),
fabric state changes, stats every 5 s (full, then deltas, as the client sends them), feedback,
fabricTerminated and user/left. A request that fails (connection lost, 5xx) is sent again with the
same itemID, as the client does. Halfway through, one collector is killed (SIGKILL).

Reported per phase: requests acknowledged, p50/p99 of the time from first send to acknowledgement
(retries included), retries, and requests given up; then participants held, and items
acknowledged vs stored (must be equal: nothing acknowledged is lost).
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.database import database_url  # noqa: E402
from tests.collector.participants import Tally, simulate, stored_item_ids  # noqa: E402
from tests.servers import Postgres, run_cli, start_balancer, start_collector  # noqa: E402


def server_side(collector) -> str:
    """The surviving collector's own view (/metrics): requests it stored and the bucket its p50
    and p99 fall in (arrival at the app to commit), to tell the server's time from the rest."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    with httpx.Client(http2=True, verify=False, base_url=collector.url, timeout=10) as client:
        text = client.get("/metrics").text
    buckets = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "collector_ingest_seconds_bucket":
                buckets[float(sample.labels["le"])] += sample.value
    bounds = sorted(buckets)
    total = buckets[float("inf")]
    if not total:
        return "the surviving collector stored nothing"

    def quantile(q: float) -> str:
        bound = next(b for b in bounds if buckets[b] >= q * total)
        return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> 10 s"

    return f"the surviving collector's own time for {total:.0f} requests: p50 {quantile(0.5)}, p99 {quantile(0.99)}"


def report(tally: Tally, stored: set[str], args, survivor: str) -> None:
    console = Console(width=160)
    table = Table(title=f"{args.participants} participants, {args.minutes} min, through haproxy to 2 collectors "
                        f"on one PostgreSQL; one collector killed halfway")
    for col in ("phase", "acknowledged", "p50 ms", "p99 ms", "retries", "given up"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for phase, times in tally.latency.items():
        p99 = statistics.quantiles(times, n=100)[98] if len(times) > 100 else float("nan")
        table.add_row(phase, str(len(times)), f"{statistics.median(times):.1f}", f"{p99:.1f}",
                      str(tally.retries[phase]), str(tally.given_up[phase]))
    console.print(table)
    lost = tally.acked - stored
    console.print(f"participants held to the end: {tally.held} of {args.participants} (at most {tally.peak} at once)")
    console.print(f"items acknowledged: {len(tally.acked)}, of them stored: {len(tally.acked) - len(lost)}, "
                  f"lost: {len(lost)}")
    console.print(survivor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--participants", type=int, default=200)
    args = parser.parse_args()
    pg = Postgres()
    collectors, balancer = [], None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            db = pg.create_database("load")
            app = run_cli("apps", "create", "--name", "load", "--data-dir", str(folder / "apps"), "--database-url", db)
            collectors = [start_collector(folder / f"collector{i}", extra=("--database-url", db))
                          for i in (1, 2)]
            balancer = start_balancer(folder, collectors)
            tally = asyncio.run(simulate(balancer.url, app, args.participants, args.minutes * 60,
                                         victim=collectors[1]))
            stored = asyncio.run(stored_item_ids(database_url(folder, db)))
            report(tally, stored, args, server_side(collectors[0]))
    finally:
        if balancer:
            balancer.stop()
        for collector in collectors:
            collector.stop()
        pg.stop()


if __name__ == "__main__":
    main()
