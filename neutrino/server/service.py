"""Assemble the server: database, plugin (schema upgraded), API application."""
from dataclasses import dataclass

from starlette.applications import Starlette

from neutrino.api.app import create_app
from neutrino.api.auth import KeystoneAuth, NoAuth
from neutrino.api.definitions.l3 import FLOATINGIP, ROUTER, member_routes
from neutrino.api.definitions.quotas import EXTENSIONS as QUOTA_EXTENSIONS
from neutrino.api.definitions.quotas import quota_routes
from neutrino.api.definitions.securitygroups import SECURITY_GROUP, SECURITY_GROUP_RULE
from neutrino.db.engine import Database
from neutrino.identity.store import IdentityStore
from neutrino.server.config import ServerOptions
from neutrino.server.l3 import L3Plugin
from neutrino.server.plugin import Plugin
from neutrino.server.quotas import Quotas


@dataclass
class Service:
    db: Database
    plugin: Plugin
    app: Starlette
    quotas: Quotas | None = None
    identity: IdentityStore | None = None
    l3: L3Plugin | None = None

    def close(self) -> None:
        self.db.dispose()


def build(db_url: str, options: ServerOptions | None = None, notifier=None,
          context_source=None, auth: str = "noauth") -> Service:
    """``auth="keystone"``: the API validates tokens of an identity store on the same DB."""
    db = Database(db_url)
    plugin = Plugin(db, options or ServerOptions(), notifier)
    plugin.start()
    quotas = Quotas(db, plugin.registry)
    identity = None
    if auth == "keystone":
        identity = IdentityStore(db)
        context_source = KeystoneAuth(identity.context_for)
    context_source = context_source or NoAuth()
    l3 = L3Plugin(plugin)
    services = [(SECURITY_GROUP, plugin), (SECURITY_GROUP_RULE, plugin),
                (ROUTER, l3), (FLOATINGIP, l3)]
    app = create_app(plugin, context_source, services=services,
                     extra_routes=quota_routes(quotas, context_source)
                     + member_routes(l3, context_source),
                     extra_extensions=QUOTA_EXTENSIONS)
    return Service(db=db, plugin=plugin, app=app, quotas=quotas, identity=identity, l3=l3)
