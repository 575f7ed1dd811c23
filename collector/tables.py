"""The collector's tables (SQLAlchemy Core). Alembic's revisions (collector/migrations) make them;
PostgreSQL partitions stats and stream_points by day (revision 0003, collector.retention)."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = sa.MetaData()

# What a stats body carries about the device besides getStats(), as the deployed client sends it
# with every upload: kept with the sample (stats.device), read back with it.
DEVICE_FIELDS = ("batteryStatus", "wifiStats")

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
    sa.Column("device", sa.JSON(none_as_null=True)),  # {batteryStatus?, wifiStats?} of the body (revision 0004)
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

def insert_once(engine: AsyncEngine, table: sa.Table):
    """INSERT that skips a row whose unique key (an itemID already stored) exists."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()
