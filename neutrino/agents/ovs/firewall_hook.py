"""Security groups on the agent's node: the OVS agent's side of the firewall.

After each reconcile pass (and before it reports ports up, so an instance's
port turns ACTIVE only once its filter is in place) the reconciler calls
:meth:`FirewallHook.sync`. When the wired ports changed, or a security-group
event named a group they use, the hook asks the server once for
``security_group_info_for_devices`` of every filtered port on the node and
hands the whole picture to the firewall driver, which applies the difference
with one iptables-restore. The periodic check passes ``verify``: at most every
``verify_interval`` seconds (and after a full resync) the driver then re-reads
the kernel and repairs drift; that costs about a second of CPU on a node with
200 ports, too much for every 3-second check.

Filtered ports are the wired ports not owned by the network (``network:*``
ports, DHCP and router ports, are not filtered, as in Neutron).
"""
from __future__ import annotations

import json
import logging
import time

from neutrino.rpc.errors import RemoteError

LOG = logging.getLogger(__name__)

BRIDGE_NF_SYSCTLS = ("/proc/sys/net/bridge/bridge-nf-call-iptables",
                     "/proc/sys/net/bridge/bridge-nf-call-ip6tables")
# What in a device's details changes its firewall (besides its groups' rules).
PORT_FIELDS = ("mac_address", "fixed_ips", "device_owner", "port_security_enabled",
               "security_groups", "allowed_address_pairs", "revision_number")


def filterable(details: dict) -> bool:
    """A port the firewall owns: known, not owned by the network."""
    if not details or details.get("no_such_port"):
        return False
    return not (details.get("device_owner") or "").startswith("network:")


def enable_bridge_netfilter(paths=BRIDGE_NF_SYSCTLS) -> None:
    """Bridged packets through iptables, in this network namespace (per netns)."""
    for path in paths:
        try:
            with open(path) as f:
                if f.read().strip() == "1":
                    continue
            with open(path, "w") as f:
                f.write("1\n")
        except OSError as exc:
            LOG.warning("cannot enable %s: %s (security groups will not filter bridged "
                        "traffic)", path, exc)


def groups_of(info: dict) -> dict[str, dict]:
    """The answer's ``{sg: [rules]}`` and ``{sg: stateful}`` as the driver's groups."""
    stateful = info.get("stateful") or {}
    return {sg: {"stateful": stateful.get(sg, True) is not False,
                 "security_group_rules": list(rules or [])}
            for sg, rules in (info.get("security_groups") or {}).items()}


def used_groups(ports: list[dict], groups: dict[str, dict]) -> set[str]:
    """Groups whose rule or member change can change this node's firewall."""
    used = {sg for port in ports for sg in port.get("security_groups") or []}
    for group in groups.values():
        for rule in group["security_group_rules"]:
            if rule.get("remote_group_id"):
                used.add(rule["remote_group_id"])
    return used


class FirewallHook:
    def __init__(self, server, firewall, bridge_netfilter=enable_bridge_netfilter,
                 verify_interval: float = 30.0, clock=time.monotonic):
        self.server = server
        self.firewall = firewall
        self._bridge_netfilter = bridge_netfilter
        self.verify_interval = verify_interval
        self._clock = clock
        self._next_verify = 0.0               # 0: the next verify pass re-reads the kernel
        self._started = False
        self._dirty = True
        self._key: str | None = None         # the filtered ports as last fetched
        self._ports: list[dict] = []         # from the server, for the firewall
        self._groups: dict[str, dict] = {}
        self._members: dict[str, dict] = {}
        self._used: set[str] = set()
        self.filtered: set[str] = set()      # ports whose filter is in place
        self.supported = True                # False: the server has no security groups
        self.applied = 0                     # firewall updates made (for tests)

    # -- inputs from events (the agent's loop thread)
    def groups_changed(self, sg_ids) -> None:
        """A rule or member update: refetch if it touches a group in use here."""
        if not sg_ids or set(sg_ids) & self._used:
            self._dirty = True

    def invalidate(self) -> None:
        """Full resync: ask the server again, re-read the kernel."""
        self._dirty = True
        self._next_verify = 0.0

    # -- the pass
    def sync(self, plugged: set[str], devices: dict[str, dict], verify: bool = False) -> set[str]:
        """Bring the firewall in step with the plugged ports; returns the ids
        of filterable ports whose filter is not (yet) in place."""
        if not self._started:
            self._bridge_netfilter()
            self._started = True
        wanted = {pid: devices[pid] for pid in sorted(plugged)
                  if pid in devices and filterable(devices[pid])}
        known = {p["id"]: p for p in self._ports}
        # A plugged port the server could not describe (yet) keeps its last
        # filter; one never described leaves the picture incomplete, and a
        # partial picture would remove the filters of ports it lacks.
        keep = {pid: known[pid] for pid in plugged if pid not in devices and pid in known}
        if any(pid not in devices and pid not in known for pid in plugged):
            return set(wanted) - self.filtered
        key = json.dumps({pid: [d.get(f) for f in PORT_FIELDS] for pid, d in wanted.items()},
                         sort_keys=True)
        fetched = False
        if self._dirty or key != self._key:
            if not self._fetch(sorted(set(wanted) | set(keep))):
                return set(wanted) - self.filtered
            self._key = key
            fetched = True
        ports = [p for p in self._ports if p["id"] in wanted or p["id"] in keep]
        if not self.supported:
            return set()
        verify = verify and self._clock() >= self._next_verify
        if fetched or verify or {p["id"] for p in ports} != self.filtered:
            try:
                if verify:
                    self.firewall.resync(ports, self._groups, self._members)
                else:
                    self.firewall.update(ports, self._groups, self._members)
            except Exception:
                LOG.exception("firewall update failed; retrying at the next pass")
                self._dirty = True
                return set(wanted) - self.filtered
            self.applied += 1
            if verify:
                self._next_verify = self._clock() + self.verify_interval
            if fetched:
                LOG.info("firewall: %d ports filtered, %d security groups",
                         len(ports), len(self._groups))
            self.filtered = {p["id"] for p in ports}
        return set(wanted) - self.filtered

    def _fetch(self, port_ids: list[str]) -> bool:
        info: dict = {}
        if port_ids:
            try:
                info = self.server.security_group_info_for_devices(port_ids) or {}
            except RemoteError as exc:
                if exc.exc_type != "NoSuchMethod":
                    LOG.warning("security_group_info_for_devices failed: %s", exc)
                    return False
                if self.supported:
                    LOG.warning("the server has no security groups: ports are not filtered")
                self.supported = False
                self._dirty = False
                return True
            except Exception as exc:
                LOG.warning("security_group_info_for_devices failed: %s", exc)
                return False
        self.supported = True
        answer = info.get("devices") or {}
        self._ports = [dict(answer[pid], id=pid) for pid in port_ids if pid in answer]
        self._groups = groups_of(info)
        self._members = info.get("sg_member_ips") or {}
        self._used = used_groups(self._ports, self._groups)
        self._dirty = False
        return True
