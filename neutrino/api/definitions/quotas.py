"""The quotas API as Neutron has it (``quotas`` and ``quota_details`` extensions).

GET /v2.0/quotas (admin: projects with non-default limits), GET/PUT/DELETE
/v2.0/quotas/{project_id}, GET .../default and .../details, and GET
/v2.0/quotas/tenant|project (the caller's own project id).
"""
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neutrino.api import extensions
from neutrino.server import exceptions as exc
from neutrino.server import policy

EXTENSIONS = ("quotas", "quota_details", "quota-check-limit")
OPTIONS = ("force", "check_limit")
"""Flags of Neutron's quota-check-limit: ``check_limit: true`` refuses a limit below the
current usage (400); ``force`` is the default behaviour (no check)."""
extensions.register("quotas", "Quota management support",
                    "Expose functions for quotas management per project")
extensions.register("quota-check-limit", "Quota engine limit check",
                    "Support for checking the resource usage before applying a new quota limit")
extensions.register("quota_details", "Quota details management support",
                    "Expose functions for quotas usage statistics per project")


def _limit(resource: str, value) -> int:
    if isinstance(value, bool):
        value = None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise exc.InvalidInput(error_message=f"'{value}' is not an integer "
                                             f"(quota for {resource})") from None


def quota_routes(quotas, context_source, prefix: str = "/v2.0") -> list[Route]:
    def readable(ctx, project_id: str) -> None:
        if not ctx.is_admin and ctx.project_id != project_id:
            policy.check_admin(ctx, "get_quota")

    async def list_quotas(request: Request) -> JSONResponse:
        ctx = context_source(request)
        policy.check_admin(ctx, "get_quota")
        return JSONResponse({"quotas": await run_in_threadpool(quotas.get_custom_projects)})

    async def own_project(request: Request) -> JSONResponse:
        ctx = context_source(request)
        if request.url.path.rstrip("/").endswith("tenant"):
            return JSONResponse({"tenant": {"tenant_id": ctx.project_id}})
        return JSONResponse({"project": {"project_id": ctx.project_id}})

    async def show(request: Request) -> JSONResponse:
        ctx = context_source(request)
        project_id = request.path_params["project_id"]
        readable(ctx, project_id)
        return JSONResponse({"quota": await run_in_threadpool(quotas.get_limits, project_id)})

    async def show_default(request: Request) -> JSONResponse:
        ctx = context_source(request)
        readable(ctx, request.path_params["project_id"])
        return JSONResponse({"quota": dict(quotas.defaults)})

    async def details(request: Request) -> JSONResponse:
        ctx = context_source(request)
        project_id = request.path_params["project_id"]
        readable(ctx, project_id)
        return JSONResponse({"quota": await run_in_threadpool(quotas.get_details, project_id)})

    async def update(request: Request) -> JSONResponse:
        ctx = context_source(request)
        policy.check_admin(ctx, "update_quota")
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise exc.HTTPBadRequest(msg="Malformed request body") from None
        if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
            raise exc.HTTPBadRequest(msg="Unable to find 'quota' in request body")
        changes = {r: _limit(r, v) for r, v in body["quota"].items() if r not in OPTIONS}
        check = body["quota"].get("check_limit") in (True, "true", "True", "1", 1)
        limits = await run_in_threadpool(quotas.set_limits, request.path_params["project_id"],
                                         changes, check)
        return JSONResponse({"quota": limits})

    async def reset(request: Request) -> Response:
        ctx = context_source(request)
        policy.check_admin(ctx, "delete_quota")
        await run_in_threadpool(quotas.reset, request.path_params["project_id"])
        return Response(status_code=204)

    base = f"{prefix}/quotas"
    return [
        Route(base, list_quotas, methods=["GET"]),
        Route(base + "/tenant", own_project, methods=["GET"]),
        Route(base + "/project", own_project, methods=["GET"]),
        Route(base + "/{project_id}", show, methods=["GET"]),
        Route(base + "/{project_id}", update, methods=["PUT"]),
        Route(base + "/{project_id}", reset, methods=["DELETE"]),
        Route(base + "/{project_id}/default", show_default, methods=["GET"]),
        Route(base + "/{project_id}/details", details, methods=["GET"]),
    ]
