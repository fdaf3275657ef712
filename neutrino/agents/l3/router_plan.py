"""The desired state of one router as plain data, computed from the server's router dict.

Nothing here touches the node: the driver diffs a ``RouterPlan`` against what
the namespace holds. Names follow Neutron: ``qrouter-<router id>``,
``qr-<port id[:11]>`` per interface, ``qg-<port id[:11]>`` for the gateway.

A router with ``admin_state_up`` false is *disabled*, not removed: its ports
stay plugged on br-int (so the OVS agent binds them and reports them ACTIVE,
as Neutron's default back end, ML2/OVN, shows a disabled router's ports), but
the plan holds no address, route, NAT or floating IP, the links are down,
forwarding is off and no metadata proxy runs: the router answers nothing.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

NS_PREFIX = "qrouter-"
INTERNAL_PREFIX = "qr-"
EXTERNAL_PREFIX = "qg-"
DEV_NAME_LEN = 14
METADATA_PORT = 9697
DEFAULT_MTU = 1500

SYSCTLS = {
    "net.ipv4.ip_forward": 1,
    "net.ipv4.conf.all.arp_ignore": 1,
    "net.ipv4.conf.all.arp_announce": 2,
    "net.netfilter.nf_conntrack_tcp_be_liberal": 1,
}


def namespace_name(router_id: str) -> str:
    return NS_PREFIX + router_id


def internal_name(port_id: str) -> str:
    return (INTERNAL_PREFIX + port_id)[:DEV_NAME_LEN]


def external_name(port_id: str) -> str:
    return (EXTERNAL_PREFIX + port_id)[:DEV_NAME_LEN]


@dataclass(frozen=True)
class PortPlan:
    """One router port: an OVS internal port on br-int moved into the namespace."""
    port_id: str
    name: str
    mac: str
    mtu: int
    cidrs: tuple[str, ...]          # the port's own addresses with their subnet prefix


@dataclass(frozen=True)
class FloatingIp:
    id: str
    floating_ip: str
    fixed_ip: str
    status: str | None = None


@dataclass(frozen=True)
class RouterPlan:
    router_id: str
    namespace: str
    internal: tuple[PortPlan, ...] = ()
    gateway: PortPlan | None = None
    gateway_ip: str | None = None           # the router's first IPv4 address on qg- (SNAT source)
    default_gateway: str | None = None      # the external subnet's gateway_ip
    gateway_onlink: bool = False            # default gateway outside the qg- subnets
    routes: tuple[tuple[str, str], ...] = ()    # extra routes (destination, nexthop)
    floating_ips: tuple[FloatingIp, ...] = ()
    enable_snat: bool = True
    enabled: bool = True                    # admin_state_up
    metadata_port: int = METADATA_PORT
    sysctls: dict = field(default_factory=lambda: dict(SYSCTLS), compare=False)

    @property
    def gateway_cidrs(self) -> tuple[str, ...]:
        """Every address qg- must hold: its fixed IPs, then each floating IP as /32."""
        if self.gateway is None:
            return ()
        fips = tuple(f"{f.floating_ip}/32" for f in self.floating_ips)
        return self.gateway.cidrs + tuple(c for c in fips if c not in self.gateway.cidrs)

    @property
    def ports(self) -> tuple[PortPlan, ...]:
        return self.internal + ((self.gateway,) if self.gateway else ())

    def addresses(self, port: PortPlan) -> tuple[str, ...]:
        return self.gateway_cidrs if port is self.gateway else port.cidrs


def _cidrs(port: dict) -> tuple[str, ...]:
    """``ip/prefix`` of the port's IPv4 fixed IPs, the prefix taken from its subnets."""
    prefixes = {}
    for subnet in port.get("subnets") or []:
        try:
            net = ipaddress.ip_network(subnet["cidr"], strict=False)
        except (KeyError, ValueError):
            continue
        prefixes[subnet.get("id")] = net
    out = []
    for fixed in port.get("fixed_ips") or []:
        addr = ipaddress.ip_address(fixed["ip_address"])
        if addr.version != 4:
            continue
        net = prefixes.get(fixed.get("subnet_id"))
        if net is None:
            net = next((n for n in prefixes.values() if addr in n), None)
        out.append(f"{addr}/{net.prefixlen if net else 32}")
    return tuple(out)


