"""Stats submissions a second the collector accepts, with latency, over HTTP/2: granian (the
front `serve` runs) beside hypercorn (the front it had before, pinned only for this bench).

    .venv/bin/python bench/ingest.py [--seconds 8] [--clients 10,100,500]

For SQLite and PostgreSQL, 1 and 2 workers, and each number of concurrent clients, both fronts
serve the same app: h2load (Debian's nghttp2-client, a C HTTP/2 load generator, so the client is
not the bottleneck) posts one realistic stats body (a 4-stream call's getStats delta, ~3 KB) to
.../{ucID}/stats for a fixed time. Reported: accepted submissions a second, p50/p99 latency of the
200s, lost = acknowledged minus stored (must be 0), and granian over hypercorn. The baseline
columns are the same server answering GET /clockSync (no body, no database): the ceiling of the
HTTP/2 + TLS stack itself. Then an open-loop row per database: granian at half the rate it
reached with 100 clients, sent evenly spaced over 10 connections whatever the answers (from Python,
on the same cores: h2load's --rps sends each second's requests at once), timed from when each was
due, to read the latency of a collector that is not saturated. The generator's own cost shows in
those rows: the collector's /metrics (collector_ingest_seconds) gives its own share. Machines here are noisy: compare rows within one run.
"""

import argparse
import asyncio
import json
import os
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

from collector.settings import Settings  # noqa: E402
from collector.database import database_url, make_engine  # noqa: E402
from collector.store import Store  # noqa: E402
from collector.tables import stats  # noqa: E402
from collector.tls import self_signed  # noqa: E402
from tests.collector.wire import bearer, fabric, join  # noqa: E402
from tests.servers import Postgres, Server, free_port, run_cli, start_collector, wait_listening  # noqa: E402

FRONTS = ("hypercorn", "granian")


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
    done = subprocess.run(["h2load", "-c", str(clients), "-D", str(seconds), "--warm-up-time=1",
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


async def open_loop(target: str, headers: dict, body: bytes, rate: float, seconds: int,
                    connections: int) -> tuple[list[float], int]:
    """Submissions sent at evenly spaced times whatever the answers (h2load's --rps sends each
    second's requests together, which measures bursts): (ms of each 200 from the moment it was
    due, so a late send counts against the server; count of other answers)."""
    clients = [httpx.AsyncClient(http2=True, verify=False, timeout=60) for _ in range(connections)]
    headers = {**headers, "content-type": "application/json"}
    ok, errors = [], 0

    async def one(client, due: float):
        nonlocal errors
        try:
            answer = await client.post(target, content=body, headers=headers)
        except httpx.HTTPError:
            errors += 1
            return
        if answer.status_code == 200:
            ok.append((time.perf_counter() - due) * 1000)
        else:
            errors += 1

    origin = target.split("/v1/", 1)[0]
    await asyncio.gather(*(client.get(f"{origin}/clockSync") for client in clients))  # connected before the clock starts
    start, tasks = time.perf_counter() + 0.5, []
    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(clients[n % connections], due)))
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return ok, errors


