"""Stats submissions a second the collector accepts, with latency, over HTTP/2.

    .venv/bin/python bench/ingest.py [--seconds 8] [--clients 10,100,500]

For SQLite and PostgreSQL, 1 and 2 workers, and each number of concurrent clients: h2load (Debian's
nghttp2-client, a C HTTP/2 load generator, so the client is not the bottleneck) posts one
realistic stats body (a 4-stream call's getStats delta, ~3 KB) to .../{ucID}/stats for a fixed
time. Reported: accepted submissions a second, p50/p99 latency of the 200s, and lost = acknowledged
minus stored (must be 0). The baseline rows are the same server answering GET /clockSync (no body,
no database): the ceiling of the HTTP/2 + TLS stack itself on this machine. Machines here are
noisy: compare rows within one run.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.store import Store, database_url, make_engine, stats  # noqa: E402
from tests.collector.wire import bearer, fabric, join  # noqa: E402
from tests.servers import Postgres, start_collector  # noqa: E402


def stats_body() -> dict:
    entries = []
    for i, (kind, media) in enumerate([("outbound-rtp", "audio"), ("outbound-rtp", "video"),
                                       ("inbound-rtp", "audio"), ("inbound-rtp", "video")]):
        entries.append({"id": f"{kind}-{i}", "type": kind, "kind": media, "ssrc": 1000 + i, "timestamp": 1.7e12,
                        "bytesSent" if kind.startswith("out") else "bytesReceived": 123456 + i,
                        "packetsSent" if kind.startswith("out") else "packetsReceived": 1234,
                        "packetsLost": 2, "jitter": 0.003, "framesPerSecond": 30, "frameWidth": 640,
                        "frameHeight": 480, "totalEncodeTime": 1.5, "qualityLimitationReason": "none",
                        "nackCount": 1, "pliCount": 0, "firCount": 0, "retransmittedBytesSent": 0,
                        "headerBytesSent": 2400, "targetBitrate": 800000, "mid": str(i)})
    entries.append({"id": "CP1", "type": "candidate-pair", "currentRoundTripTime": 0.02,
                    "availableOutgoingBitrate": 2500000, "bytesSent": 999999, "bytesReceived": 888888,
                    "state": "succeeded", "nominated": True})
    return fabric(stats=entries, delta=True)


async def count_stored(url: str, uc_id: str) -> int:
    import sqlalchemy as sa

    engine = make_engine(url)
    async with engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(stats).where(stats.c.uc_id == uc_id))).scalar()
    await engine.dispose()
    return n


async def make_app(url: str) -> dict:
    engine = make_engine(url)
    app = await Store(engine).create_app("bench", [])
    await engine.dispose()
    return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}


def h2load(clients: int, seconds: int, target: str, log: Path, *extra: str) -> str:
    done = subprocess.run(["h2load", "-c", str(clients), "-m", "1", "-D", str(seconds), "--warm-up-time=1",
                           "--log-file", str(log), *extra, target],
                          capture_output=True, text=True, timeout=seconds + 120)
    return done.stdout


def latencies(log: Path) -> tuple[list[float], int]:
    """(ms of each 200, count of other answers); requests cut off by the end of the run (h2load logs
    them with status 0 or -1) are neither."""
    rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    ok = [int(r[2]) / 1000 for r in rows if r[1] == "200"]
    return ok, sum(1 for r in rows if r[1] not in ("200", "0", "-1"))


def summary(ok: list[float], seconds: int) -> dict:
    return {"rate": len(ok) / seconds, "p50": statistics.median(ok) if ok else float("nan"),
            "p99": statistics.quantiles(ok, n=100)[98] if len(ok) > 100 else float("nan")}


def run_one(db: str, workers: int, clients: int, seconds: int, pg, tmp: Path) -> dict:
    data = tmp / f"{db}-{workers}-{clients}"
    db_url = pg.create_database(f"bench_{workers}_{clients}") if db == "postgresql" else None
    extra = ["--workers", str(workers), "--rate", "1000000", "--burst", "1000000"]
    if db_url:
        extra += ["--database-url", db_url]
    server = start_collector(data, extra=tuple(extra))
    try:
        time.sleep(1.0 if workers > 1 else 0.2)  # let every worker start
        url = database_url(data, db_url)
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        app = asyncio.run(make_app(url))
        with httpx.Client(http2=True, verify=False, base_url=server.url, timeout=30) as client:
            headers = bearer(client, app)
            conference, uc_id = join(client, app, headers)
        body = data / "body.json"
        body.write_text(json.dumps(stats_body()))
        log = data / "h2load.log"
        target = f"{server.url}v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/stats"
        submitted = h2load(clients, seconds, target, log, "-H", f"authorization: {headers['Authorization']}",
                           "-H", "content-type: application/json", "-d", str(body))
        ok, errors = latencies(log)
        stored = asyncio.run(count_stored(url, uc_id))
        baseline_log = data / "baseline.log"
        h2load(clients, seconds, f"{server.url}clockSync", baseline_log)
        base_ok, _ = latencies(baseline_log)
        # h2load logs no warm-up requests, which are stored too: lost = logged 200s not stored
        return {**summary(ok, seconds), "errors": errors, "lost": max(0, len(ok) - stored),
                "baseline": summary(base_ok, seconds), "h2load": submitted}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", default="10,100,500")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    if not shutil.which("h2load"):
        sys.exit("bench/ingest.py needs h2load: apt-get install nghttp2-client")
    console = Console(width=200)
    table = Table(title=f"Stats submissions over HTTP/2, {args.seconds} s each (h2load)")
    for col in ("database", "workers", "clients", "accepted/s", "p50 ms", "p99 ms", "non-200", "lost",
                "baseline GET/s", "baseline p99 ms", "x baseline"):
        table.add_column(col, justify="left" if col == "database" else "right")
    pg = Postgres() if "postgresql" in args.databases else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for db in args.databases.split(","):
                for workers in [int(w) for w in args.workers.split(",")]:
                    for clients in [int(c) for c in args.clients.split(",")]:
                        r = run_one(db, workers, clients, args.seconds, pg, Path(tmp))
                        base = r["baseline"]
                        table.add_row(db, str(workers), str(clients), f"{r['rate']:.0f}", f"{r['p50']:.1f}",
                                      f"{r['p99']:.1f}", str(r["errors"]), str(r["lost"]), f"{base['rate']:.0f}",
                                      f"{base['p99']:.1f}", f"{r['rate'] / base['rate']:.2f}")
                        console.print(f"  {db} workers={workers} clients={clients}: {r['rate']:.0f}/s", highlight=False)
    finally:
        if pg:
            pg.stop()
    console.print(table)


if __name__ == "__main__":
    main()
