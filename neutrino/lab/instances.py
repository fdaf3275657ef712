"""Instances: what Nova would boot, as network namespaces on the lab's computes.

``create`` makes the port through the API (device_owner compute:nova,
device_id = a new instance uuid, binding:host_id = the node), plugs it with
the hybrid plug, waits for the port to turn ACTIVE (Nova's vif-plugged wait)
and starts a real DHCP client (busybox udhcpc) whose script sets the address,
default route and MTU from the lease. Instance state lives in
``<state>/instances/<name>.json``.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from neutrino.errors import NeutrinoError
from neutrino.lab import lifecycle, plug, vif_events
from neutrino.lab.api import LabApi
from neutrino.lab.layout import Lab, check_instance_name
from neutrino.linux import ip, netns, proc

UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc event script (written by neutrino): address, default route and MTU
# from the lease, then the lease in $NEUTRINO_LEASE_FILE. Touches nothing
# outside the instance's network namespace. One `ip -batch` per event and no
# other program (20 boots at once run 40 of these beside everything else);
# -force goes on past a failing line, as separate commands did.
# The lease file is written by one printf (a reader that catches it half
# written sees no valid JSON, so no lease yet) and emptied on deconfig.
# The deconfig of a client's start on a new instance has nothing to undo (no
# lease file yet; eth0 was brought up at plug time): no `ip` then.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
case "$1" in
  deconfig)
    [ -e "$NEUTRINO_LEASE_FILE" ] || exit 0
    : > "$NEUTRINO_LEASE_FILE"
    printf 'addr flush dev %s\nlink set %s up\n' "$interface" "$interface" | ip -4 -b -
    ;;
  bound|renew)
    gw=""
    for r in $router; do gw="$r"; break; done
    {
      [ "$1" = bound ] && echo "addr flush dev $interface"
      [ -n "$mtu" ] && echo "link set $interface mtu $mtu"
      echo "addr replace $ip/${mask:-24} dev $interface"
      [ -n "$gw" ] && echo "route replace default via $gw dev $interface"
    } | ip -4 -force -b -
    printf '{"ip": "%s", "mask": "%s", "router": "%s", "mtu": "%s", "lease": "%s"}\n' \
      "$ip" "$mask" "$gw" "$mtu" "$lease" > "$NEUTRINO_LEASE_FILE"
    ;;
esac
exit 0
"""


def _dir(lab: Lab) -> str:
    return lab.path("instances")


def _state_path(lab: Lab, name: str) -> str:
    return os.path.join(_dir(lab), f"{name}.json")


def lease_path(lab: Lab, name: str) -> str:
    return os.path.join(_dir(lab), f"{name}.lease")


def load(lab: Lab, name: str) -> dict:
    check_instance_name(name)
    try:
        with open(_state_path(lab, name)) as f:
            return json.load(f)
    except FileNotFoundError:
        raise NeutrinoError(f"no instance {name!r} in lab {lab.name}") from None


def _save(lab: Lab, inst: dict) -> None:
    tmp = _state_path(lab, inst["name"]) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(inst, f, indent=1, sort_keys=True)
    os.replace(tmp, _state_path(lab, inst["name"]))


def all_instances(lab: Lab) -> list[dict]:
    if not os.path.isdir(_dir(lab)):
        return []
    out = []
    for entry in sorted(os.listdir(_dir(lab))):
        if entry.endswith(".json"):
            try:
                with open(os.path.join(_dir(lab), entry)) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
    return out


def lease(lab: Lab, name: str) -> dict | None:
    try:
        with open(lease_path(lab, name)) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def _script(lab: Lab) -> str:
    path = lab.path("udhcpc.script")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"   # creates race to write it
        with open(tmp, "w") as f:
            f.write(UDHCPC_SCRIPT)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return path


def pick_host(lab: Lab, nodes: list[str]) -> str:
    """The compute with the fewest instances (the controller if there is none)."""
    computes = [n for n in nodes if n != "controller"] or ["controller"]
    load_by_host = {n: 0 for n in computes}
    for inst in all_instances(lab):
        if inst.get("host") in load_by_host:
            load_by_host[inst["host"]] += 1
    return min(computes, key=lambda n: (load_by_host[n], n))


_placement = threading.Lock()


def create_many(lab: Lab, names: list[str], network: str, host: str | None = None,
                vif_timeout: float = 10, say=print,
                project_id: str | None = None) -> list[dict]:
    """Boot several instances at once (one process: the imports and the netlink
    sockets are paid once). Raises after all are tried if any failed."""
    for name in names:
        check_instance_name(name)
    if len(set(names)) != len(names):
        raise NeutrinoError("an instance name is given twice")
    with ThreadPoolExecutor(max_workers=min(len(names), 8)) as pool:
        futures = {name: pool.submit(create, lab, name, network, host=host,
                                     vif_timeout=vif_timeout, say=say,
                                     project_id=project_id) for name in names}
    done, failed = [], []
    for name, future in futures.items():
        try:
            done.append(future.result())
        except NeutrinoError as exc:
            failed.append(f"{name}: {exc}")
    if failed:
        raise NeutrinoError(f"{len(failed)} of {len(names)} instances failed: "
                            + "; ".join(failed))
    return done


