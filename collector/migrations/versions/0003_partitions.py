"""PostgreSQL: stats and stream_points partitioned by day of their timestamp, so that retention
drops whole days (collector/retention.py makes the days' partitions; rows of no day's partition,
an old or a far-ahead timestamp, wait in the default one). SQLite: nothing changes.

An item's timestamp never changes, so a retry lands in the same partition: itemIDs stay unique
with the timestamp in the unique index, as partitioned tables require.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"

TABLES = {
    "stats": ['CREATE INDEX stats_by_conference ON stats (app_id, conference_id, "timestamp")',
              'CREATE UNIQUE INDEX stats_once ON stats (app_id, item_id, "timestamp")'],
    "stream_points": ['CREATE INDEX points_by_stream ON stream_points (app_id, conference_id, ssrc, "timestamp")'],
}
OLD_INDEXES = {"stats": ["stats_by_conference", "stats_once"], "stream_points": ["points_by_stream"]}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, indexes in TABLES.items():
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        for index in OLD_INDEXES[table]:
            op.execute(f"ALTER INDEX {index} RENAME TO {old}_{index}")
        op.execute(f'CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS, PRIMARY KEY (id, "timestamp")) '
                   f'PARTITION BY RANGE ("timestamp")')
        for statement in indexes:
            op.execute(statement)
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")  # it outlives the old table
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # to the default partition: retention sorts them
        op.execute(f"DROP TABLE {old}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, indexes in TABLES.items():
        op.execute(f"CREATE TABLE {table}_flat (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {table}_flat SELECT * FROM {table}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}_flat.id")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_flat RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        for statement in indexes:
            op.execute(statement.replace(', "timestamp")', ")") if "UNIQUE" in statement else statement)
