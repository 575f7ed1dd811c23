"""stats.device: the battery and Wi-Fi figures a stats body carries (the deployed client's
batteryStatus and wifiStats), kept with the sample.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # 0001 creates the tables from the current metadata, so a new database has the column already;
    # on PostgreSQL, a column added to the partitioned table is added to every partition
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("stats")}
    if "device" not in columns:
        op.add_column("stats", sa.Column("device", sa.JSON))


def downgrade() -> None:
    op.drop_column("stats", "device")
