"""Retention: what is older than --retain-days goes, by the time each row carries.

PostgreSQL: stats and stream_points are partitioned by day (migration 0003); a pass makes the
partitions of every day of the window and two ahead, and drops the days wholly before it. Other
tables (and the default partitions) lose their old rows in small batches, on both databases, so
that readers and writers never wait long behind a pass. Every process runs passes (at start, then
hourly); on PostgreSQL an advisory lock lets one at a time work, and on SQLite two passes at once
only repeat each other's deletes.
"""

import asyncio
import datetime
import logging
import time
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .metrics import RETAINED_ROWS, RETENTION_DROPPED, RETENTION_RUN
from .tables import conferences, events, members, stats, stats_state, stream_points

DAY_MS = 86_400_000
EVERY_S = 3600
BATCH = 1000  # rows a delete takes at once: a short transaction, then others go first
AHEAD_DAYS = 2
PARTITIONED = (stats, stream_points)
LOCK = 0x63616C6C  # the advisory lock key of retention passes ("call")
log = logging.getLogger("collector.retention")


async def run_forever(engine: AsyncEngine, retain_days: float, every_s: float = EVERY_S) -> None:
    while True:
        try:
            await retain(engine, retain_days)
        except Exception:  # a pass that failed is tried again at the next; the collector serves on
            log.exception("retention pass failed")
        await asyncio.sleep(every_s)


async def retain(engine: AsyncEngine, retain_days: float, now_ms: Optional[float] = None) -> dict[str, int]:
    """One pass: {table: rows dropped}."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    cutoff = now_ms - retain_days * DAY_MS
    if engine.dialect.name == "postgresql":
        dropped = await _postgres(engine, now_ms, cutoff)
    else:
        dropped = await _delete_old(engine, cutoff, (stats, stream_points))
    for table, count in dropped.items():
        RETENTION_DROPPED.labels(table).inc(count)
    for table, count in (await _row_counts(engine)).items():
        RETAINED_ROWS.labels(table).set(count)
    RETENTION_RUN.set(time.time())
    return dropped


async def _postgres(engine: AsyncEngine, now_ms: float, cutoff: float) -> dict[str, int]:
    async with engine.connect() as conn:  # a session lock, held across the pass's transactions
        if not (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK)))).scalar():
            return {}  # another process is at it
        await conn.commit()
        try:
            dropped = {}
            for table in PARTITIONED:
                await _make_days(engine, table.name, now_ms, cutoff)
                dropped[table.name] = await _drop_days(engine, table.name, cutoff)
            old = await _delete_old(engine, cutoff, tuple(sa.table(f"{t.name}_default", sa.column("id"),
                                                                   sa.column("timestamp")) for t in PARTITIONED))
            for name, count in old.items():
                key = name.removesuffix("_default")
                dropped[key] = dropped.get(key, 0) + count
            return dropped
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK)))
            await conn.commit()


def day_of(ms: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).date()


def day_start_ms(day: datetime.date) -> int:
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp() * 1000)


async def _partitions(engine: AsyncEngine, table: str) -> dict[str, str]:
    """{partition name: its bound} of a partitioned table."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass)"), {"table": table})
        return dict(rows.all())


async def _make_days(engine: AsyncEngine, table: str, now_ms: float, cutoff: float) -> None:
    """A partition for each day from the cutoff's to AHEAD_DAYS after today. The rows the default
    partition holds for a day move into it first (PostgreSQL refuses the partition otherwise)."""
    existing = await _partitions(engine, table)
    day, last = day_of(cutoff), day_of(now_ms) + datetime.timedelta(days=AHEAD_DAYS)
    while day <= last:
        name = f"{table}_{day:%Y%m%d}"
        if name not in existing:
            start, end = day_start_ms(day), day_start_ms(day + datetime.timedelta(days=1))
            async with engine.begin() as conn:
                await conn.execute(sa.text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)"))
                await conn.execute(sa.text(
                    f'WITH moved AS (DELETE FROM {table}_default WHERE "timestamp" >= {start} AND "timestamp" < {end} '
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"))
                await conn.execute(sa.text(
                    f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"))
        day += datetime.timedelta(days=1)


async def _drop_days(engine: AsyncEngine, table: str, cutoff: float) -> int:
    """Drop the partitions of days that ended before the cutoff; their rows, as PostgreSQL
    estimates them (counting would read them all)."""
    dropped = 0
    for name, bound in (await _partitions(engine, table)).items():
        if name.endswith("_default"):
            continue
        end = float(bound.rsplit("TO (", 1)[1].split(")")[0].strip("'"))
        if end > cutoff:
            continue
        async with engine.begin() as conn:
            # brief: a reader holding the table makes the pass wait at most this long, then retry later
            await conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            estimate = (await conn.execute(sa.text(
                "SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = :name"), {"name": name})).scalar()
            await conn.execute(sa.text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
            await conn.execute(sa.text(f"DROP TABLE {name}"))
        dropped += int(estimate or 0)
    return dropped


async def _delete_old(engine: AsyncEngine, cutoff: float, timed: tuple) -> dict[str, int]:
    """Old rows, a batch per transaction: the timed tables (by `timestamp`), events, then the
    conferences that ended before the cutoff, their members and those members' delta state."""
    dropped = {}
    for table in (*timed, events):
        dropped[table.name] = await _in_batches(engine, table, table.c.id, table.c.timestamp < cutoff)
    gone = members.c.last_seen < cutoff
    dropped["stats_state"] = await _in_batches(
        engine, stats_state, stats_state.c.uc_id, stats_state.c.uc_id.in_(sa.select(members.c.uc_id).where(gone)))
    dropped["members"] = await _in_batches(engine, members, members.c.uc_id, gone)
    dropped["conferences"] = await _in_batches(engine, conferences, None, conferences.c.end < cutoff)
    return dropped


async def _in_batches(engine: AsyncEngine, table, key, where) -> int:
    total = 0
    while True:
        async with engine.begin() as conn:
            if key is None:  # conferences: a composite key; they are few, one statement
                done = await conn.execute(table.delete().where(where))
            else:
                batch = sa.select(key).where(where).limit(BATCH).scalar_subquery()
                done = await conn.execute(table.delete().where(key.in_(batch)))
        total += max(done.rowcount, 0)
        if done.rowcount < BATCH or key is None:
            return total
        await asyncio.sleep(0)  # let the requests waiting for the database go first


async def _row_counts(engine: AsyncEngine) -> dict[str, int]:
    tables = ("stats", "stream_points", "events", "members", "conferences")
    async with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            return {t: (await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar() for t in tables}
        rows = await conn.execute(sa.text(
            "SELECT coalesce(p.relname, c.relname), sum(greatest(c.reltuples, 0)) FROM pg_class c "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE coalesce(p.relname, c.relname) = ANY(:tables) AND c.relkind = 'r' GROUP BY 1"),
            {"tables": list(tables)})
        return {name: int(count) for name, count in rows.all()}
