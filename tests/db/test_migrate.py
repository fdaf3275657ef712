"""The Alembic migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from neutrino.db.engine import Database
from neutrino.db.migrate import upgrade
from neutrino.db.models import Base


def test_migrations_match_models(empty_db_url):
    db = Database(empty_db_url)
    try:
        upgrade(db.engine)
        upgrade(db.engine)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
            assert "alembic_version" in inspect(conn).get_table_names()
    finally:
        db.dispose()


def test_sqlite_uses_wal(sqlite_url):
    db = Database(sqlite_url)
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
