"""The write path: joins, and every item a request brings.

Everything a request acknowledges is committed before its 200 goes out. A retried item (same
itemID) is stored once. Stats sent as deltas are rebuilt to full values here, so readers only
ever see full samples; each RTP stream's numbers also go to `stream_points`, one row per sample,
so a chart's time series is one indexed range read, with the interval's MOS and quality worked
out by the client's own code (callwire.figures).
"""

import asyncio
import secrets
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from callwire import figures as shared_figures
from callwire.deltas import rebuild
from callwire.quality import ORDER

from .metrics import GROUP_COMMIT, STORAGE_ERRORS
from .tables import DEVICE_FIELDS, conferences, events, insert_once, members, stats, stats_state, stream_points

RTP_KINDS = ("inbound-rtp", "outbound-rtp", "remote-inbound-rtp", "remote-outbound-rtp")
GROUP_COMMIT_MAX = 256  # requests in one transaction at most
TOUCH_EVERY_MS = 5000


class Writes:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._pending: asyncio.Queue = asyncio.Queue()
        self._writer: Optional[asyncio.Task] = None
        self._last_touch: dict[str, float] = {}
        self._members: dict[str, dict] = {}  # ucID -> its member row (what we check never changes)

    async def join(self, app_id: int, conference_id: str, body: dict) -> str:
        """A new member's ucID; a retried join (same itemID) gets the ucID it was given before."""
        item_id = body.get("itemID")
        if item_id:
            async with self.engine.connect() as conn:
                known = (await conn.execute(sa.select(events.c.uc_id).where(
                    (events.c.app_id == app_id) & (events.c.item_id == item_id) & (events.c.path == "join")))).scalar()
            if known:
                return known
        try:
            return await self._join(app_id, conference_id, body)
        except sa.exc.IntegrityError:  # the same join, stored by a concurrent retry a moment ago
            async with self.engine.connect() as conn:
                known = (await conn.execute(sa.select(events.c.uc_id).where(
                    (events.c.app_id == app_id) & (events.c.item_id == item_id)))).scalar()
            if known is None:
                raise
            return known

    async def _join(self, app_id: int, conference_id: str, body: dict) -> str:
        uc_id = secrets.token_hex(12)
        now = body["timestamp"]
        async with self.engine.begin() as conn:
            await conn.execute(members.insert().values(
                uc_id=uc_id, app_id=app_id, conference_id=conference_id, local_id=body["localID"],
                device_id=body["deviceID"], endpoint_info=body.get("endpointInfo"), joined=now, last_seen=now))
            await self._touch_conference(conn, app_id, conference_id, now)
            await conn.execute(events.insert().values(
                app_id=app_id, conference_id=conference_id, uc_id=uc_id, connection_id=None, path="join",
                event_type=body.get("eventType") or "userJoined", timestamp=now, item_id=body.get("itemID"),
                body=body))
        return uc_id

    async def member(self, uc_id: str) -> Optional[dict]:
        """Who a ucID is (app, conference, user): fixed at join, so it is remembered."""
        if uc_id in self._members:
            return self._members[uc_id]
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(members).where(members.c.uc_id == uc_id))).mappings().first()
        if row is None:
            return None
        if len(self._members) > 100_000:
            self._members.clear()
        self._members[uc_id] = dict(row)
        return self._members[uc_id]

    async def add_items(self, app_id: int, conference_id: str, uc_id: str, items: list[tuple[str, dict]]) -> None:
        """Store a request's items; returns once they are committed.

        Requests that arrive together share one transaction (group commit): a single writer takes
        whatever is waiting, so a database that commits one transaction at a time still keeps up
        with many clients. A batch that fails is retried one request at a time, so one bad request
        never costs the others."""
        done = asyncio.get_running_loop().create_future()
        await self._pending.put(((app_id, conference_id, uc_id, items), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever())
        await done

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while not self._pending.empty() and len(batch) < GROUP_COMMIT_MAX:
                batch.append(self._pending.get_nowait())
            GROUP_COMMIT.observe(len(batch))
            try:
                await self._write([request for request, _ in batch])
                results = [None] * len(batch)
            except Exception:  # find the request that failed; store the rest
                results = []
                for request, _ in batch:
                    try:
                        await self._write([request])
                        results.append(None)
                    except Exception as exc:
                        STORAGE_ERRORS.inc()
                        results.append(exc)
            for (_, future), error in zip(batch, results):
                if not future.done():
                    future.set_exception(error) if error else future.set_result(None)

    async def _write(self, requests: list) -> None:
        """One transaction, a handful of statements whatever the number of requests: round trips
        to the database, not its work, are what limits a busy collector."""
        events_rows, stats_items, left = [], [], []
        async with self.engine.begin() as conn:
            for app_id, conference_id, uc_id, items in requests:
                for path, body in items:
                    where = dict(app_id=app_id, conference_id=conference_id, uc_id=uc_id,
                                 connection_id=body.get("connectionID"), path=path, timestamp=body["timestamp"],
                                 item_id=body.get("itemID"))
                    if path in ("stats", "customstats"):
                        stats_items.append((where, body))
                    else:
                        events_rows.append({**where, "event_type": body.get("eventType"), "body": body})
                        if path == "events/user/left":
                            left.append((uc_id, body["timestamp"]))
            if events_rows:
                await conn.execute(insert_once(self.engine, events), events_rows)
            for uc_id, at in left:
                await conn.execute(members.update().where(members.c.uc_id == uc_id).values(left=at))
            if stats_items:
                await self._add_stats(conn, stats_items)
            for app_id, conference_id, uc_id, items in requests:
                await self._seen(conn, app_id, conference_id, uc_id, max(b["timestamp"] for _, b in items))

    async def _seen(self, conn, app_id, conference_id, uc_id, at) -> None:
        """Move the member's last_seen and the conference's end, at most every few seconds of
        their time (each is a row every request would otherwise rewrite)."""
        if at - self._last_touch.get(uc_id, 0.0) < TOUCH_EVERY_MS:
            return
        self._last_touch[uc_id] = at
        newest = sa.func.max if self.engine.dialect.name == "sqlite" else sa.func.greatest
        await conn.execute(members.update().where(members.c.uc_id == uc_id).values(
            last_seen=newest(members.c.last_seen, at)))
        await self._touch_conference(conn, app_id, conference_id, at)

    async def _add_stats(self, conn, items: list[tuple[dict, dict]]) -> None:
        items = await self._not_stored_yet(conn, items)
        states = await self._states(conn, {(w["uc_id"], w["connection_id"] or "") for w, b in items
                                           if w["path"] == "stats"})
        rows, points, touched, worst = [], [], set(), {}
        for where, body in items:
            entries = body["stats"] if isinstance(body["stats"], list) else [body["stats"]]
            figures = {}
            if where["path"] == "stats":
                key = (where["uc_id"], where["connection_id"] or "")
                previous = states.get(key)
                entries = rebuild(previous if body.get("delta") else None, entries, body.get("statsTimestamp"))
                figures = stream_figures(previous, entries)
                states[key] = entries
                touched.add(key)
            rows.append({**where, "stats": entries, "device": device_of(body)})
            for entry in entries:
                if entry.get("type") not in RTP_KINDS or entry.get("ssrc") is None:
                    continue
                values = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                values.update(figures.get((entry["type"], str(entry["ssrc"])), {}))
                points.append(dict(app_id=where["app_id"], conference_id=where["conference_id"], uc_id=where["uc_id"],
                                   connection_id=where["connection_id"], ssrc=str(entry["ssrc"]), kind=entry["type"],
                                   timestamp=where["timestamp"], values=values))
                if "csioQuality" in values:
                    conference = (where["app_id"], where["conference_id"])
                    worst[conference] = min(worst.get(conference, len(ORDER)), values["csioQuality"])
        if rows:
            await conn.execute(stats.insert(), rows)
        if points:
            await conn.execute(stream_points.insert(), points)
        if touched:
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            upsert = dialect.insert(stats_state)
            await conn.execute(upsert.on_conflict_do_update(index_elements=["uc_id", "connection_id"],
                                                            set_={"state": upsert.excluded.state}),
                               [{"uc_id": u, "connection_id": c, "state": states[(u, c)]} for u, c in touched])
        for (app_id, conference_id), rank in worst.items():
            await conn.execute(conferences.update().where(
                (conferences.c.app_id == app_id) & (conferences.c.conference_id == conference_id)
                & ((conferences.c.worst_quality > rank) | conferences.c.worst_quality.is_(None))
            ).values(worst_quality=rank))

    async def _not_stored_yet(self, conn, items: list) -> list:
        """Drop retries of samples already stored (same itemID), and repeats within the batch."""
        keyed = [w for w, _ in items if w["item_id"]]
        stored = set()
        if keyed:
            # every column of the unique index (app_id, item_id, timestamp): an index lookup, and on
            # PostgreSQL only the partitions of those timestamps, not a scan of every stored sample
            found = await conn.execute(sa.select(stats.c.app_id, stats.c.item_id).where(
                stats.c.app_id.in_({w["app_id"] for w in keyed}) & stats.c.item_id.in_({w["item_id"] for w in keyed})
                & stats.c.timestamp.in_({w["timestamp"] for w in keyed})))
            stored = {(r.app_id, r.item_id) for r in found}
        kept = []
        for where, body in items:
            key = (where["app_id"], where["item_id"])
            if key in stored:
                continue
            if where["item_id"]:
                stored.add(key)
            kept.append((where, body))
        return kept

    async def _states(self, conn, keys: set) -> dict:
        if not keys:
            return {}
        uc_ids = {u for u, _ in keys}
        rows = await conn.execute(sa.select(stats_state).where(stats_state.c.uc_id.in_(uc_ids)))
        return {(r.uc_id, r.connection_id): r.state for r in rows if (r.uc_id, r.connection_id) in keys}

    async def _touch_conference(self, conn, app_id, conference_id, at) -> None:
        updated = await conn.execute(conferences.update().where(
            (conferences.c.app_id == app_id) & (conferences.c.conference_id == conference_id)).values(
            start=sa.case((conferences.c.start > at, at), else_=conferences.c.start),
            end=sa.case((conferences.c.end < at, at), else_=conferences.c.end)))
        if updated.rowcount == 0:
            await conn.execute(insert_once(self.engine, conferences).values(
                app_id=app_id, conference_id=conference_id, start=at, end=at))


def device_of(body: dict) -> Optional[dict]:
    """The battery and Wi-Fi figures a stats body carries (the deployed client's), or None."""
    device = {name: body[name] for name in DEVICE_FIELDS if isinstance(body.get(name), dict)}
    return device or None


def stream_figures(previous: Optional[list], current: list) -> dict[tuple, dict]:
    """(type, ssrc) -> the quality figures of the interval between two stored samples, worked out
    by the client's own code (callwire.figures), so the dashboard and csStatsCallback agree."""
    if not previous:
        return {}
    figures = {}
    for stream in shared_figures.streams({e["id"]: e for e in previous}, {e["id"]: e for e in current}):
        values = {}
        if stream["mos"] is not None:
            values["csioMos"] = stream["mos"]
        if stream["quality"] in ORDER:
            values["csioQuality"] = ORDER.index(stream["quality"])
        figures[(stream["statsType"], stream["ssrc"])] = values
    return figures
