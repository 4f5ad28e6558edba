"""Alembic environment: the models' metadata, the URL from the config."""

from alembic import context

import models
from models import make_engine
from models.migrate import lock_for_migration

config = context.config
target_metadata = models.Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            lock_for_migration(connection)  # several hosts starting together: one migrates
            context.run_migrations()
    engine.dispose()


run_migrations()
