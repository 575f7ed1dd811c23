"""Which database, how to connect to it, and bringing its schema up to date: SQLite (WAL) by
default, PostgreSQL by URL; the schema by Alembic."""

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


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


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the database at `url`, its schema brought up to date first; disposed after."""
    engine = make_engine(url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
