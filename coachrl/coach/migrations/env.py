"""Alembic's environment for the log store: runs the revisions on the connection (already in
a transaction) that `coachrl.coach.migrations.upgrade` passes in `config.attributes`."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
