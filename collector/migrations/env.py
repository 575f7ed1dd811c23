"""Alembic environment: run with the connection database.migrate() hands over (sync or async engine)."""

from alembic import context

from collector.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
