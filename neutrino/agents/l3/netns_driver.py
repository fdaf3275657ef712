"""Applies a ``RouterPlan`` to the node: namespace, qr-/qg- ports, addresses,
routes, iptables, gratuitous ARP and the metadata proxy.

Every step compares with what the node holds and changes only the
difference, so a restarted agent re-applying the same plans changes nothing
(established connections keep their conntrack state, the namespace stays).
The port wiring (OVS rows, MAC, MTU, offload) is checked when a port is new
or changed and on full passes; addresses, routes and iptables are diffed on
every apply. ``node_netns`` is where ovs-vswitchd creates internal ports
(None: this process's namespace, which is how the agent runs inside a node).
Routers this driver owns are those with a directory under ``<state>/routers``.
A disabled plan (admin_state_up false) keeps the namespace and the plugged
ports with their links down, and stops the metadata proxy.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import sys
import threading
from dataclasses import dataclass, field

from neutrino.agents.l3 import garp
from neutrino.agents.l3.router_iptables import WRAPPER, build_ruleset
from neutrino.agents.l3.router_plan import (EXTERNAL_PREFIX, INTERNAL_PREFIX, PortPlan,
                                            RouterPlan, namespace_name)
from neutrino.errors import NeutrinoError
from neutrino.linux import ip, proc
from neutrino.linux.iptables import ROUTER_WRAPPED, IptablesManager

LOG = logging.getLogger(__name__)

PROXY_MODULE = "neutrino.agents.l3.metadata_proxy"


@dataclass
class Applied:
    """What one apply changed (for logs and tests)."""
    namespace_created: bool = False
    plugged: list[str] = field(default_factory=list)
    unplugged: list[str] = field(default_factory=list)
    addresses_added: list[str] = field(default_factory=list)
    addresses_removed: list[str] = field(default_factory=list)
    iptables_lines: int = 0
    proxy_started: bool = False


def _is_router_device(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIX) or name.startswith(EXTERNAL_PREFIX)


class RouterDriver:
    def __init__(self, state_dir: str, metadata_socket: str | None = None,
                 integration_bridge: str = "br-int", ovs_db: str | None = None,
                 node_netns: str | None = None, ovs_timeout: int = 10,
                 garp_rounds: int = garp.ROUNDS):
        self.state_dir = state_dir
        self.metadata_socket = metadata_socket or os.path.join(state_dir, "metadata_proxy")
        self.bridge = integration_bridge
        self.ovs_db = ovs_db
        self.node_netns = node_netns
        self.ovs_timeout = ovs_timeout
        self.garp_rounds = garp_rounds
        self._applied: dict[str, RouterPlan] = {}
        self._iptables: dict[str, IptablesManager] = {}
        self._spawned: dict[str, int] = {}      # router id -> proxy pid this driver started
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop pending announcements; the routers keep working."""
        self._stop.set()

    # -- ownership ------------------------------------------------------------

    def router_dir(self, router_id: str) -> str:
        return os.path.join(self.state_dir, "routers", router_id)

    def routers(self) -> set[str]:
        """Routers this agent set up (namespaces alone prove nothing: tests share them)."""
        root = os.path.join(self.state_dir, "routers")
        return set(os.listdir(root)) if os.path.isdir(root) else set()

    # -- OVS ------------------------------------------------------------------

    def _vsctl(self, *args: str) -> str:
        cmd = ["ovs-vsctl", f"--timeout={self.ovs_timeout}"]
        if self.ovs_db:
            cmd.append(f"--db={self.ovs_db}")
        return proc.run([*cmd, *args], netns=self.node_netns, timeout=self.ovs_timeout + 5).out

    def _add_port(self, port: PortPlan, *may_exist: str) -> None:
        self._vsctl(*may_exist, "add-port", self.bridge, port.name, "--",
                    "set", "Interface", port.name, "type=internal",
                    f"external_ids:iface-id={port.port_id}",
                    "external_ids:iface-status=active",
                    f"external_ids:attached-mac={port.mac}")

    def _plug(self, port: PortPlan, namespace: str) -> bool:
        """Put the internal port into the namespace; True when it was (re)plugged.

        A device of that name in the node's namespace while one sits in the
        router namespace is a fresh one from a restarted ovs-vswitchd: the
        one in the router namespace is then an orphan and is replaced.
        """
        in_node = ip.link_exists(port.name, self.node_netns)
        in_ns = ip.link_exists(port.name, namespace)
        if in_ns and not in_node:
            self._add_port(port, "--may-exist")     # the OVS row and external_ids
            return False
        if not in_node:
            self._add_port(port, "--may-exist")
            if not ip.link_exists(port.name, self.node_netns):
                self._vsctl("--if-exists", "del-port", self.bridge, port.name)
                self._add_port(port)
        if in_ns:
            LOG.info("replacing orphaned %s in %s", port.name, namespace)
            ip.link_delete(port.name, namespace)
        ip.link_set(port.name, netns=self.node_netns, to_netns=namespace)
        return True

    def _unplug(self, name: str, namespace: str) -> None:
        self._vsctl("--if-exists", "del-port", self.bridge, name)
        if ip.netns_exists(namespace):
            ip.link_delete(name, namespace)

    def _wire(self, port: PortPlan, namespace: str, result: Applied, up: bool = True) -> None:
        if self._plug(port, namespace):
            result.plugged.append(port.name)
        info = ip.link_info(port.name, namespace)
        ip.link_set(port.name, netns=namespace,
                    mac=port.mac if info["mac"] != port.mac else None,
                    mtu=port.mtu if info["mtu"] != port.mtu else None,
                    up=up if bool(info["up"]) != up else None)
        ip.tx_offload_off(port.name, namespace)

    # -- namespace contents ---------------------------------------------------

    def _namespace(self, plan: RouterPlan, result: Applied) -> None:
        if not ip.netns_exists(plan.namespace):
            ip.netns_add(plan.namespace)
            result.namespace_created = True
        ip.sysctls(plan.sysctls, netns=plan.namespace)

    def _addresses(self, plan: RouterPlan, port: PortPlan, result: Applied) -> list[str]:
        """Make the port's IPv4 addresses the plan's; return the added ones."""
        ns = plan.namespace
        have = [a for a in ip.addr_list(port.name, ns)
                if ipaddress.ip_interface(a).version == 4]
        want = plan.addresses(port)
        added = [c for c in want if c not in have]
        for cidr in added:
            ip.addr_add(port.name, cidr, ns)
        for cidr in have:
            if cidr not in want:
                proc.run(["ip", "addr", "del", cidr, "dev", port.name], netns=ns)
                result.addresses_removed.append(cidr)
                if cidr.endswith("/32"):
                    self._forget_conntrack(ns, cidr.split("/")[0])
        result.addresses_added += added
        return [c.split("/")[0] for c in added]

    @staticmethod
    def _forget_conntrack(namespace: str, address: str) -> None:
        """Drop the connections of a floating IP that went away or moved: those
        sent to it (inbound DNAT) and those answered to it (outbound SNAT)."""
        try:
            proc.run(["sh", "-c", 'conntrack -D -d "$1"; conntrack -D -q "$1"; true',
                      "forget", address], netns=namespace)
        except NeutrinoError as exc:
            LOG.warning("conntrack entries of %s in %s stay: %s", address, namespace, exc)

    def _routes(self, plan: RouterPlan) -> None:
        ns = plan.namespace
        routes = ip.route_list(ns)
        default = next((r for r in routes if r["dst"] == "default"), None)
        gw_dev = plan.gateway.name if plan.gateway else None
        if plan.default_gateway and gw_dev:
            if not default or default["gateway"] != plan.default_gateway \
                    or default["dev"] != gw_dev:
                if plan.gateway_onlink:
                    ip.route_add(f"{plan.default_gateway}/32", dev=gw_dev, netns=ns)
                proc.run(["ip", "route", "replace", "default", "via", plan.default_gateway,
                          "dev", gw_dev], netns=ns)
        elif default:
            proc.run(["ip", "route", "del", "default"], netns=ns)
        have = {(r["dst"], r["gateway"]) for r in routes
                if r["gateway"] and r["dst"] != "default"}
        for dst, hop in sorted(have - set(plan.routes)):
            proc.run(["ip", "route", "del", dst, "via", hop], netns=ns, check=False)
        for dst, hop in plan.routes:
            if (dst, hop) not in have:
                res = proc.run(["ip", "route", "replace", dst, "via", hop], netns=ns, check=False)
                if res.rc:
                    LOG.warning("router %s: route %s via %s: %s", plan.router_id, dst, hop,
                                res.err.strip())

    def _iptables_for(self, router_id: str, namespace: str) -> IptablesManager:
        manager = self._iptables.get(router_id)
        if manager is None:
            manager = IptablesManager(WRAPPER, netns=namespace, use_ipv6=False,
                                      wrapped=ROUTER_WRAPPED)
            self._iptables[router_id] = manager
        return manager

    # -- metadata proxy -------------------------------------------------------

    def proxy_pid_file(self, router_id: str) -> str:
        return os.path.join(self.router_dir(router_id), "metadata_proxy.pid")

    def proxy_pid(self, router_id: str) -> int | None:
        """Pid of the running proxy of ``router_id`` (None when gone or recycled)."""
        try:
            with open(self.proxy_pid_file(router_id)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        if not proc.pid_alive(pid):
            return None
        if self._spawned.get(router_id) == pid:
            # Our own child: its pid cannot be recycled before pid_alive reaps
            # it, and while nsenter execs Python its cmdline reads empty.
            return pid
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            return None
        return pid if PROXY_MODULE.encode() in args and router_id.encode() in args else None

    def _proxy(self, plan: RouterPlan, result: Applied) -> None:
        if self.proxy_pid(plan.router_id):
            return
        folder = self.router_dir(plan.router_id)
        pid = proc.spawn([sys.executable, "-m", PROXY_MODULE, "--router-id", plan.router_id,
                    "--socket", self.metadata_socket, "--port", str(plan.metadata_port),
                    "--pid-file", self.proxy_pid_file(plan.router_id)],
                   log_path=os.path.join(folder, "metadata_proxy.log"), netns=plan.namespace)
        # nsenter execs the proxy (same pid), which writes the file again once it
        # listens; writing it now lets the next apply see the proxy is starting.
        with open(self.proxy_pid_file(plan.router_id), "w") as f:
            f.write(f"{pid}\n")
        self._spawned[plan.router_id] = pid
        result.proxy_started = True

    def _stop_proxy(self, router_id: str) -> None:
        pid = self.proxy_pid(router_id)
        if pid:
            proc.kill_and_wait(pid)

    # -- apply / remove -------------------------------------------------------

    def apply(self, plan: RouterPlan, full: bool = False) -> Applied:
        result = Applied()
        last = self._applied.pop(plan.router_id, None)
        full = full or last is None or not ip.netns_exists(plan.namespace)
        os.makedirs(self.router_dir(plan.router_id), exist_ok=True)
        if full or last.enabled != plan.enabled:
            self._namespace(plan, result)
        wanted = {p.name for p in plan.ports}
        for name in ip.link_list(plan.namespace):
            if _is_router_device(name) and name not in wanted:
                LOG.info("router %s: removing %s", plan.router_id, name)
                self._unplug(name, plan.namespace)
                result.unplugged.append(name)
        old_ports = {p.name: p for p in last.ports} if last else {}
        for port in plan.ports:
            if full or old_ports.get(port.name) != port or last.enabled != plan.enabled:
                self._wire(port, plan.namespace, result, up=plan.enabled)
        lines = self._iptables_for(plan.router_id, plan.namespace).apply(build_ruleset(plan))
        result.iptables_lines = sum(len(v) for v in lines.values())
        before = {f.floating_ip: f.fixed_ip for f in last.floating_ips} if last else {}
        for fip in plan.floating_ips:
            if before.get(fip.floating_ip) not in (None, fip.fixed_ip):
                self._forget_conntrack(plan.namespace, fip.floating_ip)
        announce = []
        for port in plan.ports:
            added = self._addresses(plan, port, result)
            if added:
                announce.append((port, added))
        self._routes(plan)
        for port, added in announce:
            garp.announce(plan.namespace, port.name, port.mac, added, self._stop,
                          rounds=self.garp_rounds)
        if plan.enabled:
            self._proxy(plan, result)
        else:
            self._stop_proxy(plan.router_id)
        self._applied[plan.router_id] = plan
        return result

    def remove(self, router_id: str) -> None:
        """Stop the proxy, unplug every qr-/qg- port, delete the namespace and files."""
        self._applied.pop(router_id, None)
        self._iptables.pop(router_id, None)
        self._stop_proxy(router_id)
        namespace = namespace_name(router_id)
        if ip.netns_exists(namespace):
            for name in ip.link_list(namespace):
                if _is_router_device(name):
                    self._unplug(name, namespace)
            ip.netns_delete(namespace)
        shutil.rmtree(self.router_dir(router_id), ignore_errors=True)
