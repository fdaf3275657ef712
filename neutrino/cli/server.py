"""``neutrino server``: the Networking API v2.0 and the agents' RPC endpoints."""
import argparse
import gc
import asyncio
import logging
import os
import secrets
import socket
from pathlib import Path

from neutrino.errors import NeutrinoError
from neutrino.server.config import ServerOptions, parse_flat_networks, parse_vni_ranges

DEFAULT_STATE_DIR = "/var/lib/neutrino/server"
LOG = logging.getLogger("neutrino.server")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="neutrino server", description=__doc__)
    p.add_argument("--bind", default="127.0.0.1:9696", help="HOST:PORT to serve the API on")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help=f"where the default SQLite database lives (default {DEFAULT_STATE_DIR})")
    p.add_argument("--db", help="SQLAlchemy URL (default: sqlite file in the state dir)")
    p.add_argument("--transport-url", help="messaging URL (memory://, redis+socket://..., "
                                           "redis://, amqp://); none: no RPC")
    p.add_argument("--vni-ranges", default="1:1000", help="VXLAN VNI pool, e.g. 1:1000,2000:2100")
    p.add_argument("--flat-networks", default="extnet",
                   help="physical networks that may carry flat networks ('*' = any)")
    p.add_argument("--agent-down-time", type=int, default=75,
                   help="seconds without heartbeat before an agent is dead")
    p.add_argument("--auth", default="keystone", choices=["noauth", "keystone"],
                   help="request authentication (keystone, the default: X-Auth-Token from the "
                        "built-in identity service; noauth, for local use: X-Project-Id/X-Roles "
                        "headers)")
    p.add_argument("--identity-bind", default="127.0.0.1:5000",
                   help="HOST:PORT of the Keystone v3 identity service (with --auth keystone)")
    p.add_argument("--network-url", help="the Networking API URL the token catalog offers "
                                         "(default http://<--bind>)")
    p.add_argument("--bootstrap-admin-password",
                   default=os.environ.get("NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD"),
                   help="create or reset project/user 'admin' with this password "
                        "(env NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD)")
    p.add_argument("--bootstrap-demo-password",
                   default=os.environ.get("NEUTRINO_BOOTSTRAP_DEMO_PASSWORD"),
                   help="also create or reset project/user 'demo' (member) "
                        "(env NEUTRINO_BOOTSTRAP_DEMO_PASSWORD)")
    p.add_argument("--rpc-workers", type=int, default=4,
                   help="threads serving the agents' q-plugin calls (each agent's calls "
                        "stay in order: they wait for their answers)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p.parse_args(argv)


def parse_bind(text: str, flag: str = "--bind") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise NeutrinoError(f"bad {flag} {text!r}: expected HOST:PORT")
    return host or "127.0.0.1", int(port)


def first_admin_password(state: Path) -> str:
    """A first start with identity on and no account: make ``admin`` a random
    password (as keystone-manage bootstrap does), kept in the state directory
    for its owner only, never logged."""
    password = secrets.token_urlsafe(18)
    path = state / "admin-password"
    try:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    except OSError as error:
        raise NeutrinoError(f"cannot write {path}: {error.strerror}") from None
    LOG.warning("identity: created project and user 'admin'; the password is in %s", path)
    return password


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as error:
            raise NeutrinoError(f"cannot listen on {host}:{port}: {error.strerror}") from None


async def serve_all(servers) -> None:
    """Serve until any server stops (a signal stops the one holding the handlers), then all."""
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    if pending:
        await asyncio.wait(pending)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    host, port = parse_bind(args.bind)
    options = ServerOptions(vni_ranges=parse_vni_ranges(args.vni_ranges),
                            flat_networks=parse_flat_networks(args.flat_networks),
                            agent_down_time=args.agent_down_time)
    db_url = args.db
    if not db_url:
        state = Path(args.state_dir)
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NeutrinoError(f"cannot create state dir {state}: {error.strerror}") from None
        db_url = f"sqlite:///{state / 'neutrino.db'}"
    check_port_free(host, port)
    keystone = args.auth == "keystone"
    if keystone:
        identity_host, identity_port = parse_bind(args.identity_bind, "--identity-bind")
        check_port_free(identity_host, identity_port)
    elif args.bootstrap_admin_password or args.bootstrap_demo_password:
        raise NeutrinoError("--bootstrap-*-password needs --auth keystone")

    notifier, rpc_servers = None, []
    if args.transport_url:
        from neutrino.rpc import Notifier
        notifier = Notifier(args.transport_url)

    from neutrino.server.service import build
    try:
        service = build(db_url, options, notifier, auth=args.auth)
    except NeutrinoError:
        raise
    except Exception as error:
        raise NeutrinoError(f"cannot open database {db_url}: {error}") from None

    if args.transport_url:
        from neutrino.db.engine import Urgent
        from neutrino.rpc import RpcServer
        from neutrino.server.l3 import L3RpcEndpoint
        from neutrino.server.rpc import RpcEndpoint
        # The agents' writes go before queued API writes (db.engine.WriteLock).
        endpoint = Urgent(RpcEndpoint(service.plugin))
        rpc_servers = [RpcServer(args.transport_url, "q-plugin", endpoint,
                                 workers=max(1, args.rpc_workers)),
                       RpcServer(args.transport_url, "q-reports-plugin", endpoint),
                       RpcServer(args.transport_url, "q-l3-plugin",
                                 Urgent(L3RpcEndpoint(service.l3)))]
        for server in rpc_servers:
            server.start()

    import uvicorn
    # Everything loaded so far lives as long as the process: keep it out of
    # the collector's full passes, which big list responses would trigger.
    gc.freeze()
    LOG.info("neutrino server %s on http://%s:%d (db %s, pid %d)", args.auth, host, port,
             db_url, os.getpid())
    config = uvicorn.Config(service.app, host=host, port=port, log_level=args.log_level,
                            access_log=args.access_log, lifespan="off")
    servers = [uvicorn.Server(config)]
    if keystone:
        from neutrino.identity.app import create_identity_app
        from neutrino.identity.bootstrap import bootstrap
        service.identity.ensure_roles()
        admin_password = args.bootstrap_admin_password
        if not admin_password and not service.identity.list_users(name="admin"):
            admin_password = first_admin_password(Path(args.state_dir))
        if admin_password:
            bootstrap(service.identity, admin_password, args.bootstrap_demo_password)
        identity_app = create_identity_app(service.identity,
                                           args.network_url or f"http://{host}:{port}")
        LOG.info("identity (Keystone v3) on http://%s:%d/v3", identity_host, identity_port)
        servers.append(uvicorn.Server(uvicorn.Config(
            identity_app, host=identity_host, port=identity_port, log_level=args.log_level,
            access_log=args.access_log, lifespan="off")))
    try:
        asyncio.run(serve_all(servers))
    finally:
        for server in rpc_servers:
            server.stop()
        service.close()
    return 0
