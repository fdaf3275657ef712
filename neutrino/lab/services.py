"""The lab's processes besides OVS: redis (the transport), the server, the agents."""
from __future__ import annotations

import json
import os
import socket
import sys
import time

from neutrino.errors import NeutrinoError
from neutrino.lab import node as lab_node
from neutrino.lab.layout import (DEFAULT_IDENTITY_PORT, DEFAULT_PORT, EXTERNAL_BRIDGE,
                                 EXTERNAL_PHYSNET, Lab, tunnel_ip)
from neutrino.linux import proc


def neutrino_bin() -> str:
    """The console script next to the running interpreter (works from a clean clone)."""
    path = os.path.join(os.path.dirname(sys.executable), "neutrino")
    if not os.path.exists(path):
        raise NeutrinoError(f"{path} missing: run `make setup` (pip install -e .)")
    return path


def wait_for(check, timeout: float, what: str):
    """Call ``check`` with a growing back-off until it returns a true value."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise NeutrinoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


# -- pids recorded in the state directory ------------------------------------------

def read_pids(lab: Lab) -> dict:
    try:
        with open(lab.path("pids.json")) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def write_pids(lab: Lab, pids: dict) -> None:
    tmp = lab.path("pids.json.tmp")
    with open(tmp, "w") as f:
        json.dump(pids, f, indent=1, sort_keys=True)
    os.replace(tmp, lab.path("pids.json"))


def alive(pids: dict, key: str) -> int | None:
    pid = pids.get(key)
    return pid if pid and proc.pid_alive(pid) else None


def _env(lab: Lab) -> dict:
    key, _, value = lab.env_tag.partition("=")
    return {key: value, "PYTHONUNBUFFERED": "1"}


# -- redis ----------------------------------------------------------------------------

def start_redis(lab: Lab) -> int:
    """Start redis on the lab's unix socket (see wait_redis for readiness)."""
    sock = lab.redis_sock
    if os.path.exists(sock):
        os.unlink(sock)
    return proc.spawn(["redis-server", "--port", "0", "--unixsocket", sock,
                       "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                       "--dir", lab.state_dir, "--daemonize", "no"],
                      log_path=lab.path("log", "redis.log"), env=_env(lab))


def wait_redis(lab: Lab, pid: int, timeout: float = 30) -> None:
    """Return once redis listens (its socket exists); raise if it died."""
    wait_for(lambda: os.path.exists(lab.redis_sock) or not proc.pid_alive(pid), timeout,
             "redis")
    if not proc.pid_alive(pid):
        raise NeutrinoError(f"redis-server died, see {lab.path('log', 'redis.log')}")


# -- server ---------------------------------------------------------------------------

def pick_port(lab: Lab, identity: bool = False, avoid: int | None = None) -> int:
    """9696 (Keystone: 5000) for the default lab, a free port other than ``avoid``
    for a named one."""
    if lab.is_default:
        port = DEFAULT_IDENTITY_PORT if identity else DEFAULT_PORT
        if _port_busy(port):
            raise NeutrinoError(f"127.0.0.1:{port} is in use by another program")
        return port
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != avoid:
            return port


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def start_server(lab: Lab, port: int, identity_port: int, passwords: dict[str, str]) -> int:
    """The API with Keystone on; the accounts' passwords go by environment (not ``ps``)."""
    os.makedirs(lab.path("server"), exist_ok=True)
    env = dict(_env(lab), NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD=passwords["admin"],
               NEUTRINO_BOOTSTRAP_DEMO_PASSWORD=passwords["demo"])
    return proc.spawn([neutrino_bin(), "server", "--bind", f"127.0.0.1:{port}",
                       "--db", lab.db_url, "--transport-url", lab.transport_url,
                       "--state-dir", lab.path("server"), "--auth", "keystone",
                       "--identity-bind", f"127.0.0.1:{identity_port}",
                       "--network-url", f"http://127.0.0.1:{port}"],
                      log_path=lab.path("log", "server.log"), env=env)


def stop(pids: dict, key: str, timeout: float = 15) -> None:
    """SIGTERM process ``key`` and wait for it to exit (SIGKILL after ``timeout``)."""
    pid = alive(pids, key)
    if pid:
        proc.kill_and_wait(pid, timeout=timeout)
    pids.pop(key, None)


# -- agents ---------------------------------------------------------------------------

def agent_kinds(node: str) -> list[str]:
    """The controller is also the network node: DHCP, L3 and metadata run there."""
    return ["ovs", "dhcp", "l3", "metadata"] if node == "controller" else ["ovs"]


def metadata_socket(lab: Lab) -> str:
    """Where the metadata service listens for the routers' proxies (both agents get it)."""
    return lab.node_dir("controller", "agent", "metadata", "metadata_proxy")


def agent_argv(lab: Lab, node: str, kind: str) -> list[str]:
    state = lab.node_dir(node, "agent", kind)
    cmd = [neutrino_bin(), "agent", kind, "--host", node,
           "--transport-url", lab.transport_url, "--state-dir", state]
    if kind == "ovs":
        cmd += ["--local-ip", tunnel_ip(node)]
        if node == "controller":
            cmd += ["--bridge-mappings", f"{EXTERNAL_PHYSNET}:{EXTERNAL_BRIDGE}"]
    elif kind in ("l3", "metadata"):
        cmd += ["--metadata-proxy-socket", metadata_socket(lab)]
    return lab_node.enter_argv(lab, node, cmd)


def start_agent(lab: Lab, node: str, kind: str) -> int:
    os.makedirs(lab.node_dir(node, "agent", kind), exist_ok=True)
    os.makedirs(os.path.dirname(metadata_socket(lab)), exist_ok=True)
    return proc.spawn(agent_argv(lab, node, kind),
                      log_path=lab.node_dir(node, "log", f"agent-{kind}.log"), env=_env(lab))
