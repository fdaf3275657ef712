"""A small client of the lab's Networking API (what Nova would call).

Plain http.client: it imports in milliseconds, where httpx with its TLS set-up
costs a third of a second on every ``instance create``. The lab's API wants a
Keystone token: ``LabApi.for_lab(lab)`` signs in as the lab's admin (see
``accounts``), and a refused token (401) is renewed once.
"""
from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid

from neutrino.errors import NeutrinoError
from neutrino.lab.accounts import Credentials, credentials
from neutrino.lab.info import endpoint as lab_endpoint
from neutrino.lab.layout import Lab


class LabApi:
    # Credentials per endpoint, as ``for_lab`` found them: ``for_endpoint``
    # gives another thread of this process a client with the same token.
    _known: dict[str, Credentials] = {}

    @classmethod
    def for_lab(cls, lab: Lab, user: str = "admin", timeout: float = 10):
        """A client of ``lab``'s API signed in as ``user`` (default the admin)."""
        url = lab_endpoint(lab)
        creds = credentials(lab, user)
        if user == "admin":
            cls._known[url] = creds
        return cls(url, timeout=timeout, credentials=creds)

    @classmethod
    def for_endpoint(cls, endpoint: str, timeout: float = 10):
        """A client of an API that ``for_lab`` met in this process, with its admin token."""
        return cls(endpoint, timeout=timeout, credentials=cls._known.get(endpoint.rstrip("/")))

    def __init__(self, endpoint: str, timeout: float = 10,
                 credentials: Credentials | None = None):
        self.endpoint = endpoint.rstrip("/")
        url = urllib.parse.urlsplit(self.endpoint)
        if url.scheme != "http" or not url.hostname:
            raise NeutrinoError(f"bad lab endpoint {endpoint!r}")
        self.host, self.tcp_port = url.hostname, url.port or 80
        self.timeout = timeout
        self.credentials = credentials
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _request(self, method: str, path: str, body: dict | None, timeout: float | None):
        status, raw = self._send(method, path, body, timeout, renew=False)
        if status == 401 and self.credentials is not None:
            status, raw = self._send(method, path, body, timeout, renew=True)
        return status, raw

    def _send(self, method: str, path: str, body: dict | None, timeout: float | None,
              renew: bool):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            headers["X-Auth-Token"] = self.credentials.token(renew=renew, timeout=timeout)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.tcp_port,
                                                       timeout=timeout or self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.close()
                # A kept-alive connection the server closed: retry once on a new one.
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected,
                                                        BrokenPipeError,
                                                        ConnectionResetError)):
                    raise NeutrinoError(f"cannot reach the lab's API at {self.endpoint}: "
                                        f"{exc}") from None

    def _call(self, method: str, path: str, body: dict | None = None,
              params: dict | None = None, timeout: float | None = None) -> dict | None:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        status, raw = self._request(method, path, body, timeout)
        if status == 404 and method in ("GET", "DELETE"):
            return None
        if status >= 400:
            raise NeutrinoError(f"{method} {path}: {status} {_message(raw)}")
        return json.loads(raw) if raw else {}

    def answers(self) -> bool:
        try:
            self._call("GET", "/v2.0/networks", params={"limit": 1}, timeout=1)
            return True
        except NeutrinoError:
            return False

    def agents(self) -> list[dict]:
        return (self._call("GET", "/v2.0/agents") or {}).get("agents", [])

    def network(self, name_or_id: str) -> dict:
        """By id when it has an id's shape (one request), else by name."""
        if _is_uuid(name_or_id):
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
        return self._call("POST", "/v2.0/ports", {"port": port})["port"]

    def port(self, port_id: str) -> dict | None:
        found = self._call("GET", f"/v2.0/ports/{port_id}")
        return found["port"] if found else None

    def delete_port(self, port_id: str) -> None:
        self._call("DELETE", f"/v2.0/ports/{port_id}")


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:200]
    err = body.get("NeutronError") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("message") or str(err)
    return str(body)[:200]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