def start_hypercorn(data: Path, workers: int, db_url) -> Server:
    """The same app behind hypercorn, as `serve` ran it before granian."""
    storage = ("--data-dir", str(data), *(("--database-url", db_url) if db_url else ()))
    run_cli("apps", "list", *storage)  # migrates the schema, as serve does first
    cert, key = self_signed(data)
    port = free_port()
    settings = Settings(database_url=database_url(data, db_url), rate=1e6, burst=1e6)
    (data / "metrics").mkdir(exist_ok=True)
    env = {**os.environ, "COLLECTOR_SETTINGS": settings.model_dump_json(), "PROMETHEUS_MULTIPROC_DIR": str(data / "metrics")}
    process = subprocess.Popen([sys.executable, "-m", "hypercorn", "--certfile", str(cert), "--keyfile", str(key),
                                "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                                "collector.app:from_environment()"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening("127.0.0.1", port, time.time() + 30)
    return Server(process, f"https://127.0.0.1:{port}/", "", data)


def first_retention_pass(url: str) -> None:
    """Wait for every worker's start and the first retention pass (on PostgreSQL it makes a month
    of day partitions): the rows measure a collector at work, not one starting."""
    deadline = time.time() + 60
    with httpx.Client(http2=True, verify=False, base_url=url, timeout=10) as client:
        while time.time() < deadline:
            text = client.get("/metrics").text
            if any(line.startswith("collector_retention_last_run_timestamp_seconds ") and float(line.split()[1]) > 0
                   for line in text.splitlines()):
                break
            time.sleep(0.2)
    time.sleep(1.0)  # the other worker's pass, which finds the work done


def start(front: str, data: Path, workers: int, db_url) -> Server:
    if front == "hypercorn":
        return start_hypercorn(data, workers, db_url)
    extra = ["--workers", str(workers), "--rate", "1000000", "--burst", "1000000"]
    return start_collector(data, extra=(*extra, *(("--database-url", db_url) if db_url else ())))


def run_one(front: str, db: str, workers: int, clients: int, seconds: int, pg, tmp: Path, rps: float = 0) -> dict:
    """One server, one load; `rps`: open loop at that many submissions a second in all."""
    data = tmp / f"{front}-{db}-{workers}-{clients}-{int(rps)}"
    data.mkdir(parents=True)
    db_url = pg.create_database(f"bench_{front}_{workers}_{clients}_{int(rps)}") if db == "postgresql" else None
    server = start(front, data, workers, db_url)
    try:
        first_retention_pass(server.url)
        url = database_url(data, db_url)
        app = asyncio.run(make_app(url))
        with httpx.Client(http2=True, verify=False, base_url=server.url, timeout=30) as client:
            headers = bearer(client, app)
            conference, uc_id = join(client, app, headers)
        body = data / "body.json"
        body.write_text(json.dumps(stats_body()))
        log = data / "h2load.log"
        target = f"{server.url}v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/stats"
        if rps:
            ok, errors = asyncio.run(open_loop(target, headers, body.read_bytes(), rps, seconds, clients))
            submitted = ""
        else:
            submitted = h2load(clients, seconds, target, log, "-m", "1", "-H", f"authorization: {headers['Authorization']}",
                               "-H", "content-type: application/json", "-d", str(body))
            ok, errors = latencies(log)
        stored = asyncio.run(count_stored(url, uc_id))
        base = {"rate": float("nan"), "p99": float("nan")}
        if not rps:
            baseline_log = data / "baseline.log"
            h2load(clients, seconds, f"{server.url}clockSync", baseline_log, "-m", "1")
            base = summary(latencies(baseline_log)[0], seconds)
        # h2load logs no warm-up requests, which are stored too: lost = logged 200s not stored
        return {**summary(ok, seconds), "errors": errors, "lost": max(0, len(ok) - stored),
                "baseline": base, "h2load": submitted}
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
    for col in ("database", "workers", "clients", "front", "accepted/s", "p50 ms", "p99 ms", "non-200", "lost",
                "baseline GET/s", "baseline p99 ms", "granian / hypercorn"):
        table.add_column(col, justify="left" if col in ("database", "front") else "right")
    pg = Postgres() if "postgresql" in args.databases else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for db in args.databases.split(","):
                capacity = {}
                for workers in [int(w) for w in args.workers.split(",")]:
                    for clients in [int(c) for c in args.clients.split(",")]:
                        rates = {}
                        for front in FRONTS:
                            r = run_one(front, db, workers, clients, args.seconds, pg, Path(tmp))
                            rates[front] = r["rate"]
                            ratio = f"{rates['granian'] / rates['hypercorn']:.2f}" if len(rates) == 2 else ""
                            add_row(table, db, workers, clients, front, r, ratio)
                            console.print(f"  {db} workers={workers} clients={clients} {front}: {r['rate']:.0f}/s",
                                          highlight=False)
                        if clients == 100:
                            capacity[workers] = rates["granian"]
                for workers, rate in capacity.items():  # the open-loop row: half of granian's capacity
                    # 10 connections: the generator is Python, on the same 2 cores; fewer costs it less
                    r = run_one("granian", db, workers, 10, args.seconds, pg, Path(tmp), rps=rate / 2)
                    add_row(table, db, workers, 10, f"granian open loop {rate / 2:.0f}/s", r, "")
    finally:
        if pg:
            pg.stop()
    console.print(table)


def add_row(table, db, workers, clients, front, r, ratio) -> None:
    base = r["baseline"]
    table.add_row(db, str(workers), str(clients), front, f"{r['rate']:.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                  str(r["errors"]), str(r["lost"]), f"{base['rate']:.0f}", f"{base['p99']:.1f}", ratio)


if __name__ == "__main__":
    main()
