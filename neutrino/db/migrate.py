"""Run the Alembic migrations shipped in ``neutrino/db/migrations`` (upgrade at start).

Each service (L2 core, routers, security groups, identity) keeps its own
branch rooted at the core revision, so the default target is ``heads``.
"""
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    command.upgrade(alembic_config(engine), revision)
