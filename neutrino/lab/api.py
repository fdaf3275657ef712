"""A small client of the lab's Networking API (what Nova would call).

httpx is imported on first use: ``instance exec`` and ``lab exec`` never need it.
"""
from __future__ import annotations

from neutrino.errors import NeutrinoError


class LabApi:
    def __init__(self, endpoint: str, timeout: float = 10):
        import httpx
        self.httpx = httpx
        self.endpoint = endpoint.rstrip("/")
        self.http = httpx.Client(base_url=self.endpoint, timeout=timeout,
                                 headers={"X-Auth-Token": "lab"})

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs) -> dict | None:
        try:
            resp = self.http.request(method, path, **kwargs)
        except self.httpx.HTTPError as exc:
            raise NeutrinoError(f"cannot reach the lab's API at {self.endpoint}: {exc}") from None
        if resp.status_code == 404 and method in ("GET", "DELETE"):
            return None
        if resp.status_code >= 400:
            raise NeutrinoError(f"{method} {path}: {resp.status_code} {_message(resp)}")
        return resp.json() if resp.content else {}

    def answers(self) -> bool:
        try:
            return self.http.get("/v2.0/networks", timeout=1).status_code < 500
        except self.httpx.HTTPError:
            return False

    def agents(self) -> list[dict]:
        return (self._call("GET", "/v2.0/agents") or {}).get("agents", [])

    def network(self, name_or_id: str) -> dict:
        found = self._call("GET", f"/v2.0/networks/{name_or_id}")
        if found:
            return found["network"]
        nets = (self._call("GET", "/v2.0/networks", params={"name": name_or_id})
                or {}).get("networks", [])
        if not nets:
            raise NeutrinoError(f"no network {name_or_id!r}")
        if len(nets) > 1:
            raise NeutrinoError(f"{len(nets)} networks are called {name_or_id!r}: use the id")
        return nets[0]

    def create_port(self, port: dict) -> dict:
        return self._call("POST", "/v2.0/ports", json={"port": port})["port"]

    def port(self, port_id: str) -> dict | None:
        found = self._call("GET", f"/v2.0/ports/{port_id}")
        return found["port"] if found else None

    def delete_port(self, port_id: str) -> None:
        self._call("DELETE", f"/v2.0/ports/{port_id}")


def _message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200]
    err = body.get("NeutronError") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("message") or str(err)
    return str(body)[:200]
