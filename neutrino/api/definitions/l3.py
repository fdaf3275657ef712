"""routers and floatingips (Neutron's l3, ext-gw-mode, extraroute, fip-port-details),
plus the routers' member actions (add/remove_router_interface, add/remove_extraroutes)."""
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neutrino.api import extensions
from neutrino.api import validators as v
from neutrino.api.attributes import Attr, ResourceSpec, attrs
from neutrino.api.definitions.standard import BOOL_FILTER, standard_attributes
from neutrino.api.resource import bad, read_json
from neutrino.server.l3 import exceptions as l3_exc

extensions.register("router", "Neutron L3 Router",
                    "Router abstraction for basic L3 forwarding between L2 Neutron networks "
                    "and access to external networks via a NAT gateway.")
extensions.register("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
                    "Extension of the router abstraction for specifying whether SNAT should "
                    "occur on the external gateway")
extensions.register("extraroute", "Neutron Extra Route",
                    "Extra routes configuration for L3 router")
extensions.register("extraroute-atomic", "Atomically add/remove extra routes",
                    "Edit extra routes of a router on server side by atomically adding/removing "
                    "extra routes")
extensions.register("l3_agent_scheduler", "L3 Agent Scheduler",
                    "Schedule routers among l3 agents")
extensions.register("fip-port-details", "Floating IP Port Details Extension",
                    "Add port_details attribute to Floating IP resource")

external_fixed_ip = v.record({}, {"subnet_id": v.uuid_str, "ip_address": v.ip_address})
_gateway_record = v.record({"network_id": v.uuid_str},
                           {"enable_snat": v.boolean,
                            "external_fixed_ips": v.nullable(v.list_of(external_fixed_ip))})


def gateway_info(value):
    """external_gateway_info: a dict with network_id, or {} / null to clear (OSC sends {})."""
    if value is None or value == {}:
        return None
    return _gateway_record(value)


routes_list = v.list_of(v.host_route)

ROUTER = ResourceSpec(
    "router", "routers",
    attrs(*standard_attributes(),
          Attr("admin_state_up", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("status"),
          Attr("external_gateway_info", gateway_info, allow_post=True, allow_put=True,
               filter=None, sortable=False),
          Attr("routes", v.nullable(routes_list), allow_put=True, filter=None,
               sortable=False)),
    extensions=("router", "ext-gw-mode", "extraroute", "extraroute-atomic",
                "l3_agent_scheduler"))

_fip_standard = [a for a in standard_attributes() if a.name != "name"]

FLOATINGIP = ResourceSpec(
    "floatingip", "floatingips",
    attrs(*_fip_standard,
          Attr("floating_ip_address", v.nullable(v.ip_address), allow_post=True),
          Attr("subnet_id", v.nullable(v.uuid_str), allow_post=True, filter=None),
          Attr("floating_network_id", v.uuid_str, allow_post=True, required=True),
          Attr("router_id"),
          Attr("port_id", v.nullable(v.uuid_str), allow_post=True, allow_put=True),
          Attr("fixed_ip_address", v.nullable(v.ip_address), allow_post=True, allow_put=True),
          Attr("status"),
          Attr("port_details", filter=None, sortable=False)),
    extensions=("fip-port-details",))


def _interface_body(body) -> dict:
    if not isinstance(body, dict):
        raise bad("Body contains invalid data")
    out = {}
    for key in ("port_id", "subnet_id"):
        if key in body:
            try:
                out[key] = v.uuid_str(body[key])
            except ValueError as error:
                raise l3_exc.router_bad_request(str(error)) from None
    return out


def _routes_body(body) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("router"), dict):
        raise bad("Unable to find 'router' in request body")
    router = body["router"]
    unknown = [k for k in router if k != "routes"]
    if unknown or "routes" not in router:
        raise bad("Only the 'routes' attribute is accepted by this action")
    try:
        return routes_list(router["routes"])
    except ValueError as error:
        raise bad(f"Invalid input for routes. Reason: {error}.") from None


def member_routes(l3, context_source, prefix: str = "/v2.0") -> list[Route]:
    """The routers' member actions and the l3_agent_scheduler paths, answered as Neutron does."""
    async def interface(request: Request, method) -> JSONResponse:
        ctx = context_source(request)
        body = _interface_body(await read_json(request))
        result = await run_in_threadpool(method, ctx, request.path_params["id"], body)
        return JSONResponse(result)

    async def add_interface(request: Request) -> JSONResponse:
        return await interface(request, l3.add_router_interface)

    async def remove_interface(request: Request) -> JSONResponse:
        return await interface(request, l3.remove_router_interface)

    async def extraroutes(request: Request, method) -> JSONResponse:
        ctx = context_source(request)
        routes = _routes_body(await read_json(request))
        router = await run_in_threadpool(method, ctx, request.path_params["id"], routes)
        return JSONResponse({"router": router})

    async def add_routes(request: Request) -> JSONResponse:
        return await extraroutes(request, l3.add_extraroutes)

    async def remove_routes(request: Request) -> JSONResponse:
        return await extraroutes(request, l3.remove_extraroutes)

    async def l3_agents(request: Request) -> JSONResponse:
        ctx = context_source(request)
        agents = await run_in_threadpool(l3.list_l3_agents_hosting_router, ctx,
                                         request.path_params["id"])
        return JSONResponse({"agents": agents})

    async def l3_routers(request: Request) -> JSONResponse:
        ctx = context_source(request)
        routers = await run_in_threadpool(l3.list_routers_on_l3_agent, ctx,
                                          request.path_params["id"])
        return JSONResponse({"routers": routers})

    async def schedule(request: Request) -> JSONResponse:
        ctx = context_source(request)
        body = await read_json(request)
        if not isinstance(body, dict) or "router_id" not in body:
            raise bad("Unable to find 'router_id' in request body")
        try:
            router_id = v.uuid_str(body["router_id"])
        except ValueError as error:
            raise bad(f"Invalid input for router_id. Reason: {error}.") from None
        await run_in_threadpool(l3.add_router_to_l3_agent, ctx, request.path_params["id"],
                                router_id)
        return JSONResponse(None, status_code=201)

    async def unschedule(request: Request) -> Response:
        ctx = context_source(request)
        await run_in_threadpool(l3.remove_router_from_l3_agent, ctx,
                                request.path_params["id"], request.path_params["router_id"])
        return Response(status_code=204)

    base = f"{prefix}/routers/{{id}}"
    agent = f"{prefix}/agents/{{id}}/l3-routers"
    return [Route(f"{base}/add_router_interface", add_interface, methods=["PUT"]),
            Route(f"{base}/remove_router_interface", remove_interface, methods=["PUT"]),
            Route(f"{base}/add_extraroutes", add_routes, methods=["PUT"]),
            Route(f"{base}/remove_extraroutes", remove_routes, methods=["PUT"]),
            Route(f"{base}/l3-agents", l3_agents, methods=["GET"]),
            Route(agent, l3_routers, methods=["GET"]),
            Route(agent, schedule, methods=["POST"]),
            Route(agent + "/{router_id}", unschedule, methods=["DELETE"])]
