"""`neutrino instance create --project`: the project is found in the lab's
Keystone (by id or name, as the admin) and its id given to the port; an
unknown project is a one-line error before anything is made."""
import json
import os
import secrets
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from neutrino.cli import instance as instance_cli
from neutrino.errors import NeutrinoError
from neutrino.lab import accounts, info, instances
from neutrino.lab.layout import Lab


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keystone:
    """Tokens for the lab's admin; GET /v3/projects[/<id>] (admin token only)."""

    def __init__(self, passwords: dict[str, str], projects: dict[str, str]):
        self.passwords, self.projects = passwords, projects     # id -> name
        self.tokens: set[str] = set()
        keystone = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code: int, body: dict | None = None, token: str | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                if token:
                    self.send_header("X-Subject-Token", token)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = body["auth"]["identity"]["password"]["user"]
                if user["name"] != "admin" or user["password"] != keystone.passwords["admin"]:
                    return self.reply(401)
                token = secrets.token_hex(8)
                keystone.tokens.add(token)
                self.reply(201, {"token": {"expires_at": "2999-01-01T00:00:00Z"}}, token)

            def do_GET(self):
                if self.headers.get("X-Auth-Token") not in keystone.tokens:
                    return self.reply(401)
                url = urlsplit(self.path)
                if url.path.startswith("/v3/projects/"):
                    pid = url.path.rsplit("/", 1)[1]
                    if pid in keystone.projects:
                        return self.reply(200, {"project": {
                            "id": pid, "name": keystone.projects[pid]}})
                    return self.reply(404, {"error": {"code": 404}})
                if url.path == "/v3/projects":
                    name = parse_qs(url.query).get("name", [None])[0]
                    return self.reply(200, {"projects": [
                        {"id": pid, "name": n} for pid, n in keystone.projects.items()
                        if name is None or n == name]})
                self.reply(404)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def lab_with_keystone(tmp_path):
    """A lab's state directory whose lab.json points at a fake Keystone."""
    lab = Lab("cliproj", str(tmp_path / "state"))
    os.makedirs(lab.state_dir)
    passwords = accounts.ensure_passwords(lab)
    demo_id = uuid.uuid4().hex
    keystone = Keystone(passwords, {uuid.uuid4().hex: "admin", demo_id: "demo",
                                    uuid.uuid4().hex: "twin", uuid.uuid4().hex: "twin"})
    try:
        info.write_info(lab, {"port": free_port(), "identity_port": keystone.port})
        yield lab, demo_id
    finally:
        keystone.close()


def cli(lab: Lab, *argv: str) -> int:
    return instance_cli.main([*argv, "--name", lab.name, "--state-dir", lab.state_dir])


def test_project_by_name_or_id(lab_with_keystone):
    lab, demo_id = lab_with_keystone
    assert instance_cli.project_of(lab, "demo") == demo_id
    assert instance_cli.project_of(lab, demo_id) == demo_id
    with pytest.raises(NeutrinoError, match="no project 'nosuch' in lab cliproj"):
        instance_cli.project_of(lab, "nosuch")
    with pytest.raises(NeutrinoError, match="2 projects are called 'twin': use the id"):
        instance_cli.project_of(lab, "twin")
    with pytest.raises(NeutrinoError, match="bad project"):
        instance_cli.project_of(lab, "../projects")


def test_create_gives_the_project_id_to_the_port(lab_with_keystone, monkeypatch, capsys):
    lab, demo_id = lab_with_keystone
    calls = []

    def fake_create(lab, name, network, **kw):
        calls.append((name, network, kw["project_id"]))
        return {"name": name, "host": "compute01", "port_id": "p", "ips": ["10.0.0.5"],
                "mac": "fa:16:3e:00:00:01"}

    def fake_create_many(lab, names, network, **kw):
        return [fake_create(lab, name, network, **kw) for name in names]

    monkeypatch.setattr(instances, "create", fake_create)
    monkeypatch.setattr(instances, "create_many", fake_create_many)
    assert cli(lab, "create", "vm1", "--network", "private", "--project", "demo") == 0
    assert cli(lab, "create", "vm2", "vm3", "--network", "n", "--project", demo_id) == 0
    assert cli(lab, "create", "vm4", "--network", "n") == 0
    assert calls == [("vm1", "private", demo_id), ("vm2", "n", demo_id),
                     ("vm3", "n", demo_id), ("vm4", "n", None)]
    assert "instance vm1 on compute01: port p" in capsys.readouterr().out


def test_unknown_project_fails_before_any_boot(lab_with_keystone, monkeypatch):
    lab, _ = lab_with_keystone
    booted = []
    monkeypatch.setattr(instances, "create", lambda *a, **kw: booted.append(a))
    with pytest.raises(NeutrinoError, match="no project 'nosuch'") as err:
        cli(lab, "create", "vm1", "--network", "private", "--project", "nosuch")
    assert "\n" not in str(err.value) and booted == []
