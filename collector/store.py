"""Storage with SQLAlchemy: SQLite (WAL) by default, PostgreSQL by URL. Schema by Alembic.

Everything a request acknowledges is committed before its 200 goes out. A retried item (same
itemID) is stored once. Stats sent as deltas are rebuilt to full values here, so readers only
ever see full samples; each RTP stream's numbers also go to `stream_points`, one row per sample,
so a chart's time series is one indexed range read.
"""

import asyncio
import secrets
import time
from pathlib import Path
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callwire import figures as shared_figures
from callwire.deltas import rebuild
from callwire.quality import ORDER

from .metrics import GROUP_COMMIT, STORAGE_ERRORS

metadata = sa.MetaData()

settings = sa.Table(  # the collector's own secrets, shared by every worker through the database
    "settings", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
apps = sa.Table(
    "apps", metadata,
    sa.Column("app_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("read_key", sa.String(128), nullable=False, unique=True),
    sa.Column("origins", sa.JSON, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
app_keys = sa.Table(
    "app_keys", metadata,
    sa.Column("app_id", sa.BigInteger, sa.ForeignKey("apps.app_id"), primary_key=True),
    sa.Column("key_id", sa.String(256), primary_key=True),
    sa.Column("public_key", sa.Text, nullable=False),
)
used_jti = sa.Table(
    "used_jti", metadata,
    sa.Column("app_id", sa.BigInteger, primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires", sa.Float, nullable=False),
)
members = sa.Table(
    "members", metadata,
    sa.Column("uc_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.BigInteger, nullable=False),
    sa.Column("conference_id", sa.String(512), nullable=False),
    sa.Column("local_id", sa.String(512), nullable=False),
    sa.Column("device_id", sa.String(512), nullable=False),
    sa.Column("endpoint_info", sa.JSON),
    sa.Column("joined", sa.Float, nullable=False),
    sa.Column("left", sa.Float),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Index("members_by_conference", "app_id", "conference_id"),
)
conferences = sa.Table(
    "conferences", metadata,
    sa.Column("app_id", sa.BigInteger, primary_key=True),
    sa.Column("conference_id", sa.String(512), primary_key=True),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    # the worst quality any stream had over an interval: an index into callwire.quality.ORDER
    sa.Column("worst_quality", sa.SmallInteger),  # revision 0002
    sa.Index("conferences_by_time", "app_id", "start"),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.BigInteger, nullable=False),
    sa.Column("conference_id", sa.String(512), nullable=False),
    sa.Column("uc_id", sa.String(64)),
    sa.Column("connection_id", sa.String(512)),
    sa.Column("path", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(64)),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("item_id", sa.String(128)),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Index("events_by_conference", "app_id", "conference_id", "timestamp"),
    sa.Index("events_once", "app_id", "item_id", unique=True),
)
stats = sa.Table(
    "stats", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.BigInteger, nullable=False),
    sa.Column("conference_id", sa.String(512), nullable=False),
    sa.Column("uc_id", sa.String(64), nullable=False),
    sa.Column("connection_id", sa.String(512)),
    sa.Column("path", sa.String(32), nullable=False),  # stats | customstats
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("item_id", sa.String(128)),
    sa.Column("stats", sa.JSON, nullable=False),  # full values (deltas rebuilt)
    sa.Index("stats_by_conference", "app_id", "conference_id", "timestamp"),
    sa.Index("stats_once", "app_id", "item_id", unique=True),
)
stats_state = sa.Table(  # the last full sample per connection, to rebuild the next delta
    "stats_state", metadata,
    sa.Column("uc_id", sa.String(64), primary_key=True),
    sa.Column("connection_id", sa.String(512), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
)
stream_points = sa.Table(
    "stream_points", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.BigInteger, nullable=False),
    sa.Column("conference_id", sa.String(512), nullable=False),
    sa.Column("uc_id", sa.String(64), nullable=False),
    sa.Column("connection_id", sa.String(512)),
    sa.Column("ssrc", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Index("points_by_stream", "app_id", "conference_id", "ssrc", "timestamp"),
)

RTP_KINDS = ("inbound-rtp", "outbound-rtp", "remote-inbound-rtp", "remote-outbound-rtp")


def database_url(data_dir: Path, url: Optional[str]) -> str:
    if url:
        return url.replace("postgresql://", "postgresql+asyncpg://", 1) if url.startswith("postgresql://") else url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir / 'collector.sqlite3'}"


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a killed process
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=20, max_overflow=20)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    def upgrade(connection):
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


def _insert_once(engine: AsyncEngine, table: sa.Table):
    """INSERT that skips a row whose unique key (an itemID already stored) exists."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


GROUP_COMMIT_MAX = 256  # requests in one transaction at most
TOUCH_EVERY_MS = 5000
CACHE_S = 5.0  # how long an app row is reused before it is read again


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._pending: asyncio.Queue = asyncio.Queue()
        self._writer: Optional[asyncio.Task] = None
        self._last_touch: dict[str, float] = {}
        self._apps: dict[int, tuple[float, Optional[dict]]] = {}
        self._members: dict[str, dict] = {}  # ucID -> its member row (what we check never changes)

    async def setting(self, name: str, make) -> str:
        """A stored value, made once (by the first worker to ask) and the same for all."""
        async with self.engine.begin() as conn:
            await conn.execute(_insert_once(self.engine, settings).values(name=name, value=make()))
            return (await conn.execute(sa.select(settings.c.value).where(settings.c.name == name))).scalar()

    # ---- apps ----

    async def create_app(self, name: str, origins: list[str]) -> dict:
        async with self.engine.begin() as conn:
            biggest = (await conn.execute(sa.select(sa.func.max(apps.c.app_id)))).scalar()
            app = {"app_id": (biggest or 100000) + 1 + secrets.randbelow(1000), "name": name,
                   "secret": secrets.token_urlsafe(32), "read_key": secrets.token_urlsafe(32),
                   "origins": origins, "created": time.time()}
            await conn.execute(apps.insert().values(**app))
        return app

    async def app(self, app_id: int, fresh: bool = False) -> Optional[dict]:
        cached = self._apps.get(app_id)
        if cached and not fresh and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(apps).where(apps.c.app_id == app_id))).mappings().first()
        found = dict(row) if row else None
        self._apps[app_id] = (time.monotonic(), found)
        return found

    async def app_by_read_key(self, read_key: str) -> Optional[dict]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(apps).where(apps.c.read_key == read_key))).mappings().first()
        return dict(row) if row else None

    async def list_apps(self) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(apps).order_by(apps.c.app_id))).mappings().all()
        return [dict(r) for r in rows]

    async def set_origins(self, app_id: int, origins: list[str]) -> bool:
        async with self.engine.begin() as conn:
            done = await conn.execute(apps.update().where(apps.c.app_id == app_id).values(origins=origins))
        return done.rowcount == 1

    async def add_key(self, app_id: int, key_id: str, public_key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(app_keys.delete().where((app_keys.c.app_id == app_id) & (app_keys.c.key_id == key_id)))
            await conn.execute(app_keys.insert().values(app_id=app_id, key_id=key_id, public_key=public_key))

    async def key(self, app_id: int, key_id: str) -> Optional[str]:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(app_keys.c.public_key).where(
                (app_keys.c.app_id == app_id) & (app_keys.c.key_id == key_id)))).scalar()

    async def use_jti(self, app_id: int, jti: str, expires: float) -> bool:
        """False when this jti was seen before (a replayed token)."""
        async with self.engine.begin() as conn:
            await conn.execute(used_jti.delete().where(used_jti.c.expires < time.time()))
            done = await conn.execute(_insert_once(self.engine, used_jti).values(app_id=app_id, jti=jti, expires=expires))
        return done.rowcount == 1

    # ---- ingest ----

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
                await conn.execute(_insert_once(self.engine, events), events_rows)
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
            rows.append({**where, "stats": entries})
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
            await conn.execute(_insert_once(self.engine, conferences).values(
                app_id=app_id, conference_id=conference_id, start=at, end=at))

    # ---- reading ----

    async def conferences(self, app_id: int, limit: int, before: Optional[float], since: Optional[float],
                          until: Optional[float], contains: Optional[str] = None,
                          quality_at_most: Optional[str] = None) -> list[dict]:
        """Newest first; `contains`: part of the conference ID; `quality_at_most`: only those whose
        worst quality was this or worse."""
        query = sa.select(conferences).where(conferences.c.app_id == app_id)
        if contains:
            query = query.where(conferences.c.conference_id.contains(contains, autoescape=True))
        if quality_at_most:
            query = query.where(conferences.c.worst_quality <= ORDER.index(quality_at_most))
        if before is not None:
            query = query.where(conferences.c.start < before)
        if since is not None:
            query = query.where(conferences.c.end >= since)
        if until is not None:
            query = query.where(conferences.c.start <= until)
        query = query.order_by(conferences.c.start.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings().all()]
            summaries = await self._summaries(conn, app_id, [r["conference_id"] for r in rows])
        for row in rows:
            row.update(summaries[row["conference_id"]])
            row["worstQuality"] = ORDER[row["worst_quality"]] if row["worst_quality"] is not None else None
        return rows

    async def _summaries(self, conn, app_id: int, conference_ids: list[str]) -> dict[str, dict]:
        """Participants, fabrics (set up) and setup failures of each conference: three grouped
        queries for a whole page of the list, whatever its length."""
        out = {c: {"participants": 0, "fabrics": 0, "failures": 0} for c in conference_ids}
        if not conference_ids:
            return out
        in_events = (events.c.app_id == app_id) & events.c.conference_id.in_(conference_ids)
        queries = {
            "participants": sa.select(members.c.conference_id, sa.func.count()).where(
                (members.c.app_id == app_id) & members.c.conference_id.in_(conference_ids)
            ).group_by(members.c.conference_id),
            "fabrics": sa.select(events.c.conference_id, sa.func.count(sa.distinct(events.c.connection_id))).where(
                in_events & (events.c.path == "events/fabric/setup")).group_by(events.c.conference_id),
            "failures": sa.select(events.c.conference_id, sa.func.count()).where(
                in_events & (events.c.path == "events/fabric/setupfailed")).group_by(events.c.conference_id),
        }
        for name, query in queries.items():
            for conference_id, count in (await conn.execute(query)).all():
                out[conference_id][name] = count
        return out

    async def conference(self, app_id: int, conference_id: str) -> Optional[dict]:
        async with self.engine.connect() as conn:
            head = (await conn.execute(sa.select(conferences).where(
                (conferences.c.app_id == app_id) & (conferences.c.conference_id == conference_id)))).mappings().first()
            if head is None:
                return None
            people = (await conn.execute(sa.select(members).where(
                (members.c.app_id == app_id) & (members.c.conference_id == conference_id)
            ).order_by(members.c.joined))).mappings().all()
            fabric_events = (await conn.execute(sa.select(events.c.uc_id, events.c.connection_id, events.c.path,
                                                          events.c.timestamp, events.c.body).where(
                (events.c.app_id == app_id) & (events.c.conference_id == conference_id)
                & events.c.path.in_(["events/fabric/setup", "events/fabric/terminated",
                                     "events/fabric/setupfailed"])).order_by(events.c.timestamp))).all()
            summary = (await self._summaries(conn, app_id, [conference_id]))[conference_id]
            summary["worstQuality"] = ORDER[head["worst_quality"]] if head["worst_quality"] is not None else None
        return {"conferenceID": conference_id, "start": head["start"], "end": head["end"],
                "participants": [_participant(p, fabric_events) for p in people], "summary": summary}

    async def events_of(self, app_id: int, conference_id: str, limit: int,
                        after: Optional[tuple[float, int]]) -> list[dict]:
        """By time; `after` is the (timestamp, id) of the previous page's last row."""
        where = (events.c.app_id == app_id) & (events.c.conference_id == conference_id)
        if after is not None:
            where &= (events.c.timestamp > after[0]) | ((events.c.timestamp == after[0]) & (events.c.id > after[1]))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(events).where(where).order_by(
                events.c.timestamp, events.c.id).limit(limit))).mappings().all()
        return [{"id": r["id"], "ucID": r["uc_id"], "connectionID": r["connection_id"], "path": r["path"],
                 "eventType": r["event_type"], "timestamp": r["timestamp"], "body": r["body"]} for r in rows]

    async def stats_of(self, app_id: int, conference_id: str, limit: int,
                        after: Optional[tuple[float, int]]) -> list[dict]:
        """By time; `after` is the (timestamp, id) of the previous page's last row."""
        where = (stats.c.app_id == app_id) & (stats.c.conference_id == conference_id)
        if after is not None:
            where &= (stats.c.timestamp > after[0]) | ((stats.c.timestamp == after[0]) & (stats.c.id > after[1]))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(stats).where(where).order_by(
                stats.c.timestamp, stats.c.id).limit(limit))).mappings().all()
        return [{"id": r["id"], "ucID": r["uc_id"], "connectionID": r["connection_id"], "path": r["path"],
                 "timestamp": r["timestamp"], "stats": r["stats"]} for r in rows]

    async def series(self, app_id: int, conference_id: str, field: str) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(stream_points).where(
                (stream_points.c.app_id == app_id) & (stream_points.c.conference_id == conference_id)
            ).order_by(stream_points.c.ssrc, stream_points.c.timestamp))).mappings().all()
        streams: dict[tuple, dict] = {}
        for r in rows:
            stream = streams.setdefault((r["uc_id"], r["connection_id"], r["ssrc"], r["kind"]), {
                "ucID": r["uc_id"], "connectionID": r["connection_id"], "ssrc": r["ssrc"], "type": r["kind"],
                "timestamps": [], "values": []})
            if field in r["values"]:
                stream["timestamps"].append(r["timestamp"])
                stream["values"].append(r["values"][field])
        return [s for s in streams.values() if s["values"]]


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


def _participant(member, fabric_events) -> dict:
    fabrics: dict[str, dict] = {}
    for uc_id, connection_id, path, timestamp, body in fabric_events:
        if uc_id != member["uc_id"] or connection_id is None:
            continue
        fabric = fabrics.setdefault(connection_id, {"connectionID": connection_id, "remoteID": body.get("remoteID"),
                                                    "setupDelay": None, "state": "initializing", "terminated": None})
        if path == "events/fabric/setup":
            fabric.update(setupDelay=body.get("delay"), state="established")
        elif path == "events/fabric/setupfailed":
            fabric["state"] = "failed"
        else:
            fabric.update(state="terminated", terminated=timestamp)
    return {"ucID": member["uc_id"], "localID": member["local_id"], "deviceID": member["device_id"],
            "endpointInfo": member["endpoint_info"], "joined": member["joined"], "left": member["left"],
            "fabrics": list(fabrics.values())}
