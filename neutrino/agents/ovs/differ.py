"""The difference between the desired state and what the node has.

``ovsdb_edits`` compares with an OVSDB ``Snapshot``; ``flow_changes`` compares
one bridge's desired flows with its dumped flows. Learned flows (they carry a
timeout, e.g. br-tun table 20) are never touched: they are the data plane's
own memory and expire alone. A flow whose match and priority are wanted but
whose actions or cookie differ is re-added, which replaces it in place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from neutrino.agents.ovs.desired import OTHER_CONFIG_KEYS
from neutrino.agents.ovs.state import DesiredState
from neutrino.linux import ovs
from neutrino.linux.openflow import Flow

TUNNEL_IFACE_TYPES = ("vxlan", "gre", "geneve")


@dataclass
class FlowChanges:
    add: list[Flow] = field(default_factory=list)
    delete: list[Flow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.delete)


def ovsdb_edits(want: DesiredState, snap: ovs.Snapshot) -> list:
    edits: list = []
    if want.manager and not snap.managers:
        edits.append(ovs.AddManager(want.manager))
    for spec in want.bridges.values():
        have = snap.bridges.get(spec.name)
        if have is None:
            edits.append(ovs.AddBridge(spec.name, spec.datapath_type, spec.fail_mode,
                                       spec.protocols, dict(spec.other_config)))
            continue
        columns = {}
        if have.datapath_type != spec.datapath_type:
            columns["datapath_type"] = spec.datapath_type
        if have.fail_mode != spec.fail_mode:
            columns["fail_mode"] = [spec.fail_mode]
        if set(have.protocols) != set(spec.protocols):
            columns["protocols"] = list(spec.protocols)
        if any(have.other_config.get(k) != v for k, v in spec.other_config.items()):
            columns["other_config"] = {**have.other_config, **spec.other_config}
        if columns:
            edits.append(ovs.SetBridge(spec.name, columns))
    for spec in want.ports.values():
        have = snap.ports.get(spec.name)
        if have is not None and have.bridge != spec.bridge:
            edits.append(ovs.DelPort(have.bridge, have.name))
            have = None
        if have is None:
            edits.append(ovs.AddPort(spec.bridge, spec.name, spec.type, dict(spec.options)))
        elif have.type != spec.type or have.options != spec.options:
            edits.append(ovs.SetInterface(spec.name, spec.type, dict(spec.options)))
    for have in snap.ports.values():
        if (have.bridge in want.bridges and have.type in TUNNEL_IFACE_TYPES
                and have.name not in want.ports):
            edits.append(ovs.DelPort(have.bridge, have.name))
    for binding in want.bindings.values():
        have = snap.ports.get(binding.name)
        if have is None:
            continue
        other = {k: v for k, v in have.other_config.items() if k not in OTHER_CONFIG_KEYS}
        other.update(binding.other_config)
        if (have.tag != binding.tag or have.other_config != other
                or have.vlan_mode is not None or have.trunks):
            edits.append(ovs.SetPort(binding.name, binding.tag, other))
    return edits


def flow_changes(wanted: list[Flow], actual: list[Flow]) -> FlowChanges:
    changes = FlowChanges()
    want_by_key: dict[tuple, Flow] = {}
    for flow in wanted:
        want_by_key.setdefault(flow.key, flow)
    have_by_key = {f.key: f for f in actual if not f.learned}
    for key, flow in want_by_key.items():
        have = have_by_key.get(key)
        if have is None or have.actions != flow.actions or have.cookie != flow.cookie:
            changes.add.append(flow)
    changes.delete = [f for key, f in have_by_key.items() if key not in want_by_key]
    return changes