def create(lab: Lab, name: str, network: str, host: str | None = None,
           fixed_ip: str | None = None, vif_timeout: float = 10, say=print,
           project_id: str | None = None) -> dict:
    """Boot ``name``; its port belongs to ``project_id`` when given (as Nova
    creates it in the instance's project), else to the lab admin's project."""
    check_instance_name(name)
    info = lifecycle.read_info(lab)
    if not info:
        raise NeutrinoError(f"lab {lab.name} is not up")
    nodes = info["nodes"]
    if host is not None and host not in nodes:
        raise NeutrinoError(f"lab {lab.name} has no node {host!r} (nodes: {', '.join(nodes)})")
    api = LabApi.for_lab(lab)
    os.makedirs(_dir(lab), exist_ok=True)
    with _placement:
        try:
            fd = os.open(_state_path(lab, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            raise NeutrinoError(f"instance {name!r} exists in lab {lab.name}") from None
        os.close(fd)
        host = host or pick_host(lab, nodes)
        inst = {"name": name, "id": str(uuid.uuid4()), "host": host,
                "netns": lab.instance_netns(name), "port_id": None, "pid": None}
        _save(lab, inst)
    # Nova's wait for network-vif-plugged: listening before the port exists,
    # no event can be missed.
    expect = None
    try:
        if vif_timeout > 0:
            expect = vif_events.EVENTS.expecting(lab.transport_url)
        net = api.network(network)
        body = {"network_id": net["id"], "name": name, "device_owner": "compute:nova",
                "device_id": inst["id"], "binding:host_id": host, "admin_state_up": True}
        if fixed_ip:
            body["fixed_ips"] = [{"ip_address": fixed_ip}]
        if project_id:
            body["project_id"] = project_id
        port = api.create_port(body)
        inst.update(port_id=port["id"], mac=port["mac_address"], network_id=net["id"],
                    mtu=net.get("mtu") or 1450,
                    ips=[f["ip_address"] for f in port.get("fixed_ips", [])])
        _save(lab, inst)
        ip.netns_add(inst["netns"])
        plug.plug(lab, host, port["id"], port["mac_address"], inst["mtu"], inst["id"],
                  inst["netns"])
        if expect is not None and not expect.wait(port["id"], vif_timeout,
                                                  lambda p: _port_active(api, p)):
            say(f"warning: port {port['id']} not ACTIVE after {vif_timeout:g} s; booting anyway")
        inst["pid"] = _start_dhcp_client(lab, inst)
        _save(lab, inst)
    except BaseException:
        try:
            _destroy(lab, inst, api)
        except NeutrinoError as exc:
            say(f"warning: clean-up after the failed create: {exc}")
        raise
    finally:
        if expect is not None:
            expect.close()
        api.close()
    return inst


def _port_active(api: LabApi, port_id: str) -> bool:
    port = api.port(port_id)
    return bool(port) and port.get("status") == "ACTIVE"


def _start_dhcp_client(lab: Lab, inst: dict) -> int:
    key, _, value = lab.env_tag.partition("=")
    # -R: release the lease when stopped, so a deleted instance's address is
    # free again in dnsmasq at once (Neutron does it with dhcp_release).
    return ip.spawn_in(inst["netns"], ["busybox", "udhcpc", "-f", "-R", "-i", "eth0",
                                       "-s", _script(lab), "-O", "mtu",
                                       "-x", f"hostname:{inst['name']}",
                                       "-T", "1", "-t", "5", "-A", "1"],
                       log_path=os.path.join(_dir(lab), f"{inst['name']}.log"),
                       env={key: value, "NEUTRINO_LEASE_FILE": lease_path(lab, inst["name"])})


def _destroy(lab: Lab, inst: dict, api: LabApi | None) -> None:
    """Undo whatever part of ``inst`` exists: processes, port, devices, namespace, files.

    The port goes before the devices: the DHCP client's release (sent as it
    stops) then has time to reach dnsmasq while the path still exists.
    """
    inode = netns.ns_inode(f"{ip.NETNS_DIR}/{inst['netns']}")
    if inode:
        for pid in netns.pids_in({inode}):
            proc.kill_and_wait(pid, timeout=2)
    failure = None
    if inst.get("port_id") and api is not None:
        try:
            api.delete_port(inst["port_id"])
        except NeutrinoError as exc:
            failure = exc
    if inst.get("port_id"):
        plug.unplug(lab, inst["host"], inst["port_id"])
    ip.netns_delete(inst["netns"])
    if failure:
        raise NeutrinoError(f"instance {inst['name']} unplugged, but its port remains "
                            f"(run delete again): {failure}")
    for path in (_state_path(lab, inst["name"]), lease_path(lab, inst["name"]),
                 os.path.join(_dir(lab), f"{inst['name']}.log")):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def delete(lab: Lab, name: str) -> None:
    inst = load(lab, name)
    api = LabApi.for_lab(lab)
    try:
        _destroy(lab, inst, api)
    finally:
        api.close()


def listing(lab: Lab) -> list[dict]:
    """name, host, port, ips, status (the port's, from the API), lease."""
    api = LabApi.for_lab(lab, timeout=3)
    rows = []
    try:
        for inst in all_instances(lab):
            status, ips = "BUILD", inst.get("ips") or []
            if inst.get("port_id"):
                try:
                    port = api.port(inst["port_id"])
                    if port:
                        status = port.get("status", "?")
                        ips = [f["ip_address"] for f in port.get("fixed_ips", [])]
                    else:
                        status = "NO PORT"
                except NeutrinoError:
                    status = "?"
            got = lease(lab, inst["name"])
            rows.append({"name": inst["name"], "host": inst["host"], "port": inst.get("port_id"),
                         "ips": ips, "status": status, "lease": got["ip"] if got else None,
                         "running": bool(inst.get("pid")) and proc.pid_alive(inst["pid"])})
    finally:
        api.close()
    return rows


def exec_argv(lab: Lab, name: str, cmd: list[str]) -> list[str]:
    inst = load(lab, name)
    if not ip.netns_exists(inst["netns"]):
        raise NeutrinoError(f"instance {name!r} has no namespace (lab down?)")
    return netns.enter_argv(cmd, net=f"{ip.NETNS_DIR}/{inst['netns']}")

