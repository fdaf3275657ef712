"""Port binding, as ML2's Open vSwitch mechanism driver does it.

A port with ``binding:host_id`` binds to ``ovs`` when an alive Open vSwitch
agent runs on that host, otherwise it is ``binding_failed``; without a host it
is ``unbound``. The VIF details are those Nova needs for a hybrid plug on the
userspace datapath.
"""
import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from neutrino.db.models import Agent, Port, utcnow

OVS_AGENT_TYPE = "Open vSwitch agent"
VIF_TYPE_OVS = "ovs"
VIF_TYPE_UNBOUND = "unbound"
VIF_TYPE_BINDING_FAILED = "binding_failed"


def ovs_vif_details() -> dict:
    return {"port_filter": True, "connectivity": "l2", "ovs_hybrid_plug": True,
            "datapath_type": "netdev", "bridge_name": "br-int"}


def alive_cutoff(agent_down_time: int) -> datetime.datetime:
    return utcnow() - datetime.timedelta(seconds=agent_down_time)


_HEARTBEAT = select(Agent.heartbeat_timestamp).where(Agent.agent_type == OVS_AGENT_TYPE,
                                                     Agent.host == bindparam("host"))
"""Built once: every port create and bind asks it."""


def ovs_agent_alive(session: Session, host: str, agent_down_time: int) -> bool:
    heartbeat = session.execute(_HEARTBEAT, {"host": host}).scalar()
    return heartbeat is not None and heartbeat >= alive_cutoff(agent_down_time)


def bind(session: Session, port: Port, agent_down_time: int, agent_asking: bool = False) -> None:
    """Set the port's vif type and details from its host.

    ``agent_asking``: the OVS agent of the port's host is asking for the port
    right now, so it is alive whatever its last heartbeat says.
    """
    host = port.binding_host_id
    if not host:
        vif_type, details = VIF_TYPE_UNBOUND, {}
    elif agent_asking or ovs_agent_alive(session, host, agent_down_time):
        vif_type, details = VIF_TYPE_OVS, ovs_vif_details()
    else:
        vif_type, details = VIF_TYPE_BINDING_FAILED, {}
    port.binding_vif_type = vif_type
    port.binding_vif_details = details
