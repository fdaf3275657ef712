"""Networks: create with a segment (VXLAN VNI or flat physnet), update, delete with its DHCP ports."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.db.models import Network, Port, Subnet, new_id
from neutrino.server import exceptions as exc
from neutrino.server import policy, segments, views
from neutrino.server.events import PRECOMMIT_CREATE, PRECOMMIT_DELETE, PRECOMMIT_UPDATE
from neutrino.server.notify import DHCP_AGENT, NETWORK_DELETE, NETWORK_UPDATE

AUTO_DELETE_PORT_OWNERS = ("network:dhcp",)
"""Ports a network deletion removes with it; any other port makes it NetworkInUse."""

IPV4_MIN_MTU, IPV6_MIN_MTU = 68, 1280
PROVIDER_ATTRS = ("provider:network_type", "provider:physical_network",
                  "provider:segmentation_id")
NETWORK_COLUMNS = {
    "id": Network.id, "name": Network.name, "project_id": Network.project_id,
    "tenant_id": Network.project_id, "status": Network.status,
    "shared": Network.shared, "router:external": Network.external,
    "admin_state_up": Network.admin_state_up, "mtu": Network.mtu,
    "provider:network_type": Network.network_type,
    "provider:segmentation_id": Network.segmentation_id,
    "provider:physical_network": Network.physical_network,
}
_NETWORK_ROWS = select(*views.raw_columns(Network.__table__))
_SUBNETS = Subnet.__table__
_SUBNET_IDS = (select(_SUBNETS.c.network_id, _SUBNETS.c.id)
               .order_by(_SUBNETS.c.created_at, _SUBNETS.c.id))
"""A network's subnet ids in the order of ``Network.subnets``."""
UPDATABLE = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
             "shared": "shared", "router:external": "external",
             "port_security_enabled": "port_security_enabled", "mtu": "mtu"}


