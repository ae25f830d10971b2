"""Alembic environment: runs migrations on the connection abmkit hands over."""

from alembic import context

from abmkit.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("abmkit runs its migrations through abmkit.store.db.upgrade()")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
