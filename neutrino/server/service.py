"""Assemble the server: database, plugin (schema upgraded), API application."""
from dataclasses import dataclass

from starlette.applications import Starlette

from neutrino.api.app import create_app
from neutrino.db.engine import Database
from neutrino.server.config import ServerOptions
from neutrino.server.plugin import Plugin


@dataclass
class Service:
    db: Database
    plugin: Plugin
    app: Starlette

    def close(self) -> None:
        self.db.dispose()


def build(db_url: str, options: ServerOptions | None = None, notifier=None,
          context_source=None) -> Service:
    db = Database(db_url)
    plugin = Plugin(db, options or ServerOptions(), notifier)
    plugin.start()
    return Service(db=db, plugin=plugin, app=create_app(plugin, context_source))
