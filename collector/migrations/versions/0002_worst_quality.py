"""conferences.worst_quality: the worst rating any stream had, for the dashboard's list.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # 0001 creates the tables from the current metadata, so a new database has the column already
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("conferences")}
    if "worst_quality" not in columns:
        op.add_column("conferences", sa.Column("worst_quality", sa.SmallInteger))


def downgrade() -> None:
    op.drop_column("conferences", "worst_quality")
