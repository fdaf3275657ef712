"""Provisioning blocks of ports, as Neutron's neutron/db/provisioning_blocks.py.

A port turns ACTIVE only when nothing blocks it any more:

* ``DHCP``: added when a port (not the DHCP port itself) gets an address on a
  DHCP-served subnet while a DHCP agent is alive, on create or when an update
  changes its fixed IPs or MAC; ``dhcp_ready_on_ports`` removes it.
* ``L2``: stands for "the L2 agent has not reported the port wired since".
  Neutron adds it for every bound port that is not ACTIVE; here it is only
  needed while a DHCP block is held, so it is added with the DHCP block (port
  not ACTIVE) and again when such a port goes DOWN (device down, new host);
  ``update_device_list`` (up) removes it.

Whichever of the two is removed last turns the port ACTIVE. A port without
blocks behaves as before: ACTIVE as soon as the L2 agent reports it up.
Everything here works on plain rows with statements built once (one SELECT of
the blocks of all the ports of a call, one INSERT/DELETE per entity).
"""
from sqlalchemy import bindparam, func, select

from neutrino.db.models import Agent, ProvisioningBlock
from neutrino.server import binding
from neutrino.server.agents import DHCP_AGENT_TYPE
from neutrino.server.dhcp import DHCP_OWNER

DHCP_ENTITY = "DHCP"
L2_ENTITY = "L2"

Blocks = dict[str, set[str]]
"""port id -> entities blocking it (ports without blocks are left out)."""

_BLOCKS = ProvisioningBlock.__table__
_IDS = bindparam("ids", expanding=True)
_BLOCKS_OF = select(_BLOCKS.c.port_id, _BLOCKS.c.entity).where(_BLOCKS.c.port_id.in_(_IDS))
_ADD = _BLOCKS.insert()
_REMOVE = _BLOCKS.delete().where(_BLOCKS.c.entity == bindparam("entity"),
                                 _BLOCKS.c.port_id.in_(_IDS))
_DHCP_HEARTBEAT = select(func.max(Agent.heartbeat_timestamp)).where(
    Agent.agent_type == DHCP_AGENT_TYPE)


def blocks_of(conn, port_ids: list[str]) -> Blocks:
    found: Blocks = {}
    if port_ids:
        for port_id, entity in conn.execute(_BLOCKS_OF, {"ids": port_ids}):
            found.setdefault(port_id, set()).add(entity)
    return found


def dhcp_agent_alive(conn, agent_down_time: int) -> bool:
    heartbeat = conn.execute(_DHCP_HEARTBEAT).scalar()
    return heartbeat is not None and heartbeat >= binding.alive_cutoff(agent_down_time)


def served_by_dhcp(port, net) -> bool:
    """The port (a model) has an address the DHCP agent will serve.

    The DHCP port itself is exempt (it is the server); the agent serves IPv4
    subnets with enable_dhcp of networks that are administratively up.
    """
    if port.device_owner == DHCP_OWNER or not net.admin_state_up:
        return False
    served = {s.id for s in net.subnets if s.enable_dhcp and s.ip_version == 4}
    return any(a.subnet_id in served for a in port.fixed_ips)


def save(conn, before: Blocks, after: Blocks) -> None:
    """Write the difference between two views of the same ports' blocks.

    One DELETE per entity and one INSERT, whatever the number of ports.
    """
    added: list[dict] = []
    removed: dict[str, list[str]] = {}
    for port_id in sorted(before.keys() | after.keys()):
        old, new = before.get(port_id, set()), after.get(port_id, set())
        added += [{"port_id": port_id, "entity": e} for e in sorted(new - old)]
        for entity in old - new:
            removed.setdefault(entity, []).append(port_id)
    for entity, port_ids in sorted(removed.items()):
        conn.execute(_REMOVE, {"entity": entity, "ids": port_ids})
    if added:
        conn.execute(_ADD, added)


def copy(blocks: Blocks) -> Blocks:
    return {p: set(e) for p, e in blocks.items()}


def set_up_dhcp(conn, port, net, agent_down_time: int, held: set[str],
                addresses_changed: bool, went_down: bool) -> set[str]:
    """The blocks ``port`` should hold after a create or update (``held`` before it).

    ``addresses_changed``: created, or its fixed IPs or MAC changed (Neutron's
    _setup_dhcp_agent_provisioning_component: a DHCP block when served by an
    alive DHCP agent, else none). ``went_down``: its status was set DOWN.
    """
    wanted = set(held)
    if addresses_changed:
        if served_by_dhcp(port, net) and dhcp_agent_alive(conn, agent_down_time):
            if DHCP_ENTITY not in held and port.status != "ACTIVE":
                wanted.add(L2_ENTITY)
            wanted.add(DHCP_ENTITY)
        else:
            wanted.discard(DHCP_ENTITY)
    if went_down and DHCP_ENTITY in wanted:
        wanted.add(L2_ENTITY)
    return wanted
