"""Known faults to break a lab with, and heal it from (``neutrino lab break|heal``).

Each fault does what a real mishap does on a real cloud, and records what it
changed in ``<state>/faults.json`` so that ``heal`` undoes exactly that. The
OVS agent repairs tags and tunnel ports from OVSDB events within
milliseconds, so drills on OVS state first stop the node's OVS agent, as an
operator's broken agent would.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Callable

from neutrino.agents.ovs.br_tun import tunnel_port_name
from neutrino.diagnose.api import DiagnoseApi
from neutrino.errors import NeutrinoError
from neutrino.lab import instances, lifecycle, services
from neutrino.lab import node as lab_node
from neutrino.lab.layout import Lab, tunnel_ip
from neutrino.lab.plug import VifNames
from neutrino.linux import dnsmasq, ovs_daemons, proc


@dataclass
class Fault:
    name: str
    help: str
    target: str           # what TARGET names, and its default
    apply: Callable[[Lab, str | None], dict]


def _record_path(lab: Lab) -> str:
    return lab.path("faults.json")


def recorded(lab: Lab) -> list[dict]:
    try:
        with open(_record_path(lab)) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return []


def _save(lab: Lab, records: list[dict]) -> None:
    tmp = _record_path(lab) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(records, f, indent=1)
    os.replace(tmp, _record_path(lab))


def _in_instance(lab: Lab, name: str, *cmd: str, check: bool = True) -> str:
    out = subprocess.run(instances.exec_argv(lab, name, list(cmd)), capture_output=True,
                         text=True, timeout=20)
    if check and out.returncode != 0:
        raise NeutrinoError(f"{name}: {' '.join(cmd)}: {out.stderr.strip()}")
    return out.stdout


def _on_node(lab: Lab, node: str, *cmd: str) -> str:
    out = subprocess.run(lab_node.enter_argv(lab, node, list(cmd)), capture_output=True,
                         text=True, timeout=20)
    if out.returncode != 0:
        raise NeutrinoError(f"{node}: {' '.join(cmd)}: {out.stderr.strip()}")
    return out.stdout


def _instance(lab: Lab, target: str | None) -> dict:
    if target:
        return instances.load(lab, target)
    found = instances.all_instances(lab)
    if not found:
        raise NeutrinoError(f"lab {lab.name} has no instance to break")
    return found[0]


def _api(lab: Lab) -> DiagnoseApi:
    return DiagnoseApi.for_lab(lab, timeout=10)


def _stop_agent(lab: Lab, node: str, kind: str) -> None:
    pid = services.alive(services.read_pids(lab), f"agent-{kind}@{node}")
    if pid:
        proc.kill_and_wait(pid, timeout=5)


# -- the faults ---------------------------------------------------------------------

def _mtu(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, target)
    _in_instance(lab, inst["name"], "ip", "link", "set", "eth0", "mtu", "1500")
    return {"instance": inst["name"], "mtu": inst.get("mtu") or 1450}


def _no_route(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, target)
    line = _in_instance(lab, inst["name"], "ip", "-4", "route", "show", "default").split()
    if "via" not in line:
        raise NeutrinoError(f"{inst['name']} has no default route to remove")
    gw = line[line.index("via") + 1]
    _in_instance(lab, inst["name"], "ip", "route", "del", "default")
    return {"instance": inst["name"], "gateway": gw}


FORWARDED_SOURCE = "10.11.11.200"


def _forwarding(lab: Lab, target: str | None) -> dict:
    """The instance starts sending from an address that is not its port's (as one
    that routes or holds a VIP does) while port security is on."""
    inst = _instance(lab, target)
    _in_instance(lab, inst["name"], "ip", "addr", "add", f"{FORWARDED_SOURCE}/24", "dev", "eth0")
    return {"instance": inst["name"], "address": FORWARDED_SOURCE}


def _dnsmasq(lab: Lab, target: str | None) -> dict:
    _stop_agent(lab, "controller", "dhcp")
    root = lab.node_dir("controller", "agent", "dhcp", "dhcp")
    stopped = []
    for net in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if target and not net.startswith(target):
            continue
        dnsmasq.stop(os.path.join(root, net, "pid"))
        stopped.append(net)
    return {"networks": stopped, "agents": ["dhcp@controller"]}


def _ovs_agent(lab: Lab, target: str | None) -> dict:
    """The agent stops, then the instance's port is plugged again (as after a
    reboot): nobody gives the new qvo its VLAN."""
    inst = _instance(lab, target)
    host = inst["host"]
    _stop_agent(lab, host, "ovs")
    qvo = VifNames.for_port(inst["port_id"]).qvo
    rundir = lab.ovs_rundir(host)
    ovs_daemons.vsctl(rundir, "--", "del-port", "br-int", qvo,
                      "--", "add-port", "br-int", qvo,
                      "--", "set", "Interface", qvo,
                      f"external_ids:iface-id={inst['port_id']}",
                      "external_ids:iface-status=active",
                      f"external_ids:attached-mac={inst['mac']}",
                      f"external_ids:vm-uuid={inst['id']}")
    return {"instance": inst["name"], "agents": [f"ovs@{host}"]}


def _tunnel(lab: Lab, target: str | None) -> dict:
    node, _, remote = (target or "compute01:compute02").partition(":")
    remote = remote or "controller"
    port = tunnel_port_name(tunnel_ip(remote))
    _stop_agent(lab, node, "ovs")
    ovs_daemons.vsctl(lab.ovs_rundir(node), "--", "del-port", "br-tun", port)
    return {"node": node, "port": port, "agents": [f"ovs@{node}"]}


def _wrong_tag(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, target)
    host = inst["host"]
    qvo = VifNames.for_port(inst["port_id"]).qvo
    _stop_agent(lab, host, "ovs")
    tag = ovs_daemons.vsctl(lab.ovs_rundir(host), "get", "Port", qvo, "tag").strip()
    wrong = (int(tag) if tag.isdigit() else 0) + 100
    ovs_daemons.vsctl(lab.ovs_rundir(host), "set", "Port", qvo, f"tag={wrong}")
    return {"instance": inst["name"], "qvo": qvo, "tag": tag, "agents": [f"ovs@{host}"]}


def _dhcp_disabled(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, target) if not target or not target.count("-") == 4 else None
    api = _api(lab)
    try:
        net = inst["network_id"] if inst else None
        subnets = api.get("/v2.0/subnets").get("subnets", [])
        chosen = [s for s in subnets if (net and s["network_id"] == net)
                  or (target and target in (s["id"], s.get("name")))]
        if not chosen:
            raise NeutrinoError(f"no subnet for {target or 'the first instance'}")
        subnet = chosen[0]
        api.put(f"/v2.0/subnets/{subnet['id']}", {"subnet": {"enable_dhcp": False}})
    finally:
        api.close()
    return {"subnet": subnet["id"]}


RULE_FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
               "remote_ip_prefix", "remote_group_id", "description")


def _sg_no_ingress(lab: Lab, target: str | None) -> dict:
    """The group (default: ``default``) loses its IPv4 ingress rules."""
    api = _api(lab)
    try:
        groups = api.get("/v2.0/security-groups").get("security_groups", [])
        group = next((g for g in groups if target in (None, g["id"], g.get("name"))
                      and (target or g.get("name") == "default")), None)
        if group is None:
            raise NeutrinoError(f"no security group {target or 'default'!r}")
        removed = []
        for rule in group.get("security_group_rules", []):
            if rule["direction"] == "ingress" and rule["ethertype"] == "IPv4":
                api.delete(f"/v2.0/security-group-rules/{rule['id']}")
                removed.append({k: rule.get(k) for k in RULE_FIELDS if rule.get(k) is not None})
    finally:
        api.close()
    return {"group": group["id"], "rules": removed}


def _router(api: DiagnoseApi, target: str | None) -> dict:
    routers = api.get("/v2.0/routers").get("routers", [])
    found = [r for r in routers if target in (None, r["id"], r.get("name"))]
    if not found:
        raise NeutrinoError(f"no router {target!r}" if target else "the lab has no router")
    return found[0]


def _release_fips(api: DiagnoseApi, router_id: str, subnet: dict | None = None) -> list:
    """Disassociate the router's floating IPs (of ``subnet`` only, when given), as an
    operator must before removing what they need; [[fip id, port id]] to restore."""
    released = []
    for fip in api.get("/v2.0/floatingips").get("floatingips", []):
        if fip.get("router_id") != router_id or not fip.get("port_id"):
            continue
        if subnet and ipaddress.ip_address(fip["fixed_ip_address"]) not in \
                ipaddress.ip_network(subnet["cidr"]):
            continue
        api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
        released.append([fip["id"], fip["port_id"]])
    return released


def _restore_fips(api: DiagnoseApi, released: list) -> None:
    for fip_id, port_id in released:
        api.put(f"/v2.0/floatingips/{fip_id}", {"floatingip": {"port_id": port_id}})


def _router_no_gateway(lab: Lab, target: str | None) -> dict:
    api = _api(lab)
    try:
        r = _router(api, target)
        if not r.get("external_gateway_info"):
            raise NeutrinoError(f"router {r.get('name') or r['id']} has no gateway to remove")
        released = _release_fips(api, r["id"])
        api.put(f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": None}})
    finally:
        api.close()
    gw = r["external_gateway_info"]
    return {"router": r["id"], "fips": released,
            "gateway": {"network_id": gw["network_id"],
                        "enable_snat": gw.get("enable_snat", True)}}


def _snat_disabled(lab: Lab, target: str | None) -> dict:
    api = _api(lab)
    try:
        r = _router(api, target)
        gw = r.get("external_gateway_info")
        if not gw:
            raise NeutrinoError(f"router {r.get('name') or r['id']} has no gateway")
        api.put(f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {
            "network_id": gw["network_id"], "enable_snat": False}}})
    finally:
        api.close()
    return {"router": r["id"], "gateway": {"network_id": gw["network_id"], "enable_snat": True}}


def _router_disabled(lab: Lab, target: str | None) -> dict:
    api = _api(lab)
    try:
        r = _router(api, target)
        api.put(f"/v2.0/routers/{r['id']}", {"router": {"admin_state_up": False}})
    finally:
        api.close()
    return {"router": r["id"]}


def _subnet_detached(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, None)
    api = _api(lab)
    try:
        r = _router(api, target)
        ports = api.get("/v2.0/ports", {"device_id": r["id"],
                                        "device_owner": "network:router_interface"})
        subnet = next((f["subnet_id"] for p in ports.get("ports", [])
                       if p["network_id"] == inst["network_id"] for f in p["fixed_ips"]), None)
        if subnet is None:
            raise NeutrinoError(f"the subnet of {inst['name']} is not attached to the router")
        released = _release_fips(api, r["id"], api.get(f"/v2.0/subnets/{subnet}")["subnet"])
        api.put(f"/v2.0/routers/{r['id']}/remove_router_interface", {"subnet_id": subnet})
    finally:
        api.close()
    return {"router": r["id"], "subnet": subnet, "fips": released}


def _ip_forward_off(lab: Lab, target: str | None) -> dict:
    api = _api(lab)
    try:
        r = _router(api, target)
    finally:
        api.close()
    ns = f"qrouter-{r['id']}"
    _stop_agent(lab, "controller", "l3")    # it would set ip_forward again on its next sync
    _on_node(lab, "controller", "ip", "netns", "exec", ns, "sysctl", "-qw",
             "net.ipv4.ip_forward=0")
    return {"netns": ns, "agents": ["l3@controller"]}


def _fip_disassociated(lab: Lab, target: str | None) -> dict:
    inst = _instance(lab, target)
    api = _api(lab)
    try:
        fips = api.get("/v2.0/floatingips", {"port_id": inst["port_id"]}).get("floatingips", [])
        if not fips:
            raise NeutrinoError(f"{inst['name']} has no floating IP")
        api.put(f"/v2.0/floatingips/{fips[0]['id']}", {"floatingip": {"port_id": None}})
    finally:
        api.close()
    return {"floatingip": fips[0]["id"], "port": inst["port_id"]}


def _em4(lab: Lab, target: str | None) -> dict:
    node = "controller"
    links = _on_node(lab, node, "ip", "-o", "link", "show")
    if " em4" not in links and "em4@" not in links:
        raise NeutrinoError("this lab has no em4 (the upstream link of issue 4) yet")
    _on_node(lab, node, "ip", "link", "set", "em4", "down")
    return {"node": node}


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("mtu-1500", "instance MTU 1500 on a VXLAN network", "INSTANCE (first)", _mtu),
    Fault("dnsmasq-stopped", "dnsmasq stopped (and its DHCP agent, which would restart it)",
          "NETWORK id prefix (all)", _dnsmasq),
    Fault("ovs-agent-stopped", "OVS agent stopped while an instance's port is plugged again",
          "INSTANCE (first)", _ovs_agent),
    Fault("tunnel-deleted", "a VXLAN tunnel port deleted (OVS agent stopped first)",
          "NODE:REMOTE (compute01:compute02)", _tunnel),
    Fault("wrong-vlan-tag", "a wrong local VLAN tag on a qvo (OVS agent stopped first)",
          "INSTANCE (first)", _wrong_tag),
    Fault("dhcp-disabled", "DHCP disabled on the subnet", "INSTANCE or SUBNET (first)",
          _dhcp_disabled),
    Fault("port-security-forwarding", f"port security on while an instance sends from "
          f"{FORWARDED_SOURCE} (forwards)", "INSTANCE (first)", _forwarding),
    Fault("no-default-route", "instance default route missing", "INSTANCE (first)", _no_route),
    Fault("sg-no-ingress", "the security group lacks its ingress rules (default group)",
          "GROUP (default)", _sg_no_ingress),
    Fault("router-no-gateway", "router without a gateway", "ROUTER (first)",
          _router_no_gateway),
    Fault("subnet-detached", "the instances' subnet not attached to the router",
          "ROUTER (first)", _subnet_detached),
    Fault("snat-disabled", "SNAT disabled on the router", "ROUTER (first)", _snat_disabled),
    Fault("router-disabled", "the router set administratively down (admin_state_up false)",
          "ROUTER (first)", _router_disabled),
    Fault("ip-forward-off", "ip_forward off in the router namespace (L3 agent stopped first)",
          "ROUTER (first)",
          _ip_forward_off),
    Fault("fip-disassociated", "the instance's floating IP not associated",
          "INSTANCE (first)", _fip_disassociated),
    Fault("em4-down", "em4 (the controller's upstream link) down", "-", _em4),
)}


def catalogue() -> str:
    return "\n".join(f"  {f.name:<18} {f.help} [TARGET: {f.target}]" for f in FAULTS.values())


def break_(lab: Lab, name: str, target: str | None = None) -> dict:
    if name not in FAULTS:
        raise NeutrinoError(f"unknown fault {name!r} (known: {', '.join(FAULTS)}; "
                            "`neutrino lab break list` describes them)")
    if not lifecycle.read_info(lab):
        raise NeutrinoError(f"lab {lab.name} is not up")
    undo = FAULTS[name].apply(lab, target)
    entry = {"fault": name, "target": target, "undo": undo}
    _save(lab, recorded(lab) + [entry])
    return entry


def _heal_one(lab: Lab, entry: dict) -> None:
    undo, name = entry["undo"], entry["fault"]
    if name == "mtu-1500":
        _in_instance(lab, undo["instance"], "ip", "link", "set", "eth0", "mtu", str(undo["mtu"]))
    elif name == "port-security-forwarding":
        _in_instance(lab, undo["instance"], "ip", "addr", "del", f"{undo['address']}/24",
                     "dev", "eth0", check=False)
    elif name == "no-default-route":
        _in_instance(lab, undo["instance"], "ip", "route", "replace", "default", "via",
                     undo["gateway"], "dev", "eth0")
    elif name == "dhcp-disabled":
        api = _api(lab)
        try:
            api.put(f"/v2.0/subnets/{undo['subnet']}", {"subnet": {"enable_dhcp": True}})
        finally:
            api.close()
    elif name == "sg-no-ingress":
        api = _api(lab)
        try:
            for rule in undo["rules"]:
                api.post("/v2.0/security-group-rules", {"security_group_rule": {
                    **rule, "security_group_id": undo["group"]}}, ok_conflict=True)
        finally:
            api.close()
    elif name in ("router-no-gateway", "snat-disabled"):
        api = _api(lab)
        try:
            try:
                api.put(f"/v2.0/routers/{undo['router']}",
                        {"router": {"external_gateway_info": undo["gateway"]}})
            finally:
                _restore_fips(api, undo.get("fips", []))
        finally:
            api.close()
    elif name == "router-disabled":
        api = _api(lab)
        try:
            api.put(f"/v2.0/routers/{undo['router']}", {"router": {"admin_state_up": True}})
        finally:
            api.close()
    elif name == "fip-disassociated":
        api = _api(lab)
        try:
            api.put(f"/v2.0/floatingips/{undo['floatingip']}",
                    {"floatingip": {"port_id": undo["port"]}})
        finally:
            api.close()
    elif name == "subnet-detached":
        api = _api(lab)
        try:
            try:
                api.put(f"/v2.0/routers/{undo['router']}/add_router_interface",
                        {"subnet_id": undo["subnet"]})
            finally:
                _restore_fips(api, undo.get("fips", []))
        finally:
            api.close()
    elif name == "ip-forward-off":
        _on_node(lab, "controller", "ip", "netns", "exec", undo["netns"], "sysctl", "-qw",
                 "net.ipv4.ip_forward=1")
    elif name == "em4-down":
        _on_node(lab, undo["node"], "ip", "link", "set", "em4", "up")
    # agent-based faults: the restarted agent repairs tags, tunnels, dnsmasq


def heal(lab: Lab, say=print) -> list[dict]:
    """Undo every recorded fault (newest first), then start what was stopped."""
    records = recorded(lab)
    restart = False
    for entry in reversed(records):
        what = entry["fault"] + (f" ({entry['target']})" if entry["target"] else "")
        try:
            _heal_one(lab, entry)
        except NeutrinoError as exc:
            # Typically already repaired by hand (the fix explain printed).
            say(f"{what}: nothing undone ({exc})")
        else:
            say(f"healed {what}")
        restart = restart or bool(entry["undo"].get("agents"))
    if restart:
        info = lifecycle.read_info(lab)
        computes = len([n for n in info.get("nodes", []) if n != "controller"])
        lifecycle.up(lab, computes=computes, say=lambda text: None)
        say("restarted the stopped agents")
        for entry in records:
            try:
                services.wait_for(lambda: _repaired(lab, entry), REPAIR_TIMEOUT,
                                  f"the agents to repair {entry['fault']}")
            except NeutrinoError as exc:
                say(f"warning: {exc}")
            if entry["fault"] == "tunnel-deleted":
                _forget_learned(lab, entry["undo"]["node"])
    _save(lab, [])
    return records


REPAIR_TIMEOUT = 20


def _forget_learned(lab: Lab, node: str) -> None:
    """Drop br-tun's learned MACs: they may point at the deleted tunnel's old port."""
    dump = _on_node(lab, node, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-tun",
                    "table=20")
    for mac in sorted(set(re.findall(r"dl_dst=([0-9a-f:]{17})\b", dump))):
        _on_node(lab, node, "ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br-tun",
                 f"table=20,dl_dst={mac}")


def _repaired(lab: Lab, entry: dict) -> bool:
    """Whether a restarted agent has put back what an agent-side fault changed."""
    undo, name = entry["undo"], entry["fault"]
    try:
        if name == "wrong-vlan-tag":
            inst = instances.load(lab, undo["instance"])
            return ovs_daemons.vsctl(lab.ovs_rundir(inst["host"]), "get", "Port", undo["qvo"],
                                     "tag").strip() == undo["tag"]
        if name == "ovs-agent-stopped":
            inst = instances.load(lab, undo["instance"])
            qvo = VifNames.for_port(inst["port_id"]).qvo
            return ovs_daemons.vsctl(lab.ovs_rundir(inst["host"]), "get", "Port", qvo,
                                     "tag").strip().isdigit()
        if name == "tunnel-deleted":
            return undo["port"] in ovs_daemons.vsctl(lab.ovs_rundir(undo["node"]), "list-ports",
                                                     "br-tun").split()
        if name == "dnsmasq-stopped":
            root = lab.node_dir("controller", "agent", "dhcp", "dhcp")
            return all(dnsmasq.running_pid(os.path.join(root, net, "pid"))
                       for net in undo["networks"])
    except NeutrinoError:
        return False
    return True


def run_cli(lab: Lab, args) -> int:
    """``neutrino lab break FAULT [TARGET]`` / ``neutrino lab heal`` (args from cli/lab.py)."""
    if args.action == "heal":
        if not heal(lab):
            print(f"lab {lab.name}: nothing to heal")
        return 0
    if args.fault in ("list", "help"):
        print("faults:\n" + catalogue())
        return 0
    entry = break_(lab, args.fault, args.target)
    print(f"broke {entry['fault']}: {entry['undo']}; `neutrino lab heal --name {lab.name}` "
          "undoes it")
    return 0
