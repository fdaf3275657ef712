"""Alembic environment: uses the engine handed over by neutrino.db.migrate,
or the ``sqlalchemy.url`` of an alembic.ini when run by hand."""
from alembic import context
from sqlalchemy import engine_from_config, pool

from neutrino.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                    prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
