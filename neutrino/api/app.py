"""The ASGI application: version documents, extensions, and one collection per resource."""
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from neutrino.api import extensions, faults
from neutrino.api.attributes import ResourceSpec
from neutrino.api.auth import NoAuth
from neutrino.api.definitions.agents import AGENT
from neutrino.api.definitions.l2 import NETWORK, PORT, SUBNET
from neutrino.api.resource import Collection
from neutrino.server import exceptions as exc

CORE_RESOURCES = (NETWORK, SUBNET, PORT, AGENT)


class StripJsonSuffix:
    """Neutron accepts ``/v2.0/networks.json``: drop the suffix before routing."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith(".json"):
            scope = dict(scope, path=scope["path"][:-len(".json")])
        await self.app(scope, receive, send)


def create_app(plugin, context_source=None,
               services: list[tuple[ResourceSpec, object]] = (),
               extra_routes: list[Route] = (),
               extra_extensions: tuple[str, ...] = ()) -> Starlette:
    """Build the API for ``plugin`` (the core) plus other services' collections.

    ``services``: (spec, plugin) pairs of later resources (routers, floating
    IPs, security groups, quotas); ``extra_routes``: member actions such as
    ``add_router_interface``.
    """
    context_source = context_source or NoAuth()
    bindings = [(spec, plugin) for spec in CORE_RESOURCES] + list(services)
    collections = [Collection(spec, owner, context_source) for spec, owner in bindings]
    aliases = sorted(set(extensions.CORE) | set(extra_extensions)
                     | {a for spec, _ in bindings for a in spec.extensions})
    extension_list = [extensions.describe(a) for a in aliases]
    by_alias = {e["alias"]: e for e in extension_list}

    async def versions(request: Request) -> JSONResponse:
        href = str(request.base_url) + "v2.0/"
        return JSONResponse({"versions": [{"id": "v2.0", "status": "CURRENT",
                                           "links": [{"href": href, "rel": "self"}]}]})

    async def resources(request: Request) -> JSONResponse:
        base = str(request.base_url) + "v2.0/"
        return JSONResponse({"resources": [
            {"name": spec.singular, "collection": spec.plural,
             "links": [{"href": base + spec.path, "rel": "self"}]}
            for spec, _ in bindings]})

    async def list_extensions(request: Request) -> JSONResponse:
        context_source(request)
        return JSONResponse({"extensions": extension_list})

    async def show_extension(request: Request) -> JSONResponse:
        context_source(request)
        alias = request.path_params["alias"]
        if alias not in by_alias:
            raise exc.ExtensionNotFound(alias=alias)
        return JSONResponse({"extension": by_alias[alias]})

    routes = [
        Route("/", versions, methods=["GET"]),
        Route("/v2.0", resources, methods=["GET"]),
        Route("/v2.0/", resources, methods=["GET"]),
        Route("/v2.0/extensions", list_extensions, methods=["GET"]),
        Route("/v2.0/extensions/{alias}", show_extension, methods=["GET"]),
    ]
    routes += list(extra_routes)
    for collection in collections:
        routes += collection.routes()
    app = Starlette(routes=routes, exception_handlers=faults.HANDLERS)
    app.state.plugin = plugin
    app.add_middleware(StripJsonSuffix)
    return app
