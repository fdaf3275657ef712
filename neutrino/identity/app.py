"""Keystone v3's HTTP API (the subset real clients use) as a Starlette app.

Admin calls (projects, users, roles, assignments) need the admin role; a user
may read itself, its projects and its own token. Every handler answers in
Keystone's shapes; errors are ``{"error": {"code", "title", "message"}}``.
"""
import json

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neutrino.identity import errors
from neutrino.identity.store import DEFAULT_DOMAIN, IdentityStore, TokenInfo, digest
from neutrino.identity.tokens import catalog, stable_id, token_body

VERSION = {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.identity-v3+json"}]}
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _bool_param(value: str | None) -> bool | None:
    if value is None:
        return None
    try:
        return BOOLEANS[value.lower()]
    except KeyError:
        raise errors.ValidationError(f"Invalid boolean filter {value!r}.") from None


def _string(item: dict, key: str, max_len: int, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise errors.ValidationError(f"'{key}' is a required property.")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise errors.ValidationError(f"Invalid '{key}': a string of at most {max_len} "
                                     "characters is expected.")
    return value


def _enabled(item: dict) -> bool | None:
    value = item.get("enabled")
    if value is not None and not isinstance(value, bool):
        raise errors.ValidationError("Invalid 'enabled': a boolean is expected.")
    return value


def create_identity_app(store: IdentityStore, network_url: str, region: str = "RegionOne",
                        public_url: str | None = None) -> Starlette:
    """``network_url``: the Networking API's root as the catalog offers it;
    ``public_url``: this service's root (default: the URL the request came to)."""

    def base(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/") + "/"

    def version_doc(request: Request) -> dict:
        return dict(VERSION, links=[{"rel": "self", "href": base(request) + "v3/"}])

    def links(request: Request, path: str) -> dict:
        return {"self": base(request) + "v3/" + path}

    def caller(request: Request) -> TokenInfo:
        return store.validate(request.headers.get("x-auth-token"))

    def admin(request: Request) -> TokenInfo:
        info = caller(request)
        if "admin" not in info.role_names:
            raise errors.Forbidden()
        return info

    def render(items: list[dict], request: Request, kind: str) -> list[dict]:
        return [dict(i, links=links(request, f"{kind}/{i['id']}")) for i in items]

    def listing(request: Request, key: str, items: list[dict], kind: str) -> JSONResponse:
        return JSONResponse({key: render(items, request, kind),
                             "links": {"self": base(request) + "v3/" + kind,
                                       "previous": None, "next": None}})

    def threaded(handler):
        """Run a synchronous handler (database work, scrypt) off the event loop."""
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, request, await request.body())
        return endpoint

    # -- versions -------------------------------------------------------------

    async def root(request: Request) -> JSONResponse:
        return JSONResponse({"versions": {"values": [version_doc(request)]}}, status_code=300)

    async def v3(request: Request) -> JSONResponse:
        return JSONResponse({"version": version_doc(request)})

    # -- tokens ---------------------------------------------------------------

    def catalog_for(request: Request) -> list[dict]:
        return catalog(region, network_url, base(request) + "v3")

    def token_response(request: Request, token: str, info, status: int = 200) -> Response:
        body = token_body(info, stable_id(digest(token))[:22],
                          None if "nocatalog" in request.query_params else catalog_for(request))
        return JSONResponse(body, status_code=status, headers={"X-Subject-Token": token})

    def issue_token(request: Request, raw: bytes) -> Response:
        try:
            body = json.loads(raw or b"null")
            auth = body["auth"]
            identity = auth["identity"]
            methods = identity["methods"]
        except (ValueError, KeyError, TypeError):
            raise errors.ValidationError("Expecting to find auth.identity.methods in the "
                                         "request.") from None
        if not isinstance(methods, list) or not methods:
            raise errors.ValidationError("auth.identity.methods must be a non-empty list.")
        expires_at = None
        if "password" in methods:
            password = (identity.get("password") or {}).get("user") or {}
            if not isinstance(password.get("password"), str):
                raise errors.ValidationError("Expecting a password for the user.")
            user_id = store.check_password(password, password["password"])
            scoped_default = True
        elif "token" in methods:
            original = store.validate((identity.get("token") or {}).get("id"))
            user_id = original.user["id"]
            expires_at = original.expires_at
            scoped_default = False
        else:
            raise errors.Unauthorized()
        scope = auth.get("scope")
        project_id = None
        if isinstance(scope, dict) and "project" in scope:
            project_id = store.resolve_project(scope["project"] or {})
        elif scope:
            raise errors.Unauthorized()
        elif scoped_default:
            default_project = store.get_user(user_id).get("default_project_id")
            if default_project and store.assignments(user_id=user_id,
                                                     project_id=default_project):
                project_id = default_project
        token, info = store.issue(user_id, project_id, methods, expires_at)
        return token_response(request, token, info, status=201)

    def check_token(request: Request, _raw: bytes) -> Response:
        info = caller(request)
        subject = request.headers.get("x-subject-token")
        if not subject:
            raise errors.NotFound("token", "(no X-Subject-Token)")
        try:
            subject_info = store.validate(subject)
        except errors.Unauthorized:
            raise errors.NotFound("token", "(the given token)") from None
        if subject_info.user["id"] != info.user["id"] and "admin" not in info.role_names:
            raise errors.Forbidden()
        if request.method == "HEAD":
            return Response(status_code=200, headers={"X-Subject-Token": subject})
        return token_response(request, subject, subject_info)

    def revoke_token(request: Request, _raw: bytes) -> Response:
        info = caller(request)
        subject = request.headers.get("x-subject-token")
        if not subject:
            raise errors.NotFound("token", "(no X-Subject-Token)")
        try:
            subject_info = store.validate(subject)
        except errors.Unauthorized:
            raise errors.NotFound("token", "(the given token)") from None
        if subject_info.user["id"] != info.user["id"] and "admin" not in info.role_names:
            raise errors.Forbidden()
        store.revoke(subject)
        return Response(status_code=204)

    def auth_projects(request: Request, _raw: bytes) -> Response:
        info = caller(request)
        ids = {a["project"]["id"] for a in store.assignments(user_id=info.user["id"])}
        return listing(request, "projects", store.list_projects(ids=ids), "projects")

    def auth_catalog(request: Request, _raw: bytes) -> Response:
        caller(request)
        return JSONResponse({"catalog": catalog_for(request),
                             "links": {"self": base(request) + "v3/auth/catalog"}})

    # -- domains --------------------------------------------------------------

    def domain_entry(request: Request) -> dict:
        return dict(DEFAULT_DOMAIN, description="The default domain", enabled=True,
                    tags=[], options={}, links=links(request, "domains/default"))

    def list_domains(request: Request, _raw: bytes) -> Response:
        caller(request)
        name = request.query_params.get("name")
        found = [] if name not in (None, DEFAULT_DOMAIN["name"]) else [domain_entry(request)]
        return JSONResponse({"domains": found, "links": {"self": base(request) + "v3/domains",
                                                         "previous": None, "next": None}})

    def show_domain(request: Request, _raw: bytes) -> Response:
        caller(request)
        if request.path_params["id"] != DEFAULT_DOMAIN["id"]:
            raise errors.NotFound("domain", request.path_params["id"])
        return JSONResponse({"domain": domain_entry(request)})

    # -- projects -------------------------------------------------------------

    def list_projects(request: Request, _raw: bytes) -> Response:
        admin(request)
        q = request.query_params
        return listing(request, "projects", store.list_projects(
            name=q.get("name"), domain_id=q.get("domain_id"),
            enabled=_bool_param(q.get("enabled"))), "projects")

    def create_project(request: Request, raw: bytes) -> Response:
        admin(request)
        item = _envelope(raw, "project")
        project = store.create_project(
            _string(item, "name", 64, required=True),
            domain_id=item.get("domain_id") or DEFAULT_DOMAIN["id"],
            description=_string(item, "description", 255) or "",
            enabled=_enabled(item) is not False)
        return JSONResponse({"project": render([project], request, "projects")[0]},
                            status_code=201)

    def show_project(request: Request, _raw: bytes) -> Response:
        info = caller(request)
        project_id = request.path_params["id"]
        mine = info.project is not None and info.project["id"] == project_id
        if not mine and "admin" not in info.role_names:
            raise errors.Forbidden()
        return JSONResponse({"project": render([store.get_project(project_id)], request,
                                               "projects")[0]})

    def update_project(request: Request, raw: bytes) -> Response:
        admin(request)
        item = _envelope(raw, "project")
        changes = {k: item[k] for k in ("name", "description", "enabled") if k in item}
        _string(changes, "name", 64)
        _string(changes, "description", 255)
        _enabled(changes)
        project = store.update_project(request.path_params["id"], changes)
        return JSONResponse({"project": render([project], request, "projects")[0]})

    def delete_project(request: Request, _raw: bytes) -> Response:
        admin(request)
        store.delete_project(request.path_params["id"])
        return Response(status_code=204)

    # -- users ----------------------------------------------------------------

    def list_users(request: Request, _raw: bytes) -> Response:
        admin(request)
        q = request.query_params
        return listing(request, "users", store.list_users(
            name=q.get("name"), domain_id=q.get("domain_id"),
            enabled=_bool_param(q.get("enabled"))), "users")

    def create_user(request: Request, raw: bytes) -> Response:
        admin(request)
        item = _envelope(raw, "user")
        project = item.get("default_project_id")
        if project:
            store.get_project(project)
        user = store.create_user(
            _string(item, "name", 255, required=True),
            password=_string(item, "password", 4096),
            domain_id=item.get("domain_id") or DEFAULT_DOMAIN["id"],
            default_project_id=project, enabled=_enabled(item) is not False,
            email=_string(item, "email", 255), description=_string(item, "description", 255))
        return JSONResponse({"user": render([user], request, "users")[0]}, status_code=201)

    def self_or_admin(request: Request) -> TokenInfo:
        info = caller(request)
        if info.user["id"] != request.path_params["id"] and "admin" not in info.role_names:
            raise errors.Forbidden()
        return info

    def show_user(request: Request, _raw: bytes) -> Response:
        self_or_admin(request)
        return JSONResponse({"user": render([store.get_user(request.path_params["id"])],
                                            request, "users")[0]})

    def update_user(request: Request, raw: bytes) -> Response:
        admin(request)
        item = _envelope(raw, "user")
        changes = {k: item[k] for k in ("name", "enabled", "default_project_id", "email",
                                        "description", "password") if k in item}
        _string(changes, "name", 255)
        _string(changes, "password", 4096)
        _enabled(changes)
        user = store.update_user(request.path_params["id"], changes)
        return JSONResponse({"user": render([user], request, "users")[0]})

    def delete_user(request: Request, _raw: bytes) -> Response:
        admin(request)
        store.delete_user(request.path_params["id"])
        return Response(status_code=204)

    def user_projects(request: Request, _raw: bytes) -> Response:
        self_or_admin(request)
        ids = {a["project"]["id"] for a in store.assignments(user_id=request.path_params["id"])}
        return listing(request, "projects", store.list_projects(ids=ids), "projects")

    # -- roles and assignments ------------------------------------------------

    def list_roles(request: Request, _raw: bytes) -> Response:
        caller(request)
        return listing(request, "roles", store.list_roles(request.query_params.get("name")),
                       "roles")

    def show_role(request: Request, _raw: bytes) -> Response:
        caller(request)
        return JSONResponse({"role": render([store.get_role(request.path_params["id"])],
                                            request, "roles")[0]})

    def create_role(request: Request, raw: bytes) -> Response:
        admin(request)
        item = _envelope(raw, "role")
        role = store.create_role(_string(item, "name", 255, required=True))
        return JSONResponse({"role": render([role], request, "roles")[0]}, status_code=201)

    def delete_role(request: Request, _raw: bytes) -> Response:
        admin(request)
        store.delete_role(request.path_params["id"])
        return Response(status_code=204)

    def grant(request: Request, _raw: bytes) -> Response:
        admin(request)
        p = request.path_params
        if request.method == "PUT":
            store.grant(p["project"], p["user"], p["role"])
        elif request.method == "DELETE":
            store.revoke_grant(p["project"], p["user"], p["role"])
        elif not store.has_grant(p["project"], p["user"], p["role"]):
            raise errors.NotFound("role assignment", p["role"])
        return Response(status_code=204)

    def project_user_roles(request: Request, _raw: bytes) -> Response:
        admin(request)
        p = request.path_params
        store.get_project(p["project"])
        store.get_user(p["user"])
        roles = [a["role"] for a in store.assignments(user_id=p["user"],
                                                      project_id=p["project"])]
        return listing(request, "roles", roles, "roles")

    def role_assignments(request: Request, _raw: bytes) -> Response:
        info = caller(request)
        q = request.query_params
        user_id = q.get("user.id")
        if "admin" not in info.role_names and user_id != info.user["id"]:
            raise errors.Forbidden()
        names = "include_names" in q and q["include_names"].lower() not in ("false", "0")
        out = []
        for a in store.assignments(user_id=user_id, project_id=q.get("scope.project.id"),
                                   role_id=q.get("role.id")):
            u, p, r = a["user"], a["project"], a["role"]
            entry = {"role": {"id": r["id"]}, "user": {"id": u["id"]},
                     "scope": {"project": {"id": p["id"]}},
                     "links": {"assignment": base(request) + f"v3/projects/{p['id']}/users/"
                                                             f"{u['id']}/roles/{r['id']}"}}
            if names:
                entry["role"]["name"] = r["name"]
                entry["user"].update(name=u["name"], domain=dict(DEFAULT_DOMAIN))
                entry["scope"]["project"].update(name=p["name"], domain=dict(DEFAULT_DOMAIN))
            out.append(entry)
        return JSONResponse({"role_assignments": out,
                             "links": {"self": base(request) + "v3/role_assignments",
                                       "previous": None, "next": None}})

    routes = [
        Route("/", root, methods=["GET"]),
        Route("/v3", v3, methods=["GET"]),
        Route("/v3/", v3, methods=["GET"]),
        Route("/v3/auth/tokens", threaded(issue_token), methods=["POST"]),
        Route("/v3/auth/tokens", threaded(check_token), methods=["GET", "HEAD"]),
        Route("/v3/auth/tokens", threaded(revoke_token), methods=["DELETE"]),
        Route("/v3/auth/projects", threaded(auth_projects), methods=["GET"]),
        Route("/v3/auth/catalog", threaded(auth_catalog), methods=["GET"]),
        Route("/v3/domains", threaded(list_domains), methods=["GET"]),
        Route("/v3/domains/{id}", threaded(show_domain), methods=["GET"]),
        Route("/v3/projects", threaded(list_projects), methods=["GET"]),
        Route("/v3/projects", threaded(create_project), methods=["POST"]),
        Route("/v3/projects/{id}", threaded(show_project), methods=["GET"]),
        Route("/v3/projects/{id}", threaded(update_project), methods=["PATCH"]),
        Route("/v3/projects/{id}", threaded(delete_project), methods=["DELETE"]),
        Route("/v3/projects/{project}/users/{user}/roles", threaded(project_user_roles),
              methods=["GET"]),
        Route("/v3/projects/{project}/users/{user}/roles/{role}", threaded(grant),
              methods=["PUT", "GET", "HEAD", "DELETE"]),
        Route("/v3/users", threaded(list_users), methods=["GET"]),
        Route("/v3/users", threaded(create_user), methods=["POST"]),
        Route("/v3/users/{id}", threaded(show_user), methods=["GET"]),
        Route("/v3/users/{id}", threaded(update_user), methods=["PATCH"]),
        Route("/v3/users/{id}", threaded(delete_user), methods=["DELETE"]),
        Route("/v3/users/{id}/projects", threaded(user_projects), methods=["GET"]),
        Route("/v3/roles", threaded(list_roles), methods=["GET"]),
        Route("/v3/roles", threaded(create_role), methods=["POST"]),
        Route("/v3/roles/{id}", threaded(show_role), methods=["GET"]),
        Route("/v3/roles/{id}", threaded(delete_role), methods=["DELETE"]),
        Route("/v3/role_assignments", threaded(role_assignments), methods=["GET"]),
    ]

    async def identity_error(_request: Request, error: errors.IdentityError) -> JSONResponse:
        headers = {}
        if isinstance(error, errors.Unauthorized):
            headers["WWW-Authenticate"] = 'Keystone uri="%s"' % (public_url or "")
        return JSONResponse(error.body(), status_code=error.code, headers=headers)

    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = getattr(error, "status_code", 500)
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        return JSONResponse({"error": {"code": code, "title": titles.get(code, "Error"),
                                       "message": str(getattr(error, "detail", ""))}},
                            status_code=code)

    app = Starlette(routes=routes, exception_handlers={errors.IdentityError: identity_error,
                                                       HTTPException: http_error})
    app.state.store = store
    return app


def _envelope(raw: bytes, key: str) -> dict:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise errors.ValidationError("Malformed request body.") from None
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.ValidationError(f"'{key}' is a required property.")
    return body[key]
