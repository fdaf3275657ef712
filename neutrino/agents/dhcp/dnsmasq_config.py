"""From a network dict (docs/design.md) to what the node must have: pure data.

``build_plan`` gives the namespace, the tap device with its addresses and
default route, the contents of dnsmasq's host/addn_hosts/opts files and its
command line, following Neutron's ``neutron/agent/linux/dhcp.py`` defaults
(dhcp_lease_duration 86400, dns_domain openstacklocal, dnsmasq_local_resolv
False, no isolated metadata). IPv4 only.
"""
from __future__ import annotations

import ipaddress
import os
import uuid
from dataclasses import dataclass, field

from neutrino.errors import NeutrinoError

NS_PREFIX = "qdhcp-"
DEVICE_OWNER_DHCP = "network:dhcp"
RESERVED_DHCP_DEVICE_ID = "reserved_dhcp_port"
DOMAIN = "openstacklocal"
LEASE_SECONDS = 86400
MAX_LEASES = 2 ** 24


def namespace_name(network_id: str) -> str:
    return f"{NS_PREFIX}{network_id}"


def tap_name(port_id: str) -> str:
    return f"tap{port_id}"[:14]


def agent_device_id(host: str, network_id: str) -> str:
    """Neutron's device_id for the DHCP port of ``host`` on a network."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host)}-{network_id}"


@dataclass(frozen=True)
class DhcpPlan:
    network_id: str
    namespace: str
    port_id: str
    interface: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]          # CIDRs on the tap
    gateway: str | None                 # default route inside the namespace
    gateway_onlink: bool                # gateway outside every local subnet
    conf_dir: str
    files: dict[str, str] = field(default_factory=dict)   # name -> contents
    cmdline: tuple[str, ...] = ()
    port_ids: tuple[str, ...] = ()      # ports with a host entry

    @property
    def pid_file(self) -> str:
        return os.path.join(self.conf_dir, "pid")


def dhcp_subnets(network: dict) -> list[dict]:
    return [s for s in network.get("subnets", [])
            if s.get("enable_dhcp") and s.get("ip_version", 4) == 4]


def find_dhcp_port(network: dict, host: str) -> dict | None:
    """The DHCP port this agent serves: its own, else a reserved one."""
    mine = agent_device_id(host, network["id"])
    candidates = [p for p in network.get("ports", []) if p.get("device_owner") == DEVICE_OWNER_DHCP]
    for port in candidates:
        if port.get("device_id") == mine:
            return port
    for port in candidates:
        if port.get("device_id", "") in ("", RESERVED_DHCP_DEVICE_ID):
            return port
    return None


def hostname_for(port: dict, ip: str) -> str:
    for entry in port.get("dns_assignment") or []:
        if entry.get("ip_address") == ip and entry.get("hostname"):
            return entry["hostname"]
    return "host-" + ip.replace(".", "-").replace(":", "-")


def _host_entries(network: dict, subnet_ids: set[str]):
    for port in sorted(network.get("ports", []), key=lambda p: p["id"]):
        for fixed in port.get("fixed_ips", []):
            if fixed.get("subnet_id") in subnet_ids:
                yield port, fixed["ip_address"], hostname_for(port, fixed["ip_address"])


def host_file(network: dict, subnet_ids: set[str]) -> str:
    return _host_lines(_host_entries(network, subnet_ids))


def _host_lines(entries) -> str:
    lines = []
    for port, ip, name in entries:
        line = f"{port['mac_address']},{name}.{DOMAIN},{ip}"
        if _v4_extra_opts(port):
            line += f",set:port-{port['id']}"
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def _addn_lines(entries) -> str:
    return "".join(f"{ip}\t{name}.{DOMAIN} {name}\n" for _, ip, name in entries)


def _v4_extra_opts(port: dict) -> list[dict]:
    return [o for o in port.get("extra_dhcp_opts") or []
            if str(o.get("ip_version", 4)) == "4" and o.get("opt_value") is not None]


def _option(name: str) -> str:
    return name if name.isdigit() else f"option:{name}"


def opts_file(network: dict, subnets: list[dict]) -> str:
    lines = []
    all_v4 = [s for s in network.get("subnets", []) if s.get("ip_version", 4) == 4]
    for subnet in subnets:
        tag = f"tag:subnet-{subnet['id']}"
        dns = subnet.get("dns_nameservers") or []
        if dns == ["0.0.0.0"]:
            lines.append(f"{tag},option:dns-server")
        elif dns:
            lines.append(f"{tag},option:dns-server,{','.join(dns)}")
        gateway = subnet.get("gateway_ip")
        routes = [f"{other['cidr']},0.0.0.0" for other in all_v4 if other["id"] != subnet["id"]]
        routes += [f"{r['destination']},{r['nexthop']}" for r in subnet.get("host_routes") or []]
        if routes:
            if gateway:
                routes.append(f"0.0.0.0/0,{gateway}")
            lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
            lines.append(f"{tag},249,{','.join(routes)}")
        lines.append(f"{tag},option:router,{gateway}" if gateway else f"{tag},option:router")
    for port in sorted(network.get("ports", []), key=lambda p: p["id"]):
        for opt in _v4_extra_opts(port):
            name = _option(str(opt["opt_name"]))
            lines.append(f"tag:port-{port['id']},{name},{opt['opt_value']}")
    return "".join(f"{line}\n" for line in lines)


def command_line(network: dict, subnets: list[dict], conf_dir: str, interface: str) -> list[str]:
    def path(name):
        return os.path.join(conf_dir, name)
    cmd = ["dnsmasq", "--no-hosts", "--no-resolv",
           f"--pid-file={path('pid')}",
           f"--dhcp-hostsfile={path('host')}",
           f"--addn-hosts={path('addn_hosts')}",
           f"--dhcp-optsfile={path('opts')}",
           f"--dhcp-leasefile={path('leases')}",
           "--dhcp-match=set:ipxe,175",
           "--dhcp-userclass=set:ipxe6,iPXE",
           "--local-service",
           "--bind-dynamic",
           f"--bridge-interface={interface},tap*"]
    size = 0
    for subnet in subnets:
        net = ipaddress.ip_network(subnet["cidr"], strict=False)
        size += net.num_addresses
        cmd.append(f"--dhcp-range=set:subnet-{subnet['id']},{net.network_address},static,"
                   f"{net.netmask},{LEASE_SECONDS}s")
    mtu = network.get("mtu") or 0
    if mtu > 0:
        cmd.append(f"--dhcp-option-force=option:mtu,{mtu}")
    cmd.append(f"--dhcp-lease-max={min(size, MAX_LEASES)}")
    cmd += ["--conf-file=/dev/null", f"--domain={DOMAIN}"]
    return cmd


def leases_file(network: dict, subnet_ids: set[str], now: float) -> str:
    """Leases pre-seeded at (re)start so clients keep their address (Neutron does it)."""
    expiry = int(now) + LEASE_SECONDS
    return "".join(f"{expiry} {port['mac_address']} {ip} {name} *\n"
                   for port, ip, name in _host_entries(network, subnet_ids))


def unused_leases(leases_text: str, host_text: str) -> list[tuple[str, str, str | None]]:
    """(ip, mac, client id) of the leases in dnsmasq's leases file that the hosts
    file no longer gives out: what Neutron hands to ``dhcp_release`` so that a
    deleted port's (or a changed IP's) address is free at once, not after 24 h."""
    wanted = set()
    for line in host_text.splitlines():
        fields = line.split(",")
        if len(fields) >= 3:
            wanted.add((fields[2], fields[0].lower()))
    unused = []
    for line in leases_text.splitlines():
        fields = line.split()
        if len(fields) < 5 or ":" in fields[2]:     # a malformed or IPv6 line
            continue
        ip_address, mac = fields[2], fields[1].lower()
        if (ip_address, mac) not in wanted:
            unused.append((ip_address, mac, None if fields[4] == "*" else fields[4]))
    return unused


def build_plan(network: dict, dhcp_port: dict, state_dir: str) -> DhcpPlan | None:
    """The desired state for ``network`` served through ``dhcp_port``; None: nothing to serve."""
    subnets = dhcp_subnets(network)
    if not subnets or not network.get("admin_state_up", True):
        return None
    if not dhcp_port.get("mac_address"):
        raise NeutrinoError(f"DHCP port {dhcp_port.get('id')} has no MAC address")
    by_id = {s["id"]: s for s in subnets}
    addresses, local_nets = [], []
    for fixed in dhcp_port.get("fixed_ips", []):
        subnet = by_id.get(fixed.get("subnet_id"))
        if subnet:
            net = ipaddress.ip_network(subnet["cidr"], strict=False)
            addresses.append(f"{fixed['ip_address']}/{net.prefixlen}")
            local_nets.append(net)
    gateway, onlink = None, False
    for subnet in subnets:
        if subnet.get("gateway_ip"):
            gateway = subnet["gateway_ip"]
            gw = ipaddress.ip_address(gateway)
            onlink = not any(gw in net for net in local_nets)
            break
    interface = tap_name(dhcp_port["id"])
    conf_dir = os.path.join(state_dir, "dhcp", network["id"])
    entries = list(_host_entries(network, set(by_id)))    # once: the plan is built per event
    return DhcpPlan(
        network_id=network["id"], namespace=namespace_name(network["id"]),
        port_id=dhcp_port["id"], interface=interface, mac=dhcp_port["mac_address"],
        mtu=network.get("mtu") or 1500, addresses=tuple(addresses),
        gateway=gateway, gateway_onlink=onlink, conf_dir=conf_dir,
        files={"host": _host_lines(entries), "addn_hosts": _addn_lines(entries),
               "opts": opts_file(network, subnets)},
        cmdline=tuple(command_line(network, subnets, conf_dir, interface)),
        port_ids=tuple(sorted({p["id"] for p, _, _ in entries})))
