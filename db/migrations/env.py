"""Alembic's entry point, run by db.migrate (never by the ``alembic`` command line: the
connection comes from ``config.attributes["connection"]``, already locked by db.migrate)."""

from alembic import context

from db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
