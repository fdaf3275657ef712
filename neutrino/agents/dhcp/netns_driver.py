"""Applies a ``DhcpPlan`` to the node: namespace, OVS tap, iptables, files, dnsmasq.

The first time a network is applied (and on every full resync) everything is
checked; afterwards, while the device part of the plan stays the same, only
the files are rewritten and dnsmasq signalled, which keeps a port-create to
lease path short. ``node_netns`` is where ovs-vswitchd creates internal ports
(None: this process's namespace, which is how the agent runs inside a node).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import time
from dataclasses import dataclass

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.dnsmasq_config import DhcpPlan
from neutrino.errors import NeutrinoError
from neutrino.linux import dnsmasq, ip, proc

LOG = logging.getLogger(__name__)

WRAP_CHAIN = "neutron-dhcp-age-POSTROUTING"
CHECKSUM_RULE = "-p udp -m udp --dport 68 -j CHECKSUM --checksum-fill"


@dataclass
class Applied:
    """What ``apply`` did, for logs and tests."""
    dnsmasq: str            # "started", "restarted", "reloaded" or "unchanged"
    pid: int
    files_changed: bool


class DhcpDriver:
    def __init__(self, integration_bridge: str = "br-int", ovs_db: str | None = None,
                 node_netns: str | None = None, ovs_timeout: int = 10):
        self.bridge = integration_bridge
        self.ovs_db = ovs_db
        self.node_netns = node_netns
        self.ovs_timeout = ovs_timeout
        self._devices: dict[str, tuple] = {}     # network id -> device part last applied

    # -- OVS ------------------------------------------------------------------

    def _vsctl(self, *args: str) -> str:
        cmd = ["ovs-vsctl", f"--timeout={self.ovs_timeout}"]
        if self.ovs_db:
            cmd.append(f"--db={self.ovs_db}")
        return proc.run([*cmd, *args], netns=self.node_netns, timeout=self.ovs_timeout + 5).out

    def _add_port(self, plan: DhcpPlan, *may_exist: str) -> None:
        self._vsctl(*may_exist, "add-port", self.bridge, plan.interface, "--",
                    "set", "Interface", plan.interface, "type=internal",
                    f"external_ids:iface-id={plan.port_id}",
                    "external_ids:iface-status=active",
                    f"external_ids:attached-mac={plan.mac}")

    def _plug(self, plan: DhcpPlan) -> None:
        """tap<id11> on br-int as an internal port, moved into the namespace.

        A device of that name in the node's namespace is a fresh one from a
        restarted ovs-vswitchd: the one in the namespace is then an orphan.
        """
        in_node = ip.link_exists(plan.interface, self.node_netns)
        in_ns = ip.link_exists(plan.interface, plan.namespace)
        if in_ns and not in_node:
            return
        if not in_node:
            self._add_port(plan, "--may-exist")
            if not ip.link_exists(plan.interface, self.node_netns):
                # A port row whose device vanished: make OVS create it again.
                self._vsctl("--if-exists", "del-port", self.bridge, plan.interface)
                self._add_port(plan)
        if in_ns:
            LOG.info("replacing orphaned %s in %s", plan.interface, plan.namespace)
            ip.link_delete(plan.interface, plan.namespace)
        ip.link_set(plan.interface, netns=self.node_netns, to_netns=plan.namespace)

    def watch_devices(self, on_new_device, on_lost=None):
        """Event source: ``on_new_device(name)`` when a tap appears in the node's namespace."""
        from neutrino.agents.dhcp.link_watch import LinkWatcher
        return LinkWatcher(on_new_device, netns=self.node_netns, on_lost=on_lost)

    def _unplug(self, name: str, namespace: str) -> None:
        self._vsctl("--if-exists", "del-port", self.bridge, name)
        if ip.netns_exists(namespace):
            ip.link_delete(name, namespace)

    # -- namespace ------------------------------------------------------------

    def _namespace(self, plan: DhcpPlan) -> None:
        if not ip.netns_exists(plan.namespace):
            ip.netns_add(plan.namespace)
            ip.sysctl("net.ipv4.ip_nonlocal_bind", 1, netns=plan.namespace)
        self._checksum_rule(plan.namespace)

    def _checksum_rule(self, namespace: str) -> None:
        """mangle POSTROUTING CHECKSUM fill for DHCP replies, in Neutron's wrapper chain."""
        have = proc.run(["iptables", "-w", "-t", "mangle", "-S", WRAP_CHAIN],
                        netns=namespace, check=False)
        if have.rc == 0 and f"-A {WRAP_CHAIN} {CHECKSUM_RULE}" in have.out:
            return
        script = ("*mangle\n"
                  f":{WRAP_CHAIN} - [0:0]\n"
                  f"-A POSTROUTING -j {WRAP_CHAIN}\n"
                  f"-A {WRAP_CHAIN} {CHECKSUM_RULE}\n"
                  "COMMIT\n")
        if have.rc == 0:
            proc.run(["iptables", "-w", "-t", "mangle", "-F", WRAP_CHAIN], netns=namespace)
            script = script.replace(f"-A POSTROUTING -j {WRAP_CHAIN}\n", "")
        proc.run(["iptables-restore", "-w", "--noflush"], netns=namespace, input=script)

    def _device(self, plan: DhcpPlan) -> None:
        ns, dev = plan.namespace, plan.interface
        for name in ip.link_list(ns):
            if name.startswith("tap") and name != dev:
                LOG.info("removing stale DHCP device %s from %s", name, ns)
                self._unplug(name, ns)
        self._plug(plan)
        info = ip.link_info(dev, ns)
        ip.link_set(dev, netns=ns,
                    mac=plan.mac if info["mac"] != plan.mac else None,
                    mtu=plan.mtu if info["mtu"] != plan.mtu else None,
                    up=True if not info["up"] else None)
        have = {a for a in ip.addr_list(dev, ns)
                if not ipaddress.ip_interface(a).ip.is_link_local}
        for cidr in plan.addresses:
            if cidr not in have:
                ip.addr_add(dev, cidr, ns)
        for cidr in have - set(plan.addresses):
            proc.run(["ip", "addr", "del", cidr, "dev", dev], netns=ns)
        self._default_route(plan)

    def _default_route(self, plan: DhcpPlan) -> None:
        routes = ip.route_list(plan.namespace)
        current = next((r for r in routes if r["dst"] == "default"), None)
        if plan.gateway is None:
            if current is not None:
                proc.run(["ip", "route", "del", "default"], netns=plan.namespace)
            return
        if current and current["gateway"] == plan.gateway and current["dev"] == plan.interface:
            return
        if plan.gateway_onlink:
            ip.route_add(f"{plan.gateway}/32", dev=plan.interface, netns=plan.namespace)
        proc.run(["ip", "route", "replace", "default", "via", plan.gateway,
                  "dev", plan.interface], netns=plan.namespace)

    # -- files and process ----------------------------------------------------

    def _write_files(self, plan: DhcpPlan) -> list[str]:
        """Write the plan's files that differ; returns their paths."""
        os.makedirs(plan.conf_dir, exist_ok=True)
        os.chmod(plan.conf_dir, 0o755)   # dnsmasq re-reads them as "nobody" on SIGHUP
        changed = []
        for name, text in plan.files.items():
            path = os.path.join(plan.conf_dir, name)
            try:
                with open(path) as f:
                    if f.read() == text:
                        continue
            except FileNotFoundError:
                pass
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            changed.append(path)
        return changed

    def _seed_leases(self, plan: DhcpPlan, network: dict) -> None:
        ids = {s["id"] for s in cfg.dhcp_subnets(network)}
        with open(os.path.join(plan.conf_dir, "leases"), "w") as f:
            f.write(cfg.leases_file(network, ids, time.time()))

    @staticmethod
    def command_line(plan: DhcpPlan) -> tuple[str, ...]:
        """Neutron's command line, plus ``--user=root`` when "nobody" cannot reach the files.

        dnsmasq reads its host/opts files after dropping to "nobody", so a
        state dir below a private directory (0700, e.g. a pytest tmp dir)
        would leave it without hosts.
        """
        path = os.path.dirname(os.path.abspath(plan.conf_dir))
        while True:
            try:
                if not os.stat(path).st_mode & 0o001:
                    return (*plan.cmdline, "--user=root")
            except FileNotFoundError:
                pass
            if path == os.path.dirname(path):
                return plan.cmdline
            path = os.path.dirname(path)

    def apply(self, plan: DhcpPlan, network: dict, full: bool = False) -> Applied:
        device_part = (plan.namespace, plan.interface, plan.mac, plan.mtu, plan.addresses,
                       plan.gateway)
        if full or self._devices.get(plan.network_id) != device_part \
                or not ip.netns_exists(plan.namespace):
            self._devices.pop(plan.network_id, None)
            self._namespace(plan)
            self._device(plan)
            self._devices[plan.network_id] = device_part
        changed = self._write_files(plan)
        cmdline = self.command_line(plan)
        pid = dnsmasq.running_pid(plan.pid_file)
        if pid is not None and tuple(dnsmasq.cmdline_of(pid)) == cmdline:
            if changed:
                self._release_unused_leases(plan)
                if not dnsmasq.reload(pid, reread=changed):
                    LOG.warning("dnsmasq %s did not re-read %s within a second", pid,
                                ", ".join(map(os.path.basename, changed)))
                return Applied("reloaded", pid, True)
            return Applied("unchanged", pid, False)
        action = "started"
        if pid is not None:
            dnsmasq.stop(plan.pid_file)
            action = "restarted"
        self._seed_leases(plan, network)
        pid = dnsmasq.start(cmdline, netns=plan.namespace,
                            reread=[os.path.join(plan.conf_dir, name) for name in plan.files])
        return Applied(action, pid, bool(changed))

    def _release_unused_leases(self, plan: DhcpPlan) -> None:
        """``dhcp_release`` (dnsmasq-utils) in the namespace for every lease whose
        port is gone or whose address changed, as Neutron does before SIGHUP."""
        try:
            with open(os.path.join(plan.conf_dir, "leases")) as f:
                leases = f.read()
        except FileNotFoundError:
            return
        for ip_address, mac, client_id in cfg.unused_leases(leases, plan.files.get("host", "")):
            cmd = ["dhcp_release", plan.interface, ip_address, mac]
            if client_id:
                cmd.append(client_id)
            try:
                done = proc.run(cmd, netns=plan.namespace, check=False, timeout=10)
            except NeutrinoError as exc:            # dhcp_release missing: the lease expires
                LOG.warning("cannot release %s (%s): %s", ip_address, mac, exc)
                return
            if done.rc != 0:
                LOG.warning("dhcp_release %s %s failed: %s", ip_address, mac, done.err.strip())
            else:
                LOG.info("network %s: released %s (%s)", plan.network_id, ip_address, mac)

    def remove(self, network_id: str, state_dir: str) -> None:
        """Stop dnsmasq, unplug the tap, delete the namespace and the files."""
        self._devices.pop(network_id, None)
        namespace = cfg.namespace_name(network_id)
        conf_dir = os.path.join(state_dir, "dhcp", network_id)
        dnsmasq.stop(os.path.join(conf_dir, "pid"))
        if ip.netns_exists(namespace):
            for name in ip.link_list(namespace):
                if name.startswith("tap"):
                    self._unplug(name, namespace)
            ip.netns_delete(namespace)
        shutil.rmtree(conf_dir, ignore_errors=True)

    @staticmethod
    def served_networks(state_dir: str) -> set[str]:
        """Networks this agent set up: those with a conf dir in its state dir.

        Namespaces alone are not proof of ownership (tests share the machine's
        ``ip netns`` list with any running lab), so they are not scanned.
        """
        root = os.path.join(state_dir, "dhcp")
        return set(os.listdir(root)) if os.path.isdir(root) else set()

