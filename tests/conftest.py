"""Shared fixtures: a database on SQLite and (when reachable) PostgreSQL, the
server stack on it, an HTTP client for the API, a real uvicorn for races.

PostgreSQL runs when NEUTRINO_TEST_PG_URL is set (``make test`` sets it from
scripts/postgres.sh). Each test session works in its own schema of that
database, dropped at the end, so parallel runs cannot see each other.
"""
import os
import shutil
import socket
import threading
import time
import uuid
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("NEUTRINO_TEST_PG_URL", "")


def pytest_configure(config):
    config.addinivalue_line("filterwarnings",
                            "ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="session")
def pg_schema_url():
    """A SQLAlchemy URL whose connections use a private schema (session-wide)."""
    if not PG_URL:
        pytest.skip("NEUTRINO_TEST_PG_URL not set (no PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url, schema, admin
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _migrated(url: str) -> None:
    from neutrino.db.engine import Database
    from neutrino.db.migrate import upgrade
    db = Database(url)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "neutrino.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated(pg_schema_url):
    url, schema, admin = pg_schema_url
    _migrated(url)
    return url, schema, admin


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A migrated, empty database: a copied SQLite file, or a truncated PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "neutrino.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url, schema, admin = request.getfixturevalue("pg_migrated")
    with admin.connect() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s "
            "AND tablename <> 'alembic_version'"), {"s": schema}).scalars().all()
        if tables:
            names = ", ".join(f'"{schema}"."{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path):
    """A database without any table (for migration tests), in its own PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    _, _, admin = request.getfixturevalue("pg_schema_url")
    schema = f"e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'neutrino.db'}"


@pytest.fixture
def server_options():
    from neutrino.server.config import ServerOptions
    return ServerOptions()


@pytest.fixture
def notifier():
    from neutrino.server.notify import RecordingNotifier
    return RecordingNotifier()


@pytest.fixture
def service(db_url, server_options, notifier):
    """The whole server stack (schema migrated) on ``db_url``."""
    from neutrino.server.service import build
    svc = build(db_url, server_options, notifier)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def plugin(service):
    return service.plugin


class Api:
    """An HTTP client for the Networking API acting as one project (noauth headers)."""

    def __init__(self, client: httpx.Client, project: str | None = None,
                 roles: str | None = None):
        self.client = client
        self.headers = {}
        if project:
            self.headers["X-Project-Id"] = project
            self.headers["X-Roles"] = roles or "member"

    def as_project(self, project: str, roles: str = "member") -> "Api":
        return Api(self.client, project, roles)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, json=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, json=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create(self, resource: str, status: int = 201, **attrs) -> dict:
        """POST /v2.0/<resource>s and return the created dict (asserting the status)."""
        r = self.post(f"/v2.0/{resource}s", {resource: attrs})
        assert r.status_code == status, r.text
        return r.json()[resource] if status == 201 else r.json()


@pytest.fixture
def api(service):
    """Api over the in-process app (admin of the default project)."""
    from starlette.testclient import TestClient
    with TestClient(service.app, base_url="http://neutrino.test") as client:
        yield Api(client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(service):
    """The app served by a real uvicorn in a thread; yields its base URL."""
    import uvicorn
    port = free_port()
    config = uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
