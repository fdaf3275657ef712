"""A Starlette app: one HTML page, the live topology as SVG, explain as JSON.

The page polls ``/api/topo`` every 2 s; the answer carries a digest of the
topology so the page redraws only when the lab changed. Graphviz node ids
are ``<node>/<device>``, the names explain gives its hops, so the page
draws a path by adding classes to those SVG elements.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from neutrino.diagnose import explain, snapshot, topo
from neutrino.errors import NeutrinoError
from neutrino.lab.layout import Lab

STATIC = os.path.join(os.path.dirname(__file__), "static")


class TopoCache:
    """The last SVG per topology digest: dot runs only when the lab changed."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.lock = threading.Lock()
        self.digest = ""
        self.svg = ""

    def get(self) -> dict:
        data = topo.build(snapshot.take(self.lab))
        digest = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()
        with self.lock:
            if digest != self.digest:
                self.svg, self.digest = topo.to_svg(data), digest
            svg = self.svg
        return {"digest": digest, "svg": svg, "lab": data["lab"],
                "nodes": [n["name"] for n in data["nodes"]],
                "instances": [{"name": i["name"], "host": i["host"],
                               "ip": (i["eth0"] or {}).get("addrs", [""])[0].split("/")[0]
                               if i["eth0"] else ""} for i in data["instances"]],
                "problems": data["problems"]}


def create_app(lab: Lab) -> Starlette:
    cache = TopoCache(lab)

    async def index(request: Request):
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def api_topo(request: Request):
        try:
            return JSONResponse(await run_in_threadpool(cache.get))
        except NeutrinoError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)

    async def api_explain(request: Request):
        q = request.query_params
        src, dst = q.get("src", ""), q.get("dst", "")
        port = q.get("port")
        try:
            if not src or not dst:
                raise NeutrinoError("src and dst are required")
            exp = await run_in_threadpool(explain.explain, lab, src, dst,
                                          q.get("proto") or "icmp",
                                          int(port) if port and port.isdigit() else None)
        except NeutrinoError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(exp.to_json())

    return Starlette(routes=[Route("/", index), Route("/api/topo", api_topo),
                             Route("/api/explain", api_explain)])
