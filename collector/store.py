"""The collector's data: the apps and their secrets here; the write path (collector.writes) and
the read queries (collector.queries) beside them, on the same engine."""

import secrets
import time
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .queries import Queries
from .tables import app_keys, apps, insert_once, settings, used_jti
from .writes import Writes

CACHE_S = 5.0  # how long an app row is reused before it is read again


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.writes = Writes(engine)
        self.queries = Queries(engine)
        self._apps: dict[int, tuple[float, Optional[dict]]] = {}

    async def setting(self, name: str, make) -> str:
        """A stored value, made once (by the first worker to ask) and the same for all."""
        async with self.engine.begin() as conn:
            await conn.execute(insert_once(self.engine, settings).values(name=name, value=make()))
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
            done = await conn.execute(insert_once(self.engine, used_jti).values(app_id=app_id, jti=jti, expires=expires))
        return done.rowcount == 1
