"""Helpers the lab tests share (plain code; the fixtures stay in conftest.py).

A module of its own name, so that tests import it without clashing with
another folder's conftest.
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from neutrino.lab.layout import Lab
from neutrino.linux import ip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_lab(prefix: str = "t") -> Lab:
    """A lab with a random name whose state lives under /tmp (short socket paths)."""
    name = f"{prefix}{secrets.token_hex(4)}"
    return Lab.locate(name, f"/tmp/nlab-{name}")


def host_snapshot() -> dict:
    """Namespaces, root devices and mounts now. Other engineers' tests may run
    at the same time, so compare only what a lab could have made."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split()[4] for line in f)
    return {"netns": set(ip.netns_list()), "links": set(ip.link_list()), "mounts": mounts}


LAB_DEVICE_PREFIXES = ("qbr", "qvb", "qvo", "tap", "br-", "eth1", "ovs-netdev", "underlay",
                       "controller", "compute")


def lab_leftovers(lab: Lab, before: dict) -> dict:
    """What of ``lab`` is on the machine and was not there in ``before``."""
    now = host_snapshot()
    return {
        "netns": sorted(n for n in now["netns"] if n.startswith(lab.netns_prefix)),
        "links": sorted(d for d in now["links"] - before["links"]
                        if d.startswith(LAB_DEVICE_PREFIXES)),
        "mounts": sorted(m for m in now["mounts"]
                         if m.startswith(lab.state_dir) or lab.netns_prefix in m),
    }


# -- a fake Networking API ---------------------------------------------------------------

class FakeKeystone:
    """POST /v3/auth/tokens: a token for any known user and password (others 401)."""

    def __init__(self, port: int, passwords: dict[str, str]):
        self.passwords = passwords
        self.tokens: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                user = body["auth"]["identity"]["password"]["user"]
                if self.path != "/v3/auth/tokens" or \
                        fake.passwords.get(user["name"]) != user["password"]:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = secrets.token_hex(8)
                fake.tokens.add(token)
                data = json.dumps({"token": {"expires_at": "2999-01-01T00:00:00.000000Z"}})
                self.send_response(201)
                self.send_header("X-Subject-Token", token)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeNeutron:
    """Enough of /v2.0/networks and /v2.0/ports for `instance create/list/delete`.

    With ``keystone`` every request needs one of its tokens (else 401), as the
    lab's API wants."""

    def __init__(self, port: int = 0, on_port_create=None, keystone: FakeKeystone | None = None):
        self.on_port_create = on_port_create
        self.keystone = keystone
        self.refused = 0
        self.networks: dict[str, dict] = {}
        self.gets: list[str] = []
        self.ports: dict[str, dict] = {}
        self.next_ip = 10
        self.cidr_prefix = "10.50.0."
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _allowed(self) -> bool:
                if fake.keystone is None or self.headers.get("X-Auth-Token") in \
                        fake.keystone.tokens:
                    return True
                fake.refused += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(401, {"NeutronError": {"message": "Authentication required"}})
                return False

            def do_GET(self):
                if self._allowed():
                    code, body = fake.get(self.path)
                    self._send(code, body)

            def do_POST(self):
                if self._allowed():
                    length = int(self.headers.get("Content-Length", 0))
                    code, body = fake.post(self.path, json.loads(self.rfile.read(length)))
                    self._send(code, body)

            def do_DELETE(self):
                if self._allowed():
                    code = fake.delete(self.path)
                    self._send(code)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_network(self, name: str, mtu: int = 1450) -> dict:
        net = {"id": str(uuid.uuid4()), "name": name, "mtu": mtu}
        self.networks[net["id"]] = net
        return net

    def get(self, path):
        self.gets.append(path)
        base, _, query = path.partition("?")
        parts = base.strip("/").split("/")
        if parts[:2] == ["v2.0", "networks"]:
            if len(parts) == 3:
                net = self.networks.get(parts[2])
                return (200, {"network": net}) if net else (404, {"NeutronError": {}})
            name = query.partition("name=")[2]
            nets = [n for n in self.networks.values() if not name or n["name"] == name]
            return 200, {"networks": nets}
        if parts[:2] == ["v2.0", "ports"] and len(parts) == 3:
            port = self.ports.get(parts[2])
            return (200, {"port": port}) if port else (404, {"NeutronError": {}})
        return 404, {"NeutronError": {"message": "not found"}}

    def post(self, path, body):
        if path.rstrip("/") != "/v2.0/ports":
            return 404, None
        want = body["port"]
        if want["network_id"] not in self.networks:
            return 404, {"NeutronError": {"message": "network not found"}}
        if want.get("fixed_ips"):
            address = want["fixed_ips"][0]["ip_address"]
        else:
            address = f"{self.cidr_prefix}{self.next_ip}"
            self.next_ip += 1
        port = dict(want, id=str(uuid.uuid4()), status="DOWN",
                    mac_address="fa:16:3e:%02x:%02x:%02x" % tuple(secrets.token_bytes(3)),
                    fixed_ips=[{"subnet_id": "s", "ip_address": address}])
        self.ports[port["id"]] = port
        if self.on_port_create:
            self.on_port_create(port)
        return 201, {"port": port}

    def delete(self, path):
        port_id = path.rstrip("/").split("/")[-1]
        return 204 if self.ports.pop(port_id, None) else 404
