"""``lab up`` and ``lab status``.

``up`` checks each part and starts only what is missing, so it completes a
half-built lab and does nothing on a running one. Nodes come up in parallel
(one thread each); the server starts while they do.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from neutrino.errors import NeutrinoError
from neutrino.lab import node as lab_node
from neutrino.lab import accounts, services, upstream
from neutrino.lab.api import LabApi
from neutrino.lab.info import identity_url_of, read_info, write_info
from neutrino.lab.layout import LABS_DIR, STATE_TMPFS, Lab, node_names, tunnel_ip
from neutrino.linux import ip, netns, ovs_daemons

AGENT_TYPES = {"ovs": "Open vSwitch agent", "dhcp": "DHCP agent", "l3": "L3 agent",
               "metadata": "Metadata agent"}


def _register(lab: Lab) -> None:
    """Make ``--name`` find a lab whose state directory is elsewhere."""
    link = lab.registry_link
    if os.path.realpath(link) == lab.state_dir:
        return
    if os.path.lexists(link):
        raise NeutrinoError(f"lab {lab.name} already exists at {os.path.realpath(link)}")
    os.makedirs(LABS_DIR, exist_ok=True)
    os.symlink(lab.state_dir, link)


def _check_state_dir(lab: Lab) -> None:
    real = os.path.realpath(lab.state_dir)
    if real == "/run" or real.startswith("/run/"):
        raise NeutrinoError("the lab state directory cannot be under /run "
                            "(nodes get a private /run)")


def _state_in_memory(lab: Lab) -> bool:
    """Mount a tmpfs on the state directory when this lab makes it (absent or
    empty): everything the lab writes then stays in memory, as its namespaces
    do (neither outlives a reboot). With the state on this machine's ext4,
    20 boots at once reached their first ping ~0.08 s later (which of the
    lab's writes pays is not pinned down: README, Performance). A directory
    holding other files stays on disk. False when the state is on disk."""
    path = lab.state_dir
    if netns.mount_source(path) == ("tmpfs", STATE_TMPFS):
        return True
    if os.path.isdir(path) and os.listdir(path):
        return False
    os.makedirs(path, exist_ok=True)
    netns.mount_tmpfs(path, STATE_TMPFS)
    return True


def up(lab: Lab, computes: int = 2, server: bool = True, agents: bool = True,
       timeout: float = 90, say=print, state_in_memory: bool = True) -> dict:
    """Bring ``lab`` up (or complete it); return its info dict (nodes, port, endpoint)."""
    t0 = time.monotonic()
    out_lock = threading.Lock()

    def step(text: str) -> None:
        with out_lock:
            say(f"[{time.monotonic() - t0:5.2f}s] {text}")

    agents = agents and server
    _check_state_dir(lab)
    in_memory = state_in_memory and _state_in_memory(lab)
    info = read_info(lab)
    nodes = node_names(computes)
    nodes += [n for n in info.get("nodes", []) if n not in nodes]
    os.makedirs(lab.path("log"), exist_ok=True)
    _register(lab)
    where = " (tmpfs)" if in_memory else ""
    step(f"lab {lab.name}: state in {lab.state_dir}{where}, nodes {', '.join(nodes)}")
    port = info.get("port") or services.pick_port(lab)
    noauth_server = "identity_port" not in info    # a lab made before identity was on
    identity_port = (info.get("identity_port")
                     or services.pick_port(lab, identity=True, avoid=port))
    info = {"name": lab.name, "state_dir": lab.state_dir, "nodes": nodes, "port": port,
            "endpoint": f"http://127.0.0.1:{port}", "identity_port": identity_port,
            "identity_url": identity_url_of(identity_port), "server": server,
            "agents": agents}
    write_info(lab, info)
    passwords = accounts.ensure_passwords(lab)
    pids = services.read_pids(lab)
    if noauth_server and services.alive(pids, "server"):
        services.stop(pids, "server")
        step("server without identity stopped: it restarts with Keystone on")

    new_redis = not services.alive(pids, "redis")
    if new_redis:
        pids["redis"] = services.start_redis(lab)
    if server and not services.alive(pids, "server"):
        # The server starts while redis and the nodes come up: it is the slowest.
        pids["server"] = services.start_server(lab, port, identity_port, passwords)
        step(f"server starting on 127.0.0.1:{port}, identity on {info['identity_url']}")
    services.write_pids(lab, pids)
    netns.make_private_mount(lab.path("ns"))
    lab_node.ensure_underlay(lab)
    if new_redis:
        services.wait_redis(lab, pids["redis"])
        step(f"redis on {lab.redis_sock}")

    def bring_up(node: str) -> dict:
        started = {}
        try:
            ovs = lab_node.ensure_node(lab, node)
            if node == upstream.NETWORK_NODE:
                started.update(upstream.ensure_upstream(lab, pids))
        except NeutrinoError as exc:
            raise NeutrinoError(f"node {node}: {exc}") from None
        if agents:
            for kind in services.agent_kinds(node):
                key = f"agent-{kind}@{node}"
                if not services.alive(pids, key):
                    started[key] = services.start_agent(lab, node, kind)
        agent_keys = [k for k in started if k.startswith("agent-")]
        step(f"node {node}: netns {lab.netns(node)}, OVS pids {ovs['ovsdb-server']}/"
             f"{ovs['ovs-vswitchd']}, tunnel {tunnel_ip(node)}"
             + (f", agents {', '.join(k.split('@')[0][6:] for k in agent_keys)} started"
                if agent_keys else "")
             + (f"; upstream {upstream.GATEWAY_CIDR} behind em4, Internet host "
                f"{upstream.INTERNET_HOST}" if node == upstream.NETWORK_NODE else ""))
        return started

    started_here: set[str] = set()
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for started in pool.map(bring_up, nodes):
            pids.update(started)
            started_here.update(started)
    services.write_pids(lab, pids)

    accounts.write_clouds_yaml(lab, info["identity_url"], passwords)
    if server:
        api = LabApi.for_lab(lab)
        try:
            services.wait_for(lambda: api.answers() or _died(pids, "server", lab), timeout,
                              f"the server at {info['endpoint']}")
            step(f"server answers at {info['endpoint']}")
            if agents:
                want = expected_agents(nodes)
                agent_keys = [k for k in pids if k.startswith("agent-")]
                fresh = {k for k in agent_keys if k in started_here}
                services.wait_for(lambda: not any(_gone(pids, k, lab, fresh) for k in agent_keys)
                                  and not missing_agents(api, want), timeout,
                                  "agents: " + ", ".join(sorted(f"{t} on {h}" for h, t in want)))
                step(f"{len(want)} agents alive")
        finally:
            api.close()
    step(f"lab {lab.name} is up: endpoint {info['endpoint']}")
    step(f"clouds.yaml: export OS_CLIENT_CONFIG_FILE={lab.clouds_yaml} "
         "OS_CLOUD=neutrino-demo (or neutrino-admin); or eval \"$(neutrino lab openrc demo"
         + ("" if lab.is_default else f" --name {lab.name}") + ')"')
    return info


def _gone(pids: dict, key: str, lab: Lab, fresh: set[str]) -> bool:
    """False while agent ``key`` runs. An agent this ``up`` found running that
    has exited since (it was stopping: ``lab up`` right after a SIGTERM) is
    started again; one this ``up`` started that died is an error."""
    if key in fresh or services.alive(pids, key):
        return _died(pids, key, lab)
    kind, _, node = key[len("agent-"):].partition("@")
    pids[key] = services.start_agent(lab, node, kind)
    fresh.add(key)
    services.write_pids(lab, pids)
    return True


def _died(pids: dict, key: str, lab: Lab) -> bool:
    """False while process ``key`` runs; raises (naming its log) once it died."""
    if services.alive(pids, key):
        return False
    raise NeutrinoError(f"{key} died during lab up, see its log: {log_path(lab, key)}")


def log_path(lab: Lab, key: str) -> str:
    """The log file of process ``key`` of pids.json (e.g. agent-ovs@compute01)."""
    if key.startswith("agent-"):
        kind, _, node = key[len("agent-"):].partition("@")
        return lab.node_dir(node, "log", f"agent-{kind}.log")
    return lab.path("log", f"{key}.log")


def expected_agents(nodes: list[str]) -> set[tuple[str, str]]:
    return {(node, AGENT_TYPES[kind]) for node in nodes for kind in services.agent_kinds(node)}


def missing_agents(api: LabApi, want: set[tuple[str, str]]) -> set[tuple[str, str]]:
    try:
        seen = {(a.get("host"), a.get("agent_type")) for a in api.agents() if a.get("alive")}
    except NeutrinoError:
        return want
    return want - seen


def status(lab: Lab) -> dict:
    """Nodes, daemons (alive or dead) and agents as the API reports them."""
    info = read_info(lab)
    if not info:
        raise NeutrinoError(f"lab {lab.name} is not up (no {lab.status_file})")
    pids = services.read_pids(lab)
    daemons = []
    for key in sorted(pids):
        daemons.append({"name": key, "pid": pids[key], "alive": bool(services.alive(pids, key))})
    nodes = []
    for node in info["nodes"]:
        ovs = ovs_daemons.ovs_pids(lab.ovs_rundir(node))
        nodes.append({"name": node, "netns": lab.netns(node), "tunnel_ip": tunnel_ip(node),
                      "up": lab_node.node_alive(lab, node),
                      "ovsdb-server": ovs["ovsdb-server"], "ovs-vswitchd": ovs["ovs-vswitchd"]})
    agents = None
    if info.get("server"):
        api = None
        try:
            api = LabApi.for_lab(lab, timeout=3)
            agents = [{"host": a.get("host"), "agent_type": a.get("agent_type"),
                       "alive": a.get("alive"), "heartbeat": a.get("heartbeat_timestamp")}
                      for a in api.agents()]
        except NeutrinoError as exc:
            agents = str(exc)
        finally:
            if api is not None:
                api.close()
    outside = {"netns": lab.netns(upstream.NAME), "gateway": upstream.GATEWAY_CIDR,
               "internet_host": upstream.INTERNET_HOST,
               "up": ip.netns_exists(lab.netns(upstream.NAME))}
    return {"name": lab.name, "state_dir": lab.state_dir, "endpoint": info["endpoint"],
            "identity_url": info.get("identity_url"),
            "nodes": nodes, "upstream": outside, "daemons": daemons, "agents": agents}
