"""The initial schema: apps and keys, members and conferences, events, stats, stream points.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    # The first revision is the schema of collector/store.py as it was written; every later change
    # to those tables comes as a new revision with explicit operations.
    from collector.tables import metadata

    metadata.create_all(op.get_bind())


def downgrade() -> None:
    from collector.tables import metadata

    metadata.drop_all(op.get_bind())
