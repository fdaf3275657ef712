"""A generic collection controller: routes, body parsing and validation, views, lists.

It holds no business rule: it validates the request against the resource's
attribute map, calls ``plugin.<verb>_<resource>`` and shapes the answer.
"""
import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neutrino.api import listing
from neutrino.api.attributes import ResourceSpec
from neutrino.server import exceptions as exc
from neutrino.server import policy

IF_MATCH_RE = re.compile(r"^\s*revision_number=(-?\d+)\s*$")
MAX_TAG_LEN = 255


def bad(msg: str) -> exc.HTTPBadRequest:
    return exc.HTTPBadRequest(msg=msg)


async def read_json(request: Request):
    raw = await request.body()
    if not raw:
        raise bad("Resource body required")
    try:
        return json.loads(raw)
    except ValueError:
        raise bad("Malformed request body") from None


class Collection:
    def __init__(self, spec: ResourceSpec, plugin, context_source):
        self.spec = spec
        self.plugin = plugin
        self.context = context_source

    # -- routes ---------------------------------------------------------------

    def routes(self, prefix: str = "/v2.0") -> list[Route]:
        base = f"{prefix}/{self.spec.path}"
        routes = [
            Route(base, self.list, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(base + "/{id}", self.show, methods=["GET"]),
            Route(base + "/{id}", self.update, methods=["PUT"]),
            Route(base + "/{id}", self.delete, methods=["DELETE"]),
        ]
        if self.spec.taggable:
            routes += [
                Route(base + "/{id}/tags", self.get_tags, methods=["GET"]),
                Route(base + "/{id}/tags", self.replace_tags, methods=["PUT"]),
                Route(base + "/{id}/tags", self.delete_tags, methods=["DELETE"]),
                Route(base + "/{id}/tags/{tag}", self.check_tag, methods=["GET"]),
                Route(base + "/{id}/tags/{tag}", self.add_tag, methods=["PUT"]),
                Route(base + "/{id}/tags/{tag}", self.delete_tag, methods=["DELETE"]),
            ]
        return routes

    def _call(self, verb: str, *args):
        return run_in_threadpool(getattr(self.plugin, f"{verb}_{self.spec.singular}"), *args)

    # -- request bodies -------------------------------------------------------

    def _validate(self, item, action: str) -> dict:
        if not isinstance(item, dict):
            raise bad(f"Invalid format: {item}")
        attributes = self.spec.attributes
        unknown = [k for k in item if k not in attributes]
        if unknown:
            raise bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        out = {}
        for key, value in item.items():
            attr = attributes[key]
            if action == "create" and not attr.allow_post:
                raise bad(f"Attribute '{key}' not allowed in POST")
            if action == "update" and not attr.allow_put:
                raise bad(f"Cannot update read-only attribute {key}")
            if attr.validate is not None:
                try:
                    value = attr.validate(value)
                except ValueError as error:
                    raise bad(f"Invalid input for {key}. Reason: {error}.") from None
            out[key] = value
        if "tenant_id" in out:
            tenant = out.pop("tenant_id")
            if out.setdefault("project_id", tenant) != tenant:
                raise bad("'project_id' and 'tenant_id' do not match")
        if action == "create":
            for name, attr in attributes.items():
                if attr.required and name not in out:
                    raise bad(f"Failed to parse request. Required attribute '{name}' "
                              "not specified")
        return out

    def _body(self, body, action: str):
        """The validated item, or (for a bulk create) the list of items."""
        if not isinstance(body, dict):
            raise bad("Body contains invalid data")
        singular, plural = self.spec.singular, self.spec.plural
        if action == "create" and plural in body and singular not in body:
            items = body[plural]
            if not isinstance(items, list) or not items:
                raise bad(f"Resources '{plural}' must be a non-empty list")
            return [self._validate(i[singular] if isinstance(i, dict) and singular in i else i,
                                   action) for i in items]
        if singular not in body:
            raise bad(f"Unable to find '{singular}' in request body")
        return self._validate(body[singular], action)

    # -- views ----------------------------------------------------------------

    def _view(self, ctx, item: dict, fields: list[str] | None = None) -> dict:
        if not ctx.is_admin:
            item = {k: v for k, v in item.items()
                    if policy.attribute_visible(ctx, self.spec.singular, k)}
        if fields:
            item = {k: item[k] for k in fields if k in item}
        return item

    # -- handlers -------------------------------------------------------------

    async def list(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        pairs = request.query_params.multi_items()
        q = listing.parse(pairs, self.spec)
        if not ctx.is_admin:
            for attr in list(q.filters):
                if not policy.attribute_visible(ctx, self.spec.singular, attr):
                    del q.filters[attr]
        items = await run_in_threadpool(getattr(self.plugin, f"get_{self.spec.plural}"),
                                        ctx, q.filters)
        items = listing.apply_sort(listing.apply_filters(items, q, self.spec), q)
        body = {}
        if q.limit or q.marker:
            items, has_next, has_previous = listing.paginate(items, q)
            base = str(request.url.replace(query=""))
            body[f"{self.spec.plural}_links"] = listing.links(base, pairs, items, q,
                                                              has_next, has_previous)
        body[self.spec.plural] = [self._view(ctx, i, q.fields) for i in items]
        return JSONResponse(body)

    async def show(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        fields = [f for k, v in request.query_params.multi_items() if k == "fields"
                  for f in v.split(",") if f]
        item = await self._call("get", ctx, request.path_params["id"])
        return JSONResponse({self.spec.singular: self._view(ctx, item, fields)})

    async def create(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        data = self._body(await read_json(request), "create")
        if isinstance(data, list):
            items = await run_in_threadpool(self.plugin.create_bulk, self.spec.singular,
                                            ctx, data)
            return JSONResponse({self.spec.plural: [self._view(ctx, i) for i in items]},
                                status_code=201)
        item = await self._call("create", ctx, data)
        return JSONResponse({self.spec.singular: self._view(ctx, item)}, status_code=201)

    async def update(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        data = self._body(await read_json(request), "update")
        expected = self._if_match(request)
        item = await self._call("update", ctx, request.path_params["id"], data, expected)
        return JSONResponse({self.spec.singular: self._view(ctx, item)})

    async def delete(self, request: Request) -> Response:
        ctx = self.context(request)
        await self._call("delete", ctx, request.path_params["id"])
        return Response(status_code=204)

    @staticmethod
    def _if_match(request: Request) -> int | None:
        header = request.headers.get("if-match")
        if not header:
            return None
        match = IF_MATCH_RE.match(header)
        if not match:
            raise bad(f"If-Match header must be 'revision_number=N', not '{header}'")
        return int(match.group(1))

    # -- tags -----------------------------------------------------------------

    @staticmethod
    def _tag(value) -> str:
        if not isinstance(value, str) or not value or len(value) > MAX_TAG_LEN:
            raise bad(f"Invalid input for tags. Reason: '{value}' is not a valid tag.")
        return value

    async def get_tags(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        tags = await run_in_threadpool(self.plugin.get_tags, ctx, self.spec.singular,
                                       request.path_params["id"])
        return JSONResponse({"tags": tags})

    async def replace_tags(self, request: Request) -> JSONResponse:
        ctx = self.context(request)
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            raise bad("Invalid input for tags. Reason: the body must be {\"tags\": [...]}.")
        tags = [self._tag(t) for t in body["tags"]]
        tags = await run_in_threadpool(self.plugin.replace_tags, ctx, self.spec.singular,
                                       request.path_params["id"], tags)
        return JSONResponse({"tags": tags})

    async def delete_tags(self, request: Request) -> Response:
        ctx = self.context(request)
        await run_in_threadpool(self.plugin.replace_tags, ctx, self.spec.singular,
                                request.path_params["id"], [])
        return Response(status_code=204)

    async def check_tag(self, request: Request) -> Response:
        ctx = self.context(request)
        tag = request.path_params["tag"]
        tags = await run_in_threadpool(self.plugin.get_tags, ctx, self.spec.singular,
                                       request.path_params["id"])
        if tag not in tags:
            raise exc.TagNotFound(tag=tag, resource=self.spec.singular,
                                  resource_id=request.path_params["id"])
        return Response(status_code=204)

    async def add_tag(self, request: Request) -> Response:
        ctx = self.context(request)
        await run_in_threadpool(self.plugin.add_tag, ctx, self.spec.singular,
                                request.path_params["id"], self._tag(request.path_params["tag"]))
        return Response(status_code=201)

    async def delete_tag(self, request: Request) -> Response:
        ctx = self.context(request)
        await run_in_threadpool(self.plugin.remove_tag, ctx, self.spec.singular,
                                request.path_params["id"], request.path_params["tag"])
        return Response(status_code=204)
