"""Network segments: VXLAN VNIs from the configured pool, flat networks per physnet.

Follows Neutron's type drivers: the ``vxlan_allocations`` table holds one row
per VNI of ``vni_ranges``; a tenant network takes the lowest free one, a
provider network may ask for a given VNI (even outside the ranges). Taking a
row is a compare-and-set (``UPDATE ... WHERE allocated = false``) so concurrent
requests on PostgreSQL cannot both win.
"""
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from neutrino.db.models import FlatAllocation, Network, VxlanAllocation
from neutrino.server import exceptions as exc
from neutrino.server.config import MAX_VNI, VXLAN_OVERHEAD, ServerOptions

SUPPORTED_TYPES = ("vxlan", "flat")


def sync_vni_pool(session: Session, options: ServerOptions) -> None:
    """Make the pool match the ranges: add missing VNIs, drop free ones outside."""
    wanted = set()
    for lo, hi in options.vni_ranges:
        wanted.update(range(lo, hi + 1))
    rows = session.execute(select(VxlanAllocation.vxlan_vni, VxlanAllocation.allocated)).all()
    have = {vni for vni, _ in rows}
    stale = [vni for vni, allocated in rows if not allocated and vni not in wanted]
    if stale:
        session.execute(delete(VxlanAllocation).where(VxlanAllocation.vxlan_vni.in_(stale)))
    missing = sorted(wanted - have)
    if missing:
        session.execute(VxlanAllocation.__table__.insert(),
                        [{"vxlan_vni": v, "allocated": False} for v in missing])


def requested_segment(options: ServerOptions, data: dict) -> tuple[str, str | None, int | None]:
    """Validate the provider attributes of a create request."""
    ntype = data.get("provider:network_type")
    physnet = data.get("provider:physical_network")
    seg_id = data.get("provider:segmentation_id")
    if ntype is None:
        if physnet is not None or seg_id is not None:
            raise exc.InvalidInput(error_message="provider:network_type required")
        return "vxlan", None, None
    if ntype not in SUPPORTED_TYPES:
        raise exc.InvalidInput(error_message=f"network_type value '{ntype}' not supported")
    if ntype == "vxlan":
        if physnet is not None:
            raise exc.InvalidInput(
                error_message="provider:physical_network specified for VXLAN network")
        if seg_id is not None and not 1 <= seg_id <= MAX_VNI:
            raise exc.InvalidInput(error_message=f"VXLAN ID {seg_id} out of range 1-{MAX_VNI}")
        return "vxlan", None, seg_id
    if physnet is None:
        raise exc.InvalidInput(error_message="physical_network required for flat provider network")
    if not options.flat_allowed(physnet):
        raise exc.InvalidInput(
            error_message=f"physical_network '{physnet}' unknown for flat provider network")
    if seg_id is not None:
        raise exc.InvalidInput(error_message="provider:segmentation_id specified for flat network")
    return "flat", physnet, None


def max_mtu(options: ServerOptions, network_type: str) -> int:
    if network_type == "vxlan":
        return options.global_physnet_mtu - VXLAN_OVERHEAD
    return options.global_physnet_mtu


def allocate_vni(session: Session, wanted: int | None) -> int:
    if wanted is not None:
        taken = session.execute(
            update(VxlanAllocation)
            .where(VxlanAllocation.vxlan_vni == wanted, VxlanAllocation.allocated.is_(False))
            .values(allocated=True)).rowcount
        if taken == 1:
            return wanted
        if session.get(VxlanAllocation, wanted) is not None:
            raise exc.TunnelIdInUse(tunnel_id=wanted)
        session.add(VxlanAllocation(vxlan_vni=wanted, allocated=True))
        session.flush()
        return wanted
    for _ in range(20):
        vni = session.execute(
            select(VxlanAllocation.vxlan_vni)
            .where(VxlanAllocation.allocated.is_(False))
            .order_by(VxlanAllocation.vxlan_vni).limit(1)
            .with_for_update(skip_locked=True)).scalar()
        if vni is None:
            raise exc.NoNetworkAvailable()
        taken = session.execute(
            update(VxlanAllocation)
            .where(VxlanAllocation.vxlan_vni == vni, VxlanAllocation.allocated.is_(False))
            .values(allocated=True)).rowcount
        if taken == 1:
            return vni
    raise exc.NoNetworkAvailable()


def allocate_flat(session: Session, physnet: str, network_id: str) -> None:
    if session.get(FlatAllocation, physnet) is not None:
        raise exc.FlatNetworkInUse(physical_network=physnet)
    session.add(FlatAllocation(physical_network=physnet, network_id=network_id))


def release(session: Session, options: ServerOptions, net: Network) -> None:
    if net.network_type == "flat":
        session.execute(delete(FlatAllocation).where(FlatAllocation.network_id == net.id))
        return
    vni = net.segmentation_id
    if any(lo <= vni <= hi for lo, hi in options.vni_ranges):
        session.execute(update(VxlanAllocation).where(VxlanAllocation.vxlan_vni == vni)
                        .values(allocated=False))
    else:
        session.execute(delete(VxlanAllocation).where(VxlanAllocation.vxlan_vni == vni))