class NetworksMixin:
    def _get_network(self, session: Session, ctx, network_id: str, lock: bool = False) -> Network:
        query = select(Network).where(Network.id == network_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        net = session.execute(query).scalar()
        if net is None or not policy.network_visible(ctx, net):
            raise exc.NetworkNotFound(net_id=network_id)
        return net

    def _network_view(self, net: Network) -> dict:
        return views.network_dict(net)

    def _check_mtu(self, network_type: str, mtu: int) -> None:
        limit = segments.max_mtu(self.options, network_type)
        if mtu > limit:
            raise exc.InvalidInput(error_message=f"Requested MTU is too big, maximum is {limit}")

    @staticmethod
    def _check_mtu_fits_subnets(net_id: str, mtu: int, versions) -> None:
        """As Neutron: any MTU is a valid network MTU, but a subnet needs 68 (IPv4) or
        1280 (IPv6): a network with subnets cannot go below, nor get one when below."""
        versions = set(versions)
        if not mtu or mtu >= IPV6_MIN_MTU or not versions:
            return
        if mtu < IPV4_MIN_MTU:
            raise exc.NetworkMTUSubnetConflict(net_id=net_id, mtu=IPV4_MIN_MTU)
        if 6 in versions:
            raise exc.NetworkMTUSubnetConflict(net_id=net_id, mtu=IPV6_MIN_MTU)

    def create_network(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_network(tx, ctx, data), self._network_view)

    def _create_network(self, tx, ctx, data: dict) -> Network:
        policy.check_attributes_settable(ctx, "network", "create", data)
        project_id = policy.check_project(ctx, data.get("project_id"))
        ntype, physnet, seg_id = segments.requested_segment(self.options, data)
        mtu = data.get("mtu") or segments.max_mtu(self.options, ntype)
        self._check_mtu(ntype, mtu)
        session = tx.session
        if ntype == "vxlan":
            seg_id = segments.allocate_vni(session, seg_id)
        net = Network(
            id=data.get("id") or new_id(), project_id=project_id,
            name=data.get("name", ""), description=data.get("description", ""),
            admin_state_up=data.get("admin_state_up", True), status="ACTIVE",
            shared=data.get("shared", False), external=data.get("router:external", False),
            port_security_enabled=data.get("port_security_enabled", True), mtu=mtu,
            network_type=ntype, physical_network=physnet, segmentation_id=seg_id,
            tags=[], revision_number=0)
        session.add(net)
        session.flush()
        if ntype == "flat":
            segments.allocate_flat(session, physnet, net.id)
        self.registry.publish("network", PRECOMMIT_CREATE, context=ctx, tx=tx,
                              network=net, request=data)
        tx.notify(DHCP_AGENT, "network_create_end",
                  lambda: {"network_id": net.id, "network": views.network_dict(net)})
        return net

    def get_network(self, ctx, network_id: str) -> dict:
        with self._read() as session:
            return views.network_dict(self._get_network(session, ctx, network_id))

    def get_networks(self, ctx, filters: dict | None = None) -> list[dict]:
        """Plain rows in two queries (networks, their subnet ids), no ORM objects."""
        query = _NETWORK_ROWS
        clause = policy.network_visibility_clause(ctx)
        if clause is not None:
            query = query.where(clause)
        query = self._pushdown(query, filters, NETWORK_COLUMNS)
        with self._read() as session:
            conn = session.connection()
            rows = conn.execute(query).all()
            if not rows:
                return []
            subnets: dict[str, list[str]] = {r.id: [] for r in rows}
            ids = query.with_only_columns(Network.__table__.c.id).scalar_subquery()
            for network_id, subnet_id in conn.execute(_SUBNET_IDS.where(
                    _SUBNETS.c.network_id.in_(ids))):
                if network_id in subnets:   # else made since the first query
                    subnets[network_id].append(subnet_id)
        return [views.network_dict(r, subnets[r.id]) for r in rows]

    def update_network(self, ctx, network_id: str, data: dict,
                       if_revision: int | None = None) -> dict:
        def work(tx):
            net = self._get_network(tx.session, ctx, network_id, lock=True)
            policy.check_modify(ctx, net, "network", "update")
            policy.check_attributes_settable(ctx, "network", "update", data)
            self._check_revision(net, if_revision)
            current = views.network_dict(net)
            for attr in PROVIDER_ATTRS:
                if attr in data and data[attr] != current[attr]:
                    raise exc.InvalidInput(
                        error_message="Plugin does not support updating provider attributes")
            if "mtu" in data:
                self._check_mtu(net.network_type, data["mtu"])
                self._check_mtu_fits_subnets(net.id, data["mtu"],
                                             (s.ip_version for s in net.subnets))
            changed = False
            for attr, column in UPDATABLE.items():
                if attr in data and getattr(net, column) != data[attr]:
                    setattr(net, column, data[attr])
                    changed = True
            if changed:
                net.bump_revision()
            self.registry.publish("network", PRECOMMIT_UPDATE, context=ctx, tx=tx,
                                  network=net, request=data)
            tx.notify(NETWORK_UPDATE, "network_update",
                      lambda: {"network": views.network_dict(net)})
            tx.notify(DHCP_AGENT, "network_update_end",
                      lambda: {"network_id": net.id, "network": views.network_dict(net)})
            return net
        return self._write(work, self._network_view)

    def delete_network(self, ctx, network_id: str) -> None:
        def work(tx):
            session = tx.session
            net = self._get_network(session, ctx, network_id, lock=True)
            policy.check_modify(ctx, net, "network", "delete")
            self.registry.publish("network", PRECOMMIT_DELETE, context=ctx, tx=tx, network=net)
            ports = session.scalars(select(Port).where(Port.network_id == net.id)).all()
            if any(p.device_owner not in AUTO_DELETE_PORT_OWNERS for p in ports):
                raise exc.NetworkInUse(net_id=net.id)
            for port in ports:
                self._notify_port_deleted(tx, port)
                session.delete(port)
            session.flush()
            segments.release(session, self.options, net)
            session.delete(net)  # its subnets go with it (cascade)
            tx.notify(NETWORK_DELETE, "network_delete", {"network_id": net.id})
            tx.notify(DHCP_AGENT, "network_delete_end", {"network_id": net.id})
        self._write(work)
