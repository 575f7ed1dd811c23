"""Alembic revisions bring a database made by an older collector up to date, data kept."""

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from collector.database import make_engine, migrate

from ..servers import run_async


def as_of(url: str, revision: str, then) -> None:
    """A database at an older revision, with `then(connection)` run on it (the data it had)."""

    def old_schema(connection):
        config = Config()
        config.set_main_option("script_location", "collector/migrations")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        then(connection)

    async def make():
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(old_schema)
        await engine.dispose()

    run_async(make())


def test_0002_adds_worst_quality_to_a_0001_database(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"

    def with_data(connection):
        # 0001 creates today's tables: take the column away to have the schema 0001 made then
        connection.execute(sa.text("ALTER TABLE conferences DROP COLUMN worst_quality"))
        connection.execute(sa.text("INSERT INTO conferences (app_id, conference_id, start, \"end\") "
                                   "VALUES (1, 'kept', 1, 2)"))

    async def upgraded():
        engine = make_engine(url)
        await migrate(engine)
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: [col["name"] for col in sa.inspect(c).get_columns("conferences")])
            rows = (await conn.execute(sa.text("SELECT conference_id, worst_quality FROM conferences"))).all()
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        await engine.dispose()
        return columns, rows, version

    as_of(url, "0001", with_data)
    columns, rows, version = run_async(upgraded())
    assert "worst_quality" in columns and rows == [("kept", None)] and version == "0004"


def test_0003_partitions_the_stats_of_a_0002_postgres_database_by_day(postgres):
    url = postgres.create_database("as_of_0002").replace("postgresql://", "postgresql+asyncpg://", 1)
    insert = sa.text("INSERT INTO stats (app_id, conference_id, uc_id, path, \"timestamp\", item_id, stats) "
                     "VALUES (1, 'kept', 'u', 'stats', :at, :item, '[]')")

    def with_data(connection):
        for n in range(3):
            connection.execute(insert, {"at": 1_700_000_000_000 + n, "item": f"i{n}"})

    async def upgraded():
        engine = make_engine(url)
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(insert, {"at": 1_700_000_000_009, "item": "after"})
            rows = (await conn.execute(sa.text("SELECT id, item_id FROM stats ORDER BY id"))).all()
            kind = (await conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = 'stats'"))).scalar()
        await engine.dispose()
        return rows, kind

    as_of(url, "0002", with_data)
    rows, kind = run_async(upgraded())
    assert kind in ("p", b"p")  # partitioned (asyncpg answers the "char" type as bytes)
    assert [item for _, item in rows] == ["i0", "i1", "i2", "after"] and rows[-1][0] == 4  # the ids go on


def test_0004_adds_device_to_the_stats_of_a_0003_postgres_database(postgres):
    """A column added to the partitioned table, every partition's rows kept."""
    url = postgres.create_database("as_of_0003").replace("postgresql://", "postgresql+asyncpg://", 1)
    insert = sa.text("INSERT INTO stats (app_id, conference_id, uc_id, path, \"timestamp\", item_id, stats) "
                     "VALUES (1, 'kept', 'u', 'stats', 1700000000000, 'old', '[]')")

    def with_data(connection):
        # 0001 creates today's tables: take the column away to have the schema 0003 made then
        connection.execute(sa.text("ALTER TABLE stats DROP COLUMN device"))
        connection.execute(insert)

    async def upgraded():
        engine = make_engine(url)
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO stats (app_id, conference_id, uc_id, path, \"timestamp\", "
                                       "item_id, stats, device) VALUES (1, 'kept', 'u', 'stats', 1700000000001, "
                                       "'new', '[]', '{\"wifiStats\": {\"rssi\": -50}}')"))
            rows = (await conn.execute(sa.text("SELECT item_id, device::text FROM stats ORDER BY id"))).all()
        await engine.dispose()
        return rows

    as_of(url, "0003", with_data)
    assert run_async(upgraded()) == [("old", None), ("new", '{"wifiStats": {"rssi": -50}}')]
