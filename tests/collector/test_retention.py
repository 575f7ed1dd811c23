"""Retention: a collector started with a shorter --retain-days drops what is older (whole day
partitions on PostgreSQL, batches on SQLite) while the read API keeps answering; newer data stays."""

import threading
import time
import uuid

import sqlalchemy as sa

from collector.retention import DAY_MS, day_of
from collector.database import make_engine

from ..servers import run_async, start_collector
from .wire import bearer, body, fabric, reader

OLD_DAYS, RETAIN_DAYS = 10, 5


def call(client, app, headers, at_ms: float, samples: int = 3) -> tuple[str, dict]:
    """A conference whose every item is dated `at_ms` onwards: what the read API shows of it."""
    conference = f"retained-{uuid.uuid4().hex[:8]}"
    base = f"/v1/apps/{app['appID']}/conferences/{conference}"
    joined = client.post(base, headers=headers, json=body(timestamp=at_ms, eventType="userJoined"))
    assert joined.status_code == 200, joined.text
    uc_id = joined.json()["ucID"]
    for n in range(samples):
        sample = fabric(timestamp=at_ms + n * 5000, stats=[{"id": "OT1", "type": "outbound-rtp", "ssrc": 1,
                                                             "bytesSent": 1000 * n, "packetsSent": 10 * n}])
        assert client.post(f"{base}/{uc_id}/stats", headers=headers, json=sample).status_code == 200
    ended = fabric(timestamp=at_ms + samples * 5000, eventType="fabricTerminated")
    assert client.post(f"{base}/{uc_id}/events/fabric/terminated", headers=headers, json=ended).status_code == 200
    return conference, shown(client, app, conference)


def shown(client, app, conference) -> dict:
    url = f"/v1/apps/{app['appID']}/conferences/{conference}"
    return {what: client.get(url + what, headers=reader(app)).json() for what in ("/events", "/stats")}


def test_retention_drops_what_is_older_and_keeps_the_rest(collector, tmp_path):
    app = collector.app()
    now = time.time() * 1000
    with collector.client() as client:
        headers = bearer(client, app)
        # the old call's items are dated 10 days ago (a client's clock), its join's too
        old, old_seen = call(client, app, headers, now - OLD_DAYS * DAY_MS)
        assert len(old_seen["/stats"]) == 3 and len(old_seen["/events"]) == 2
        recent, recent_seen = call(client, app, headers, now - 60_000)
        assert len(recent_seen["/stats"]) == 3

    reads, stop = [], threading.Event()

    def keep_reading():
        with collector.client() as reading:
            while not stop.is_set():
                reads.append(reading.get(f"/v1/apps/{app['appID']}/conferences/{recent}/stats",
                                         headers=reader(app)).status_code)

    reader_thread = threading.Thread(target=keep_reading)
    reader_thread.start()
    # another process on the same database, told to keep 5 days: its first pass runs at start
    database = ("--database-url", collector.db_args[3]) if collector.database == "postgresql" else \
        ("--database-url", f"sqlite+aiosqlite:///{collector.server.data_dir / 'collector.sqlite3'}")
    second = start_collector(tmp_path / "second", extra=(*database, "--retain-days", str(RETAIN_DAYS)))
    try:
        deadline = time.time() + 60
        with collector.client() as client:
            while time.time() < deadline and client.get(f"/v1/apps/{app['appID']}/conferences/{old}",
                                                        headers=reader(app)).status_code != 404:
                time.sleep(0.5)
            assert client.get(f"/v1/apps/{app['appID']}/conferences/{old}", headers=reader(app)).status_code == 404
            assert shown(client, app, old) == {"/events": [], "/stats": []}
            assert shown(client, app, recent) == recent_seen
            listed = client.get(f"/v1/apps/{app['appID']}/conferences", headers=reader(app)).json()
            assert [c["conferenceID"] for c in listed] == [recent]
    finally:
        stop.set()
        reader_thread.join()
        second.stop()
    assert reads and set(reads) == {200}, set(reads)
    if collector.database == "postgresql":
        days = run_async(partitions(collector.db_args[3]))
        assert f"stats_{day_of(now):%Y%m%d}" in days and f"stream_points_{day_of(now):%Y%m%d}" in days
        assert f"stats_{day_of(now - OLD_DAYS * DAY_MS):%Y%m%d}" not in days
        assert f"stats_{day_of(now - (RETAIN_DAYS - 1) * DAY_MS):%Y%m%d}" in days


async def partitions(url: str) -> set[str]:
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent IN (CAST('stats' AS regclass), CAST('stream_points' AS regclass))"))
        names = {r[0] for r in rows}
    await engine.dispose()
    return names