def _port_plan(port: dict, name: str) -> PortPlan:
    return PortPlan(port_id=port["id"], name=name, mac=port["mac_address"].lower(),
                    mtu=int(port.get("mtu") or DEFAULT_MTU), cidrs=_cidrs(port))


def _default_gateway(gw_port: dict, cidrs: tuple[str, ...]) -> tuple[str | None, bool]:
    for subnet in gw_port.get("subnets") or []:
        gateway = subnet.get("gateway_ip")
        if not gateway or ipaddress.ip_address(gateway).version != 4:
            continue
        onlink = not any(ipaddress.ip_address(gateway) in ipaddress.ip_interface(c).network
                         for c in cidrs)
        return gateway, onlink
    return None, False


def _floating_ips(router: dict) -> tuple[FloatingIp, ...]:
    out = []
    for fip in router.get("_floatingips") or []:
        if not fip.get("fixed_ip_address") or not fip.get("floating_ip_address"):
            continue
        if ipaddress.ip_address(fip["floating_ip_address"]).version != 4:
            continue
        out.append(FloatingIp(fip["id"], fip["floating_ip_address"], fip["fixed_ip_address"],
                              fip.get("status")))
    return tuple(out)       # the server's order (creation), as Neutron writes the rules


def _routes(router: dict) -> tuple[tuple[str, str], ...]:
    out = set()
    for route in router.get("routes") or []:
        dest = ipaddress.ip_network(route["destination"], strict=False)
        hop = ipaddress.ip_address(route["nexthop"])
        if dest.version == 4 and hop.version == 4:
            out.add((str(dest), str(hop)))
    return tuple(sorted(out))


def _disabled(plan: RouterPlan) -> RouterPlan:
    """The same ports, bare: no address, route, NAT, floating IP; forwarding off."""
    bare = lambda port: replace(port, cidrs=())     # noqa: E731
    return RouterPlan(router_id=plan.router_id, namespace=plan.namespace,
                      internal=tuple(bare(p) for p in plan.internal),
                      gateway=bare(plan.gateway) if plan.gateway else None,
                      enable_snat=plan.enable_snat, enabled=False,
                      sysctls={**SYSCTLS, "net.ipv4.ip_forward": 0})


def build_plan(router: dict) -> RouterPlan:
    """The plan for ``router`` (a router dict of ``sync_routers``, Neutron's shape)."""
    plan = _enabled_plan(router)
    return plan if router.get("admin_state_up", True) else _disabled(plan)


def _enabled_plan(router: dict) -> RouterPlan:
    router_id = router["id"]
    internal = tuple(sorted((_port_plan(p, internal_name(p["id"]))
                             for p in router.get("_interfaces") or []),
                            key=lambda p: p.name))
    gw_port = router.get("gw_port")
    gateway = gateway_ip = default_gw = None
    onlink = False
    fips: tuple[FloatingIp, ...] = ()
    if gw_port:
        gateway = _port_plan(gw_port, external_name(gw_port["id"]))
        gateway_ip = gateway.cidrs[0].split("/")[0] if gateway.cidrs else None
        default_gw, onlink = _default_gateway(gw_port, gateway.cidrs)
        fips = _floating_ips(router)
    snat = router.get("enable_snat")
    if snat is None:
        snat = (router.get("external_gateway_info") or {}).get("enable_snat", True)
    return RouterPlan(router_id=router_id, namespace=namespace_name(router_id),
                      internal=internal, gateway=gateway, gateway_ip=gateway_ip,
                      default_gateway=default_gw, gateway_onlink=onlink,
                      routes=_routes(router), floating_ips=fips, enable_snat=bool(snat))
